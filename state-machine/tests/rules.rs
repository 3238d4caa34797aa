//! One test per rule of the domain model, IPAM and apply. Every command goes through
//! `common::Driver`, which also checks after each step that a rejected command
//! changed nothing and that all invariants hold.

mod common;

use common::*;
use prismnet_state::command::{
    CreateExternalNetwork, CreatePort, CreateSubnet, FamilySpec, QuotasPatch, RuleSpec, UpdatePort,
    UpdateVpc,
};
use prismnet_state::model::{Direction, Ipv6Mode, Protocol, Remote, StaticRoute};
use prismnet_state::net::{Family, IpRange};
use prismnet_state::read::{Page, PortFilter};
use prismnet_state::{Actor, Command, Id, Reason, SettingsPatch, View};

const ADMIN: Actor = Actor::Admin;

fn extnet(d: &mut Driver) -> Id {
    created_id(&d.ok(
        &ADMIN,
        Command::CreateExternalNetwork(CreateExternalNetwork {
            name: "public".into(),
            cidr: "203.0.113.0/24".parse().unwrap(),
            gateway_ip: ip("203.0.113.1"),
            reserved: vec![],
            provider_network: "physnet".into(),
            gateway_chassis: vec!["chassis1".into()],
        }),
    ))
}

#[test]
fn first_resource_creates_project_with_default_group_and_quotas() {
    // - a VPC created in a new scope creates the project
    // - the project has default quotas and a `default` group: all egress, ingress from members
    let mut d = Driver::default();
    let t = tenant("web");
    d.vpc(&t, "web", &["10.0.0.0/16"]);
    let p = d.state.project(&t, &scope("web")).unwrap();
    assert_eq!(
        (p.quotas.vpcs, p.quotas.subnets, p.quotas.ports),
        (100, 1000, 10_000)
    );
    assert_eq!(
        (
            p.quotas.security_groups,
            p.quotas.rules_per_group,
            p.quotas.floating_ips
        ),
        (1000, 100, 1000)
    );
    assert_eq!((p.usage.vpcs, p.usage.security_groups), (1, 1));
    let g = d
        .state
        .security_group_by_name(&t, &scope("web"), "default")
        .unwrap();
    assert_eq!(g.id, p.default_group);
    let ingress: Vec<_> = g
        .rules
        .iter()
        .filter(|r| r.direction == Direction::Ingress)
        .collect();
    assert_eq!(ingress.len(), 2);
    assert!(ingress.iter().all(|r| r.remote == Remote::Group(g.id)));
    let egress: Vec<_> = g
        .rules
        .iter()
        .filter(|r| r.direction == Direction::Egress)
        .collect();
    assert!(egress
        .iter()
        .all(|r| r.remote == Remote::Any && r.protocol == Protocol::Any));
    assert_eq!(egress.len(), 2);
}

#[test]
fn vpc_blocks_are_validated() {
    let mut d = Driver::default();
    let t = tenant("a");
    let mk = |blocks: &[&str]| {
        Command::CreateVpc(prismnet_state::command::CreateVpc {
            scope: scope("a"),
            name: "v".into(),
            cidr_blocks: blocks.iter().map(|c| c.parse().unwrap()).collect(),
            routes: vec![],
        })
    };
    assert_eq!(d.err(&t, mk(&[])).reason, Reason::InvalidCidr);
    assert_eq!(
        d.err(&t, mk(&["10.0.0.0/8", "10.1.0.0/16"])).reason,
        Reason::CidrOverlap
    );
    assert_eq!(d.err(&t, mk(&["10.0.0.0/31"])).reason, Reason::InvalidCidr);
    d.ok(&t, mk(&["10.0.0.0/16", "fd00::/48"]));
    // Other tenants may reuse the same blocks.
    let b = tenant("b");
    d.vpc(&b, "b", &["10.0.0.0/16"]);
    // Invalid names are refused.
    let bad = Command::CreateVpc(prismnet_state::command::CreateVpc {
        scope: scope("a"),
        name: "x".repeat(64),
        cidr_blocks: vec!["10.9.0.0/16".parse().unwrap()],
        routes: vec![],
    });
    assert_eq!(d.err(&t, bad).reason, Reason::InvalidName);
}

#[test]
fn subnets_lie_inside_their_vpc_and_never_overlap() {
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16", "fd00::/48"]);
    let s1 = d.subnet(&t, v, Some("10.0.1.0/24"), Some("fd00:0:0:1::/64"));
    assert_eq!(
        d.err(&t, subnet_cmd(v, Some("10.0.1.128/25"), None)).reason,
        Reason::CidrOverlap
    );
    assert_eq!(
        d.err(&t, subnet_cmd(v, None, Some("fd00:0:0:1::/64")))
            .reason,
        Reason::CidrOverlap
    );
    assert_eq!(
        d.err(&t, subnet_cmd(v, Some("10.1.0.0/24"), None)).reason,
        Reason::CidrOutsideVpc
    );
    assert_eq!(
        d.err(&t, subnet_cmd(v, Some("fd00::/64"), Some("10.0.9.0/24")))
            .reason,
        Reason::IpFamilyMismatch
    );
    assert_eq!(
        d.err(&t, subnet_cmd(v, None, None)).reason,
        Reason::InvalidCidr
    );
    // SLAAC needs a /64.
    assert_eq!(
        d.err(&t, subnet_cmd(v, None, Some("fd00:0:0:2::/80")))
            .reason,
        Reason::InvalidCidr
    );
    let s = d.state.subnet(&t, s1).unwrap();
    assert_eq!(s.v4.as_ref().unwrap().gateway(), ip("10.0.1.1"));
    assert_eq!(s.v6.as_ref().unwrap().gateway(), ip("fd00:0:0:1::1"));
    assert_eq!(s.mtu, 1442);
    assert!(s.dhcp_enabled);
    assert_eq!(s.ipv6_mode, Ipv6Mode::Slaac);
}

