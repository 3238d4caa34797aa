//! The public OVSDB client: a list of remotes, reconnect with bounded
//! backoff, leader-only selection for clustered databases, schema check, and
//! monitors that resume after reconnects.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::error::Error;
use super::jsonrpc::{Session, SessionTask};
use super::monitor::{requests_json, MonitorEvent, MonitorRequest, MonitorSink, ZERO_TXN_ID};
use super::ops::{
    parse_transact_result, transact_params, Operation, TxnReply, MAX_TRANSACTION_OPS,
};
use super::remote::{self, Remote, TlsConfig};
use super::schema::{DatabaseSchema, SchemaRequirements};
use super::server;

/// Events buffered per monitor stream before the connection waits for the
/// consumer (backpressure; the consumer must keep up or the connection stalls).
pub const MONITOR_EVENT_QUEUE: usize = 1024;
/// Monitors one client keeps at most.
pub const MAX_MONITORS: usize = 64;
/// Requests from `Client` handles to the supervisor task.
const SUPERVISOR_QUEUE: usize = 16;
/// Backoff doubles per consecutive failure up to this many doublings (and
/// never past `backoff_max`).
const MAX_BACKOFF_DOUBLINGS: u32 = 16;

/// How to reach the database. Build with [`ClientConfig::new`], then adjust.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub database: String,
    /// Tried in order, rotating on failure (one per member of a cluster).
    pub remotes: Vec<Remote>,
    pub tls: Option<TlsConfig>,
    /// Use only a member that `_Server` reports as leader and connected to
    /// the cluster. Standalone databases always qualify.
    pub leader_only: bool,
    /// Checked against the server's schema at every connect.
    pub requirements: SchemaRequirements,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Per connection attempt (TCP/TLS handshake plus the first requests).
    pub connect_timeout: Duration,
    /// How long `Client::connect` waits for the first usable server.
    pub initial_connect_timeout: Duration,
    /// Per request, including waiting for a connection.
    pub request_timeout: Duration,
    /// Our echo probe interval; silence for two intervals drops the connection.
    pub echo_interval: Duration,
}

impl ClientConfig {
    pub fn new(database: &str, remotes: Vec<Remote>) -> Self {
        ClientConfig {
            database: database.into(),
            remotes,
            tls: None,
            leader_only: true,
            requirements: SchemaRequirements::default(),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(5),
            initial_connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            echo_interval: Duration::from_secs(5),
        }
    }

