//! A "VM": a network namespace whose `eth0` is one end of a veth pair; the other
//! end joins `br-int` in the stack's namespace, exactly as PlasmaVMC attaches a
//! tap: the port's MAC on the guest NIC, `external_ids:iface-id=<port id>` on the
//! OVS interface. The guest configures itself from OVN's DHCP reply (busybox udhcpc
//! with a script that applies the lease), never by hand.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::ovn_stack::OvnStack;
use super::sys::{self, Netns};

/// udhcpc's script: applies the lease (address, prefix, default route, MTU).
const DHCP_SCRIPT: &str = r#"#!/bin/sh
# busybox udhcpc calls this with the lease in the environment.
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    if [ -n "$router" ]; then
      for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    fi
    echo "lease: ip=$ip mask=$mask router=$router mtu=$mtu dns=$dns"
    ;;
esac
exit 0
"#;

/// What the guest got from DHCP and applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub router: Option<Ipv4Addr>,
}

pub struct Vm {
    pub name: String,
    pub mac: String,
    /// `external_ids:iface-id` (the PrismNET port id); empty for a plain bridge port.
    pub iface_id: String,
    pub netns: Netns,
    /// The veth's host end, in the stack's namespace.
    host_if: String,
    bridge: String,
    ovs_remote: String,
    script: PathBuf,
    children: Vec<Child>,
}

impl Vm {
    /// Attaches a VM to `br-int` with the port's MAC and id.
    pub fn attach(stack: &OvnStack, name: &str, mac: &str, port_id: &str) -> io::Result<Vm> {
        Vm::attach_to(stack, "br-int", name, mac, port_id)
    }

    /// A namespace on the provider bridge `br-ex`: the world outside the cloud,
    /// configured by hand (it is not a VM).
    pub fn outside(stack: &OvnStack, name: &str, cidr: &str) -> io::Result<Vm> {
        let vm = Vm::attach_to(stack, "br-ex", name, "02:0e:00:00:00:01", "")?;
        vm.netns.ip(&["addr", "add", cidr, "dev", "eth0"])?;
        Ok(vm)
    }

