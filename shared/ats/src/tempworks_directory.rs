//! The TempWorks directory: employees and contacts with their phone numbers, read
//! from TempWorks' search API for the scheduled sync (the token in `x-tw-token`).
//!
//! * `GET {base}/Search/Employees?take=200&skip=N&isActive=true` →
//!   `{"totalCount", "data": [{"employeeId", "firstName", "lastName", "phoneNumber",
//!   "cellPhoneNumber", …}]}`
//! * `GET {base}/Search/Contacts?take=200&skip=N&isActive=true` →
//!   `{"totalCount", "data": [{"contactId", "firstName", "lastName", "officePhone",
//!   "cellPhoneNumber", …}]}`
//!
//! TempWorks lists no ATS users with access levels, so this directory lists records
//! only (texting users stay managed in Textbridge), and it keeps applicants as
//! employees (there is no candidate listing). Its search answers carry no
//! updated-at: every run reads the whole active listing, and the sync writes only
//! what changed. A record that turns inactive keeps its numbers in the directory.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::Value;
use textbridge_app::ports::{AtsCursor, AtsDirectory, AtsEndpoint, AtsError, AtsPage, AtsRecord, AtsUser};
use textbridge_domain::RecordKind;

use crate::{
    PAGE_SIZE,
    http::{Call, Http},
    rest::base,
};

/// The connector for TempWorks' search API.
#[derive(Clone)]
pub struct TempWorksDirectory {
    http: Http,
}

impl TempWorksDirectory {
    /// A connector whose every attempt takes at most `timeout`, waiting at most
    /// `max_retry_wait` between attempts.
    pub fn new(timeout: Duration, max_retry_wait: Duration) -> Self {
        Self { http: Http::new(timeout, max_retry_wait) }
    }

    async fn search(
        &self,
        endpoint: &AtsEndpoint,
        listing: &Listing,
        skip: usize,
        take: usize,
    ) -> Result<AtsPage<AtsRecord>, AtsError> {
        let mut url = base(&endpoint.base_url)
            .join(listing.path)
            .map_err(|_| AtsError::Rejected("the ATS URL is not valid".into()))?;
        url.query_pairs_mut()
            .append_pair("take", &take.to_string())
            .append_pair("skip", &skip.to_string())
            .append_pair("isActive", "true");
        let doing = format!("search {}", listing.name);
        let not_found = format!("TempWorks has no {} search at /{}", listing.name, listing.path);
        let call =
            Call { method: Method::GET, url, token: &endpoint.token, body: None, doing: &doing, not_found: &not_found };
        let body = self.http.send(call).await?;
        parse_search(&body, listing, skip)
    }
}

/// One TempWorks search: its path and the fields of its rows.
pub struct Listing {
    /// `employees` or `contacts`, for messages.
    pub name: &'static str,
    path: &'static str,
    id: &'static str,
    phones: &'static [&'static str],
}

/// The employee search.
pub const EMPLOYEES: Listing = Listing {
    name: "employees",
    path: "Search/Employees",
    id: "employeeId",
    phones: &["cellPhoneNumber", "phoneNumber"],
};

/// The contact search.
pub const CONTACTS: Listing =
    Listing { name: "contacts", path: "Search/Contacts", id: "contactId", phones: &["cellPhoneNumber", "officePhone"] };

/// Reads one search page (`{"totalCount", "data"}`) that started at `skip`; each
/// row on its own, so one bad row never stops the page.
pub fn parse_search(body: &[u8], listing: &Listing, skip: usize) -> Result<AtsPage<AtsRecord>, AtsError> {
    let unknown =
        || AtsError::Unavailable(format!("TempWorks answered the {} search in an unknown shape", listing.name));
    let value: Value = serde_json::from_slice(body).map_err(|_| unknown())?;
    let total = value.get("totalCount").and_then(Value::as_u64).ok_or_else(unknown)?;
    let data = value.get("data").and_then(Value::as_array).ok_or_else(unknown)?;
    let rows = data
        .iter()
        .enumerate()
        .map(|(i, row)| record(row, listing).map_err(|e| format!("row {}: {e}", skip + i + 1)))
        .collect();
    let seen = u64::try_from(skip + data.len()).unwrap_or(u64::MAX);
    let next = (!data.is_empty() && seen < total).then(|| seen.to_string());
    Ok(AtsPage { rows, next })
}

