//! What the reconciler writes means what we want to OVN itself: NB + SB +
//! ovn-northd, with `ovn-trace` simulating packets through the logical
//! flows northd computed from our rows. One stack for all checks (northd
//! start-up dominates the runtime).

mod common;

use common::*;
use prismnet_ovn::testing::OvnStack;
use prismnet_ovn::topology::Topology;
use prismnet_state::command::UpdatePort;
use prismnet_state::model::{Port, Protocol};

fn icmp(from: &Port, eth_dst: &str, to_ip: &str) -> String {
    format!(
        "inport == \"{}\" && eth.src == {} && eth.dst == {eth_dst} && ip4.src == {} && \
         ip4.dst == {to_ip} && ip.ttl == 64 && icmp4.type == 8 && icmp4.code == 0",
        from.id,
        from.mac,
        from.ipv4.unwrap()
    )
}

fn tcp(from: &Port, to: &Port, dport: u16) -> String {
    format!(
        "inport == \"{}\" && eth.src == {} && eth.dst == {} && ip4.src == {} && \
         ip4.dst == {} && ip.ttl == 64 && tcp.src == 40000 && tcp.dst == {dport} && \
         tcp.flags == 0x002",
        from.id,
        from.mac,
        to.mac,
        from.ipv4.unwrap(),
        to.ipv4.unwrap()
    )
}

fn reaches(trace: &str, to: &Port) -> bool {
    trace.contains(&format!("output(\"{}\")", to.id))
}

/// - Ports of one subnet reach each other.
/// - Two projects with the same CIDR are isolated.
/// - A group allowing only tcp/22 from a CIDR drops icmp and allows tcp 22.
/// - Two subnets of one VPC route to each other through the VPC router.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovn_trace_connectivity_isolation_acls_routing() {
    init_logs();
    let stack = OvnStack::start().expect("OVN stack");
    let mut t = Topology::new();
    let vpc1 = t.vpc("p1", &["10.0.0.0/16"]);
    let sa = t.subnet(vpc1, Some("10.0.1.0/24"), None);
    let sb = t.subnet(vpc1, Some("10.0.2.0/24"), None);
    let a1 = t.port(sa);
    let a2 = t.port(sa);
    let b1 = t.port(sb);
    let ssh = t.group("p1", "ssh-only");
    t.ingress(ssh, Protocol::Tcp, Some((22, 22)), Some("10.0.1.0/24"));
    let s1 = t.port(sa);
    t.update_port(UpdatePort {
        port_id: s1.id,
        security_groups: Topology::groups_ref(&["ssh-only"]),
        ..UpdatePort::default()
    });
    // Project 2 reuses the same addresses.
    let vpc2 = t.vpc("p2", &["10.0.0.0/16"]);
    let sc = t.subnet(vpc2, Some("10.0.1.0/24"), None);
    let c1 = t.port(sc);
    assert_eq!(c1.ipv4, a1.ipv4, "same CIDR, same first address");

    let leader = Leader::start(
        config(&[stack.nb.unix_remote()]),
        prismnet_ovn::testing::epoch(1, 1),
        &t.state,
    );
    leader.wait_synced(t.index()).await;
    if let Err(e) = stack.wait_northd() {
        panic!(
            "northd did not catch up: {e}\nnorthd log:\n{}",
            stack.northd_log()
        );
    }
    let ls_a = format!("pn-ls-{sa}");
    let ls_c = format!("pn-ls-{sc}");
    let trace = |dp: &str, flow: &str| {
        stack
            .trace(dp, flow)
            .unwrap_or_else(|e| panic!("ovn-trace: {e}\nnorthd log:\n{}", stack.northd_log()))
    };

    // Same subnet (default group: ingress from its own members).
    let out = trace(
        &ls_a,
        &icmp(&a1, &a2.mac.to_string(), &a2.ipv4.unwrap().to_string()),
    );
    assert!(reaches(&out, &a2), "a1 -> a2:\n{out}");

    // Isolation: p2's port aims at p1's port (same IP, its MAC, and via its
    // own router): nothing of p1 is ever reached.
    let out = trace(
        &ls_c,
        &icmp(&c1, &a2.mac.to_string(), &a2.ipv4.unwrap().to_string()),
    );
    assert!(
        !reaches(&out, &a2) && !reaches(&out, &a1),
        "c1 -> p1:\n{out}"
    );
    let gw_c = t.state.subnets().find(|s| s.id == sc).unwrap().gateway_mac;
    let out = trace(
        &ls_c,
        &icmp(&c1, &gw_c.to_string(), &b1.ipv4.unwrap().to_string()),
    );
    assert!(!reaches(&out, &b1), "c1 -> b1 via p2's router:\n{out}");

    // Security group: tcp/22 from 10.0.1.0/24 only.
    let out = trace(
        &ls_a,
        &icmp(&a1, &s1.mac.to_string(), &s1.ipv4.unwrap().to_string()),
    );
    assert!(!reaches(&out, &s1), "icmp a1 -> s1 must drop:\n{out}");
    let out = trace(&ls_a, &tcp(&a1, &s1, 22));
    assert!(reaches(&out, &s1), "tcp/22 a1 -> s1 must pass:\n{out}");
    let out = trace(&ls_a, &tcp(&a1, &s1, 80));
    assert!(!reaches(&out, &s1), "tcp/80 a1 -> s1 must drop:\n{out}");

    // Routing between the two subnets of VPC 1.
    let gw_a = t.state.subnets().find(|s| s.id == sa).unwrap().gateway_mac;
    let out = trace(
        &ls_a,
        &icmp(&a1, &gw_a.to_string(), &b1.ipv4.unwrap().to_string()),
    );
    assert!(reaches(&out, &b1), "a1 -> b1 routed:\n{out}");
    leader.stop().await.unwrap();
}
