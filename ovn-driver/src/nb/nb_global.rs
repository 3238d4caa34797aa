//! `NB_Global`: the single row whose `external_ids` holds the fence
//! (`prismnet-epoch:<cluster>`, see `reconcile::fence`). PrismNET never owns
//! this row: it only edits its one key with single-key mutations.

use super::{Cols, Map, RowError, STRING_MAP};
use crate::ovsdb::{ColumnKind, Row};

pub const TABLE: &str = "NB_Global";
pub const COLUMNS: &[(&str, ColumnKind)] = &[("external_ids", STRING_MAP)];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NbGlobal {
    pub external_ids: Map,
}

impl NbGlobal {
    pub fn from_row(row: &Row) -> Result<Self, RowError> {
        Ok(NbGlobal {
            external_ids: Cols::new(TABLE, row).map("external_ids")?,
        })
    }
}
