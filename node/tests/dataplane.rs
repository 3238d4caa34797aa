//! End-to-end proof with real packets: a 3-node `prismnetd` cluster drives a real
//! OVN stack (NB, SB, northd, ovs-vswitchd with the userspace datapath,
//! ovn-controller); VMs are network namespaces attached the way PlasmaVMC attaches
//! a tap, and configure themselves by DHCP from OVN. Every check is a packet: ping,
//! a TCP connection, a DHCP exchange.
//!
//! Needs root and the OVN/OVS packages (`scripts/install-deps.sh`); the scenarios
//! run one at a time (see `harness`). Harness in `dataplane/harness/`.

// Each scenario holds the std mutex of `harness::serial()` for its whole run, across
// awaits, on purpose: it is what keeps the scenarios (each on its own runtime and
// thread) from running at the same time. No task of another scenario ever waits for
// it inside a runtime that this one needs.
#![allow(clippy::await_holding_lock)]

#[path = "dataplane/harness/mod.rs"]
mod harness;

use std::path::Path;
use std::time::Duration;

use harness::cloud::{ip_of, Cloud};
use harness::vm::eventually;

/// How long a change may take to show in the data plane before a check fails
/// (the leader writes NB, northd computes flows, ovn-controller installs them).
const CONVERGE: Duration = Duration::from_secs(30);

fn prismnetd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_prismnetd"))
}

async fn cloud() -> Cloud {
    Cloud::start(prismnetd(), 3)
        .await
        .unwrap_or_else(|e| panic!("starting the stack and the cluster: {e}"))
}

/// `from` reaches `to` by ping within [`CONVERGE`].
fn assert_reaches(from: &harness::vm::Vm, to: &str) {
    assert!(
        eventually(CONVERGE, || from.ping(to)).is_some(),
        "{} cannot reach {to}",
        from.name
    );
}

/// `from` does not reach `to`: the data plane has applied everything (hv sync),
/// then three ping rounds in a row get no reply.
fn assert_cut_off(cloud: &Cloud, from: &harness::vm::Vm, to: &str) {
    let settled = eventually(CONVERGE, || {
        cloud.settle().is_ok() && (0..3).all(|_| !from.ping(to))
    });
    assert!(settled.is_some(), "{} still reaches {to}", from.name);
}

/// Two VMs of one subnet get their allocated addresses by DHCP and reach each
/// other; a second subnet of the same VPC is reached through the VPC's router;
/// another project with the identical CIDR (and so the identical addresses) works
/// on its own and never reaches the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dhcp_same_subnet_routing_and_project_isolation() {
    let _serial = harness::serial();
    let c = cloud().await;
    let vpc = c.vpc("alpha", "10.0.0.0/16").await.unwrap();
    let web = c.subnet(&vpc, "web", "10.0.1.0/24").await.unwrap();
    let db = c.subnet(&vpc, "db", "10.0.2.0/24").await.unwrap();
    let (a1, p1) = c.vm(&web, "a1", None).await.unwrap();
    let (a2, p2) = c.vm(&web, "a2", None).await.unwrap();
    let (a3, p3) = c.vm(&db, "a3", None).await.unwrap();
    let lease = a1.lease().unwrap().unwrap();
    assert_eq!(lease.prefix, 24);
    assert_eq!(
        lease.router.map(|r| r.to_string()).as_deref(),
        Some("10.0.1.1")
    );

    assert_reaches(&a1, &ip_of(&p2));
    assert_reaches(&a2, &ip_of(&p1));
    // Routed: a1 (10.0.1.x) -> a3 (10.0.2.x) through alpha's router.
    assert_reaches(&a1, &ip_of(&p3));
    assert_reaches(&a3, &ip_of(&p2));

    // Project beta: the same CIDR, so the same addresses.
    let vpc_b = c.vpc("beta", "10.0.0.0/16").await.unwrap();
    let web_b = c.subnet(&vpc_b, "web", "10.0.1.0/24").await.unwrap();
    let (b1, q1) = c.vm(&web_b, "b1", None).await.unwrap();
    let (b2, q2) = c.vm(&web_b, "b2", None).await.unwrap();
    assert_eq!(
        ip_of(&q1),
        ip_of(&p1),
        "identical CIDRs allocate identically"
    );
    assert_eq!(ip_of(&q2), ip_of(&p2));
    assert_reaches(&b1, &ip_of(&q2));
    // beta's 10.0.2.x (alpha's a3 address) does not exist in beta; nothing of
    // alpha answers beta, and alpha's VMs still talk among themselves.
    assert_cut_off(&c, &b1, &ip_of(&p3));
    assert_reaches(&a1, &ip_of(&p2));
    drop((a1, a2, a3, b1, b2));
}

