//! The item store on the `items` table, with DynamoDB's semantics.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde_json::{Map, Value};
use textbridge_app::ports::{
    Condition, Index, Item, ItemStore, Key, MAX_TRANSACTION_WRITES, Page, PortError, PortResult, Query, Update, Write,
};

use crate::db::{Db, DbResult};

/// Attribute names that hold the keys on DynamoDB and so cannot be attributes.
const RESERVED: [&str; 4] = ["PK", "SK", "GSI1PK", "GSI1SK"];
/// DynamoDB's largest partition key, in bytes.
const MAX_PK_BYTES: usize = 2048;
/// DynamoDB's largest sort key, in bytes.
const MAX_SK_BYTES: usize = 1024;
/// DynamoDB's largest item (approximated by its JSON size), in bytes.
const MAX_ITEM_BYTES: usize = 400 * 1024;
/// The largest page of a query.
const MAX_LIMIT: u32 = 1000;

/// [`ItemStore`] on SQLite.
pub(crate) struct SqliteStore {
    db: Arc<Db>,
}

impl SqliteStore {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn get(&self, key: &Key) -> PortResult<Option<Item>> {
        check_key(key, "key")?;
        let key = key.clone();
        self.db.read(move |conn| load(conn, &key)).await
    }

    async fn put(&self, item: &Item, condition: Option<&Condition>) -> PortResult<()> {
        let write = Write::Put { item: item.clone(), condition: condition.cloned() };
        check_write(&write)?;
        self.db.write(move |tx| apply(tx, &write).map(drop)).await
    }

    async fn update(&self, key: &Key, update: &Update, condition: Option<&Condition>) -> PortResult<Item> {
        let write = Write::Update { key: key.clone(), update: update.clone(), condition: condition.cloned() };
        check_write(&write)?;
        self.db
            .write(move |tx| {
                apply(tx, &write)?.ok_or_else(|| PortError::Unexpected("the update produced no item".to_owned()))
            })
            .await
    }

    async fn delete(&self, key: &Key, condition: Option<&Condition>) -> PortResult<()> {
        let write = Write::Delete { key: key.clone(), condition: condition.cloned() };
        check_write(&write)?;
        self.db.write(move |tx| apply(tx, &write).map(drop)).await
    }

    async fn query(&self, query: &Query) -> PortResult<Page> {
        let plan = Plan::new(query)?;
        self.db.read(move |conn| plan.run(conn)).await
    }

    async fn transact(&self, writes: &[Write]) -> PortResult<()> {
        if writes.len() > MAX_TRANSACTION_WRITES {
            return Err(PortError::Invalid(format!(
                "a transaction takes at most {MAX_TRANSACTION_WRITES} writes, not {}",
                writes.len()
            )));
        }
        let mut keys = HashSet::new();
        for write in writes {
            check_write(write)?;
            let key = write_key(write);
            if !keys.insert(key) {
                return Err(PortError::Invalid(format!(
                    "a transaction cannot include two operations on one item ({} / {})",
                    key.pk, key.sk
                )));
            }
        }
        if writes.is_empty() {
            return Ok(());
        }
        let writes = writes.to_vec();
        self.db
            .write(move |tx| {
                for write in &writes {
                    apply(tx, write)?;
                }
                Ok(())
            })
            .await
    }
}

