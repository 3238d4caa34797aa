//! `monitor_cond` / `monitor_cond_since` requests and the update2/update3
//! notifications they produce (ovsdb-server(7), RFC 7047 extensions).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value as Json};
use tokio::sync::mpsc;

use super::error::Error;
use super::ops::Condition;
use super::value::{row_from_json, Row, Uuid};

/// `last-txn-id` meaning "no history": the server answers with full contents.
pub(crate) const ZERO_TXN_ID: &str = "00000000-0000-0000-0000-000000000000";

/// What to watch in one table.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorRequest {
    pub table: String,
    /// `None`: all columns.
    pub columns: Option<Vec<String>>,
    /// Only rows matching all conditions; empty: every row.
    pub conditions: Vec<Condition>,
}

impl MonitorRequest {
    pub fn new(table: &str) -> Self {
        MonitorRequest {
            table: table.into(),
            columns: None,
            conditions: Vec::new(),
        }
    }
    pub fn columns(mut self, columns: &[&str]) -> Self {
        self.columns = Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }
    pub fn filter(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }
}

/// The `<monitor-cond-requests>` object: table name to requests.
pub(crate) fn requests_json(requests: &[MonitorRequest]) -> Json {
    let mut tables: BTreeMap<&str, Vec<Json>> = BTreeMap::new();
    for r in requests {
        let mut j = json!({});
        if let Some(cols) = &r.columns {
            j["columns"] = json!(cols);
        }
        // An omitted "where" monitors every row.
        if !r.conditions.is_empty() {
            j["where"] = Json::Array(r.conditions.iter().map(Condition::to_json).collect());
        }
        tables.entry(&r.table).or_default().push(j);
    }
    json!(tables)
}

/// A change to one row. `Modify` carries a row *diff* (update2 semantics):
/// scalars hold the new value, sets the elements to toggle, maps the pairs to
/// add, replace or remove. [`super::TableCache`] applies them.
#[derive(Debug, Clone, PartialEq)]
pub enum RowUpdate {
    Initial(Row),
    Insert(Row),
    Modify(Row),
    Delete,
}

/// Table name to row UUID to change.
pub type TableUpdates = BTreeMap<String, BTreeMap<Uuid, RowUpdate>>;

/// What a monitor stream delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorEvent {
    /// The complete contents of the monitored tables: drop what you had and
    /// take these. Sent on the first connect, and after a reconnect when the
    /// server could not resume from our last transaction id.
    Reset(TableUpdates),
    /// Changes since the previous event (including those missed while
    /// disconnected, when the server resumed from our last transaction id).
    Update(TableUpdates),
}

pub(crate) fn parse_table_updates(j: &Json) -> Result<TableUpdates, Error> {
    let bad = || Error::Protocol(format!("bad table-updates2: {j}"));
    let mut out = TableUpdates::new();
    for (table, rows) in j.as_object().ok_or_else(bad)? {
        let mut updates = BTreeMap::new();
        for (uuid, change) in rows.as_object().ok_or_else(bad)? {
            let (kind, row) = change
                .as_object()
                .and_then(|o| o.iter().next())
                .ok_or_else(bad)?;
            let update = match kind.as_str() {
                "initial" => RowUpdate::Initial(row_from_json(row)?),
                "insert" => RowUpdate::Insert(row_from_json(row)?),
                "modify" => RowUpdate::Modify(row_from_json(row)?),
                "delete" => RowUpdate::Delete,
                _ => return Err(bad()),
            };
            updates.insert(Uuid::parse(uuid)?, update);
        }
        out.insert(table.clone(), updates);
    }
    Ok(out)
}

/// Where one monitor's events go. Lives in the connection's reader so that
/// the reply to the monitor request and the notifications that follow it are
/// delivered in stream order.
#[derive(Debug, Clone)]
pub(crate) struct MonitorSink {
    pub tx: mpsc::Sender<MonitorEvent>,
    /// Updated with every reply/update3 so a reconnect resumes from here.
    pub last_txn_id: Arc<Mutex<Option<String>>>,
}

