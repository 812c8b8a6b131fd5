//! The texting provider port ([`textbridge_app::ports::Provider`]) for TextUs,
//! Zipwhip and Twilio, over one shared HTTP client with timeouts and retries.
//!
//! [`registry`] is the one place providers are registered. Adding a provider is a new
//! module here, one line in [`registry`] and a [`ProviderKind`] variant.
//!
//! No log line, error or debug output of this crate carries a secret or a body.

mod fields;
mod http;
mod textus;
mod twilio;
mod webhooks;
mod zipwhip;

use std::{sync::Arc, time::Duration};

use textbridge_app::ports::Providers;
use textbridge_domain::{Error, ProviderKind};
pub use url::Url;

/// Where the providers' APIs are and how long to wait for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// TextUs's API (`TEXTUS_BASE_URL`, default `https://next.textus.com`).
    pub textus: Url,
    /// Zipwhip's API (`ZIPWHIP_BASE_URL`, default `https://api.zipwhip.com`).
    pub zipwhip: Url,
    /// Twilio's API (`TWILIO_BASE_URL`, default `https://api.twilio.com`).
    pub twilio: Url,
    /// How long one attempt of a request may take.
    pub timeout: Duration,
    /// The longest wait between attempts, whatever `Retry-After` asks for.
    pub max_retry_wait: Duration,
}

impl Endpoints {
    /// The time one attempt may take unless set otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The longest wait between attempts unless set otherwise.
    pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

    /// Reads `TEXTUS_BASE_URL`, `ZIPWHIP_BASE_URL` and `TWILIO_BASE_URL`; each unset
    /// or empty one is the provider's public API.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the same variables through `lookup` (for tests and other sources).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let url = |variable: &str, default: &str| {
            let value = lookup(variable).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
            textbridge_app::base_url(variable, value.as_deref().unwrap_or(default))
        };
        Ok(Self {
            textus: url("TEXTUS_BASE_URL", "https://next.textus.com")?,
            zipwhip: url("ZIPWHIP_BASE_URL", "https://api.zipwhip.com")?,
            twilio: url("TWILIO_BASE_URL", "https://api.twilio.com")?,
            timeout: Self::DEFAULT_TIMEOUT,
            max_retry_wait: Self::DEFAULT_MAX_RETRY_WAIT,
        })
    }

    /// Every provider at one base URL (a local stand-in), with the default limits.
    pub fn all_at(base: &Url) -> Self {
        Self {
            textus: base.clone(),
            zipwhip: base.clone(),
            twilio: base.clone(),
            timeout: Self::DEFAULT_TIMEOUT,
            max_retry_wait: Self::DEFAULT_MAX_RETRY_WAIT,
        }
    }
}

/// Every provider this installation talks to, sharing one HTTP client.
pub fn registry(endpoints: &Endpoints) -> Providers {
    let http = http::Http::new(endpoints.timeout, endpoints.max_retry_wait);
    let providers = Providers::default()
        .register(Arc::new(textus::TextUs::new(http.clone(), endpoints.textus.clone())))
        .register(Arc::new(zipwhip::Zipwhip::new(http.clone(), endpoints.zipwhip.clone())))
        .register(Arc::new(twilio::Twilio::new(http, endpoints.twilio.clone())));
    debug_assert!(ProviderKind::ALL.iter().all(|kind| providers.get(*kind).is_ok()));
    providers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_default_to_the_public_apis() {
        let e = Endpoints::from_lookup(|_| None).unwrap();
        assert_eq!(e.textus.as_str(), "https://next.textus.com/");
        assert_eq!(e.zipwhip.as_str(), "https://api.zipwhip.com/");
        assert_eq!(e.twilio.as_str(), "https://api.twilio.com/");
        assert_eq!((e.timeout, e.max_retry_wait), (Endpoints::DEFAULT_TIMEOUT, Endpoints::DEFAULT_MAX_RETRY_WAIT));
    }

    #[test]
    fn endpoints_from_variables() {
        let e = Endpoints::from_lookup(|name| (name == "ZIPWHIP_BASE_URL").then(|| " http://127.0.0.1:8099 ".into()))
            .unwrap();
        assert_eq!(e.zipwhip.as_str(), "http://127.0.0.1:8099/");
        assert_eq!(e.textus.as_str(), "https://next.textus.com/");
    }

    #[test]
    fn invalid_urls_name_the_variable() {
        for bad in ["next.textus.com", "ftp://next.textus.com", "https://next.textus.com/?a=1", "https://u:p@x.com"] {
            let err = Endpoints::from_lookup(|name| (name == "TEXTUS_BASE_URL").then(|| bad.to_owned())).unwrap_err();
            assert!(matches!(&err, Error::Invalid { field, .. } if field == "TEXTUS_BASE_URL"), "{bad}: {err:?}");
        }
    }

    #[test]
    fn every_kind_is_registered() {
        let providers = registry(&Endpoints::from_lookup(|_| None).unwrap());
        for kind in ProviderKind::ALL {
            assert_eq!(providers.get(kind).unwrap().kind(), kind);
        }
    }
}
