//! User import (S4) on the embedded backend: the testkit's scenarios (team and
//! licence rules, bad rows, remap, a stopped run resumed, racing runs, the report
//! read back, other tenants refused), and the same through the real `textbridge serve`
//! and `textbridge import`.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_scenarios_on_the_embedded_backend() {
    use textbridge_testkit::imports;
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    imports::team_rules_and_licences(embedded.backend(), "imp-teams").await;
    imports::bad_rows_never_block_good_ones(embedded.backend(), "imp-bad").await;
    imports::remap_names_the_missing_field(embedded.backend(), "imp-remap").await;
    imports::report_round_trip_and_refusals(embedded.backend(), "imp-report", "imp-other").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_import_resumes_and_racing_runs_end_as_one_on_the_embedded_backend() {
    use textbridge_testkit::imports;
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    imports::a_stopped_run_resumes_without_duplicates(embedded.backend(), "imp-crash", 1_200).await;
    imports::two_runs_at_once_end_as_one(embedded.backend(), "imp-race", 700).await;
    imports::queued_runs_apply_once(embedded.backend(), "imp-queued", 700).await;
}

/// The local server's upload place follows the same contract as S3: its signed
/// URLs take one PUT through the real upload route.
#[tokio::test]
async fn uploads_follow_the_contract_on_the_embedded_backend() {
    use std::sync::Arc;
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let clock = Arc::new(textbridge_app::ports::SystemClock);
    let uploads = Arc::new(textbridge_embedded::LocalUploads::open(&embedded, &base, clock).await.expect("uploads"));
    let routes = textbridge::uploads::routes(uploads.clone());
    tokio::spawn(async move { axum::serve(listener, routes).await });
    let http = crate::common::http_client();
    textbridge_testkit::uploads::contract(uploads.as_ref(), |url, _headers, bytes| {
        let request = http.put(url).body(bytes);
        async move { request.send().await.map_or(0, |r| r.status().as_u16()) }
    })
    .await;
}

mod serve {
    use std::path::{Path, PathBuf};

    use serde_json::{Value, json};

    use crate::common::{Client, Server, cli, post_oversized, token};

    fn fixture(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/import/tests/fixtures").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    struct World {
        _dir: tempfile::TempDir,
        server: Server,
        client: Client,
    }

    impl World {
        fn dir(&self) -> &Path {
            self._dir.path()
        }

        fn token(&self, tenant: &str, role: &str) -> String {
            token(self.dir(), &["--tenant", tenant, "--role", role, "--user-id", &format!("{role}-1")])
        }

        async fn upload(&self, bearer: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
            let url = format!("{}/users/imports?file_name={name}&limit=1000", self.server.base);
            self.client.send(self.client.raw().post(url).bearer_auth(bearer).body(bytes)).await
        }

        async fn call(&self, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
            self.client.call(method, &format!("{}{path}", self.server.base), Some(bearer), body.as_ref()).await
        }

