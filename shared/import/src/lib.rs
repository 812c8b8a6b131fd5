//! User files in and out (S4): reads a CSV (any common encoding, with or without a
//! byte-order mark, `,` `;` or tab delimited), an XLSX or a legacy XLS workbook
//! into a [`Table`], within bounds that hold for hostile files too (size, rows,
//! columns, cell length, and the unpacked size of a workbook, so a zip bomb is
//! refused before it is unpacked); and writes the users report as CSV or XLSX with
//! formula-looking cells escaped.
//!
//! Parsing is left to maintained crates: `csv`, `calamine` (XLSX, XLS), `zip`
//! (the workbook's directory), `cfb` (the legacy workbook's container), `encoding_rs` and `chardetng` (text encodings),
//! `rust_xlsxwriter`.

use std::io::{Cursor, Read, Write};

use calamine::{Data, DataRef, Reader, Xls, Xlsx};
use textbridge_domain::{
    Error,
    import::{Row, Table, escape},
};

/// The largest file accepted (413 above).
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;
/// The most data rows (users) one file may hold.
pub const MAX_ROWS: usize = 100_000;
/// The most columns a file may use.
pub const MAX_COLUMNS: usize = 50;
/// The longest cell, in characters.
pub const MAX_CELL_CHARS: usize = 1_000;
/// The most a workbook may unpack to (the sum of its parts' sizes).
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
/// The most parts a workbook may have.
const MAX_PARTS: usize = 10_000;

/// The kind of a file, told by its content (the name only has to agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Delimited text.
    Csv,
    /// An Office Open XML workbook (a zip).
    Xlsx,
    /// A legacy Excel workbook (a compound file).
    Xls,
}

impl Format {
    /// The format of `bytes`: a zip is XLSX, a compound file XLS, anything else CSV.
    pub fn sniff(bytes: &[u8]) -> Self {
        if bytes.starts_with(b"PK\x03\x04") {
            Self::Xlsx
        } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            Self::Xls
        } else {
            Self::Csv
        }
    }

    /// The format a file's name claims (`.csv`, `.txt`, `.tsv`, `.xlsx`, `.xlsm`,
    /// `.xls`), if it names one.
    pub fn from_name(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" | "tsv" => Some(Self::Csv),
            "xlsx" | "xlsm" => Some(Self::Xlsx),
            "xls" => Some(Self::Xls),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Csv => "a CSV text file",
            Self::Xlsx => "an XLSX workbook",
            Self::Xls => "an XLS workbook",
        }
    }
}

fn bad(reason: impl std::fmt::Display) -> Error {
    Error::invalid("file", reason)
}

/// Reads a user file: the first sheet with content of a workbook, or the whole CSV.
/// Blank rows are left out; the first non-blank row is the header. Errors are 413
/// (too large) or 422 naming what is wrong with the file.
pub fn read(bytes: &[u8], file_name: &str) -> Result<Table, Error> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Error::TooLarge { limit: MAX_FILE_BYTES });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(bad("the file is empty"));
    }
    let format = Format::sniff(bytes);
    if let Some(named) = Format::from_name(file_name)
        && named != format
        && !(named == Format::Csv && format == Format::Csv)
    {
        return Err(bad(format!("the file is named {file_name:?} but is not {}", named.describe())));
    }
    let mut table = TableBuilder::default();
    match format {
        Format::Csv => read_csv(bytes, &mut table)?,
        Format::Xlsx => read_xlsx(bytes, &mut table)?,
        Format::Xls => read_xls(bytes, &mut table)?,
    }
    table.finish()
}

/// Collects rows into a table within the bounds.
#[derive(Default)]
struct TableBuilder {
    headers: Option<Vec<String>>,
    rows: Vec<Row>,
}