/// The key a write addresses.
fn write_key(write: &Write) -> &Key {
    match write {
        Write::Put { item, .. } => &item.key,
        Write::Update { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => key,
    }
}

/// Applies one write inside a transaction once its condition holds; returns the new
/// item of an update.
fn apply(tx: &Connection, write: &Write) -> PortResult<Option<Item>> {
    let key = write_key(write);
    let condition = condition_of(write);
    let needs_current = condition.is_some() || matches!(write, Write::Update { .. });
    let current = if needs_current { load(tx, key)? } else { None };
    if let Some(condition) = condition
        && !holds(condition, current.as_ref())
    {
        return Err(PortError::ConditionFailed);
    }
    match write {
        Write::Put { item, .. } => {
            save(tx, item)?;
            Ok(None)
        }
        Write::Update { key, update, .. } => {
            let mut item = current.unwrap_or_else(|| Item::new(key.clone()));
            apply_update(&mut item, update)?;
            check_size(&item)?;
            save(tx, &item)?;
            Ok(Some(item))
        }
        Write::Delete { key, .. } => {
            tx.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
                .and_then(|mut stmt| stmt.execute(params![key.pk, key.sk]))
                .db()?;
            Ok(None)
        }
        Write::Check { .. } => Ok(None),
    }
}

/// Applies the changes of an update to an item.
fn apply_update(item: &mut Item, update: &Update) -> PortResult<()> {
    for (name, value) in &update.set {
        item.attrs.insert(name.clone(), value.clone());
    }
    for (name, delta) in &update.add {
        let sum = match item.attrs.get(name) {
            None => Value::from(*delta),
            Some(Value::Number(n)) => {
                if let Some(current) = n.as_i64() {
                    let sum = current
                        .checked_add(*delta)
                        .ok_or_else(|| PortError::Invalid(format!("adding {delta} to attribute {name} overflows")))?;
                    Value::from(sum)
                } else {
                    // A fraction or a very large number: add as DynamoDB would, by value.
                    #[allow(clippy::cast_precision_loss)]
                    let sum = n.as_f64().unwrap_or(f64::NAN) + *delta as f64;
                    serde_json::Number::from_f64(sum).map(Value::Number).ok_or_else(|| {
                        PortError::Invalid(format!("adding {delta} to attribute {name} gives no number"))
                    })?
                }
            }
            Some(_) => {
                return Err(PortError::Invalid(format!("cannot add to attribute {name}: it is not a number")));
            }
        };
        item.attrs.insert(name.clone(), sum);
    }
    for name in &update.remove {
        item.attrs.remove(name);
    }
    Ok(())
}

/// Whether a condition holds on the current item (`None` when there is none).
fn holds(condition: &Condition, current: Option<&Item>) -> bool {
    match condition {
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::Equals(name, expected) => {
            current.and_then(|item| attribute(item, name)).is_some_and(|actual| same(&actual, expected))
        }
        Condition::AtLeast(name, min) => {
            current.and_then(|item| attribute(item, name)).is_some_and(|actual| at_least(&actual, *min))
        }
    }
}

/// An attribute of an item as DynamoDB sees it, key attributes included.
fn attribute<'a>(item: &'a Item, name: &str) -> Option<Cow<'a, Value>> {
    let key = |s: &str| Some(Cow::Owned(Value::String(s.to_owned())));
    match name {
        "PK" => key(&item.key.pk),
        "SK" => key(&item.key.sk),
        "GSI1PK" => item.index.as_ref().and_then(|i| key(&i.pk)),
        "GSI1SK" => item.index.as_ref().and_then(|i| key(&i.sk)),
        _ => item.attrs.get(name).map(Cow::Borrowed),
    }
}

/// Equality as DynamoDB compares: numbers by value, everything else structurally.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
            (Some(a), Some(b), _, _) => a == b,
            (_, _, Some(a), Some(b)) => a == b,
            _ => a.as_f64() == b.as_f64(),
        },
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b)),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, a)| b.get(k).is_some_and(|b| same(a, b)))
        }
        _ => a == b,
    }
}

/// `value >= min` as DynamoDB compares: false unless the value is a number.
fn at_least(value: &Value, min: i64) -> bool {
    let Value::Number(n) = value else {
        return false;
    };
    if let Some(v) = n.as_i64() {
        v >= min
    } else if n.as_u64().is_some() {
        true // above every i64
    } else {
        #[allow(clippy::cast_precision_loss)]
        let min = min as f64;
        n.as_f64().is_some_and(|v| v >= min)
    }
}

/// Rejects what DynamoDB rejects before looking at any item.
fn check_write(write: &Write) -> PortResult<()> {
    check_key(write_key(write), "key")?;
    if let Some(Condition::Equals(name, _) | Condition::AtLeast(name, _)) = condition_of(write)
        && name.is_empty()
    {
        return Err(PortError::Invalid("a condition names an empty attribute".to_owned()));
    }
    match write {
        Write::Put { item, .. } => {
            if let Some(index) = &item.index {
                check_key(index, "index key")?;
            }
            for name in item.attrs.keys() {
                check_name(name)?;
            }
            check_size(item)
        }
        Write::Update { update, .. } => {
            let mut seen = HashSet::new();
            let names =
                update.set.iter().map(|(n, _)| n).chain(update.add.iter().map(|(n, _)| n)).chain(update.remove.iter());
            for name in names {
                check_name(name)?;
                if !seen.insert(name) {
                    return Err(PortError::Invalid(format!("an update changes attribute {name} twice")));
                }
            }
            Ok(())
        }
        Write::Delete { .. } | Write::Check { .. } => Ok(()),
    }
}