#[test]
fn subnet_gateway_pools_and_reserved_ranges_are_validated() {
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let mk = |gw: Option<&str>, pools: Vec<IpRange>, reserved: Vec<IpRange>| {
        Command::CreateSubnet(CreateSubnet {
            vpc_id: v,
            name: "n".into(),
            v4: Some(FamilySpec {
                cidr: "10.0.1.0/24".parse().unwrap(),
                gateway: gw.map(ip),
                pools,
                reserved,
            }),
            v6: None,
            ipv6_mode: Ipv6Mode::Slaac,
            dns_servers: vec![],
            host_routes: vec![],
            dhcp_enabled: true,
            mtu: None,
        })
    };
    let r = |a: &str, b: &str| IpRange {
        start: ip(a),
        end: ip(b),
    };
    assert_eq!(
        d.err(&t, mk(Some("10.0.2.1"), vec![], vec![])).reason,
        Reason::InvalidGateway
    );
    assert_eq!(
        d.err(&t, mk(Some("10.0.1.0"), vec![], vec![])).reason,
        Reason::InvalidGateway
    );
    assert_eq!(
        d.err(&t, mk(None, vec![r("10.0.1.200", "10.0.2.5")], vec![]))
            .reason,
        Reason::InvalidPool
    );
    assert_eq!(
        d.err(&t, mk(None, vec![r("10.0.1.9", "10.0.1.5")], vec![]))
            .reason,
        Reason::InvalidPool
    );
    assert_eq!(
        d.err(&t, mk(None, vec![], vec![r("10.0.3.1", "10.0.3.2")]))
            .reason,
        Reason::InvalidReservedRange
    );
    let s = created_id(&d.ok(
        &t,
        mk(
            Some("10.0.1.254"),
            vec![r("10.0.1.10", "10.0.1.12")],
            vec![r("10.0.1.11", "10.0.1.11")],
        ),
    ));
    let a = d.port(&t, s);
    let b = d.port(&t, s);
    assert_eq!(
        (a.ipv4.unwrap().to_string(), b.ipv4.unwrap().to_string()),
        ("10.0.1.10".into(), "10.0.1.12".into())
    );
    assert_eq!(
        d.err(&t, Command::CreatePort(port_cmd(s))).reason,
        Reason::SubnetFull
    );
    // Outside the pools but inside the subnet: allowed on request; reserved: never.
    let mut c = port_cmd(s);
    c.fixed_ips = vec![ip("10.0.1.100")];
    d.ok(&t, Command::CreatePort(c.clone()));
    c.fixed_ips = vec![ip("10.0.1.11")];
    assert_eq!(
        d.err(&t, Command::CreatePort(c.clone())).reason,
        Reason::IpReserved
    );
    c.fixed_ips = vec![ip("10.0.1.254")];
    assert_eq!(d.err(&t, Command::CreatePort(c)).reason, Reason::IpReserved);
}

#[test]
fn ports_get_addresses_next_after_last_and_freed_ones_wait() {
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&t, v, Some("10.0.0.0/29"), None);
    let ps: Vec<_> = (0..3).map(|_| d.port(&t, s)).collect();
    let ips: Vec<String> = ps.iter().map(|p| p.ipv4.unwrap().to_string()).collect();
    assert_eq!(ips, ["10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    d.ok(&t, Command::DeletePort { port_id: ps[0].id });
    // .2 was freed but is not reused while .5 and .6 are free.
    assert_eq!(d.port(&t, s).ipv4.unwrap().to_string(), "10.0.0.5");
    assert_eq!(d.port(&t, s).ipv4.unwrap().to_string(), "10.0.0.6");
    assert_eq!(d.port(&t, s).ipv4.unwrap().to_string(), "10.0.0.2");
    assert_eq!(
        d.err(&t, Command::CreatePort(port_cmd(s))).reason,
        Reason::SubnetFull
    );
    let u = d.state.subnet_usage(&t, s).unwrap().v4.unwrap();
    assert_eq!((u.allocated, u.free), (5, 0));
}

#[test]
fn requested_addresses_are_checked() {
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&t, v, Some("10.0.1.0/24"), None);
    let mut c = port_cmd(s);
    c.fixed_ips = vec![ip("10.0.1.50")];
    let p = match d.ok(&t, Command::CreatePort(c.clone())).view {
        Some(View::Port(p)) => p,
        _ => unreachable!(),
    };
    assert_eq!(p.ipv4.unwrap().to_string(), "10.0.1.50");
    assert_eq!(
        d.err(&t, Command::CreatePort(c.clone())).reason,
        Reason::IpInUse
    );
    for (addr, reason) in [
        ("10.0.2.1", Reason::IpOutsideSubnet),
        ("10.0.1.0", Reason::IpReserved),
        ("10.0.1.255", Reason::IpReserved),
        ("10.0.1.1", Reason::IpReserved),
        ("fd00::5", Reason::IpFamilyMismatch),
    ] {
        c.fixed_ips = vec![ip(addr)];
        assert_eq!(
            d.err(&t, Command::CreatePort(c.clone())).reason,
            reason,
            "{addr}"
        );
    }
    c.fixed_ips = vec![ip("10.0.1.7"), ip("10.0.1.8")];
    assert_eq!(
        d.err(&t, Command::CreatePort(c)).reason,
        Reason::InvalidArgument
    );
    // Automatic allocation never takes a requested address.
    let next = d.port(&t, s);
    assert_eq!(next.ipv4.unwrap().to_string(), "10.0.1.2");
}

#[test]
fn ipv6_modes_decide_the_port_address() {
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16", "fd00::/48"]);
    let slaac = d.subnet(&t, v, Some("10.0.1.0/24"), Some("fd00:0:0:1::/64"));
    let mut c = port_cmd(slaac);
    c.mac = Some("52:54:00:12:34:56".parse().unwrap());
    let p = match d.ok(&t, Command::CreatePort(c.clone())).view {
        Some(View::Port(p)) => p,
        _ => unreachable!(),
    };
    assert_eq!(p.ipv6.unwrap().to_string(), "fd00::1:5054:ff:fe12:3456");
    assert_eq!(p.ipv4.unwrap().to_string(), "10.0.1.2");
    // Another address than the EUI-64 one is refused in SLAAC mode.
    c.mac = Some("52:54:00:12:34:57".parse().unwrap());
    c.fixed_ips = vec![ip("fd00:0:0:1::99")];
    assert_eq!(
        d.err(&t, Command::CreatePort(c)).reason,
        Reason::InvalidArgument
    );

    let mut sc = subnet_cmd(v, None, Some("fd00:0:0:2::/64"));
    if let Command::CreateSubnet(ref mut s) = sc {
        s.ipv6_mode = Ipv6Mode::Dhcpv6Stateful;
    }
    let stateful = created_id(&d.ok(&t, sc));
    let p = d.port(&t, stateful);
    assert_eq!(p.ipv6.unwrap().to_string(), "fd00:0:0:2::2");
    assert!(p.ipv4.is_none());
}