impl TableBuilder {
    /// Adds row `line` (1-based, as the user sees it); blank rows are skipped.
    fn push(&mut self, line: u32, cells: Vec<String>) -> Result<(), Error> {
        if cells.iter().all(|c| c.is_empty()) {
            return Ok(());
        }
        let used = cells.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1);
        if used > MAX_COLUMNS {
            return Err(bad(format!("row {line} uses {used} columns; at most {MAX_COLUMNS} are read")));
        }
        if let Some(long) = cells.iter().position(|c| c.chars().count() > MAX_CELL_CHARS) {
            return Err(bad(format!(
                "row {line}, column {}: a cell is longer than {MAX_CELL_CHARS} characters",
                long + 1
            )));
        }
        let mut cells = cells;
        cells.truncate(used);
        match &self.headers {
            None => {
                let headers = cells
                    .into_iter()
                    .enumerate()
                    .map(|(i, h)| if h.is_empty() { format!("Column {}", i + 1) } else { h })
                    .collect();
                self.headers = Some(headers);
            }
            Some(_) => {
                if self.rows.len() >= MAX_ROWS {
                    return Err(bad(format!("the file has more than {MAX_ROWS} users; split it into smaller files")));
                }
                self.rows.push(Row { line, cells });
            }
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.headers.is_none()
    }

    fn finish(self) -> Result<Table, Error> {
        let Some(headers) = self.headers else { return Err(bad("the file is empty")) };
        if self.rows.is_empty() {
            return Err(bad("the file has a header row but no users"));
        }
        Ok(Table { headers, rows: self.rows })
    }
}

// ---------------------------------------------------------------- CSV

/// Decodes text: a byte-order mark decides; else UTF-8 if it is valid; else the
/// encoding `chardetng` detects (Windows-1252 and the other legacy ones).
fn decode(bytes: &[u8]) -> Result<String, Error> {
    let (text, encoding) = if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom..]);
        if had_errors {
            return Err(bad(format!("the file is not valid {} text", encoding.name())));
        }
        (text.into_owned(), encoding)
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        (text.to_owned(), encoding_rs::UTF_8)
    } else {
        let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
        detector.feed(bytes, true);
        let encoding = detector.guess(None, chardetng::Utf8Detection::Deny);
        (encoding.decode_without_bom_handling(bytes).0.into_owned(), encoding)
    };
    let controls = text.chars().filter(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n')).count();
    if text.contains('\0') || controls * 100 > text.chars().count().max(1) {
        return Err(bad(format!(
            "the file is not a CSV text file (read as {}, it holds binary data); upload a CSV, XLSX or XLS file",
            encoding.name()
        )));
    }
    Ok(text)
}

/// The delimiter of the first non-blank line: whichever of `,` `;` tab it has most of.
fn sniff_delimiter(text: &str) -> u8 {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    [b',', b';', b'\t'].into_iter().max_by_key(|d| line.bytes().filter(|b| b == d).count()).unwrap_or(b',')
}

fn read_csv(bytes: &[u8], table: &mut TableBuilder) -> Result<(), Error> {
    let text = decode(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(&text))
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    // The line a record starts on, counted from its byte offset (`\r\n`, `\n` or a
    // lone `\r` end a line), as a spreadsheet or text editor numbers it.
    let (mut counted_to, mut line) = (0usize, 1u32);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let bytes = text.as_bytes();
                let reported = record.position().map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
                // The reader may place a record after `\r` of the previous line's
                // `\r\n`: its first byte is the first one past line ends.
                let start = (reported.min(bytes.len())..bytes.len())
                    .find(|&i| !matches!(bytes[i], b'\r' | b'\n'))
                    .unwrap_or(bytes.len());
                let ends = (counted_to..start)
                    .filter(|&i| bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
                    .count();
                line = line.saturating_add(u32::try_from(ends).unwrap_or(u32::MAX));
                counted_to = start.max(counted_to);
                table.push(line, record.iter().map(|c| c.trim().to_owned()).collect())?;
            }
            Err(e) => {
                let at = e.position().map(|p| format!("row {}: ", p.line())).unwrap_or_default();
                return Err(bad(format!("{at}the CSV cannot be read")));
            }
        }
    }
}

