//! The network of a run: a bridge in the root namespace (where the clients run) and
//! one network namespace per host (each PrismNET node; the OVN NB members share
//! one), each joined to the bridge by a veth pair.
//!
//! ```text
//!   root ns: clients ── bridge pnc<tag>br 10.213.0.1/24
//!                         ├── veth ── ns pnc<tag>n1  eth0 10.213.0.11   prismnetd 1
//!                         ├── veth ── ns pnc<tag>n2  eth0 10.213.0.12   prismnetd 2
//!                         ├── veth ── ns pnc<tag>n3  eth0 10.213.0.13   prismnetd 3
//!                         └── veth ── ns pnc<tag>nb  eth0 10.213.0.21-23 NB members, northd
//! ```
//!
//! Faults on the network are nftables rules inside a host's namespace (table
//! `inet chaos`), so they cut exactly that host's traffic and vanish with it.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use super::sys::{io_err, run, run_cmd, Ledger, Resource, Result};

/// The /24 every run uses (one run at a time: see `Net::create`).
pub const SUBNET: [u8; 3] = [10, 213, 0];

pub fn addr(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], host)
}

/// The bridge and the run's tag (which prefixes every name it makes).
pub struct Net {
    pub tag: String,
    pub bridge: String,
}

/// A network namespace joined to the bridge.
#[derive(Clone, Debug)]
pub struct Host {
    pub ns: String,
    pub ips: Vec<Ipv4Addr>,
}

impl Net {
    /// Makes the bridge (up, with the root namespace's address).
    pub fn create(ledger: &Ledger, tag: &str) -> Result<Net> {
        let bridge = format!("pnc{tag}br");
        ledger.will_create(Resource::Link(bridge.clone()))?;
        run("ip", &["link", "add", &bridge, "type", "bridge"])?;
        run(
            "ip",
            &["addr", "add", &format!("{}/24", addr(1)), "dev", &bridge],
        )?;
        run("ip", &["link", "set", &bridge, "up"])?;
        Ok(Net {
            tag: tag.into(),
            bridge,
        })
    }

    /// A namespace `pnc<tag><name>` with `eth0` on the bridge holding `ips`.
    pub fn host(&self, ledger: &Ledger, name: &str, ips: &[Ipv4Addr]) -> Result<Host> {
        let ns = format!("pnc{}{name}", self.tag);
        let outer = format!("{ns}r");
        ledger.will_create(Resource::Netns(ns.clone()))?;
        run("ip", &["netns", "add", &ns])?;
        ledger.will_create(Resource::Link(outer.clone()))?;
        run(
            "ip",
            &[
                "link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        )?;
        run("ip", &["link", "set", &outer, "master", &self.bridge])?;
        run("ip", &["link", "set", &outer, "up"])?;
        let host = Host {
            ns,
            ips: ips.to_vec(),
        };
        for ip in ips {
            host.exec("ip", &["addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
        }
        host.exec("ip", &["link", "set", "eth0", "up"])?;
        host.exec("ip", &["link", "set", "lo", "up"])?;
        Ok(host)
    }
}

impl Host {
    /// `program` to run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }

    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        run_cmd(self.command(program).args(args))
    }

    /// Loads an nftables ruleset (`nft -f -`) inside the namespace.
    pub fn nft(&self, rules: &str) -> Result<()> {
        let mut child = self
            .command("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_err("nft"))?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin
                .write_all(rules.as_bytes())
                .map_err(io_err("writing nft rules"))?;
        }
        let out = child.wait_with_output().map_err(io_err("nft"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(super::sys::SysError::Failed {
                command: format!("ip netns exec {} nft -f -", self.ns),
                status: out.status.to_string(),
                output: format!("{}\n{rules}", String::from_utf8_lossy(&out.stderr)),
            })
        }
    }

    /// Removes every fault rule of the host (the `inet chaos` table).
    pub fn clear_faults(&self) -> Result<()> {
        // Declaring the table first makes the delete succeed when none exists.
        self.nft("table inet chaos {}\ndelete table inet chaos\n")
    }
}