#[test]
fn macs_are_unique_cluster_wide_and_allocated_under_the_prefix() {
    let mut d = Driver::default();
    let (a, b) = (tenant("a"), tenant("b"));
    let va = d.vpc(&a, "a", &["10.0.0.0/16"]);
    let vb = d.vpc(&b, "b", &["10.0.0.0/16"]);
    let sa = d.subnet(&a, va, Some("10.0.0.0/24"), None);
    let sb = d.subnet(&b, vb, Some("10.0.0.0/24"), None);
    let p = d.port(&a, sa);
    assert!(p.mac.to_string().starts_with("02:70:6e:"), "{}", p.mac);
    let mut c = port_cmd(sb);
    c.mac = Some(p.mac);
    assert_eq!(
        d.err(&b, Command::CreatePort(c.clone())).reason,
        Reason::MacInUse
    );
    c.mac = Some("01:00:5e:00:00:01".parse().unwrap());
    assert_eq!(
        d.err(&b, Command::CreatePort(c.clone())).reason,
        Reason::InvalidMac
    );
    c.mac = Some("52:54:00:aa:bb:cc".parse().unwrap());
    d.ok(&b, Command::CreatePort(c));
    // The prefix cannot change once MACs are held.
    let patch = SettingsPatch {
        mac_prefix: Some(prismnet_state::ipam::MacPrefix {
            octets: [0x0a, 0, 0, 0, 0],
            len_bytes: 2,
        }),
        ..Default::default()
    };
    assert_eq!(
        d.err(&ADMIN, Command::UpdateSettings(patch)).reason,
        Reason::SettingsLocked
    );
}

#[test]
fn security_groups_of_ports() {
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&t, v, Some("10.0.0.0/24"), None);
    let default = d.state.project(&t, &scope("a")).unwrap().default_group;
    let web = created_id(&d.ok(
        &t,
        Command::CreateSecurityGroup {
            scope: scope("a"),
            name: "web".into(),
            description: String::new(),
            rules: vec![],
        },
    ));
    // No groups named: `default`.
    assert_eq!(*d.port(&t, s).security_groups, [default]);
    // Named by name and id, duplicates dropped.
    let mut c = port_cmd(s);
    c.security_groups = Some(vec![
        group("web"),
        prismnet_state::command::GroupRef::Id(web),
        group("default"),
    ]);
    let p = match d.ok(&t, Command::CreatePort(c.clone())).view {
        Some(View::Port(p)) => p,
        _ => unreachable!(),
    };
    assert_eq!(*p.security_groups, [web, default]);
    // Explicitly none.
    c.security_groups = Some(vec![]);
    let bare = match d.ok(&t, Command::CreatePort(c.clone())).view {
        Some(View::Port(p)) => p,
        _ => unreachable!(),
    };
    assert!(bare.security_groups.is_empty());
    // Unknown group.
    c.security_groups = Some(vec![group("nope")]);
    assert_eq!(
        d.err(&t, Command::CreatePort(c.clone())).reason,
        Reason::NotFound
    );
    // Port security off with groups: refused at create and at update.
    c.security_groups = Some(vec![group("web")]);
    c.port_security = false;
    assert_eq!(
        d.err(&t, Command::CreatePort(c.clone())).reason,
        Reason::PortSecurityConflict
    );
    let off = UpdatePort {
        port_id: p.id,
        port_security: Some(false),
        ..Default::default()
    };
    assert_eq!(
        d.err(&t, Command::UpdatePort(off)).reason,
        Reason::PortSecurityConflict
    );
    let off = UpdatePort {
        port_id: p.id,
        port_security: Some(false),
        security_groups: Some(vec![]),
        ..Default::default()
    };
    d.ok(&t, Command::UpdatePort(off));
    // Groups in use cannot be deleted; the default group never.
    assert_eq!(
        d.err(&t, Command::DeleteSecurityGroup { group_id: default })
            .reason,
        Reason::SecurityGroupInUse
    );
    let again = UpdatePort {
        port_id: p.id,
        port_security: Some(true),
        security_groups: Some(vec![group("web")]),
        ..Default::default()
    };
    d.ok(&t, Command::UpdatePort(again));
    assert_eq!(
        d.err(&t, Command::DeleteSecurityGroup { group_id: web })
            .reason,
        Reason::SecurityGroupInUse
    );
    assert_eq!(d.state.group_members(web), vec![p.id]);
    d.ok(&t, Command::DeletePort { port_id: p.id });
    d.ok(&t, Command::DeleteSecurityGroup { group_id: web });
    // Names are unique per project.
    let dup = Command::CreateSecurityGroup {
        scope: scope("a"),
        name: "default".into(),
        description: String::new(),
        rules: vec![],
    };
    assert_eq!(d.err(&t, dup).reason, Reason::NameInUse);
}

