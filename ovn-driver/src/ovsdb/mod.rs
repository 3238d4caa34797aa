//! An RFC 7047 OVSDB client, written for PrismNET's NB driver.
//!
//! | file | purpose |
//! |---|---|
//! | `codec` | streaming JSON framing of the byte stream (bounded message size) |
//! | `jsonrpc` | one connection: request/response matching, echo replies, liveness probe |
//! | `value` | OVSDB atoms, sets, maps, rows, UUIDs and their JSON encoding |
//! | `ops` | typed `transact` operations, conditions, mutations, per-op results |
//! | `monitor` | `monitor_cond` / `monitor_cond_since` requests and update2/update3 events |
//! | `cache` | a local replica of monitored tables that applies monitor events |
//! | `schema` | `get_schema` parsing and the check of the tables/columns we need |
//! | `remote` | `unix:`, `tcp:`, `ssl:` remotes and connecting to them |
//! | `client` | the public [`Client`]: remotes, reconnect with backoff, leader-only |
//!
//! ```no_run
//! # async fn demo() -> Result<(), prismnet_ovn::ovsdb::Error> {
//! use prismnet_ovn::ovsdb::*;
//! let mut cfg = ClientConfig::parse(
//!     "OVN_Northbound",
//!     &["tcp:10.0.0.1:6641", "tcp:10.0.0.2:6641", "tcp:10.0.0.3:6641"],
//! )?;
//! cfg.requirements = SchemaRequirements::new()
//!     .column("NB_Global", "external_ids", ColumnKind::Map(AtomicType::String, AtomicType::String));
//! let client = Client::connect(cfg).await?; // the leader only
//! // Fenced write: fails atomically unless our epoch is still stored.
//! let fence = Wait::new("NB_Global", Until::Eq)
//!     .filter(Condition::includes("external_ids", Value::map([("prismnet-epoch", "5")])))
//!     .row(Row::new())
//!     .timeout_ms(0);
//! let reply = client
//!     .transact(&[fence.into(), Insert::new("Logical_Switch").value("name", "ls1").into()])
//!     .await?;
//! let _uuid = reply.uuid(1);
//! // A cache that follows the database, across reconnects.
//! let mut events = client.monitor(&[MonitorRequest::new("Logical_Switch")]).await?;
//! let mut cache = TableCache::new(client.schema().clone());
//! while let Some(event) = events.recv().await {
//!     cache.apply(&event);
//! }
//! # Ok(()) }
//! ```
//!
//! Why our own: the published Rust crates lack transact/echo or mis-frame
//! several messages per read (see shared notes, peers.md).

mod cache;
mod client;
mod codec;
mod error;
mod jsonrpc;
mod monitor;
mod ops;
mod remote;
mod schema;
mod server;
mod value;

pub use cache::TableCache;
pub use client::{Client, ClientConfig};
pub use codec::{CodecError, FrameDecoder, MAX_MESSAGE_BYTES};
pub use error::{Error, TxnError};
pub use monitor::{MonitorEvent, MonitorRequest, RowUpdate, TableUpdates};
pub use ops::{
    Condition, Delete, Function, Insert, Mutate, Mutation, Mutator, OpResult, Operation, Select,
    TxnReply, Until, Update, Wait, MAX_TRANSACTION_OPS,
};
pub use remote::{Remote, TlsConfig};
pub use schema::{
    AtomicType, BaseType, ColumnKind, ColumnType, DatabaseSchema, SchemaMismatch, SchemaProblem,
    SchemaRequirements, TableSchema,
};
pub use value::{Atom, Row, Uuid, Value, ValueError};