// ---------------------------------------------------------------- workbooks

fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 { format!("{f:.0}") } else { f.to_string() }
}

fn data_ref_text(cell: &DataRef<'_>) -> String {
    match cell {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::String(s) => s.trim().to_owned(),
        DataRef::SharedString(s) => s.trim().to_owned(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => d.to_string(),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}

fn data_text(cell: &Data) -> String {
    match cell {
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f),
        Data::String(s) => s.trim().to_owned(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(_) | Data::Empty => String::new(),
    }
}

/// Refuses a workbook whose parts would unpack to more than [`MAX_UNPACKED_BYTES`]
/// (the zip reader never yields more than a part's declared size).
fn check_zip(bytes: &[u8]) -> Result<(), Error> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|_| bad("the XLSX workbook cannot be read (damaged or truncated)"))?;
    if archive.len() > MAX_PARTS {
        return Err(bad(format!("the XLSX workbook has more than {MAX_PARTS} parts")));
    }
    let mut unpacked = 0u64;
    for i in 0..archive.len() {
        let part =
            archive.by_index_raw(i).map_err(|_| bad("the XLSX workbook cannot be read (damaged or truncated)"))?;
        unpacked = unpacked.saturating_add(part.size());
    }
    if unpacked > MAX_UNPACKED_BYTES {
        return Err(bad(format!(
            "the XLSX workbook unpacks to more than {} MB; it is refused unread",
            MAX_UNPACKED_BYTES / (1024 * 1024)
        )));
    }
    Ok(())
}

fn read_xlsx(bytes: &[u8], table: &mut TableBuilder) -> Result<(), Error> {
    check_zip(bytes)?;
    let broken = || bad("the XLSX workbook cannot be read (damaged, truncated or password-protected)");
    let mut book = Xlsx::new(Cursor::new(bytes)).map_err(|_| broken())?;
    for name in book.sheet_names() {
        let mut cells = book.worksheet_cells_reader(&name).map_err(|_| broken())?;
        let mut line = None;
        let mut row: Vec<String> = Vec::new();
        while let Some(cell) = cells.next_cell().map_err(|_| broken())? {
            let (r, c) = cell.get_position();
            if line != Some(r) {
                if let Some(l) = line {
                    table.push(l + 1, std::mem::take(&mut row))?;
                }
                line = Some(r);
            }
            let text = data_ref_text(cell.get_value());
            if text.is_empty() {
                continue;
            }
            let c = usize::try_from(c).map_err(|_| broken())?;
            if c >= MAX_COLUMNS {
                return Err(bad(format!("row {} uses more than {MAX_COLUMNS} columns", r + 1)));
            }
            if row.len() <= c {
                row.resize(c + 1, String::new());
            }
            row[c] = text;
        }
        if let Some(l) = line {
            table.push(l + 1, row)?;
        }
        if !table.is_empty() {
            return Ok(());
        }
    }
    Ok(())
}

fn xls_broken() -> Error {
    bad("the XLS workbook cannot be read (damaged, truncated or password-protected)")
}