#[test]
fn security_group_rules() {
    let mut d = Driver::default();
    let t = tenant("a");
    let g = created_id(&d.ok(
        &t,
        Command::CreateSecurityGroup {
            scope: scope("a"),
            name: "ssh".into(),
            description: String::new(),
            rules: vec![],
        },
    ));
    let rule = |protocol, min: Option<u16>, max: Option<u16>| RuleSpec {
        direction: Direction::Ingress,
        ethertype: Family::V4,
        protocol,
        port_min: min,
        port_max: max,
        remote_cidr: Some("192.0.2.0/24".parse().unwrap()),
        remote_group: None,
    };
    let add = |spec| Command::AddSecurityGroupRule {
        group_id: g,
        rule: spec,
    };
    let a = d.ok(&t, add(rule(Protocol::Tcp, Some(22), None)));
    let rule_id = match a.outcome {
        prismnet_state::Outcome::RuleAdded { rule_id, .. } => rule_id,
        o => panic!("{o:?}"),
    };
    match a.view {
        Some(View::SecurityGroup(sg)) => {
            let r = sg.rules.iter().find(|r| r.id == rule_id).unwrap();
            assert_eq!((r.port_min, r.port_max), (Some(22), Some(22)));
        }
        v => panic!("{v:?}"),
    }
    assert_eq!(
        d.err(&t, add(rule(Protocol::Tcp, Some(22), Some(22))))
            .reason,
        Reason::RuleExists
    );
    assert_eq!(
        d.err(&t, add(rule(Protocol::Tcp, Some(30), Some(20))))
            .reason,
        Reason::InvalidRule
    );
    assert_eq!(
        d.err(&t, add(rule(Protocol::Any, Some(1), Some(2)))).reason,
        Reason::InvalidRule
    );
    let mut wrong_family = rule(Protocol::Icmp, None, None);
    wrong_family.remote_cidr = Some("fd00::/64".parse().unwrap());
    assert_eq!(d.err(&t, add(wrong_family)).reason, Reason::InvalidRule);
    // Remote group: same project only; the referenced group cannot be deleted.
    let other = created_id(&d.ok(
        &t,
        Command::CreateSecurityGroup {
            scope: scope("a"),
            name: "db".into(),
            description: String::new(),
            rules: vec![],
        },
    ));
    let mut remote = rule(Protocol::Udp, Some(53), None);
    remote.remote_cidr = None;
    remote.remote_group = Some(group("db"));
    d.ok(&t, add(remote));
    assert_eq!(
        d.err(&t, Command::DeleteSecurityGroup { group_id: other })
            .reason,
        Reason::SecurityGroupInUse
    );
    d.ok(
        &t,
        Command::RemoveSecurityGroupRule {
            group_id: g,
            rule_id,
        },
    );
    assert_eq!(
        d.err(
            &t,
            Command::RemoveSecurityGroupRule {
                group_id: g,
                rule_id
            }
        )
        .reason,
        Reason::NotFound
    );
    // Rules per group quota.
    d.ok(
        &ADMIN,
        Command::SetQuotas {
            scope: scope("a"),
            quotas: QuotasPatch {
                rules_per_group: Some(4),
                ..Default::default()
            },
        },
    );
    d.ok(&t, add(rule(Protocol::Tcp, Some(80), None)));
    assert_eq!(
        d.err(&t, add(rule(Protocol::Tcp, Some(443), None))).reason,
        Reason::QuotaExceeded
    );
}

#[test]
fn quotas_are_enforced() {
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&t, v, Some("10.0.0.0/24"), None);
    let set = |q: QuotasPatch| Command::SetQuotas {
        scope: scope("a"),
        quotas: q,
    };
    assert_eq!(
        d.err(&t, set(QuotasPatch::default())).reason,
        Reason::AdminOnly
    );
    d.ok(
        &ADMIN,
        set(QuotasPatch {
            ports: Some(2),
            vpcs: Some(1),
            subnets: Some(1),
            ..Default::default()
        }),
    );
    d.port(&t, s);
    d.port(&t, s);
    assert_eq!(
        d.err(&t, Command::CreatePort(port_cmd(s))).reason,
        Reason::QuotaExceeded
    );
    assert_eq!(
        d.err(&t, subnet_cmd(v, Some("10.0.1.0/24"), None)).reason,
        Reason::QuotaExceeded
    );
    let vpc2 = prismnet_state::command::CreateVpc {
        scope: scope("a"),
        name: "v".into(),
        cidr_blocks: vec!["10.1.0.0/16".parse().unwrap()],
        routes: vec![],
    };
    assert_eq!(
        d.err(&t, Command::CreateVpc(vpc2)).reason,
        Reason::QuotaExceeded
    );
    let p = d.state.project(&t, &scope("a")).unwrap();
    assert_eq!((p.usage.ports, p.usage.subnets, p.usage.vpcs), (2, 1, 1));
}

#[test]
fn deletes_are_refused_while_in_use() {
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&t, v, Some("10.0.0.0/24"), None);
    let p = d.port(&t, s);
    assert_eq!(
        d.err(&t, Command::DeleteSubnet { subnet_id: s }).reason,
        Reason::SubnetHasPorts
    );
    assert_eq!(
        d.err(&t, Command::DeleteVpc { vpc_id: v }).reason,
        Reason::VpcHasSubnets
    );
    d.ok(&t, Command::DeletePort { port_id: p.id });
    d.ok(&t, Command::DeleteSubnet { subnet_id: s });
    d.ok(&t, Command::DeleteVpc { vpc_id: v });
    assert_eq!(
        d.err(&t, Command::DeleteVpc { vpc_id: v }).reason,
        Reason::NotFound
    );
    let u = d.state.project(&t, &scope("a")).unwrap().usage;
    assert_eq!((u.vpcs, u.subnets, u.ports), (0, 0, 0));
}

