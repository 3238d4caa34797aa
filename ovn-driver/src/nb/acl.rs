//! `ACL`: one per security group rule (in the group's Port_Group), plus the
//! default-drop Port_Group's drop and always-allowed (DHCP, ND) entries.

use super::{map_value, Cols, Map, NbRow, RowError, RowKey, Table};
use super::{INTEGER, STRING, STRING_MAP};
use crate::ovsdb::{ColumnKind, Row, Uuid};

pub const TABLE: &str = "ACL";
pub const COLUMNS: &[(&str, ColumnKind)] = &[
    ("priority", INTEGER),
    ("direction", STRING),
    ("match", STRING),
    ("action", STRING),
    ("external_ids", STRING_MAP),
];

/// Priority band, as Neutron: allows above the default drop.
pub const PRIORITY_ALLOW: i64 = 1002;
pub const PRIORITY_DROP: i64 = 1001;

pub const TO_LPORT: &str = "to-lport";
pub const FROM_LPORT: &str = "from-lport";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    pub priority: i64,
    /// `to-lport` (traffic to the VM: ingress rules) or `from-lport`.
    pub direction: String,
    pub match_: String,
    /// `allow-related`, `drop`, ...
    pub action: String,
    pub external_ids: Map,
}

impl NbRow for Acl {
    const TABLE: Table = Table::Acl;

    fn external_ids(&self) -> &Map {
        &self.external_ids
    }

    fn to_row(&self) -> Row {
        Row::from([
            ("priority".into(), self.priority.into()),
            ("direction".into(), self.direction.as_str().into()),
            ("match".into(), self.match_.as_str().into()),
            ("action".into(), self.action.as_str().into()),
            ("external_ids".into(), map_value(&self.external_ids)),
        ])
    }

    fn from_row(row: &Row, _: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError> {
        let c = Cols::new(TABLE, row);
        Ok(Acl {
            priority: c.integer("priority")?,
            direction: c.string("direction")?,
            match_: c.string("match")?,
            action: c.string("action")?,
            external_ids: c.map("external_ids")?,
        })
    }
}