fn condition_of(write: &Write) -> Option<&Condition> {
    match write {
        Write::Put { condition, .. } | Write::Update { condition, .. } | Write::Delete { condition, .. } => {
            condition.as_ref()
        }
        Write::Check { condition, .. } => Some(condition),
    }
}

fn check_key(key: &Key, what: &str) -> PortResult<()> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(PortError::Invalid(format!("the {what}'s parts cannot be empty")));
    }
    if key.pk.len() > MAX_PK_BYTES || key.sk.len() > MAX_SK_BYTES {
        return Err(PortError::Invalid(format!("the {what} is too long")));
    }
    Ok(())
}

fn check_name(name: &str) -> PortResult<()> {
    if name.is_empty() {
        return Err(PortError::Invalid("attribute names cannot be empty".to_owned()));
    }
    if RESERVED.contains(&name) {
        return Err(PortError::Invalid(format!("attribute name {name} is reserved for the keys")));
    }
    Ok(())
}

fn check_size(item: &Item) -> PortResult<()> {
    let size = item.key.pk.len()
        + item.key.sk.len()
        + item.index.as_ref().map_or(0, |i| i.pk.len() + i.sk.len())
        + serde_json::to_string(&item.attrs).map_or(0, |s| s.len());
    if size > MAX_ITEM_BYTES {
        return Err(PortError::Invalid(format!("the item is {size} bytes, more than {MAX_ITEM_BYTES}")));
    }
    Ok(())
}

/// Reads one item.
fn load(conn: &rusqlite::Connection, key: &Key) -> PortResult<Option<Item>> {
    let mut stmt =
        conn.prepare_cached("SELECT pk, sk, gsi1pk, gsi1sk, attrs FROM items WHERE pk = ?1 AND sk = ?2").db()?;
    let row = stmt.query_row(params![key.pk, key.sk], raw_item).optional().db()?;
    row.map(RawItem::into_item).transpose()
}

/// Creates or overwrites an item.
fn save(tx: &Connection, item: &Item) -> PortResult<()> {
    let attrs = serde_json::to_string(&item.attrs)
        .map_err(|e| PortError::Unexpected(format!("cannot encode the item's attributes: {e}")))?;
    let (gsi1pk, gsi1sk) = match &item.index {
        Some(index) => (Some(index.pk.as_str()), Some(index.sk.as_str())),
        None => (None, None),
    };
    tx.prepare_cached(
        "INSERT INTO items (pk, sk, gsi1pk, gsi1sk, attrs) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (pk, sk) DO UPDATE SET gsi1pk = excluded.gsi1pk, gsi1sk = excluded.gsi1sk, attrs = excluded.attrs",
    )
    .and_then(|mut stmt| stmt.execute(params![item.key.pk, item.key.sk, gsi1pk, gsi1sk, attrs]))
    .db()?;
    Ok(())
}

/// An item as stored.
struct RawItem {
    pk: String,
    sk: String,
    gsi1pk: Option<String>,
    gsi1sk: Option<String>,
    attrs: String,
}

fn raw_item(row: &Row<'_>) -> rusqlite::Result<RawItem> {
    Ok(RawItem { pk: row.get(0)?, sk: row.get(1)?, gsi1pk: row.get(2)?, gsi1sk: row.get(3)?, attrs: row.get(4)? })
}

impl RawItem {
    fn into_item(self) -> PortResult<Item> {
        let attrs: Map<String, Value> = serde_json::from_str(&self.attrs).map_err(|e| {
            PortError::Unexpected(format!("the stored attributes of item {} / {} are damaged: {e}", self.pk, self.sk))
        })?;
        let index = match (self.gsi1pk, self.gsi1sk) {
            (Some(pk), Some(sk)) => Some(Key { pk, sk }),
            _ => None,
        };
        Ok(Item { key: Key { pk: self.pk, sk: self.sk }, index, attrs })
    }
}

/// A validated query, ready to run.
struct Plan {
    query: Query,
    limit: u32,
    after: Option<Position>,
}

/// Where a page ended: the sort position of its last item.
#[derive(Debug, PartialEq)]
enum Position {
    /// Primary key: the partition and sort key.
    Primary { pk: String, sk: String },
    /// Index: the index key, then the primary key as the tie-breaker.
    Gsi1 { gsi1pk: String, gsi1sk: String, pk: String, sk: String },
}

