//! Typed rows of the OVN Northbound tables PrismNET writes: one module per
//! table (as ovn-kubernetes' `libovsdb/ops`), each with its row struct, the
//! conversion to and from OVSDB rows, and the columns it needs from the
//! schema ([`requirements`] feeds them to the client's schema check, so an
//! incompatible NB is refused at connect).
//!
//! Ownership: every row PrismNET writes carries
//! `prismnet:owner=prismnet`, `prismnet:cluster=<cluster name>`,
//! `prismnet:kind=<kind>`, `prismnet:id=<resource id>` and, where one resource
//! owns several rows of a table, `prismnet:rule-id` or `prismnet:role`.
//! Those keys make the row's identity ([`RowKey`]); rows without them (or
//! with another cluster's name) are foreign and never touched.

pub mod acl;
pub mod address_set;
pub mod dhcp_options;
pub mod gateway_chassis;
pub mod logical_router;
pub mod logical_router_port;
pub mod logical_switch;
pub mod logical_switch_port;
pub mod nat;
pub mod nb_global;
pub mod port_group;
pub mod static_route;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::ovsdb::{Atom, AtomicType, ColumnKind, Condition, Row, SchemaRequirements, Uuid, Value};

pub use acl::Acl;
pub use address_set::AddressSet;
pub use dhcp_options::DhcpOptions;
pub use gateway_chassis::GatewayChassis;
pub use logical_router::LogicalRouter;
pub use logical_router_port::LogicalRouterPort;
pub use logical_switch::LogicalSwitch;
pub use logical_switch_port::LogicalSwitchPort;
pub use nat::Nat;
pub use port_group::PortGroup;
pub use static_route::StaticRoute;

/// The database the driver talks to.
pub const NB_DATABASE: &str = "OVN_Northbound";

pub const OWNER_KEY: &str = "prismnet:owner";
pub const OWNER_VALUE: &str = "prismnet";
pub const CLUSTER_KEY: &str = "prismnet:cluster";
pub const KIND_KEY: &str = "prismnet:kind";
pub const ID_KEY: &str = "prismnet:id";
pub const RULE_ID_KEY: &str = "prismnet:rule-id";
pub const ROLE_KEY: &str = "prismnet:role";

/// A string-to-string map column (`external_ids`, `options`, ...).
pub type Map = BTreeMap<String, String>;

pub(crate) const STRING: ColumnKind = ColumnKind::Scalar(AtomicType::String);
pub(crate) const INTEGER: ColumnKind = ColumnKind::Scalar(AtomicType::Integer);
pub(crate) const STRING_SET: ColumnKind = ColumnKind::Set(AtomicType::String);
pub(crate) const BOOL_SET: ColumnKind = ColumnKind::Set(AtomicType::Boolean);
pub(crate) const UUID_SET: ColumnKind = ColumnKind::Set(AtomicType::Uuid);
pub(crate) const STRING_MAP: ColumnKind = ColumnKind::Map(AtomicType::String, AtomicType::String);

/// The NB tables PrismNET owns rows in, in creation order: parents before
/// children (a child row must be inserted in the same transaction that links
/// it to its parent, or the server garbage-collects it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    DhcpOptions,
    AddressSet,
    LogicalSwitch,
    LogicalRouter,
    PortGroup,
    LogicalSwitchPort,
    LogicalRouterPort,
    StaticRoute,
    Nat,
    Acl,
    GatewayChassis,
}

