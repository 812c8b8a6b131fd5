//! Short-lived in-process caches of the few items every webhook and every archived
//! text would otherwise read again (a webhook registration, a tenant's allow-lists,
//! a registration's secret, a username's user, a user's security group grants).
//! They keep one hot tenant's burst off single partition keys and off the secret
//! store's request quota.
//!
//! Every entry names the store partition (or secret) it was read from, and every write
//! this process makes through the [`App`](crate::App)'s store or secret store forgets
//! the entries of the partition it wrote ([`Forgetting`]): a change made through this
//! process is seen at once, even by a read that was under way when it was written. A
//! change made by another process (another function on AWS; locally the `import`,
//! `sync` and `dlq` commands) reaches this one within the time to live
//! (`CACHE_TTL_SECS`; 0 turns caching off). A failed signature check re-reads the
//! secret at once.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use secrecy::SecretString;
use textbridge_domain::{Error, UserId};

use crate::{
    items::Registration,
    ports::{
        Condition, Item, ItemStore, Key, Page, PortResult, Query, SecretFields, SecretName, Secrets, Update, Write,
    },
    webhook_sources::SourceLists,
};

/// Most entries one cache holds; past it, the cache starts over.
const CAPACITY: usize = 10_000;

/// A map whose entries expire `ttl` after they were loaded, grouped by the partition
/// they were read from.
pub struct TtlCache<V> {
    ttl: Duration,
    state: Mutex<State<V>>,
}

struct State<V> {
    partitions: HashMap<String, Partition<V>>,
    entries: usize,
    /// Counts forgets of partitions that had entries or loads under way; a load
    /// keeps its value only if no such forget happened while it ran.
    generation: u64,
}

struct Partition<V> {
    entries: HashMap<String, (Instant, V)>,
    loading: usize,
}

impl<V> Default for Partition<V> {
    fn default() -> Self {
        Self { entries: HashMap::new(), loading: 0 }
    }
}

impl<V: Clone> TtlCache<V> {
    /// An empty cache; a zero `ttl` caches nothing.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, state: Mutex::new(State { partitions: HashMap::new(), entries: 0, generation: 0 }) }
    }

    /// The cached value of `key` in `partition`, or `load`'s. A value `load` read is
    /// kept only when it succeeded and `partition` was not written meanwhile (it may
    /// predate the write).
    pub async fn get_or_load<F, Fut>(&self, partition: &str, key: &str, load: F) -> Result<V, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, Error>>,
    {
        if self.ttl.is_zero() {
            return load().await;
        }
        let generation = {
            let Some(mut state) = self.lock() else { return load().await };
            let held = state.partitions.get(partition).and_then(|p| p.entries.get(key));
            if let Some((_, value)) = held.filter(|(at, _)| at.elapsed() < self.ttl) {
                return Ok(value.clone());
            }
            state.partitions.entry(partition.to_owned()).or_default().loading += 1;
            state.generation
        };
        let loading = Loading { cache: self, partition };
        let value = load().await?;
        if let Some(mut state) = self.lock()
            && state.generation == generation
        {
            if state.entries >= CAPACITY {
                state.partitions.retain(|_, p| p.loading > 0);
                state.partitions.values_mut().for_each(|p| p.entries.clear());
                state.entries = 0;
            }
            let entries = &mut state.partitions.entry(partition.to_owned()).or_default().entries;
            if entries.insert(key.to_owned(), (Instant::now(), value.clone())).is_none() {
                state.entries += 1;
            }
        }
        drop(loading);
        Ok(value)
    }

    /// Forgets every entry of `partition`, and the value of any load of it under way.
    pub fn forget(&self, partition: &str) {
        let Some(mut state) = self.lock() else { return };
        let Some(held) = state.partitions.get_mut(partition) else { return };
        let forgotten = held.entries.len();
        held.entries.clear();
        if held.loading == 0 {
            state.partitions.remove(partition);
        }
        state.entries -= forgotten;
        state.generation += 1;
    }

    fn lock(&self) -> Option<MutexGuard<'_, State<V>>> {
        self.state.lock().ok()
    }
}

/// One load under way (counted until it ends, however it ends).
struct Loading<'a, V: Clone> {
    cache: &'a TtlCache<V>,
    partition: &'a str,
}

impl<V: Clone> Drop for Loading<'_, V> {
    fn drop(&mut self) {
        let Some(mut state) = self.cache.lock() else { return };
        if let Some(held) = state.partitions.get_mut(self.partition) {
            held.loading -= 1;
            if held.loading == 0 && held.entries.is_empty() {
                state.partitions.remove(self.partition);
            }
        }
    }
}

/// The caches of one process.
pub struct Caches {
    /// Webhook registrations, by token (in the registration's partition).
    pub registrations: TtlCache<Registration>,
    /// Webhook source allow-lists, by tenant (in the tenant's partition).
    pub sources: TtlCache<SourceLists>,
    /// Registration secrets (each secret its own partition).
    pub secrets: TtlCache<SecretFields>,
    /// The user a provider username belongs to (in the username claim's partition).
    pub users: TtlCache<Option<UserId>>,
    /// What a texting user's security group may read and write, by user (in the
    /// tenant's partition, which holds the memberships, groups and action types);
    /// the archiver checks it for every text.
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

    /// Forgets what the item caches read from partition `pk` (it was written).
    fn written(&self, pk: &str) {
        self.registrations.forget(pk);
        self.sources.forget(pk);
        self.users.forget(pk);
        self.access.forget(pk);
    }
}

/// A store or secret store whose writes forget what the caches read from the
/// partition (or secret) they wrote, once the write has ended, whatever its outcome.
pub struct Forgetting<P: ?Sized> {
    inner: Arc<P>,
    caches: Arc<Caches>,
}

