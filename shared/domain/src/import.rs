//! User import (S4), the pure part: a file read into a [`Table`], the fields its
//! columns map to, automatic mapping from headers, and checking each row into an
//! [`ImportRow`] with errors that name the row as the user sees it in the file.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{AreaCode, Email, Error, PersonName, Role, TeamName};

/// A field of a texting user that a column can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// First name (required).
    FirstName,
    /// Last name (required).
    LastName,
    /// E-mail, the username (required).
    Email,
    /// Desired area code of the licence number.
    AreaCode,
    /// Role (User when blank).
    Role,
    /// Country code.
    CountryCode,
    /// Team name.
    TeamName,
    /// Team id (`remove` takes the user off their team).
    TeamId,
}

impl Field {
    /// Every field, in the order of the users report's columns.
    pub const ALL: [Field; 8] = [
        Self::FirstName,
        Self::LastName,
        Self::Email,
        Self::AreaCode,
        Self::Role,
        Self::CountryCode,
        Self::TeamName,
        Self::TeamId,
    ];

    /// The column header the users report writes for the field.
    pub fn label(self) -> &'static str {
        match self {
            Self::FirstName => "First Name",
            Self::LastName => "Last Name",
            Self::Email => "Email",
            Self::AreaCode => "Desired Area Code",
            Self::Role => "Role",
            Self::CountryCode => "Country Code",
            Self::TeamName => "Team Name",
            Self::TeamId => "Team ID",
        }
    }

    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::Email => "email",
            Self::AreaCode => "area_code",
            Self::Role => "role",
            Self::CountryCode => "country_code",
            Self::TeamName => "team_name",
            Self::TeamId => "team_id",
        }
    }

    /// Whether every import needs a column for the field.
    pub fn required(self) -> bool {
        matches!(self, Self::FirstName | Self::LastName | Self::Email)
    }

    /// Header spellings (folded by [`fold`]) that mean the field.
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Self::FirstName => &["firstname", "first", "givenname", "forename", "fname", "firstnames", "given"],
            Self::LastName => &["lastname", "last", "surname", "familyname", "lname", "family"],
            Self::Email => &[
                "email",
                "emailaddress",
                "mail",
                "emailid",
                "username",
                "useremail",
                "workemail",
                "loginemail",
                "emailusername",
            ],
            Self::AreaCode => {
                &["desiredareacode", "areacode", "area", "desiredarea", "phoneareacode", "licenceareacode"]
            }
            Self::Role => &["role", "userrole", "roletype", "accessrole"],
            Self::CountryCode => &["countrycode", "country", "countrycallingcode", "callingcode"],
            Self::TeamName => &["teamname", "team"],
            Self::TeamId => &["teamid", "teamnumber", "teamno", "teamidentifier"],
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A header or value folded for comparison: lowercase letters and digits only
/// (`"E-mail Address "` → `emailaddress`).
pub fn fold(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// One row of a file: its number as the user sees it (the line of a CSV, the row of
/// a sheet, counting from 1) and its cells as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The row number in the file.
    pub line: u32,
    /// The cells, trimmed; as many as the row has (missing ones are blank).
    pub cells: Vec<String>,
}

impl Row {
    /// The cell at `column`, blank if the row is shorter.
    pub fn cell(&self, column: usize) -> &str {
        self.cells.get(column).map_or("", String::as_str)
    }
}

/// A file read into a header and data rows (blank rows left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// The header row's cells.
    pub headers: Vec<String>,
    /// The data rows, in file order.
    pub rows: Vec<Row>,
}

/// For each column, the field it fills (`None`: Unmapped, left out).
pub type Mapping = Vec<Option<Field>>;

/// The mapping suggested by `headers`: each header that folds to a synonym of a field
/// maps to it; a field goes to its first such column, later ones stay Unmapped.
pub fn auto_map(headers: &[String]) -> Mapping {
    let mut taken = Vec::new();
    headers
        .iter()
        .map(|h| {
            let folded = fold(h);
            let field = Field::ALL.into_iter().find(|f| f.synonyms().contains(&folded.as_str()))?;
            if taken.contains(&field) {
                return None;
            }
            taken.push(field);
            Some(field)
        })
        .collect()
}

/// Checks a mapping of `columns` columns: one entry per column, no field twice,
/// every required field mapped (422 naming the first one missing).
pub fn check_mapping(mapping: &Mapping, columns: usize) -> Result<(), Error> {
    if mapping.len() != columns {
        return Err(Error::invalid("mapping", format!("give one entry per column: {columns}, not {}", mapping.len())));
    }
    for field in Field::ALL {
        let count = mapping.iter().filter(|m| **m == Some(field)).count();
        if count > 1 {
            return Err(Error::invalid("mapping", format!("{field} is mapped to {count} columns; map it to one")));
        }
        if count == 0 && field.required() {
            return Err(Error::invalid(
                "mapping",
                format!("the required field {field} ({}) is unmapped", field.label()),
            ));
        }
    }
    Ok(())
}

