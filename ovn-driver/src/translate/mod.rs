//! The replicated topology as desired OVN Northbound rows: a pure function
//! of `&State` and the cluster name (no I/O, no clocks, ordered maps only),
//! so the same state always yields the same rows.
//!
//! | PrismNET | NB rows |
//! |---|---|
//! | VPC | Logical_Router `pn-lr-<vpc>`; static routes |
//! | subnet | Logical_Switch `pn-ls-<subnet>`; LRP `pn-lrp-<subnet>` (gateway addresses, `gateway_mac`, RA configs); router-type LSP `pn-rp-<subnet>`; DHCP_Options v4/v6 |
//! | port | LSP named by the port id (addresses, port_security, DHCP refs, enabled, requested-chassis) |
//! | security group | Port_Group `pg_<id>` + one ACL per rule; Address_Sets `pn_as_<id>_ip4/_ip6` |
//! | (cluster) | default-drop Port_Group `pn_drop_<cluster>` with every port-secured port |
//! | external network | Logical_Switch `pn-ext-<net>` with a localnet LSP |
//! | VPC gateway | LRP `pn-lrp-gw-<vpc>` + Gateway_Chassis, router-type LSP on the external switch, default route, `snat` per subnet |
//! | floating IP | NAT `dnat_and_snat` on the port's VPC router |

pub mod acl;
pub mod names;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use prismnet_state::model::{FloatingIp, Ipv6Mode, Port, Subnet};
use prismnet_state::net::{Cidr, Family};
use prismnet_state::{Id, State};

use crate::nb::{self, DesiredRow, Map, NbRow, Ownership, RowKey, Table};
use crate::nb::{
    Acl, AddressSet, DhcpOptions, GatewayChassis, LogicalRouter, LogicalRouterPort, LogicalSwitch,
    LogicalSwitchPort, Nat, PortGroup, StaticRoute,
};
use names::*;

macro_rules! any_row {
    ($($t:ident),* $(,)?) => {
        /// A typed row of any table.
        #[derive(Clone, Debug, PartialEq)]
        pub enum AnyRow { $($t($t)),* }

        /// Typed access to the rows of a model.
        pub trait Typed: NbRow {
            fn of(row: &AnyRow) -> Option<&Self>;
        }

        $(
            impl From<$t> for AnyRow {
                fn from(r: $t) -> AnyRow { AnyRow::$t(r) }
            }
            impl Typed for $t {
                fn of(row: &AnyRow) -> Option<&Self> {
                    match row { AnyRow::$t(r) => Some(r), _ => None }
                }
            }
        )*

        impl AnyRow {
            fn to_desired(&self, parent: Option<RowKey>) -> Option<DesiredRow> {
                match self { $(AnyRow::$t(r) => r.to_desired(parent)),* }
            }
        }
    };
}

any_row!(
    LogicalSwitch,
    LogicalSwitchPort,
    LogicalRouter,
    LogicalRouterPort,
    Acl,
    PortGroup,
    AddressSet,
    DhcpOptions,
    Nat,
    StaticRoute,
    GatewayChassis,
);

/// The desired NB contents: every row PrismNET must own, by table and key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NbModel {
    entries: BTreeMap<(Table, RowKey), (AnyRow, DesiredRow)>,
}

impl NbModel {
    fn add(&mut self, row: impl Into<AnyRow>, parent: Option<RowKey>) {
        let row = row.into();
        // Every row is built with ownership ids below; a row without them
        // would be a translation bug, caught by the unit tests.
        let Some(desired) = row.to_desired(parent) else {
            debug_assert!(false, "row without ownership ids: {row:?}");
            return;
        };
        self.entries
            .insert((desired.table, desired.key.clone()), (row, desired));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The rows in creation order (parents' tables first).
    pub fn desired(&self) -> impl Iterator<Item = &DesiredRow> {
        self.entries.values().map(|(_, d)| d)
    }

    pub fn get(&self, table: Table, key: &RowKey) -> Option<&DesiredRow> {
        self.entries.get(&(table, key.clone())).map(|(_, d)| d)
    }

    /// The typed rows of one table.
    pub fn rows<T: Typed + 'static>(&self) -> impl Iterator<Item = &T> {
        self.entries.values().filter_map(|(r, _)| T::of(r))
    }

    pub fn find<T: Typed + 'static>(&self, pred: impl Fn(&T) -> bool) -> Option<&T> {
        self.rows::<T>().find(|r| pred(r))
    }

