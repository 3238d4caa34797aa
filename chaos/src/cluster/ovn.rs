//! The OVN side of the cluster under test: a clustered NB (three `ovsdb-server`
//! members, Raft between them), an SB and `ovn-northd`, all in the `nb` namespace.
//! Member `i` (1-based) serves clients on `tcp:10.213.0.(20+i):6641` and talks
//! Raft on port 6643 of the same address.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::net::{addr, Host};
use super::sys::{run, wait_for, Daemon, Ledger, Result};

pub const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
pub const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";
pub const NB_DATABASE: &str = "OVN_Northbound";
pub const NB_MEMBERS: u8 = 3;
const CLIENT_PORT: u16 = 6641;
const RAFT_PORT: u16 = 6643;
/// Liveness bound of the waits here.
const READY: Duration = Duration::from_secs(30);

/// The address of NB member `i` (1-based).
pub fn member_ip(i: u8) -> std::net::Ipv4Addr {
    addr(20 + i)
}

pub struct NbMember {
    pub index: u8,
    pub db: PathBuf,
    dir: PathBuf,
    daemon: Option<Daemon>,
}

pub struct Ovn {
    pub host: Host,
    pub members: Vec<NbMember>,
    dir: PathBuf,
    _sb: Daemon,
    _northd: Daemon,
}

impl NbMember {
    fn file(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("nb{}.{ext}", self.index))
    }

    pub fn remote(&self) -> String {
        format!("tcp:{}:{CLIENT_PORT}", member_ip(self.index))
    }

    pub fn is_running(&self) -> bool {
        self.daemon.is_some()
    }
}

impl Ovn {
    /// Creates the databases and starts every member, the SB and northd.
    pub fn start(ledger: &Ledger, host: Host, dir: &Path) -> Result<Ovn> {
        let raft = |i: u8| format!("tcp:{}:{RAFT_PORT}", member_ip(i));
        let mut members = Vec::new();
        for i in 1..=NB_MEMBERS {
            let db = dir.join(format!("nb{i}.db"));
            let db_s = db.to_string_lossy().into_owned();
            if i == 1 {
                run(
                    "ovsdb-tool",
                    &["create-cluster", &db_s, NB_SCHEMA, &raft(1)],
                )?;
            } else {
                run(
                    "ovsdb-tool",
                    &["join-cluster", &db_s, NB_DATABASE, &raft(i), &raft(1)],
                )?;
            }
            members.push(NbMember {
                index: i,
                db,
                dir: dir.to_path_buf(),
                daemon: None,
            });
        }
        let sb_db = dir.join("sb.db");
        run(
            "ovsdb-tool",
            &["create", &sb_db.to_string_lossy(), SB_SCHEMA],
        )?;
        let sb_sock = dir.join("sb.sock");
        let mut sb = host.command("ovsdb-server");
        sb.arg(&sb_db)
            .arg(format!("--remote=punix:{}", sb_sock.display()))
            .arg(format!("--unixctl={}", dir.join("sb.ctl").display()));
        let sb = Daemon::spawn(ledger, "sb", sb, dir.join("sb.log"))?;
        let mut ovn = Ovn {
            members,
            dir: dir.to_path_buf(),
            _sb: sb,
            _northd: Daemon::spawn(
                ledger,
                "northd",
                northd(&host, dir, &sb_sock),
                dir.join("northd.log"),
            )?,
            host,
        };
        for i in 1..=NB_MEMBERS {
            ovn.start_member(ledger, i)?;
        }
        ovn.wait_leader()?;
        Ok(ovn)
    }

    /// The NB remotes prismnetd is given (every member).
    pub fn remotes(&self) -> Vec<String> {
        self.members.iter().map(NbMember::remote).collect()
    }

    fn member(&mut self, i: u8) -> &mut NbMember {
        &mut self.members[usize::from(i - 1)]
    }

    /// (Re)starts member `i` on its database and waits until it serves clients.
    pub fn start_member(&mut self, ledger: &Ledger, i: u8) -> Result<()> {
        let host = self.host.clone();
        let m = self.member(i);
        if m.daemon.is_some() {
            return Ok(());
        }
        let mut cmd = host.command("ovsdb-server");
        cmd.arg(&m.db)
            .arg(format!("--remote=ptcp:{CLIENT_PORT}:{}", member_ip(i)))
            .arg(format!("--unixctl={}", m.file("ctl").display()))
            .arg(format!("--pidfile={}", m.file("pid").display()));
        m.daemon = Some(Daemon::spawn(
            ledger,
            &format!("nb{i}"),
            cmd,
            m.file("log"),
        )?);
        let sock = std::net::SocketAddr::from((member_ip(i), CLIENT_PORT));
        wait_for(&format!("NB member {i} listening"), READY, || {
            TcpStream::connect_timeout(&sock, Duration::from_millis(200))
                .ok()
                .map(drop)
        })
    }

    /// SIGKILL of member `i`.
    pub fn kill_member(&mut self, i: u8) {
        if let Some(mut d) = self.member(i).daemon.take() {
            d.kill();
        }
    }

    fn status(&self, i: u8) -> Option<String> {
        let m = &self.members[usize::from(i - 1)];
        m.daemon.as_ref()?;
        run(
            "ovs-appctl",
            &[
                "-t",
                &m.file("ctl").to_string_lossy(),
                "cluster/status",
                NB_DATABASE,
            ],
        )
        .ok()
    }

    /// The member that says it leads now.
    pub fn leader(&self) -> Option<u8> {
        (1..=NB_MEMBERS).find(|i| self.status(*i).is_some_and(|s| s.contains("Role: leader")))
    }

    pub fn wait_leader(&self) -> Result<u8> {
        wait_for("an NB leader", READY, || self.leader())
    }

    /// `ovsdb-tool show-log -m` of member `i`'s database: its transaction log.
    pub fn show_log(&self, i: u8) -> Result<String> {
        let m = &self.members[usize::from(i - 1)];
        run("ovsdb-tool", &["show-log", "-m", &m.db.to_string_lossy()])
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn northd(host: &Host, dir: &Path, sb_sock: &Path) -> Command {
    let nb: Vec<String> = (1..=NB_MEMBERS)
        .map(|i| format!("tcp:{}:{CLIENT_PORT}", member_ip(i)))
        .collect();
    let mut c = host.command("ovn-northd");
    c.arg(format!("--ovnnb-db={}", nb.join(",")))
        .arg(format!("--ovnsb-db=unix:{}", sb_sock.display()))
        .arg(format!("--unixctl={}", dir.join("northd.ctl").display()));
    c
}
