//! What prismctl prints: explicit serde structs per resource (stable field names,
//! lower-case enums, built from the proto messages) rendered as JSON or as aligned
//! tables.
//!
//! JSON: one object for a single resource, one array for a list (all pages).
//! Table: `KEY  value` lines for a single resource, one row per resource for a list.

pub mod cluster;
pub mod extnet;
pub mod fip;
pub mod ovn;
pub mod port;
pub mod project;
pub mod sg;
pub mod subnet;
pub mod table;
pub mod vpc;

use serde::Serialize;

use crate::error::CliError;

/// `--output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// A single resource shown as `KEY  value` lines.
pub trait Detail {
    fn fields(&self) -> Vec<(&'static str, String)>;
    /// Tables that follow the key/value block (e.g. a group's rules).
    fn sections(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// A resource shown as one row of a list.
pub trait Row {
    fn headers() -> &'static [&'static str];
    fn row(&self) -> Vec<String>;
}

/// Renders one resource.
pub fn one<T: Serialize + Detail>(format: Format, item: &T) -> Result<String, CliError> {
    match format {
        Format::Json => json(item),
        Format::Table => {
            let mut out = table::key_values(&item.fields());
            for (title, body) in item.sections() {
                out.push('\n');
                out.push_str(title);
                out.push_str(":\n");
                out.push_str(&body);
            }
            Ok(out)
        }
    }
}

/// Renders a list of resources.
pub fn list<T: Serialize + Row>(format: Format, items: &[T]) -> Result<String, CliError> {
    match format {
        Format::Json => json(&items),
        Format::Table => Ok(rows(items)),
    }
}

/// The rows of a list as a table (also used for sections).
pub fn rows<T: Row>(items: &[T]) -> String {
    let rows: Vec<Vec<String>> = items.iter().map(Row::row).collect();
    table::columns(T::headers(), &rows)
}

pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, CliError> {
    let mut s = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::failed("internal", format!("encoding JSON: {e}")))?;
    s.push('\n');
    Ok(s)
}

/// What a delete prints: the id it removed.
#[derive(Debug, Serialize)]
pub struct Deleted {
    pub id: String,
    pub kind: &'static str,
    pub deleted: bool,
}

impl Deleted {
    pub fn new(kind: &'static str, id: impl Into<String>) -> Self {
        Deleted {
            id: id.into(),
            kind,
            deleted: true,
        }
    }
}

impl Detail for Deleted {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![("deleted", format!("{} {}", self.kind, self.id))]
    }
}

/// An empty proto string as `None` (fields where empty means "not set").
pub fn opt(s: &str) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s.to_string())
    }
}

/// Cells: `-` for nothing, lists joined with commas.
pub fn cell(s: &str) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s.to_string()
    }
}

pub fn cell_opt(s: &Option<String>) -> String {
    s.as_deref().map(cell).unwrap_or_else(|| "-".to_string())
}

pub fn cell_list<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "-".to_string()
    } else {
        items
            .iter()
            .map(|s| s.as_ref())
            .collect::<Vec<_>>()
            .join(",")
    }
}

pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC); `-` for 0.
pub fn timestamp(ms: u64) -> String {
    if ms == 0 {
        return "-".to_string();
    }
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0), "-");
        assert_eq!(timestamp(1_000), "1970-01-01T00:00:01Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(timestamp(1_764_313_200_123), "2025-11-28T07:00:00Z");
    }

    #[test]
    fn deleted_shapes() {
        let d = Deleted::new("vpc", "abc");
        let v: serde_json::Value = serde_json::from_str(&one(Format::Json, &d).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": "abc", "kind": "vpc", "deleted": true})
        );
        assert_eq!(one(Format::Table, &d).unwrap(), "deleted  vpc abc\n");
    }
}