    /// The (kind, id) of every resource that owns rows.
    pub fn resources(&self) -> BTreeSet<(String, String)> {
        self.entries
            .keys()
            .map(|(_, k)| {
                let (kind, id) = k.resource();
                (kind.to_string(), id.to_string())
            })
            .collect()
    }
}

fn key(ids: &Map) -> RowKey {
    RowKey::from_external_ids(ids).expect("ownership ids carry kind and id")
}

fn ip_only(c: &Cidr) -> String {
    if c.prefix() == c.family().max_prefix() {
        c.network().to_string()
    } else {
        c.to_string()
    }
}

fn ovn_set(items: &[String]) -> String {
    format!("{{{}}}", items.join(", "))
}

/// Translates the whole state. O(state); the reconciler runs it on every
/// batch of changes.
pub fn translate(state: &State, cluster: &str) -> NbModel {
    let o = Ownership::new(cluster);
    let mut m = NbModel::default();

    let mut subnets_of_vpc: BTreeMap<Id, Vec<&Subnet>> = BTreeMap::new();
    for s in state.subnets() {
        subnets_of_vpc.entry(s.vpc_id).or_default().push(s);
    }
    let mut ports_of_subnet: BTreeMap<Id, Vec<&Port>> = BTreeMap::new();
    let mut members: BTreeMap<Id, Vec<&Port>> = BTreeMap::new();
    for p in state.ports() {
        ports_of_subnet.entry(p.subnet_id).or_default().push(p);
        if p.port_security {
            for g in &p.security_groups {
                members.entry(*g).or_default().push(p);
            }
        }
    }
    let subnets: BTreeMap<Id, &Subnet> = state.subnets().map(|s| (s.id, s)).collect();
    let extnets: BTreeMap<Id, _> = state.external_networks().map(|n| (n.id, n)).collect();
    let port_subnet: BTreeMap<Id, Id> = state.ports().map(|p| (p.id, p.subnet_id)).collect();
    let mut fips_of_vpc: BTreeMap<Id, Vec<&FloatingIp>> = BTreeMap::new();
    for fip in state.floating_ips() {
        let vpc = fip
            .port_id
            .and_then(|p| port_subnet.get(&p))
            .and_then(|s| subnets.get(s))
            .map(|s| s.vpc_id);
        if let Some(vpc) = vpc {
            fips_of_vpc.entry(vpc).or_default().push(fip);
        }
    }
    // External switch -> router-type ports of the VPC gateways on it.
    let mut gateways_on: BTreeMap<Id, Vec<RowKey>> = BTreeMap::new();

    // ---- VPCs: router, static routes, gateway ----
    for vpc in state.vpcs() {
        let vpc_ids = o.ids(KIND_VPC, vpc.id);
        let lr_key = key(&vpc_ids);
        let subnets_here = subnets_of_vpc
            .get(&vpc.id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut lr = LogicalRouter {
            name: router(vpc.id),
            ports: subnets_here
                .iter()
                .map(|s| key(&o.ids(KIND_SUBNET, s.id)))
                .collect(),
            static_routes: Vec::new(),
            nat: Vec::new(),
            options: Map::new(),
            external_ids: vpc_ids,
        };
        for r in &vpc.routes {
            let ids = o.ids_role(
                KIND_VPC,
                vpc.id,
                &format!("route:{}:{}", r.destination, r.nexthop),
            );
            lr.static_routes.push(key(&ids));
            let row = StaticRoute {
                ip_prefix: r.destination.to_string(),
                nexthop: r.nexthop.to_string(),
                external_ids: ids,
            };
            m.add(row, Some(lr_key.clone()));
        }
        if let Some((gw, net)) = vpc
            .gateway
            .as_ref()
            .and_then(|gw| Some((gw, *extnets.get(&gw.network_id)?)))
        {
            let lrp_ids = o.ids_role(KIND_VPC, vpc.id, "gateway");
            let lrp_key = key(&lrp_ids);
            let mut lrp = LogicalRouterPort {
                name: gateway_router_port(vpc.id),
                mac: gw.mac.to_string(),
                networks: vec![format!("{}/{}", gw.ip, net.addresses.cidr().prefix())],
                gateway_chassis: Vec::new(),
                ipv6_ra_configs: Map::new(),
                options: Map::new(),
                external_ids: lrp_ids.clone(),
            };
            let n = net.gateway_chassis.len();
            for (i, chassis) in net.gateway_chassis.iter().enumerate() {
                let ids = o.ids_role(KIND_VPC, vpc.id, &format!("gateway-chassis:{chassis}"));
                lrp.gateway_chassis.push(key(&ids));
                let gc = GatewayChassis {
                    name: names::gateway_chassis(vpc.id, chassis),
                    chassis_name: chassis.clone(),
                    // The network lists its chassis by preference.
                    priority: (n - i) as i64,
                    external_ids: ids,
                };
                m.add(gc, Some(lrp_key.clone()));
            }
            m.add(lrp, Some(lr_key.clone()));
            lr.ports.push(lrp_key);

            let lsp = LogicalSwitchPort {
                name: gateway_switch_port(vpc.id),
                type_: "router".into(),
                addresses: vec!["router".into()],
                port_security: Vec::new(),
                enabled: None,
                options: Map::from([("router-port".into(), gateway_router_port(vpc.id))]),
                dhcpv4_options: None,
                dhcpv6_options: None,
                external_ids: lrp_ids,
            };
            gateways_on
                .entry(net.id)
                .or_default()
                .push(key(&lsp.external_ids));
            m.add(lsp, Some(key(&o.ids(KIND_EXTERNAL_NETWORK, net.id))));

            let upstream = net.gateway_ip();
            let ids = o.ids_role(KIND_VPC, vpc.id, "default-route");
            lr.static_routes.push(key(&ids));
            let default = match upstream {
                IpAddr::V4(_) => "0.0.0.0/0",
                IpAddr::V6(_) => "::/0",
            };
            let route = StaticRoute {
                ip_prefix: default.into(),
                nexthop: upstream.to_string(),
                external_ids: ids,
            };
            m.add(route, Some(lr_key.clone()));

            if gw.enable_snat && gw.ip.is_ipv4() {
                for s in subnets_here {
                    let Some(v4) = &s.v4 else { continue };
                    let ids = o.ids_role(KIND_VPC, vpc.id, &format!("snat:{}", s.id));
                    lr.nat.push(key(&ids));
                    let nat = Nat {
                        type_: "snat".into(),
                        external_ip: gw.ip.to_string(),
                        logical_ip: v4.cidr().to_string(),
                        logical_port: None,
                        external_mac: None,
                        external_ids: ids,
                    };
                    m.add(nat, Some(lr_key.clone()));
                }
            }
        }
        for fip in fips_of_vpc.get(&vpc.id).map(Vec::as_slice).unwrap_or(&[]) {
            let (Some(port_id), Some(fixed)) = (fip.port_id, fip.fixed_ip) else {
                continue;
            };
            let ids = o.ids(KIND_FLOATING_IP, fip.id);
            lr.nat.push(key(&ids));
            let nat = Nat {
                type_: "dnat_and_snat".into(),
                external_ip: fip.ip.to_string(),
                logical_ip: fixed.to_string(),
                logical_port: Some(port_id.to_string()),
                external_mac: None,
                external_ids: ids,
            };
            m.add(nat, Some(lr_key.clone()));
        }
        lr.ports.sort();
        lr.static_routes.sort();
        lr.nat.sort();
        m.add(lr, None);
    }

    // ---- subnets: switch, router interface, DHCP ----
    for s in state.subnets() {
        let ids = o.ids(KIND_SUBNET, s.id);
        let ls_key = key(&ids);
        let dhcp4 = (s.dhcp_enabled && s.v4.is_some())
            .then(|| key(&o.ids_role(KIND_SUBNET, s.id, "dhcpv4")));
        let dhcp6 = (s.dhcp_enabled && s.v6.is_some() && s.ipv6_mode != Ipv6Mode::Slaac)
            .then(|| key(&o.ids_role(KIND_SUBNET, s.id, "dhcpv6")));
        add_subnet_dhcp(&mut m, &o, s);

        let rp_ids = o.ids_role(KIND_SUBNET, s.id, "router-port");
        let mut ls = LogicalSwitch {
            name: switch(s.id),
            ports: vec![key(&rp_ids)],
            other_config: Map::new(),
            external_ids: ids.clone(),
        };
        let rsp = LogicalSwitchPort {
            name: switch_router_port(s.id),
            type_: "router".into(),
            addresses: vec!["router".into()],
            port_security: Vec::new(),
            enabled: None,
            options: Map::from([("router-port".into(), router_port(s.id))]),
            dhcpv4_options: None,
            dhcpv6_options: None,
            external_ids: rp_ids,
        };
        m.add(rsp, Some(ls_key.clone()));

        let mut ra = Map::new();
        if s.v6.is_some() {
            let mode = match s.ipv6_mode {
                Ipv6Mode::Slaac => "slaac",
                Ipv6Mode::Dhcpv6Stateful => "dhcpv6_stateful",
                Ipv6Mode::Dhcpv6Stateless => "dhcpv6_stateless",
            };
            ra.insert("address_mode".into(), mode.into());
            ra.insert("send_periodic".into(), "true".into());
            ra.insert("mtu".into(), s.mtu.to_string());
        }
        let lrp = LogicalRouterPort {
            name: router_port(s.id),
            mac: s.gateway_mac.to_string(),
            networks: s
                .v4
                .iter()
                .chain(s.v6.iter())
                .map(|f| format!("{}/{}", f.gateway(), f.cidr().prefix()))
                .collect(),
            gateway_chassis: Vec::new(),
            ipv6_ra_configs: ra,
            options: Map::new(),
            external_ids: ids,
        };
        m.add(lrp, Some(key(&o.ids(KIND_VPC, s.vpc_id))));

        for p in ports_of_subnet.get(&s.id).map(Vec::as_slice).unwrap_or(&[]) {
            let lsp = port_lsp(&o, p, dhcp4.clone(), dhcp6.clone());
            ls.ports.push(key(&lsp.external_ids));
            m.add(lsp, Some(ls_key.clone()));
        }
        ls.ports.sort();
        m.add(ls, None);
    }

    // ---- external networks: switch with a localnet port ----
    for net in state.external_networks() {
        let ids = o.ids(KIND_EXTERNAL_NETWORK, net.id);
        let ls_key = key(&ids);
        let ln_ids = o.ids_role(KIND_EXTERNAL_NETWORK, net.id, "localnet");
        let mut ports = vec![key(&ln_ids)];
        ports.extend(gateways_on.remove(&net.id).unwrap_or_default());
        ports.sort();
        let ln = LogicalSwitchPort {
            name: localnet_port(net.id),
            type_: "localnet".into(),
            addresses: vec!["unknown".into()],
            port_security: Vec::new(),
            enabled: None,
            options: Map::from([("network_name".into(), net.provider_network.clone())]),
            dhcpv4_options: None,
            dhcpv6_options: None,
            external_ids: ln_ids,
        };
        m.add(ln, Some(ls_key.clone()));
        let ls = LogicalSwitch {
            name: external_switch(net.id),
            ports,
            other_config: Map::new(),
            external_ids: ids,
        };
        m.add(ls, None);
    }

    // ---- security groups ----
    for g in state.security_groups() {
        let pg = port_group(g.id);
        let ids = o.ids(KIND_SECURITY_GROUP, g.id);
        let pg_key = key(&ids);
        let ports_here = members.get(&g.id).map(Vec::as_slice).unwrap_or(&[]);
        let mut row = PortGroup {
            name: pg.clone(),
            ports: ports_here
                .iter()
                .map(|p| key(&o.ids(KIND_PORT, p.id)))
                .collect(),
            acls: Vec::new(),
            external_ids: ids,
        };
        for rule in &g.rules {
            let mut ids = o.ids(KIND_SECURITY_GROUP, g.id);
            ids.insert(nb::RULE_ID_KEY.into(), rule.id.to_string());
            row.acls.push(key(&ids));
            let a = Acl {
                priority: nb::acl::PRIORITY_ALLOW,
                direction: acl::direction(rule).into(),
                match_: acl::rule_match(&pg, rule),
                action: "allow-related".into(),
                external_ids: ids,
            };
            m.add(a, Some(pg_key.clone()));
        }
        for (family, name) in [(Family::V4, "ip4"), (Family::V6, "ip6")] {
            let mut addresses: Vec<String> = ports_here
                .iter()
                .flat_map(|p| p.fixed_ips())
                .filter(|ip| Family::of(ip) == family)
                .map(|ip| ip.to_string())
                .collect();
            addresses.sort();
            let set = AddressSet {
                name: address_set(g.id, name),
                addresses,
                external_ids: o.ids_role(KIND_SECURITY_GROUP, g.id, name),
            };
            m.add(set, None);
        }
        row.ports.sort();
        row.acls.sort();
        m.add(row, None);
    }

    // ---- the default-drop group: every port with port security ----
    let drop = drop_port_group(cluster);
    let ids = o.ids_role(KIND_CLUSTER, cluster, "default-drop");
    let pg_key = key(&ids);
    let mut pg = PortGroup {
        name: drop.clone(),
        ports: state
            .ports()
            .filter(|p| p.port_security)
            .map(|p| key(&o.ids(KIND_PORT, p.id)))
            .collect(),
        acls: Vec::new(),
        external_ids: ids,
    };
    let drop_acls = [
        (
            "drop-from-lport",
            nb::acl::FROM_LPORT,
            nb::acl::PRIORITY_DROP,
            format!("inport == @{drop} && ip"),
            "drop",
        ),
        (
            "drop-to-lport",
            nb::acl::TO_LPORT,
            nb::acl::PRIORITY_DROP,
            format!("outport == @{drop} && ip"),
            "drop",
        ),
        (
            "allow-from-lport",
            nb::acl::FROM_LPORT,
            nb::acl::PRIORITY_ALLOW,
            acl::drop_group_egress_allow(&drop),
            "allow",
        ),
        (
            "allow-to-lport",
            nb::acl::TO_LPORT,
            nb::acl::PRIORITY_ALLOW,
            acl::drop_group_ingress_allow(&drop),
            "allow",
        ),
    ];
    for (role, direction, priority, match_, action) in drop_acls {
        let ids = o.ids_role(KIND_CLUSTER, cluster, role);
        pg.acls.push(key(&ids));
        let a = Acl {
            priority,
            direction: direction.into(),
            match_,
            action: action.into(),
            external_ids: ids,
        };
        m.add(a, Some(pg_key.clone()));
    }
    pg.ports.sort();
    pg.acls.sort();
    m.add(pg, None);
    m
}

fn add_subnet_dhcp(m: &mut NbModel, o: &Ownership, s: &Subnet) {
    if !s.dhcp_enabled {
        return;
    }
    let dns = |family: Family| -> Vec<String> {
        s.dns_servers
            .iter()
            .filter(|ip| Family::of(ip) == family)
            .map(ToString::to_string)
            .collect()
    };
    if let Some(v4) = &s.v4 {
        let gw = v4.gateway().to_string();
        let mut opts = Map::from([
            ("router".into(), gw.clone()),
            ("server_id".into(), gw.clone()),
            ("server_mac".into(), s.gateway_mac.to_string()),
            (
                "lease_time".into(),
                nb::dhcp_options::LEASE_TIME_S.to_string(),
            ),
            ("mtu".into(), s.mtu.to_string()),
        ]);
        let dns4 = dns(Family::V4);
        if !dns4.is_empty() {
            opts.insert("dns_server".into(), ovn_set(&dns4));
        }
        let routes: Vec<String> = s
            .host_routes
            .iter()
            .filter(|r| r.destination.family() == Family::V4)
            .map(|r| format!("{},{}", r.destination, r.nexthop))
            .collect();
        if !routes.is_empty() {
            // RFC 3442: a client given classless routes ignores the router
            // option, so the default route is repeated here.
            let mut all = routes;
            all.push(format!("0.0.0.0/0,{gw}"));
            opts.insert("classless_static_route".into(), ovn_set(&all));
        }
        let row = DhcpOptions {
            cidr: v4.cidr().to_string(),
            options: opts,
            external_ids: o.ids_role(KIND_SUBNET, s.id, "dhcpv4"),
        };
        m.add(row, None);
    }
    if let Some(v6) = &s.v6 {
        if s.ipv6_mode == Ipv6Mode::Slaac {
            return;
        }
        let mut opts = Map::from([("server_id".into(), s.gateway_mac.to_string())]);
        let dns6 = dns(Family::V6);
        if !dns6.is_empty() {
            opts.insert("dns_server".into(), ovn_set(&dns6));
        }
        if s.ipv6_mode == Ipv6Mode::Dhcpv6Stateless {
            opts.insert("dhcpv6_stateless".into(), "true".into());
        }
        let row = DhcpOptions {
            cidr: v6.cidr().to_string(),
            options: opts,
            external_ids: o.ids_role(KIND_SUBNET, s.id, "dhcpv6"),
        };
        m.add(row, None);
    }
}

fn port_lsp(
    o: &Ownership,
    p: &Port,
    dhcp4: Option<RowKey>,
    dhcp6: Option<RowKey>,
) -> LogicalSwitchPort {
    let mut lsp_addr = vec![p.mac.to_string()];
    lsp_addr.extend(p.fixed_ips().map(|ip| ip.to_string()));
    let address = lsp_addr.join(" ");
    let mut addresses = vec![address.clone()];
    let mut port_security = Vec::new();
    if p.port_security {
        port_security.push(address);
        let mut pairs = p.allowed_address_pairs.clone();
        pairs.sort();
        for pair in pairs {
            let mac = pair.mac.unwrap_or(p.mac);
            port_security.push(format!("{mac} {}", ip_only(&pair.ip)));
        }
    } else {
        // Without port security the VM may use any MAC: let the switch
        // deliver frames for unknown addresses to it (Neutron does the same).
        addresses.push("unknown".into());
    }
    let mut options = Map::new();
    if !p.host.is_empty() {
        options.insert("requested-chassis".into(), p.host.to_string());
    }
    LogicalSwitchPort {
        name: p.id.to_string(),
        type_: String::new(),
        addresses,
        port_security,
        enabled: Some(p.admin_state_up),
        options,
        dhcpv4_options: dhcp4.filter(|_| p.ipv4.is_some()),
        dhcpv6_options: dhcp6.filter(|_| p.ipv6.is_some()),
        external_ids: o.ids(KIND_PORT, p.id),
    }
}

#[cfg(test)]
mod tests;
