//! Reading user files made by real tools (fixtures from `fixtures/make.py`:
//! openpyxl, xlwt, Python's codecs; large files from `rust_xlsxwriter` and `csv`),
//! and refusing bad ones with a clear error.

use std::path::PathBuf;

use textbridge_domain::{
    Error,
    import::{Field, Table, auto_map, check_row},
};
use textbridge_import::{MAX_FILE_BYTES, MAX_ROWS, read, write_csv, write_xlsx};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The three users every small fixture holds, as (line, first name, e-mail, area, team id).
fn users(table: &Table) -> Vec<(u32, String, String, String, String)> {
    let m = auto_map(&table.headers);
    table
        .rows
        .iter()
        .map(|r| {
            let row = check_row(r, &table.headers, &m).expect("valid row");
            let team = match row.team {
                textbridge_domain::import::TeamChoice::Id(id) => id,
                textbridge_domain::import::TeamChoice::Remove => "remove".into(),
                other => format!("{other:?}"),
            };
            (
                row.line,
                row.first_name.to_string(),
                row.email.to_string(),
                row.area_code.map(|a| a.to_string()).unwrap_or_default(),
                team,
            )
        })
        .collect()
}

fn expected(lines: [u32; 3]) -> Vec<(u32, String, String, String, String)> {
    vec![
        (lines[0], "Zoë".into(), "zoe@example.com".into(), "212".into(), "Keep".into()),
        (lines[1], "José".into(), "jose@example.com".into(), String::new(), "remove".into()),
        (lines[2], "Ann".into(), "ann@example.com".into(), "415".into(), "1".into()),
    ]
}

#[test]
fn csv_in_every_common_encoding_and_delimiter() {
    for name in ["utf8.csv", "utf8-bom.csv", "windows-1252.csv", "semicolon.csv", "tab.txt"] {
        let table = read(&fixture(name), name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(table.headers[2], "E-mail Address", "{name}");
        assert_eq!(auto_map(&table.headers)[6], None, "{name}: Favourite Colour is unmapped");
        assert_eq!(users(&table), expected([2, 3, 4]), "{name}");
    }
}

#[test]
fn xlsx_first_sheet_with_blank_rows_and_numbers() {
    let table = read(&fixture("users.xlsx"), "users.xlsx").expect("xlsx");
    assert_eq!(table.headers.len(), 7);
    // Header on sheet row 3; a blank row after the first user.
    assert_eq!(users(&table), expected([4, 6, 7]));
}

#[test]
fn legacy_xls() {
    let table = read(&fixture("users.xls"), "users.xls").expect("xls");
    assert_eq!(users(&table), expected([3, 4, 5]));
}

fn is_invalid(result: Result<Table, Error>, says: &str) {
    match result {
        Err(Error::Invalid { field, reason }) => {
            assert_eq!(field, "file");
            assert!(reason.contains(says), "{reason:?} should say {says:?}");
        }
        other => panic!("expected a 422 saying {says:?}, got {other:?}"),
    }
}

#[test]
fn bad_files_are_refused_with_what_is_wrong() {
    is_invalid(read(b"", "users.csv"), "empty");
    is_invalid(read(b"\r\n \r\n", "users.csv"), "empty");
    is_invalid(read(b"First,Last,Email\r\n", "users.csv"), "header row but no users");
    let junk: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    is_invalid(read(&junk, "users.csv"), "not a CSV text file");
    let xlsx = fixture("users.xlsx");
    is_invalid(read(&xlsx[..xlsx.len() / 2], "users.xlsx"), "cannot be read");
    is_invalid(read(&fixture("bomb.xlsx"), "users.xlsx"), "unpacks to more than");
    is_invalid(read(b"a,b\r\n1,2\r\n", "users.xlsx"), "is not an XLSX workbook");
    is_invalid(read(&xlsx, "users.csv"), "is not a CSV text file");
    let xls = fixture("users.xls");
    is_invalid(read(&xls[..2048], "users.xls"), "cannot be read");
    let wide = format!("{}\r\n{}\r\n", vec!["h"; 60].join(","), vec!["v"; 60].join(","));
    is_invalid(read(wide.as_bytes(), "w.csv"), "uses 60 columns");
    let long = format!("First,Last,Email\r\n{},b,c@d.io\r\n", "x".repeat(2000));
    is_invalid(read(long.as_bytes(), "l.csv"), "longer than");
    let unclosed = b"First,Last,Email\r\n\"Ann,Lee,a@b.io\r\n";
    assert!(read(unclosed, "u.csv").is_ok_and(|t| t.rows.len() == 1), "an unclosed quote reads to the end");
}

/// A 5 KB compound file (found by fuzzing) whose directory's sector chain comes back
/// on itself: read naively, it allocates until memory runs out.
#[test]
fn an_xls_whose_sector_chain_loops_is_refused() {
    is_invalid(read(&fixture("fat-loop.xls"), "users.xls"), "cannot be read");
}

/// A legacy workbook (found by fuzzing) whose sheet declares billions of cells: read
/// naively, room for them all is asked for at once and the process aborts.
#[test]
fn an_xls_declaring_billions_of_cells_is_refused_not_an_abort() {
    is_invalid(read(&fixture("huge-dimensions.xls"), "users.xls"), "cannot be read");
}

#[test]
fn a_file_over_the_limit_is_413() {
    let big = vec![b'a'; MAX_FILE_BYTES + 1];
    assert_eq!(read(&big, "big.csv"), Err(Error::TooLarge { limit: MAX_FILE_BYTES }));
}

fn many(n: usize) -> Vec<Vec<String>> {
    let mut rows = vec![Field::ALL.iter().map(|f| f.label().to_owned()).collect::<Vec<_>>()];
    for i in 0..n {
        rows.push(vec![
            format!("First{i}"),
            format!("=Last{i}"),
            format!("user{i}@example.com"),
            "212".into(),
            "User".into(),
            "1".into(),
            String::new(),
            String::new(),
        ]);
    }
    rows
}

#[test]
fn ten_thousand_rows_in_csv_and_xlsx_with_escaped_formulas() {
    let rows = many(10_500);
    for (name, bytes) in [("big.csv", write_csv(&rows).expect("csv")), ("big.xlsx", write_xlsx(&rows).expect("xlsx"))] {
        let table = read(&bytes, name).expect(name);
        assert_eq!(table.rows.len(), 10_500, "{name}");
        assert_eq!(table.rows[10_499].line, 10_501, "{name}");
        assert_eq!(table.rows[0].cells[1], "'=Last0", "{name}: the formula-looking cell is escaped");
        let m = auto_map(&table.headers);
        let last = check_row(&table.rows[10_499], &table.headers, &m).expect("row");
        assert_eq!(last.last_name.as_str(), "=Last10499", "{name}: and reads back as written");
        assert_eq!(last.email.as_str(), "user10499@example.com");
    }
}

#[test]
fn more_users_than_the_limit_are_refused() {
    let mut text = String::from("First,Last,Email\n");
    for i in 0..=MAX_ROWS {
        text.push_str(&format!("a,b,u{i}@x.io\n"));
    }
    is_invalid(read(text.as_bytes(), "many.csv"), "more than 100000 users");
}
