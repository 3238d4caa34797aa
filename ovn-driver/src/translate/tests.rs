//! Translation of small topologies to exact rows.

use prismnet_state::command::UpdatePort;
use prismnet_state::model::{AddressPair, Ipv6Mode, Protocol};

use super::*;
use crate::nb::{CLUSTER_KEY, ID_KEY, KIND_KEY, OWNER_KEY, RULE_ID_KEY};
use crate::topology::{cidr, ip, Topology};

const CLUSTER: &str = "c1";

fn lsp<'a>(m: &'a NbModel, name: &str) -> &'a LogicalSwitchPort {
    m.find::<LogicalSwitchPort>(|p| p.name == name)
        .unwrap_or_else(|| panic!("no LSP {name}"))
}

#[test]
fn small_topology_exact_rows() {
    let mut t = Topology::new();
    let vpc = t.vpc("p1", &["10.0.0.0/16"]);
    let sn = t.subnet(vpc, Some("10.0.1.0/24"), None);
    let p1 = t.port(sn);
    let mut c = Topology::port_cmd(sn);
    c.port_security = false;
    c.security_groups = Some(vec![]);
    let p2 = t.port_with(c);
    t.bind(p1.id, "hv1");
    let web = t.group("p1", "web");
    let rule = t.ingress(web, Protocol::Tcp, Some((22, 22)), Some("192.168.0.0/24"));
    t.update_port(UpdatePort {
        port_id: p1.id,
        security_groups: Topology::groups_ref(&["web"]),
        allowed_address_pairs: Some(vec![AddressPair {
            ip: cidr("10.0.1.200/32"),
            mac: None,
        }]),
        ..UpdatePort::default()
    });

    let m = translate(&t.state, CLUSTER);
    assert_eq!(m, translate(&t.state, CLUSTER), "deterministic");

    // Router and switch.
    let lr = m
        .find::<LogicalRouter>(|r| r.name == format!("pn-lr-{vpc}"))
        .unwrap();
    assert_eq!(lr.external_ids[OWNER_KEY], "prismnet");
    assert_eq!(lr.external_ids[CLUSTER_KEY], CLUSTER);
    assert_eq!(lr.external_ids[KIND_KEY], "vpc");
    assert_eq!(lr.external_ids[ID_KEY], vpc.to_string());
    let ls = m
        .find::<LogicalSwitch>(|s| s.name == format!("pn-ls-{sn}"))
        .unwrap();
    assert_eq!(ls.ports.len(), 3, "router port + two VM ports");

    // The router's interface carries the gateway address and gateway_mac.
    let subnet = t.state.subnets().next().unwrap();
    let lrp = m
        .find::<LogicalRouterPort>(|p| p.name == format!("pn-lrp-{sn}"))
        .unwrap();
    assert_eq!(lrp.networks, ["10.0.1.1/24"]);
    assert_eq!(lrp.mac, subnet.gateway_mac.to_string());
    let rp = lsp(&m, &format!("pn-rp-{sn}"));
    assert_eq!(rp.type_, "router");
    assert_eq!(rp.addresses, ["router"]);
    assert_eq!(rp.options["router-port"], format!("pn-lrp-{sn}"));

    // VM ports: named by port id; addresses and port security.
    let a = lsp(&m, &p1.id.to_string());
    let addr = format!("{} {}", p1.mac, p1.ipv4.unwrap());
    assert_eq!(a.addresses, std::slice::from_ref(&addr));
    assert_eq!(
        a.port_security,
        [addr, format!("{} 10.0.1.200", p1.mac)],
        "fixed address plus the allowed pair"
    );
    assert_eq!(a.enabled, Some(true));
    assert_eq!(a.options["requested-chassis"], "hv1");
    assert_eq!(a.external_ids[KIND_KEY], "port");
    assert!(a.dhcpv4_options.is_some());
    let b = lsp(&m, &p2.id.to_string());
    assert!(b.port_security.is_empty());
    assert!(b.addresses.contains(&"unknown".to_string()));
    assert!(!b.options.contains_key("requested-chassis"));

    // DHCP.
    let dhcp = m.find::<DhcpOptions>(|d| d.cidr == "10.0.1.0/24").unwrap();
    assert_eq!(dhcp.options["router"], "10.0.1.1");
    assert_eq!(dhcp.options["server_id"], "10.0.1.1");
    assert_eq!(dhcp.options["server_mac"], subnet.gateway_mac.to_string());
    assert_eq!(dhcp.options["lease_time"], "43200");
    assert_eq!(dhcp.options["mtu"], subnet.mtu.to_string());

    // Security group: port group, ACL, address sets.
    let pg_name = format!("pg_{}", web.to_string().replace('-', "_"));
    let pg = m.find::<PortGroup>(|g| g.name == pg_name).unwrap();
    assert_eq!(pg.ports.len(), 1);
    assert_eq!(pg.ports[0].as_str(), format!("port/{}", p1.id));
    let acl = m
        .find::<Acl>(|a| a.external_ids.get(RULE_ID_KEY) == Some(&rule.to_string()))
        .unwrap();
    assert_eq!(acl.direction, "to-lport");
    assert_eq!(acl.action, "allow-related");
    assert_eq!(acl.priority, 1002);
    assert_eq!(
        acl.match_,
        format!(
            "outport == @{pg_name} && ip4 && ip4.src == 192.168.0.0/24 && tcp && tcp.dst == 22"
        )
    );
    // Default egress rules of a new group.
    assert!(
        m.rows::<Acl>()
            .any(|a| a.match_ == format!("inport == @{pg_name} && ip4")
                && a.direction == "from-lport")
    );
    let as4 = m
        .find::<AddressSet>(|s| {
            s.name == format!("pn_as_{}_ip4", web.to_string().replace('-', "_"))
        })
        .unwrap();
    assert_eq!(as4.addresses, [p1.ipv4.unwrap().to_string()]);

    // Default drop group: only ports with port security.
    let drop = m.find::<PortGroup>(|g| g.name == "pn_drop_c1").unwrap();
    assert_eq!(
        drop.ports,
        vec![RowKey::from_external_ids(&a.external_ids).unwrap()]
    );
    assert_eq!(drop.acls.len(), 4);
    assert!(m
        .rows::<Acl>()
        .any(|a| a.match_ == "inport == @pn_drop_c1 && ip" && a.action == "drop"));

    // The project's default group: ingress from its own members.
    let dg = t.default_group("p1");
    let dg_pg = format!("pg_{}", dg.to_string().replace('-', "_"));
    assert!(m.rows::<Acl>().any(|a| a.match_
        == format!(
            "outport == @{dg_pg} && ip4 && ip4.src == $pn_as_{}_ip4",
            dg.to_string().replace('-', "_")
        )));

    // Every row is owned and named validly.
    for d in m.desired() {
        let ids = d.values["external_ids"].clone();
        assert_eq!(
            ids.map_get(OWNER_KEY).and_then(|a| a.as_str()),
            Some("prismnet"),
            "{d:?}"
        );
    }
    for g in m.rows::<PortGroup>() {
        assert!(nb::port_group::is_valid_name(&g.name), "{}", g.name);
    }
    for s in m.rows::<AddressSet>() {
        assert!(nb::port_group::is_valid_name(&s.name), "{}", s.name);
    }
}

