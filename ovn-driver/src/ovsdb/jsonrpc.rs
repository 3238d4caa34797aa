//! One JSON-RPC 1.0 connection to an OVSDB server: matches responses to
//! requests by id, answers the server's `echo`, probes liveness with our own
//! `echo`, and routes monitor notifications to their sinks.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, trace, warn};

use super::codec::{encode, FrameDecoder};
use super::error::Error;
use super::monitor::MonitorSink;
use super::ops::json_text;
use super::remote::BoxStream;

/// Commands queued from callers to the connection task.
const COMMAND_QUEUE: usize = 64;
/// Encoded messages queued for the writer task.
const OUTGOING_QUEUE: usize = 256;
/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// Requests awaiting an answer; more are refused with `Error::Busy`.
pub(crate) const MAX_PENDING_REQUESTS: usize = 4096;
/// Silence for this many echo intervals ends the connection.
const PROBE_MISSES: u32 = 2;

pub(crate) enum Command {
    Call {
        method: &'static str,
        params: Json,
        reply: oneshot::Sender<Result<Json, Error>>,
    },
    /// A monitor request: on success its sink is registered under
    /// `monitor_id` before any later message is read, so no update is lost
    /// or reordered ahead of the initial contents.
    Monitor {
        method: &'static str,
        params: Json,
        monitor_id: String,
        sink: MonitorSink,
        ack: oneshot::Sender<Result<(), Error>>,
    },
}

enum Pending {
    Call(&'static str, oneshot::Sender<Result<Json, Error>>),
    Monitor {
        method: &'static str,
        monitor_id: String,
        sink: MonitorSink,
        ack: oneshot::Sender<Result<(), Error>>,
    },
    Probe,
}

/// A cloneable handle to send requests on one connection.
#[derive(Clone)]
pub(crate) struct Session {
    tx: mpsc::Sender<Command>,
}

/// Owns the connection's tasks; dropping it closes the connection.
pub(crate) struct SessionTask {
    reader: JoinHandle<Error>,
    writer: JoinHandle<()>,
}

impl SessionTask {
    /// Resolves when the connection ends, with the reason.
    pub async fn closed(&mut self) -> Error {
        match (&mut self.reader).await {
            Ok(e) => e,
            Err(e) => Error::Protocol(format!("connection task failed: {e}")),
        }
    }
}

impl Drop for SessionTask {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

impl Session {
    pub fn spawn(stream: BoxStream, echo_interval: Duration) -> (Session, SessionTask) {
        let (read, mut write) = tokio::io::split(stream);
        let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(OUTGOING_QUEUE);
        let writer = tokio::spawn(async move {
            while let Some(bytes) = out_rx.recv().await {
                if let Err(e) = write.write_all(&bytes).await {
                    debug!(error = %e, "ovsdb write failed");
                    return;
                }
            }
        });
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let conn = Conn {
            out: out_tx,
            pending: HashMap::new(),
            monitors: HashMap::new(),
            next_id: 1,
        };
        let reader = tokio::spawn(conn.run(read, rx, echo_interval));
        (Session { tx }, SessionTask { reader, writer })
    }

    pub async fn call(&self, method: &'static str, params: Json) -> Result<Json, Error> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Call {
            method,
            params,
            reply,
        };
        self.tx.send(cmd).await.map_err(|_| Error::Disconnected)?;
        rx.await.map_err(|_| Error::Disconnected)?
    }

