//! The NB audit: from NB's own transaction log, did a deposed leadership commit
//! anything after a newer one claimed NB?
//!
//! Every transaction PrismNET's driver sends ends with the comment
//! `prismnet <cluster> <term>/<node>/<incarnation>`, and `ovsdb-tool show-log -m`
//! prints each committed record of a member's database with its comment, in commit
//! order. Within one incarnation, leaderships are ordered by (term, node); the
//! fence promises that once a leadership's claim committed, no older one commits
//! again. A record signed by an epoch lower than an earlier record's is that
//! promise broken.

use serde::{Deserialize, Serialize};

/// A signed transaction as NB's log shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// The log record number (`record N:`).
    pub record: u64,
    pub cluster: String,
    pub term: u64,
    pub node: u64,
    pub incarnation: String,
}

/// A signed record that came after a newer leadership's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regression {
    pub newer: Signed,
    pub later_older: Signed,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    /// Signed transactions seen, for the cluster audited.
    pub signed: usize,
    /// Distinct leaderships that wrote, in commit order of their first record.
    pub leaderships: Vec<(u64, u64)>,
    pub regressions: Vec<Regression>,
}

/// Parses `ovsdb-tool show-log -m` output: the signed records of `cluster`.
pub fn parse(log: &str, cluster: &str) -> Vec<Signed> {
    let mut out = Vec::new();
    let mut record = 0u64;
    for line in log.lines() {
        let t = line.trim();
        if let Some(n) = t.strip_prefix("record ").and_then(|r| r.strip_suffix(':')) {
            record = n.parse().unwrap_or(record);
            continue;
        }
        let Some(rest) = t.split("\"prismnet ").nth(1) else {
            continue;
        };
        let rest = rest.trim_end_matches('"');
        let mut words = rest.split(' ');
        let (Some(c), Some(epoch)) = (words.next(), words.next()) else {
            continue;
        };
        if c != cluster {
            continue;
        }
        let mut parts = epoch.split('/');
        let (Some(term), Some(node), Some(inc)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(term), Ok(node)) = (term.parse(), node.parse()) else {
            continue;
        };
        out.push(Signed {
            record,
            cluster: c.to_string(),
            term,
            node,
            incarnation: inc.to_string(),
        });
    }
    out
}

/// Checks that, per incarnation, signed records never go back to an older
/// leadership (in openraft's (term, node) order).
pub fn audit(signed: &[Signed]) -> Audit {
    let mut a = Audit {
        signed: signed.len(),
        ..Audit::default()
    };
    let mut highest: std::collections::BTreeMap<&str, &Signed> = Default::default();
    for s in signed {
        let leader = (s.term, s.node);
        if !a.leaderships.contains(&leader) {
            a.leaderships.push(leader);
        }
        match highest.get(s.incarnation.as_str()) {
            Some(h) if (h.term, h.node) > leader => a.regressions.push(Regression {
                newer: (*h).clone(),
                later_older: s.clone(),
            }),
            Some(h) if (h.term, h.node) == leader => {}
            _ => {
                highest.insert(&s.incarnation, s);
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"record 4:
 term: 1
 index: 3
 2026-12-02 07:45:27.945 "prismnet chaos 2/1/aa"
  table Logical_Switch insert row "x" (5c959f53):

record 5:
 2026-12-02 07:45:28.000 "prismnet other 9/9/bb"

record 6:
 2026-12-02 07:45:29.000 "prismnet chaos 3/2/aa"

record 7:
 2026-12-02 07:45:30.000 "prismnet chaos 2/1/aa"
"#;

    #[test]
    fn finds_a_deposed_write_after_a_newer_claim() {
        let s = parse(LOG, "chaos");
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[0].record, 4);
        let a = audit(&s);
        assert_eq!(a.leaderships, vec![(2, 1), (3, 2)]);
        assert_eq!(a.regressions.len(), 1);
        assert_eq!(a.regressions[0].later_older.record, 7);
        // In order: no regression.
        let ok = audit(&s[..2]);
        assert!(ok.regressions.is_empty());
    }
}
