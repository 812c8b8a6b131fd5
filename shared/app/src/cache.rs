//! Short-lived in-process caches of the few items every webhook and every archived
//! text would otherwise read again (a webhook registration, a tenant's allow-lists,
//! a registration's secret, a username's user, a user's security group grants).
//! They keep one hot tenant's burst off single partition keys and off the secret store's request quota. A change to
//! one of these items reaches a warm process within the time to live (`CACHE_TTL_SECS`,
//! 0 turns caching off); a failed signature check re-reads the secret at once.

use std::{
    collections::HashMap,
    future::Future,
    sync::Mutex,
    time::{Duration, Instant},
};

use textbridge_domain::{Error, UserId};

use crate::{items::Registration, ports::SecretFields, webhook_sources::SourceLists};

/// Most entries one cache holds; past it, the cache starts over.
const CAPACITY: usize = 10_000;

/// A map whose entries expire `ttl` after they were loaded.
pub struct TtlCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlCache<V> {
    /// An empty cache; a zero `ttl` caches nothing.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The cached value of `key`, or `load`'s (cached when it succeeds).
    pub async fn get_or_load<F, Fut>(&self, key: &str, load: F) -> Result<V, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, Error>>,
    {
        if self.ttl.is_zero() {
            return load().await;
        }
        if let Some(value) = self.fresh(key) {
            return Ok(value);
        }
        let value = load().await?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(key.to_owned(), (Instant::now(), value.clone()));
        }
        Ok(value)
    }

    /// Forgets `key` (its next read loads it again).
    pub fn forget(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    fn fresh(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (at, value) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }
}

/// The caches of one process.
pub struct Caches {
    /// Webhook registrations by token.
    pub registrations: TtlCache<Registration>,
    /// Webhook source allow-lists by tenant.
    pub sources: TtlCache<SourceLists>,
    /// Registration secrets by secret name.
    pub secrets: TtlCache<SecretFields>,
    /// The user a provider username belongs to, by tenant, provider and username.
    pub users: TtlCache<Option<UserId>>,
    /// What a texting user's security group may read and write, by tenant and user
    /// (the archiver checks it for every text).
    pub access: TtlCache<crate::access::Access>,
    /// Tenants already reported as having no ATS connection.
    pub ats_missing: Reported,
}

/// Remembers what was already said once in this process.
#[derive(Default)]
pub struct Reported(Mutex<std::collections::HashSet<String>>);

impl Reported {
    /// True the first time `tenant` is reported in this process.
    pub fn first_time(&self, tenant: &textbridge_domain::TenantId) -> bool {
        self.0.lock().is_ok_and(|mut seen| seen.len() < CAPACITY && seen.insert(tenant.to_string()))
    }
}

impl Caches {
    /// Caches whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            registrations: TtlCache::new(ttl),
            sources: TtlCache::new(ttl),
            secrets: TtlCache::new(ttl),
            users: TtlCache::new(ttl),
            access: TtlCache::new(ttl),
            ats_missing: Reported::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn loads_once_within_the_ttl_and_never_with_zero() {
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(7)
        };
        let cache = TtlCache::new(Duration::from_secs(60));
        assert_eq!(cache.get_or_load("k", load).await.expect("v"), 7);
        assert_eq!(cache.get_or_load("k", load).await.expect("v"), 7);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        cache.forget("k");
        cache.get_or_load("k", load).await.expect("v");
        assert_eq!(loads.load(Ordering::SeqCst), 2);

        let off = TtlCache::new(Duration::ZERO);
        off.get_or_load("k", load).await.expect("v");
        off.get_or_load("k", load).await.expect("v");
        assert_eq!(loads.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache: TtlCache<u8> = TtlCache::new(Duration::from_secs(60));
        assert!(cache.get_or_load("k", || async { Err(Error::Unavailable("down".into())) }).await.is_err());
        assert_eq!(cache.get_or_load("k", || async { Ok(1) }).await.expect("v"), 1);
    }
}
