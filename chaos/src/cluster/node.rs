//! One `prismnetd` of the cluster under test, in its own namespace.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::net::{addr, Host};
use super::sys::{io_err, Daemon, Ledger, Result, SysError};
use crate::lazyfs::{Control, Dropped};

pub const API_PORT: u16 = 7001;
pub const RAFT_PORT: u16 = 7101;
/// Where the delay proxy in front of a node's Raft port listens (when there is
/// one: `failpoint::delay`); peers are given this port then.
pub const RAFT_PROXY_PORT: u16 = 7102;
/// How long a stopped node gets to shut down before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The address of node `id`'s host.
pub fn node_ip(id: u64) -> std::net::Ipv4Addr {
    addr(10 + u8::try_from(id).unwrap_or(0))
}

/// How long a lazyfs daemon gets to unmount before SIGKILL.
const LAZYFS_GRACE: Duration = Duration::from_secs(2);

/// The lazyfs mount a node's data dir is on (in runs with a power nemesis).
/// Dropped after the node's prismnetd (field order in [`Node`]): the daemon
/// unmounts on SIGTERM, then exits.
pub struct DataMount {
    pub mount: PathBuf,
    pub control: Control,
    pub daemon: Daemon,
}

impl Drop for DataMount {
    fn drop(&mut self) {
        self.daemon.stop(LAZYFS_GRACE);
    }
}

/// How a node is run; changed by nemeses (a clock offset) between restarts.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// Environment variables added to the node's (libfaketime's, for a clock).
    pub env: Vec<(String, String)>,
}

pub struct Node {
    pub id: u64,
    pub host: Host,
    /// Where its data dir lives (a directory, or a LazyFS mount).
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub launch: Launch,
    /// Added to the cluster after it formed (started with `--join`).
    pub joiner: bool,
    /// The delay proxy in front of its Raft port, if the run has one.
    pub proxy: Option<Daemon>,
    daemon: Option<Daemon>,
    /// Its data dir's lazyfs mount, if the run has one; after `daemon`, so that
    /// prismnetd is gone before the mount is.
    pub lazyfs: Option<DataMount>,
}

impl Node {
    pub fn new(id: u64, host: Host, data_dir: PathBuf, log: PathBuf) -> Node {
        Node {
            id,
            host,
            data_dir,
            log,
            launch: Launch::default(),
            joiner: false,
            proxy: None,
            daemon: None,
            lazyfs: None,
        }
    }

    pub fn api(&self) -> SocketAddr {
        SocketAddr::from((node_ip(self.id), API_PORT))
    }

    /// Where it listens for peers.
    pub fn raft(&self) -> SocketAddr {
        SocketAddr::from((node_ip(self.id), RAFT_PORT))
    }

    /// Where peers reach it: its proxy when it has one.
    pub fn raft_advertised(&self) -> SocketAddr {
        let port = if self.proxy.is_some() {
            RAFT_PROXY_PORT
        } else {
            RAFT_PORT
        };
        SocketAddr::from((node_ip(self.id), port))
    }

    /// `http://host:port` of its API, as clients are given it.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.api())
    }

    /// `id=raft/api` for `--peers`.
    pub fn peer_spec(&self) -> String {
        format!("{}={}/{}", self.id, self.raft_advertised(), self.api())
    }

    pub fn is_running(&mut self) -> bool {
        self.daemon.as_mut().is_some_and(Daemon::alive)
    }

    pub fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().and_then(Daemon::pid)
    }

    /// Starts the node (again) with `args` after the common ones.
    pub fn start(
        &mut self,
        ledger: &Ledger,
        binary: &std::path::Path,
        args: &[String],
    ) -> Result<()> {
        if self.daemon.is_some() {
            return Ok(());
        }
        let mut cmd = self.host.command(&binary.to_string_lossy());
        cmd.arg("--id")
            .arg(self.id.to_string())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--raft-addr")
            .arg(self.raft().to_string())
            .arg("--api-addr")
            .arg(self.api().to_string())
            .args(args);
        for (k, v) in &self.launch.env {
            cmd.env(k, v);
        }
        cmd.env("NO_COLOR", "1");
        self.daemon = Some(Daemon::spawn(
            ledger,
            &format!("prismnetd-{}", self.id),
            cmd,
            self.log.clone(),
        )?);
        Ok(())
    }

    /// SIGKILL: a crash (the page cache survives; see the power nemesis for more).
    pub fn kill(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.kill();
        }
    }

    /// Power loss: SIGKILL, then every write it did not fsync is lost (`torn`:
    /// all but a prefix of the last write). Needs a lazyfs data dir.
    pub fn power_cut(&mut self, torn: bool) -> Result<Dropped> {
        self.kill();
        let m = self.lazyfs.as_ref().ok_or_else(|| SysError::Failed {
            command: format!("power cut of node {}", self.id),
            status: "no lazyfs".into(),
            output: "the node's data dir is not on lazyfs".into(),
        })?;
        let what = format!("lazyfs control {}", m.control.socket.display());
        if torn {
            m.control.torn()
        } else {
            m.control.lose_unsynced()
        }
        .map_err(io_err(what))
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`].
    pub fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.stop(STOP_GRACE);
        }
    }

    pub fn pause(&self) {
        if let Some(d) = &self.daemon {
            d.signal(libc::SIGSTOP);
        }
    }

    pub fn resume(&self) {
        if let Some(d) = &self.daemon {
            d.signal(libc::SIGCONT);
        }
    }
}
