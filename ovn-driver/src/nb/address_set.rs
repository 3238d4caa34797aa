//! `Address_Set`: `<pg>_ip4` / `<pg>_ip6`, the addresses of a security
//! group's member ports, for rules whose remote is that group.

use super::{map_value, set_value, Cols, Map, NbRow, RowError, RowKey, Table};
use super::{STRING, STRING_MAP, STRING_SET};
use crate::ovsdb::{ColumnKind, Row, Uuid};

pub const TABLE: &str = "Address_Set";
pub const COLUMNS: &[(&str, ColumnKind)] = &[
    ("name", STRING),
    ("addresses", STRING_SET),
    ("external_ids", STRING_MAP),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressSet {
    pub name: String,
    pub addresses: Vec<String>,
    pub external_ids: Map,
}

impl NbRow for AddressSet {
    const TABLE: Table = Table::AddressSet;

    fn external_ids(&self) -> &Map {
        &self.external_ids
    }

    fn to_row(&self) -> Row {
        Row::from([
            ("name".into(), self.name.as_str().into()),
            ("addresses".into(), set_value(&self.addresses)),
            ("external_ids".into(), map_value(&self.external_ids)),
        ])
    }

    fn from_row(row: &Row, _: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError> {
        let c = Cols::new(TABLE, row);
        Ok(AddressSet {
            name: c.string("name")?,
            addresses: c.strings("addresses")?.into_iter().collect(),
            external_ids: c.map("external_ids")?,
        })
    }
}
