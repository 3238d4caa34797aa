//! The diff between the desired model and the owned rows NB holds, and the
//! operations that close it.
//!
//! Rules that keep foreign rows safe:
//! - Only rows with our ownership ids are ever read as "ours" ([`Actual`]);
//!   everything else is invisible here and never named in an operation.
//! - Reference columns are edited with `mutate` insert/delete of references
//!   to OUR rows only; references a foreign writer put into our rows stay.
//! - Child rows (LSP, LRP, ACL, NAT, routes, gateway chassis) are removed by
//!   unlinking them from our parent; the server garbage-collects them. We
//!   never delete a child by uuid, so one still referenced by a foreign row
//!   is left alone instead of failing the transaction.
//!
//! Changes are applied in phases so that every referenced row exists:
//! deletes, updates and root inserts; then children level by level (each
//! insert in the same transaction as the mutate linking it to its parent,
//! by `named-uuid`); then the remaining reference columns.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::nb::{DesiredRow, NbRow, Ownership, RowKey, Table};
use crate::ovsdb::{
    Atom, ColumnKind, Condition, Insert, Mutate, Mutation, Operation, Row, TableCache, Update,
    Uuid, Value,
};
use crate::translate::NbModel;

/// Owned rows as the server holds them, indexed by key. Borrows the rows
/// from where they were read (the monitor cache, or a select reply): a pass
/// at scale would otherwise spend a fifth of its time copying and freeing
/// every owned row.
#[derive(Clone, Debug, Default)]
pub struct Actual<'a> {
    rows: BTreeMap<Table, BTreeMap<&'a Uuid, &'a Row>>,
    /// table -> key -> uuids, lowest first; more than one is a duplicate
    /// (e.g. a write delivered twice by a clustered NB) and the rest go.
    by_key: BTreeMap<Table, BTreeMap<RowKey, Vec<&'a Uuid>>>,
    key_of: BTreeMap<&'a Uuid, (Table, RowKey)>,
}

impl<'a> Actual<'a> {
    pub fn new(
        own: &Ownership,
        rows: impl IntoIterator<Item = (Table, &'a Uuid, &'a Row)>,
    ) -> Actual<'a> {
        let mut a = Actual::default();
        for (table, uuid, row) in rows {
            let Some(key) = row.get("external_ids").and_then(|v| owned_key(own, v)) else {
                continue;
            };
            a.by_key
                .entry(table)
                .or_default()
                .entry(key.clone())
                .or_default()
                .push(uuid);
            a.key_of.insert(uuid, (table, key));
            a.rows.entry(table).or_default().insert(uuid, row);
        }
        for uuids in a.by_key.values_mut().flat_map(BTreeMap::values_mut) {
            uuids.sort();
        }
        a
    }

    pub fn from_cache(own: &Ownership, cache: &'a TableCache) -> Actual<'a> {
        let rows = Table::ALL.into_iter().flat_map(|t| {
            cache
                .table(t.name())
                .into_iter()
                .flatten()
                .map(move |(u, r)| (t, u, r))
        });
        Actual::new(own, rows)
    }

    pub fn uuid(&self, table: Table, key: &RowKey) -> Option<&'a Uuid> {
        self.by_key.get(&table)?.get(key)?.first().copied()
    }

    pub fn row(&self, table: Table, uuid: &Uuid) -> Option<&'a Row> {
        self.rows.get(&table)?.get(uuid).copied()
    }

    pub fn key_of(&self, uuid: &Uuid) -> Option<&(Table, RowKey)> {
        self.key_of.get(uuid)
    }

    pub fn rows(&self, table: Table) -> impl Iterator<Item = (&'a Uuid, &'a Row)> + '_ {
        self.rows
            .get(&table)
            .into_iter()
            .flatten()
            .map(|(u, r)| (*u, *r))
    }

    /// Every key of `table` with its uuids (lowest first).
    fn keys(&self) -> impl Iterator<Item = (Table, &RowKey, &[&'a Uuid])> {
        self.by_key
            .iter()
            .flat_map(|(t, keys)| keys.iter().map(move |(k, u)| (*t, k, u.as_slice())))
    }

    fn uuids(&self, table: Table, key: &RowKey) -> Option<&[&'a Uuid]> {
        self.by_key.get(&table)?.get(key).map(Vec::as_slice)
    }

    /// Number of owned rows.
    pub fn len(&self) -> usize {
        self.key_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.key_of.is_empty()
    }

    /// The typed form of an owned row.
    pub fn typed<T: NbRow>(&self, key: &RowKey) -> Option<T> {
        let uuid = self.uuid(T::TABLE, key)?;
        let row = self.row(T::TABLE, uuid)?;
        let resolve = |u: &Uuid| self.key_of(u).map(|(_, k)| k.clone());
        T::from_row(row, &resolve).ok()
    }
}