impl<P: ?Sized> Forgetting<P> {
    /// `inner`, forgetting in `caches`.
    pub fn new(inner: Arc<P>, caches: Arc<Caches>) -> Self {
        Self { inner, caches }
    }
}

#[async_trait]
impl ItemStore for Forgetting<dyn ItemStore> {
    async fn get(&self, key: &Key) -> PortResult<Option<Item>> {
        self.inner.get(key).await
    }

    async fn put(&self, item: &Item, condition: Option<&Condition>) -> PortResult<()> {
        let result = self.inner.put(item, condition).await;
        self.caches.written(&item.key.pk);
        result
    }

    async fn update(&self, key: &Key, update: &Update, condition: Option<&Condition>) -> PortResult<Item> {
        let result = self.inner.update(key, update, condition).await;
        self.caches.written(&key.pk);
        result
    }

    async fn delete(&self, key: &Key, condition: Option<&Condition>) -> PortResult<()> {
        let result = self.inner.delete(key, condition).await;
        self.caches.written(&key.pk);
        result
    }

    async fn query(&self, query: &Query) -> PortResult<Page> {
        self.inner.query(query).await
    }

    async fn transact(&self, writes: &[Write]) -> PortResult<()> {
        let result = self.inner.transact(writes).await;
        for write in writes {
            match write {
                Write::Put { item, .. } => self.caches.written(&item.key.pk),
                Write::Update { key, .. } | Write::Delete { key, .. } => self.caches.written(&key.pk),
                Write::Check { .. } => {}
            }
        }
        result
    }
}

#[async_trait]
impl Secrets for Forgetting<dyn Secrets> {
    async fn create(&self, name: &SecretName, value: &SecretString) -> PortResult<()> {
        let result = self.inner.create(name, value).await;
        self.caches.secrets.forget(name.as_str());
        result
    }

    async fn get(&self, name: &SecretName) -> PortResult<SecretString> {
        self.inner.get(name).await
    }

    async fn replace(&self, name: &SecretName, value: &SecretString) -> PortResult<()> {
        let result = self.inner.replace(name, value).await;
        self.caches.secrets.forget(name.as_str());
        result
    }

    async fn delete(&self, name: &SecretName) -> PortResult<()> {
        let result = self.inner.delete(name).await;
        self.caches.secrets.forget(name.as_str());
        result
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
        assert_eq!(cache.get_or_load("p", "k", load).await.expect("v"), 7);
        assert_eq!(cache.get_or_load("p", "k", load).await.expect("v"), 7);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        cache.forget("other");
        cache.get_or_load("p", "k", load).await.expect("v");
        assert_eq!(loads.load(Ordering::SeqCst), 1, "another partition's write forgets nothing here");
        cache.forget("p");
        cache.get_or_load("p", "k", load).await.expect("v");
        assert_eq!(loads.load(Ordering::SeqCst), 2);

        let off = TtlCache::new(Duration::ZERO);
        off.get_or_load("p", "k", load).await.expect("v");
        off.get_or_load("p", "k", load).await.expect("v");
        assert_eq!(loads.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache: TtlCache<u8> = TtlCache::new(Duration::from_secs(60));
        assert!(cache.get_or_load("p", "k", || async { Err(Error::Unavailable("down".into())) }).await.is_err());
        assert_eq!(cache.get_or_load("p", "k", || async { Ok(1) }).await.expect("v"), 1);
        assert_eq!(cache.state.lock().expect("state").entries, 1);
    }

    /// A read under way when its partition is written may hold the old value: it is
    /// returned to its caller (it was read before the write ended) but never cached.
    #[tokio::test]
    async fn a_load_overtaken_by_a_write_is_not_kept() {
        let cache = Arc::new(TtlCache::new(Duration::from_secs(60)));
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let slow = tokio::spawn({
            let cache = Arc::clone(&cache);
            async move {
                cache
                    .get_or_load("p", "k", || async move {
                        started_tx.send(()).expect("test waits");
                        released.await.expect("released");
                        Ok::<_, Error>("old")
                    })
                    .await
            }
        });
        started.await.expect("load started");
        cache.forget("p"); // the write ends while the old value is being read
        release.send(()).expect("load waits");
        assert_eq!(slow.await.expect("task").expect("value"), "old");
        assert_eq!(cache.get_or_load("p", "k", || async { Ok("new") }).await.expect("value"), "new");
        assert_eq!(cache.get_or_load("p", "k", || async { Ok("newer") }).await.expect("value"), "new");
    }

    /// A load whose caller gave up leaves no count behind: the partition's later
    /// writes do not disturb other partitions' loads.
    #[tokio::test]
    async fn a_cancelled_load_is_not_counted() {
        let cache: TtlCache<u8> = TtlCache::new(Duration::from_secs(60));
        let pending = cache.get_or_load("p", "k", std::future::pending);
        assert!(tokio::time::timeout(Duration::from_millis(10), pending).await.is_err());
        assert!(cache.state.lock().expect("state").partitions.is_empty());
        let generation = cache.state.lock().expect("state").generation;
        cache.forget("p");
        assert_eq!(cache.state.lock().expect("state").generation, generation);
    }

    #[tokio::test]
    async fn starts_over_when_full() {
        let cache: TtlCache<usize> = TtlCache::new(Duration::from_secs(60));
        for i in 0..=CAPACITY {
            cache.get_or_load(&format!("p{}", i % 7), &i.to_string(), || async move { Ok(i) }).await.expect("v");
        }
        let state = cache.state.lock().expect("state");
        assert_eq!(state.entries, 1);
        assert_eq!(state.partitions.values().map(|p| p.entries.len()).sum::<usize>(), 1);
    }
}
