//! Typed `transact` operations (RFC 7047 §5.2), their conditions, mutations
//! and per-operation results.

use serde_json::{json, Value as Json};

use super::error::{Error, TxnError};
use super::value::{row_from_json, row_to_json, Row, Uuid, Value};

/// Most operations we send in one transaction. The server holds a whole
/// transaction in memory and replies with one message; callers that need more
/// split their work (the reconciler batches its diff).
pub const MAX_TRANSACTION_OPS: usize = 10_000;

/// Comparison in a `where` clause (RFC 7047 §5.1 `<function>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Lt,
    Le,
    Eq,
    Ne,
    Gt,
    Ge,
    Includes,
    Excludes,
}

impl Function {
    fn as_str(self) -> &'static str {
        match self {
            Function::Lt => "<",
            Function::Le => "<=",
            Function::Eq => "==",
            Function::Ne => "!=",
            Function::Gt => ">",
            Function::Ge => ">=",
            Function::Includes => "includes",
            Function::Excludes => "excludes",
        }
    }
}

/// `[column, function, value]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    pub function: Function,
    pub value: Value,
}

impl Condition {
    pub fn new(column: &str, function: Function, value: impl Into<Value>) -> Self {
        Condition {
            column: column.to_string(),
            function,
            value: value.into(),
        }
    }
    pub fn eq(column: &str, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Eq, value)
    }
    pub fn ne(column: &str, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Ne, value)
    }
    /// For map columns, compare single keys with `includes` rather than whole
    /// maps with `==` (peers.md: whole-map waits broke after leader changes).
    pub fn includes(column: &str, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Includes, value)
    }
    pub fn excludes(column: &str, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Excludes, value)
    }
    pub fn to_json(&self) -> Json {
        json!([self.column, self.function.as_str(), self.value.to_json()])
    }
}

/// RFC 7047 §5.1 `<mutator>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutator {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Insert,
    Delete,
}

impl Mutator {
    fn as_str(self) -> &'static str {
        match self {
            Mutator::Add => "+=",
            Mutator::Sub => "-=",
            Mutator::Mul => "*=",
            Mutator::Div => "/=",
            Mutator::Mod => "%=",
            Mutator::Insert => "insert",
            Mutator::Delete => "delete",
        }
    }
}

/// `[column, mutator, value]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub column: String,
    pub mutator: Mutator,
    pub value: Value,
}

impl Mutation {
    pub fn new(column: &str, mutator: Mutator, value: impl Into<Value>) -> Self {
        Mutation {
            column: column.to_string(),
            mutator,
            value: value.into(),
        }
    }
    /// Adds set elements or map pairs (existing map keys keep their value).
    pub fn insert(column: &str, value: impl Into<Value>) -> Self {
        Self::new(column, Mutator::Insert, value)
    }
    /// Removes set elements, map pairs, or (given a set of keys) map keys.
    pub fn delete(column: &str, value: impl Into<Value>) -> Self {
        Self::new(column, Mutator::Delete, value)
    }
    fn to_json(&self) -> Json {
        json!([self.column, self.mutator.as_str(), self.value.to_json()])
    }
}

/// The `until` of a `wait` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    Eq,
    Ne,
}

macro_rules! filter_method {
    () => {
        /// Adds a `where` condition; all conditions must hold (conjunction).
        pub fn filter(mut self, condition: Condition) -> Self {
            self.conditions.push(condition);
            self
        }
    };
}

/// Inserts one row. With [`Insert::uuid_name`], later operations of the same
/// transaction refer to the row as `Value::named_uuid(name)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Insert {
    pub table: String,
    pub row: Row,
    pub uuid_name: Option<String>,
}

impl Insert {
    pub fn new(table: &str) -> Self {
        Insert {
            table: table.into(),
            row: Row::new(),
            uuid_name: None,
        }
    }
    pub fn value(mut self, column: &str, value: impl Into<Value>) -> Self {
        self.row.insert(column.into(), value.into());
        self
    }
    pub fn uuid_name(mut self, name: &str) -> Self {
        self.uuid_name = Some(name.into());
        self
    }
}

/// Reads rows; `columns: None` means all columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub table: String,
    pub conditions: Vec<Condition>,
    pub columns: Option<Vec<String>>,
}

impl Select {
    pub fn new(table: &str) -> Self {
        Select {
            table: table.into(),
            conditions: Vec::new(),
            columns: None,
        }
    }
    filter_method!();
    pub fn columns(mut self, columns: &[&str]) -> Self {
        self.columns = Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }
}