impl Table {
    pub const ALL: [Table; 11] = [
        Table::DhcpOptions,
        Table::AddressSet,
        Table::LogicalSwitch,
        Table::LogicalRouter,
        Table::PortGroup,
        Table::LogicalSwitchPort,
        Table::LogicalRouterPort,
        Table::StaticRoute,
        Table::Nat,
        Table::Acl,
        Table::GatewayChassis,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::DhcpOptions => dhcp_options::TABLE,
            Table::AddressSet => address_set::TABLE,
            Table::LogicalSwitch => logical_switch::TABLE,
            Table::LogicalRouter => logical_router::TABLE,
            Table::PortGroup => port_group::TABLE,
            Table::LogicalSwitchPort => logical_switch_port::TABLE,
            Table::LogicalRouterPort => logical_router_port::TABLE,
            Table::StaticRoute => static_route::TABLE,
            Table::Nat => nat::TABLE,
            Table::Acl => acl::TABLE,
            Table::GatewayChassis => gateway_chassis::TABLE,
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn columns(self) -> &'static [(&'static str, ColumnKind)] {
        match self {
            Table::DhcpOptions => dhcp_options::COLUMNS,
            Table::AddressSet => address_set::COLUMNS,
            Table::LogicalSwitch => logical_switch::COLUMNS,
            Table::LogicalRouter => logical_router::COLUMNS,
            Table::PortGroup => port_group::COLUMNS,
            Table::LogicalSwitchPort => logical_switch_port::COLUMNS,
            Table::LogicalRouterPort => logical_router_port::COLUMNS,
            Table::StaticRoute => static_route::COLUMNS,
            Table::Nat => nat::COLUMNS,
            Table::Acl => acl::COLUMNS,
            Table::GatewayChassis => gateway_chassis::COLUMNS,
        }
    }

    /// Non-root tables: the parent table and its column that holds the
    /// (strong) reference keeping a row of this table alive.
    pub fn parent(self) -> Option<(Table, &'static str)> {
        match self {
            Table::LogicalSwitchPort => Some((Table::LogicalSwitch, "ports")),
            Table::LogicalRouterPort => Some((Table::LogicalRouter, "ports")),
            Table::StaticRoute => Some((Table::LogicalRouter, "static_routes")),
            Table::Nat => Some((Table::LogicalRouter, "nat")),
            Table::Acl => Some((Table::PortGroup, "acls")),
            Table::GatewayChassis => Some((Table::LogicalRouterPort, "gateway_chassis")),
            _ => None,
        }
    }

    /// Depth below a root table: rows are inserted level by level.
    pub fn level(self) -> usize {
        match self.parent() {
            None => 0,
            Some((p, _)) => p.level() + 1,
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The schema the driver relies on: every managed column of every table, plus
/// NB_Global's `external_ids` (the fence) and the LSP `up` column (status).
pub fn requirements() -> SchemaRequirements {
    let mut req = SchemaRequirements::new();
    for t in Table::ALL {
        for (column, kind) in t.columns() {
            req = req.column(t.name(), column, *kind);
        }
    }
    for (column, kind) in nb_global::COLUMNS {
        req = req.column(nb_global::TABLE, column, *kind);
    }
    req.column(logical_switch_port::TABLE, "up", BOOL_SET)
}

/// Identity of an owned row within its table: `kind/id[/rule-id or role]`
/// from its ownership external_ids.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowKey(String);

impl RowKey {
    pub fn from_external_ids(ids: &Map) -> Option<RowKey> {
        RowKey::from_ids(|k| ids.get(k).map(String::as_str))
    }

    /// [`Self::from_external_ids`] over any lookup of external_ids keys.
    pub fn from_ids<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<RowKey> {
        let kind = get(KIND_KEY)?;
        let id = get(ID_KEY)?;
        let sub = get(RULE_ID_KEY).or_else(|| get(ROLE_KEY));
        Some(RowKey(match sub {
            Some(s) => format!("{kind}/{id}/{s}"),
            None => format!("{kind}/{id}"),
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The resource the row belongs to: (kind, id).
    pub fn resource(&self) -> (&str, &str) {
        let mut parts = self.0.splitn(3, '/');
        let kind = parts.next().unwrap_or_default();
        let id = parts.next().unwrap_or_default();
        (kind, id)
    }
}

impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which cluster's rows are ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ownership {
    pub cluster: String,
}

impl Ownership {
    pub fn new(cluster: &str) -> Ownership {
        Ownership {
            cluster: cluster.to_string(),
        }
    }

    /// Ownership external_ids of a row of resource `kind`/`id`.
    pub fn ids(&self, kind: &str, id: impl fmt::Display) -> Map {
        let mut m = Map::new();
        m.insert(OWNER_KEY.into(), OWNER_VALUE.into());
        m.insert(CLUSTER_KEY.into(), self.cluster.clone());
        m.insert(KIND_KEY.into(), kind.into());
        m.insert(ID_KEY.into(), id.to_string());
        m
    }

    /// Like [`Self::ids`] for one of several rows of a resource in a table.
    pub fn ids_role(&self, kind: &str, id: impl fmt::Display, role: &str) -> Map {
        let mut m = self.ids(kind, id);
        m.insert(ROLE_KEY.into(), role.into());
        m
    }

    /// The single-key test that selects our rows (monitor_cond, select).
    pub fn condition(&self) -> Condition {
        Condition::includes(
            "external_ids",
            Value::map([
                (OWNER_KEY, OWNER_VALUE),
                (CLUSTER_KEY, self.cluster.as_str()),
            ]),
        )
    }

    pub fn owns(&self, external_ids: &Map) -> bool {
        self.owns_ids(|k| external_ids.get(k).map(String::as_str))
    }

    /// [`Self::owns`] over any lookup of external_ids keys.
    pub fn owns_ids<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        get(OWNER_KEY) == Some(OWNER_VALUE) && get(CLUSTER_KEY) == Some(self.cluster.as_str())
    }
}

/// A row in the shape the reconciler diffs: managed value columns, managed
/// references (to owned rows only, by key), and the parent that keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredRow {
    pub table: Table,
    pub key: RowKey,
    /// Every managed non-reference column, with explicit defaults, so drift in
    /// any of them is seen and reverted.
    pub values: Row,
    /// Reference columns: column -> keys of owned rows it must contain.
    /// References to foreign rows in the same column are left alone.
    pub refs: BTreeMap<&'static str, (Table, BTreeSet<RowKey>)>,
    /// Key of the parent row (in `table.parent()`), for non-root tables.
    pub parent: Option<RowKey>,
}

/// Implemented by every typed row.
pub trait NbRow: Sized + Clone + fmt::Debug + PartialEq {
    const TABLE: Table;
    fn external_ids(&self) -> &Map;
    /// Every managed non-reference column.
    fn to_row(&self) -> Row;
    /// Managed reference columns: (column, target table, target keys).
    fn refs(&self) -> Vec<(&'static str, Table, Vec<RowKey>)> {
        Vec::new()
    }
    /// Parses a row; `resolve` maps a referenced UUID to the key of an owned
    /// row (references to foreign rows are dropped).
    fn from_row(row: &Row, resolve: &dyn Fn(&Uuid) -> Option<RowKey>) -> Result<Self, RowError>;

    fn key(&self) -> Option<RowKey> {
        RowKey::from_external_ids(self.external_ids())
    }

    /// The row as the reconciler sees it. `None` if it has no ownership ids
    /// (a translation bug; the translator's tests check every row has them).
    fn to_desired(&self, parent: Option<RowKey>) -> Option<DesiredRow> {
        Some(DesiredRow {
            table: Self::TABLE,
            key: self.key()?,
            values: self.to_row(),
            refs: self
                .refs()
                .into_iter()
                .map(|(c, t, keys)| (c, (t, keys.into_iter().collect())))
                .collect(),
            parent,
        })
    }
}

/// A row from the server does not have the shape the schema promised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table}.{column}: {reason}")]
pub struct RowError {
    pub table: &'static str,
    pub column: &'static str,
    pub reason: &'static str,
}

// ---- conversions between typed fields and OVSDB values ----------------------

pub(crate) fn map_value(m: &Map) -> Value {
    Value::map(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

pub(crate) fn set_value<'a>(items: impl IntoIterator<Item = &'a String>) -> Value {
    Value::set(items.into_iter().map(String::as_str))
}

pub(crate) fn opt_value<T: Into<Atom>>(v: Option<T>) -> Value {
    Value::Set(v.into_iter().map(Into::into).collect())
}

pub(crate) struct Cols<'a> {
    pub table: &'static str,
    pub row: &'a Row,
}

impl<'a> Cols<'a> {
    pub fn new(table: &'static str, row: &'a Row) -> Self {
        Cols { table, row }
    }

    fn err(&self, column: &'static str, reason: &'static str) -> RowError {
        RowError {
            table: self.table,
            column,
            reason,
        }
    }

    fn get(&self, column: &'static str) -> Result<&'a Value, RowError> {
        self.row
            .get(column)
            .ok_or_else(|| self.err(column, "missing"))
    }

    pub fn string(&self, column: &'static str) -> Result<String, RowError> {
        self.get(column)?
            .as_str()
            .map(String::from)
            .ok_or_else(|| self.err(column, "not a string"))
    }

    pub fn integer(&self, column: &'static str) -> Result<i64, RowError> {
        self.get(column)?
            .as_i64()
            .ok_or_else(|| self.err(column, "not an integer"))
    }

    pub fn strings(&self, column: &'static str) -> Result<BTreeSet<String>, RowError> {
        let set = self
            .get(column)?
            .as_set()
            .ok_or_else(|| self.err(column, "not a set"))?;
        set.into_iter()
            .map(|a| a.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or_else(|| self.err(column, "not a set of strings"))
    }

    pub fn opt_string(&self, column: &'static str) -> Result<Option<String>, RowError> {
        Ok(self.strings(column)?.into_iter().next())
    }

    pub fn opt_bool(&self, column: &'static str) -> Result<Option<bool>, RowError> {
        let set = self
            .get(column)?
            .as_set()
            .ok_or_else(|| self.err(column, "not a set"))?;
        match set.first() {
            None => Ok(None),
            Some(a) => a
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.err(column, "not a boolean")),
        }
    }

    pub fn map(&self, column: &'static str) -> Result<Map, RowError> {
        let pairs = self
            .get(column)?
            .as_map()
            .ok_or_else(|| self.err(column, "not a map"))?;
        pairs
            .iter()
            .map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
            .collect::<Option<_>>()
            .ok_or_else(|| self.err(column, "not a string map"))
    }

    /// Keys of the owned rows a reference column holds, sorted.
    pub fn refs(
        &self,
        column: &'static str,
        resolve: &dyn Fn(&Uuid) -> Option<RowKey>,
    ) -> Result<Vec<RowKey>, RowError> {
        let set = self
            .get(column)?
            .as_set()
            .ok_or_else(|| self.err(column, "not a set"))?;
        let mut keys: Vec<RowKey> = set
            .into_iter()
            .filter_map(|a| a.as_uuid().and_then(resolve))
            .collect();
        keys.sort();
        Ok(keys)
    }
}

/// Builds a typed row's `refs()` entry.
pub(crate) fn refs_of(
    column: &'static str,
    table: Table,
    keys: &[RowKey],
) -> (&'static str, Table, Vec<RowKey>) {
    (column, table, keys.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_keys_come_from_ownership_ids() {
        let o = Ownership::new("c1");
        let ids = o.ids("port", "p1");
        assert!(o.owns(&ids));
        assert!(!Ownership::new("c2").owns(&ids));
        assert_eq!(RowKey::from_external_ids(&ids).unwrap().as_str(), "port/p1");
        let ids = o.ids_role("vpc", "v1", "snat");
        let key = RowKey::from_external_ids(&ids).unwrap();
        assert_eq!(key.as_str(), "vpc/v1/snat");
        assert_eq!(key.resource(), ("vpc", "v1"));
        assert_eq!(RowKey::from_external_ids(&Map::new()), None);
    }

    #[test]
    fn parents_come_before_children() {
        for t in Table::ALL {
            if let Some((p, _)) = t.parent() {
                let pos = |x| Table::ALL.iter().position(|y| *y == x);
                assert!(pos(p) < pos(t), "{p} after {t}");
            }
            assert_eq!(Table::from_name(t.name()), Some(t));
        }
    }
}
