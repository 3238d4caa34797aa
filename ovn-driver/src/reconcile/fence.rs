//! The NB fence: which PrismNET leader may write.
//!
//! The key is `prismnet-epoch:<cluster name>` in the single NB_Global row's
//! `external_ids`; its value is the [`Epoch`] of the leader that owns NB. Per
//! cluster name, so clusters sharing an NB do not fence each other.
//!
//! ```text
//! value  := term "/" node "/" incarnation    e.g. "57/2/5f0c9e...": decimal, decimal,
//!                                            32 lowercase hex digits
//! legacy := term                             written by PrismNET before epochs named
//!                                            a node (read only)
//! ```
//!
//! An epoch names exactly one leadership. openraft 0.9 (default mode) identifies a
//! leader by (term, node id), ordered lexicographically, and a voter grants a vote
//! for (T, X) after one for (T, Y) when X > Y: two nodes can both win term T, the
//! later one with the greater node id. The bare term, used before, was shared by
//! both, so both wrote. We compare (term, node) in openraft's own order instead of
//! turning on its `single-term-leader` feature: that feature changes the encoding
//! of every stored vote and log id (a data-dir format change) and makes split votes
//! more likely, while (term, node) is already the order in which openraft's
//! leaders supersede each other. The incarnation (named once per cluster, in the
//! replicated state) tells a re-created cluster from the one that wrote the fence:
//! its terms restart, and without it a re-created cluster would take NB over
//! silently once its term passed the old one.
//!
//! - Claim (one transaction): `wait` (timeout 0) that the key still holds the
//!   value we read (`includes` on that single key: whole-map waits broke after
//!   NB leader changes, ovs-issues #298), then `mutate` delete the key and
//!   `mutate` insert it with our epoch. Only over a [`Standing::Claimable`]
//!   value: absent, or a strictly smaller epoch of our incarnation (or a legacy
//!   term below ours). If the key is absent: `mutate insert` (which never
//!   replaces an existing key) followed by a `wait` that the key now holds OUR
//!   value, so a concurrent claimer makes exactly one of us fail. An NB without an
//!   NB_Global row gets one, guarded by a `wait` that the table is empty.
//! - Guard: every later transaction of that leader starts with [`guard`], a
//!   `wait` that the key still holds its epoch; once a newer leader claimed,
//!   the deposed leader's writes fail atomically.
//! - A newer epoch of our incarnation (a deposed us, or a cluster restored from
//!   a backup whose terms restarted), another incarnation (a re-created cluster),
//!   or a value that is no epoch is never overwritten silently:
//!   [`FenceError::Refused`]. `claim(force = true)` (for `prismctl ovn takeover
//!   --force`, run by a leader that confirmed its leadership) claims regardless and
//!   logs it loudly.

use std::fmt;
use std::str::FromStr;

use tracing::{info, warn};

use crate::nb::nb_global;
use crate::ovsdb::{
    Client, Condition, Error, Insert, Mutate, Mutation, Operation, Row, Select, Until, Value, Wait,
};

pub const EPOCH_KEY_PREFIX: &str = "prismnet-epoch:";
/// Claims retried when another claimer races us between read and write.
pub const CLAIM_ATTEMPTS_MAX: usize = 8;
/// What an operator runs to take NB over from the owner the fence names.
pub const TAKEOVER_COMMAND: &str = "prismctl ovn takeover --force";

/// `prismnet-epoch:<cluster>`.
pub fn epoch_key(cluster: &str) -> String {
    format!("{EPOCH_KEY_PREFIX}{cluster}")
}

/// One leadership of one incarnation of a cluster.
///
/// Within an incarnation, epochs are ordered like openraft's leader ids: by term,
/// then node id. Epochs of different incarnations are not ordered at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Epoch {
    pub term: u64,
    pub node: u64,
    /// Names the cluster incarnation (`prismnet_state::State::incarnation`).
    pub incarnation: u128,
}

