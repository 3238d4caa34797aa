//! The fenced reconciler against a real ovsdb-server with the OVN NB schema.

mod common;

use std::time::{Duration, Instant};

use common::*;
use prismnet_ovn::nb::Table;
use prismnet_ovn::ovsdb::{Insert, Value};
use prismnet_ovn::reconcile::{fence, FenceState};
use prismnet_ovn::testing::epoch;
use prismnet_ovn::testing::{nbctl, NbCluster, OvsdbServer};
use prismnet_ovn::translate::translate;
use prismnet_state::command::UpdatePort;
use prismnet_state::model::Protocol;
use prismnet_state::Command;

/// - Every resource kind created, updated and deleted reaches NB exactly:
///   the driver's independent read-back diff is empty after each step, and
///   the rows named by the resources appear and vanish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_delete_reach_nb_exactly() {
    init_logs();
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let mut t = full_topology();
    let started = Instant::now();
    let leader = Leader::start(config(&remotes), epoch(3, 1), &t.state);
    leader.wait_synced(t.index()).await;
    let first_sync = started.elapsed();
    until_no_drift(&leader, SYNC_TIMEOUT).await;
    let c = client(&remotes).await;
    let model = translate(&t.state, CLUSTER);
    for table in Table::ALL {
        let want = model.desired().filter(|d| d.table == table).count();
        assert_eq!(owned_rows(&c, table).await.len(), want, "{table}");
    }
    let st = leader.driver.status();
    assert_eq!(st.fence_state(), FenceState::Held { epoch: epoch(3, 1) });
    assert!(st.nb_connected());
    for (kind, id) in model.resources() {
        assert_eq!(
            st.sync_state(&kind, &id),
            Some(prismnet_ovn::reconcile::SyncState::Synced),
            "{kind} {id}"
        );
    }
    let port = t.state.ports().next().unwrap().clone();
    let lsps = owned_rows(&c, Table::LogicalSwitchPort).await;
    assert!(names(&lsps).contains(&port.id.to_string()));

    // Updates: admin state down, a new rule, a new port, a removed rule.
    let web = t
        .state
        .security_groups()
        .find(|g| g.name == "web")
        .unwrap()
        .id;
    t.update_port(UpdatePort {
        port_id: port.id,
        admin_state_up: Some(false),
        security_groups: prismnet_ovn::topology::Topology::groups_ref(&["web"]),
        ..UpdatePort::default()
    });
    let icmp = t.ingress(web, Protocol::Icmp, None, None);
    let subnet = port.subnet_id;
    let extra = t.port(subnet);
    leader.publish(&t.state);
    leader.wait_synced(t.index()).await;
    until_no_drift(&leader, SYNC_TIMEOUT).await;
    let lsp = owned_rows(&c, Table::LogicalSwitchPort)
        .await
        .into_iter()
        .find(|r| r["name"].as_str() == Some(&port.id.to_string()))
        .unwrap();
    assert_eq!(lsp["enabled"].as_set().unwrap(), vec![&false.into()]);
    let acls = owned_rows(&c, Table::Acl).await;
    assert!(acls.iter().any(|a| a["external_ids"]
        .map_get("prismnet:rule-id")
        .and_then(|v| v.as_str())
        == Some(&icmp.to_string())));

    t.remove_rule(web, icmp);
    t.delete_port(extra.id);
    leader.publish(&t.state);
    leader.wait_synced(t.index()).await;
    until_no_drift(&leader, SYNC_TIMEOUT).await;
    assert!(!names(&owned_rows(&c, Table::LogicalSwitchPort).await).contains(&extra.id.to_string()));

    // Delete everything deletable: fip, gateway, ports, subnets, VPC, group.
    let fips: Vec<_> = t.state.floating_ips().map(|f| f.id).collect();
    for fip_id in fips {
        t.run(Command::DeleteFloatingIp { fip_id });
    }
    let vpcs: Vec<_> = t.state.vpcs().map(|v| v.id).collect();
    for vpc_id in &vpcs {
        t.run(Command::ClearVpcGateway { vpc_id: *vpc_id });
    }
    let ports: Vec<_> = t.state.ports().map(|p| p.id).collect();
    for p in ports {
        t.delete_port(p);
    }
    let subnets: Vec<_> = t.state.subnets().map(|s| s.id).collect();
    for subnet_id in subnets {
        t.run(Command::DeleteSubnet { subnet_id });
    }
    for vpc_id in vpcs {
        t.run(Command::DeleteVpc { vpc_id });
    }
    t.run(Command::DeleteSecurityGroup { group_id: web });
    let nets: Vec<_> = t.state.external_networks().map(|n| n.id).collect();
    for network_id in nets {
        t.run(Command::DeleteExternalNetwork { network_id });
    }
    leader.publish(&t.state);
    leader.wait_synced(t.index()).await;
    until_no_drift(&leader, SYNC_TIMEOUT).await;
    for table in [
        Table::LogicalSwitch,
        Table::LogicalSwitchPort,
        Table::LogicalRouter,
        Table::LogicalRouterPort,
        Table::Nat,
        Table::StaticRoute,
        Table::GatewayChassis,
        Table::DhcpOptions,
    ] {
        assert_eq!(owned_rows(&c, table).await, vec![], "{table}");
    }
    // Left: the project's default group and the cluster's drop group.
    assert_eq!(owned_rows(&c, Table::PortGroup).await.len(), 2);
    let stats = leader.driver.status().last_pass().unwrap();
    println!(
        "first full sync of {} rows: {first_sync:?}; last pass {stats:?}",
        model.len()
    );
    leader.stop().await.unwrap();
}