impl Position {
    fn of(index: Index, item: &Item) -> Option<Self> {
        match index {
            Index::Primary => Some(Self::Primary { pk: item.key.pk.clone(), sk: item.key.sk.clone() }),
            Index::Gsi1 => item.index.as_ref().map(|i| Self::Gsi1 {
                gsi1pk: i.pk.clone(),
                gsi1sk: i.sk.clone(),
                pk: item.key.pk.clone(),
                sk: item.key.sk.clone(),
            }),
        }
    }

    /// The opaque cursor: URL-safe base64 of a JSON array.
    fn encode(&self) -> String {
        let parts = match self {
            Self::Primary { pk, sk } => vec!["P", pk, sk],
            Self::Gsi1 { gsi1pk, gsi1sk, pk, sk } => vec!["G", gsi1pk, gsi1sk, pk, sk],
        };
        URL_SAFE_NO_PAD.encode(Value::from(parts).to_string())
    }

    fn decode(cursor: &str) -> Option<Self> {
        let json = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let parts: Vec<String> = serde_json::from_slice(&json).ok()?;
        let mut parts = parts.into_iter();
        let kind = parts.next()?;
        let position = match (kind.as_str(), parts.len()) {
            ("P", 2) => Self::Primary { pk: parts.next()?, sk: parts.next()? },
            ("G", 4) => {
                Self::Gsi1 { gsi1pk: parts.next()?, gsi1sk: parts.next()?, pk: parts.next()?, sk: parts.next()? }
            }
            _ => return None,
        };
        Some(position)
    }
}

impl Plan {
    fn new(query: &Query) -> PortResult<Self> {
        if query.pk.is_empty() {
            return Err(PortError::Invalid("a query needs a partition key".to_owned()));
        }
        if query.limit == 0 {
            return Err(PortError::Invalid("a query's limit must be at least 1".to_owned()));
        }
        let after = match &query.cursor {
            None => None,
            Some(cursor) => {
                let invalid = || PortError::Invalid("the query cursor is not one of this query".to_owned());
                let position = Position::decode(cursor).ok_or_else(invalid)?;
                let fits = match (&position, query.index) {
                    (Position::Primary { pk, .. }, Index::Primary) => *pk == query.pk,
                    (Position::Gsi1 { gsi1pk, .. }, Index::Gsi1) => *gsi1pk == query.pk,
                    _ => false,
                };
                if !fits {
                    return Err(invalid());
                }
                Some(position)
            }
        };
        Ok(Self { query: query.clone(), limit: query.limit.min(MAX_LIMIT), after })
    }

    /// The statement and its values. No `LIMIT ?`: SQLite plans a statement again at
    /// every step after a new value is bound to its limit, so the page's size is
    /// counted while reading (rows come in index order, one step each).
    fn statement(&self) -> (String, Vec<SqlValue>) {
        let (pk_col, sk_col) = match self.query.index {
            Index::Primary => ("pk", "sk"),
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        };
        let mut sql = format!("SELECT pk, sk, gsi1pk, gsi1sk, attrs FROM items WHERE {pk_col} = ?");
        let mut args = vec![SqlValue::Text(self.query.pk.clone())];
        if !self.query.sk_prefix.is_empty() {
            sql.push_str(&format!(" AND {sk_col} >= ?"));
            args.push(SqlValue::Text(self.query.sk_prefix.clone()));
            if let Some(upper) = prefix_upper_bound(&self.query.sk_prefix) {
                sql.push_str(&format!(" AND {sk_col} < ?"));
                args.push(SqlValue::Text(upper));
            }
        }
        let (cmp, dir) = if self.query.descending { ("<", "DESC") } else { (">", "ASC") };
        match &self.after {
            None => {}
            Some(Position::Primary { sk, .. }) => {
                sql.push_str(&format!(" AND sk {cmp} ?"));
                args.push(SqlValue::Text(sk.clone()));
            }
            Some(Position::Gsi1 { gsi1sk, pk, sk, .. }) => {
                sql.push_str(&format!(" AND (gsi1sk, pk, sk) {cmp} (?, ?, ?)"));
                args.extend([gsi1sk, pk, sk].map(|s| SqlValue::Text(s.clone())));
            }
        }
        match self.query.index {
            Index::Primary => sql.push_str(&format!(" ORDER BY sk {dir}")),
            Index::Gsi1 => sql.push_str(&format!(" ORDER BY gsi1sk {dir}, pk {dir}, sk {dir}")),
        }
        (sql, args)
    }