/// Security groups with packets:
/// - default group: ingress only from members, all egress;
/// - a tcp/22-only group lets an ssh-like TCP service through and drops ICMP
///   and other ports;
/// - changing a port's groups takes effect without restarting anything;
/// - anti-spoofing: a VM that changes its IP or its MAC is cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_groups_and_anti_spoofing() {
    let _serial = harness::serial();
    let c = cloud().await;
    let vpc = c.vpc("sec", "10.1.0.0/16").await.unwrap();
    let net = c.subnet(&vpc, "net", "10.1.1.0/24").await.unwrap();
    c.group("sec", "ssh", &[("tcp", 22, "10.1.0.0/16")])
        .await
        .unwrap();
    let (a, pa) = c.vm(&net, "a", None).await.unwrap();
    let (b, pb) = c.vm(&net, "b", None).await.unwrap();
    let (mut s, ps) = c.vm(&net, "s", Some(&["ssh"])).await.unwrap();
    s.serve_tcp(22, "SSH-2.0-prismnet-test").unwrap();
    s.serve_tcp(80, "HTTP").unwrap();

    // Default group: members reach each other.
    assert_reaches(&a, &ip_of(&pb));
    assert_reaches(&b, &ip_of(&pa));
    // tcp/22 only: ssh-like TCP gets through, ICMP and tcp/80 are dropped.
    let banner = eventually(CONVERGE, || a.tcp_probe(&ip_of(&ps), 22).is_some());
    assert!(
        banner.is_some(),
        "tcp/22 a -> s blocked\nACLs: {}\nPGs: {}",
        c.stack
            .nbctl(&["--columns=direction,priority,match,action", "list", "ACL"])
            .unwrap_or_default(),
        c.stack
            .nbctl(&["--columns=name,ports,acls", "list", "Port_Group"])
            .unwrap_or_default()
    );
    assert_eq!(
        a.tcp_probe(&ip_of(&ps), 22).as_deref(),
        Some("SSH-2.0-prismnet-test")
    );
    assert_cut_off(&c, &a, &ip_of(&ps));
    assert_eq!(
        a.tcp_probe(&ip_of(&ps), 80),
        None,
        "tcp/80 a -> s must drop"
    );
    // s is not in the default group: a admits nothing from it (s's own egress is
    // open: its ssh answers above went out).
    assert_cut_off(&c, &s, &ip_of(&pa));

    // s joins the default group as well: ping both ways, no restart of anything.
    c.set_groups(&ps, &["default", "ssh"]).await.unwrap();
    assert_reaches(&a, &ip_of(&ps));
    assert_reaches(&s, &ip_of(&pa));
    assert!(
        a.tcp_probe(&ip_of(&ps), 80).is_some(),
        "members reach tcp/80"
    );
    // And leaves it again.
    c.set_groups(&ps, &["ssh"]).await.unwrap();
    assert_cut_off(&c, &a, &ip_of(&ps));
    assert!(eventually(CONVERGE, || a.tcp_probe(&ip_of(&ps), 22).is_some()).is_some());

    // Anti-spoofing: a takes another address by hand and is cut off ...
    a.set_ip("10.1.1.250/24").unwrap();
    assert_cut_off(&c, &a, &ip_of(&pb));
    // ... gets its own back by DHCP and is reachable again ...
    a.dhcp().unwrap();
    assert_reaches(&a, &ip_of(&pb));
    // ... takes another MAC and is cut off ...
    a.set_mac("02:de:ad:be:ef:01").unwrap();
    assert_cut_off(&c, &a, &ip_of(&pb));
    // ... and is back with the port's MAC.
    a.set_mac(&pa.mac_address).unwrap();
    assert_reaches(&a, &ip_of(&pb));
}

