//! User import: the preview of a 100,000-row CSV and XLSX (the same users in both),
//! side by side in one run with a raw read of the same files by the `csv` and
//! `calamine` crates, Python pandas `read_csv` and openpyxl's read-only load.
//!
//! * **read + check**: `textbridge_import::read` (decoding, delimiter, bounds, the
//!   zip check) and every row mapped and checked (`check_row`), in memory;
//! * **preview**: upload (the rows stored in chunks) and the preview of every row
//!   against the tenant's users, on the embedded store (a SQLite file);
//! * **raw**: only the crate's read of every cell into strings.
//!
//! Python runs as `$PYTHON` (default: the test venv's python) and times only the
//! read, after start-up. Each figure is the best of 3 runs.
//!
//! Run: `cargo bench -p textbridge --bench import` (`-- --rows N`).

use std::{io::Cursor, path::Path, process::Command, sync::Arc, time::Instant};

use calamine::{Reader, Xlsx};
use textbridge_app::{
    App, Config,
    import::{self, OutcomePage},
};
use textbridge_domain::{
    Identity, Role, TenantId,
    import::{auto_map, check_row},
};

fn rows(n: usize) -> Vec<Vec<String>> {
    let mut rows = vec![
        ["First Name", "Last Name", "Email", "Desired Area Code", "Role", "Country Code", "Team Name", "Team ID"]
            .map(String::from)
            .to_vec(),
    ];
    for i in 0..n {
        rows.push(vec![
            format!("First{i}"),
            format!("Last{i}"),
            format!("user{i}@example.com"),
            ["212", "415", ""][i % 3].into(),
            ["User", "Manager", ""][i % 3].into(),
            "1".into(),
            String::new(),
            String::new(),
        ]);
    }
    rows
}

/// The best of 3 runs of `f`, in milliseconds.
fn best<T>(mut f: impl FnMut() -> T) -> f64 {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64() * 1000.0
        })
        .fold(f64::MAX, f64::min)
}

fn raw_csv(bytes: &[u8]) -> usize {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes);
    let mut record = csv::StringRecord::new();
    let mut cells = 0;
    while reader.read_record(&mut record).expect("csv") {
        cells += record.iter().map(str::to_owned).count();
    }
    cells
}

fn raw_xlsx(bytes: &[u8]) -> usize {
    let mut book = Xlsx::new(Cursor::new(bytes)).expect("xlsx");
    let name = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&name).expect("sheet");
    range.rows().map(|r| r.iter().map(ToString::to_string).count()).sum()
}

fn read_and_check(bytes: &[u8], name: &str) -> usize {
    let table = textbridge_import::read(bytes, name).expect("read");
    let mapping = auto_map(&table.headers);
    table.rows.iter().filter(|r| check_row(r, &table.headers, &mapping).is_ok()).count()
}

/// Seconds Python takes for `code` on `path` (it prints them), in milliseconds.
fn python(code: &str, path: &Path) -> Option<f64> {
    let python = std::env::var("PYTHON")
        .unwrap_or_else(|_| format!("{}/.cache/textbridge/venv/bin/python", std::env::var("HOME").unwrap_or_default()));
    let script = format!(
        "import sys, time\n{code}\nbest = None\nfor _ in range(3):\n    t = time.perf_counter()\n    run(sys.argv[1])\n    \
         e = time.perf_counter() - t\n    best = e if best is None else min(best, e)\nprint(best * 1000)\n"
    );
    let out = Command::new(python).arg("-c").arg(script).arg(path).output().ok()?;
    if !out.status.success() {
        eprintln!("python: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default());
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

const PANDAS: &str = "import pandas\ndef run(p):\n    pandas.read_csv(p, dtype=str, keep_default_na=False)";
const OPENPYXL: &str = "import openpyxl\ndef run(p):\n    wb = openpyxl.load_workbook(p, read_only=True)\n    \
                        n = sum(1 for row in wb.worksheets[0].iter_rows(values_only=True) for c in row)\n    wb.close()";

async fn preview(app: &Arc<App>, caller: &Identity, bytes: &[u8], name: &str) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let table = textbridge_import::read(bytes, name).expect("read");
        let view = import::upload(app, caller, name, table, OutcomePage::default()).await.expect("preview");
        assert_eq!(view.mapping_error, None);
        best = best.min(start.elapsed().as_secs_f64() * 1000.0);
    }
    best
}

fn line(what: &str, ms: Option<f64>, base: f64) {
    match ms {
        Some(ms) => println!("| {what:<46} | {ms:>9.0} | {:>6.2}× |", ms / base),
        None => println!("| {what:<46} | {:>9} | {:>7} |", "n/a", "n/a"),
    }
}

#[tokio::main]
async fn main() {
    let n = textbridge_testkit::bench::arg("--rows", 100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = rows(n);
    let csv = textbridge_import::write_csv(&rows).expect("csv");
    let xlsx = textbridge_import::write_xlsx(&rows).expect("xlsx");
    let csv_path = dir.path().join("users.csv");
    let xlsx_path = dir.path().join("users.xlsx");
    std::fs::write(&csv_path, &csv).expect("write");
    std::fs::write(&xlsx_path, &xlsx).expect("write");
    println!("{n} rows: CSV {} KiB, XLSX {} KiB\n", csv.len() / 1024, xlsx.len() / 1024);

    let embedded = textbridge_embedded::open(dir.path()).await.expect("store");
    let app = App::on(embedded.backend(), Config::default()).shared();
    let caller = Identity {
        tenant: TenantId::parse("bench").expect("tenant"),
        user_id: "m-1".parse().expect("id"),
        username: "m@example.com".parse().expect("username"),
        role: Role::Manager,
        permission_group: "default".parse().expect("group"),
    };

    for (kind, bytes, path, name) in [("CSV", &csv, &csv_path, "users.csv"), ("XLSX", &xlsx, &xlsx_path, "users.xlsx")]
    {
        let raw = if kind == "CSV" { best(|| raw_csv(bytes)) } else { best(|| raw_xlsx(bytes)) };
        let checked = best(|| read_and_check(bytes, name));
        let full = preview(&app, &caller, bytes, name).await;
        let py = if kind == "CSV" { python(PANDAS, path) } else { python(OPENPYXL, path) };
        println!("| {:<46} | {:>9} | {:>7} |", format!("{kind}, {n} rows"), "ms", "vs raw");
        println!("|---|---:|---:|");
        line(if kind == "CSV" { "raw read: csv crate" } else { "raw read: calamine" }, Some(raw), raw);
        line("read + check (textbridge_import + check_row)", Some(checked), raw);
        line("preview (upload to SQLite + every row shown)", Some(full), raw);
        let python_name = if kind == "CSV" { "pandas read_csv (dtype=str)" } else { "openpyxl read-only load" };
        line(python_name, py, raw);
        println!();
        let reference = match py {
            Some(ms) => format!("{python_name} {ms:.0} ms"),
            None => format!("raw read {raw:.0} ms"),
        };
        textbridge_testkit::bench::record(
            "import",
            &format!("{kind}, {n} rows: read + check"),
            &format!("{checked:.0} ms"),
            &reference,
        );
        textbridge_testkit::bench::record(
            "import",
            &format!("{kind}, {n} rows: preview"),
            &format!("{full:.0} ms"),
            &format!("raw read {raw:.0} ms"),
        );
    }
}