/// The workbook stream of a legacy workbook, alone in a compound file that `cfb`
/// writes afresh (version 3, as Excel writes them; calamine refuses `cfb`'s version 4).
///
/// calamine follows a compound file's sector chains without noticing a loop: a few
/// kilobytes whose chain comes back on itself make it allocate until memory runs out.
/// `cfb` checks every chain as it opens a file (a sector pointed to twice, a chain
/// back to its start are refused), so the workbook is read with it, and calamine reads
/// a compound file whose chains are `cfb`'s own.
fn repacked_xls(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let mut file = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(|_| xls_broken())?;
    // BIFF8 names the stream `Workbook`, BIFF5 `Book` (in any case: names compare so).
    let name = file
        .read_root_storage()
        .filter(cfb::Entry::is_stream)
        .map(|entry| entry.name().to_owned())
        .find(|name| name.eq_ignore_ascii_case("Workbook") || name.eq_ignore_ascii_case("Book"))
        .ok_or_else(xls_broken)?;
    let mut workbook = Vec::new();
    let stream = file.open_stream(&name).map_err(|_| xls_broken())?;
    stream.take(MAX_FILE_BYTES as u64).read_to_end(&mut workbook).map_err(|_| xls_broken())?;
    clear_dimensions(&mut workbook);
    let mut repacked =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new())).map_err(Error::unexpected)?;
    repacked.create_stream(&name).and_then(|mut s| s.write_all(&workbook)).map_err(Error::unexpected)?;
    repacked.flush().map_err(Error::unexpected)?;
    Ok(repacked.into_inner().into_inner())
}

/// Zeroes every DIMENSIONS record (type 0x0200) of a workbook stream.
///
/// calamine reserves room for every cell a sheet's DIMENSIONS record declares before
/// it reads one, and uses the record for nothing else: a few bytes declaring billions
/// of cells abort the process (an allocation that cannot be made), a stray cell at
/// the sheet's far corner costs hundreds of megabytes. Zeroed, it declares one cell.
/// The stream is a run of records, each a type and a data length (`u16`, little
/// endian) and the data; anything after a record cut short is left as it is.
fn clear_dimensions(stream: &mut [u8]) {
    const DIMENSIONS: u16 = 0x0200;
    let mut at = 0;
    while let Some(&[t0, t1, l0, l1]) = stream.get(at..at + 4) {
        let data = at + 4..(at + 4 + usize::from(u16::from_le_bytes([l0, l1]))).min(stream.len());
        if u16::from_le_bytes([t0, t1]) == DIMENSIONS {
            stream[data.clone()].fill(0);
        }
        at = data.end;
    }
}

fn read_xls(bytes: &[u8], table: &mut TableBuilder) -> Result<(), Error> {
    let broken = xls_broken;
    let mut book = Xls::new(Cursor::new(repacked_xls(bytes)?)).map_err(|_| broken())?;
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).map_err(|_| broken())?;
        let Some((first_row, first_col)) = range.start() else { continue };
        let offset = usize::try_from(first_col).map_err(Error::unexpected)?;
        for (i, cells) in range.rows().enumerate() {
            let line = first_row + u32::try_from(i).map_err(Error::unexpected)? + 1;
            let mut row = vec![String::new(); offset];
            row.extend(cells.iter().map(data_text));
            table.push(line, row)?;
        }
        if !table.is_empty() {
            return Ok(());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- the report

/// A report's rows as CSV (UTF-8 with a byte-order mark, so spreadsheets read it
/// as UTF-8), every cell escaped.
pub fn write_csv(rows: &[Vec<String>]) -> Result<Vec<u8>, Error> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        for row in rows {
            writer.write_record(row.iter().map(|c| escape(c))).map_err(Error::unexpected)?;
        }
        writer.flush().map_err(Error::unexpected)?;
    }
    Ok(out)
}

/// A report's rows as an XLSX workbook of one sheet, every cell text, escaped.
pub fn write_xlsx(rows: &[Vec<String>]) -> Result<Vec<u8>, Error> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Users").map_err(Error::unexpected)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r).map_err(Error::unexpected)?;
        for (c, cell) in row.iter().enumerate() {
            let c = u16::try_from(c).map_err(Error::unexpected)?;
            if r == 0 {
                sheet.write_string_with_format(r, c, escape(cell), &bold).map_err(Error::unexpected)?;
            } else {
                sheet.write_string(r, c, escape(cell)).map_err(Error::unexpected)?;
            }
        }
    }
    book.save_to_buffer().map_err(Error::unexpected)
}
