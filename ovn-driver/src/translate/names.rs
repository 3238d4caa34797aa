//! The naming grammar of PrismNET's NB rows. Deterministic: a function of
//! resource ids only, so every leader computes the same names and a retried
//! write finds its row. VM ports are named by their port id (hypervisors set
//! `external_ids:iface-id=<port id>`).

use std::fmt::Display;

use prismnet_state::Id;

/// Resource kinds in `prismnet:kind`.
pub const KIND_VPC: &str = "vpc";
pub const KIND_SUBNET: &str = "subnet";
pub const KIND_PORT: &str = "port";
pub const KIND_SECURITY_GROUP: &str = "security-group";
pub const KIND_EXTERNAL_NETWORK: &str = "external-network";
pub const KIND_FLOATING_IP: &str = "floating-ip";
/// Rows of the cluster itself (the default-drop port group), id = cluster name.
pub const KIND_CLUSTER: &str = "cluster";

pub fn router(vpc: Id) -> String {
    format!("pn-lr-{vpc}")
}

pub fn switch(subnet: Id) -> String {
    format!("pn-ls-{subnet}")
}

/// The router's interface on a subnet.
pub fn router_port(subnet: Id) -> String {
    format!("pn-lrp-{subnet}")
}

/// The router-type switch port peering with [`router_port`].
pub fn switch_router_port(subnet: Id) -> String {
    format!("pn-rp-{subnet}")
}

pub fn external_switch(network: Id) -> String {
    format!("pn-ext-{network}")
}

pub fn localnet_port(network: Id) -> String {
    format!("pn-ln-{network}")
}

pub fn gateway_router_port(vpc: Id) -> String {
    format!("pn-lrp-gw-{vpc}")
}

pub fn gateway_switch_port(vpc: Id) -> String {
    format!("pn-rp-gw-{vpc}")
}

pub fn gateway_chassis(vpc: Id, chassis: &str) -> String {
    format!("{}_{chassis}", gateway_router_port(vpc))
}

/// `pg_<id with - replaced by _>`: port group names are used as `@name` in
/// matches and may hold only letters, digits and `_`.
pub fn port_group(group: Id) -> String {
    format!("pg_{}", group.to_string().replace('-', "_"))
}

/// `pn_as_<id>_ip4` / `_ip6`, used as `$name` in remote-group matches.
///
/// NOT `<port group>_ip4`: ovn-northd derives SB address sets of exactly
/// those names from every Port_Group itself, and an NB Address_Set with the
/// same name makes every northd SB commit fail (constraint violation on
/// Address_Set.name; seen with OVN 23.03 in `tests/ovn_trace.rs`).
pub fn address_set(group: Id, family: impl Display) -> String {
    format!("pn_as_{}_{family}", group.to_string().replace('-', "_"))
}

/// The cluster's default-drop group (Neutron's `neutron_pg_drop`), one per
/// cluster so two PrismNET clusters can share an NB database.
pub fn drop_port_group(cluster: &str) -> String {
    let safe: String = cluster
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("pn_drop_{safe}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb::port_group::is_valid_name;

    #[test]
    fn port_group_names_are_valid() {
        let id = Id::derive(0xdeadbeef, 42, 3);
        assert_eq!(port_group(id), "pg_deadbeef_0000_0000_0000_002a00000003");
        assert!(is_valid_name(&port_group(id)));
        assert!(is_valid_name(&address_set(id, "ip4")));
        assert!(is_valid_name(&drop_port_group("prod-east.1")));
        assert!(!is_valid_name("1abc") && !is_valid_name("a-b") && !is_valid_name(""));
    }
}
