//! [`ItemStore`] on one DynamoDB table.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update as UpdateOp,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Number, Value};
use textbridge_app::ports::{
    Condition, Index, Item, ItemStore, Key, MAX_TRANSACTION_WRITES, Page, PortError, PortResult, Query, Update, Write,
};

use crate::error::{Detail, cancelled, map_sdk_error};
use crate::schema::{GSI1, GSI1PK, GSI1SK, PK, SK};

/// Attribute names that hold keys and cannot be used as item attributes.
const RESERVED: [&str; 4] = [PK, SK, GSI1PK, GSI1SK];

type Attrs = HashMap<String, AttributeValue>;

/// The item store on one DynamoDB table with the layout of [`crate::schema`].
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store on `table`, using `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }
}

fn map_err<E>(op: &'static str) -> impl FnOnce(aws_sdk_dynamodb::error::SdkError<E>) -> PortError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| map_sdk_error(op, &e, Detail::Full)
}

// ---------------------------------------------------------------------------
// JSON <-> AttributeValue
// ---------------------------------------------------------------------------

/// A JSON value as a native DynamoDB attribute value.
pub(crate) fn to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attr).collect()),
        Value::Object(map) => AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()),
    }
}

/// A DynamoDB number as JSON: an integer when it is one, else a float.
fn number(n: &str) -> PortResult<Value> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(u) = n.parse::<u64>() {
        return Ok(Value::from(u));
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| PortError::Unexpected(format!("number {n:?} does not fit JSON")))
}

/// A DynamoDB attribute value as JSON (sets become arrays, binaries base64 text).
pub(crate) fn from_attr(value: &AttributeValue) -> PortResult<Value> {
    Ok(match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n)?,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attr).collect::<PortResult<_>>()?),
        AttributeValue::M(map) => {
            Value::Object(map.iter().map(|(k, v)| Ok((k.clone(), from_attr(v)?))).collect::<PortResult<_>>()?)
        }
        AttributeValue::Ss(items) => Value::Array(items.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(items) => Value::Array(items.iter().map(|n| number(n)).collect::<PortResult<_>>()?),
        AttributeValue::B(blob) => Value::String(URL_SAFE_NO_PAD.encode(blob.as_ref())),
        AttributeValue::Bs(blobs) => {
            Value::Array(blobs.iter().map(|b| Value::String(URL_SAFE_NO_PAD.encode(b.as_ref()))).collect())
        }
        _ => return Err(PortError::Unexpected("an attribute of an unknown type".into())),
    })
}

fn check_name(name: &str) -> PortResult<()> {
    if RESERVED.contains(&name) {
        Err(PortError::Invalid(format!("attribute name {name} is reserved for keys")))
    } else {
        Ok(())
    }
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// An item as a DynamoDB item: key attributes, index attributes and the JSON attributes.
pub(crate) fn item_to_attrs(item: &Item) -> PortResult<Attrs> {
    let mut attrs = key_attrs(&item.key);
    if let Some(index) = &item.index {
        attrs.insert(GSI1PK.to_owned(), AttributeValue::S(index.pk.clone()));
        attrs.insert(GSI1SK.to_owned(), AttributeValue::S(index.sk.clone()));
    }
    for (name, value) in &item.attrs {
        check_name(name)?;
        attrs.insert(name.clone(), to_attr(value));
    }
    Ok(attrs)
}

fn take_string(attrs: &mut Attrs, name: &str) -> Option<String> {
    match attrs.remove(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

/// A DynamoDB item as an item.
pub(crate) fn item_from_attrs(mut attrs: Attrs) -> PortResult<Item> {
    let (Some(pk), Some(sk)) = (take_string(&mut attrs, PK), take_string(&mut attrs, SK)) else {
        return Err(PortError::Unexpected("an item without a text key".into()));
    };
    let index = match (take_string(&mut attrs, GSI1PK), take_string(&mut attrs, GSI1SK)) {
        (Some(pk), Some(sk)) => Some(Key::new(pk, sk)),
        _ => None,
    };
    let attrs = attrs.iter().map(|(k, v)| Ok((k.clone(), from_attr(v)?))).collect::<PortResult<Map<_, _>>>()?;
    Ok(Item { key: Key::new(pk, sk), index, attrs })
}

// ---------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------

/// Placeholders of one request's expressions.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, name: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn condition(&mut self, condition: &Condition) -> String {
        match condition {
            Condition::NotExists => format!("attribute_not_exists({PK})"),
            Condition::Exists => format!("attribute_exists({PK})"),
            Condition::Equals(name, value) => {
                let (n, v) = (self.name(name), self.value(to_attr(value)));
                format!("{n} = {v}")
            }
            Condition::AtLeast(name, at_least) => {
                let (n, v) = (self.name(name), self.value(AttributeValue::N(at_least.to_string())));
                format!("{n} >= {v}")
            }
        }
    }

    fn maybe_condition(&mut self, condition: Option<&Condition>) -> Option<String> {
        condition.map(|c| self.condition(c))
    }

    /// `SET … ADD … REMOVE …`, or `None` for an update that changes nothing.
    fn update(&mut self, update: &Update) -> PortResult<Option<String>> {
        let mut clauses = Vec::new();
        if !update.set.is_empty() {
            let mut parts = Vec::new();
            for (name, value) in &update.set {
                check_name(name)?;
                let (n, v) = (self.name(name), self.value(to_attr(value)));
                parts.push(format!("{n} = {v}"));
            }
            clauses.push(format!("SET {}", parts.join(", ")));
        }
        if !update.add.is_empty() {
            let mut parts = Vec::new();
            for (name, delta) in &update.add {
                check_name(name)?;
                let (n, v) = (self.name(name), self.value(AttributeValue::N(delta.to_string())));
                parts.push(format!("{n} {v}"));
            }
            clauses.push(format!("ADD {}", parts.join(", ")));
        }
        if !update.remove.is_empty() {
            let mut parts = Vec::new();
            for name in &update.remove {
                check_name(name)?;
                parts.push(self.name(name));
            }
            clauses.push(format!("REMOVE {}", parts.join(", ")));
        }
        Ok((!clauses.is_empty()).then(|| clauses.join(" ")))
    }

    /// The name placeholders, `None` when there are none (DynamoDB rejects empty maps).
    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    /// The value placeholders, `None` when there are none.
    fn values(&self) -> Option<Attrs> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

// ---------------------------------------------------------------------------
// Cursors
// ---------------------------------------------------------------------------

/// The key attributes a cursor of a query on `index` holds.
fn cursor_attrs(index: Index) -> &'static [&'static str] {
    match index {
        Index::Primary => &[PK, SK],
        Index::Gsi1 => &[PK, SK, GSI1PK, GSI1SK],
    }
}

/// A `LastEvaluatedKey` as an opaque cursor: its text attributes as JSON, base64.
pub(crate) fn encode_cursor(key: &Attrs) -> PortResult<String> {
    let mut parts = BTreeMap::new();
    for (name, value) in key {
        match value {
            AttributeValue::S(s) => parts.insert(name.as_str(), s.as_str()),
            _ => return Err(PortError::Unexpected(format!("a page key attribute {name} that is not text"))),
        };
    }
    let json = serde_json::to_vec(&parts).map_err(|e| PortError::Unexpected(format!("cursor: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// The key DynamoDB reports as `LastEvaluatedKey` when `item` ends a page of a
/// query on `index`.
fn page_key(item: &Item, index: Index) -> Attrs {
    let mut key = key_attrs(&item.key);
    if let (Index::Gsi1, Some(ix)) = (index, &item.index) {
        key.insert(GSI1PK.to_owned(), AttributeValue::S(ix.pk.clone()));
        key.insert(GSI1SK.to_owned(), AttributeValue::S(ix.sk.clone()));
    }
    key
}

/// A cursor back as an `ExclusiveStartKey` for a query on `index`.
pub(crate) fn decode_cursor(cursor: &str, index: Index) -> PortResult<Attrs> {
    let bad = || PortError::Invalid("the page cursor is not valid".into());
    let json = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let parts: BTreeMap<String, String> = serde_json::from_slice(&json).map_err(|_| bad())?;
    let expected = cursor_attrs(index);
    if parts.len() != expected.len() || !expected.iter().all(|name| parts.contains_key(*name)) {
        return Err(bad());
    }
    Ok(parts.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

// ---------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------

fn build_err(what: &str) -> impl FnOnce(aws_sdk_dynamodb::error::BuildError) -> PortError + '_ {
    move |e| PortError::Invalid(format!("{what}: {e}"))
}

impl DynamoStore {
    fn transact_item(&self, write: &Write) -> PortResult<TransactWriteItem> {
        let mut expr = Expr::default();
        let item = match write {
            Write::Put { item, condition } => {
                let attrs = item_to_attrs(item)?;
                let condition = expr.maybe_condition(condition.as_ref());
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(attrs))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_err("transaction put"))?;
                TransactWriteItem::builder().put(put).build()
            }
            Write::Update { key, update, condition } => {
                let Some(update_expression) = expr.update(update)? else {
                    return Err(PortError::Invalid("an update in a transaction must change something".into()));
                };
                let condition = expr.maybe_condition(condition.as_ref());
                let update = UpdateOp::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .update_expression(update_expression)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_err("transaction update"))?;
                TransactWriteItem::builder().update(update).build()
            }
            Write::Delete { key, condition } => {
                let condition = expr.maybe_condition(condition.as_ref());
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_err("transaction delete"))?;
                TransactWriteItem::builder().delete(delete).build()
            }
            Write::Check { key, condition } => {
                let condition = expr.condition(condition);
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_err("transaction condition check"))?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        };
        Ok(item)
    }
}

// ---------------------------------------------------------------------------
// The port
// ---------------------------------------------------------------------------

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, key: &Key) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_err("GetItem"))?;
        out.item.filter(|attrs| !attrs.is_empty()).map(item_from_attrs).transpose()
    }

    async fn put(&self, item: &Item, condition: Option<&Condition>) -> PortResult<()> {
        let attrs = item_to_attrs(item)?;
        let mut expr = Expr::default();
        let condition = expr.maybe_condition(condition);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await
            .map_err(map_err("PutItem"))?;
        Ok(())
    }

    async fn update(&self, key: &Key, update: &Update, condition: Option<&Condition>) -> PortResult<Item> {
        let mut expr = Expr::default();
        let update_expression = expr.update(update)?;
        let condition = expr.maybe_condition(condition);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_update_expression(update_expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(map_err("UpdateItem"))?;
        match out.attributes {
            Some(attrs) if !attrs.is_empty() => item_from_attrs(attrs),
            // An update that changes nothing returns no attributes: the item is its key.
            _ => Ok(Item::new(key.clone())),
        }
    }

    async fn delete(&self, key: &Key, condition: Option<&Condition>) -> PortResult<()> {
        let mut expr = Expr::default();
        let condition = expr.maybe_condition(condition);
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await
            .map_err(map_err("DeleteItem"))?;
        Ok(())
    }

    async fn query(&self, query: &Query) -> PortResult<Page> {
        let (pk_attr, sk_attr, index_name) = match query.index {
            Index::Primary => (PK, SK, None),
            Index::Gsi1 => (GSI1PK, GSI1SK, Some(GSI1)),
        };
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(query.pk.clone()))]);
        let mut key_condition = format!("{pk_attr} = :pk");
        if !query.sk_prefix.is_empty() {
            key_condition.push_str(&format!(" AND begins_with({sk_attr}, :prefix)"));
            values.insert(":prefix".to_owned(), AttributeValue::S(query.sk_prefix.clone()));
        }
        let start = query.cursor.as_deref().map(|c| decode_cursor(c, query.index)).transpose()?;
        let limit = i32::try_from(query.limit.clamp(1, 1000)).unwrap_or(1000);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index_name.map(str::to_owned))
            .key_condition_expression(key_condition)
            .set_expression_attribute_values(Some(values))
            .limit(limit)
            .scan_index_forward(!query.descending)
            .set_consistent_read(index_name.is_none().then_some(true))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(map_err("Query"))?;
        let items = out.items.unwrap_or_default().into_iter().map(item_from_attrs).collect::<PortResult<Vec<_>>>()?;
        let next = match out.last_evaluated_key {
            Some(key) if !key.is_empty() => Some(encode_cursor(&key)?),
            // DynamoDB returns a LastEvaluatedKey whenever a page reaches the limit, more
            // items or not; some emulators only when more follow. A full page without one
            // gets the cursor DynamoDB would give: the key of its last item.
            _ => match items.last() {
                Some(last) if items.len() >= usize::try_from(limit).unwrap_or(usize::MAX) => {
                    Some(encode_cursor(&page_key(last, query.index))?)
                }
                _ => None,
            },
        };
        Ok(Page { items, next })
    }

    async fn transact(&self, writes: &[Write]) -> PortResult<()> {
        if writes.is_empty() {
            return Ok(());
        }
        if writes.len() > MAX_TRANSACTION_WRITES {
            return Err(PortError::Invalid(format!(
                "a transaction takes at most {MAX_TRANSACTION_WRITES} writes, not {}",
                writes.len()
            )));
        }
        let items = writes.iter().map(|w| self.transact_item(w)).collect::<PortResult<Vec<_>>>()?;
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) = err.as_service_error()
                    && !cancel.cancellation_reasons().is_empty()
                {
                    let codes = cancel.cancellation_reasons().iter().filter_map(|r| r.code());
                    return Err(cancelled("TransactWriteItems", codes));
                }
                Err(map_sdk_error("TransactWriteItems", &err, Detail::Full))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_json_round_trips() {
        let value = json!({
            "text": "héllo ✓ \"quoted\"",
            "empty": "",
            "int": 9_007_199_254_740_993_i64,
            "big": u64::MAX,
            "neg": -42,
            "float": 1.5,
            "tiny": 1e-7,
            "yes": true,
            "no": false,
            "nothing": null,
            "list": [1, "two", {"three": 3}, [], {}],
            "map": {"nested": {"deep": [true, false, null, -0.25]}},
            "provider_id": "9007199254740993123",
        });
        let attr = to_attr(&value);
        assert_eq!(from_attr(&attr).expect("back"), value);
    }

    #[test]
    fn types_are_native() {
        assert_eq!(to_attr(&json!("s")), AttributeValue::S("s".into()));
        assert_eq!(to_attr(&json!(12)), AttributeValue::N("12".into()));
        assert_eq!(to_attr(&json!(-1.25)), AttributeValue::N("-1.25".into()));
        assert_eq!(to_attr(&json!(true)), AttributeValue::Bool(true));
        assert_eq!(to_attr(&json!(null)), AttributeValue::Null(true));
        assert_eq!(to_attr(&json!([1])), AttributeValue::L(vec![AttributeValue::N("1".into())]));
        assert_eq!(
            to_attr(&json!({"a": "b"})),
            AttributeValue::M(HashMap::from([("a".into(), AttributeValue::S("b".into()))]))
        );
    }

    #[test]
    fn numbers_read_back_as_integers_when_they_are() {
        assert_eq!(number("42").expect("n"), json!(42));
        assert_eq!(number("-7").expect("n"), json!(-7));
        assert_eq!(number("18446744073709551615").expect("n"), json!(u64::MAX));
        assert_eq!(number("1.5").expect("n"), json!(1.5));
        assert_eq!(number("1E+2").expect("n"), json!(100.0));
        assert!(number("nope").is_err());
    }

    #[test]
    fn sets_and_binaries_read_as_arrays_and_text() {
        let ss = AttributeValue::Ss(vec!["a".into(), "b".into()]);
        assert_eq!(from_attr(&ss).expect("ss"), json!(["a", "b"]));
        let ns = AttributeValue::Ns(vec!["1".into(), "2.5".into()]);
        assert_eq!(from_attr(&ns).expect("ns"), json!([1, 2.5]));
        let b = AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(b"hi".to_vec()));
        assert_eq!(from_attr(&b).expect("b"), json!("aGk"));
    }

    #[test]
    fn items_round_trip_with_keys_and_index() {
        let item = Item::new(Key::new("T#a", "USER#1"))
            .indexed(Key::new("T#a#PH#+1", "USER#1"))
            .with("name", "Jane")
            .with("n", 3)
            .with("tags", json!(["x", {"y": null}]));
        let attrs = item_to_attrs(&item).expect("attrs");
        assert_eq!(attrs[PK], AttributeValue::S("T#a".into()));
        assert_eq!(attrs[SK], AttributeValue::S("USER#1".into()));
        assert_eq!(attrs[GSI1PK], AttributeValue::S("T#a#PH#+1".into()));
        assert_eq!(attrs[GSI1SK], AttributeValue::S("USER#1".into()));
        assert_eq!(item_from_attrs(attrs).expect("item"), item);

        let plain = Item::new(Key::new("T#a", "X"));
        let attrs = item_to_attrs(&plain).expect("attrs");
        assert_eq!(attrs.len(), 2);
        assert_eq!(item_from_attrs(attrs).expect("item"), plain);
    }

    #[test]
    fn reserved_names_are_invalid() {
        for name in RESERVED {
            let item = Item::new(Key::new("T#a", "X")).with(name, "evil");
            assert!(matches!(item_to_attrs(&item), Err(PortError::Invalid(_))), "{name}");
            let mut expr = Expr::default();
            assert!(matches!(expr.update(&Update::default().set(name, 1)), Err(PortError::Invalid(_))));
            assert!(matches!(expr.update(&Update::default().add(name, 1)), Err(PortError::Invalid(_))));
            assert!(matches!(expr.update(&Update::default().remove(name)), Err(PortError::Invalid(_))));
        }
    }

    #[test]
    fn expressions_use_placeholders() {
        let mut expr = Expr::default();
        let update = Update::default().set("name", "x").set("size", 2).add("count", -1).remove("old");
        let text = expr.update(&update).expect("update").expect("something");
        assert_eq!(text, "SET #n0 = :v0, #n1 = :v1 ADD #n2 :v2 REMOVE #n3");
        let cond = expr.condition(&Condition::AtLeast("count".into(), 1));
        assert_eq!(cond, "#n4 >= :v3");
        assert_eq!(expr.names.get("#n1").map(String::as_str), Some("size"));
        assert_eq!(expr.values.get(":v2"), Some(&AttributeValue::N("-1".into())));
        assert_eq!(expr.condition(&Condition::NotExists), "attribute_not_exists(PK)");
        assert_eq!(expr.condition(&Condition::Exists), "attribute_exists(PK)");
        assert_eq!(expr.condition(&Condition::Equals("owner".into(), json!("u1"))), "#n5 = :v4");
        assert_eq!(expr.values.get(":v4"), Some(&AttributeValue::S("u1".into())));

        let mut empty = Expr::default();
        assert_eq!(empty.update(&Update::default()).expect("nothing"), None);
        assert_eq!(empty.names(), None);
        assert_eq!(empty.values(), None);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let key: Attrs = HashMap::from([
            (PK.to_owned(), AttributeValue::S("T#a".into())),
            (SK.to_owned(), AttributeValue::S("MSG#00001".into())),
        ]);
        let cursor = encode_cursor(&key).expect("cursor");
        assert_eq!(decode_cursor(&cursor, Index::Primary).expect("decoded"), key);
        assert!(matches!(decode_cursor(&cursor, Index::Gsi1), Err(PortError::Invalid(_))));
        assert!(matches!(decode_cursor("not base64!", Index::Primary), Err(PortError::Invalid(_))));
        let not_json = URL_SAFE_NO_PAD.encode("nope");
        assert!(matches!(decode_cursor(&not_json, Index::Primary), Err(PortError::Invalid(_))));
        let wrong_names = URL_SAFE_NO_PAD.encode(r#"{"PK":"a","other":"b"}"#);
        assert!(matches!(decode_cursor(&wrong_names, Index::Primary), Err(PortError::Invalid(_))));
        let not_text = URL_SAFE_NO_PAD.encode(r#"{"PK":"a","SK":1}"#);
        assert!(matches!(decode_cursor(&not_text, Index::Primary), Err(PortError::Invalid(_))));

        let numeric: Attrs = HashMap::from([(PK.to_owned(), AttributeValue::N("1".into()))]);
        assert!(matches!(encode_cursor(&numeric), Err(PortError::Unexpected(_))));
    }
}
