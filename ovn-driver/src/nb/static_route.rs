//! `Logical_Router_Static_Route`: VPC static routes and the default route
//! of a VPC gateway.

use super::{map_value, Cols, Map, NbRow, RowError, RowKey, Table};
use super::{STRING, STRING_MAP};
use crate::ovsdb::{ColumnKind, Row, Uuid};

pub const TABLE: &str = "Logical_Router_Static_Route";
pub const COLUMNS: &[(&str, ColumnKind)] = &[
    ("ip_prefix", STRING),
    ("nexthop", STRING),
    ("external_ids", STRING_MAP),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticRoute {
    pub ip_prefix: String,
    pub nexthop: String,
    pub external_ids: Map,
}

impl NbRow for StaticRoute {
    const TABLE: Table = Table::StaticRoute;

    fn external_ids(&self) -> &Map {
        &self.external_ids
    }

    fn to_row(&self) -> Row {
        Row::from([
            ("ip_prefix".into(), self.ip_prefix.as_str().into()),
            ("nexthop".into(), self.nexthop.as_str().into()),
            ("external_ids".into(), map_value(&self.external_ids)),
        ])
    }

    fn from_row(row: &Row, _: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError> {
        let c = Cols::new(TABLE, row);
        Ok(StaticRoute {
            ip_prefix: c.string("ip_prefix")?,
            nexthop: c.string("nexthop")?,
            external_ids: c.map("external_ids")?,
        })
    }
}
