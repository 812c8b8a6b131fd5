//! Files put aside to be read later: a user-import file too large for a request
//! body (a Lambda request carries at most 6 MB) is PUT by the caller to a URL this
//! port gives, and the import reads it back by its key.

use std::time::Duration;

use async_trait::async_trait;

use super::PortResult;

/// Where and how to PUT one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutUrl {
    /// The URL (it carries its own signature and expiry).
    pub url: String,
    /// Headers the PUT must carry as given.
    pub headers: Vec<(String, String)>,
}

/// What [`Uploads::read`] found at a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// Nothing was PUT there (or it was removed).
    Missing,
    /// A file larger than asked for: its size in bytes.
    TooLarge(u64),
    /// The file.
    File(Vec<u8>),
}

/// A place for uploaded files: S3 on AWS, a directory of the data directory locally.
#[async_trait]
pub trait Uploads: Send + Sync {
    /// A URL that accepts one PUT of the file `key` for `ttl`.
    async fn put_url(&self, key: &str, ttl: Duration) -> PortResult<PutUrl>;

    /// The file at `key`, unless it is larger than `max_bytes`.
    async fn read(&self, key: &str, max_bytes: u64) -> PortResult<Upload>;

    /// Removes the file at `key` (nothing when there is none).
    async fn delete(&self, key: &str) -> PortResult<()>;
}
