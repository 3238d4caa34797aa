//! `Gateway_Chassis`: where a VPC's gateway port may run, highest priority
//! first (the external network's chassis list, in order).

use super::{map_value, Cols, Map, NbRow, RowError, RowKey, Table};
use super::{INTEGER, STRING, STRING_MAP};
use crate::ovsdb::{ColumnKind, Row, Uuid};

pub const TABLE: &str = "Gateway_Chassis";
pub const COLUMNS: &[(&str, ColumnKind)] = &[
    ("name", STRING),
    ("chassis_name", STRING),
    ("priority", INTEGER),
    ("external_ids", STRING_MAP),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayChassis {
    pub name: String,
    pub chassis_name: String,
    pub priority: i64,
    pub external_ids: Map,
}

impl NbRow for GatewayChassis {
    const TABLE: Table = Table::GatewayChassis;

    fn external_ids(&self) -> &Map {
        &self.external_ids
    }

    fn to_row(&self) -> Row {
        Row::from([
            ("name".into(), self.name.as_str().into()),
            ("chassis_name".into(), self.chassis_name.as_str().into()),
            ("priority".into(), self.priority.into()),
            ("external_ids".into(), map_value(&self.external_ids)),
        ])
    }

    fn from_row(row: &Row, _: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError> {
        let c = Cols::new(TABLE, row);
        Ok(GatewayChassis {
            name: c.string("name")?,
            chassis_name: c.string("chassis_name")?,
            priority: c.integer("priority")?,
            external_ids: c.map("external_ids")?,
        })
    }
}
