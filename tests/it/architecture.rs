//! ARCHITECTURE.md describes what exists: its code map's "may depend on" column is
//! the workspace's real dependency graph, `textbridge-app` reaches no HTTP
//! framework, Lambda or JWT crate, and the local binary reaches no AWS crate.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::Command,
};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("metadata json")
}

/// The code map: crate name → the workspace crates it may depend on.
fn code_map() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `shared/") || l.starts_with("| `functions/")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[2].trim_matches('`').to_owned();
        let deps = cells[3].split(',').map(|d| d.trim().trim_matches('`')).filter(|d| !d.is_empty() && *d != "—");
        map.insert(name, deps.map(str::to_owned).collect());
    }
    map
}

#[test]
fn the_code_map_is_the_dependency_graph() {
    let metadata = metadata();
    let members: BTreeSet<String> = metadata["workspace_members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m.as_str())
        .map(str::to_owned)
        .collect();
    let packages: Vec<&Value> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
        .collect();
    let names: BTreeSet<String> = packages.iter().filter_map(|p| p["name"].as_str()).map(str::to_owned).collect();
    let mut actual = BTreeMap::new();
    for package in &packages {
        let deps: BTreeSet<String> = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str())
            .filter(|d| names.contains(*d))
            .map(str::to_owned)
            .collect();
        actual.insert(package["name"].as_str().expect("name").to_owned(), deps);
    }
    assert_eq!(code_map(), actual, "ARCHITECTURE.md's code map and Cargo.toml files disagree");
}

/// Every package reachable from `start` through normal dependencies.
fn reachable(metadata: &Value, start: &str) -> BTreeSet<String> {
    let nodes = metadata["resolve"]["nodes"].as_array().expect("resolve");
    let by_id: BTreeMap<&str, &Value> = nodes.iter().filter_map(|n| Some((n["id"].as_str()?, n))).collect();
    let name_of = |id: &str| {
        metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p["name"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let start_id = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == start)
        .and_then(|p| p["id"].as_str())
        .expect("start package");
    let mut seen = BTreeSet::new();
    let mut stack = vec![start_id.to_owned()];
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        for dep in by_id[id.as_str()]["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"].as_array().is_some_and(|k| k.iter().any(|k| k["kind"].is_null()));
            if normal && let Some(pkg) = dep["pkg"].as_str() {
                stack.push(pkg.to_owned());
            }
        }
    }
    seen.iter().map(|id| name_of(id)).collect()
}

#[test]
fn app_reaches_no_http_lambda_or_jwt_crate_and_the_local_binary_no_aws_crate() {
    let metadata = metadata();
    let app = reachable(&metadata, "textbridge-app");
    for forbidden in ["axum", "hyper", "lambda_http", "lambda_runtime", "jsonwebtoken", "tracing-subscriber"] {
        assert!(!app.contains(forbidden), "textbridge-app reaches {forbidden}");
    }
    let local = reachable(&metadata, "textbridge");
    // The AWS SDK's crates (rustls and ring, the TLS of every outbound call, are not).
    let sdk: Vec<&String> = local
        .iter()
        .filter(|p| {
            p.starts_with("aws-sdk-")
                || p.starts_with("aws-smithy-")
                || ["aws-config", "aws-runtime", "aws-types"].contains(&p.as_str())
        })
        .collect();
    assert!(sdk.is_empty(), "the local binary reaches AWS SDK crates: {sdk:?}");
}