    /// Parses `unix:`, `tcp:` and `ssl:` remote strings.
    pub fn parse(database: &str, remotes: &[&str]) -> Result<Self, Error> {
        let remotes = remotes
            .iter()
            .map(|r| r.parse())
            .collect::<Result<_, _>>()?;
        Ok(Self::new(database, remotes))
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.min(MAX_BACKOFF_DOUBLINGS);
        self.backoff_min
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

#[derive(Clone)]
struct Live {
    session: Session,
    remote: Remote,
}

enum SupervisorCmd {
    AddMonitor {
        entry: MonitorEntry,
        ack: oneshot::Sender<Result<(), Error>>,
    },
}

/// A monitor kept across reconnects.
struct MonitorEntry {
    id: String,
    requests: Json,
    sink: MonitorSink,
    /// The caller of `Client::monitor`, until the monitor first starts.
    ack: Option<oneshot::Sender<Result<(), Error>>>,
}

/// A handle to the database; cheap to clone. The connection is kept by a
/// background task that stops when the last handle is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    schema: DatabaseSchema,
    live: watch::Receiver<Option<Live>>,
    supervisor: mpsc::Sender<SupervisorCmd>,
    connections: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Connects to the first usable remote (the leader, with `leader_only`),
    /// checks the schema, and keeps reconnecting in the background.
    /// A schema mismatch is returned at once; other failures are retried
    /// until `initial_connect_timeout`.
    pub async fn connect(config: ClientConfig) -> Result<Client, Error> {
        if config.remotes.is_empty() {
            return Err(Error::BadRemote {
                remote: String::new(),
                reason: "no remotes given".into(),
            });
        }
        let tls = config.tls.as_ref().map(remote::tls_connector).transpose()?;
        let (live_tx, live) = watch::channel(None);
        let (cmd_tx, cmd_rx) = mpsc::channel(SUPERVISOR_QUEUE);
        let (ready_tx, ready_rx) = oneshot::channel();
        let last_error = Arc::new(Mutex::new(String::from("none yet")));
        let connections = Arc::new(AtomicU64::new(0));
        let sup = Supervisor {
            connections: connections.clone(),
            config: config.clone(),
            tls,
            live: live_tx,
            commands: cmd_rx,
            monitors: Vec::new(),
            next_remote: 0,
            failures: 0,
            last_error: last_error.clone(),
        };
        let task = tokio::spawn(sup.run(ready_tx));
        let after = config.initial_connect_timeout;
        let schema = match tokio::time::timeout(after, ready_rx).await {
            Ok(Ok(Ok(schema))) => schema,
            Ok(Ok(Err(e))) => {
                task.abort();
                return Err(e);
            }
            Ok(Err(_)) | Err(_) => {
                task.abort();
                let last_error = last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
                return Err(Error::NotConnected { after, last_error });
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                schema,
                live,
                supervisor: cmd_tx,
                connections,
                task,
            }),
        })
    }

    pub fn database(&self) -> &str {
        &self.inner.config.database
    }

    /// The schema fetched at the first connect.
    pub fn schema(&self) -> &DatabaseSchema {
        &self.inner.schema
    }

    /// The remote in use now, if connected.
    pub fn current_remote(&self) -> Option<Remote> {
        self.inner.live.borrow().as_ref().map(|l| l.remote.clone())
    }

    /// How many times a usable connection was established (1 after
    /// `connect`; each reconnect adds one).
    pub fn connection_count(&self) -> u64 {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// Waits (up to `request_timeout`) for a usable connection.
    pub async fn wait_connected(&self) -> Result<Remote, Error> {
        Ok(self.live().await?.remote)
    }

    async fn live(&self) -> Result<Live, Error> {
        let after = self.inner.config.request_timeout;
        let mut rx = self.inner.live.clone();
        let waited = tokio::time::timeout(after, rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(live)) => live.clone().ok_or(Error::Disconnected),
            Ok(Err(_)) => Err(Error::Shutdown),
            Err(_) => Err(Error::NotConnected {
                after,
                last_error: "still reconnecting".into(),
            }),
        }
    }

    async fn call(&self, method: &'static str, params: Json) -> Result<Json, Error> {
        let live = self.live().await?;
        let after = self.inner.config.request_timeout;
        tokio::time::timeout(after, live.session.call(method, params))
            .await
            .map_err(|_| Error::Timeout {
                method: method.into(),
                after,
            })?
    }

    /// Runs `ops` as one atomic transaction. If any operation fails nothing
    /// commits and the error says which one (`Error::Transaction`).
    /// `Disconnected`/`Timeout` leave the outcome unknown: never retried here.
    pub async fn transact(&self, ops: &[Operation]) -> Result<TxnReply, Error> {
        if ops.len() > MAX_TRANSACTION_OPS {
            return Err(Error::TooManyOps {
                count: ops.len(),
                limit: MAX_TRANSACTION_OPS,
            });
        }
        let result = self
            .call("transact", transact_params(self.database(), ops))
            .await?;
        parse_transact_result(ops, &result)
    }

    /// A round trip to the server.
    pub async fn echo(&self) -> Result<(), Error> {
        self.call("echo", json!([])).await.map(drop)
    }

    /// Starts a monitor (`monitor_cond_since`). The stream first yields a
    /// `Reset` with the current rows, then `Update`s; after a reconnect it
    /// resumes from the last transaction id seen (an `Update` with what was
    /// missed) or, if the server cannot, sends a new `Reset`. Dropping the
    /// receiver cancels the monitor.
    pub async fn monitor(
        &self,
        requests: &[MonitorRequest],
    ) -> Result<mpsc::Receiver<MonitorEvent>, Error> {
        let (tx, rx) = mpsc::channel(MONITOR_EVENT_QUEUE);
        let entry = MonitorEntry {
            id: String::new(), // assigned by the supervisor
            requests: requests_json(requests),
            sink: MonitorSink {
                tx,
                last_txn_id: Arc::default(),
            },
            ack: None,
        };
        let (ack, ack_rx) = oneshot::channel();
        self.inner
            .supervisor
            .send(SupervisorCmd::AddMonitor { entry, ack })
            .await
            .map_err(|_| Error::Shutdown)?;
        let after = self.inner.config.request_timeout;
        match tokio::time::timeout(after, ack_rx).await {
            Ok(Ok(r)) => r.map(|()| rx),
            Ok(Err(_)) => Err(Error::Shutdown),
            Err(_) => Err(Error::Timeout {
                method: "monitor_cond_since".into(),
                after,
            }),
        }
    }
}

