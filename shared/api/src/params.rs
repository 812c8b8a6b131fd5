//! Query-string and path extractors whose rejections use the common error shape:
//! a 400 `malformed` naming the parameter, never echoing its (possibly secret or
//! huge) value.

use std::collections::HashSet;

use axum::{
    extract::{FromRequestParts, Path, rejection::PathRejection},
    http::request::Parts,
};
use serde::de::DeserializeOwned;
use textbridge_domain::Error;

use super::ApiError;

/// The longest parameter name quoted back in an error message.
const MAX_NAME_CHARS: usize = 40;

/// A parameter name as it may be quoted: bounded, control characters replaced.
fn quoted_name(name: &str) -> String {
    let mut out: String = name.chars().take(MAX_NAME_CHARS).map(|c| if c.is_control() { '?' } else { c }).collect();
    if name.chars().count() > MAX_NAME_CHARS {
        out.push('…');
    }
    out
}

fn malformed(field: Option<&str>, reason: String) -> ApiError {
    ApiError(Error::Malformed { field: field.map(quoted_name), reason })
}

/// Like `axum::extract::Query`, but a bad query string is a 400 `malformed` in the
/// common shape that names the parameter: a value of the wrong type or out of range
/// (`limit=-1`, `limit=abc`, `limit=4294967296`) and a parameter given twice alike.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Self)
    }
}

/// Reads a query string into `T`; see [`ApiQuery`].
fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let mut seen = HashSet::new();
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        if !seen.insert(name.clone()) {
            let shown = quoted_name(&name);
            return Err(malformed(Some(&name), format!("query parameter `{shown}` is given more than once")));
        }
    }
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let reason = e.inner().to_string();
        let missing = reason.strip_prefix("missing field `").and_then(|r| r.split('`').next());
        if let Some(name) = missing {
            let shown = quoted_name(name);
            malformed(Some(name), format!("query parameter `{shown}` is required"))
        } else if path.is_empty() || path == "." {
            malformed(None, format!("unreadable query string: {reason}"))
        } else {
            let shown = quoted_name(&path);
            malformed(Some(&path), format!("query parameter `{shown}`: {reason}"))
        }
    })
}

/// Like `axum::extract::Path`, but a bad path parameter (e.g. `%FF`, which is not
/// UTF-8 once decoded) is a 400 `malformed` in the common shape naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    use axum::extract::path::ErrorKind;
    let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
        return ApiError(Error::unexpected(format!("path parameters unavailable: {rejection}")));
    };
    match failed.into_kind() {
        ErrorKind::InvalidUtf8InPathParam { key } => {
            let shown = quoted_name(&key);
            malformed(Some(&key), format!("path parameter `{shown}` is not valid UTF-8 once percent-decoded"))
        }
        ErrorKind::ParseErrorAtKey { key, expected_type, .. } => {
            let shown = quoted_name(&key);
            malformed(Some(&key), format!("path parameter `{shown}` is not a valid {expected_type}"))
        }
        ErrorKind::DeserializeError { key, .. } => {
            let shown = quoted_name(&key);
            malformed(Some(&key), format!("path parameter `{shown}` is not valid"))
        }
        ErrorKind::UnsupportedType { name } => {
            ApiError(Error::unexpected(format!("path parameters cannot be read as {name}")))
        }
        _ => malformed(None, "unreadable path parameter".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Paging {
        #[allow(dead_code)]
        limit: Option<u32>,
    }

    fn refusal(query: &str) -> (Option<String>, String) {
        let err = parse_query::<Paging>(query).expect_err(query);
        match err.0 {
            Error::Malformed { field, reason } => (field, reason),
            other => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn query_rejections_name_the_parameter() {
        assert!(parse_query::<Paging>("").is_ok());
        assert!(parse_query::<Paging>("limit=5&other=x").is_ok());
        for query in ["limit=-1", "limit=abc", "limit=4294967296", "limit=1&limit=2"] {
            let (field, reason) = refusal(query);
            assert_eq!(field.as_deref(), Some("limit"), "{query}: {reason}");
            assert!(reason.contains("`limit`"), "{query}: {reason}");
        }
        let long = format!("{}=1&{}=2", "k".repeat(500), "k".repeat(500));
        let (_, reason) = refusal(&long);
        assert!(reason.len() < 200, "{reason}");
    }
}