#[test]
fn gateway_snat_floating_ip_and_routes() {
    let mut t = Topology::new();
    let net = t.extnet("172.24.4.0/24", "172.24.4.1", "physnet1", &["gw1", "gw2"]);
    let vpc = t.vpc("p1", &["10.0.0.0/16"]);
    let sn = t.subnet(vpc, Some("10.0.1.0/24"), None);
    let port = t.port(sn);
    t.set_gateway(vpc, net, true);
    let fip = t.floating_ip("p1", net, port.id);
    let m = translate(&t.state, CLUSTER);
    let gw = t.state.vpcs().next().unwrap().gateway.clone().unwrap();

    let ext = m
        .find::<LogicalSwitch>(|s| s.name == format!("pn-ext-{net}"))
        .unwrap();
    assert_eq!(ext.ports.len(), 2, "localnet + the VPC's router port");
    let ln = lsp(&m, &format!("pn-ln-{net}"));
    assert_eq!(ln.type_, "localnet");
    assert_eq!(ln.addresses, ["unknown"]);
    assert_eq!(ln.options["network_name"], "physnet1");

    let lrp = m
        .find::<LogicalRouterPort>(|p| p.name == format!("pn-lrp-gw-{vpc}"))
        .unwrap();
    assert_eq!(lrp.networks, [format!("{}/24", gw.ip)]);
    assert_eq!(lrp.mac, gw.mac.to_string());
    assert_eq!(lrp.gateway_chassis.len(), 2);
    let gcs: Vec<(String, i64)> = m
        .rows::<GatewayChassis>()
        .map(|g| (g.chassis_name.clone(), g.priority))
        .collect();
    assert_eq!(gcs, [("gw1".to_string(), 2), ("gw2".to_string(), 1)]);

    let route = m
        .find::<StaticRoute>(|r| r.ip_prefix == "0.0.0.0/0")
        .unwrap();
    assert_eq!(route.nexthop, "172.24.4.1");
    let snat = m.find::<Nat>(|n| n.type_ == "snat").unwrap();
    assert_eq!(snat.external_ip, gw.ip.to_string());
    assert_eq!(snat.logical_ip, "10.0.1.0/24");
    let f = t.state.floating_ips().next().unwrap();
    let dnat = m.find::<Nat>(|n| n.type_ == "dnat_and_snat").unwrap();
    assert_eq!(dnat.external_ip, f.ip.to_string());
    assert_eq!(dnat.logical_ip, port.ipv4.unwrap().to_string());
    assert_eq!(
        dnat.logical_port.as_deref(),
        Some(port.id.to_string().as_str())
    );
    assert_eq!(dnat.external_ids[ID_KEY], fip.to_string());
    let lr = m.find::<LogicalRouter>(|_| true).unwrap();
    assert_eq!(lr.nat.len(), 2);
    assert_eq!(lr.static_routes.len(), 1);
    assert_eq!(lr.ports.len(), 2);
}