/// Owns connecting, reconnecting and the monitors. Invariant: `live` holds
/// `Some` only while the session is connected, passed the leader and schema
/// checks, and has every monitor in `monitors` re-established on it.
struct Supervisor {
    config: ClientConfig,
    tls: Option<tokio_rustls::TlsConnector>,
    live: watch::Sender<Option<Live>>,
    commands: mpsc::Receiver<SupervisorCmd>,
    monitors: Vec<MonitorEntry>,
    next_remote: usize,
    failures: u32,
    last_error: Arc<Mutex<String>>,
    connections: Arc<AtomicU64>,
}

type Established = (
    Session,
    SessionTask,
    Option<mpsc::Receiver<MonitorEvent>>,
    DatabaseSchema,
);

impl Supervisor {
    async fn run(mut self, ready: oneshot::Sender<Result<DatabaseSchema, Error>>) {
        let mut ready = Some(ready);
        let mut next_id = 0u64;
        loop {
            let remote = self.config.remotes[self.next_remote % self.config.remotes.len()].clone();
            match self.establish(&remote).await {
                Ok((session, mut task, server_rx, schema)) => {
                    info!(%remote, db = %self.config.database, "ovsdb connected");
                    self.failures = 0;
                    self.connections.fetch_add(1, Ordering::Relaxed);
                    // Publish before answering `connect`, so a fresh
                    // client is usable at once.
                    self.live.send_replace(Some(Live {
                        session: session.clone(),
                        remote: remote.clone(),
                    }));
                    if let Some(r) = ready.take() {
                        let _ = r.send(Ok(schema));
                    }
                    let reason = self
                        .serve(&session, &mut task, server_rx, &mut next_id)
                        .await;
                    self.live.send_replace(None);
                    drop(task);
                    if matches!(reason, Error::Shutdown) {
                        return;
                    }
                    warn!(%remote, error = %reason, "ovsdb connection lost");
                    self.note_error(&reason);
                }
                Err(e @ Error::Schema(_)) if ready.is_some() => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(Err(e));
                    }
                    return;
                }
                Err(e) => {
                    warn!(%remote, error = %e, "ovsdb connect attempt failed");
                    self.note_error(&e);
                    self.failures = self.failures.saturating_add(1);
                }
            }
            // Rotate: a lost or refused member is the least likely to be the
            // leader next; with one remote this retries the same one.
            self.next_remote = self.next_remote.wrapping_add(1);
            let pause = self.config.backoff(self.failures);
            debug!(?pause, "ovsdb reconnect backoff");
            if !self.idle(pause, &mut next_id).await {
                return;
            }
        }
    }

    fn note_error(&self, e: &Error) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e.to_string();
    }

    /// Sleeps for `pause` while accepting new monitors (they are set up on
    /// the next connection). False when every `Client` is gone.
    async fn idle(&mut self, pause: Duration, next_id: &mut u64) -> bool {
        let sleep = tokio::time::sleep(pause);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                cmd = self.commands.recv() => match cmd {
                    None => return false,
                    Some(SupervisorCmd::AddMonitor { entry, ack }) => {
                        // Acked when established, after the next connect.
                        self.register(entry, ack, next_id, None).await;
                    }
                },
            }
        }
    }

    /// Adds a monitor; starts it at once on `session` if given, else on the
    /// next connection (and acks then).
    async fn register(
        &mut self,
        mut entry: MonitorEntry,
        ack: oneshot::Sender<Result<(), Error>>,
        next_id: &mut u64,
        session: Option<&Session>,
    ) {
        self.monitors.retain(|m| !m.sink.tx.is_closed());
        if self.monitors.len() >= MAX_MONITORS {
            let _ = ack.send(Err(Error::Busy(MAX_MONITORS)));
            return;
        }
        *next_id += 1;
        entry.id = format!("m{next_id}");
        let Some(session) = session else {
            entry.ack = Some(ack);
            self.monitors.push(entry);
            return;
        };
        let r = self.start_monitor(session, &entry).await;
        if r.is_ok() {
            self.monitors.push(entry);
        }
        let _ = ack.send(r);
    }

    async fn start_monitor(&self, session: &Session, entry: &MonitorEntry) -> Result<(), Error> {
        let since = entry
            .sink
            .last_txn_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| ZERO_TXN_ID.to_string());
        let params = json!([self.config.database, entry.id, entry.requests, since]);
        let method = "monitor_cond_since";
        let after = self.config.request_timeout;
        let start = session.monitor(method, params, entry.id.clone(), entry.sink.clone());
        tokio::time::timeout(after, start)
            .await
            .map_err(|_| Error::Timeout {
                method: method.into(),
                after,
            })?
    }

    /// Starts every kept monitor on a new connection. A new monitor the
    /// server refuses is dropped (its caller gets the error); any other
    /// failure fails the connection.
    async fn restart_monitors(&mut self, session: &Session) -> Result<(), Error> {
        self.monitors.retain(|m| !m.sink.tx.is_closed());
        let mut i = 0;
        while i < self.monitors.len() {
            match self.start_monitor(session, &self.monitors[i]).await {
                Ok(()) => {
                    if let Some(ack) = self.monitors[i].ack.take() {
                        let _ = ack.send(Ok(()));
                    }
                    i += 1;
                }
                Err(e @ Error::Rpc { .. }) if self.monitors[i].ack.is_some() => {
                    let entry = self.monitors.remove(i);
                    if let Some(ack) = entry.ack {
                        let _ = ack.send(Err(e));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn establish(&mut self, remote: &Remote) -> Result<Established, Error> {
        let cfg = self.config.clone();
        let after = cfg.connect_timeout;
        let timed_out = || Error::ConnectTimeout {
            remote: remote.to_string(),
            after,
        };
        let stream = tokio::time::timeout(after, remote::connect(remote, self.tls.as_ref()))
            .await
            .map_err(|_| timed_out())??;
        let (session, task) = Session::spawn(stream, cfg.echo_interval);
        // The first answers get the handshake's deadline: a member that
        // accepts but does not answer is skipped like one that refuses.
        let checks = async {
            let server_rx = if cfg.leader_only {
                Some(server::watch_leader(&session, &cfg.database, remote).await?)
            } else {
                None
            };
            let schema = session.call("get_schema", json!([cfg.database])).await?;
            let schema = DatabaseSchema::from_json(&schema)?;
            cfg.requirements.check(&schema)?;
            Ok::<_, Error>((server_rx, schema))
        };
        let (server_rx, schema) = tokio::time::timeout(after, checks)
            .await
            .map_err(|_| timed_out())??;
        self.restart_monitors(&session).await?;
        Ok((session, task, server_rx, schema))
    }

    /// Runs while the connection is good. Returns why it ended.
    async fn serve(
        &mut self,
        session: &Session,
        task: &mut SessionTask,
        mut server_rx: Option<mpsc::Receiver<MonitorEvent>>,
        next_id: &mut u64,
    ) -> Error {
        loop {
            tokio::select! {
                reason = task.closed() => return reason,
                ev = recv_opt(&mut server_rx) => match ev {
                    None => return Error::Disconnected,
                    Some(ev) if !server::still_leader(&ev) => {
                        return Error::NotLeader {
                            remote: self.current_remote(),
                            database: self.config.database.clone(),
                        }
                    }
                    Some(_) => {}
                },
                cmd = self.commands.recv() => match cmd {
                    None => return Error::Shutdown,
                    Some(SupervisorCmd::AddMonitor { entry, ack }) => {
                        self.register(entry, ack, next_id, Some(session)).await;
                    }
                },
            }
        }
    }

    fn current_remote(&self) -> String {
        self.live
            .borrow()
            .as_ref()
            .map(|l| l.remote.to_string())
            .unwrap_or_default()
    }
}

/// `rx.recv()`, or never if there is no receiver.
async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        let mut c = ClientConfig::new("db", vec![]);
        c.backoff_min = Duration::from_millis(100);
        c.backoff_max = Duration::from_secs(8);
        assert_eq!(c.backoff(0), Duration::from_millis(100));
        assert_eq!(c.backoff(3), Duration::from_millis(800));
        assert_eq!(c.backoff(7), Duration::from_secs(8));
        assert_eq!(c.backoff(u32::MAX), Duration::from_secs(8));
    }

    #[tokio::test]
    async fn no_remotes_is_an_error() {
        let r = Client::connect(ClientConfig::new("db", vec![])).await;
        assert!(matches!(r, Err(Error::BadRemote { .. })));
    }

    #[tokio::test]
    async fn unreachable_server_times_out_with_last_error() {
        let mut c = ClientConfig::parse("db", &["unix:/nonexistent/nb.sock"]).unwrap();
        c.initial_connect_timeout = Duration::from_millis(300);
        let err = Client::connect(c).await.err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("/nonexistent/nb.sock"), "{err}");
    }
}