    fn attach_to(
        stack: &OvnStack,
        bridge: &str,
        name: &str,
        mac: &str,
        port_id: &str,
    ) -> io::Result<Vm> {
        let netns = Netns::create(&format!("{}-{name}", stack.tag))?;
        // Interface names are at most 15 bytes; this one is unique in the stack's
        // namespace, which holds nothing else.
        let host_if: String = format!("vh-{name}").chars().take(15).collect();
        let script = stack.dir().join("udhcpc.script");
        if !script.exists() {
            std::fs::write(&script, DHCP_SCRIPT)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        }
        let vm = Vm {
            name: name.into(),
            mac: mac.into(),
            iface_id: port_id.into(),
            netns,
            host_if,
            bridge: bridge.into(),
            ovs_remote: stack.ovs_remote(),
            script,
            children: Vec::new(),
        };
        sys::run(
            "ip",
            &[
                "link",
                "add",
                &vm.host_if,
                "netns",
                &stack.netns.name,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &vm.netns.name,
            ],
        )?;
        // No IPv6 chatter (router solicitations, DAD) from the guest: the tests are
        // about IPv4 and a quiet wire keeps failures readable.
        let _ = vm
            .netns
            .exec("sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        // The userspace datapath reads frames from the veth as they are: with TX
        // checksum offload the guest's TCP/UDP checksums are left partial, and
        // userspace conntrack drops such packets as invalid (ICMP would pass, TCP
        // through a stateful ACL would not). Real NICs of KVM guests (virtio with
        // vhost-user) do not have this problem; this is the veth's.
        vm.netns.exec("ethtool", &["-K", "eth0", "tx", "off"])?;
        vm.netns.ip(&["link", "set", "eth0", "address", mac])?;
        vm.netns.ip(&["link", "set", "eth0", "up"])?;
        stack.netns.ip(&["link", "set", &vm.host_if, "up"])?;
        let mut args = vec![
            "--timeout=30".to_string(),
            "add-port".into(),
            bridge.into(),
            vm.host_if.clone(),
        ];
        if !port_id.is_empty() {
            args.extend([
                "--".into(),
                "set".into(),
                "interface".into(),
                vm.host_if.clone(),
                format!("external_ids:iface-id={port_id}"),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        stack.vsctl(&args)?;
        Ok(vm)
    }

    /// Runs udhcpc in the guest until it has a lease and applied it; returns what the
    /// interface holds afterwards.
    pub fn dhcp(&self) -> io::Result<Lease> {
        let script = self.script.to_string_lossy().into_owned();
        // -q: exit once bound; -n: fail if no lease; 5 tries a second apart.
        let out = self.netns.output(
            "busybox",
            &[
                "udhcpc", "-i", "eth0", "-q", "-n", "-t", "5", "-T", "1", "-A", "1", "-s", &script,
            ],
        )?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "{}: no DHCP lease ({}): {}{}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        self.lease()?.ok_or_else(|| {
            io::Error::other(format!(
                "{}: udhcpc succeeded but eth0 has no IPv4 address: {}",
                self.name,
                String::from_utf8_lossy(&out.stdout)
            ))
        })
    }

    /// The IPv4 address and default route eth0 has now.
    pub fn lease(&self) -> io::Result<Option<Lease>> {
        let addr = self
            .netns
            .ip(&["-4", "-o", "addr", "show", "dev", "eth0"])?;
        let Some(cidr) = addr.split_whitespace().skip_while(|w| *w != "inet").nth(1) else {
            return Ok(None);
        };
        let (ip, prefix) = cidr.split_once('/').unwrap_or((cidr, "32"));
        let route = self.netns.ip(&["-4", "route", "show", "default"])?;
        let router = route
            .split_whitespace()
            .skip_while(|w| *w != "via")
            .nth(1)
            .and_then(|r| r.parse().ok());
        Ok(Some(Lease {
            ip: ip.parse().map_err(io::Error::other)?,
            prefix: prefix.parse().map_err(io::Error::other)?,
            router,
        }))
    }

    pub fn ip(&self) -> Option<Ipv4Addr> {
        self.lease().ok().flatten().map(|l| l.ip)
    }

    /// How many of `count` echo requests (0.2 s apart, 1 s timeout) got replies.
    pub fn ping_count(&self, to: &str, count: u32) -> u32 {
        let c = count.to_string();
        let Ok(out) = self
            .netns
            .output("ping", &["-n", "-q", "-c", &c, "-i", "0.2", "-W", "1", to])
        else {
            return 0;
        };
        parse_received(&String::from_utf8_lossy(&out.stdout))
    }

    /// One ping round (up to 2 requests) answered.
    pub fn ping(&self, to: &str) -> bool {
        let out = self.netns.output(
            "ping",
            &["-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", "-w", "2", to],
        );
        out.is_ok_and(|o| parse_received(&String::from_utf8_lossy(&o.stdout)) > 0)
    }

    /// A continuous ping in the background (`count` requests every `interval`).
    pub fn ping_background(&self, to: &str, count: u32, interval: &str) -> io::Result<Child> {
        self.netns
            .command("ping")
            .args([
                "-n",
                "-q",
                "-c",
                &count.to_string(),
                "-i",
                interval,
                "-W",
                "1",
                to,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }

    /// Serves TCP `port`: every connection gets `reply` and is closed (an ssh-like
    /// service for security group tests).
    pub fn serve_tcp(&mut self, port: u16, reply: &str) -> io::Result<()> {
        let child = self
            .netns
            .command("busybox")
            .args(["nc", "-ll", "-p", &port.to_string(), "-e", "echo", reply])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.children.push(child);
        // Wait until it listens.
        let p = format!(":{port} ");
        sys::wait_for("the TCP server to listen", Duration::from_secs(5), || {
            let ss = self.netns.exec("ss", &["-ltnH"]).ok()?;
            ss.contains(&p).then_some(())
        })
    }

    /// Connects to `to:port` (2 s connect timeout) and returns what the server sent,
    /// or None if no connection was made.
    pub fn tcp_probe(&self, to: &str, port: u16) -> Option<String> {
        let out = self
            .netns
            .output(
                "timeout",
                &["5", "busybox", "nc", "-w", "2", to, &port.to_string()],
            )
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    /// Opens a TCP connection to `to:port` in the background (kill it when done).
    pub fn tcp_connect_background(&self, to: &str, port: u16) -> io::Result<Child> {
        self.netns
            .command("busybox")
            .args(["nc", "-w", "2", to, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }

    /// Spoofing: the guest takes another IPv4 address by hand.
    pub fn set_ip(&self, cidr: &str) -> io::Result<()> {
        self.netns.ip(&["-4", "addr", "flush", "dev", "eth0"])?;
        self.netns
            .ip(&["addr", "add", cidr, "dev", "eth0"])
            .map(drop)
    }

    /// Spoofing: the guest takes another MAC.
    pub fn set_mac(&self, mac: &str) -> io::Result<()> {
        self.netns
            .ip(&["link", "set", "eth0", "address", mac])
            .map(drop)
    }

    /// Removes the VM's interface from OVS (as when the VM is deleted).
    pub fn detach(&self, stack: &OvnStack) -> io::Result<()> {
        stack
            .vsctl(&["--if-exists", "del-port", &self.bridge, &self.host_if])
            .map(drop)
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The OVS port goes with the stack; the veth goes with the namespace (dropped
        // next, killing anything still inside).
        let _ = sys::run(
            "ovs-vsctl",
            &[
                &format!("--db={}", self.ovs_remote),
                "--no-wait",
                "--if-exists",
                "del-port",
                &self.bridge,
                &self.host_if,
            ],
        );
    }
}

/// "N received" of ping's summary.
pub fn parse_received(summary: &str) -> u32 {
    summary
        .lines()
        .find(|l| l.contains("received"))
        .and_then(|l| {
            l.split(',')
                .find(|p| p.contains("received"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Polls until `f` holds; returns how long it took, or None after `timeout`.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Accepts one connection on `listener` within `timeout` and returns the peer's
/// address as the outside sees it.
pub fn accept_peer(
    listener: &std::net::TcpListener,
    timeout: Duration,
) -> io::Result<Option<std::net::SocketAddr>> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((_, peer)) => return Ok(Some(peer)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}
