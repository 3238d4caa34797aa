//! `Logical_Router`: the implicit router of a VPC.

use super::{map_value, refs_of, Cols, Map, NbRow, RowError, RowKey, Table};
use super::{STRING, STRING_MAP, UUID_SET};
use crate::ovsdb::{ColumnKind, Row, Uuid};

pub const TABLE: &str = "Logical_Router";
pub const COLUMNS: &[(&str, ColumnKind)] = &[
    ("name", STRING),
    ("ports", UUID_SET),
    ("static_routes", UUID_SET),
    ("nat", UUID_SET),
    ("options", STRING_MAP),
    ("external_ids", STRING_MAP),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalRouter {
    pub name: String,
    pub ports: Vec<RowKey>,
    pub static_routes: Vec<RowKey>,
    pub nat: Vec<RowKey>,
    pub options: Map,
    pub external_ids: Map,
}

impl NbRow for LogicalRouter {
    const TABLE: Table = Table::LogicalRouter;

    fn external_ids(&self) -> &Map {
        &self.external_ids
    }

    fn to_row(&self) -> Row {
        Row::from([
            ("name".into(), self.name.as_str().into()),
            ("options".into(), map_value(&self.options)),
            ("external_ids".into(), map_value(&self.external_ids)),
        ])
    }

    fn refs(&self) -> Vec<(&'static str, Table, Vec<RowKey>)> {
        vec![
            refs_of("ports", Table::LogicalRouterPort, &self.ports),
            refs_of("static_routes", Table::StaticRoute, &self.static_routes),
            refs_of("nat", Table::Nat, &self.nat),
        ]
    }

    fn from_row(row: &Row, resolve: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError> {
        let c = Cols::new(TABLE, row);
        Ok(LogicalRouter {
            name: c.string("name")?,
            ports: c.refs("ports", resolve)?,
            static_routes: c.refs("static_routes", resolve)?,
            nat: c.refs("nat", resolve)?,
            options: c.map("options")?,
            external_ids: c.map("external_ids")?,
        })
    }
}