/// - Foreign rows (made with ovn-nbctl, and rows of another PrismNET
///   cluster) exist before the first leader, some inside the same tables and
///   with names like ours.
/// - A full reconcile, updates and deletions leave every one of them exactly
///   as it was; our rows are created beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_rows_are_never_touched() {
    init_logs();
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let nb = server.unix_remote();
    let cmds: &[&[&str]] = &[
        &["ls-add", "neutron-net1"],
        &["lsp-add", "neutron-net1", "vm-port-1"],
        &[
            "lsp-set-addresses",
            "vm-port-1",
            "fa:16:3e:00:00:01 10.0.1.5",
        ],
        &["lr-add", "neutron-router1"],
        &[
            "lrp-add",
            "neutron-router1",
            "lrp-1",
            "fa:16:3e:00:00:02",
            "10.0.1.1/24",
        ],
        &["pg-add", "neutron_pg_drop", "vm-port-1"],
        &[
            "acl-add",
            "neutron_pg_drop",
            "to-lport",
            "1001",
            "outport == @neutron_pg_drop && ip",
            "drop",
        ],
        &[
            "create",
            "Address_Set",
            "name=foreign_as",
            "addresses=10.9.9.9",
        ],
        &["dhcp-options-create", "10.0.1.0/24"],
        &[
            "lr-nat-add",
            "neutron-router1",
            "snat",
            "172.24.4.9",
            "10.0.1.0/24",
        ],
        &["lr-route-add", "neutron-router1", "0.0.0.0/0", "172.24.4.1"],
        &["set", "NB_Global", ".", "external_ids:neutron-key=keep-me"],
    ];
    for args in cmds {
        nbctl(&nb, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    }
    // A row of another PrismNET cluster, with our row-key shape.
    let c = client(&remotes).await;
    c.transact(&[Insert::new("Logical_Switch")
        .value("name", "pn-ls-other")
        .value(
            "external_ids",
            Value::map([
                ("prismnet:owner", "prismnet"),
                ("prismnet:cluster", "other-cluster"),
                ("prismnet:kind", "subnet"),
                ("prismnet:id", "x"),
            ]),
        )
        .into()])
        .await
        .expect("insert other cluster's row");
    let before = foreign(&c).await;
    assert!(before.len() >= 11, "{}", before.len());

    let mut t = full_topology();
    let leader = Leader::start(config(&remotes), epoch(1, 1), &t.state);
    leader.wait_synced(t.index()).await;
    until_no_drift(&leader, SYNC_TIMEOUT).await;
    let p = t.state.ports().next().unwrap().id;
    t.delete_port(p);
    leader.publish(&t.state);
    leader.wait_synced(t.index()).await;
    until_no_drift(&leader, SYNC_TIMEOUT).await;

    assert_eq!(foreign(&c).await, before, "a foreign row changed");
    let global = dump(&c)
        .await
        .into_iter()
        .find(|((t, _), _)| t == "NB_Global")
        .unwrap()
        .1;
    let ids = &global["external_ids"];
    assert_eq!(
        ids.map_get("neutron-key").and_then(|a| a.as_str()),
        Some("keep-me")
    );
    assert_eq!(
        ids.map_get(&fence::epoch_key(CLUSTER))
            .and_then(|a| a.as_str()),
        Some(epoch(1, 1).to_string().as_str())
    );
    leader.stop().await.unwrap();
}

