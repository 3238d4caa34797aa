//! `Port_Group`: one per security group (`pg_<id>`), plus the cluster's
//! default-drop group holding every port with port security.

use super::{map_value, refs_of, Cols, Map, NbRow, RowError, RowKey, Table};
use super::{STRING, STRING_MAP, UUID_SET};
use crate::ovsdb::{ColumnKind, Row, Uuid};

pub const TABLE: &str = "Port_Group";
pub const COLUMNS: &[(&str, ColumnKind)] = &[
    ("name", STRING),
    ("ports", UUID_SET),
    ("acls", UUID_SET),
    ("external_ids", STRING_MAP),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortGroup {
    /// Letters, digits and `_` only, starting with a letter or `_` (it is
    /// used as `@name` in ACL matches).
    pub name: String,
    pub ports: Vec<RowKey>,
    pub acls: Vec<RowKey>,
    pub external_ids: Map,
}

impl NbRow for PortGroup {
    const TABLE: Table = Table::PortGroup;

    fn external_ids(&self) -> &Map {
        &self.external_ids
    }

    fn to_row(&self) -> Row {
        Row::from([
            ("name".into(), self.name.as_str().into()),
            ("external_ids".into(), map_value(&self.external_ids)),
        ])
    }

    fn refs(&self) -> Vec<(&'static str, Table, Vec<RowKey>)> {
        vec![
            refs_of("ports", Table::LogicalSwitchPort, &self.ports),
            refs_of("acls", Table::Acl, &self.acls),
        ]
    }

    fn from_row(row: &Row, resolve: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError> {
        let c = Cols::new(TABLE, row);
        Ok(PortGroup {
            name: c.string("name")?,
            ports: c.refs("ports", resolve)?,
            acls: c.refs("acls", resolve)?,
            external_ids: c.map("external_ids")?,
        })
    }
}

/// Whether `name` can be used as `@name` in a match.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
