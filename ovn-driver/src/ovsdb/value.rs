//! OVSDB values (RFC 7047 §5.1) and their JSON encoding.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value as Json};

/// A row: column name to value. A `BTreeMap` so that encoding and iteration
/// are deterministic.
pub type Row = BTreeMap<String, Value>;

/// Longest JSON excerpt quoted in a [`ValueError`], so that a huge bad value
/// does not end up in the logs whole.
const ERROR_EXCERPT_CHARS: usize = 120;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OVSDB value {excerpt}: {reason}")]
pub struct ValueError {
    pub excerpt: String,
    pub reason: &'static str,
}

impl ValueError {
    pub(crate) fn new(json: &Json, reason: &'static str) -> Self {
        let mut excerpt = json.to_string();
        if excerpt.len() > ERROR_EXCERPT_CHARS {
            let cut = (0..=ERROR_EXCERPT_CHARS)
                .rev()
                .find(|i| excerpt.is_char_boundary(*i))
                .unwrap_or(0);
            excerpt.truncate(cut);
            excerpt.push('…');
        }
        ValueError { excerpt, reason }
    }
}

/// A row UUID in its canonical textual form (8-4-4-4-12 hex digits, lower case).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(String);

impl Uuid {
    /// The all-zero UUID, the default of a scalar uuid column.
    pub fn nil() -> Uuid {
        Uuid("00000000-0000-0000-0000-000000000000".to_string())
    }