/// Team fields of a row, as the team rules read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamChoice {
    /// Both team fields blank: the user stays where they are.
    Keep,
    /// Team id `remove` (any case): off any team.
    Remove,
    /// A team by id (which wins over a name given with it).
    Id(String),
    /// A team by name (no id given).
    Name(TeamName),
}

/// A checked row, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// The row number in the file.
    pub line: u32,
    /// E-mail (the username).
    pub email: Email,
    /// First name.
    pub first_name: PersonName,
    /// Last name.
    pub last_name: PersonName,
    /// Desired area code, if given.
    pub area_code: Option<AreaCode>,
    /// Role, if given.
    pub role: Option<Role>,
    /// Country code, if given.
    pub country_code: Option<CountryCode>,
    /// The team fields.
    pub team: TeamChoice,
}

/// A rejected row: its number and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowError {
    /// The row number in the file.
    pub line: u32,
    /// The column at fault, by its header, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Why, in plain words.
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "row {}, column {c:?}: {}", self.line, self.reason),
            None => write!(f, "row {}: {}", self.line, self.reason),
        }
    }
}

/// A telephone country code: the calling code's digits (`1`, `44`; a leading `+` is
/// dropped) or a two-letter ISO country (`US`, uppercased).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode(String);

impl CountryCode {
    /// Parses a country code.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let s = input.trim();
        let digits = s.strip_prefix('+').unwrap_or(s);
        if (1..=3).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0') {
            return Ok(Self(digits.to_owned()));
        }
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Ok(Self(s.to_ascii_uppercase()));
        }
        Err(Error::invalid("country_code", format!("{s:?} is not a calling code (1-3 digits) or a two-letter country")))
    }
}

text_newtype!(CountryCode);

/// The role names an import accepts, any case and spacing: user, reporter, manager
/// and (only for a customer admin already so) customer admin.
pub fn parse_role(input: &str) -> Result<Role, Error> {
    match fold(input).as_str() {
        "user" => Ok(Role::User),
        "reporter" => Ok(Role::Reporter),
        "manager" => Ok(Role::Manager),
        "customeradmin" | "admin" => Ok(Role::CustomerAdmin),
        _ => Err(Error::invalid("role", format!("{:?} is not one of User, Reporter, Manager", input.trim()))),
    }
}

/// The role as the users report writes it.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::User => "User",
        Role::Reporter => "Reporter",
        Role::Manager => "Manager",
        Role::CustomerAdmin => "Customer Admin",
        Role::Staff => "Staff",
    }
}

/// The characters a spreadsheet runs a cell beginning with as a formula.
pub const FORMULA_STARTS: [char; 4] = ['=', '+', '-', '@'];

