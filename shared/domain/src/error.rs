use std::fmt;

/// Everything that can go wrong, split into what the caller did wrong and what did not
/// go as expected on our side.
///
/// Messages are written for the person who reads them and never carry secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request could not be read at all (not JSON, wrong type, missing body).
    #[error("{reason}")]
    Malformed {
        /// The field at fault, when one can be named.
        field: Option<String>,
        /// What was wrong, in plain words.
        reason: String,
    },
    /// A field was read but its value is not acceptable.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault (e.g. `email`, `row 17, column "Email"`).
        field: String,
        /// What was wrong, in plain words.
        reason: String,
    },
    /// No identity, or one that could not be verified.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing asked for does not exist (or belongs to someone else).
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with the current state (duplicate, precondition failed).
    #[error("{message}")]
    Conflict {
        /// The field at fault, when one can be named.
        field: Option<String>,
        /// What clashed, in plain words.
        message: String,
    },
    /// The body is larger than the route accepts.
    #[error("request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is of a kind the route does not read (e.g. not JSON).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A dependency is down or throttling; the same request may succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// A fault on our side. The text is for logs, never for responses.
    #[error("unexpected: {0}")]
    Unexpected(String),
}

impl Error {
    /// A value that failed validation.
    pub fn invalid(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self::Invalid { field: field.into(), reason: reason.to_string() }
    }

    /// A request that could not be read.
    pub fn malformed(reason: impl fmt::Display) -> Self {
        Self::Malformed { field: None, reason: reason.to_string() }
    }

    /// A clash with existing state.
    pub fn conflict(message: impl fmt::Display) -> Self {
        Self::Conflict { field: None, message: message.to_string() }
    }

    /// A fault on our side.
    pub fn unexpected(detail: impl fmt::Display) -> Self {
        Self::Unexpected(detail.to_string())
    }

    /// The stable machine-readable code of the error (`invalid`, `not_found`, …): the
    /// `code` of an API error body, and what a failed queue message records.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed",
            Self::Invalid { .. } => "invalid",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::TooLarge { .. } => "too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable(_) => "unavailable",
            Self::Unexpected(_) => "internal",
        }
    }

    /// True for errors caused by the caller's input (as opposed to our side).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Self::Unavailable(_) | Self::Unexpected(_))
    }
}