    pub fn parse(s: &str) -> Result<Uuid, ValueError> {
        let b = s.as_bytes();
        let ok = b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
        if ok {
            Ok(Uuid(s.to_ascii_lowercase()))
        } else {
            Err(ValueError::new(&Json::from(s), "not a UUID"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One atomic value. `NamedUuid` only appears in requests: it refers to the
/// row inserted by the same transaction under that `uuid-name`.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(Uuid),
    NamedUuid(String),
}

impl Atom {
    pub fn to_json(&self) -> Json {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.as_str()]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    pub fn from_json(j: &Json) -> Result<Atom, ValueError> {
        match j {
            Json::Bool(b) => Ok(Atom::Boolean(*b)),
            Json::String(s) => Ok(Atom::String(s.clone())),
            Json::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Ok(Atom::Integer(i)),
                (None, Some(r)) => Ok(Atom::Real(r)),
                _ => Err(ValueError::new(j, "number out of range")),
            },
            Json::Array(a) => match (a.first().and_then(Json::as_str), a.get(1), a.len()) {
                (Some("uuid"), Some(Json::String(u)), 2) => Ok(Atom::Uuid(Uuid::parse(u)?)),
                (Some("named-uuid"), Some(Json::String(n)), 2) => Ok(Atom::NamedUuid(n.clone())),
                _ => Err(ValueError::new(j, "not an atom")),
            },
            _ => Err(ValueError::new(j, "not an atom")),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// Reals that happen to be whole numbers come back as JSON integers.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Atom::Real(r) => Some(*r),
            Atom::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Atom::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_uuid(&self) -> Option<&Uuid> {
        match self {
            Atom::Uuid(u) => Some(u),
            _ => None,
        }
    }
}

impl From<&str> for Atom {
    fn from(s: &str) -> Self {
        Atom::String(s.to_string())
    }
}
impl From<String> for Atom {
    fn from(s: String) -> Self {
        Atom::String(s)
    }
}
impl From<i64> for Atom {
    fn from(i: i64) -> Self {
        Atom::Integer(i)
    }
}
impl From<f64> for Atom {
    fn from(r: f64) -> Self {
        Atom::Real(r)
    }
}
impl From<bool> for Atom {
    fn from(b: bool) -> Self {
        Atom::Boolean(b)
    }
}
impl From<Uuid> for Atom {
    fn from(u: Uuid) -> Self {
        Atom::Uuid(u)
    }
}

/// A column value. The server sends a one-element set as the bare atom, so a
/// decoded `Atom` may stand for a set of one: use [`Value::as_set`] to read
/// sets, which accepts both.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Atom(Atom),
    Set(Vec<Atom>),
    Map(Vec<(Atom, Atom)>),
}

impl Value {
    pub fn set<A: Into<Atom>>(items: impl IntoIterator<Item = A>) -> Value {
        Value::Set(items.into_iter().map(Into::into).collect())
    }

    pub fn empty_set() -> Value {
        Value::Set(Vec::new())
    }

    pub fn map<K: Into<Atom>, V: Into<Atom>>(pairs: impl IntoIterator<Item = (K, V)>) -> Value {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// A reference to a row inserted earlier in the same transaction.
    pub fn named_uuid(name: &str) -> Value {
        Value::Atom(Atom::NamedUuid(name.to_string()))
    }

    pub fn to_json(&self) -> Json {
        match self {
            Value::Atom(a) => a.to_json(),
            Value::Set(items) => {
                json!(["set", items.iter().map(Atom::to_json).collect::<Vec<_>>()])
            }
            Value::Map(pairs) => json!([
                "map",
                pairs
                    .iter()
                    .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                    .collect::<Vec<_>>()
            ]),
        }
    }

    pub fn from_json(j: &Json) -> Result<Value, ValueError> {
        let tagged = j
            .as_array()
            .and_then(|a| match (a.first()?.as_str()?, a.get(1), a.len()) {
                (tag @ ("set" | "map"), Some(Json::Array(items)), 2) => Some((tag, items)),
                _ => None,
            });
        match tagged {
            Some(("set", items)) => Ok(Value::Set(
                items
                    .iter()
                    .map(Atom::from_json)
                    .collect::<Result<_, _>>()?,
            )),
            Some((_, pairs)) => {
                let pairs = pairs
                    .iter()
                    .map(|p| match p.as_array().map(Vec::as_slice) {
                        Some([k, v]) => Ok((Atom::from_json(k)?, Atom::from_json(v)?)),
                        _ => Err(ValueError::new(p, "map entry is not a [key, value] pair")),
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Value::Map(pairs))
            }
            None => Ok(Value::Atom(Atom::from_json(j)?)),
        }
    }

    pub fn as_atom(&self) -> Option<&Atom> {
        match self {
            Value::Atom(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.as_atom().and_then(Atom::as_str)
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_atom().and_then(Atom::as_i64)
    }

    pub fn as_bool(&self) -> Option<bool> {
        self.as_atom().and_then(Atom::as_bool)
    }

    pub fn as_uuid(&self) -> Option<&Uuid> {
        self.as_atom().and_then(Atom::as_uuid)
    }

    /// The elements of a set (a bare atom is a set of one). `None` for maps.
    pub fn as_set(&self) -> Option<Vec<&Atom>> {
        match self {
            Value::Atom(a) => Some(vec![a]),
            Value::Set(items) => Some(items.iter().collect()),
            Value::Map(_) => None,
        }
    }

    /// The pairs of a map (an empty set is an empty map).
    pub fn as_map(&self) -> Option<&[(Atom, Atom)]> {
        match self {
            Value::Map(pairs) => Some(pairs),
            Value::Set(items) if items.is_empty() => Some(&[]),
            _ => None,
        }
    }

    /// The value of a string key in a map column such as `external_ids`.
    pub fn map_get(&self, key: &str) -> Option<&Atom> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }
}

impl<T: Into<Atom>> From<T> for Value {
    fn from(a: T) -> Self {
        Value::Atom(a.into())
    }
}

pub(crate) fn row_to_json(row: &Row) -> Json {
    Json::Object(row.iter().map(|(c, v)| (c.clone(), v.to_json())).collect())
}

pub(crate) fn row_from_json(j: &Json) -> Result<Row, ValueError> {
    let obj = j
        .as_object()
        .ok_or_else(|| ValueError::new(j, "row is not a JSON object"))?;
    obj.iter()
        .map(|(c, v)| Ok((c.clone(), Value::from_json(v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "2f1e0a53-8d7b-4c3e-9a1f-0123456789ab";

    #[test]
    fn atoms_round_trip() {
        for a in [
            Atom::Integer(-7),
            Atom::Real(1.5),
            Atom::Boolean(true),
            Atom::String("ls-1".into()),
            Atom::Uuid(Uuid::parse(U).unwrap()),
            Atom::NamedUuid("row1".into()),
        ] {
            assert_eq!(Atom::from_json(&a.to_json()).unwrap(), a);
        }
    }

    #[test]
    fn value_encoding_matches_rfc7047() {
        let uuid = Uuid::parse(U).unwrap();
        assert_eq!(Value::from(uuid).to_json(), json!(["uuid", U]));
        assert_eq!(
            Value::named_uuid("ls").to_json(),
            json!(["named-uuid", "ls"])
        );
        assert_eq!(Value::set(["a", "b"]).to_json(), json!(["set", ["a", "b"]]));
        assert_eq!(Value::empty_set().to_json(), json!(["set", []]));
        assert_eq!(
            Value::map([("prismnet-epoch", "5")]).to_json(),
            json!(["map", [["prismnet-epoch", "5"]]])
        );
    }

    #[test]
    fn values_decode() {
        let v = Value::from_json(&json!(["map", [["k", "v"], ["n", 3]]])).unwrap();
        assert_eq!(v.map_get("k"), Some(&Atom::from("v")));
        assert_eq!(v.map_get("n"), Some(&Atom::Integer(3)));
        let one = Value::from_json(&json!("x")).unwrap();
        assert_eq!(one.as_set(), Some(vec![&Atom::from("x")]));
        let empty = Value::from_json(&json!(["set", []])).unwrap();
        assert_eq!(empty.as_map(), Some(&[][..]));
        assert_eq!(
            Value::from_json(&json!(["uuid", U])).unwrap().as_uuid(),
            Some(&Uuid::parse(U).unwrap())
        );
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        for j in [
            json!(null),
            json!({"a": 1}),
            json!(["uuid", "nope"]),
            json!(["map", [["k"]]]),
            json!(["set", [null]]),
            json!(["frob", 1]),
        ] {
            assert!(Value::from_json(&j).is_err(), "{j}");
        }
        let long = Json::from("x".repeat(1000));
        assert!(ValueError::new(&long, "r").excerpt.chars().count() <= ERROR_EXCERPT_CHARS + 1);
    }

    #[test]
    fn uuid_is_validated_and_lowercased() {
        assert!(Uuid::parse("2F1E0A53-8D7B-4C3E-9A1F-0123456789AB").is_ok());
        assert_eq!(Uuid::parse(&U.to_uppercase()).unwrap().as_str(), U);
        assert!(Uuid::parse("2f1e0a53_8d7b-4c3e-9a1f-0123456789ab").is_err());
    }
}
