//! A whole OVN stack on one chassis (the recipe of `/work/shared/notes/ovn-lab.md`):
//! NB and SB ovsdb-servers, ovn-northd, an ovsdb-server for OVS, ovs-vswitchd with
//! the userspace datapath, ovn-controller, an integration bridge `br-int` and a
//! provider bridge `br-ex` mapped as [`PHYSNET`].
//!
//! ovs-vswitchd and ovn-controller run inside the stack's own network namespace
//! (the bridges' tap devices and the VM veths' host ends live there); the ovsdb
//! servers and northd need only unix sockets in the temp dir. `OVS_RUNDIR` and
//! `OVN_RUNDIR` point at the temp dir, so every control socket is the stack's own.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::sys::{self, Daemon, Netns};

/// The provider network name of `br-ex` (`ovn-bridge-mappings=physnet:br-ex`).
pub const PHYSNET: &str = "physnet";
pub const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
pub const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";
pub const OVS_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";
pub const READY: Duration = Duration::from_secs(30);

pub struct OvnStack {
    /// Unique on this machine; names the namespaces and the chassis.
    pub tag: String,
    /// The chassis name (`system-id`): what ports are bound to and what gateway
    /// chassis lists name.
    pub chassis: String,
    /// Where ovs-vswitchd runs, and the host ends of the VM veths.
    pub netns: Netns,
    nb_port: u16,
    dir: PathBuf,
    // Dropped (killed) in reverse start order by `Drop`.
    daemons: Vec<Daemon>,
    _tmp: tempfile::TempDir,
}

impl OvnStack {
    pub fn start() -> io::Result<OvnStack> {
        sys::sweep_leftovers();
        let tag = sys::unique_tag();
        let tmp = sys::temp_dir(&tag)?;
        let dir = tmp.path().to_path_buf();
        let netns = Netns::create(&tag)?;
        let mut s = OvnStack {
            chassis: format!("ch-{tag}"),
            tag,
            netns,
            nb_port: std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port(),
            dir,
            daemons: Vec::new(),
            _tmp: tmp,
        };
        s.boot()
            .map_err(|e| io::Error::other(format!("{e}\n{}", s.logs())))?;
        Ok(s)
    }