/// Sets columns of every matching row.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub table: String,
    pub conditions: Vec<Condition>,
    pub row: Row,
}

impl Update {
    pub fn new(table: &str) -> Self {
        Update {
            table: table.into(),
            conditions: Vec::new(),
            row: Row::new(),
        }
    }
    filter_method!();
    pub fn value(mut self, column: &str, value: impl Into<Value>) -> Self {
        self.row.insert(column.into(), value.into());
        self
    }
}

/// Mutates columns of every matching row in place.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutate {
    pub table: String,
    pub conditions: Vec<Condition>,
    pub mutations: Vec<Mutation>,
}

impl Mutate {
    pub fn new(table: &str) -> Self {
        Mutate {
            table: table.into(),
            conditions: Vec::new(),
            mutations: Vec::new(),
        }
    }
    filter_method!();
    pub fn mutation(mut self, mutation: Mutation) -> Self {
        self.mutations.push(mutation);
        self
    }
}

/// Deletes every matching row.
#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    pub table: String,
    pub conditions: Vec<Condition>,
}

impl Delete {
    pub fn new(table: &str) -> Self {
        Delete {
            table: table.into(),
            conditions: Vec::new(),
        }
    }
    filter_method!();
}

/// Waits until the `columns` of the matching rows equal (`Until::Eq`) or
/// differ from (`Until::Ne`) `rows`. With `timeout_ms: Some(0)` it fails at
/// once, which makes it a guard: the fence of peers.md is
/// `Wait::new("NB_Global", Until::Eq).filter(Condition::includes("external_ids",
/// Value::map([("prismnet-epoch", "5")]))).row(Row::new()).timeout_ms(0)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    pub table: String,
    pub conditions: Vec<Condition>,
    pub columns: Vec<String>,
    pub until: Until,
    pub rows: Vec<Row>,
    pub timeout_ms: Option<u64>,
}

impl Wait {
    pub fn new(table: &str, until: Until) -> Self {
        Wait {
            table: table.into(),
            conditions: Vec::new(),
            columns: Vec::new(),
            until,
            rows: Vec::new(),
            timeout_ms: None,
        }
    }
    filter_method!();
    pub fn columns(mut self, columns: &[&str]) -> Self {
        self.columns = columns.iter().map(|c| c.to_string()).collect();
        self
    }
    pub fn row(mut self, row: Row) -> Self {
        self.rows.push(row);
        self
    }
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }
}

/// One operation of a `transact`.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Insert(Insert),
    Select(Select),
    Update(Update),
    Mutate(Mutate),
    Delete(Delete),
    Wait(Wait),
    /// `durable: true` asks the server to sync to disk before replying.
    Commit {
        durable: bool,
    },
    /// Makes the transaction fail on purpose, committing nothing.
    Abort,
    /// Recorded in the server's log with the transaction.
    Comment(String),
    /// Fails unless this session owns the named OVSDB lock.
    Assert {
        lock: String,
    },
}

macro_rules! into_operation {
    ($($t:ident),*) => {$(
        impl From<$t> for Operation {
            fn from(op: $t) -> Self {
                Operation::$t(op)
            }
        }
    )*};
}
into_operation!(Insert, Select, Update, Mutate, Delete, Wait);

fn conditions_json(conditions: &[Condition]) -> Json {
    Json::Array(conditions.iter().map(Condition::to_json).collect())
}