impl MonitorSink {
    fn record_txn(&self, id: &Json) {
        if let Some(id) = id.as_str() {
            // A poisoned lock only means another thread panicked mid-store of
            // a String; the value is still usable.
            let mut slot = self.last_txn_id.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(id.to_string());
        }
    }

    /// Turns the reply of `method` into the first event. Returns `Err` for a
    /// malformed reply; `Ok(false)` if the receiver is gone.
    pub async fn deliver_reply(&self, method: &str, result: &Json) -> Result<bool, Error> {
        let event = if method == "monitor_cond_since" {
            // [found, last-txn-id, table-updates2]
            let (found, txn, updates) = match result.as_array().map(Vec::as_slice) {
                Some([Json::Bool(f), txn, u]) => (*f, txn, u),
                _ => return Err(Error::Protocol(format!("bad {method} reply: {result}"))),
            };
            let updates = parse_table_updates(updates)?;
            self.record_txn(txn);
            if found {
                MonitorEvent::Update(updates)
            } else {
                MonitorEvent::Reset(updates)
            }
        } else {
            MonitorEvent::Reset(parse_table_updates(result)?)
        };
        Ok(self.tx.send(event).await.is_ok())
    }

    /// Delivers an update2 (`[id, updates]`) or update3 (`[id, txn, updates]`).
    pub async fn deliver_update(&self, method: &str, params: &[Json]) -> Result<bool, Error> {
        let updates = match (method, params) {
            ("update2", [_, u]) => u,
            ("update3", [_, txn, u]) => {
                self.record_txn(txn);
                u
            }
            _ => return Err(Error::Protocol(format!("bad {method} params"))),
        };
        let updates = parse_table_updates(updates)?;
        Ok(self.tx.send(MonitorEvent::Update(updates)).await.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "2f1e0a53-8d7b-4c3e-9a1f-0123456789ab";

    #[test]
    fn request_json_groups_by_table() {
        let j = requests_json(&[
            MonitorRequest::new("Logical_Switch").columns(&["name"]),
            MonitorRequest::new("NB_Global").filter(Condition::eq("name", "")),
        ]);
        assert_eq!(
            j,
            json!({"Logical_Switch": [{"columns": ["name"]}],
                   "NB_Global": [{"where": [["name", "==", ""]]}]})
        );
    }

    #[tokio::test]
    async fn update3_records_txn_id_and_parses_rows() {
        let (tx, mut rx) = mpsc::channel(4);
        let sink = MonitorSink {
            tx,
            last_txn_id: Arc::default(),
        };
        let params = [
            json!("m1"),
            json!("txn-7"),
            json!({"Logical_Switch": {U: {"modify": {"name": "b"}}}}),
        ];
        assert!(sink.deliver_update("update3", &params).await.unwrap());
        assert_eq!(sink.last_txn_id.lock().unwrap().as_deref(), Some("txn-7"));
        let Some(MonitorEvent::Update(u)) = rx.recv().await else {
            panic!("no update")
        };
        let change = &u["Logical_Switch"][&Uuid::parse(U).unwrap()];
        assert!(matches!(change, RowUpdate::Modify(r) if r["name"].as_str() == Some("b")));
    }

    #[tokio::test]
    async fn since_reply_not_found_is_a_reset() {
        let (tx, mut rx) = mpsc::channel(4);
        let sink = MonitorSink {
            tx,
            last_txn_id: Arc::default(),
        };
        let reply = json!([false, "t1", {"T": {U: {"initial": {"a": 1}}}}]);
        assert!(sink
            .deliver_reply("monitor_cond_since", &reply)
            .await
            .unwrap());
        assert!(matches!(rx.recv().await, Some(MonitorEvent::Reset(_))));
        assert!(sink
            .deliver_reply("monitor_cond_since", &json!([1]))
            .await
            .is_err());
        assert!(parse_table_updates(&json!({"T": {U: {"frob": {}}}})).is_err());
        assert!(parse_table_updates(&json!({"T": {"not-a-uuid": {"delete": null}}})).is_err());
    }
}
