//! A `prismnetd` cluster whose nodes drive one OVN stack's NB (`--ovn-nb`): real
//! processes on 127.0.0.1, each with its own data dir and log in a temp dir, killed
//! on drop.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prismnet_api::v1;
use prismnet_api::{ClientConfig, PrismClient};

use super::sys::{self, tail};

pub const READY: Duration = Duration::from_secs(60);

pub struct Node {
    pub id: u64,
    pub raft_addr: SocketAddr,
    pub api_addr: SocketAddr,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("prismnetd.log")
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.api_addr)
    }
}

pub struct PrismCluster {
    pub name: String,
    pub nodes: Vec<Node>,
    bin: PathBuf,
    peers: String,
    ovn_nb: String,
    /// Extra flags for every node.
    pub args: Vec<String>,
    _tmp: tempfile::TempDir,
}

fn free_addr() -> io::Result<SocketAddr> {
    // Bound and released: another process could take it before the node does,
    // which then fails to start and says so.
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

impl PrismCluster {
    /// Prepares `n` nodes driving `ovn_nb` and starts them all.
    pub fn start(bin: &Path, n: u64, ovn_nb: &str) -> io::Result<PrismCluster> {
        let tag = sys::unique_tag();
        let tmp = sys::temp_dir(&tag)?;
        let mut nodes = Vec::new();
        for id in 1..=n {
            let dir = tmp.path().join(format!("node-{id}"));
            std::fs::create_dir_all(&dir)?;
            nodes.push(Node {
                id,
                raft_addr: free_addr()?,
                api_addr: free_addr()?,
                dir,
                child: None,
            });
        }
        let peers = nodes
            .iter()
            .map(|n| format!("{}={}/{}", n.id, n.raft_addr, n.api_addr))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = PrismCluster {
            name: format!("dp-{tag}"),
            nodes,
            bin: bin.to_path_buf(),
            peers,
            ovn_nb: ovn_nb.into(),
            // Quick failover on shared cores (peers.md: ~100 ms heartbeat).
            args: [
                "--heartbeat-ms",
                "100",
                "--election-min-ms",
                "600",
                "--election-max-ms",
                "1200",
            ]
            .map(String::from)
            .to_vec(),
            _tmp: tmp,
        };
        for id in 1..=n {
            c.start_node(id)?;
        }
        Ok(c)
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("known node")
    }

    pub fn node(&self, id: u64) -> &Node {
        self.nodes.iter().find(|n| n.id == id).expect("known node")
    }

    /// Starts (or restarts) node `id` and waits until its API accepts connections.
    pub fn start_node(&mut self, id: u64) -> io::Result<()> {
        let (bin, peers, ovn_nb, name, args) = (
            self.bin.clone(),
            self.peers.clone(),
            self.ovn_nb.clone(),
            self.name.clone(),
            self.args.clone(),
        );
        let node = self.node_mut(id);
        let log = File::options()
            .create(true)
            .append(true)
            .open(node.log_path())?;
        let mut cmd = Command::new(&bin);
        cmd.arg("--id")
            .arg(id.to_string())
            .arg("--data-dir")
            .arg(node.dir.join("data"))
            .arg("--raft-addr")
            .arg(node.raft_addr.to_string())
            .arg("--api-addr")
            .arg(node.api_addr.to_string())
            .arg("--peers")
            .arg(&peers)
            .arg("--cluster-name")
            .arg(&name)
            .arg("--ovn-nb")
            .arg(&ovn_nb)
            .args(["--log-level", "info"])
            .args(&args);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PRISMNETD_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        node.child = Some(cmd.spawn()?);
        let api = node.api_addr;
        let deadline = Instant::now() + READY;
        loop {
            if TcpStream::connect_timeout(&api, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            let node = self.node_mut(id);
            if let Some(Ok(Some(status))) = node.child.as_mut().map(Child::try_wait) {
                node.child = None;
                return Err(io::Error::other(format!(
                    "prismnetd {id} exited ({status}):\n{}",
                    tail(&node.log_path(), 40)
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!("prismnetd {id}: API not up")));
            }
            std::thread::sleep(sys::POLL);
        }
    }

    /// SIGKILL, as in a crash.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut c) = self.node_mut(id).child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.node(id).child.is_some()
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.iter().map(Node::endpoint).collect()
    }

    /// A client of the library given every node (it follows redirects itself).
    pub async fn client(&self) -> PrismClient {
        PrismClient::connect(ClientConfig {
            connect_timeout: Duration::from_secs(1),
            ..ClientConfig::new(self.endpoints())
        })
        .await
        .expect("client config")
    }

    /// ClusterStatus as node `id` answers it.
    pub async fn status(&self, id: u64) -> Option<v1::ClusterStatusResponse> {
        let c = PrismClient::connect(ClientConfig {
            connect_timeout: Duration::from_millis(500),
            deadline: Duration::from_secs(2),
            ..ClientConfig::new([self.node(id).endpoint()])
        })
        .await
        .ok()?;
        c.cluster_status(v1::ClusterStatusRequest {}).await.ok()
    }

    /// Waits for a leader that every running node agrees on, other than `not`,
    /// whose OVN NB driver is connected.
    pub async fn wait_leader(&self, not: Option<u64>) -> io::Result<u64> {
        let deadline = Instant::now() + READY;
        loop {
            let mut leaders = Vec::new();
            let mut nb_ok = false;
            for n in self.nodes.iter().filter(|n| n.child.is_some()) {
                let st = self.status(n.id).await;
                leaders.push(st.as_ref().and_then(|s| s.leader_id));
                if let Some(st) = st {
                    if st.leader_id == Some(n.id) {
                        nb_ok = st
                            .nodes
                            .iter()
                            .find(|x| x.id == n.id)
                            .and_then(|x| x.health.as_ref())
                            .is_some_and(|h| h.ovn_nb_connected);
                    }
                }
            }
            if let Some(Some(l)) = leaders.first() {
                if leaders.iter().all(|x| *x == Some(*l)) && Some(*l) != not && nb_ok {
                    return Ok(*l);
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "no agreed leader with NB connected (saw {leaders:?})\n{}",
                    self.logs(30)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The end of every node's log, for failure messages.
    pub fn logs(&self, n: usize) -> String {
        self.nodes
            .iter()
            .map(|node| {
                format!(
                    "---- prismnetd {} ({}) ----\n{}",
                    node.id,
                    node.log_path().display(),
                    tail(&node.log_path(), n)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for PrismCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
