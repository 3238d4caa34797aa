//! A local replica of monitored tables, kept by applying monitor events.

use std::collections::BTreeMap;

use super::monitor::{MonitorEvent, RowUpdate, TableUpdates};
use super::schema::{ColumnKind, DatabaseSchema};
use super::value::{Atom, Row, Uuid, Value};

/// Rows of the tables of ONE monitor stream. A `Reset` replaces everything,
/// so do not feed two monitors into one cache.
#[derive(Debug, Clone)]
pub struct TableCache {
    schema: DatabaseSchema,
    tables: BTreeMap<String, BTreeMap<Uuid, Row>>,
}

impl TableCache {
    /// The schema tells how to apply row diffs (set toggle vs map vs scalar).
    pub fn new(schema: DatabaseSchema) -> Self {
        TableCache {
            schema,
            tables: BTreeMap::new(),
        }
    }

    pub fn table(&self, name: &str) -> Option<&BTreeMap<Uuid, Row>> {
        self.tables.get(name)
    }

    pub fn row(&self, table: &str, uuid: &Uuid) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }

    pub fn apply(&mut self, event: &MonitorEvent) {
        match event {
            MonitorEvent::Reset(updates) => {
                self.tables.clear();
                self.apply_updates(updates);
            }
            MonitorEvent::Update(updates) => self.apply_updates(updates),
        }
    }

    fn apply_updates(&mut self, updates: &TableUpdates) {
        for (table, rows) in updates {
            let cached = self.tables.entry(table.clone()).or_default();
            for (uuid, update) in rows {
                match update {
                    RowUpdate::Initial(row) | RowUpdate::Insert(row) => {
                        cached.insert(uuid.clone(), row.clone());
                    }
                    RowUpdate::Delete => {
                        cached.remove(uuid);
                    }
                    RowUpdate::Modify(diff) => {
                        let row = cached.entry(uuid.clone()).or_default();
                        for (column, change) in diff {
                            // ovsdb-server sends a diff only for composite columns
                            // (max > 1, see ovsdb_datum_diff); a column of at most one
                            // value (scalar or optional) carries its new value.
                            let kind = self
                                .schema
                                .column(table, column)
                                .filter(|c| c.max != Some(1))
                                .map(|c| c.kind());
                            let old = row.remove(column);
                            row.insert(column.clone(), apply_diff(kind, old, change));
                        }
                    }
                }
            }
        }
    }
}

/// update2 `modify` semantics (ovsdb-server(7)): sets toggle the listed
/// elements; maps add new keys, replace keys given with a different value and
/// remove keys given with the same value; anything else (`kind` None: scalars and
/// optional values, which ovsdb-server sends whole) is the new value.
fn apply_diff(kind: Option<ColumnKind>, old: Option<Value>, change: &Value) -> Value {
    match kind {
        Some(ColumnKind::Set(_)) => {
            let mut items: Vec<Atom> = old
                .as_ref()
                .and_then(Value::as_set)
                .unwrap_or_default()
                .into_iter()
                .cloned()
                .collect();
            for a in change.as_set().unwrap_or_default() {
                match items.iter().position(|x| x == a) {
                    Some(i) => {
                        items.remove(i);
                    }
                    None => items.push(a.clone()),
                }
            }
            Value::Set(items)
        }
        Some(ColumnKind::Map(..)) => {
            let mut pairs = old
                .as_ref()
                .and_then(Value::as_map)
                .map(<[_]>::to_vec)
                .unwrap_or_default();
            for (k, v) in change.as_map().unwrap_or_default() {
                match pairs.iter().position(|(pk, _)| pk == k) {
                    Some(i) if pairs[i].1 == *v => {
                        pairs.remove(i);
                    }
                    Some(i) => pairs[i].1 = v.clone(),
                    None => pairs.push((k.clone(), v.clone())),
                }
            }
            Value::Map(pairs)
        }
        _ => change.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::schema::AtomicType;

    #[test]
    fn diffs_toggle_sets_and_edit_maps() {
        let s = AtomicType::String;
        let set = Some(ColumnKind::Set(s));
        let v = apply_diff(set, Some(Value::set(["a", "b"])), &Value::set(["b", "c"]));
        assert_eq!(v, Value::set(["a", "c"]));
        let v = apply_diff(set, Some(Value::from("a")), &Value::from("a"));
        assert_eq!(v, Value::empty_set());

        let map = Some(ColumnKind::Map(s, s));
        let old = Value::map([("keep", "1"), ("drop", "2"), ("change", "3")]);
        let diff = Value::map([("drop", "2"), ("change", "4"), ("new", "5")]);
        let v = apply_diff(map, Some(old), &diff);
        assert_eq!(
            v,
            Value::map([("keep", "1"), ("change", "4"), ("new", "5")])
        );

        let scalar = Some(ColumnKind::Scalar(s));
        assert_eq!(
            apply_diff(scalar, None, &Value::from("x")),
            Value::from("x")
        );
    }

    /// ovsdb-server sends optional columns (max 1) whole, not as a toggle diff:
    /// `up` going false -> true arrives as `true`, and true -> unset as `[]`.
    #[test]
    fn optional_columns_take_the_new_value() {
        use super::super::monitor::RowUpdate;
        let schema = DatabaseSchema::from_json(
            &serde_json::json!({"name": "OVN_Northbound", "version": "7.0.0",
            "tables": {"Logical_Switch_Port": {"columns": {
                "up": {"type": {"key": "boolean", "min": 0, "max": 1}}}}}}),
        )
        .unwrap();
        let mut cache = TableCache::new(schema);
        let uuid = Uuid::parse("11111111-2222-3333-4444-555555555555").unwrap();
        let event = |u: RowUpdate| {
            let mut rows = BTreeMap::new();
            rows.insert(uuid.clone(), u);
            let mut t = BTreeMap::new();
            t.insert("Logical_Switch_Port".to_string(), rows);
            MonitorEvent::Update(t)
        };
        let row = |v: Value| Row::from([("up".to_string(), v)]);
        cache.apply(&event(RowUpdate::Insert(row(Value::from(false)))));
        cache.apply(&event(RowUpdate::Modify(row(Value::from(true)))));
        assert_eq!(
            cache.row("Logical_Switch_Port", &uuid).unwrap()["up"]
                .as_set()
                .unwrap()[0]
                .as_bool(),
            Some(true)
        );
        cache.apply(&event(RowUpdate::Modify(row(Value::empty_set()))));
        assert!(cache.row("Logical_Switch_Port", &uuid).unwrap()["up"]
            .as_set()
            .unwrap()
            .is_empty());
    }
}
