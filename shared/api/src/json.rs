//! A JSON body extractor whose rejections use the common error shape.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderMap, StatusCode, header::CONTENT_TYPE},
};
use serde::de::DeserializeOwned;
use textbridge_domain::Error;

use super::{ApiError, MAX_BODY_BYTES};

/// Like `axum::Json`, but every refusal is in the common error shape and in words
/// of its own (never the parser's, which may quote the body back): 415 without a
/// JSON content type, 413 past the route's limit, 400 for a body that is not JSON
/// (with its line and column), and 422 naming the field (`phones[0]`,
/// `record.kind`) for JSON of the wrong shape: a missing or unknown field, a value
/// of the wrong type, or one the field's own check refuses.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError(Error::UnsupportedMediaType(
                "expected a body with Content-Type: application/json".into(),
            )));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            ApiError(if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::TooLarge { limit: MAX_BODY_BYTES }
            } else {
                Error::malformed("the request body could not be read to its end")
            })
        })?;
        parse(&bytes).map(Self).map_err(ApiError)
    }
}

/// `application/json` or any `application/…+json`, parameters aside.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads a JSON body into `T`; see [`ApiJson`] for the errors.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let not_json = |e: &serde_json::Error| {
        Error::malformed(format!("the body is not valid JSON (line {}, column {})", e.line(), e.column()))
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let inner = e.inner();
        if !inner.is_data() {
            return not_json(inner);
        }
        let path = e.path().to_string();
        let (field, reason) = data_fault(if path == "." { "" } else { &path }, &inner.to_string());
        Error::Invalid { field, reason }
    })?;
    deserializer.end().map_err(|e| not_json(&e))?;
    Ok(value)
}

/// What the parser expected, in the words of JSON rather than of Rust types.
fn plain(expected: &str) -> String {
    if expected.starts_with("struct ") || expected == "a map" {
        "a JSON object".to_owned()
    } else if expected == "a sequence" || expected.starts_with("a sequence ") || expected.starts_with("a tuple") {
        "a list".to_owned()
    } else {
        expected.to_owned()
    }
}

/// The field and reason of a value of the wrong shape, from `path` and the parser's
/// message; the parts of the message that quote the body are left out.
fn data_fault(path: &str, message: &str) -> (String, String) {
    // The parser appends where it was; the field says it better.
    let message = message.rfind(" at line ").map_or(message, |at| &message[..at]);
    let join = |name: &str| if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") };
    let quoted = |rest: &str| rest.split('`').nth(1).unwrap_or_default().to_owned();
    let expected = |m: &str| m.rsplit_once(", expected ").map(|(_, e)| plain(e));
    let field = if path.is_empty() { "body".to_owned() } else { path.to_owned() };
    if let Some(rest) = message.strip_prefix("missing field ") {
        return (join(&quoted(rest)), "is required".into());
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let known = expected(rest).map(|e| format!(" (expected {e})")).unwrap_or_default();
        return (field, format!("is not a field of this request{known}"));
    }
    for kind in ["invalid type: ", "invalid value: ", "invalid length ", "unknown variant "] {
        if message.starts_with(kind) {
            let reason = expected(message).map_or_else(|| "is not valid here".to_owned(), |e| format!("must be {e}"));
            return (field, reason);
        }
    }
    // A field's own check (a domain type's parse): its words, without its field name.
    let last = field.rsplit(['.', '[']).next().unwrap_or_default().trim_end_matches(']');
    let reason = message.strip_prefix(&format!("{last}: ")).unwrap_or(message);
    (field, reason.to_owned())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use textbridge_domain::Email;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        phones: Vec<String>,
        #[serde(default)]
        enabled: bool,
        #[serde(default)]
        owner: Option<Owner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Owner {
        email: Email,
        role: Role,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Role {
        User,
    }

    fn refused(body: &str) -> Error {
        parse::<Input>(body.as_bytes()).expect_err(body)
    }

    fn invalid(body: &str) -> (String, String) {
        match refused(body) {
            Error::Invalid { field, reason } => (field, reason),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_body_that_is_not_json_is_400_with_where() {
        for (body, at) in [
            ("{\"name\": ", "line 1, column 9"),
            ("{\"name\": \"a\", \"phones\": []}\n{}", "line 2, column 1"),
            ("", "line 1, column 0"),
        ] {
            match refused(body) {
                Error::Malformed { field: None, reason } => assert!(reason.contains(at), "{body}: {reason}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn json_of_the_wrong_shape_names_the_field_and_never_quotes_the_body() {
        let cases = [
            (r#"{"phones": []}"#, "name", "is required"),
            (r#"{"name": "a", "phones": [], "colour": "s3cr3t"}"#, "colour", "is not a field of this request"),
            (r#"{"name": "a", "phones": "s3cr3t"}"#, "phones", "must be a list"),
            (r#"{"name": "a", "phones": ["x", 7]}"#, "phones[1]", "must be a string"),
            (r#"{"name": "a", "phones": [], "enabled": "s3cr3t"}"#, "enabled", "must be a boolean"),
            (
                r#"{"name": "a", "phones": [], "owner": {"email": "nope", "role": "user"}}"#,
                "owner.email",
                "not an e-mail address",
            ),
            (
                r#"{"name": "a", "phones": [], "owner": {"email": "a@b.io", "role": "s3cr3t"}}"#,
                "owner.role",
                "must be `user`",
            ),
            (r#"["s3cr3t"]"#, "body", "must be a JSON object"),
        ];
        for (body, field, reason) in cases {
            let (got_field, got_reason) = invalid(body);
            assert_eq!(got_field, field, "{body}: {got_reason}");
            assert!(got_reason.contains(reason), "{body}: {got_reason}");
            assert!(!got_reason.contains("s3cr3t") && !got_reason.contains(" at line "), "{body}: {got_reason}");
        }
    }

    #[test]
    fn content_types() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, value.parse().expect("header"));
            is_json(&headers)
        };
        assert!(
            with("application/json") && with("Application/JSON; charset=utf-8") && with("application/merge-patch+json")
        );
        assert!(!with("text/plain") && !with("application/x-www-form-urlencoded") && !with("json"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