#[test]
fn ipv6_modes_and_dhcp_options() {
    let mut t = Topology::new();
    let vpc = t.vpc("p1", &["10.0.0.0/16", "fd00::/48"]);
    let mut c = Topology::subnet_cmd(vpc, Some("10.0.2.0/24"), Some("fd00:0:0:1::/64"));
    c.ipv6_mode = Ipv6Mode::Dhcpv6Stateful;
    c.dns_servers = vec![ip("8.8.8.8"), ip("1.1.1.1"), ip("2001:4860:4860::8888")];
    c.host_routes = vec![prismnet_state::model::HostRoute {
        destination: cidr("10.9.0.0/16"),
        nexthop: ip("10.0.2.254"),
    }];
    let sn = t.subnet_with(c);
    let port = t.port(sn);
    let m = translate(&t.state, CLUSTER);

    let lrp = m
        .find::<LogicalRouterPort>(|p| p.name == format!("pn-lrp-{sn}"))
        .unwrap();
    assert_eq!(lrp.networks, ["10.0.2.1/24", "fd00:0:0:1::1/64"]);
    assert_eq!(lrp.ipv6_ra_configs["address_mode"], "dhcpv6_stateful");
    assert_eq!(lrp.ipv6_ra_configs["send_periodic"], "true");

    let v4 = m.find::<DhcpOptions>(|d| d.cidr == "10.0.2.0/24").unwrap();
    assert_eq!(v4.options["dns_server"], "{8.8.8.8, 1.1.1.1}");
    assert_eq!(
        v4.options["classless_static_route"],
        "{10.9.0.0/16,10.0.2.254, 0.0.0.0/0,10.0.2.1}"
    );
    let v6 = m
        .find::<DhcpOptions>(|d| d.cidr == "fd00:0:0:1::/64")
        .unwrap();
    assert_eq!(v6.options["dns_server"], "{2001:4860:4860::8888}");
    assert!(!v6.options.contains_key("dhcpv6_stateless"));
    let p = lsp(&m, &port.id.to_string());
    assert!(p.dhcpv6_options.is_some());
    assert_eq!(
        p.addresses,
        [format!(
            "{} {} {}",
            port.mac,
            port.ipv4.unwrap(),
            port.ipv6.unwrap()
        )]
    );
}

#[test]
fn slaac_subnet_has_no_dhcpv6() {
    let mut t = Topology::new();
    let vpc = t.vpc("p1", &["fd00::/48"]);
    let sn = t.subnet(vpc, None, Some("fd00:0:0:2::/64"));
    let port = t.port(sn);
    let m = translate(&t.state, CLUSTER);
    assert!(m.rows::<DhcpOptions>().next().is_none());
    let p = lsp(&m, &port.id.to_string());
    assert_eq!(p.dhcpv6_options, None);
    let lrp = m
        .find::<LogicalRouterPort>(|p| p.name.starts_with("pn-lrp-"))
        .unwrap();
    assert_eq!(lrp.ipv6_ra_configs["address_mode"], "slaac");
}

#[test]
fn desired_rows_link_children_to_parents() {
    let mut t = Topology::new();
    let vpc = t.vpc("p1", &["10.0.0.0/16"]);
    let sn = t.subnet(vpc, Some("10.0.1.0/24"), None);
    t.port(sn);
    let m = translate(&t.state, CLUSTER);
    for d in m.desired() {
        match d.table.parent() {
            None => assert!(d.parent.is_none()),
            Some((pt, column)) => {
                let parent = d.parent.as_ref().expect("child has a parent");
                let p = m.get(pt, parent).expect("parent is desired");
                assert!(p.refs[column].1.contains(&d.key), "{d:?} not in its parent");
            }
        }
    }
}