    fn boot(&mut self) -> io::Result<()> {
        for (name, schema) in [("nb", NB_SCHEMA), ("sb", SB_SCHEMA), ("ovs", OVS_SCHEMA)] {
            let db = self.path(&format!("{name}.db"));
            sys::run("ovsdb-tool", &["create", s(&db)?, schema])?;
            let mut cmd = self.command("ovsdb-server");
            cmd.arg(&db)
                .arg(format!(
                    "--remote=punix:{}",
                    self.path(&format!("{name}.sock")).display()
                ))
                .arg(format!(
                    "--unixctl={}",
                    self.path(&format!("{name}.ctl")).display()
                ))
                .arg(format!(
                    "--pidfile={}",
                    self.path(&format!("{name}.pid")).display()
                ))
                .arg(format!(
                    "--log-file={}",
                    self.path(&format!("{name}.log")).display()
                ));
            if name == "nb" {
                // prismnetd connects over TCP: ovsdb-server sends inactivity probes
                // (echo) on TCP connections, not on unix sockets.
                cmd.arg(format!("--remote=ptcp:{}:127.0.0.1", self.nb_port));
            }
            self.spawn(&format!("ovsdb-server-{name}"), cmd, &format!("{name}.log"))?;
            sys::wait_socket(&self.path(&format!("{name}.sock")), READY)?;
        }
        let mut northd = self.command("ovn-northd");
        northd
            .arg(format!("--ovnnb-db={}", self.nb_remote()))
            .arg(format!("--ovnsb-db={}", self.sb_remote()))
            .arg(format!("--unixctl={}", self.path("northd.ctl").display()))
            .arg(format!("--pidfile={}", self.path("northd.pid").display()))
            .arg(format!("--log-file={}", self.path("northd.log").display()));
        self.spawn("ovn-northd", northd, "northd.log")?;

        self.vsctl(&["--no-wait", "init"])?;
        let mut vswitchd = self.command_in_netns("ovs-vswitchd");
        vswitchd
            .arg(self.ovs_remote())
            .arg(format!("--unixctl={}", self.path("vswitchd.ctl").display()))
            .arg(format!("--pidfile={}", self.path("vswitchd.pid").display()))
            .arg(format!(
                "--log-file={}",
                self.path("vswitchd.log").display()
            ));
        self.spawn("ovs-vswitchd", vswitchd, "vswitchd.log")?;
        // Without --no-wait, ovs-vsctl waits until ovs-vswitchd applied the change.
        for br in ["br-int", "br-ex"] {
            let fail_mode = if br == "br-int" {
                "secure"
            } else {
                "standalone"
            };
            self.vsctl(&[
                "--timeout=30",
                "add-br",
                br,
                "--",
                "set",
                "bridge",
                br,
                "datapath_type=netdev",
                &format!("fail-mode={fail_mode}"),
            ])?;
        }
        self.vsctl(&[
            "set",
            "open_vswitch",
            ".",
            &format!("external_ids:system-id={}", self.chassis),
            &format!("external_ids:ovn-remote={}", self.sb_remote()),
            "external_ids:ovn-encap-type=geneve",
            "external_ids:ovn-encap-ip=127.0.0.1",
            "external_ids:ovn-bridge-datapath-type=netdev",
            &format!("external_ids:ovn-bridge-mappings={PHYSNET}:br-ex"),
        ])?;
        let mut controller = self.command_in_netns("ovn-controller");
        controller
            .arg(self.ovs_remote())
            .arg(format!(
                "--pidfile={}",
                self.path("controller.pid").display()
            ))
            .arg(format!(
                "--log-file={}",
                self.path("controller.log").display()
            ));
        self.spawn("ovn-controller", controller, "controller.log")?;
        let chassis = self.chassis.clone();
        let sb = self.sb_remote();
        sys::wait_for("the chassis to register in SB", READY, || {
            let names = sys::run(
                "ovn-sbctl",
                &[
                    &format!("--db={sb}"),
                    "--bare",
                    "--columns=name",
                    "list",
                    "Chassis",
                ],
            )
            .ok()?;
            names.lines().any(|l| l.trim() == chassis).then_some(())
        })?;
        self.check_alive()
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A command with this stack's runtime dirs.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        for var in [
            "OVS_RUNDIR",
            "OVN_RUNDIR",
            "OVS_LOGDIR",
            "OVN_LOGDIR",
            "OVS_DBDIR",
        ] {
            c.env(var, &self.dir);
        }
        c
    }

    fn command_in_netns(&self, program: &str) -> Command {
        let mut c = self.netns.command(program);
        for var in [
            "OVS_RUNDIR",
            "OVN_RUNDIR",
            "OVS_LOGDIR",
            "OVN_LOGDIR",
            "OVS_DBDIR",
        ] {
            c.env(var, &self.dir);
        }
        c
    }

    fn spawn(&mut self, name: &str, cmd: Command, log: &str) -> io::Result<()> {
        let d = Daemon::spawn(name, &self.dir, cmd, self.path(log))?;
        self.daemons.push(d);
        Ok(())
    }

    pub fn nb_remote(&self) -> String {
        format!("unix:{}", self.path("nb.sock").display())
    }

    /// NB over TCP (what prismnetd is given).
    pub fn nb_tcp_remote(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.nb_port)
    }

    pub fn sb_remote(&self) -> String {
        format!("unix:{}", self.path("sb.sock").display())
    }

    pub fn ovs_remote(&self) -> String {
        format!("unix:{}", self.path("ovs.sock").display())
    }

    /// `ovs-vsctl --db=<this stack's OVS db> args...`
    pub fn vsctl(&self, args: &[&str]) -> io::Result<String> {
        let db = format!("--db={}", self.ovs_remote());
        sys::run_cmd(self.command("ovs-vsctl").arg(db).args(args))
    }

    pub fn nbctl(&self, args: &[&str]) -> io::Result<String> {
        let db = format!("--db={}", self.nb_remote());
        sys::run_cmd(self.command("ovn-nbctl").arg(db).args(args))
    }

    pub fn sbctl(&self, args: &[&str]) -> io::Result<String> {
        let db = format!("--db={}", self.sb_remote());
        sys::run_cmd(self.command("ovn-sbctl").arg(db).args(args))
    }

    /// Waits until the chassis has applied everything in NB (`--wait=hv sync`).
    pub fn sync_hv(&self) -> io::Result<()> {
        self.nbctl(&["--timeout=30", "--wait=hv", "sync"]).map(drop)
    }

    /// Fails with the daemon's output if any daemon has exited.
    pub fn check_alive(&mut self) -> io::Result<()> {
        for d in &mut self.daemons {
            d.check_alive()?;
        }
        Ok(())
    }

    /// The end of every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        self.daemons
            .iter()
            .filter(|d| d.name.starts_with("ovn-") || d.name == "ovs-vswitchd")
            .map(|d| d.tail(30))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for OvnStack {
    fn drop(&mut self) {
        while let Some(mut d) = self.daemons.pop() {
            d.kill();
        }
        // `netns` is dropped after this: it kills what is left inside and deletes it.
    }
}

fn s(p: &Path) -> io::Result<&str> {
    p.to_str()
        .ok_or_else(|| io::Error::other(format!("non-UTF-8 path {}", p.display())))
}