/// A cell as written by a spreadsheet-safe export, read back: a `'` put before a
/// leading `=`, `+`, `-` or `@` is dropped.
pub fn unescape(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// A cell made safe for a spreadsheet: text starting with `=`, `+`, `-` or `@` (which
/// a spreadsheet would run as a formula) gets a leading `'`.
pub fn escape(cell: &str) -> String {
    if cell.starts_with(FORMULA_STARTS) { format!("'{cell}") } else { cell.to_owned() }
}

/// Checks one row against `mapping`; `headers` name the columns in errors.
pub fn check_row(row: &Row, headers: &[String], mapping: &Mapping) -> Result<ImportRow, RowError> {
    let column_of = |field: Field| mapping.iter().position(|m| *m == Some(field));
    let value = |field: Field| column_of(field).map(|c| unescape(row.cell(c).trim())).unwrap_or_default();
    let fail = |field: Field, e: Error| {
        let column = column_of(field).map(|c| headers.get(c).cloned().unwrap_or_else(|| format!("column {}", c + 1)));
        let reason = match e {
            Error::Invalid { reason, .. } => reason,
            other => other.to_string(),
        };
        RowError { line: row.line, column, reason }
    };
    let email = value(Field::Email);
    let email = if email.is_empty() {
        Err(Error::invalid("email", "the e-mail is required"))
    } else {
        Email::parse(email).map_err(|_| Error::invalid("email", "not an e-mail address"))
    }
    .map_err(|e| fail(Field::Email, e))?;
    let first_name = PersonName::parse_field(value(Field::FirstName), "first_name")
        .map_err(|e| fail(Field::FirstName, required(e, "the first name")))?;
    let last_name = PersonName::parse_field(value(Field::LastName), "last_name")
        .map_err(|e| fail(Field::LastName, required(e, "the last name")))?;
    let optional = |field: Field| Some(value(field)).filter(|v| !v.is_empty());
    let area_code = optional(Field::AreaCode)
        .map(|a| AreaCode::parse(a.strip_suffix(".0").unwrap_or(a)))
        .transpose()
        .map_err(|e| fail(Field::AreaCode, e))?;
    let role = optional(Field::Role).map(parse_role).transpose().map_err(|e| fail(Field::Role, e))?;
    let country_code =
        optional(Field::CountryCode).map(CountryCode::parse).transpose().map_err(|e| fail(Field::CountryCode, e))?;
    let team_id = optional(Field::TeamId);
    let team = match team_id {
        Some(id) if id.eq_ignore_ascii_case("remove") => TeamChoice::Remove,
        Some(id) => {
            let id = id.strip_suffix(".0").unwrap_or(id);
            if id.len() > 20 || id.contains('#') || id.chars().any(char::is_control) {
                return Err(fail(Field::TeamId, Error::invalid("team_id", format!("{id:?} is not a team id"))));
            }
            TeamChoice::Id(id.to_owned())
        }
        None => match optional(Field::TeamName) {
            Some(name) => TeamChoice::Name(TeamName::parse(name).map_err(|e| fail(Field::TeamName, e))?),
            None => TeamChoice::Keep,
        },
    };
    Ok(ImportRow { line: row.line, email, first_name, last_name, area_code, role, country_code, team })
}

/// "must not be empty" said as "… is required".
fn required(e: Error, what: &str) -> Error {
    match e {
        Error::Invalid { field, reason } if reason == "must not be empty" => {
            Error::invalid(field, format!("{what} is required"))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn headers_map_by_synonym_case_spacing_and_punctuation() {
        let h = headers(&[
            "E-mail Address",
            " FIRST ",
            "Surname",
            "Area_Code",
            "Team ID",
            "team",
            "Favourite colour",
            "email",
            "Country",
            "User Role",
        ]);
        let m = auto_map(&h);
        assert_eq!(
            m,
            vec![
                Some(Field::Email),
                Some(Field::FirstName),
                Some(Field::LastName),
                Some(Field::AreaCode),
                Some(Field::TeamId),
                Some(Field::TeamName),
                None,
                None,
                Some(Field::CountryCode),
                Some(Field::Role),
            ]
        );
        assert_eq!(
            auto_map(&headers(&["Given name", "Family Name", "Mail"]))[..2],
            [Some(Field::FirstName), Some(Field::LastName)]
        );
        assert!(check_mapping(&m, h.len()).is_ok());
    }

    #[test]
    fn a_mapping_names_the_required_field_it_misses() {
        let m = vec![Some(Field::FirstName), None, Some(Field::Email)];
        let e = check_mapping(&m, 3).expect_err("last name unmapped");
        assert!(e.to_string().contains("last_name"), "{e}");
        let twice = vec![Some(Field::FirstName), Some(Field::FirstName), Some(Field::Email)];
        assert!(check_mapping(&twice, 3).expect_err("twice").to_string().contains("2 columns"));
        assert!(check_mapping(&twice, 4).is_err());
    }

    fn row(cells: &[&str]) -> Row {
        Row { line: 17, cells: cells.iter().map(|s| (*s).to_owned()).collect() }
    }

    #[test]
    fn rows_are_checked_with_their_row_and_column() {
        let h = headers(&["First", "Last", "Email", "Area Code", "Role", "Team ID", "Team Name", "Country"]);
        let m = auto_map(&h);
        let ok = check_row(&row(&["Ann", "Lee", "Ann@X.io", "212", "", "", "Sales", "+1"]), &h, &m).expect("ok");
        assert_eq!(ok.email.as_str(), "ann@x.io");
        assert_eq!(ok.role, None);
        assert_eq!(ok.team, TeamChoice::Name(TeamName::parse("Sales").expect("name")));
        assert_eq!(ok.country_code.as_ref().map(CountryCode::as_str), Some("1"));
        let id_wins = check_row(&row(&["A", "B", "a@x.io", "", "manager", "7", "Sales", ""]), &h, &m).expect("ok");
        assert_eq!(id_wins.team, TeamChoice::Id("7".into()));
        assert_eq!(id_wins.role, Some(Role::Manager));
        let remove = check_row(&row(&["A", "B", "a@x.io", "", "", "ReMoVe", "", ""]), &h, &m).expect("ok");
        assert_eq!(remove.team, TeamChoice::Remove);
        let bad = check_row(&row(&["A", "B", "nope", "", "", "", "", ""]), &h, &m).expect_err("bad e-mail");
        assert_eq!(bad.to_string(), r#"row 17, column "Email": not an e-mail address"#);
        let no_first = check_row(&row(&["", "B", "a@x.io"]), &h, &m).expect_err("no first name");
        assert_eq!(no_first.to_string(), r#"row 17, column "First": the first name is required"#);
        let area = check_row(&row(&["A", "B", "a@x.io", "21"]), &h, &m).expect_err("area");
        assert_eq!(area.column.as_deref(), Some("Area Code"));
        let role = check_row(&row(&["A", "B", "a@x.io", "", "boss"]), &h, &m).expect_err("role");
        assert!(role.reason.contains("User, Reporter, Manager"), "{role}");
    }

    #[test]
    fn escaping_round_trips() {
        for s in ["=SUM(A1)", "+1", "-x", "@home", "plain", "'quoted", ""] {
            assert_eq!(unescape(&escape(s)), s);
        }
        assert_eq!(escape("=1+1"), "'=1+1");
    }
}