    pub async fn monitor(
        &self,
        method: &'static str,
        params: Json,
        monitor_id: String,
        sink: MonitorSink,
    ) -> Result<(), Error> {
        let (ack, rx) = oneshot::channel();
        let cmd = Command::Monitor {
            method,
            params,
            monitor_id,
            sink,
            ack,
        };
        self.tx.send(cmd).await.map_err(|_| Error::Disconnected)?;
        rx.await.map_err(|_| Error::Disconnected)?
    }
}

struct Conn {
    out: mpsc::Sender<Vec<u8>>,
    pending: HashMap<u64, Pending>,
    monitors: HashMap<String, MonitorSink>,
    next_id: u64,
}

impl Conn {
    async fn run(
        mut self,
        mut read: tokio::io::ReadHalf<BoxStream>,
        mut commands: mpsc::Receiver<Command>,
        echo_interval: Duration,
    ) -> Error {
        let mut decoder = FrameDecoder::new();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut last_rx = Instant::now();
        let mut tick = tokio::time::interval(echo_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                n = read.read(&mut buf) => match n {
                    Ok(0) => Err(Error::Disconnected),
                    Ok(n) => {
                        last_rx = Instant::now();
                        decoder.push(&buf[..n]);
                        self.drain(&mut decoder).await
                    }
                    Err(e) => Err(Error::Io(e)),
                },
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => Err(Error::Shutdown),
                },
                _ = tick.tick() => self.probe(last_rx.elapsed(), echo_interval).await,
            };
            if let Err(e) = step {
                self.fail_pending();
                return e;
            }
        }
    }

    async fn drain(&mut self, decoder: &mut FrameDecoder) -> Result<(), Error> {
        while let Some(msg) = decoder.next_frame()? {
            trace!(%msg, "ovsdb <-");
            self.incoming(msg).await?;
        }
        Ok(())
    }

    async fn send(&mut self, msg: Json) -> Result<(), Error> {
        trace!(%msg, "ovsdb ->");
        self.out
            .send(encode(&msg))
            .await
            .map_err(|_| Error::Disconnected)
    }

    async fn request(&mut self, method: &str, params: Json, pending: Pending) -> Result<(), Error> {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, pending);
        self.send(json!({"id": id, "method": method, "params": params}))
            .await
    }

    async fn command(&mut self, cmd: Command) -> Result<(), Error> {
        if self.pending.len() >= MAX_PENDING_REQUESTS {
            let busy = Error::Busy(MAX_PENDING_REQUESTS);
            match cmd {
                Command::Call { reply, .. } => drop(reply.send(Err(busy))),
                Command::Monitor { ack, .. } => drop(ack.send(Err(busy))),
            }
            return Ok(());
        }
        match cmd {
            Command::Call {
                method,
                params,
                reply,
            } => {
                self.request(method, params, Pending::Call(method, reply))
                    .await
            }
            Command::Monitor {
                method,
                params,
                monitor_id,
                sink,
                ack,
            } => {
                let pending = Pending::Monitor {
                    method,
                    monitor_id,
                    sink,
                    ack,
                };
                self.request(method, params, pending).await
            }
        }
    }

    /// Our liveness probe: after one quiet interval ask for an echo, after
    /// `PROBE_MISSES` give up (the server or the path to it is dead).
    async fn probe(&mut self, quiet: Duration, interval: Duration) -> Result<(), Error> {
        if quiet >= interval * PROBE_MISSES {
            warn!(?quiet, "ovsdb server silent, closing connection");
            return Err(Error::ProbeTimeout(quiet));
        }
        // Probe from half an interval of silence on: ticks come every interval, so
        // by the time silence reaches PROBE_MISSES intervals an echo has been out for
        // at least one whole interval unanswered. (Probing only from one full
        // interval raced the drop check: a tick a hair early skipped the echo and the
        // next one dropped a healthy connection, e.g. every 10 s on unix sockets,
        // where ovsdb-server sends no echo of its own.)
        if quiet >= interval / 2 {
            self.request("echo", json!([]), Pending::Probe).await?;
        }
        Ok(())
    }

    async fn incoming(&mut self, msg: Json) -> Result<(), Error> {
        let id = msg.get("id").cloned().unwrap_or(Json::Null);
        if let Some(method) = msg.get("method").and_then(Json::as_str) {
            let params = msg.get("params").cloned().unwrap_or(json!([]));
            return if !id.is_null() {
                self.server_request(id, method, params).await
            } else {
                self.notification(method, params).await
            };
        }
        let Some(pending) = id.as_u64().and_then(|id| self.pending.remove(&id)) else {
            debug!(%id, "ovsdb reply to no pending request");
            return Ok(());
        };
        let result = match msg.get("error") {
            Some(e) if !e.is_null() => Err(e.clone()),
            _ => Ok(msg.get("result").cloned().unwrap_or(Json::Null)),
        };
        match pending {
            Pending::Probe => Ok(()),
            Pending::Call(method, reply) => {
                // The caller may have timed out and gone: nothing to do then.
                let _ = reply.send(result.map_err(|e| rpc_error(method, &e)));
                Ok(())
            }
            Pending::Monitor {
                method,
                monitor_id,
                sink,
                ack,
            } => {
                let outcome = match result {
                    Err(e) => Err(rpc_error(method, &e)),
                    Ok(r) => sink.deliver_reply(method, &r).await.map(|_| ()),
                };
                if outcome.is_ok() {
                    self.monitors.insert(monitor_id, sink);
                }
                let _ = ack.send(outcome);
                Ok(())
            }
        }
    }

    async fn server_request(&mut self, id: Json, method: &str, params: Json) -> Result<(), Error> {
        if method == "echo" {
            // Unanswered echoes make the server drop us after its inactivity
            // probe (5 s on TCP by default).
            return self
                .send(json!({"id": id, "result": params, "error": null}))
                .await;
        }
        warn!(method, "ovsdb server sent an unknown request");
        self.send(json!({"id": id, "result": null, "error": "unknown method"}))
            .await
    }

    async fn notification(&mut self, method: &str, params: Json) -> Result<(), Error> {
        let params = params.as_array().map(Vec::as_slice).unwrap_or_default();
        let monitor_id = params.first().and_then(Json::as_str).unwrap_or_default();
        match (method, self.monitors.get(monitor_id)) {
            ("update2" | "update3", Some(sink)) => {
                // A malformed update ends the connection (`?`): skipping it
                // would leave the caller's cache silently stale, while a
                // reconnect resynchronizes it.
                if !sink.deliver_update(method, params).await? {
                    // The consumer is gone: stop delivering to it.
                    debug!(monitor_id, "monitor receiver dropped");
                    let id = monitor_id.to_string();
                    self.monitors.remove(&id);
                    self.request("monitor_cancel", json!([id]), Pending::Probe)
                        .await?;
                }
                Ok(())
            }
            _ => {
                debug!(method, "ovsdb notification ignored");
                Ok(())
            }
        }
    }

    fn fail_pending(&mut self) {
        for (_, p) in self.pending.drain() {
            match p {
                Pending::Call(_, reply) => drop(reply.send(Err(Error::Disconnected))),
                Pending::Monitor { ack, .. } => drop(ack.send(Err(Error::Disconnected))),
                Pending::Probe => {}
            }
        }
    }
}

