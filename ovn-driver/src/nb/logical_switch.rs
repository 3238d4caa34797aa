//! `Logical_Switch`: one per subnet, one per external network.

use super::{map_value, refs_of, Cols, Map, NbRow, RowError, RowKey, Table};
use super::{STRING, STRING_MAP, UUID_SET};
use crate::ovsdb::{ColumnKind, Row, Uuid};

pub const TABLE: &str = "Logical_Switch";
pub const COLUMNS: &[(&str, ColumnKind)] = &[
    ("name", STRING),
    ("ports", UUID_SET),
    ("other_config", STRING_MAP),
    ("external_ids", STRING_MAP),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalSwitch {
    pub name: String,
    /// Keys of its owned Logical_Switch_Ports.
    pub ports: Vec<RowKey>,
    pub other_config: Map,
    pub external_ids: Map,
}

impl NbRow for LogicalSwitch {
    const TABLE: Table = Table::LogicalSwitch;

    fn external_ids(&self) -> &Map {
        &self.external_ids
    }

    fn to_row(&self) -> Row {
        Row::from([
            ("name".into(), self.name.as_str().into()),
            ("other_config".into(), map_value(&self.other_config)),
            ("external_ids".into(), map_value(&self.external_ids)),
        ])
    }

    fn refs(&self) -> Vec<(&'static str, Table, Vec<RowKey>)> {
        vec![refs_of("ports", Table::LogicalSwitchPort, &self.ports)]
    }

    fn from_row(row: &Row, resolve: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError> {
        let c = Cols::new(TABLE, row);
        Ok(LogicalSwitch {
            name: c.string("name")?,
            ports: c.refs("ports", resolve)?,
            other_config: c.map("other_config")?,
            external_ids: c.map("external_ids")?,
        })
    }
}