        /// Starts the import's run (a background job: 202) and waits until it is done.
        async fn run(&self, bearer: &str, id: &str) -> Value {
            let (status, started) = self.call("POST", &format!("/users/imports/{id}/run"), bearer, None).await;
            assert_eq!((status, &started["state"]), (202, &json!("running")), "{started}");
            for _ in 0..300 {
                let (status, job) = self.call("GET", &format!("/users/imports/{id}?limit=1000"), bearer, None).await;
                assert_eq!(status, 200, "{job}");
                if job["state"] == "done" {
                    return job;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("import {id} did not finish");
        }

        async fn users(&self, bearer: &str) -> usize {
            let (status, page) = self.call("GET", "/users?limit=100", bearer, None).await;
            assert_eq!(status, 200, "{page}");
            page["users"].as_array().map_or(0, Vec::len)
        }
    }

    #[tokio::test]
    async fn upload_preview_remap_import_and_report_through_serve() {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = Server::start(dir.path(), &[]);
        let w = World { _dir: dir, server, client: Client::default() };
        let manager = w.token("acme", "manager");
        let intruder = w.token("globex", "customer_admin");
        let user = w.token("acme", "user");

        // Bad files: a clear 4xx each, nothing imported.
        for (name, bytes, says) in [
            ("users.csv", Vec::new(), "the file is empty"),
            ("users.csv", b"First,Last,Email\r\n".to_vec(), "header row but no users"),
            ("users.csv", (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(), "not a CSV"),
            ("users.xlsx", fixture("users.xlsx")[..3000].to_vec(), "cannot be read"),
            ("users.xlsx", fixture("bomb.xlsx"), "unpacks to more than"),
        ] {
            let (status, body) = w.upload(&manager, name, bytes).await;
            assert_eq!(status, 422, "{name}: {body}");
            assert_eq!(body["error"]["field"], "file");
            assert!(body["error"]["message"].as_str().unwrap_or_default().contains(says), "{body}");
        }
        let path = "/users/imports?file_name=big.csv";
        assert_eq!(post_oversized(&w.server.base, path, &manager, 100 * 1024 * 1024).await, 413);
        assert_eq!(w.upload(&user, "users.xlsx", fixture("users.xlsx")).await.0, 403);
        assert_eq!(w.users(&manager).await, 0, "nothing imported");

        // An XLSX with blank rows and an extra sheet: previewed, remapped, applied.
        let (status, preview) = w.upload(&manager, "users.xlsx", fixture("users.xlsx")).await;
        assert_eq!(status, 201, "{preview}");
        let id = preview["id"].as_str().expect("id").to_owned();
        assert_eq!(
            preview["columns"][2],
            json!({"index": 2, "header": "E-mail Address", "field": "email", "label": "Email"})
        );
        assert_eq!(preview["columns"][6]["label"], "Unmapped");
        assert_eq!(preview["summary"], json!({"create": 3, "update": 0, "unchanged": 0, "error": 0}));
        assert_eq!(preview["outcomes"][1]["line"], 6, "rows numbered as in the sheet");
        let unmapped = json!({"mapping": ["first_name", "last_name", null, null, null, null, null]});
        let (status, body) = w.call("PUT", &format!("/users/imports/{id}/mapping"), &manager, Some(unmapped)).await;
        assert_eq!(status, 422, "{body}");
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains("email"), "{body}");
        for (method, path) in [("GET", format!("/users/imports/{id}")), ("POST", format!("/users/imports/{id}/run"))] {
            let (status, body) = w.call(method, &path, &intruder, None).await;
            assert_eq!(status, 404, "another tenant: {body}");
        }
        let no_role = json!({"mapping": ["first_name", "last_name", "email", "area_code", null, "team_id", null]});
        let (status, body) = w.call("PUT", &format!("/users/imports/{id}/mapping"), &manager, Some(no_role)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["columns"][4]["label"], "Unmapped");
        assert_eq!(w.users(&manager).await, 0, "preview and remap change nothing");
        let done = w.run(&manager, &id).await;
        let (status, again) = w.call("POST", &format!("/users/imports/{id}/run"), &manager, None).await;
        assert_eq!((status, &again["state"]), (200, &json!("done")), "a done import is not run again: {again}");
        assert_eq!(done["summary"], json!({"create": 3, "update": 0, "unchanged": 0, "error": 0}));
        assert_eq!(
            done["outcomes"][2]["notes"][0], "there is no team with the id \"1\": the user's team is unchanged",
            "a team that does not exist is never created: {done}"
        );
        let (_, teams) = w.call("GET", "/teams", &manager, None).await;
        assert_eq!(teams, json!([]));
        assert_eq!(w.users(&manager).await, 3);
        assert_eq!(w.users(&intruder).await, 0, "the other tenant has none");

        // The report, downloaded as XLSX and CSV, re-imports with no change.
        for format in ["xlsx", "csv"] {
            let url = format!("{}/users/report?format={format}", w.server.base);
            let resp = w.client.raw().get(url).bearer_auth(&manager).send().await.expect("report");
            assert_eq!(resp.status().as_u16(), 200);
            let bytes = resp.bytes().await.expect("bytes").to_vec();
            let (status, back) = w.upload(&manager, &format!("users.{format}"), bytes).await;
            assert_eq!(status, 201, "{back}");
            assert_eq!(back["summary"], json!({"create": 0, "update": 0, "unchanged": 3, "error": 0}), "{back}");
        }
        let (status, body) = w.call("GET", "/users/report?format=pdf", &manager, None).await;
        assert_eq!((status, body["error"]["field"].clone()), (422, json!("format")));
        let (status, other) = w.call("GET", "/users/report", &intruder, None).await;
        assert_eq!(status, 200);
        assert_eq!(other, Value::Null, "CSV, not JSON");

        // A file too large for a request body goes to an upload URL first.
        let file = fixture("users.xlsx");
        let ask = json!({"file_name": "users.xlsx", "size": file.len()});
        let (status, slot) = w.call("POST", "/users/imports/uploads", &manager, Some(ask)).await;
        assert_eq!((status, &slot["method"]), (201, &json!("PUT")), "{slot}");
        let (url, upload) =
            (slot["url"].as_str().expect("url").to_owned(), slot["upload"].as_str().expect("id").to_owned());
        assert!(url.starts_with(&format!("{}/uploads/imports/acme/", w.server.base)), "{url}");
        let tampered = url.replace("signature=", "signature=0");
        let raw = w.client.raw().clone();
        let put = |url: String, bytes: Vec<u8>| {
            let raw = raw.clone();
            async move {
                let resp = raw.put(url).body(bytes).send().await.expect("put");
                let status = resp.status().as_u16();
                (status, resp.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (status, refused) = put(tampered, file.clone()).await;
        assert_eq!((status, &refused["error"]["code"]), (403, &json!("forbidden")), "{refused}");
        let named = |tenant_query: &str| {
            format!("{}/users/imports?file_name=users.xlsx&upload={upload}{tenant_query}", w.server.base)
        };
        let (status, missing) = w.client.send(w.client.raw().post(named("")).bearer_auth(&manager)).await;
        assert_eq!((status, &missing["error"]["code"]), (404, &json!("not_found")), "not PUT yet: {missing}");
        assert_eq!(put(url.clone(), file.clone()).await.0, 200);
        let (status, theirs) = w.client.send(w.client.raw().post(named("")).bearer_auth(&intruder)).await;
        assert_eq!(status, 404, "another tenant cannot read acme's upload: {theirs}");
        let both = w.client.raw().post(named("")).bearer_auth(&manager).body(file.clone());
        let (status, both) = w.client.send(both).await;
        assert_eq!((status, &both["error"]["field"]), (422, &json!("upload")), "{both}");
        let (status, preview) = w.client.send(w.client.raw().post(named("&limit=10")).bearer_auth(&manager)).await;
        assert_eq!(status, 201, "{preview}");
        assert_eq!((&preview["rows"], &preview["state"]), (&json!(3), &json!("uploaded")), "{preview}");
        let (status, _) = w.client.send(w.client.raw().post(named("")).bearer_auth(&manager)).await;
        assert_eq!(status, 404, "an upload is read once, then removed");
        for (ask, want) in [
            (json!({"file_name": "users.pdf", "size": 10}), 422),
            (json!({"file_name": "users.csv", "size": 17 * 1024 * 1024}), 413),
            (json!({"file_name": "users.csv", "size": 0}), 422),
        ] {
            let (status, body) = w.call("POST", "/users/imports/uploads", &manager, Some(ask.clone())).await;
            assert_eq!(status, want, "{ask}: {body}");
        }
        let plain = w.token("acme", "user");
        assert_eq!(
            w.call("POST", "/users/imports/uploads", &plain, Some(json!({"file_name": "u.csv", "size": 9}))).await.0,
            403
        );

        // 10,000 rows with the command line, on the same store while serve runs.
        let mut csv = String::from("Given name;Surname;E-mail;Area Code;Team\n");
        for i in 0..10_000 {
            csv.push_str(&format!("Pat;Lee{i};bulk{i}@acme.test;;\n"));
        }
        let file = w.dir().join("bulk.csv");
        std::fs::write(&file, csv).expect("write");
        let out = cli(w.dir(), &["import", file.to_str().expect("path"), "--tenant", "acme"]);
        let out: Value = serde_json::from_str(out.trim()).expect("json");
        assert_eq!(out["summary"], json!({"create": 10_000, "update": 0, "unchanged": 0, "error": 0}), "{out}");
        let again = cli(w.dir(), &["import", file.to_str().expect("path"), "--tenant", "acme"]);
        let again: Value = serde_json::from_str(again.trim()).expect("json");
        assert_eq!(again["summary"]["unchanged"], 10_000, "the same file twice changes nothing");
    }
}