impl Operation {
    /// The RFC 7047 name of the operation, as used in [`TxnError::op`].
    pub fn kind(&self) -> &'static str {
        match self {
            Operation::Insert(_) => "insert",
            Operation::Select(_) => "select",
            Operation::Update(_) => "update",
            Operation::Mutate(_) => "mutate",
            Operation::Delete(_) => "delete",
            Operation::Wait(_) => "wait",
            Operation::Commit { .. } => "commit",
            Operation::Abort => "abort",
            Operation::Comment(_) => "comment",
            Operation::Assert { .. } => "assert",
        }
    }

    pub fn to_json(&self) -> Json {
        let op = self.kind();
        match self {
            Operation::Insert(i) => {
                let mut j = json!({"op": op, "table": i.table, "row": row_to_json(&i.row)});
                if let Some(name) = &i.uuid_name {
                    j["uuid-name"] = json!(name);
                }
                j
            }
            Operation::Select(s) => {
                let mut j =
                    json!({"op": op, "table": s.table, "where": conditions_json(&s.conditions)});
                if let Some(cols) = &s.columns {
                    j["columns"] = json!(cols);
                }
                j
            }
            Operation::Update(u) => json!({"op": op, "table": u.table,
                "where": conditions_json(&u.conditions), "row": row_to_json(&u.row)}),
            Operation::Mutate(m) => json!({"op": op, "table": m.table,
                "where": conditions_json(&m.conditions),
                "mutations": m.mutations.iter().map(Mutation::to_json).collect::<Vec<_>>()}),
            Operation::Delete(d) => {
                json!({"op": op, "table": d.table, "where": conditions_json(&d.conditions)})
            }
            Operation::Wait(w) => {
                let mut j = json!({"op": op, "table": w.table,
                    "where": conditions_json(&w.conditions), "columns": w.columns,
                    "until": if w.until == Until::Eq { "==" } else { "!=" },
                    "rows": w.rows.iter().map(row_to_json).collect::<Vec<_>>()});
                if let Some(ms) = w.timeout_ms {
                    j["timeout"] = json!(ms);
                }
                j
            }
            Operation::Commit { durable } => json!({"op": op, "durable": durable}),
            Operation::Abort => json!({"op": op}),
            Operation::Comment(c) => json!({"op": op, "comment": c}),
            Operation::Assert { lock } => json!({"op": op, "lock": lock}),
        }
    }
}

/// The result of one successful operation, typed by the operation's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum OpResult {
    /// insert: the new row's UUID.
    Inserted(Uuid),
    /// select: the matching rows.
    Rows(Vec<Row>),
    /// update, mutate, delete: how many rows matched.
    Count(u64),
    /// wait, commit, abort, comment, assert.
    Empty,
}

/// The results of a committed transaction, one per operation, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnReply {
    pub results: Vec<OpResult>,
}

impl TxnReply {
    pub fn uuid(&self, index: usize) -> Option<&Uuid> {
        match self.results.get(index)? {
            OpResult::Inserted(u) => Some(u),
            _ => None,
        }
    }
    pub fn rows(&self, index: usize) -> Option<&[Row]> {
        match self.results.get(index)? {
            OpResult::Rows(r) => Some(r),
            _ => None,
        }
    }
    pub fn count(&self, index: usize) -> Option<u64> {
        match self.results.get(index)? {
            OpResult::Count(c) => Some(*c),
            _ => None,
        }
    }
}

pub(crate) fn transact_params(database: &str, ops: &[Operation]) -> Json {
    let mut params = Vec::with_capacity(ops.len() + 1);
    params.push(json!(database));
    params.extend(ops.iter().map(Operation::to_json));
    Json::Array(params)
}

/// Interprets a `transact` result array. RFC 7047 §4.1.3: a failed operation's
/// element is `{"error", "details"}` and the ones after it are `null`; if all
/// operations passed but the commit failed, an extra element holds the error.
pub(crate) fn parse_transact_result(ops: &[Operation], result: &Json) -> Result<TxnReply, Error> {
    let items = result
        .as_array()
        .ok_or_else(|| Error::Protocol(format!("transact result is not an array: {result}")))?;
    if let Some((i, err)) = items
        .iter()
        .enumerate()
        .find(|(_, r)| r.get("error").is_some_and(|e| !e.is_null()))
    {
        return Err(TxnError {
            op_index: (i < ops.len()).then_some(i),
            op: ops.get(i).map(Operation::kind),
            error: json_text(&err["error"]),
            details: err.get("details").filter(|d| !d.is_null()).map(json_text),
        }
        .into());
    }
    if items.len() < ops.len() {
        return Err(Error::Protocol(format!(
            "transact returned {} results for {} operations",
            items.len(),
            ops.len()
        )));
    }
    let results = ops
        .iter()
        .zip(items)
        .map(|(op, item)| parse_op_result(op, item))
        .collect::<Result<_, _>>()?;
    Ok(TxnReply { results })
}

fn parse_op_result(op: &Operation, item: &Json) -> Result<OpResult, Error> {
    let bad = || Error::Protocol(format!("unexpected {} result: {item}", op.kind()));
    Ok(match op {
        Operation::Insert(_) => {
            let uuid = item.get("uuid").ok_or_else(bad)?;
            match Value::from_json(uuid)? {
                Value::Atom(super::value::Atom::Uuid(u)) => OpResult::Inserted(u),
                _ => return Err(bad()),
            }
        }
        Operation::Select(_) => {
            let rows = item.get("rows").and_then(Json::as_array).ok_or_else(bad)?;
            OpResult::Rows(rows.iter().map(row_from_json).collect::<Result<_, _>>()?)
        }
        Operation::Update(_) | Operation::Mutate(_) | Operation::Delete(_) => {
            OpResult::Count(item.get("count").and_then(Json::as_u64).ok_or_else(bad)?)
        }
        _ => OpResult::Empty,
    })
}

