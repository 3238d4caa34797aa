//! Database schemas (RFC 7047 §3.2) as returned by `get_schema`, and the
//! check that the server's schema has the tables and columns we rely on.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value as Json;

use super::error::Error;
use super::value::{Atom, Uuid, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomicType {
    Integer,
    Real,
    Boolean,
    String,
    Uuid,
}

impl AtomicType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "integer" => AtomicType::Integer,
            "real" => AtomicType::Real,
            "boolean" => AtomicType::Boolean,
            "string" => AtomicType::String,
            "uuid" => AtomicType::Uuid,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseType {
    pub atomic: AtomicType,
    pub ref_table: Option<String>,
}

/// `key` (and `value` for maps) with cardinality `min..=max` (`max: None` is
/// "unlimited").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnType {
    pub key: BaseType,
    pub value: Option<BaseType>,
    pub min: u64,
    pub max: Option<u64>,
}

/// How a column's values look on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Exactly one atom.
    Scalar(AtomicType),
    /// A set of atoms (includes optional values: min 0, max 1).
    Set(AtomicType),
    /// A map from key atoms to value atoms.
    Map(AtomicType, AtomicType),
}

impl ColumnKind {
    /// The value a column holds when nobody set it (RFC 7047 section 5.1:
    /// empty for sets and maps, 0 / 0.0 / false / "" / the all-zero UUID
    /// for a scalar). update2 `insert` and `initial` rows leave out columns
    /// holding their default, so a missing column in a monitored row means
    /// this value, not "unknown".
    pub fn default_value(&self) -> Value {
        match self {
            ColumnKind::Scalar(a) => Value::Atom(match a {
                AtomicType::Integer => Atom::Integer(0),
                AtomicType::Real => Atom::Real(0.0),
                AtomicType::Boolean => Atom::Boolean(false),
                AtomicType::String => Atom::String(String::new()),
                AtomicType::Uuid => Atom::Uuid(Uuid::nil()),
            }),
            ColumnKind::Set(_) => Value::Set(Vec::new()),
            ColumnKind::Map(..) => Value::Map(Vec::new()),
        }
    }
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnKind::Scalar(a) => write!(f, "{a:?}"),
            ColumnKind::Set(a) => write!(f, "set of {a:?}"),
            ColumnKind::Map(k, v) => write!(f, "map {k:?} -> {v:?}"),
        }
    }
}

impl ColumnType {
    pub fn kind(&self) -> ColumnKind {
        match (&self.value, self.min, self.max) {
            (Some(v), _, _) => ColumnKind::Map(self.key.atomic, v.atomic),
            (None, 1, Some(1)) => ColumnKind::Scalar(self.key.atomic),
            (None, _, _) => ColumnKind::Set(self.key.atomic),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub columns: BTreeMap<String, ColumnType>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSchema {
    pub name: String,
    pub version: String,
    pub tables: BTreeMap<String, TableSchema>,
}

fn bad(what: impl fmt::Display) -> Error {
    Error::Protocol(format!("bad schema: {what}"))
}

fn parse_base(j: &Json) -> Result<BaseType, Error> {
    let (ty, ref_table) = match j {
        Json::String(s) => (s.as_str(), None),
        Json::Object(o) => (
            o.get("type").and_then(Json::as_str).unwrap_or_default(),
            o.get("refTable").and_then(Json::as_str).map(String::from),
        ),
        _ => return Err(bad(format!("base type {j}"))),
    };
    let atomic = AtomicType::parse(ty).ok_or_else(|| bad(format!("atomic type {j}")))?;
    Ok(BaseType { atomic, ref_table })
}

fn parse_type(j: &Json) -> Result<ColumnType, Error> {
    let Json::Object(o) = j else {
        return Ok(ColumnType {
            key: parse_base(j)?,
            value: None,
            min: 1,
            max: Some(1),
        });
    };
    let key = parse_base(o.get("key").ok_or_else(|| bad(format!("type {j}")))?)?;
    let value = o.get("value").map(parse_base).transpose()?;
    let min = o.get("min").map_or(Some(1), Json::as_u64);
    let max = match o.get("max") {
        None => Some(Some(1)),
        Some(Json::String(s)) if s == "unlimited" => Some(None),
        Some(m) => m.as_u64().map(Some),
    };
    match (min, max) {
        (Some(min), Some(max)) => Ok(ColumnType {
            key,
            value,
            min,
            max,
        }),
        _ => Err(bad(format!("min/max in {j}"))),
    }
}

impl DatabaseSchema {
    pub fn from_json(j: &Json) -> Result<Self, Error> {
        let name = j
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| bad("no name"))?;
        let version = j.get("version").and_then(Json::as_str).unwrap_or_default();
        let tables = j
            .get("tables")
            .and_then(Json::as_object)
            .ok_or_else(|| bad("no tables"))?;
        let mut out = BTreeMap::new();
        for (tname, t) in tables {
            let cols = t
                .get("columns")
                .and_then(Json::as_object)
                .ok_or_else(|| bad(format!("table {tname} has no columns")))?;
            let mut columns = BTreeMap::new();
            for (cname, c) in cols {
                let ty = c
                    .get("type")
                    .ok_or_else(|| bad(format!("{tname}.{cname}")))?;
                columns.insert(cname.clone(), parse_type(ty)?);
            }
            out.insert(tname.clone(), TableSchema { columns });
        }
        Ok(DatabaseSchema {
            name: name.into(),
            version: version.into(),
            tables: out,
        })
    }

    pub fn column(&self, table: &str, column: &str) -> Option<&ColumnType> {
        self.tables.get(table)?.columns.get(column)
    }
}

/// The tables and columns (with their kinds) a caller needs. Checked at every
/// connect, so a server with an incompatible schema is refused up front with a
/// clear error instead of failing transactions later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaRequirements {
    pub tables: BTreeMap<String, BTreeMap<String, ColumnKind>>,
}

impl SchemaRequirements {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires `table` to exist (with no particular columns yet).
    pub fn table(mut self, table: &str) -> Self {
        self.tables.entry(table.into()).or_default();
        self
    }