#[test]
fn tenants_cannot_see_or_touch_each_other() {
    let mut d = Driver::default();
    let (a, b) = (tenant("a"), tenant("b"));
    let v = d.vpc(&a, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&a, v, Some("10.0.0.0/24"), None);
    let p = d.port(&a, s);
    for cmd in [
        Command::DeletePort { port_id: p.id },
        Command::BindPort {
            port_id: p.id,
            host: "h".into(),
        },
        Command::DeleteSubnet { subnet_id: s },
        Command::CreatePort(port_cmd(s)),
        subnet_cmd(v, Some("10.0.5.0/24"), None),
        Command::DeleteVpc { vpc_id: v },
    ] {
        assert_eq!(d.err(&b, cmd).reason, Reason::NotFound);
    }
    assert_eq!(d.state.port(&b, p.id).unwrap_err().reason, Reason::NotFound);
    let other_scope = prismnet_state::command::CreateVpc {
        scope: scope("a"),
        name: "v".into(),
        cidr_blocks: vec!["10.1.0.0/16".parse().unwrap()],
        routes: vec![],
    };
    assert_eq!(
        d.err(&b, Command::CreateVpc(other_scope)).reason,
        Reason::ScopeMismatch
    );
    // Lists never leak.
    assert!(d
        .state
        .list_ports(&b, &PortFilter::default(), Page::default())
        .unwrap()
        .is_empty());
    assert_eq!(
        d.state
            .list_ports(&a, &PortFilter::default(), Page::default())
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        d.state
            .list_ports(&ADMIN, &PortFilter::default(), Page::default())
            .unwrap()
            .len(),
        1
    );
    let spy = PortFilter {
        scope: Some(scope("a")),
        ..Default::default()
    };
    assert_eq!(
        d.state
            .list_ports(&b, &spy, Page::default())
            .unwrap_err()
            .reason,
        Reason::ScopeMismatch
    );
    // External networks are admin-only to change.
    let cmd = Command::DeleteExternalNetwork {
        network_id: Id::MIN,
    };
    assert_eq!(d.err(&a, cmd).reason, Reason::AdminOnly);
}

#[test]
fn request_ids_make_retries_idempotent() {
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&t, v, Some("10.0.0.0/24"), None);
    let first = d
        .run_with_id(&t, "boot-vm-1", Command::CreatePort(port_cmd(s)))
        .unwrap();
    let again = d
        .run_with_id(&t, "boot-vm-1", Command::CreatePort(port_cmd(s)))
        .unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.outcome, again.outcome);
    assert_eq!(first.view, again.view);
    assert_eq!(d.state.port_count(), 1);
    // Same id, different request: refused.
    let mut other = port_cmd(s);
    other.name = "x".into();
    let e = d
        .run_with_id(&t, "boot-vm-1", Command::CreatePort(other))
        .unwrap_err();
    assert_eq!(e.reason, Reason::RequestIdConflict);
    // Request ids are scoped to the project: another tenant's identical id is separate.
    let b = tenant("b");
    let vb = d.vpc(&b, "b", &["10.0.0.0/16"]);
    let sb = d.subnet(&b, vb, Some("10.0.0.0/24"), None);
    assert!(
        !d.run_with_id(&b, "boot-vm-1", Command::CreatePort(port_cmd(sb)))
            .unwrap()
            .replayed
    );
    // A rejected command does not consume its id.
    let mut bad = port_cmd(s);
    bad.fixed_ips = vec![ip("10.9.9.9")];
    assert!(d.run_with_id(&t, "r2", Command::CreatePort(bad)).is_err());
    assert!(
        !d.run_with_id(&t, "r2", Command::CreatePort(port_cmd(s)))
            .unwrap()
            .replayed
    );
    // A delete replayed after the fact answers as the first time did.
    let p = first
        .view
        .map(|v| match v {
            View::Port(p) => p.id,
            _ => unreachable!(),
        })
        .unwrap();
    let del = d
        .run_with_id(&t, "del-1", Command::DeletePort { port_id: p })
        .unwrap();
    let del2 = d
        .run_with_id(&t, "del-1", Command::DeletePort { port_id: p })
        .unwrap();
    assert_eq!(del.outcome, del2.outcome);
    assert!(del2.replayed);
    // Empty or oversized ids are refused.
    assert_eq!(
        d.run_with_id(&t, "", Command::CreatePort(port_cmd(s)))
            .unwrap_err()
            .reason,
        Reason::InvalidRequestId
    );
}

/// - Retention 3: a fourth record evicts the oldest by log index, and the horizon
///   (`forgotten_through`) moves to its index.
/// - The evicted request retried with its first attempt's `seen_index` is refused
///   with `request_expired` and changes nothing: never a second port.
/// - A request that is new (seen at or above the horizon) applies; one from a
///   client that saw nothing (`seen_index` 0) is refused once anything was
///   forgotten; a server-generated id (`None`) is never refused.
#[test]
fn request_id_retention_evicts_oldest_by_log_index() {
    let mut d = Driver::default();
    d.ok(
        &ADMIN,
        Command::UpdateSettings(SettingsPatch {
            request_id_retention: Some(3),
            ..Default::default()
        }),
    );
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&t, v, Some("10.0.0.0/24"), None);
    let seen_before_old = d.index;
    let old = d
        .run_seen(
            &t,
            "old",
            Some(seen_before_old),
            Command::CreatePort(port_cmd(s)),
        )
        .unwrap();
    let old_index = d.index;
    assert!(d.state.request_log().forgotten_through() < old_index);
    for _ in 0..3 {
        d.port(&t, s);
    }
    assert!(d.state.request_log().forgotten_through() >= old_index);
    let ports = d.state.port_count();
    // The retry of "old" cannot be told from a new request by its id any more.
    let e = d
        .run_seen(
            &t,
            "old",
            Some(seen_before_old),
            Command::CreatePort(port_cmd(s)),
        )
        .unwrap_err();
    assert_eq!(e.reason, Reason::RequestExpired);
    assert_eq!(d.state.port_count(), ports, "a retry allocated again");
    assert!(d.state.port(&t, created_id(&old)).is_ok());
    // Refusals are not remembered: the same retry is refused again.
    let e = d
        .run_seen(
            &t,
            "old",
            Some(seen_before_old),
            Command::CreatePort(port_cmd(s)),
        )
        .unwrap_err();
    assert_eq!(e.reason, Reason::RequestExpired);
    // A client that saw nothing yet is refused too; told the horizon, it sends a new
    // request (its first attempt was refused, so nothing of it applied).
    let e = d
        .run_seen(&t, "fresh", Some(0), Command::CreatePort(port_cmd(s)))
        .unwrap_err();
    assert_eq!(e.reason, Reason::RequestExpired);
    let horizon = d.state.request_log().forgotten_through();
    assert!(
        !d.run_seen(&t, "fresh", Some(horizon), Command::CreatePort(port_cmd(s)))
            .unwrap()
            .replayed
    );
    // Server-generated ids are new by construction.
    assert!(d
        .run_seen(&t, "srv-1", None, Command::CreatePort(port_cmd(s)))
        .is_ok());
    // The horizon survives a snapshot.
    let mut bytes = Vec::new();
    d.state.write_snapshot(&mut bytes).unwrap();
    let back = prismnet_state::State::read_snapshot(&bytes[..]).unwrap();
    assert_eq!(
        back.request_log().forgotten_through(),
        d.state.request_log().forgotten_through()
    );
}