/// - Owned rows edited or deleted behind the driver's back (ovn-nbctl) are
///   put back by the monitor-driven pass; the repair time is printed.
/// - A foreign port added to our switch stays there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_repaired_promptly() {
    init_logs();
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let nb = server.unix_remote();
    let t = full_topology();
    let leader = Leader::start(config(&remotes), epoch(1, 1), &t.state);
    leader.wait_synced(t.index()).await;
    let port = t.state.ports().next().unwrap().clone();
    let subnet = port.subnet_id;
    let ls = format!("pn-ls-{subnet}");

    let edits: Vec<(&str, Vec<String>)> = vec![
        (
            "edit LSP addresses",
            vec![
                "lsp-set-addresses".into(),
                port.id.to_string(),
                "00:00:00:00:00:99 10.0.1.99".into(),
            ],
        ),
        ("delete LSP", vec!["lsp-del".into(), port.id.to_string()]),
        ("delete switch", vec!["ls-del".into(), ls.clone()]),
        (
            "delete ACLs of a group",
            vec!["acl-del".into(), drop_pg_name()],
        ),
    ];
    let mut times = Vec::new();
    for (what, args) in edits {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        nbctl(&nb, &args).unwrap_or_else(|e| panic!("{what}: {e}"));
        let took = until_no_drift(&leader, Duration::from_secs(10)).await;
        println!("drift repair ({what}): {took:?}");
        times.push(took);
    }

    // A foreign port in our switch is not ours to remove.
    nbctl(&nb, &["lsp-add", &ls, "foreign-port"]).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    until_no_drift(&leader, Duration::from_secs(5)).await;
    let out = nbctl(&nb, &["lsp-list", &ls]).unwrap();
    assert!(out.contains("foreign-port"), "{out}");
    times.sort();
    println!("drift repair times (poll granularity 20 ms): {times:?}");
    leader.stop().await.unwrap();
}

fn drop_pg_name() -> String {
    prismnet_ovn::translate::names::drop_port_group(CLUSTER)
}

/// - NB is killed while the leader runs; the state changes meanwhile.
/// - Status shows NB unreachable; after NB restarts the change lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_nb_restart() {
    init_logs();
    let mut server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let mut t = full_topology();
    let leader = Leader::start(config(&remotes), epoch(1, 1), &t.state);
    leader.wait_synced(t.index()).await;
    server.kill();
    let subnet = t.state.subnets().next().unwrap().id;
    let p = t.port(subnet);
    leader.publish(&t.state);
    let st = leader.driver.status();
    assert!(
        st.wait_for(Duration::from_secs(10), |s| !s.nb_connected())
            .await,
        "status still says connected"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(st.nb_unreachable_for().is_some());
    server.start().expect("restart");
    leader.wait_synced(t.index()).await;
    until_no_drift(&leader, SYNC_TIMEOUT).await;
    assert!(st.nb_connected());
    let c = client(&remotes).await;
    assert!(names(&owned_rows(&c, Table::LogicalSwitchPort).await).contains(&p.id.to_string()));
    leader.stop().await.unwrap();
}