/// The key of a row whose external_ids say it is ours, read straight from
/// the column's pairs (this runs for every owned row on every pass).
fn owned_key(own: &Ownership, external_ids: &Value) -> Option<RowKey> {
    let pairs = external_ids.as_map()?;
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .and_then(|(_, v)| v.as_str())
    };
    if !own.owns_ids(get) {
        return None;
    }
    RowKey::from_ids(get)
}

/// One difference between desired and actual.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Insert {
        table: Table,
        key: RowKey,
    },
    /// Value columns that differ.
    Update {
        table: Table,
        key: RowKey,
        uuid: Uuid,
        columns: Vec<String>,
    },
    /// A row we own that should not exist (or a duplicate of one that should).
    Delete {
        table: Table,
        key: RowKey,
        uuid: Uuid,
    },
    /// References to our rows to add to / remove from a column.
    Link {
        table: Table,
        key: RowKey,
        /// `None`: the row is inserted by this same pass (its uuid is
        /// known once its insert committed, see [`Known`]).
        uuid: Option<Uuid>,
        column: &'static str,
        target: Table,
        add: BTreeSet<RowKey>,
        remove: BTreeSet<Uuid>,
    },
}

impl Change {
    pub fn table(&self) -> Table {
        match self {
            Change::Insert { table, .. }
            | Change::Update { table, .. }
            | Change::Delete { table, .. }
            | Change::Link { table, .. } => *table,
        }
    }

    pub fn key(&self) -> &RowKey {
        match self {
            Change::Insert { key, .. }
            | Change::Update { key, .. }
            | Change::Delete { key, .. }
            | Change::Link { key, .. } => key,
        }
    }

    /// Phase in which the change is applied (see the module docs).
    pub(crate) fn phase(&self) -> usize {
        match self {
            Change::Delete { .. } | Change::Update { .. } => 0,
            Change::Insert { table, .. } => table.level(),
            Change::Link { .. } => LINK_PHASE,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Insert { table, key } => write!(f, "create {table} {key}"),
            Change::Update {
                table,
                key,
                columns,
                ..
            } => write!(f, "update {table} {key} ({})", columns.join(", ")),
            Change::Delete { table, key, uuid } => write!(f, "delete {table} {key} ({uuid})"),
            Change::Link {
                table,
                key,
                column,
                add,
                remove,
                ..
            } => write!(
                f,
                "relink {table} {key}.{column} (+{} -{})",
                add.len(),
                remove.len()
            ),
        }
    }
}

/// Phase of reference-column changes: after the deepest insert level.
const LINK_PHASE: usize = 3;
pub const PHASES: usize = LINK_PHASE + 1;
const _: () = assert!(
    LINK_PHASE > 2,
    "gateway chassis (level 2) insert before links"
);