    fn run(&self, conn: &rusqlite::Connection) -> PortResult<Page> {
        let (sql, args) = self.statement();
        let mut stmt = conn.prepare_cached(&sql).db()?;
        let rows = stmt.query_map(params_from_iter(args), raw_item).db()?;
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let items = rows.take(limit).map(|row| row.db()?.into_item()).collect::<PortResult<Vec<_>>>()?;
        // As DynamoDB does: a full page always has a cursor (the next page may be
        // empty), a page that is not full never has one.
        let full = items.len() >= limit;
        let next = if full {
            items.last().and_then(|last| Position::of(self.query.index, last)).map(|p| p.encode())
        } else {
            None
        };
        Ok(Page { items, next })
    }
}

/// The least string above every string that starts with `prefix` (strings compare by
/// their UTF-8 bytes, which is code point order), or `None` when there is none.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bound_of_prefixes() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("a%").as_deref(), Some("a&"));
        assert_eq!(prefix_upper_bound("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound(""), None);
    }

    #[test]
    fn cursors_round_trip() {
        let positions = [
            Position::Primary { pk: "T#1".into(), sk: "M#\"x\"".into() },
            Position::Gsi1 { gsi1pk: "P#1".into(), gsi1sk: "".into(), pk: "T#1".into(), sk: "é".into() },
        ];
        for position in positions {
            assert_eq!(Position::decode(&position.encode()), Some(position));
        }
        assert_eq!(Position::decode("not a cursor"), None);
        assert_eq!(Position::decode(&URL_SAFE_NO_PAD.encode("[\"P\",\"a\"]")), None);
    }

    /// Runs every shape of query twice on one read connection, with other values each
    /// time; returns, per shape, SQLite's plan and how often the statement was planned
    /// again.
    async fn query_shapes(db: &Arc<Db>) -> Vec<(String, Vec<String>, i32)> {
        for n in 0..3 {
            let item = Item {
                key: Key { pk: format!("T#{}", n % 2), sk: format!("M#{n}") },
                index: Some(Key { pk: format!("P#{}", n % 2), sk: format!("S#{n}") }),
                attrs: Map::new(),
            };
            db.write(move |tx| save(tx, &item)).await.expect("save");
        }
        let shapes = |n: u32| {
            let first = Query::new(format!("T#{n}"), "").limit(1 + n);
            let cursor = Some(Position::Primary { pk: format!("T#{n}"), sk: "M#0".to_owned() }.encode());
            [
                first.clone(),
                Query::new(format!("T#{n}"), "M#").limit(1 + n).descending(),
                Query { cursor, ..first },
                Query::new(format!("P#{n}"), "S#").on_index().limit(1 + n),
            ]
        };
        db.read(move |conn| {
            let mut out = Vec::new();
            for (a, b) in shapes(0).into_iter().zip(shapes(1)) {
                let (a, b) = (Plan::new(&a)?, Plan::new(&b)?);
                a.run(conn)?;
                b.run(conn)?;
                let (sql, _) = b.statement();
                let plan = crate::db::query_plan(conn, &sql);
                let planned_again = conn.prepare_cached(&sql).db()?.get_status(rusqlite::StatementStatus::RePrepare);
                out.push((sql, plan, planned_again));
            }
            Ok(out)
        })
        .await
        .expect("queries")
    }

    #[tokio::test]
    async fn a_query_run_again_with_other_values_is_not_planned_again_and_reads_in_index_order() {
        let db = crate::Embedded::open_temporary().expect("open").db;
        let shapes = query_shapes(&db).await;
        assert_eq!(shapes.len(), 4);
        for (sql, plan, planned_again) in shapes {
            assert_eq!(planned_again, 0, "{sql}");
            assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{sql}: {plan:?}");
            assert!(plan.iter().all(|step| step.starts_with("SEARCH items USING")), "{sql}: {plan:?}");
        }
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(same(&serde_json::json!(1), &serde_json::json!(1.0)));
        assert!(same(&serde_json::json!({"a": [1, "x"]}), &serde_json::json!({"a": [1.0, "x"]})));
        assert!(!same(&serde_json::json!("1"), &serde_json::json!(1)));
        assert!(at_least(&serde_json::json!(5), 5));
        assert!(!at_least(&serde_json::json!(4), 5));
        assert!(at_least(&serde_json::json!(u64::MAX), i64::MAX));
        assert!(at_least(&serde_json::json!(5.5), 5));
        assert!(!at_least(&serde_json::json!("9"), 5));
        assert!(!at_least(&Value::Null, 0));
    }
}