/// - A 3-member clustered NB; the driver is given all members.
/// - The NB leader is killed; a state change made meanwhile lands on the
///   new NB leader, and NB equals the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clustered_nb_leader_killed() {
    init_logs();
    let mut cluster = NbCluster::start(3).expect("cluster");
    let remotes = cluster.tcp_remotes();
    let mut t = full_topology();
    let leader = Leader::start(config(&remotes), epoch(1, 1), &t.state);
    leader.wait_synced(t.index()).await;
    let nb_leader = cluster.wait_for_leader(None).expect("leader");
    cluster.members[nb_leader].kill();
    let subnet = t.state.subnets().next().unwrap().id;
    let p = t.port(subnet);
    leader.publish(&t.state);
    let started = Instant::now();
    leader.wait_synced(t.index()).await;
    println!(
        "change landed {:?} after the NB leader was killed",
        started.elapsed()
    );
    let alive: Vec<String> = cluster
        .members
        .iter()
        .filter(|m| m.is_running())
        .map(|m| m.tcp_remote())
        .collect();
    let c = client(&alive).await;
    assert!(names(&owned_rows(&c, Table::LogicalSwitchPort).await).contains(&p.id.to_string()));
    until_no_drift(&leader, SYNC_TIMEOUT).await;
    leader.stop().await.unwrap();
}

/// A synced driver goes quiet: once NB equals the state, passes stop and
/// the read-back diff is empty. (At a few hundred ports with weak
/// references — DHCP options, port groups — the driver once re-linked
/// every port on every pass, each pass's writes waking the next.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_is_quiet() {
    use prismnet_state::command::GroupRef;
    init_logs();
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let mut t = prismnet_ovn::topology::Topology::new();
    let vpc = t.vpc("p1", &["10.0.0.0/8"]);
    let subnets: Vec<_> = (0..4)
        .map(|i| t.subnet(vpc, Some(&format!("10.0.{}.0/22", i * 4)), None))
        .collect();
    for g in 0..4 {
        let id = t.group("p1", &format!("sg{g}"));
        t.ingress(id, Protocol::Tcp, Some((22, 22)), Some("192.168.0.0/16"));
        t.rule(
            id,
            prismnet_state::command::RuleSpec {
                direction: prismnet_state::model::Direction::Ingress,
                ethertype: prismnet_state::net::Family::V4,
                protocol: Protocol::Tcp,
                port_min: Some(80),
                port_max: Some(80),
                remote_cidr: None,
                remote_group: Some(GroupRef::Name(format!("sg{g}"))),
            },
        );
    }
    for i in 0..1000 {
        let mut c = prismnet_ovn::topology::Topology::port_cmd(subnets[i % 4]);
        c.security_groups = Some(vec![GroupRef::Name(format!("sg{}", i % 4))]);
        t.port_with(c);
    }
    let leader = Leader::start(config(&remotes), epoch(3, 1), &t.state);
    leader.wait_synced(t.index()).await;
    until_no_drift(&leader, SYNC_TIMEOUT).await;
    // Let the echo of the last pass arrive, then watch for a while.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let st = leader.driver.status();
    let before = st.passes();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        st.passes(),
        before,
        "passes keep running on a synced NB: {:?}",
        st.last_pass()
    );
    let drift = leader.driver.diff(&*leader.state).await.expect("diff");
    assert!(drift.changes.is_empty(), "{drift}");
    // A pass woken without a state change (as after an unrelated command)
    // finds nothing to do from the monitor's view either.
    for _ in 0..3 {
        let before = st.passes();
        leader.publish(&t.state);
        assert!(st.wait_for(SYNC_TIMEOUT, |s| s.passes() > before).await);
        let pass = st.last_pass().expect("a pass");
        assert_eq!(
            pass.changes, 0,
            "a pass on a synced NB changed things: {pass:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A new port is complete after the one pass that creates it: its LSP
    // is linked to its DHCP options and port groups in the same pass.
    let mut c = prismnet_ovn::topology::Topology::port_cmd(subnets[0]);
    c.security_groups = Some(vec![GroupRef::Name("sg0".into())]);
    t.port_with(c);
    leader.publish(&t.state);
    leader.wait_synced(t.index()).await;
    let drift = leader.driver.diff(&*leader.state).await.expect("diff");
    assert!(drift.changes.is_empty(), "one pass left work:\n{drift}");
    leader.stop().await.expect("stop");
}