/// Server error strings come as JSON strings; anything else is shown as JSON.
pub(crate) fn json_text(j: &Json) -> String {
    match j {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fence(epoch: &str) -> Operation {
        Wait::new("NB_Global", Until::Eq)
            .filter(Condition::includes(
                "external_ids",
                Value::map([("prismnet-epoch", epoch)]),
            ))
            .row(Row::new())
            .timeout_ms(0)
            .into()
    }

    #[test]
    fn fence_guard_encodes_as_in_peers_notes() {
        assert_eq!(
            fence("5").to_json(),
            json!({"op":"wait","table":"NB_Global",
                "where":[["external_ids","includes",["map",[["prismnet-epoch","5"]]]]],
                "columns":[],"until":"==","rows":[{}],"timeout":0})
        );
    }

    #[test]
    fn insert_with_named_uuid_reference() {
        let ops: Vec<Operation> = vec![
            Insert::new("Logical_Switch_Port")
                .value("name", "p1")
                .uuid_name("p1")
                .into(),
            Mutate::new("Logical_Switch")
                .filter(Condition::eq("name", "ls1"))
                .mutation(Mutation::insert("ports", Value::named_uuid("p1")))
                .into(),
        ];
        assert_eq!(
            transact_params("OVN_Northbound", &ops),
            json!(["OVN_Northbound",
                {"op":"insert","table":"Logical_Switch_Port","row":{"name":"p1"},"uuid-name":"p1"},
                {"op":"mutate","table":"Logical_Switch","where":[["name","==","ls1"]],
                 "mutations":[["ports","insert",["named-uuid","p1"]]]}])
        );
    }

    #[test]
    fn results_are_typed_per_operation() {
        let u = "2f1e0a53-8d7b-4c3e-9a1f-0123456789ab";
        let ops: Vec<Operation> = vec![
            Insert::new("T").into(),
            Select::new("T").into(),
            Delete::new("T").into(),
            Operation::Comment("x".into()),
        ];
        let reply = parse_transact_result(
            &ops,
            &json!([{"uuid":["uuid",u]},{"rows":[{"name":"a"}]},{"count":2},{}]),
        )
        .unwrap();
        assert_eq!(reply.uuid(0).map(Uuid::as_str), Some(u));
        assert_eq!(reply.rows(1).unwrap()[0]["name"].as_str(), Some("a"));
        assert_eq!(reply.count(2), Some(2));
        assert_eq!(reply.results[3], OpResult::Empty);
    }

    #[test]
    fn failed_operation_names_the_op_and_server_error() {
        let ops = vec![fence("4"), Delete::new("T").into()];
        let err = parse_transact_result(
            &ops,
            &json!([{"error":"timed out","details":"\"where\" clause test failed"}, null]),
        )
        .unwrap_err();
        let Error::Transaction(t) = err else {
            panic!("wrong error {err}")
        };
        assert_eq!((t.op_index, t.op), (Some(0), Some("wait")));
        assert_eq!(t.error, "timed out");
        assert_eq!(t.details.as_deref(), Some("\"where\" clause test failed"));
    }

    #[test]
    fn commit_failure_is_the_extra_element() {
        let ops = vec![Delete::new("T").into()];
        let err = parse_transact_result(
            &ops,
            &json!([{"count":1},{"error":"referential integrity violation","details":"d"}]),
        )
        .unwrap_err();
        let Error::Transaction(t) = err else {
            panic!("wrong error {err}")
        };
        assert_eq!((t.op_index, t.op), (None, None));
        assert!(t.to_string().contains("at commit"), "{t}");
    }

    #[test]
    fn short_or_malformed_results_are_protocol_errors() {
        let ops = vec![Insert::new("T").into()];
        assert!(matches!(
            parse_transact_result(&ops, &json!([])),
            Err(Error::Protocol(_))
        ));
        assert!(parse_transact_result(&ops, &json!([{"uuid": 5}])).is_err());
        assert!(parse_transact_result(&ops, &json!({"x":1})).is_err());
    }
}