/// Under a steady load of new requests, each retried at once and once more after
/// eviction: a retry answers its first outcome while remembered, `request_expired`
/// after; no request ever applies twice.
#[test]
fn retries_never_apply_twice_across_eviction() {
    let mut d = Driver::default();
    d.ok(
        &ADMIN,
        Command::UpdateSettings(SettingsPatch {
            request_id_retention: Some(50),
            ..Default::default()
        }),
    );
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&t, v, Some("10.0.0.0/20"), None);
    let mut sent: Vec<(String, u64, Id)> = Vec::new();
    let (mut replayed, mut expired) = (0, 0);
    for i in 0..400 {
        let rid = format!("load-{i}");
        let seen = d.index;
        let first = d
            .run_seen(&t, &rid, Some(seen), Command::CreatePort(port_cmd(s)))
            .unwrap();
        let retry = d
            .run_seen(&t, &rid, Some(seen), Command::CreatePort(port_cmd(s)))
            .unwrap();
        assert!(retry.replayed && retry.outcome == first.outcome);
        sent.push((rid, seen, created_id(&first)));
        // Every 10th step, retry the request of step i/2: remembered early on,
        // evicted once more than the retention (50) requests came after it.
        if i % 10 == 9 {
            let (rid, seen, id) = sent[i / 2].clone();
            let before = d.state.port_count();
            match d.run_seen(&t, &rid, Some(seen), Command::CreatePort(port_cmd(s))) {
                Ok(a) => {
                    assert!(a.replayed, "{rid} applied twice");
                    assert_eq!(created_id(&a), id);
                    replayed += 1;
                }
                Err(e) => {
                    assert_eq!(e.reason, Reason::RequestExpired);
                    expired += 1;
                }
            }
            assert_eq!(d.state.port_count(), before);
        }
    }
    assert!(replayed > 0 && expired > 0, "{replayed} {expired}");
    assert!(d.state.request_log().len() <= 50);
}

#[test]
fn floating_ips_and_gateways() {
    let mut d = Driver::default();
    let net = extnet(&mut d);
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&t, v, Some("10.0.0.0/24"), None);
    let p = d.port(&t, s);
    let fip = created_id(&d.ok(
        &t,
        Command::CreateFloatingIp {
            scope: scope("a"),
            network_id: net,
            ip: None,
            associate: None,
        },
    ));
    let assoc = Command::AssociateFloatingIp {
        fip_id: fip,
        port_id: p.id,
        fixed_ip: None,
    };
    assert_eq!(d.err(&t, assoc.clone()).reason, Reason::NoExternalGateway);
    d.ok(
        &t,
        Command::SetVpcGateway {
            vpc_id: v,
            network_id: net,
            enable_snat: true,
        },
    );
    let gw = d.state.vpc(&t, v).unwrap().gateway.clone().unwrap();
    assert_eq!(gw.ip, ip("203.0.113.3")); // .2 went to the floating IP
    d.ok(&t, assoc);
    let f = d.state.floating_ip(&t, fip).unwrap();
    assert_eq!(
        (f.ip, f.fixed_ip),
        (ip("203.0.113.2"), p.ipv4.map(Into::into))
    );
    // The gateway cannot go while a floating IP uses it; the network cannot go at all.
    assert_eq!(
        d.err(&t, Command::ClearVpcGateway { vpc_id: v }).reason,
        Reason::GatewayInUse
    );
    assert_eq!(
        d.err(&ADMIN, Command::DeleteExternalNetwork { network_id: net })
            .reason,
        Reason::ExternalNetworkInUse
    );
    // A second floating IP on the same fixed IP is refused.
    let fip2 = created_id(&d.ok(
        &t,
        Command::CreateFloatingIp {
            scope: scope("a"),
            network_id: net,
            ip: Some(ip("203.0.113.77")),
            associate: None,
        },
    ));
    let dup = Command::AssociateFloatingIp {
        fip_id: fip2,
        port_id: p.id,
        fixed_ip: None,
    };
    assert_eq!(d.err(&t, dup).reason, Reason::IpInUse);
    let taken = Command::CreateFloatingIp {
        scope: scope("a"),
        network_id: net,
        ip: Some(ip("203.0.113.77")),
        associate: None,
    };
    assert_eq!(d.err(&t, taken).reason, Reason::IpInUse);
    // Deleting the port disassociates; then the gateway can be cleared.
    d.ok(&t, Command::DeletePort { port_id: p.id });
    assert_eq!(d.state.floating_ip(&t, fip).unwrap().port_id, None);
    d.ok(&t, Command::ClearVpcGateway { vpc_id: v });
    d.ok(&t, Command::DeleteFloatingIp { fip_id: fip });
    d.ok(&t, Command::DeleteFloatingIp { fip_id: fip2 });
    d.ok(&ADMIN, Command::DeleteExternalNetwork { network_id: net });
}

#[test]
fn static_routes_need_a_reachable_next_hop() {
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let route = |dst: &str, via: &str| StaticRoute {
        destination: dst.parse().unwrap(),
        nexthop: ip(via),
    };
    let up = |routes| {
        Command::UpdateVpc(UpdateVpc {
            vpc_id: v,
            routes: Some(routes),
            ..Default::default()
        })
    };
    d.ok(&t, up(vec![route("192.168.0.0/16", "10.0.0.10")]));
    assert_eq!(
        d.err(&t, up(vec![route("192.168.0.0/16", "172.16.0.1")]))
            .reason,
        Reason::InvalidRoute
    );
    assert_eq!(
        d.err(&t, up(vec![route("192.168.0.0/16", "fd00::1")]))
            .reason,
        Reason::InvalidRoute
    );
    let two = vec![
        route("192.168.0.0/16", "10.0.0.10"),
        route("192.168.0.0/16", "10.0.0.11"),
    ];
    assert_eq!(d.err(&t, up(two)).reason, Reason::InvalidRoute);
    assert_eq!(d.state.vpc(&t, v).unwrap().routes.len(), 1);
}

