//! Shared helpers of the reconciler tests: a leader driver over a shared
//! state, NB dumps split into owned and foreign rows.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prismnet_ovn::nb::{Ownership, Table};
use prismnet_ovn::ovsdb::{Client, Operation, Row, Select, Uuid, Value};
use prismnet_ovn::reconcile::{DriverConfig, DriverError, Epoch, OvnDriver};
#[allow(unused_imports)] // used by some of the test binaries
pub use prismnet_ovn::testing::NbWatch;
use prismnet_ovn::testing::{nb_config, GatedLeadership};
use prismnet_ovn::topology::Topology;
use prismnet_state::State;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub const CLUSTER: &str = "test-cluster";
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

pub fn config(remotes: &[String]) -> DriverConfig {
    let mut c = DriverConfig::new(remotes, CLUSTER).expect("config");
    c.client = {
        let mut t = nb_config(remotes);
        t.requirements = c.client.requirements.clone();
        t
    };
    c.retry_interval = Duration::from_millis(200);
    c
}

/// Polls until the driver's own diff is empty (NB equals the state).
pub async fn until_no_drift(leader: &Leader, within: Duration) -> Duration {
    let start = std::time::Instant::now();
    loop {
        let drift = leader.driver.diff(&*leader.state).await.expect("diff");
        if drift.changes.is_empty() {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "still drifting:\n{drift}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A driver running `run_leader` over a shared state.
pub struct Leader {
    pub driver: OvnDriver,
    pub state: Arc<RwLock<State>>,
    pub leadership: Arc<GatedLeadership>,
    changes: watch::Sender<u64>,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<Result<(), DriverError>>>,
}

impl Leader {
    /// A leader whose leadership confirms at once.
    pub fn start(config: DriverConfig, epoch: Epoch, state: &State) -> Leader {
        Leader::start_gated(config, epoch, state, true)
    }

    /// A leader whose leadership confirms only while its gate is open.
    pub fn start_gated(config: DriverConfig, epoch: Epoch, state: &State, open: bool) -> Leader {
        let driver = OvnDriver::new(config);
        let shared = Arc::new(RwLock::new(state.clone()));
        let leadership = Arc::new(GatedLeadership::new(epoch, open));
        let (changes, rx) = watch::channel(state.last_index());
        let (stop, stop_rx) = oneshot::channel::<()>();
        let d = driver.clone();
        let (s, l) = (shared.clone(), leadership.clone());
        let task = tokio::spawn(async move {
            d.run_leader(l, s, rx, async {
                let _ = stop_rx.await;
            })
            .await
        });
        Leader {
            driver,
            state: shared,
            leadership,
            changes,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Publishes a new state, as the node does after applying entries.
    pub fn publish(&self, state: &State) {
        *self.state.write().unwrap() = state.clone();
        self.changes.send_replace(state.last_index());
    }

    pub async fn wait_synced(&self, index: u64) {
        let st = self.driver.status();
        assert!(
            st.wait_synced(index, SYNC_TIMEOUT).await,
            "not synced to {index}: fence {:?}, last error {:?}, last pass {:?}",
            st.fence_state(),
            st.last_error(),
            st.last_pass()
        );
    }

    /// Waits for `run_leader` to return by itself.
    pub async fn exit(&mut self) -> Result<(), DriverError> {
        let task = self.task.take().expect("running");
        tokio::time::timeout(SYNC_TIMEOUT, task)
            .await
            .expect("leader loop ended in time")
            .expect("task did not panic")
    }

    pub async fn stop(mut self) -> Result<(), DriverError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.exit().await
    }
}

pub async fn client(remotes: &[String]) -> Client {
    Client::connect(nb_config(remotes)).await.expect("connect")
}

/// Every row of the tables we write (+ NB_Global), without `_version`.
pub async fn dump(c: &Client) -> BTreeMap<(String, Uuid), Row> {
    let mut tables: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
    tables.push("NB_Global");
    let ops: Vec<Operation> = tables.iter().map(|t| Select::new(t).into()).collect();
    let reply = c.transact(&ops).await.expect("select all");
    let mut out = BTreeMap::new();
    for (i, t) in tables.iter().enumerate() {
        for row in reply.rows(i).unwrap_or_default() {
            let mut row = row.clone();
            row.remove("_version");
            let Some(u) = row.get("_uuid").and_then(Value::as_uuid).cloned() else {
                continue;
            };
            out.insert((t.to_string(), u), row);
        }
    }
    out
}

fn owned(row: &Row) -> bool {
    let ids = row
        .get("external_ids")
        .and_then(Value::as_map)
        .unwrap_or_default();
    let map: BTreeMap<String, String> = ids
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
        .collect();
    Ownership::new(CLUSTER).owns(&map)
}

/// Rows that are not ours (NB_Global excluded: it holds our fence key).
pub async fn foreign(c: &Client) -> BTreeMap<(String, Uuid), Row> {
    dump(c)
        .await
        .into_iter()
        .filter(|((t, _), r)| t != "NB_Global" && !owned(r))
        .collect()
}

pub async fn owned_rows(c: &Client, table: Table) -> Vec<Row> {
    dump(c)
        .await
        .into_iter()
        .filter(|((t, _), r)| t == table.name() && owned(r))
        .map(|(_, r)| r)
        .collect()
}

pub fn names(rows: &[Row]) -> Vec<String> {
    let mut n: Vec<String> = rows
        .iter()
        .filter_map(|r| r.get("name")?.as_str().map(String::from))
        .collect();
    n.sort();
    n
}

/// A topology exercising every resource kind.
pub fn full_topology() -> Topology {
    use prismnet_state::model::Protocol;
    let mut t = Topology::new();
    let net = t.extnet("172.24.4.0/24", "172.24.4.1", "physnet1", &["gw1", "gw2"]);
    let vpc = t.vpc("p1", &["10.0.0.0/16"]);
    let a = t.subnet(vpc, Some("10.0.1.0/24"), None);
    let b = t.subnet(vpc, Some("10.0.2.0/24"), None);
    let pa = t.port(a);
    t.port(b);
    t.bind(pa.id, "hv1");
    let web = t.group("p1", "web");
    t.ingress(web, Protocol::Tcp, Some((22, 22)), Some("192.168.0.0/24"));
    t.set_gateway(vpc, net, true);
    t.floating_ip("p1", net, pa.id);
    t
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
