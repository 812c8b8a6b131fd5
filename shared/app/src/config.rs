//! Settings shared by every deployment, and the one rule for configured URLs.

use textbridge_domain::{Error, Region};

/// How long a received queue message stays hidden by default (the SAM template's
/// queue visibility timeout, which is longer than the archiver's timeout, as SQS requires).
pub const DEFAULT_VISIBILITY: std::time::Duration = std::time::Duration::from_secs(60);

/// The seconds `VISIBILITY_TIMEOUT_SECS` may be, on AWS and locally.
pub const VISIBILITY_TIMEOUT_SECS: std::ops::RangeInclusive<u64> = 1..=43_200;

/// The seconds `CACHE_TTL_SECS` may be, on AWS and locally.
pub const CACHE_TTL_SECS: std::ops::RangeInclusive<u64> = 0..=3600;

/// Settings shared by every deployment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Region used to read national phone numbers (`DEFAULT_COUNTRY`).
    pub default_region: Region,
    /// The URL providers reach this deployment at (`PUBLIC_BASE_URL`), without a
    /// trailing slash; webhook URLs are built from it.
    pub public_base_url: String,
    /// How long a received queue message stays hidden, which is also how long an
    /// archiver's claim on writing a message to the ATS lasts.
    pub visibility_timeout: std::time::Duration,
    /// How long a change made by another process may take to reach this one's caches
    /// (`CACHE_TTL_SECS`; zero turns caching off); see [`crate::cache`].
    pub cache_ttl: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default_region: Region::US,
            public_base_url: "http://127.0.0.1:8080".into(),
            visibility_timeout: DEFAULT_VISIBILITY,
            cache_ttl: std::time::Duration::from_secs(30),
        }
    }
}

/// Checks a service base URL read from the setting `variable`: `http` or `https`,
/// with a host and no query, fragment or credentials. The one rule for every
/// configured URL (public base URL, provider and ATS endpoints).
pub fn base_url(variable: &str, value: &str) -> Result<url::Url, Error> {
    let rule = "must be an http(s) URL with a host and no query, fragment or credentials";
    let url = url::Url::parse(value.trim()).map_err(|_| Error::invalid(variable, rule))?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if ok { Ok(url) } else { Err(Error::invalid(variable, rule)) }
}

/// Checks the public base URL (`PUBLIC_BASE_URL`) and drops a trailing `/`.
pub fn public_base_url(value: &str) -> Result<String, Error> {
    Ok(base_url("PUBLIC_BASE_URL", value)?.as_str().trim_end_matches('/').to_owned())
}