impl Epoch {
    /// The leader id, in openraft's order.
    pub fn leader(&self) -> (u64, u64) {
        (self.term, self.node)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{:032x}", self.term, self.node, self.incarnation)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an epoch (term/node/incarnation)")]
pub struct EpochParseError(String);

impl FromStr for Epoch {
    type Err = EpochParseError;

    fn from_str(s: &str) -> Result<Epoch, EpochParseError> {
        let bad = || EpochParseError(s.to_string());
        let mut parts = s.split('/');
        let (Some(term), Some(node), Some(inc), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let hex = inc.len() == 32 && inc.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !digits(term) || !digits(node) || !hex {
            return Err(bad());
        }
        Ok(Epoch {
            term: term.parse().map_err(|_| bad())?,
            node: node.parse().map_err(|_| bad())?,
            incarnation: u128::from_str_radix(inc, 16).map_err(|_| bad())?,
        })
    }
}

/// The last operation of every transaction the driver sends (writes and claims):
/// a `comment`, `prismnet <cluster> <epoch>`, that NB's own log keeps with the
/// transaction (`ovsdb-tool show-log`), so an auditor (the chaos suite) can tell
/// which leadership committed what, in commit order.
pub fn signature(cluster: &str, epoch: &Epoch) -> Operation {
    Operation::Comment(format!("prismnet {cluster} {epoch}"))
}

/// The first operation of every write: fails the whole transaction unless
/// NB_Global still holds our epoch.
pub fn guard(cluster: &str, epoch: &Epoch) -> Operation {
    holds(&epoch_key(cluster), &epoch.to_string())
}

fn holds(key: &str, value: &str) -> Operation {
    Wait::new(nb_global::TABLE, Until::Eq)
        .filter(Condition::includes(
            "external_ids",
            Value::map([(key, value)]),
        ))
        .row(Row::new())
        .timeout_ms(0)
        .into()
}

/// What the fence holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    NoNbGlobal,
    Absent,
    Epoch(Epoch),
    /// A bare term, written before epochs named a node.
    Legacy(u64),
    Garbage(String),
}

impl Stored {
    /// Reads the fence value of `cluster` from an NB_Global row (`None`: no row).
    pub fn from_row(row: Option<&Row>, cluster: &str) -> Stored {
        let Some(row) = row else {
            return Stored::NoNbGlobal;
        };
        let key = epoch_key(cluster);
        match row
            .get("external_ids")
            .and_then(|v| v.map_get(&key))
            .and_then(|a| a.as_str())
        {
            None => Stored::Absent,
            Some(s) => Stored::parse(s),
        }
    }

    pub fn parse(s: &str) -> Stored {
        if let Ok(e) = s.parse::<Epoch>() {
            return Stored::Epoch(e);
        }
        let legacy = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match s.parse::<u64>() {
            Ok(term) if legacy => Stored::Legacy(term),
            _ => Stored::Garbage(s.to_string()),
        }
    }

    /// The value as NB holds it ("" when there is none).
    pub fn value(&self) -> String {
        match self {
            Stored::NoNbGlobal | Stored::Absent => String::new(),
            Stored::Epoch(e) => e.to_string(),
            Stored::Legacy(t) => t.to_string(),
            Stored::Garbage(v) => v.clone(),
        }
    }
}

impl fmt::Display for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stored::NoNbGlobal => f.write_str("no NB_Global row"),
            Stored::Absent => f.write_str("no fence key"),
            Stored::Epoch(e) => write!(f, "epoch {e}"),
            Stored::Legacy(t) => write!(f, "legacy epoch {t} (a bare term)"),
            Stored::Garbage(v) => write!(f, "{v:?} (not an epoch)"),
        }
    }
}