#[test]
fn bind_and_lists_by_device() {
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&t, v, Some("10.0.0.0/24"), None);
    let mut c: CreatePort = port_cmd(s);
    c.device_id = "vm-1".into();
    let ids: Vec<Id> = (0..3)
        .map(|_| match d.ok(&t, Command::CreatePort(c.clone())).outcome {
            prismnet_state::Outcome::Created { id, .. } => id,
            _ => unreachable!(),
        })
        .collect();
    d.port(&t, s);
    d.ok(
        &t,
        Command::BindPort {
            port_id: ids[0],
            host: "chassis-7".into(),
        },
    );
    assert_eq!(&*d.state.port(&t, ids[0]).unwrap().host, "chassis-7");
    let by_dev = PortFilter {
        device_id: Some("vm-1".into()),
        ..Default::default()
    };
    let got: Vec<Id> = d
        .state
        .list_ports(&t, &by_dev, Page::default())
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(got, ids);
    // Pagination continues after the last id.
    let page1 = d
        .state
        .list_ports(
            &t,
            &by_dev,
            Page {
                after: None,
                limit: 2,
            },
        )
        .unwrap();
    let page2 = d
        .state
        .list_ports(
            &t,
            &by_dev,
            Page {
                after: Some(page1[1].id),
                limit: 2,
            },
        )
        .unwrap();
    assert_eq!(page1.len() + page2.len(), 3);
    assert_eq!(page2[0].id, ids[2]);
}

#[test]
fn same_log_same_state_and_ids() {
    let run = || {
        let mut d = Driver::default();
        let t = tenant("a");
        let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
        let s = d.subnet(&t, v, Some("10.0.0.0/24"), None);
        let ids: Vec<Id> = (0..10).map(|_| d.port(&t, s).id).collect();
        (d.state.digest(), ids)
    };
    assert_eq!(run(), run());
}

#[test]
fn snapshot_restore_is_identical_and_behaves_identically() {
    let mut d = Driver::default();
    let net = extnet(&mut d);
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16", "fd00::/48"]);
    let s = d.subnet(&t, v, Some("10.0.1.0/24"), Some("fd00:0:0:1::/64"));
    let ps: Vec<_> = (0..5).map(|_| d.port(&t, s)).collect();
    d.ok(&t, Command::DeletePort { port_id: ps[1].id });
    d.ok(
        &t,
        Command::SetVpcGateway {
            vpc_id: v,
            network_id: net,
            enable_snat: true,
        },
    );
    let fip = created_id(&d.ok(
        &t,
        Command::CreateFloatingIp {
            scope: scope("a"),
            network_id: net,
            ip: None,
            associate: None,
        },
    ));
    d.ok(
        &t,
        Command::AssociateFloatingIp {
            fip_id: fip,
            port_id: ps[0].id,
            fixed_ip: None,
        },
    );
    d.run_with_id(&t, "keep-me", Command::CreatePort(port_cmd(s)))
        .unwrap();

    let mut bytes = Vec::new();
    d.state.write_snapshot(&mut bytes).unwrap();
    let restored = prismnet_state::State::read_snapshot(&bytes[..]).unwrap();
    restored.check_invariants().unwrap();
    assert_eq!(restored.digest(), d.state.digest());

    // Same future: the same commands give the same responses on both.
    let mut twin = Driver {
        state: restored,
        index: d.index,
        next_request: d.next_request,
    };
    for drv in [&mut d, &mut twin] {
        drv.run_with_id(&t, "keep-me", Command::CreatePort(port_cmd(s)))
            .unwrap();
    }
    let a = d.port(&t, s);
    let b = twin.port(&t, s);
    assert_eq!(a, b);
    assert_eq!(d.state.digest(), twin.state.digest());

    // Damage is detected, never restored as a partial state.
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    assert!(prismnet_state::State::read_snapshot(&flipped[..]).is_err());
    assert!(prismnet_state::State::read_snapshot(&bytes[..bytes.len() - 3]).is_err());
    let mut magic = bytes.clone();
    magic[0] = b'X';
    assert!(matches!(
        prismnet_state::State::read_snapshot(&magic[..]),
        Err(prismnet_state::snapshot::SnapshotError::Magic)
    ));
    let mut version = bytes.clone();
    version[8] = 9;
    assert!(matches!(
        prismnet_state::State::read_snapshot(&version[..]),
        Err(prismnet_state::snapshot::SnapshotError::Version(9))
    ));
}