    pub fn column(mut self, table: &str, column: &str, kind: ColumnKind) -> Self {
        self.tables
            .entry(table.into())
            .or_default()
            .insert(column.into(), kind);
        self
    }

    pub fn check(&self, schema: &DatabaseSchema) -> Result<(), SchemaMismatch> {
        let mut problems = Vec::new();
        for (table, columns) in &self.tables {
            let Some(t) = schema.tables.get(table) else {
                problems.push(SchemaProblem::MissingTable(table.clone()));
                continue;
            };
            for (column, want) in columns {
                match t.columns.get(column).map(ColumnType::kind) {
                    None => problems.push(SchemaProblem::MissingColumn {
                        table: table.clone(),
                        column: column.clone(),
                    }),
                    Some(found) if found != *want => problems.push(SchemaProblem::WrongType {
                        table: table.clone(),
                        column: column.clone(),
                        expected: *want,
                        found,
                    }),
                    Some(_) => {}
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SchemaMismatch {
                database: schema.name.clone(),
                version: schema.version.clone(),
                problems,
            })
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaProblem {
    MissingTable(String),
    MissingColumn {
        table: String,
        column: String,
    },
    WrongType {
        table: String,
        column: String,
        expected: ColumnKind,
        found: ColumnKind,
    },
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaProblem::MissingTable(t) => write!(f, "table {t} is missing"),
            SchemaProblem::MissingColumn { table, column } => {
                write!(f, "column {table}.{column} is missing")
            }
            SchemaProblem::WrongType {
                table,
                column,
                expected,
                found,
            } => write!(f, "column {table}.{column} is {found}, expected {expected}"),
        }
    }
}

/// The server's schema lacks what we need; every problem is listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema {database} {version} is incompatible: {}", list(problems))]
pub struct SchemaMismatch {
    pub database: String,
    pub version: String,
    pub problems: Vec<SchemaProblem>,
}

fn list(problems: &[SchemaProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> DatabaseSchema {
        DatabaseSchema::from_json(&json!({"name": "OVN_Northbound", "version": "7.0.0",
            "tables": {"Logical_Switch": {"columns": {
                "name": {"type": "string"},
                "ports": {"type": {"key": {"type": "uuid", "refTable": "Logical_Switch_Port"},
                                   "min": 0, "max": "unlimited"}},
                "external_ids": {"type": {"key": "string", "value": "string",
                                          "min": 0, "max": "unlimited"}},
                "copp": {"type": {"key": {"type": "uuid"}, "min": 0, "max": 1}}}}}}))
        .unwrap()
    }

    #[test]
    fn parses_column_kinds() {
        let s = schema();
        let kind = |c| s.column("Logical_Switch", c).unwrap().kind();
        assert_eq!(kind("name"), ColumnKind::Scalar(AtomicType::String));
        assert_eq!(kind("ports"), ColumnKind::Set(AtomicType::Uuid));
        assert_eq!(kind("copp"), ColumnKind::Set(AtomicType::Uuid));
        assert_eq!(
            kind("external_ids"),
            ColumnKind::Map(AtomicType::String, AtomicType::String)
        );
        let ports = s.column("Logical_Switch", "ports").unwrap();
        assert_eq!(ports.key.ref_table.as_deref(), Some("Logical_Switch_Port"));
        assert_eq!(ports.max, None);
    }

    #[test]
    fn check_lists_every_problem() {
        let req = SchemaRequirements::new()
            .column(
                "Logical_Switch",
                "name",
                ColumnKind::Scalar(AtomicType::String),
            )
            .column(
                "Logical_Switch",
                "ports",
                ColumnKind::Scalar(AtomicType::Uuid),
            )
            .column(
                "Logical_Switch",
                "nope",
                ColumnKind::Set(AtomicType::String),
            )
            .table("Bogus_Table");
        let err = req.check(&schema()).unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
        let text = err.to_string();
        assert!(text.contains("table Bogus_Table is missing"), "{text}");
        assert!(text.contains("Logical_Switch.nope is missing"), "{text}");
        assert!(
            text.contains("Logical_Switch.ports is set of Uuid, expected Uuid"),
            "{text}"
        );
    }

    #[test]
    fn malformed_schema_is_an_error() {
        assert!(DatabaseSchema::from_json(&json!({"name": "x"})).is_err());
        assert!(DatabaseSchema::from_json(
            &json!({"name": "x", "tables": {"T": {"columns": {"c": {"type": "blob"}}}}})
        )
        .is_err());
    }
}