/// A VPC gateway on a provider network (`br-ex`, localnet, bridge mapping
/// `physnet:br-ex`) with SNAT, and a floating IP. A namespace on `br-ex` plays the
/// outside world: it listens on TCP and reports the source address it sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snat_and_floating_ip_through_the_gateway() {
    let _serial = harness::serial();
    let c = cloud().await;
    let outside = harness::vm::Vm::outside(&c.stack, "out", "172.24.4.1/24").unwrap();
    let ext = c
        .external_network("172.24.4.0/24", "172.24.4.1")
        .await
        .unwrap();
    let vpc = c.vpc("nat", "10.2.0.0/16").await.unwrap();
    let net = c.subnet(&vpc, "net", "10.2.1.0/24").await.unwrap();
    let vpc = c.set_gateway(&vpc, &ext, true).await.unwrap();
    c.group(
        "nat",
        "public",
        &[("icmp", 0, "0.0.0.0/0"), ("tcp", 8022, "0.0.0.0/0")],
    )
    .await
    .unwrap();
    let (v1, _p1) = c.vm(&net, "v1", None).await.unwrap();
    let (mut v2, p2) = c
        .vm(&net, "v2", Some(&["default", "public"]))
        .await
        .unwrap();
    let fip = c.floating_ip("nat", &ext, &p2).await.unwrap();
    let gateway_ip = c
        .client
        .get_vpc(prismnet_api::v1::GetVpcRequest { id: vpc.id.clone() })
        .await
        .unwrap()
        .external_gateway
        .map(|g| g.external_ip)
        .unwrap_or_default();
    assert!(!gateway_ip.is_empty(), "the VPC has a gateway address");

    let listener = outside.netns.tcp_listener(8080).unwrap();
    // The source address of a connection from `vm` as the outside sees it.
    let seen_from = |vm: &harness::vm::Vm| -> Option<String> {
        let mut peer = None;
        eventually(CONVERGE, || {
            let Ok(mut conn) = vm.tcp_connect_background("172.24.4.1", 8080) else {
                return false;
            };
            peer = harness::vm::accept_peer(&listener, Duration::from_secs(2))
                .ok()
                .flatten();
            let _ = conn.kill();
            let _ = conn.wait();
            peer.is_some()
        });
        eprintln!("outside: connection from {peer:?} ({})", vm.name);
        peer.map(|p| p.ip().to_string())
    };
    // v1 has no floating IP: it leaves with the router's SNAT address.
    assert_eq!(seen_from(&v1).as_deref(), Some(gateway_ip.as_str()));
    // v2 leaves with its floating IP.
    assert_eq!(
        seen_from(&v2).as_deref(),
        Some(fip.floating_ip_address.as_str())
    );
    // Inbound: the outside reaches v2 on its floating IP (ICMP and TCP).
    v2.serve_tcp(8022, "hello from v2").unwrap();
    assert_reaches(&outside, &fip.floating_ip_address);
    assert_eq!(
        outside.tcp_probe(&fip.floating_ip_address, 8022).as_deref(),
        Some("hello from v2")
    );
}

/// Failover: the PrismNET leader is killed while two VMs ping each other; not one
/// ping is lost (the data plane never depends on the control plane being up), and
/// a port created after the election works end to end. Then: deleting a port
/// removes its connectivity, and re-creating one with the same IP works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_loses_no_ping_and_ports_delete_and_recreate() {
    let _serial = harness::serial();
    let mut c = cloud().await;
    let vpc = c.vpc("ha", "10.3.0.0/16").await.unwrap();
    let net = c.subnet(&vpc, "net", "10.3.1.0/24").await.unwrap();
    let (a, pa) = c.vm(&net, "a", None).await.unwrap();
    let (b, pb) = c.vm(&net, "b", None).await.unwrap();
    assert_reaches(&a, &ip_of(&pb));

    // 80 pings, 0.1 s apart (8 s) across the kill and the election.
    let pinger = a.ping_background(&ip_of(&pb), 80, "0.1").unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let old = c.cluster.wait_leader(None).await.unwrap();
    c.cluster.kill(old);
    let new = c.cluster.wait_leader(Some(old)).await.unwrap();
    eprintln!("leader {old} killed, {new} leads");
    // A port created after the election works end to end.
    let (d, pd) = c.vm(&net, "d", None).await.unwrap();
    assert_reaches(&d, &ip_of(&pa));
    let out = tokio::task::spawn_blocking(move || pinger.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    let received = harness::vm::parse_received(&summary);
    assert_eq!(received, 80, "pings lost across the failover: {summary}");

    // Deleting b's port cuts b off (its LSP is gone) ...
    c.delete_port(&pb).await.unwrap();
    assert_cut_off(&c, &a, &ip_of(&pb));
    assert_cut_off(&c, &b, &ip_of(&pa));
    b.detach(&c.stack).unwrap();
    drop(b);
    // ... and a new port with the same IP (a new id and MAC) works.
    let again = c.port(&net, "b2", None, Some(&ip_of(&pb))).await.unwrap();
    assert_eq!(ip_of(&again), ip_of(&pb));
    assert_ne!(again.id, pb.id);
    let b2 = c.boot("b2", &again).await.unwrap();
    assert_reaches(&a, &ip_of(&again));
    assert_reaches(&b2, &ip_of(&pd));
}
