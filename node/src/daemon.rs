//! The running daemon: start the Raft node, serve the public API (with gRPC health
//! and reflection) and shut both down gracefully on SIGTERM or Ctrl-C.
//!
//! If Raft stops on its own (a storage error such as a full disk), the daemon
//! shuts down the same way and exits non-zero: a node whose Raft is gone can only
//! answer errors, and a restart by the service manager reopens the data dir and
//! rejoins (or fails with a clear error naming the data dir).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use prismnet_api::v1;
use prismnet_raft::{Bootstrap, PeerTls, RaftConfig, RaftNode};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tracing::{error, info, warn};

use crate::auth::Auth;
use crate::config::Config;
use crate::context::Context;
use crate::services::Service;

/// Largest request the API decodes; anything larger is refused before it is read
/// into memory (no request legitimately comes near it).
pub const REQUEST_BYTES_MAX: usize = 4 << 20;
/// How long in-flight calls get to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Streams a client may open and reset before this node accepted them, per
/// connection, before h2 closes the connection with GOAWAY `too_many_resets`.
///
/// h2's default (20) guards against "rapid reset" floods (CVE-2023-44487) on a
/// server that accepts streams as they arrive, where a queue of reset, unaccepted
/// streams does not build up. It does build up on a node that stalled (SIGSTOP, a
/// frozen VM, a long scheduling gap): its clients give up on their calls (attempt
/// timeouts, deadlines) and reset them, and the kernel queues all of it. On resuming,
/// the node reads every one of those streams before it can accept any, and with the
/// default it would then cut every client connection at once, failing the calls that
/// are still in flight on it. One connection per client carries all of that client's
/// calls to this node (the faults tests run 1000 at once through one client), so the
/// limit is sized for a few thousand. Each queued stream holds its header block (a
/// few hundred bytes for our calls, at most hyper's 16 KiB header list limit) until
/// it is accepted and dropped, which the node does right after it resumes.
pub const PENDING_ACCEPT_RESET_STREAMS_MAX: usize = 4096;

pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    if config.json_logs {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let span =
        tracing::info_span!("prismnetd", node_id = config.id, cluster = %config.cluster_name);
    let _guard = span.enter();

    let auth = Auth::load(config.tokens_file.as_deref())?;
    if auth.is_dev() {
        warn!(
            "DEV MODE: no tokens file configured; every caller is an admin and sees every project"
        );
    }
    if config.ovn_nb.is_empty() {
        info!("OVN driver off: no --ovn-nb remotes configured");
    } else {
        info!(remotes = ?config.ovn_nb, "OVN NB driver on: runs while this node leads");
    }

    let mut raft_cfg = RaftConfig::new(
        config.id,
        config.data_dir.clone(),
        config.raft_addr,
        config.advertise(),
        config.cluster_name.clone(),
    );
    raft_cfg.heartbeat_ms = config.heartbeat_ms;
    raft_cfg.election_min_ms = config.election_min_ms;
    raft_cfg.election_max_ms = config.election_max_ms;
    raft_cfg.snapshot_logs_since_last = config.snapshot_logs;
    raft_cfg.min_free_bytes = config.min_free_bytes;
    if config.min_free_bytes == 0 {
        warn!("free-space guard off (min_free_mb = 0): a full disk stops raft and this node exits");
    }
    if let Some(t) = &config.peer_tls {
        let read = |p: &std::path::Path| {
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))
        };
        raft_cfg.peer_tls = Some(PeerTls {
            cert_pem: read(&t.cert)?,
            key_pem: read(&t.key)?,
            ca_pem: read(&t.ca)?,
        });
        info!("mutual TLS between nodes on the raft port");
    }
    let boot = if config.join {
        Bootstrap::Join
    } else {
        Bootstrap::Peers(config.peers.clone())
    };
    let raft = Arc::new(
        RaftNode::start(raft_cfg, boot)
            .await
            .context("starting the raft node")?,
    );
    info!(raft_addr = %config.raft_addr, api_addr = %config.api_addr, "raft node started");
    tokio::spawn(log_leadership(raft.clone(), config.id));

    let ovn = if config.ovn_nb.is_empty() {
        None
    } else {
        let token = auth.admin_token();
        Some(
            crate::ovn::Ovn::start(raft.clone(), &config.ovn_nb, &config.cluster_name, token)
                .context("configuring the OVN NB driver")?,
        )
    };
    let ctx = Arc::new(Context {
        raft: raft.clone(),
        auth,
        ovn,
    });
    let service = Service { ctx };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let mut server = Server::builder();
    if let Some(tls) = &config.tls {
        let cert =
            std::fs::read(&tls.cert).with_context(|| format!("reading {}", tls.cert.display()))?;
        let key =
            std::fs::read(&tls.key).with_context(|| format!("reading {}", tls.key.display()))?;
        let mut t = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        if let Some(ca) = &tls.client_ca {
            t = t.client_ca_root(Certificate::from_pem(
                std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?,
            ));
        }
        server = server.tls_config(t).context("configuring API TLS")?;
    }

    let listener = tokio::net::TcpListener::bind(config.api_addr)
        .await
        .with_context(|| format!("binding the API address {}", config.api_addr))?;
    info!(api_addr = %config.api_addr, "serving the API");
    // tonic's own `tcp_nodelay` does not apply to an incoming stream we pass in; set
    // it per connection, or small answers wait on Nagle's algorithm (milliseconds).
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |conn| {
            if let Ok(c) = &conn {
                let _ = c.set_nodelay(true);
            }
            conn
        },
    );
    // Set when Raft stopped on its own: the reason the process exits non-zero.
    let fatal: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let stop = {
        let (raft, fatal) = (raft.clone(), fatal.clone());
        async move {
            tokio::select! {
                _ = shutdown_signal() => {}
                cause = raft.stopped_on_error() => {
                    error!("raft stopped: {cause}; exiting so the service manager restarts this node");
                    *fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(cause);
                }
            }
        }
    };
    serve_api(server, service, health_service, incoming, stop)
        .await
        .context("API server")?;

    // In-flight calls are done (or the grace period ran out); stop Raft last so they
    // could still commit.
    info!("shutting down raft");
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    let shutdown = tokio::time::timeout(SHUTDOWN_GRACE, raft.shutdown()).await;
    let fatal = fatal.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(cause) = fatal {
        // Raft is already stopped; the shutdown only releases the peer port and
        // RocksDB, and its errors say nothing new.
        if let Ok(Err(e)) = shutdown {
            info!(error = %e, "raft shutdown after the stop");
        }
        anyhow::bail!("raft stopped: {cause}");
    }
    match shutdown {
        Ok(Ok(())) => info!("stopped cleanly"),
        Ok(Err(e)) => warn!(error = %e, "raft shutdown reported an error"),
        Err(_) => warn!("raft shutdown timed out"),
    }
    Ok(())
}

