//! `DHCP_Options`: a subnet's DHCPv4 and DHCPv6 settings, referenced by its
//! ports' `dhcpv4_options` / `dhcpv6_options`.

use super::{map_value, Cols, Map, NbRow, RowError, RowKey, Table};
use super::{STRING, STRING_MAP};
use crate::ovsdb::{ColumnKind, Row, Uuid};

pub const TABLE: &str = "DHCP_Options";
pub const COLUMNS: &[(&str, ColumnKind)] = &[
    ("cidr", STRING),
    ("options", STRING_MAP),
    ("external_ids", STRING_MAP),
];

/// Lease handed out by OVN's DHCPv4 responder (Neutron's default).
pub const LEASE_TIME_S: u32 = 43_200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpOptions {
    pub cidr: String,
    pub options: Map,
    pub external_ids: Map,
}

impl NbRow for DhcpOptions {
    const TABLE: Table = Table::DhcpOptions;

    fn external_ids(&self) -> &Map {
        &self.external_ids
    }

    fn to_row(&self) -> Row {
        Row::from([
            ("cidr".into(), self.cidr.as_str().into()),
            ("options".into(), map_value(&self.options)),
            ("external_ids".into(), map_value(&self.external_ids)),
        ])
    }

    fn from_row(row: &Row, _: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError> {
        let c = Cols::new(TABLE, row);
        Ok(DhcpOptions {
            cidr: c.string("cidr")?,
            options: c.map("options")?,
            external_ids: c.map("external_ids")?,
        })
    }
}
