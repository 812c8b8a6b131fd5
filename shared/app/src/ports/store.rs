use async_trait::async_trait;
use serde_json::{Map, Value};

use textbridge_domain::Error;

use super::{PortError, PortResult};

/// The attribute (unix seconds) after which the store removes an item: DynamoDB's
/// time to live, the embedded store's sweep. Removal may lag by hours; readers of
/// such items do not rely on it.
pub const EXPIRES_AT: &str = "expires_at";

/// The most writes one [`ItemStore::transact`] call takes (DynamoDB's limit).
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// The primary key of an item: partition key and sort key. Every partition key starts
/// with the tenant (`T#{tenant}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
}

impl Key {
    /// A key from its two parts.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

/// One stored item: its key, an optional secondary-index key (e.g. a phone number
/// lookup), and plain JSON attributes.
///
/// Attribute names `PK`, `SK`, `GSI1PK` and `GSI1SK` are reserved for the keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Primary key.
    pub key: Key,
    /// Secondary index key (index [`Index::Gsi1`]), if the item is indexed.
    pub index: Option<Key>,
    /// The item's attributes.
    pub attrs: Map<String, Value>,
}

impl Item {
    /// An item with no index key and no attributes.
    pub fn new(key: Key) -> Self {
        Self { key, index: None, attrs: Map::new() }
    }

    /// Sets an attribute.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.attrs.insert(name.to_owned(), value.into());
        self
    }

    /// Sets the secondary index key.
    pub fn indexed(mut self, index: Key) -> Self {
        self.index = Some(index);
        self
    }

    /// An attribute as text, if it is text.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).and_then(Value::as_str)
    }

    /// An attribute as an integer, if it is one.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.attrs.get(name).and_then(Value::as_i64)
    }
}

/// A condition a write needs to hold on the item's current state.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// No item has this key.
    NotExists,
    /// An item has this key.
    Exists,
    /// The item exists and the attribute equals the value.
    Equals(String, Value),
    /// The item exists and the integer attribute is at least the value.
    AtLeast(String, i64),
}

/// Changes to an item's attributes. Updating a missing item creates it (unless the
/// condition forbids), with `add` counting from zero.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// Attributes to set.
    pub set: Vec<(String, Value)>,
    /// Integer attributes to add to (negative to subtract).
    pub add: Vec<(String, i64)>,
    /// Attributes to remove.
    pub remove: Vec<String>,
}

impl Update {
    /// Sets an attribute.
    pub fn set(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.set.push((name.to_owned(), value.into()));
        self
    }

    /// Adds to an integer attribute.
    pub fn add(mut self, name: &str, delta: i64) -> Self {
        self.add.push((name.to_owned(), delta));
        self
    }

    /// Removes an attribute.
    pub fn remove(mut self, name: &str) -> Self {
        self.remove.push(name.to_owned());
        self
    }
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Put (create or overwrite) an item.
    Put {
        /// The item.
        item: Item,
        /// Condition on the current item.
        condition: Option<Condition>,
    },
    /// Update an item's attributes.
    Update {
        /// The item's key.
        key: Key,
        /// The changes.
        update: Update,
        /// Condition on the current item.
        condition: Option<Condition>,
    },
    /// Delete an item.
    Delete {
        /// The item's key.
        key: Key,
        /// Condition on the current item.
        condition: Option<Condition>,
    },
    /// Only check a condition on another item.
    Check {
        /// The item's key.
        key: Key,
        /// The condition.
        condition: Condition,
    },
}

/// Which key a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Index {
    /// The primary key (strongly consistent).
    #[default]
    Primary,
    /// The secondary index `GSI1` (eventually consistent on DynamoDB).
    Gsi1,
}

/// A query: all items of one partition whose sort key starts with a prefix, in sort
/// key order, one page at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Which key to read.
    pub index: Index,
    /// Partition key.
    pub pk: String,
    /// Sort key prefix (empty for the whole partition).
    pub sk_prefix: String,
    /// Largest page, 1..=1000.
    pub limit: u32,
    /// Newest (highest sort key) first.
    pub descending: bool,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

impl Query {
    /// The first page of `pk` items whose sort key starts with `sk_prefix`.
    pub fn new(pk: impl Into<String>, sk_prefix: impl Into<String>) -> Self {
        Self {
            index: Index::Primary,
            pk: pk.into(),
            sk_prefix: sk_prefix.into(),
            limit: 100,
            descending: false,
            cursor: None,
        }
    }

    /// The same query on the secondary index.
    pub fn on_index(mut self) -> Self {
        self.index = Index::Gsi1;
        self
    }

    /// Sets the page size.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit.clamp(1, 1000);
        self
    }

    /// Reverses the order.
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The items of this page.
    pub items: Vec<Item>,
    /// Opaque cursor for the next page; `None` when there is none.
    pub next: Option<String>,
}

/// The item store (DynamoDB single table; locally, SQLite).
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Reads one item (strongly consistent).
    async fn get(&self, key: &Key) -> PortResult<Option<Item>>;
    /// Creates or overwrites an item if the condition holds.
    async fn put(&self, item: &Item, condition: Option<&Condition>) -> PortResult<()>;
    /// Updates (or creates) an item if the condition holds; returns the new item.
    async fn update(&self, key: &Key, update: &Update, condition: Option<&Condition>) -> PortResult<Item>;
    /// Deletes an item if the condition holds (deleting a missing item is not an error).
    async fn delete(&self, key: &Key, condition: Option<&Condition>) -> PortResult<()>;
    /// One page of a query.
    async fn query(&self, query: &Query) -> PortResult<Page>;
    /// Applies all writes or none (at most [`MAX_TRANSACTION_WRITES`], one per key).
    async fn transact(&self, writes: &[Write]) -> PortResult<()>;

    /// One page of a listing whose cursor a caller sent (the previous page's `next`):
    /// a cursor the store cannot read, or one of another listing, is a 422 naming
    /// `cursor`, not a fault.
    async fn query_listing(&self, query: &Query) -> Result<Page, Error> {
        self.query(query).await.map_err(|e| match e {
            PortError::Invalid(_) if query.cursor.is_some() => {
                Error::invalid("cursor", "is not a cursor of this listing")
            }
            other => other.into(),
        })
    }

    /// Every item of a query, following cursors.
    async fn query_all(&self, query: &Query) -> PortResult<Vec<Item>> {
        let mut query = query.clone();
        let mut items = Vec::new();
        loop {
            let page = self.query(&query).await?;
            items.extend(page.items);
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => return Ok(items),
            }
        }
    }
}
