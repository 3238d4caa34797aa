//! `Logical_Router_Port`: a VPC router's interface on a subnet (the subnet's
//! gateway addresses and `gateway_mac`) or its gateway port on an external
//! network.

use super::{map_value, refs_of, set_value, Cols, Map, NbRow, RowError, RowKey, Table};
use super::{STRING, STRING_MAP, STRING_SET, UUID_SET};
use crate::ovsdb::{ColumnKind, Row, Uuid};

pub const TABLE: &str = "Logical_Router_Port";
pub const COLUMNS: &[(&str, ColumnKind)] = &[
    ("name", STRING),
    ("mac", STRING),
    ("networks", STRING_SET),
    ("gateway_chassis", UUID_SET),
    ("ipv6_ra_configs", STRING_MAP),
    ("options", STRING_MAP),
    ("external_ids", STRING_MAP),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalRouterPort {
    pub name: String,
    pub mac: String,
    /// `address/prefix`, e.g. `10.0.0.1/24`.
    pub networks: Vec<String>,
    pub gateway_chassis: Vec<RowKey>,
    pub ipv6_ra_configs: Map,
    pub options: Map,
    pub external_ids: Map,
}

impl NbRow for LogicalRouterPort {
    const TABLE: Table = Table::LogicalRouterPort;

    fn external_ids(&self) -> &Map {
        &self.external_ids
    }

    fn to_row(&self) -> Row {
        Row::from([
            ("name".into(), self.name.as_str().into()),
            ("mac".into(), self.mac.as_str().into()),
            ("networks".into(), set_value(&self.networks)),
            ("ipv6_ra_configs".into(), map_value(&self.ipv6_ra_configs)),
            ("options".into(), map_value(&self.options)),
            ("external_ids".into(), map_value(&self.external_ids)),
        ])
    }

    fn refs(&self) -> Vec<(&'static str, Table, Vec<RowKey>)> {
        vec![refs_of(
            "gateway_chassis",
            Table::GatewayChassis,
            &self.gateway_chassis,
        )]
    }

    fn from_row(row: &Row, resolve: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError> {
        let c = Cols::new(TABLE, row);
        Ok(LogicalRouterPort {
            name: c.string("name")?,
            mac: c.string("mac")?,
            networks: c.strings("networks")?.into_iter().collect(),
            gateway_chassis: c.refs("gateway_chassis", resolve)?,
            ipv6_ra_configs: c.map("ipv6_ra_configs")?,
            options: c.map("options")?,
            external_ids: c.map("external_ids")?,
        })
    }
}