/// Serves the public API (every service, health and reflection) on `incoming`
/// until `stop` resolves: what every node serves, over TCP in prismnetd and over
/// the simulated network in `sim/`.
pub async fn serve_api<IO, IE>(
    server: Server,
    service: Service,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
    incoming: impl tokio_stream::Stream<Item = Result<IO, IE>>,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()>
where
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(prismnet_api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;
    macro_rules! svc {
        ($($server:ident)::+) => {
            v1::$($server)::+::new(service.clone()).max_decoding_message_size(REQUEST_BYTES_MAX)
        };
    }
    let revision = {
        let raft = service.ctx.raft.clone();
        move |r| crate::errors::with_revision(r, raft.applied_index())
    };
    let server =
        server.http2_max_pending_accept_reset_streams(Some(PENDING_ACCEPT_RESET_STREAMS_MAX));
    server
        .layer(tower::util::MapResponseLayer::new(revision))
        .layer(tower::util::MapResponseLayer::new(
            crate::errors::request_too_large,
        ))
        .add_service(health)
        .add_service(reflection)
        .add_service(svc!(project_service_server::ProjectServiceServer))
        .add_service(svc!(vpc_service_server::VpcServiceServer))
        .add_service(svc!(subnet_service_server::SubnetServiceServer))
        .add_service(svc!(port_service_server::PortServiceServer))
        .add_service(svc!(
            security_group_service_server::SecurityGroupServiceServer
        ))
        .add_service(svc!(
            external_network_service_server::ExternalNetworkServiceServer
        ))
        .add_service(svc!(floating_ip_service_server::FloatingIpServiceServer))
        .add_service(svc!(admin_service_server::AdminServiceServer))
        .add_service(svc!(ovn_service_server::OvnServiceServer))
        .serve_with_incoming_shutdown(incoming, stop)
        .await
        .context("serving the API")
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => info!("interrupt: shutting down"),
    }
}

/// One log line per change of leader or term, with the node id on it.
async fn log_leadership(raft: Arc<RaftNode>, id: u64) {
    let mut metrics = raft.metrics();
    let mut last = (None, 0);
    loop {
        let (leader, term) = {
            let m = metrics.borrow_and_update();
            (m.current_leader, m.current_term)
        };
        if (leader, term) != last {
            info!(node_id = id, term, leader = ?leader, is_leader = leader == Some(id), "leadership");
            last = (leader, term);
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