fn rpc_error(method: &str, e: &Json) -> Error {
    let (error, details) = match e.get("error") {
        Some(inner) => (
            json_text(inner),
            e.get("details").map(json_text).unwrap_or_default(),
        ),
        None => (json_text(e), String::new()),
    };
    Error::Rpc {
        method: method.to_string(),
        error,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncRead, DuplexStream, ReadHalf};

    /// Reads our next message the way a server would: byte by byte.
    async fn next_msg(r: &mut (impl AsyncRead + Unpin), dec: &mut FrameDecoder) -> Json {
        let mut byte = [0u8; 1];
        loop {
            if let Some(m) = dec.next_frame().unwrap() {
                return m;
            }
            r.read_exact(&mut byte).await.unwrap();
            dec.push(&byte);
        }
    }

    fn pipe() -> (
        BoxStream,
        ReadHalf<DuplexStream>,
        tokio::io::WriteHalf<DuplexStream>,
    ) {
        let (client, server) = tokio::io::duplex(1024);
        let (r, w) = tokio::io::split(server);
        (Box::new(client), r, w)
    }

    /// A fake server on an in-memory pipe: we must answer its echo and match
    /// out-of-order replies by id, whatever the batching of its writes.
    #[tokio::test]
    async fn echo_and_out_of_order_replies() {
        let (client, mut sr, mut sw) = pipe();
        let (session, _task) = Session::spawn(client, Duration::from_secs(60));
        let s1 = session.clone();
        let a = tokio::spawn(async move { s1.call("list_dbs", json!([])).await });
        let s2 = session.clone();
        let b = tokio::spawn(async move { s2.call("get_schema", json!(["x"])).await });

        let mut dec = FrameDecoder::new();
        let mut ids = HashMap::new();
        for _ in 0..2 {
            let m = next_msg(&mut sr, &mut dec).await;
            ids.insert(m["method"].as_str().unwrap().to_string(), m["id"].clone());
        }
        let batch = format!(
            "{}{}\n{}",
            json!({"id": "echo", "method": "echo", "params": ["hi"]}),
            json!({"id": ids["get_schema"], "result": null,
                   "error": {"error": "unknown database", "details": "x"}}),
            json!({"id": ids["list_dbs"], "result": ["OVN_Northbound"], "error": null}),
        );
        let (p1, p2) = batch.as_bytes().split_at(batch.len() / 2);
        sw.write_all(p1).await.unwrap();
        sw.write_all(p2).await.unwrap();

        assert_eq!(a.await.unwrap().unwrap(), json!(["OVN_Northbound"]));
        let err = b.await.unwrap().unwrap_err();
        assert!(
            matches!(&err, Error::Rpc { error, .. } if error == "unknown database"),
            "{err}"
        );
        assert_eq!(
            next_msg(&mut sr, &mut dec).await,
            json!({"id": "echo", "result": ["hi"], "error": null})
        );
    }

    #[tokio::test]
    async fn eof_fails_pending_requests() {
        let (client, sr, sw) = pipe();
        let (session, mut task) = Session::spawn(client, Duration::from_secs(60));
        let call = tokio::spawn(async move { session.call("list_dbs", json!([])).await });
        tokio::task::yield_now().await;
        drop((sr, sw));
        assert!(matches!(call.await.unwrap(), Err(Error::Disconnected)));
        assert!(matches!(task.closed().await, Error::Disconnected));
    }

    #[tokio::test(start_paused = true)]
    async fn silent_server_trips_the_probe() {
        let (client, mut sr, _sw) = pipe();
        let (_session, mut task) = Session::spawn(client, Duration::from_secs(1));
        let mut dec = FrameDecoder::new();
        let probe = tokio::spawn(async move { next_msg(&mut sr, &mut dec).await });
        assert!(matches!(task.closed().await, Error::ProbeTimeout(_)));
        assert_eq!(probe.await.unwrap()["method"], "echo");
    }
}