#[test]
fn creations_with_their_extras_are_atomic() {
    // - a VPC created with routes checks them like an update
    // - a group created with rules checks each against the defaults and the others
    // - a floating IP created with an association checks it; a failure creates nothing
    let mut d = Driver::default();
    let net = extnet(&mut d);
    let t = tenant("a");
    let route = |via: &str| StaticRoute {
        destination: "192.168.0.0/16".parse().unwrap(),
        nexthop: ip(via),
    };
    let vpc = |routes| {
        Command::CreateVpc(prismnet_state::command::CreateVpc {
            scope: scope("a"),
            name: "v".into(),
            cidr_blocks: vec!["10.0.0.0/16".parse().unwrap()],
            routes,
        })
    };
    assert_eq!(
        d.err(&t, vpc(vec![route("172.16.0.1")])).reason,
        Reason::InvalidRoute
    );
    assert!(
        d.state.project(&t, &scope("a")).is_err(),
        "a refused first command creates no project"
    );
    let v = created_id(&d.ok(&t, vpc(vec![route("10.0.0.9")])));
    assert_eq!(d.state.vpc(&t, v).unwrap().routes.len(), 1);

    let ssh = RuleSpec {
        direction: Direction::Ingress,
        ethertype: Family::V4,
        protocol: Protocol::Tcp,
        port_min: Some(22),
        port_max: None,
        remote_cidr: None,
        remote_group: Some(group("default")),
    };
    let sg = |name: &str, rules: Vec<RuleSpec>| Command::CreateSecurityGroup {
        scope: scope("a"),
        name: name.into(),
        description: String::new(),
        rules,
    };
    assert_eq!(
        d.err(&t, sg("web", vec![ssh.clone(), ssh.clone()])).reason,
        Reason::RuleExists
    );
    let mut unknown = ssh.clone();
    unknown.remote_group = Some(group("nope"));
    assert_eq!(d.err(&t, sg("web", vec![unknown])).reason, Reason::NotFound);
    let web = created_id(&d.ok(&t, sg("web", vec![ssh])));
    let g = d.state.security_group(&t, web).unwrap();
    assert_eq!(g.rules.len(), 3);
    let ids: std::collections::BTreeSet<Id> = g.rules.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 3, "every rule has its own id");

    let s = d.subnet(&t, v, Some("10.0.1.0/24"), None);
    let p = d.port(&t, s);
    let fip = |associate| Command::CreateFloatingIp {
        scope: scope("a"),
        network_id: net,
        ip: None,
        associate,
    };
    assert_eq!(
        d.err(&t, fip(Some((p.id, None)))).reason,
        Reason::NoExternalGateway
    );
    assert!(d
        .state
        .list_floating_ips(&t, None, Page::default())
        .unwrap()
        .is_empty());
    d.ok(
        &t,
        Command::SetVpcGateway {
            vpc_id: v,
            network_id: net,
            enable_snat: true,
        },
    );
    let f = created_id(&d.ok(&t, fip(Some((p.id, None)))));
    assert_eq!(d.state.floating_ip(&t, f).unwrap().port_id, Some(p.id));
}

#[test]
fn a_batch_applies_like_separate_entries() {
    // - one log entry may carry many proposals; each keeps its own outcome
    // - ids stay unique across the batch, a repeated request id inside the batch is a
    //   replay, a rejected proposal changes nothing and does not disturb the others
    let mut d = Driver::default();
    let t = tenant("a");
    let v = d.vpc(&t, "a", &["10.0.0.0/16"]);
    let s = d.subnet(&t, v, Some("10.0.0.0/24"), None);
    let prop = |rid: &str, c: Command| prismnet_state::Proposal {
        request: prismnet_state::Request {
            actor: t.clone(),
            request_id: rid.into(),
            command: c,
            seen_index: None,
        },
        stamp: prismnet_state::Stamp { time_ms: 7 },
    };
    let mut bad = port_cmd(s);
    bad.fixed_ips = vec![ip("10.9.9.9")];
    let batch = vec![
        prop("b1", Command::CreatePort(port_cmd(s))),
        prop("b2", Command::CreatePort(bad)),
        prop("b3", Command::CreatePort(port_cmd(s))),
        prop("b1", Command::CreatePort(port_cmd(s))),
    ];
    d.index += 1;
    let results = d.state.apply_batch(d.index, &batch);
    d.state.check_invariants().unwrap();
    assert_eq!(results.len(), 4);
    let a = results[0].as_ref().unwrap();
    assert_eq!(
        results[1].as_ref().unwrap_err().reason,
        Reason::IpOutsideSubnet
    );
    let c = results[2].as_ref().unwrap();
    let again = results[3].as_ref().unwrap();
    assert!(again.replayed && again.outcome == a.outcome);
    assert_ne!(a.outcome, c.outcome);
    assert_eq!(d.state.port_count(), 2);
    let ips: Vec<String> = d
        .state
        .list_ports(&t, &PortFilter::default(), Page::default())
        .unwrap()
        .iter()
        .map(|p| p.ipv4.unwrap().to_string())
        .collect();
    assert_eq!(ips, ["10.0.0.2", "10.0.0.3"]);
}

/// - The first SetIncarnation applied names the cluster; later ones (another
///   leader's proposal) change nothing and answer the one in effect.
/// - Only admins may send it, and 0 is not an incarnation.
#[test]
fn incarnation_is_set_once() {
    let mut d = Driver::default();
    assert_eq!(d.state.incarnation(), None);
    let set = |i| Command::SetIncarnation { incarnation: i };
    assert_eq!(d.err(&tenant("a"), set(5)).reason, Reason::AdminOnly);
    assert_eq!(d.err(&ADMIN, set(0)).reason, Reason::InvalidArgument);
    let first = d.ok(&ADMIN, set(5));
    assert_eq!(
        first.outcome,
        prismnet_state::Outcome::Incarnation { incarnation: 5 }
    );
    let second = d.ok(&ADMIN, set(9));
    assert_eq!(
        second.outcome,
        prismnet_state::Outcome::Incarnation { incarnation: 5 }
    );
    assert_eq!(d.state.incarnation(), Some(5));
}

/// Projects page by their (org, project) key: with orgs `a` and `a-b` (which sort
/// the other way round as "org/project" text), pages of any size list every
/// project exactly once, in order.
#[test]
fn projects_page_by_their_key() {
    let mut d = Driver::default();
    let mut all = Vec::new();
    for (org, project) in [
        ("a", "z"),
        ("a", "b"),
        ("a-b", "a"),
        ("a-b", "c"),
        ("b", "a"),
    ] {
        let scope = prismnet_state::Scope::new(org, project).unwrap();
        d.ok(
            &ADMIN,
            Command::SetQuotas {
                scope: scope.clone(),
                quotas: Default::default(),
            },
        );
        all.push(scope);
    }
    all.sort();
    for size in 1..=5 {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = d.state.list_projects(&ADMIN, None, after.as_ref(), size);
            seen.extend(page.iter().map(|p| p.scope.clone()));
            if page.len() < size {
                break;
            }
            after = page.last().map(|p| p.scope.clone());
        }
        assert_eq!(seen, all, "page size {size}");
    }
    let only_a_b: Vec<_> = d
        .state
        .list_projects(&ADMIN, Some("a-b"), None, 0)
        .into_iter()
        .map(|p| p.scope.to_string())
        .collect();
    assert_eq!(only_a_b, ["a-b/a", "a-b/c"]);
    let tenant_sees = d.state.list_projects(&tenant("x"), None, None, 0);
    assert!(tenant_sees.is_empty());
}
