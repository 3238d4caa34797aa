//! The NB fence: which PrismNET leader may write.
//!
//! The key is `prismnet-epoch:<cluster name>` in the single NB_Global row's
//! `external_ids`; its value is the epoch (decimal Raft term) of the leader
//! that owns NB. Per cluster name, so clusters sharing an NB do not fence
//! each other.
//!
//! - Claim (one transaction): `wait` (timeout 0) that the key still holds the
//!   value we read (`includes` on that single key: whole-map waits broke after
//!   NB leader changes, ovs-issues #298), then `mutate` delete the key and
//!   `mutate` insert it with our epoch. Only if our epoch is greater than the
//!   stored one. If the key is absent: `mutate insert` (which never replaces
//!   an existing key) followed by a `wait` that the key now holds OUR value,
//!   so a concurrent claimer makes exactly one of us fail. An NB without an
//!   NB_Global row gets one, guarded by a `wait` that the table is empty.
//! - Guard: every later transaction of that leader starts with [`guard`], a
//!   `wait` that the key still holds its epoch; once a newer leader claimed,
//!   the deposed leader's writes fail atomically.
//! - A stored epoch HIGHER than ours means a newer leader owns NB, or the
//!   cluster was re-created and its terms restarted. Never overwritten
//!   silently: [`FenceError::Newer`]. `claim(force = true)` (for
//!   `prismctl ovn takeover`) claims regardless and logs it loudly.

use tracing::{info, warn};

use crate::nb::nb_global;
use crate::ovsdb::{
    Client, Condition, Error, Insert, Mutate, Mutation, Operation, Row, Select, Until, Value, Wait,
};

pub const EPOCH_KEY_PREFIX: &str = "prismnet-epoch:";
/// Claims retried when another claimer races us between read and write.
pub const CLAIM_ATTEMPTS_MAX: usize = 8;

/// `prismnet-epoch:<cluster>`.
pub fn epoch_key(cluster: &str) -> String {
    format!("{EPOCH_KEY_PREFIX}{cluster}")
}

/// The first operation of every write: fails the whole transaction unless
/// NB_Global still holds our epoch.
pub fn guard(cluster: &str, epoch: u64) -> Operation {
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

#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    #[error(
        "NB is owned by epoch {stored} of cluster {cluster}, newer than ours ({ours}): a newer \
         leader owns it, or the cluster was re-created; use `prismctl ovn takeover --force` if \
         this leader is really the owner"
    )]
    Newer {
        cluster: String,
        stored: u64,
        ours: u64,
    },
    #[error(
        "NB_Global holds {key}={value:?}, which is not an epoch; claim with force to replace it"
    )]
    Unreadable { key: String, value: String },
    #[error("lost the race to claim NB {CLAIM_ATTEMPTS_MAX} times in a row")]
    Contended,
    #[error(transparent)]
    Ovsdb(#[from] Error),
}

/// What the fence holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    NoNbGlobal,
    Absent,
    Epoch(u64),
    Garbage(String),
}

/// What a claim did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub epoch: u64,
    /// The fence before the claim.
    pub previous: Stored,
}

pub async fn read(client: &Client, cluster: &str) -> Result<Stored, Error> {
    let reply = client
        .transact(&[Select::new(nb_global::TABLE)
            .columns(&["external_ids"])
            .into()])
        .await?;
    let Some(row) = reply.rows(0).and_then(|r| r.first()) else {
        return Ok(Stored::NoNbGlobal);
    };
    let key = epoch_key(cluster);
    Ok(
        match row
            .get("external_ids")
            .and_then(|v| v.map_get(&key))
            .and_then(|a| a.as_str())
        {
            None => Stored::Absent,
            Some(s) => match s.parse::<u64>() {
                Ok(e) => Stored::Epoch(e),
                Err(_) => Stored::Garbage(s.to_string()),
            },
        },
    )
}

/// Claims NB for `epoch`. Already holding it is success (a leader that
/// reconnects re-claims its own epoch).
pub async fn claim(
    client: &Client,
    cluster: &str,
    epoch: u64,
    force: bool,
) -> Result<Claimed, FenceError> {
    let key = epoch_key(cluster);
    let ours = epoch.to_string();
    for _ in 0..CLAIM_ATTEMPTS_MAX {
        let stored = read(client, cluster).await?;
        let ops: Vec<Operation> = match &stored {
            Stored::Epoch(e) if *e == epoch => {
                return Ok(Claimed {
                    epoch,
                    previous: stored,
                })
            }
            Stored::Epoch(e) if *e > epoch && !force => {
                return Err(FenceError::Newer {
                    cluster: cluster.into(),
                    stored: *e,
                    ours: epoch,
                })
            }
            Stored::Garbage(v) if !force => {
                return Err(FenceError::Unreadable {
                    key,
                    value: v.clone(),
                })
            }
            Stored::NoNbGlobal => vec![
                Wait::new(nb_global::TABLE, Until::Eq).timeout_ms(0).into(),
                Insert::new(nb_global::TABLE)
                    .value("external_ids", Value::map([(key.as_str(), ours.as_str())]))
                    .into(),
            ],
            Stored::Absent => vec![
                Mutate::new(nb_global::TABLE)
                    .mutation(Mutation::insert(
                        "external_ids",
                        Value::map([(key.as_str(), ours.as_str())]),
                    ))
                    .into(),
                holds(&key, &ours),
            ],
            Stored::Epoch(_) | Stored::Garbage(_) => {
                let old = match &stored {
                    Stored::Epoch(e) => e.to_string(),
                    Stored::Garbage(v) => v.clone(),
                    _ => unreachable!("matched above"),
                };
                vec![
                    holds(&key, &old),
                    Mutate::new(nb_global::TABLE)
                        .mutation(Mutation::delete("external_ids", Value::set([key.as_str()])))
                        .into(),
                    Mutate::new(nb_global::TABLE)
                        .mutation(Mutation::insert(
                            "external_ids",
                            Value::map([(key.as_str(), ours.as_str())]),
                        ))
                        .into(),
                ]
            }
        };
        match client.transact(&ops).await {
            Ok(_) => {
                if force && matches!(stored, Stored::Epoch(e) if e > epoch) {
                    warn!(
                        cluster, epoch, previous = ?stored,
                        "FORCED NB TAKEOVER: replaced a NEWER epoch; the leader of that epoch can \
                         no longer write to NB"
                    );
                } else {
                    info!(cluster, epoch, previous = ?stored, "claimed the NB fence");
                }
                return Ok(Claimed {
                    epoch,
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