fn text<'a>(row: &'a Value, field: &str) -> Option<&'a str> {
    row.get(field).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn record(row: &Value, listing: &Listing) -> Result<AtsRecord, String> {
    let id = match row.get(listing.id) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => return Err(format!("no {}", listing.id)),
    };
    let name = [text(row, "firstName"), text(row, "lastName")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let mut phones: Vec<String> = Vec::new();
    for field in listing.phones {
        if let Some(phone) = text(row, field)
            && !phones.iter().any(|p| p == phone)
        {
            phones.push(phone.to_owned());
        }
    }
    Ok(AtsRecord { id, name: Some(name).filter(|n| !n.is_empty()), phones, removed: false, updated_at: None })
}

#[async_trait]
impl AtsDirectory for TempWorksDirectory {
    async fn check(&self, endpoint: &AtsEndpoint) -> Result<(), AtsError> {
        self.search(endpoint, &EMPLOYEES, 0, 1).await.map(|_| ())
    }

    /// TempWorks lists no ATS users: always an empty last page.
    async fn users(&self, _endpoint: &AtsEndpoint, _cursor: &AtsCursor) -> Result<AtsPage<AtsUser>, AtsError> {
        Ok(AtsPage { rows: Vec::new(), next: None })
    }

    async fn records(
        &self,
        endpoint: &AtsEndpoint,
        kind: RecordKind,
        cursor: &AtsCursor,
    ) -> Result<AtsPage<AtsRecord>, AtsError> {
        let listing = match kind {
            RecordKind::Employee => &EMPLOYEES,
            RecordKind::Contact => &CONTACTS,
            RecordKind::Candidate => {
                return Err(AtsError::Rejected("TempWorks keeps candidates as employees; sync employees".into()));
            }
        };
        // The page token is the number of rows already read; a token this connector
        // did not give starts the listing again.
        let skip = cursor.page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(0);
        self.search(endpoint, listing, skip, PAGE_SIZE).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rows_carry_their_numbers_and_a_bad_row_stays_alone() {
        let body = br#"{"totalCount": 5, "data": [
            {"employeeId": 4102, "firstName": "Ann", "lastName": "Lee", "phoneNumber": "(651) 555-0100",
             "cellPhoneNumber": "651-555-0199"},
            {"firstName": "No", "lastName": "Id"},
            {"employeeId": "4104", "firstName": "Bo", "phoneNumber": " ", "cellPhoneNumber": null}
        ]}"#;
        let page = parse_search(body, &EMPLOYEES, 2).unwrap();
        assert_eq!(page.next.as_deref(), None, "2 skipped + 3 read = 5 of 5");
        let ann = page.rows[0].clone().unwrap();
        assert_eq!((ann.id.as_str(), ann.name.as_deref()), ("4102", Some("Ann Lee")));
        assert_eq!(ann.phones, ["651-555-0199", "(651) 555-0100"]);
        assert_eq!(page.rows[1].clone().unwrap_err(), "row 4: no employeeId");
        let bo = page.rows[2].clone().unwrap();
        assert_eq!((bo.id.as_str(), bo.phones.len()), ("4104", 0));
    }

    #[test]
    fn the_next_page_starts_after_the_rows_read() {
        let body = br#"{"totalCount": 450, "data": [{"contactId": 1, "officePhone": "6515550100"}]}"#;
        assert_eq!(parse_search(body, &CONTACTS, 200).unwrap().next.as_deref(), Some("201"));
        let empty = br#"{"totalCount": 450, "data": []}"#;
        assert_eq!(parse_search(empty, &CONTACTS, 450).unwrap().next, None);
        assert!(parse_search(b"[]", &CONTACTS, 0).is_err());
        assert!(parse_search(br#"{"data": []}"#, &CONTACTS, 0).is_err());
    }
}