/// Sorts and dedups sets and maps so equal contents compare equal whatever
/// order the server sent them in.
fn normalize(kind: ColumnKind, v: &Value) -> Value {
    match kind {
        ColumnKind::Scalar(_) => match v.as_set() {
            Some(items) if items.len() == 1 => Value::Atom(items[0].clone()),
            _ => v.clone(),
        },
        ColumnKind::Set(_) => {
            let mut items: Vec<Atom> = v
                .as_set()
                .unwrap_or_default()
                .into_iter()
                .cloned()
                .collect();
            items.sort_by(atom_order);
            items.dedup();
            Value::Set(items)
        }
        ColumnKind::Map(..) => {
            let mut pairs = v.as_map().map(<[_]>::to_vec).unwrap_or_default();
            pairs.sort_by(|(a, _), (b, _)| atom_order(a, b));
            Value::Map(pairs)
        }
    }
}

/// Whether a column as NB holds it (`None`: left out of a monitor row, i.e.
/// at its default) equals the wanted value, whatever order sets and maps came
/// in. Compares in place when both sides are already in order (the common
/// case: the server and the translation both send sorted sets), and only
/// then falls back to [`normalize`], which copies: this runs for every
/// managed column of every owned row on each pass.
fn same_value(kind: ColumnKind, have: Option<&Value>, want: &Value) -> bool {
    let default;
    let have = match have {
        Some(v) => v,
        None => {
            default = kind.default_value();
            &default
        }
    };
    let in_order = |v: &Value| match v {
        Value::Atom(_) => true,
        Value::Set(items) => items
            .windows(2)
            .all(|w| atom_order(&w[0], &w[1]) == std::cmp::Ordering::Less),
        Value::Map(pairs) => pairs
            .windows(2)
            .all(|w| atom_order(&w[0].0, &w[1].0) == std::cmp::Ordering::Less),
    };
    match kind {
        ColumnKind::Scalar(_) => match (single(have), single(want)) {
            (Some(a), Some(b)) => a == b,
            _ => normalize(kind, have) == normalize(kind, want),
        },
        _ if in_order(have) && in_order(want) => match (have, want) {
            (Value::Map(a), Value::Map(b)) => a == b,
            // An empty set is also the empty map.
            (Value::Map(m), Value::Set(s)) | (Value::Set(s), Value::Map(m)) => {
                m.is_empty() && s.is_empty()
            }
            _ => have.as_set() == want.as_set(),
        },
        _ => normalize(kind, have) == normalize(kind, want),
    }
}

/// The one atom of a scalar column (sent bare or as a one-element set).
fn single(v: &Value) -> Option<&Atom> {
    match v {
        Value::Atom(a) => Some(a),
        Value::Set(items) if items.len() == 1 => Some(&items[0]),
        _ => None,
    }
}

