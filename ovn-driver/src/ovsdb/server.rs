//! The `_Server` database: which member of a clustered database is the
//! leader and connected to its cluster (ovsdb-server(7), "Database" table).

use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;

use super::error::Error;
use super::jsonrpc::Session;
use super::monitor::{MonitorEvent, MonitorSink, RowUpdate};
use super::remote::Remote;
use super::value::Row;

pub(crate) const SERVER_MONITOR_ID: &str = "_server";
/// `_Server` changes buffered before the connection waits for the supervisor.
const SERVER_EVENT_QUEUE: usize = 16;

/// Monitors our database's row in `_Server.Database` and checks that this
/// member may be used. The returned stream reports later changes; feed them
/// to [`still_leader`].
pub(crate) async fn watch_leader(
    session: &Session,
    database: &str,
    remote: &Remote,
) -> Result<mpsc::Receiver<MonitorEvent>, Error> {
    let (tx, mut rx) = mpsc::channel(SERVER_EVENT_QUEUE);
    let sink = MonitorSink {
        tx,
        last_txn_id: Arc::default(),
    };
    let requests = json!({"Database": [{
        "columns": ["name", "model", "connected", "leader"],
        "where": [["name", "==", database]],
    }]});
    let params = json!(["_Server", SERVER_MONITOR_ID, requests]);
    session
        .monitor("monitor_cond", params, SERVER_MONITOR_ID.into(), sink)
        .await?;
    let not_leader = || Error::NotLeader {
        remote: remote.to_string(),
        database: database.to_string(),
    };
    let Some(MonitorEvent::Reset(tables)) = rx.recv().await else {
        return Err(Error::Disconnected);
    };
    let mut rows = tables.get("Database").into_iter().flat_map(|t| t.values());
    match rows.next() {
        Some(RowUpdate::Initial(row)) if usable(row) => Ok(rx),
        // No row: this server does not serve the database at all.
        _ => Err(not_leader()),
    }
}

/// Standalone databases are always usable; clustered ones only on the
/// leader while it is connected to its cluster.
fn usable(row: &Row) -> bool {
    let flag = |c: &str| row.get(c).and_then(|v| v.as_bool()) == Some(true);
    match row.get("model").and_then(|v| v.as_str()) {
        Some("clustered") => flag("leader") && flag("connected"),
        Some(_) => true,
        None => false,
    }
}

/// False if the change takes leadership or connectivity away (a `modify`
/// carries only the changed columns, each with its new value).
pub(crate) fn still_leader(event: &MonitorEvent) -> bool {
    let (MonitorEvent::Reset(t) | MonitorEvent::Update(t)) = event;
    t.get("Database")
        .into_iter()
        .flat_map(|rows| rows.values())
        .all(|u| match u {
            RowUpdate::Delete => false,
            RowUpdate::Initial(r) | RowUpdate::Insert(r) | RowUpdate::Modify(r) => {
                ["leader", "connected"]
                    .iter()
                    .all(|c| r.get(*c).and_then(|v| v.as_bool()) != Some(false))
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::monitor::TableUpdates;
    use crate::ovsdb::value::{Uuid, Value};

    fn event(update: RowUpdate) -> MonitorEvent {
        let uuid = Uuid::parse("2f1e0a53-8d7b-4c3e-9a1f-0123456789ab").unwrap();
        let mut t = TableUpdates::new();
        t.entry("Database".into()).or_default().insert(uuid, update);
        MonitorEvent::Update(t)
    }

    fn row(model: &str, leader: bool, connected: bool) -> Row {
        [
            ("model", Value::from(model)),
            ("leader", leader.into()),
            ("connected", connected.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn only_a_connected_leader_is_usable() {
        assert!(usable(&row("standalone", true, true)));
        assert!(usable(&row("clustered", true, true)));
        assert!(!usable(&row("clustered", false, true)));
        assert!(!usable(&row("clustered", true, false)));
        assert!(!usable(&Row::new()));
    }

    #[test]
    fn losing_leadership_or_the_row_is_noticed() {
        let diff = |c: &str, v: bool| {
            let mut r = Row::new();
            r.insert(c.to_string(), v.into());
            RowUpdate::Modify(r)
        };
        assert!(!still_leader(&event(diff("leader", false))));
        assert!(!still_leader(&event(diff("connected", false))));
        assert!(!still_leader(&event(RowUpdate::Delete)));
        assert!(still_leader(&event(diff("leader", true))));
        let mut index_only = Row::new();
        index_only.insert("index".into(), Value::from(7));
        assert!(still_leader(&event(RowUpdate::Modify(index_only))));
    }
}