/// How what NB holds stands against our epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// NB holds exactly our epoch.
    Held,
    /// Ours to claim: nothing, or an older leader of our incarnation, or a legacy
    /// term below ours (an older leader of a cluster that upgraded).
    Claimable,
    /// A newer leader of our incarnation: we were deposed, or this cluster was
    /// restored from a backup and its terms restarted. A legacy term at or above
    /// ours counts as newer too.
    Newer,
    /// Another incarnation of this cluster name: the cluster was re-created (or two
    /// clusters share one name and one NB).
    Foreign,
    /// Not an epoch at all.
    Unreadable,
}

/// The one rule of the fence: may `ours` write over `stored`?
pub fn standing(ours: &Epoch, stored: &Stored) -> Standing {
    match stored {
        Stored::NoNbGlobal | Stored::Absent => Standing::Claimable,
        Stored::Epoch(e) if e == ours => Standing::Held,
        Stored::Epoch(e) if e.incarnation != ours.incarnation => Standing::Foreign,
        Stored::Epoch(e) if e.leader() < ours.leader() => Standing::Claimable,
        Stored::Epoch(_) => Standing::Newer,
        Stored::Legacy(t) if *t < ours.term => Standing::Claimable,
        Stored::Legacy(_) => Standing::Newer,
        Stored::Garbage(_) => Standing::Unreadable,
    }
}

/// Why a refused claim was refused, for logs, status and operators.
pub fn refusal(ours: &Epoch, stored: &Stored, standing: Standing, cluster: &str) -> String {
    let why = match standing {
        Standing::Newer => "a newer leader of this cluster, or this cluster was restored and its terms restarted",
        Standing::Foreign => "another incarnation of this cluster name: this cluster was re-created, or another cluster uses the same name",
        Standing::Unreadable => "a value this build cannot read",
        Standing::Held | Standing::Claimable => "nothing that stops a claim",
    };
    format!(
        "NB's fence for cluster {cluster} holds {stored} ({why}); this leader ({ours}) does \
         not write NB. If this cluster is NB's rightful owner, take over with `{TAKEOVER_COMMAND}`"
    )
}

#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    #[error("{}", refusal(ours, stored, *standing, cluster))]
    Refused {
        cluster: String,
        stored: Stored,
        ours: Epoch,
        standing: Standing,
    },
    #[error("lost the race to claim NB {CLAIM_ATTEMPTS_MAX} times in a row")]
    Contended,
    #[error(transparent)]
    Ovsdb(#[from] Error),
}

/// What a claim did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub epoch: Epoch,
    /// The fence before the claim.
    pub previous: Stored,
}

pub async fn read(client: &Client, cluster: &str) -> Result<Stored, Error> {
    let reply = client
        .transact(&[Select::new(nb_global::TABLE)
            .columns(&["external_ids"])
            .into()])
        .await?;
    Ok(Stored::from_row(
        reply.rows(0).and_then(|r| r.first()),
        cluster,
    ))
}