/// A total order on atoms for [`normalize`], without allocating (this runs
/// for every element of every set column of every row on each pass). Any
/// fixed order works: both sides of a comparison are normalized alike.
fn atom_order(a: &Atom, b: &Atom) -> std::cmp::Ordering {
    fn rank(a: &Atom) -> u8 {
        match a {
            Atom::Integer(_) => 0,
            Atom::Real(_) => 1,
            Atom::Boolean(_) => 2,
            Atom::String(_) => 3,
            Atom::Uuid(_) => 4,
            Atom::NamedUuid(_) => 5,
        }
    }
    match (a, b) {
        (Atom::Integer(x), Atom::Integer(y)) => x.cmp(y),
        (Atom::Real(x), Atom::Real(y)) => x.total_cmp(y),
        (Atom::Boolean(x), Atom::Boolean(y)) => x.cmp(y),
        (Atom::String(x), Atom::String(y)) | (Atom::NamedUuid(x), Atom::NamedUuid(y)) => x.cmp(y),
        (Atom::Uuid(x), Atom::Uuid(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn column_kind(table: Table, column: &str) -> Option<ColumnKind> {
    table
        .columns()
        .iter()
        .find(|(c, _)| *c == column)
        .map(|(_, k)| *k)
}

/// Every change that makes the owned rows equal to `desired`.
pub fn diff(desired: &NbModel, actual: &Actual) -> Vec<Change> {
    let mut changes = Vec::new();
    // Extra rows and duplicates.
    for (table, key, uuids) in actual.keys() {
        let wanted = desired.get(table, key).is_some();
        extra_rows(table, key, uuids, wanted, &mut changes);
    }
    for d in desired.desired() {
        diff_row(d, desired, actual, &mut changes);
    }
    changes.sort_by_key(|c| c.phase());
    changes
}

/// The changes [`diff`] would find among the rows named by `keys` only. The
/// leader runs it on the rows a monitor event touched: when they already
/// equal the model of its last pass (the event was the echo of its own
/// writes), no pass is needed; anything else (an external edit or delete,
/// a server-side weak-reference cleanup) shows up here as a change.
pub fn diff_keys(
    desired: &NbModel,
    actual: &Actual,
    keys: &BTreeSet<(Table, RowKey)>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (table, key) in keys {
        let d = desired.get(*table, key);
        if let Some(uuids) = actual.uuids(*table, key) {
            extra_rows(*table, key, uuids, d.is_some(), &mut changes);
        }
        if let Some(d) = d {
            diff_row(d, desired, actual, &mut changes);
        }
    }
    changes.sort_by_key(|c| c.phase());
    changes
}

/// Deletes for the rows of one key that must go: all of them when the key is
/// not wanted, all but the lowest uuid when it is (duplicates, e.g. a write
/// delivered twice by a clustered NB).
fn extra_rows(table: Table, key: &RowKey, uuids: &[&Uuid], wanted: bool, out: &mut Vec<Change>) {
    for uuid in uuids.iter().skip(usize::from(wanted)) {
        out.push(Change::Delete {
            table,
            key: key.clone(),
            uuid: (*uuid).clone(),
        });
    }
}

/// What one desired row needs: an insert (and the links of the new row), or
/// an update of its value columns and relinks of its reference columns.
fn diff_row(d: &DesiredRow, desired: &NbModel, actual: &Actual, out: &mut Vec<Change>) {
    let Some(uuid) = actual.uuid(d.table, &d.key) else {
        out.push(Change::Insert {
            table: d.table,
            key: d.key.clone(),
        });
        // Its references to other rows are set by the same pass once every
        // target exists (a new port joins its DHCP options and port groups
        // before the pass ends, not one monitor echo later).
        for (column, (target, want)) in &d.refs {
            if target.parent() != Some((d.table, column)) && !want.is_empty() {
                out.push(Change::Link {
                    table: d.table,
                    key: d.key.clone(),
                    uuid: None,
                    column,
                    target: *target,
                    add: want.clone(),
                    remove: BTreeSet::new(),
                });
            }
        }
        return;
    };
    let Some(row) = actual.row(d.table, uuid) else {
        return;
    };
    let columns: Vec<String> = d
        .values
        .iter()
        .filter(|(c, want)| {
            let Some(kind) = column_kind(d.table, c) else {
                return false;
            };
            // A monitored row leaves out columns at their default (see
            // `ColumnKind::default_value`); comparing "absent" with a wanted
            // default as a difference once made every pass rewrite every
            // port.
            !same_value(kind, row.get(*c), want)
        })
        .map(|(c, _)| c.clone())
        .collect();
    if !columns.is_empty() {
        out.push(Change::Update {
            table: d.table,
            key: d.key.clone(),
            uuid: uuid.clone(),
            columns,
        });
    }
    for (column, (target, want)) in &d.refs {
        if let Some(link) = link_change(d, uuid, row, column, *target, want, desired, actual) {
            out.push(link);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn link_change(
    d: &DesiredRow,
    uuid: &Uuid,
    row: &Row,
    column: &'static str,
    target: Table,
    want: &BTreeSet<RowKey>,
    desired: &NbModel,
    actual: &Actual,
) -> Option<Change> {
    // Is this column the one keeping `target` rows alive? Then a missing
    // child is linked by its own insert and an unwanted one by its delete.
    let is_child_column = target.parent() == Some((d.table, column));
    let have: BTreeMap<RowKey, Uuid> = row
        .get(column)
        .and_then(Value::as_set)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|a| {
            let u = a.as_uuid()?;
            let (t, k) = actual.key_of(u)?;
            (*t == target).then(|| (k.clone(), u.clone()))
        })
        .collect();
    let add: BTreeSet<RowKey> = want
        .iter()
        .filter(|k| !have.contains_key(*k))
        .filter(|k| !is_child_column || actual.uuid(target, k).is_some())
        .cloned()
        .collect();
    let remove: BTreeSet<Uuid> = have
        .iter()
        .filter(|(k, _)| !want.contains(*k))
        // A row that should not exist at all is removed by its own change
        // (or by the server, for weak references to a deleted row).
        .filter(|(k, _)| desired.get(target, k).is_some())
        .map(|(_, u)| u.clone())
        .collect();
    (!add.is_empty() || !remove.is_empty()).then(|| Change::Link {
        table: d.table,
        key: d.key.clone(),
        uuid: Some(uuid.clone()),
        column,
        target,
        add,
        remove,
    })
}

/// Operations of one change that must commit together.
#[derive(Clone, Debug)]
pub struct Unit {
    pub ops: Vec<Operation>,
    /// The row this unit inserts (its insert is `ops[0]`).
    pub inserts: Option<(Table, RowKey)>,
    pub change: Change,
}

/// Where the uuids of rows come from while a pass runs: the monitor cache,
/// plus rows inserted by earlier phases of this pass.
pub struct Known<'a> {
    pub actual: &'a Actual<'a>,
    pub inserted: BTreeMap<(Table, RowKey), Uuid>,
}

impl Known<'_> {
    pub fn uuid(&self, table: Table, key: &RowKey) -> Option<Uuid> {
        self.inserted
            .get(&(table, key.clone()))
            .or_else(|| self.actual.uuid(table, key))
            .cloned()
    }
}

fn by_uuid(uuid: &Uuid) -> Condition {
    Condition::eq("_uuid", uuid.clone())
}

/// The operations for `change`, or `None` if a row it needs is missing
/// (its own insert failed; the next pass retries both).
pub fn unit(change: &Change, desired: &NbModel, known: &Known, seq: usize) -> Option<Unit> {
    let ops: Vec<Operation> = match change {
        Change::Insert { table, key } => {
            let d = desired.get(*table, key)?;
            let name = format!("row{seq}");
            let mut insert = Insert::new(table.name()).uuid_name(&name);
            insert.row = d.values.clone();
            let mut ops = vec![insert.into()];
            if let Some((ptable, column)) = table.parent() {
                let parent = known.uuid(ptable, d.parent.as_ref()?)?;
                ops.push(
                    Mutate::new(ptable.name())
                        .filter(by_uuid(&parent))
                        .mutation(Mutation::insert(
                            column,
                            Value::Set(vec![Atom::NamedUuid(name)]),
                        ))
                        .into(),
                );
            }
            return Some(Unit {
                ops,
                inserts: Some((*table, key.clone())),
                change: change.clone(),
            });
        }
        Change::Update {
            table,
            key,
            uuid,
            columns,
        } => {
            let d = desired.get(*table, key)?;
            let mut update = Update::new(table.name()).filter(by_uuid(uuid));
            for c in columns {
                update.row.insert(c.clone(), d.values.get(c)?.clone());
            }
            vec![update.into()]
        }
        Change::Delete { table, uuid, .. } => match table.parent() {
            None => vec![crate::ovsdb::Delete::new(table.name())
                .filter(by_uuid(uuid))
                .into()],
            Some((ptable, column)) => known
                .actual
                .rows(ptable)
                .filter(|(_, row)| {
                    row.get(column)
                        .and_then(Value::as_set)
                        .is_some_and(|s| s.iter().any(|a| a.as_uuid() == Some(uuid)))
                })
                .map(|(pu, _)| {
                    Mutate::new(ptable.name())
                        .filter(by_uuid(pu))
                        .mutation(Mutation::delete(column, Value::set([uuid.clone()])))
                        .into()
                })
                .collect(),
        },
        Change::Link {
            table,
            key,
            uuid,
            column,
            target,
            add,
            remove,
        } => {
            // A row inserted by this pass: skipped if its insert failed.
            let uuid = match uuid {
                Some(u) => u.clone(),
                None => known.uuid(*table, key)?,
            };
            let add: Vec<Atom> = add
                .iter()
                .filter_map(|k| known.uuid(*target, k).map(Atom::Uuid))
                .collect();
            let mut m = Mutate::new(table.name()).filter(by_uuid(&uuid));
            // Delete before insert: single-valued columns (DHCP refs) would
            // otherwise hold two values at once.
            if !remove.is_empty() {
                m = m.mutation(Mutation::delete(column, Value::set(remove.iter().cloned())));
            }
            if !add.is_empty() {
                m = m.mutation(Mutation::insert(column, Value::Set(add)));
            }
            if m.mutations.is_empty() {
                return None;
            }
            vec![m.into()]
        }
    };
    (!ops.is_empty()).then(|| Unit {
        ops,
        inserts: None,
        change: change.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_agrees_with_normalize() {
        use crate::ovsdb::AtomicType;
        let set = ColumnKind::Set(AtomicType::String);
        let map = crate::nb::STRING_MAP;
        let scalar = ColumnKind::Scalar(AtomicType::String);
        let cases: Vec<(ColumnKind, Option<Value>, Value)> = vec![
            (set, Some(Value::set(["a", "b"])), Value::set(["b", "a"])),
            (set, Some(Value::set(["a", "b"])), Value::set(["a", "b"])),
            (set, Some(Value::set(["a", "b"])), Value::set(["a", "c"])),
            (set, Some(Value::from("a")), Value::set(["a"])),
            (set, None, Value::empty_set()),
            (set, None, Value::set(["a"])),
            (
                map,
                Some(Value::map([("b", "1"), ("a", "2")])),
                Value::map([("a", "2"), ("b", "1")]),
            ),
            (
                map,
                Some(Value::map([("a", "1")])),
                Value::map([("a", "2")]),
            ),
            (map, None, Value::Map(vec![])),
            (map, Some(Value::empty_set()), Value::Map(vec![])),
            (scalar, Some(Value::set([""])), Value::from("")),
            (scalar, None, Value::from("")),
            (scalar, None, Value::from("router")),
            (scalar, Some(Value::from("a")), Value::from("b")),
        ];
        for (kind, have, want) in cases {
            let by_normalize =
                normalize(kind, &have.clone().unwrap_or_else(|| kind.default_value()))
                    == normalize(kind, &want);
            assert_eq!(
                same_value(kind, have.as_ref(), &want),
                by_normalize,
                "{kind} {have:?} {want:?}"
            );
        }
    }

    #[test]
    fn normalization_ignores_order_and_single_element_sets() {
        let set = ColumnKind::Set(crate::ovsdb::AtomicType::String);
        assert_eq!(
            normalize(set, &Value::set(["b", "a"])),
            normalize(set, &Value::set(["a", "b"]))
        );
        assert_eq!(
            normalize(set, &Value::from("a")),
            normalize(set, &Value::set(["a"]))
        );
        let map = crate::nb::STRING_MAP;
        assert_eq!(
            normalize(map, &Value::map([("b", "1"), ("a", "2")])),
            normalize(map, &Value::map([("a", "2"), ("b", "1")]))
        );
        assert_eq!(
            normalize(map, &Value::empty_set()),
            normalize(map, &Value::Map(vec![]))
        );
    }
}
