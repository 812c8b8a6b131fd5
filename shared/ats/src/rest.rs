//! Textbridge's ATS directory contract: the REST interface an ATS implements so
//! that the scheduled sync can read its users and records. Documented in README
//! ("ATS directory contract"); every request carries `Authorization: Bearer {token}`.
//!
//! * `GET {base}/users?limit=200[&updated_since=RFC3339][&page_token=T]` →
//!   `{"users": [{"id", "email", "first_name", "last_name", "access": "full"|"partial",
//!   "synchronize": "always"|"never"|null, "removed": bool, "updated_at"}], "next_page_token": T|null}`
//! * `GET {base}/records?kind=candidate|employee|contact&limit=200[&updated_since][&page_token]` →
//!   `{"records": [{"id", "name", "phones": [..], "removed": bool, "updated_at"}], "next_page_token": T|null}`
//!
//! Rows changed at or after `updated_since` are listed (the bound is inclusive). A row
//! that cannot be read is reported with its position and never stops the page.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use textbridge_app::ports::{AtsCursor, AtsDirectory, AtsEndpoint, AtsError, AtsPage, AtsRecord, AtsUser};
use textbridge_domain::RecordKind;
use url::Url;

use crate::http::{Call, Http};

/// Rows asked for per page.
pub const PAGE_SIZE: usize = 200;

/// The connector for Textbridge's ATS directory contract.
#[derive(Clone)]
pub struct RestDirectory {
    http: Http,
}

impl RestDirectory {
    /// A connector whose every attempt takes at most `timeout`, waiting at most
    /// `max_retry_wait` between attempts (429 `Retry-After` included).
    pub fn new(timeout: Duration, max_retry_wait: Duration) -> Self {
        Self { http: Http::new(timeout, max_retry_wait).with_bearer() }
    }

    async fn page<T: DeserializeOwned>(
        &self,
        endpoint: &AtsEndpoint,
        path: &str,
        list: &str,
        query: &[(&str, &str)],
        cursor: &AtsCursor,
        limit: usize,
    ) -> Result<AtsPage<T>, AtsError> {
        let mut url =
            base(&endpoint.base_url).join(path).map_err(|_| AtsError::Rejected("the ATS URL is not valid".into()))?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("limit", &limit.to_string());
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
            if let Some(since) = &cursor.since {
                pairs.append_pair("updated_since", since);
            }
            if let Some(page) = &cursor.page {
                pairs.append_pair("page_token", page);
            }
        }
        let doing = format!("list {list}");
        let not_found = format!("the ATS has no {list} listing at /{path}");
        let call =
            Call { method: Method::GET, url, token: &endpoint.token, body: None, doing: &doing, not_found: &not_found };
        let body = self.http.send(call).await?;
        parse_page(&body, list)
    }
}

/// The base URL with a trailing slash, so that paths are appended to it.
pub(crate) fn base(url: &Url) -> Url {
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    url.set_query(None);
    url
}

/// Reads one page: `{list: [...], "next_page_token": ...}`; each row on its own.
pub fn parse_page<T: DeserializeOwned>(body: &[u8], list: &str) -> Result<AtsPage<T>, AtsError> {
    let unknown = || AtsError::Unavailable(format!("the ATS answered the {list} listing in an unknown shape"));
    let value: Value = serde_json::from_slice(body).map_err(|_| unknown())?;
    let rows = value.get(list).and_then(Value::as_array).ok_or_else(unknown)?;
    let next = match value.get("next_page_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) => None,
        Some(_) => return Err(unknown()),
    };
    let rows = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            serde_json::from_value::<T>(row.clone()).map_err(|e| {
                let id = row.get("id").map(|v| format!(" (id {v})")).unwrap_or_default();
                format!("row {}{id}: {e}", i + 1)
            })
        })
        .collect();
    Ok(AtsPage { rows, next })
}

#[async_trait]
impl AtsDirectory for RestDirectory {
    async fn check(&self, endpoint: &AtsEndpoint) -> Result<(), AtsError> {
        self.page::<Value>(endpoint, "users", "users", &[], &AtsCursor::default(), 1).await.map(|_| ())
    }

    async fn users(&self, endpoint: &AtsEndpoint, cursor: &AtsCursor) -> Result<AtsPage<AtsUser>, AtsError> {
        self.page(endpoint, "users", "users", &[], cursor, PAGE_SIZE).await
    }

    async fn records(
        &self,
        endpoint: &AtsEndpoint,
        kind: RecordKind,
        cursor: &AtsCursor,
    ) -> Result<AtsPage<AtsRecord>, AtsError> {
        self.page(endpoint, "records", "records", &[("kind", kind.as_str())], cursor, PAGE_SIZE).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_bad_row_is_reported_and_the_others_kept() {
        let body = br#"{"users": [
            {"id": "1", "email": "a@x.test", "first_name": "A", "last_name": "B", "access": "full"},
            {"id": "2", "access": "sometimes"},
            {"id": "3", "email": "c@x.test", "access": "partial", "synchronize": "always", "removed": true}
        ], "next_page_token": "p2"}"#;
        let page = parse_page::<AtsUser>(body, "users").unwrap();
        assert_eq!(page.next.as_deref(), Some("p2"));
        assert!(page.rows[0].is_ok() && page.rows[2].is_ok());
        let err = page.rows[1].clone().unwrap_err();
        assert!(err.starts_with("row 2 (id \"2\"): unknown variant `sometimes`"), "{err}");
    }

    #[test]
    fn an_unknown_shape_is_an_error() {
        assert!(parse_page::<AtsUser>(b"[]", "users").is_err());
        assert!(parse_page::<AtsUser>(br#"{"users": [], "next_page_token": 5}"#, "users").is_err());
        assert!(parse_page::<AtsUser>(br#"{"users": []}"#, "users").unwrap().next.is_none());
    }

    #[test]
    fn paths_are_appended_to_the_base() {
        let url = base(&Url::parse("https://ats.example.com/api/textbridge?x=1").unwrap()).join("users").unwrap();
        assert_eq!(url.as_str(), "https://ats.example.com/api/textbridge/users");
    }
}
