//! An item store wrapper that counts the reads and writes reaching each partition
//! key, for benchmarks of key layout and store operations per use-case.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use textbridge_app::ports::{Condition, Item, ItemStore, Key, Page, PortResult, Query, Update, Write};

/// Reads and writes of one partition key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Gets and query pages.
    pub reads: u64,
    /// Puts, updates, deletes and each write of a transaction.
    pub writes: u64,
}

/// Counts every call that reaches the wrapped store, per partition key (a query of
/// the secondary index counts on its index key, prefixed `GSI1 `).
pub struct CountingStore {
    inner: Arc<dyn ItemStore>,
    counts: Mutex<HashMap<String, Counts>>,
}

impl CountingStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ItemStore>) -> Self {
        Self { inner, counts: Mutex::new(HashMap::new()) }
    }

    fn count(&self, pk: &str, reads: u64, writes: u64) {
        let mut counts = self.counts.lock().expect("counts");
        let entry = counts.entry(pk.to_owned()).or_default();
        entry.reads += reads;
        entry.writes += writes;
    }

    /// The counts so far, per partition key.
    pub fn snapshot(&self) -> HashMap<String, Counts> {
        self.counts.lock().expect("counts").clone()
    }

    /// The totals so far.
    pub fn totals(&self) -> Counts {
        self.snapshot()
            .values()
            .fold(Counts::default(), |a, c| Counts { reads: a.reads + c.reads, writes: a.writes + c.writes })
    }

    /// Forgets every count.
    pub fn reset(&self) {
        self.counts.lock().expect("counts").clear();
    }
}

#[async_trait]
impl ItemStore for CountingStore {
    async fn get(&self, key: &Key) -> PortResult<Option<Item>> {
        self.count(&key.pk, 1, 0);
        self.inner.get(key).await
    }
    async fn put(&self, item: &Item, condition: Option<&Condition>) -> PortResult<()> {
        self.count(&item.key.pk, 0, 1);
        self.inner.put(item, condition).await
    }
    async fn update(&self, key: &Key, update: &Update, condition: Option<&Condition>) -> PortResult<Item> {
        self.count(&key.pk, 0, 1);
        self.inner.update(key, update, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<&Condition>) -> PortResult<()> {
        self.count(&key.pk, 0, 1);
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: &Query) -> PortResult<Page> {
        match query.index {
            textbridge_app::ports::Index::Primary => self.count(&query.pk, 1, 0),
            textbridge_app::ports::Index::Gsi1 => self.count(&format!("GSI1 {}", query.pk), 1, 0),
        }
        self.inner.query(query).await
    }
    async fn transact(&self, writes: &[Write]) -> PortResult<()> {
        for write in writes {
            let pk = match write {
                Write::Put { item, .. } => &item.key.pk,
                Write::Update { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => &key.pk,
            };
            self.count(pk, 0, 1);
        }
        self.inner.transact(writes).await
    }
}
