//! The cluster under test: three `prismnetd` processes, each in its own network
//! namespace, a clustered OVN NB (three members) with SB and northd, and the
//! bridge that joins them to the clients in the root namespace (see `net.rs`).
//! Everything it creates is in the run's ledger (`sys.rs`) and removed when the
//! [`Cluster`] is dropped, after a failure too; one run at a time (a lock).

pub mod net;
pub mod node;
pub mod ovn;
pub mod sys;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use net::{Host, Net};
use node::{node_ip, Node};
use ovn::{member_ip, Ovn, NB_MEMBERS};
use sys::{io_err, Ledger, Result, SysError, LEDGER_DIR};

/// Size of each node's data file system (tmpfs), MiB.
pub const DISK_MB: u64 = 768;

/// The cluster name the nodes run under (their NB fence key is named by it).
pub const CLUSTER_NAME: &str = "chaos";

#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub prismnetd: PathBuf,
    /// The run directory: logs, data dirs, NB databases.
    pub dir: PathBuf,
    pub nodes: u64,
    /// More flags for every node.
    pub node_args: Vec<String>,
    /// More environment for every node.
    pub node_env: Vec<(String, String)>,
    /// Run every node under libfaketime (for the clock nemeses).
    pub fake_clocks: bool,
    /// Put a delay proxy in front of every node's Raft port (`failpoint::delay`).
    pub raft_proxies: bool,
    /// Put every node's data dir on a lazyfs mount over its disk (for the power
    /// nemeses: `crate::lazyfs`).
    pub lazyfs: bool,
}

pub struct Cluster {
    pub config: ClusterConfig,
    pub nodes: BTreeMap<u64, Node>,
    pub ovn: Ovn,
    pub net: Net,
    peers: String,
    _lock: File,
    /// Dropped last: removes what the fields above could not (namespaces, links).
    pub ledger: Ledger,
}

/// Holds `/run/prismnet-chaos/run.lock` (flock): two runs would share addresses.
fn lock_runs() -> Result<File> {
    std::fs::create_dir_all(LEDGER_DIR).map_err(io_err(LEDGER_DIR))?;
    let path = Path::new(LEDGER_DIR).join("run.lock");
    let f = File::create(&path).map_err(io_err(path.display().to_string()))?;
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(SysError::Failed {
            command: "flock run.lock".into(),
            status: "busy".into(),
            output: "another prismnet-chaos run is in progress".into(),
        });
    }
    Ok(f)
}

/// A node of the run: its namespace, directory and launch environment.
fn make_node(ledger: &Ledger, net: &Net, config: &ClusterConfig, id: u64) -> Result<Node> {
    let host = net.host(ledger, &format!("n{id}"), &[node_ip(id)])?;
    let dir = config.dir.join(format!("n{id}"));
    let disk = dir.join("disk");
    std::fs::create_dir_all(&disk).map_err(io_err(disk.display().to_string()))?;
    // Each node's own small file system, so that the disk-full nemesis fills one
    // node's disk only (RAM-backed: fast, and gone with the run).
    ledger.will_create(sys::Resource::Mount(disk.clone()))?;
    sys::run(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={DISK_MB}m"),
            "tmpfs",
            &disk.to_string_lossy(),
        ],
    )?;
    let lazyfs = if config.lazyfs {
        Some(start_lazyfs(ledger, &host, &dir, &disk)?)
    } else {
        None
    };
    let data_dir = match &lazyfs {
        Some(m) => m.mount.join("data"),
        None => disk.join("data"),
    };
    let mut node = Node::new(id, host, data_dir, dir.join("prismnetd.log"));
    node.lazyfs = lazyfs;
    if config.fake_clocks {
        let file = crate::failpoint::clock::offset_file(&dir);
        crate::failpoint::clock::set(&file, "+0")?;
        node.launch.env = crate::failpoint::clock::env(&file);
    }
    node.launch.env.extend(config.node_env.iter().cloned());
    if config.raft_proxies {
        node.proxy = Some(start_proxy(ledger, &node, &dir)?);
    }
    Ok(node)
}

