//! `Logical_Switch_Port`: a VM port (named by the port id, so a hypervisor
//! binds it with `external_ids:iface-id=<port id>`), a router-type port
//! joining a switch to a router, or a localnet port of an external network.

use super::{map_value, opt_value, set_value, Cols, Map, NbRow, RowError, RowKey, Table};
use super::{BOOL_SET, STRING, STRING_MAP, STRING_SET, UUID_SET};
use crate::ovsdb::{ColumnKind, Row, Uuid};

pub const TABLE: &str = "Logical_Switch_Port";
pub const COLUMNS: &[(&str, ColumnKind)] = &[
    ("name", STRING),
    ("type", STRING),
    ("addresses", STRING_SET),
    ("port_security", STRING_SET),
    ("enabled", BOOL_SET),
    ("options", STRING_MAP),
    ("dhcpv4_options", UUID_SET),
    ("dhcpv6_options", UUID_SET),
    ("external_ids", STRING_MAP),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalSwitchPort {
    pub name: String,
    /// "" (VM port), "router" or "localnet".
    pub type_: String,
    pub addresses: Vec<String>,
    pub port_security: Vec<String>,
    pub enabled: Option<bool>,
    pub options: Map,
    pub dhcpv4_options: Option<RowKey>,
    pub dhcpv6_options: Option<RowKey>,
    pub external_ids: Map,
}

impl NbRow for LogicalSwitchPort {
    const TABLE: Table = Table::LogicalSwitchPort;

    fn external_ids(&self) -> &Map {
        &self.external_ids
    }

    fn to_row(&self) -> Row {
        Row::from([
            ("name".into(), self.name.as_str().into()),
            ("type".into(), self.type_.as_str().into()),
            ("addresses".into(), set_value(&self.addresses)),
            ("port_security".into(), set_value(&self.port_security)),
            ("enabled".into(), opt_value(self.enabled)),
            ("options".into(), map_value(&self.options)),
            ("external_ids".into(), map_value(&self.external_ids)),
        ])
    }

    fn refs(&self) -> Vec<(&'static str, Table, Vec<RowKey>)> {
        let one = |k: &Option<RowKey>| k.iter().cloned().collect();
        vec![
            (
                "dhcpv4_options",
                Table::DhcpOptions,
                one(&self.dhcpv4_options),
            ),
            (
                "dhcpv6_options",
                Table::DhcpOptions,
                one(&self.dhcpv6_options),
            ),
        ]
    }

    fn from_row(row: &Row, resolve: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError> {
        let c = Cols::new(TABLE, row);
        Ok(LogicalSwitchPort {
            name: c.string("name")?,
            type_: c.string("type")?,
            addresses: c.strings("addresses")?.into_iter().collect(),
            port_security: c.strings("port_security")?.into_iter().collect(),
            enabled: c.opt_bool("enabled")?,
            options: c.map("options")?,
            dhcpv4_options: c.refs("dhcpv4_options", resolve)?.into_iter().next(),
            dhcpv6_options: c.refs("dhcpv6_options", resolve)?.into_iter().next(),
            external_ids: c.map("external_ids")?,
        })
    }
}

/// The `up` column northd sets once a chassis has bound the port; `None`
/// until northd has looked at the port.
pub fn up(row: &Row) -> Option<bool> {
    Cols::new(TABLE, row).opt_bool("up").ok().flatten()
}
