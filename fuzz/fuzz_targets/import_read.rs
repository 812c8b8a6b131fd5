//! Any bytes as an uploaded user file (CSV, XLSX or XLS, as its content says), read
//! as an import reads it and then previewed: columns mapped from the headers, every
//! row checked.
//!
//! - A refusal is bad input (413 or 422), never an unexpected error.
//! - A table read holds within the bounds: a header, 1 to `MAX_ROWS` rows, at most
//!   `MAX_COLUMNS` columns, cells of at most `MAX_CELL_CHARS` characters, no blank
//!   row, no trailing blank cell; a CSV's row numbers increase.
//! - The preview never panics, and a row it accepts holds values that read back as
//!   themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use textbridge_domain::{
    Email, Error,
    import::{auto_map, check_mapping, check_row},
};
use textbridge_import::{Format, MAX_CELL_CHARS, MAX_COLUMNS, MAX_ROWS, read};

fuzz_target!(|bytes: &[u8]| {
    let format = Format::sniff(bytes);
    let name = match format {
        Format::Csv => "users.csv",
        Format::Xlsx => "users.xlsx",
        Format::Xls => "users.xls",
    };
    let table = match read(bytes, name) {
        Ok(table) => table,
        Err(e) => {
            assert!(matches!(e, Error::Invalid { .. } | Error::TooLarge { .. }), "{e:?}");
            return;
        }
    };
    assert!((1..=MAX_COLUMNS).contains(&table.headers.len()), "{} headers", table.headers.len());
    assert!(table.headers.iter().all(|h| !h.is_empty()), "every header has a name");
    assert!((1..=MAX_ROWS).contains(&table.rows.len()));
    for row in &table.rows {
        assert!(row.cells.len() <= MAX_COLUMNS);
        assert!(row.cells.last().is_some_and(|c| !c.is_empty()), "no blank row, no trailing blank cell");
        assert!(row.cells.iter().all(|c| c.chars().count() <= MAX_CELL_CHARS));
    }
    if format == Format::Csv {
        assert!(table.rows.windows(2).all(|w| w[0].line < w[1].line), "row numbers increase");
        assert!(table.rows.iter().all(|r| r.cells.iter().all(|c| c.trim() == c)), "cells are trimmed");
    }

    let mapping = auto_map(&table.headers);
    assert_eq!(mapping.len(), table.headers.len());
    let _ = check_mapping(&mapping, table.headers.len());
    for row in &table.rows {
        match check_row(row, &table.headers, &mapping) {
            Ok(checked) => {
                assert_eq!(checked.line, row.line);
                assert_eq!(Email::parse(checked.email.as_str()).as_ref(), Ok(&checked.email));
            }
            Err(e) => assert_eq!(e.line, row.line, "a rejected row names its row"),
        }
    }
});