/// `prismnet-chaos lazyfs` over `disk/backing`, mounted at `disk/lazyfs`: started
/// in the root namespaces, before the node's prismnetd (which sees the mount
/// through `ip netns exec`'s copy of the root mount namespace; checked here).
/// The mount is in the ledger before the daemon: a sweep kills prismnetd and the
/// daemon (processes first), then detaches the mount.
fn start_lazyfs(ledger: &Ledger, host: &Host, dir: &Path, disk: &Path) -> Result<node::DataMount> {
    let backing = disk.join("backing");
    let mount = disk.join("lazyfs");
    let control = dir.join("lazyfs.sock");
    for d in [&backing, &mount] {
        std::fs::create_dir_all(d).map_err(io_err(d.display().to_string()))?;
    }
    ledger.will_create(sys::Resource::Mount(mount.clone()))?;
    let exe = std::env::current_exe().map_err(io_err("locating prismnet-chaos"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("lazyfs")
        .arg("--backing")
        .arg(&backing)
        .arg("--mount")
        .arg(&mount)
        .arg("--control")
        .arg(&control)
        .env("NO_COLOR", "1");
    let name = format!(
        "lazyfs-{}",
        dir.file_name().unwrap_or_default().to_string_lossy()
    );
    let daemon = sys::Daemon::spawn(ledger, &name, cmd, dir.join("lazyfs.log"))?;
    let m = node::DataMount {
        mount,
        control: crate::lazyfs::Control::new(control),
        daemon,
    };
    sys::wait_for("lazyfs mounted", LAZYFS_START, || {
        (crate::lazyfs::is_fuse_mount(&m.mount) && m.control.socket.exists()).then_some(())
    })?;
    let seen = host.exec("stat", &["-f", "-c", "%t", &m.mount.to_string_lossy()])?;
    if seen.trim() != format!("{:x}", crate::lazyfs::FUSE_SUPER_MAGIC) {
        return Err(SysError::Failed {
            command: format!("stat -f {} in the node's namespace", m.mount.display()),
            status: format!("file system type {}", seen.trim()),
            output: "the lazyfs mount is not visible where prismnetd runs".into(),
        });
    }
    Ok(m)
}

/// How long a lazyfs daemon gets to mount.
const LAZYFS_START: std::time::Duration = std::time::Duration::from_secs(10);

/// `prismnet-chaos proxy` in the node's namespace, forwarding its advertised Raft
/// port to the one it listens on.
fn start_proxy(ledger: &Ledger, node: &Node, dir: &Path) -> Result<sys::Daemon> {
    let file = crate::failpoint::delay::delay_file(dir);
    crate::failpoint::delay::set(&file, 0)?;
    let exe = std::env::current_exe().map_err(io_err("locating prismnet-chaos"))?;
    let mut cmd = node.host.command(&exe.to_string_lossy());
    cmd.arg("proxy")
        .arg("--listen")
        .arg(std::net::SocketAddr::from((node_ip(node.id), node::RAFT_PROXY_PORT)).to_string())
        .arg("--to")
        .arg(node.raft().to_string())
        .arg("--delay-file")
        .arg(&file);
    sys::Daemon::spawn(
        ledger,
        &format!("proxy-{}", node.id),
        cmd,
        dir.join("proxy.log"),
    )
}

/// A short tag for names (interface names are limited to 15 characters).
fn tag() -> String {
    format!("{:x}", std::process::id() % 0x1000)
}

impl Cluster {
    /// Builds the network, starts OVN and every node, and returns once they all run.
    pub fn start(config: ClusterConfig) -> Result<Cluster> {
        let lock = lock_runs()?;
        let ledger = Ledger::open()?;
        std::fs::create_dir_all(&config.dir).map_err(io_err(config.dir.display().to_string()))?;
        let net = Net::create(&ledger, &tag())?;
        let nb_ips: Vec<_> = (1..=NB_MEMBERS).map(member_ip).collect();
        let nb_host = net.host(&ledger, "nb", &nb_ips)?;
        let ovn_dir = config.dir.join("ovn");
        std::fs::create_dir_all(&ovn_dir).map_err(io_err("ovn dir"))?;
        let ovn = Ovn::start(&ledger, nb_host, &ovn_dir)?;
        let mut nodes = BTreeMap::new();
        for id in 1..=config.nodes {
            nodes.insert(id, make_node(&ledger, &net, &config, id)?);
        }
        let peers = nodes
            .values()
            .map(Node::peer_spec)
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Cluster {
            config,
            nodes,
            ovn,
            net,
            peers,
            _lock: lock,
            ledger,
        };
        let ids: Vec<u64> = c.nodes.keys().copied().collect();
        for id in ids {
            c.start_node(id)?;
        }
        Ok(c)
    }

    /// The flags node `id` gets.
    fn args(&self, id: u64) -> Vec<String> {
        let mut a = if self.nodes.get(&id).is_some_and(|n| n.joiner) {
            vec!["--join".to_string()]
        } else {
            vec!["--peers".to_string(), self.peers.clone()]
        };
        a.extend([
            "--ovn-nb".to_string(),
            self.ovn.remotes().join(","),
            "--cluster-name".to_string(),
            CLUSTER_NAME.to_string(),
            "--log-level".to_string(),
            "info".to_string(),
        ]);
        a.extend(self.config.node_args.iter().cloned());
        a
    }

    /// Prepares and starts node `id` with `--join`: it waits to be added
    /// (AddNode) by the leader.
    pub fn start_joiner(&mut self, id: u64) -> Result<()> {
        let mut node = make_node(&self.ledger, &self.net, &self.config, id)?;
        node.joiner = true;
        self.nodes.insert(id, node);
        self.start_node(id)
    }

    /// Takes node `id` out of the run for good (after a RemoveNode): killed, not
    /// restarted by later faults.
    pub fn forget_node(&mut self, id: u64) {
        if let Some(mut n) = self.nodes.remove(&id) {
            n.kill();
        }
    }

    /// (Re)starts node `id` on its data dir.
    pub fn start_node(&mut self, id: u64) -> Result<()> {
        let args = self.args(id);
        let binary = self.config.prismnetd.clone();
        let node = self.nodes.get_mut(&id).ok_or_else(|| SysError::Failed {
            command: format!("start node {id}"),
            status: "unknown node".into(),
            output: String::new(),
        })?;
        node.start(&self.ledger, &binary, &args)
    }

    /// The file system node `id`'s data dir is on.
    pub fn disk_dir(&self, id: u64) -> PathBuf {
        self.node_dir(id).join("disk")
    }

    /// Node `id`'s directory in the run dir (its log, its clock file).
    pub fn node_dir(&self, id: u64) -> PathBuf {
        self.config.dir.join(format!("n{id}"))
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[&id]
    }

    pub fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes.get_mut(&id).expect("known node")
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// API endpoints of every node, as the clients are given them.
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.values().map(Node::endpoint).collect()
    }

    pub fn host(&self, id: u64) -> &Host {
        &self.nodes[&id].host
    }

    /// Every node's address, by id.
    pub fn ips(&self) -> BTreeMap<u64, std::net::Ipv4Addr> {
        self.nodes.keys().map(|id| (*id, node_ip(*id))).collect()
    }
}
