//! The users report, written as CSV or XLSX, read back as an import reads it: what a
//! customer downloads, edits and uploads again.
//!
//! The report's header (every field's label) maps every column to its field; each
//! data row reads back as its cells as written (escaped, trimmed; blank rows and
//! trailing blank cells left out), and the import's row check gives the same answer
//! for the row read back as for the row written.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use textbridge_domain::import::{Field, Row, auto_map, check_mapping, check_row, escape};
use textbridge_import::{MAX_CELL_CHARS, read, write_csv, write_xlsx};

#[derive(Debug, Arbitrary)]
struct Input {
    xlsx: bool,
    rows: Vec<[String; 8]>,
}

fuzz_target!(|input: Input| {
    // A report's cells are stored values, which hold no control characters; a cell
    // that its escaping makes longer than an import reads is out of scope.
    let usable = |cell: &String| !cell.chars().any(char::is_control) && escape(cell).chars().count() <= MAX_CELL_CHARS;
    if input.rows.len() > 200 || !input.rows.iter().flatten().all(usable) {
        return;
    }
    let header: Vec<String> = Field::ALL.iter().map(|f| f.label().to_owned()).collect();
    let mut rows = vec![header.clone()];
    rows.extend(input.rows.iter().map(|r| r.to_vec()));
    let (bytes, name) = if input.xlsx {
        (write_xlsx(&rows).expect("the report is written"), "users.xlsx")
    } else {
        (write_csv(&rows).expect("the report is written"), "users.csv")
    };

    // What an import should see: escaped, trimmed, trailing blanks and blank rows dropped.
    let expected: Vec<Vec<String>> = input
        .rows
        .iter()
        .map(|r| {
            let mut cells: Vec<String> = r.iter().map(|c| escape(c).trim().to_owned()).collect();
            let used = cells.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1);
            cells.truncate(used);
            cells
        })
        .filter(|cells| !cells.is_empty())
        .collect();
    let table = match read(&bytes, name) {
        Ok(table) => table,
        Err(e) => {
            assert!(expected.is_empty(), "the report does not read back: {e}");
            return;
        }
    };
    assert_eq!(table.headers, header);
    let mapping = auto_map(&table.headers);
    assert_eq!(mapping, Field::ALL.map(Some).to_vec(), "the report's header maps every column");
    assert_eq!(check_mapping(&mapping, header.len()), Ok(()));
    let read_back: Vec<Vec<String>> = table.rows.iter().map(|r| r.cells.clone()).collect();
    assert_eq!(read_back, expected, "the rows read back as written");

    let written = input.rows.iter().map(|r| r.to_vec()).filter(|r| r.iter().any(|c| !escape(c).trim().is_empty()));
    for (read_row, cells) in table.rows.iter().zip(written) {
        let written_row = Row { line: read_row.line, cells };
        let strip = |checked: Result<_, textbridge_domain::import::RowError>| checked.map(|r| format!("{r:?}"));
        assert_eq!(
            strip(check_row(read_row, &header, &mapping)),
            strip(check_row(&written_row, &header, &mapping)),
            "a row is checked the same read back as written"
        );
    }
});
