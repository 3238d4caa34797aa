//! `NAT`: a VPC gateway's `snat` per subnet, and `dnat_and_snat` per floating
//! IP.

use super::{map_value, opt_value, Cols, Map, NbRow, RowError, RowKey, Table};
use super::{STRING, STRING_MAP, STRING_SET};
use crate::ovsdb::{ColumnKind, Row, Uuid};

pub const TABLE: &str = "NAT";
pub const COLUMNS: &[(&str, ColumnKind)] = &[
    ("type", STRING),
    ("external_ip", STRING),
    ("logical_ip", STRING),
    ("logical_port", STRING_SET),
    ("external_mac", STRING_SET),
    ("external_ids", STRING_MAP),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat {
    /// `snat` or `dnat_and_snat`.
    pub type_: String,
    pub external_ip: String,
    pub logical_ip: String,
    pub logical_port: Option<String>,
    pub external_mac: Option<String>,
    pub external_ids: Map,
}

impl NbRow for Nat {
    const TABLE: Table = Table::Nat;

    fn external_ids(&self) -> &Map {
        &self.external_ids
    }

    fn to_row(&self) -> Row {
        Row::from([
            ("type".into(), self.type_.as_str().into()),
            ("external_ip".into(), self.external_ip.as_str().into()),
            ("logical_ip".into(), self.logical_ip.as_str().into()),
            ("logical_port".into(), opt_value(self.logical_port.clone())),
            ("external_mac".into(), opt_value(self.external_mac.clone())),
            ("external_ids".into(), map_value(&self.external_ids)),
        ])
    }

    fn from_row(row: &Row, _: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError> {
        let c = Cols::new(TABLE, row);
        Ok(Nat {
            type_: c.string("type")?,
            external_ip: c.string("external_ip")?,
            logical_ip: c.string("logical_ip")?,
            logical_port: c.opt_string("logical_port")?,
            external_mac: c.opt_string("external_mac")?,
            external_ids: c.map("external_ids")?,
        })
    }
}