/// Claims NB for `epoch`: see the module docs for when that is allowed. Already
/// holding it is success (a leader that reconnects re-claims its own epoch).
pub async fn claim(
    client: &Client,
    cluster: &str,
    epoch: &Epoch,
    force: bool,
) -> Result<Claimed, FenceError> {
    for _ in 0..CLAIM_ATTEMPTS_MAX {
        let stored = read(client, cluster).await?;
        let st = standing(epoch, &stored);
        match st {
            Standing::Held => {
                return Ok(Claimed {
                    epoch: *epoch,
                    previous: stored,
                })
            }
            Standing::Claimable => {}
            Standing::Newer | Standing::Foreign | Standing::Unreadable if force => {}
            Standing::Newer | Standing::Foreign | Standing::Unreadable => {
                return Err(FenceError::Refused {
                    cluster: cluster.into(),
                    stored,
                    ours: *epoch,
                    standing: st,
                })
            }
        }
        let mut ops = claim_ops(cluster, epoch, &stored);
        ops.push(signature(cluster, epoch));
        match client.transact(&ops).await {
            Ok(_) => {
                if st == Standing::Claimable {
                    info!(cluster, %epoch, previous = %stored, "claimed the NB fence");
                } else {
                    warn!(
                        cluster, %epoch, previous = %stored,
                        "FORCED NB TAKEOVER: replaced a fence this leader could not claim; its \
                         owner can no longer write to NB"
                    );
                }
                return Ok(Claimed {
                    epoch: *epoch,
                    previous: stored,
                });
            }
            // Someone changed the fence between our read and our write.
            Err(Error::Transaction(t)) if t.op == Some("wait") => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(FenceError::Contended)
}

/// The transaction that replaces `stored` (as read) with `epoch`.
fn claim_ops(cluster: &str, epoch: &Epoch, stored: &Stored) -> Vec<Operation> {
    let key = epoch_key(cluster);
    let ours = epoch.to_string();
    let insert = Mutate::new(nb_global::TABLE)
        .mutation(Mutation::insert(
            "external_ids",
            Value::map([(key.as_str(), ours.as_str())]),
        ))
        .into();
    match stored {
        Stored::NoNbGlobal => vec![
            Wait::new(nb_global::TABLE, Until::Eq).timeout_ms(0).into(),
            Insert::new(nb_global::TABLE)
                .value("external_ids", Value::map([(key.as_str(), ours.as_str())]))
                .into(),
        ],
        Stored::Absent => vec![insert, holds(&key, &ours)],
        Stored::Epoch(_) | Stored::Legacy(_) | Stored::Garbage(_) => vec![
            holds(&key, &stored.value()),
            Mutate::new(nb_global::TABLE)
                .mutation(Mutation::delete("external_ids", Value::set([key.as_str()])))
                .into(),
            insert,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INC: u128 = 0x5f0c_9e00_0000_0000_0000_0000_0000_0001;

    fn ep(term: u64, node: u64) -> Epoch {
        Epoch {
            term,
            node,
            incarnation: INC,
        }
    }

    #[test]
    fn epochs_round_trip_and_garbage_is_refused() {
        let e = ep(57, 2);
        assert_eq!(e.to_string(), "57/2/5f0c9e00000000000000000000000001");
        assert_eq!(e.to_string().parse::<Epoch>(), Ok(e));
        assert_eq!(Stored::parse(&e.to_string()), Stored::Epoch(e));
        assert_eq!(Stored::parse("57"), Stored::Legacy(57));
        for bad in [
            "",
            "57/2",
            "57/2/xyz",
            "+5",
            "57/2/5F0C9E00000000000000000000000001",
            "a/b/c/d",
        ] {
            assert!(
                matches!(Stored::parse(bad), Stored::Garbage(_)),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn one_leader_per_epoch_in_openraft_order() {
        let ours = ep(5, 2);
        // Same term, lower node id: openraft's older leader of term 5.
        assert_eq!(
            standing(&ours, &Stored::Epoch(ep(5, 1))),
            Standing::Claimable
        );
        assert_eq!(standing(&ours, &Stored::Epoch(ep(5, 3))), Standing::Newer);
        assert_eq!(
            standing(&ours, &Stored::Epoch(ep(4, 9))),
            Standing::Claimable
        );
        assert_eq!(standing(&ours, &Stored::Epoch(ep(6, 1))), Standing::Newer);
        assert_eq!(standing(&ours, &Stored::Epoch(ours)), Standing::Held);
        let other = Epoch {
            incarnation: INC + 1,
            ..ep(1, 1)
        };
        assert_eq!(standing(&ours, &Stored::Epoch(other)), Standing::Foreign);
        assert_eq!(standing(&ours, &Stored::Legacy(4)), Standing::Claimable);
        assert_eq!(standing(&ours, &Stored::Legacy(5)), Standing::Newer);
        assert_eq!(standing(&ours, &Stored::Absent), Standing::Claimable);
        assert_eq!(
            standing(&ours, &Stored::Garbage("x".into())),
            Standing::Unreadable
        );
    }
}
