//! Storage of one node: the Raft log in RocksDB ([`log_store`]), the applied state in
//! memory with its snapshot file ([`state_machine`], [`snapshot_file`]), and the data
//! dir's versioned layout ([`format`]).

pub mod format;
pub mod log_store;
pub mod snapshot_file;
pub mod state_machine;

use std::path::Path;
use std::sync::Arc;

use prismnet_state::Settings;
use rocksdb::{ColumnFamilyDescriptor, Options, DB};

use crate::error::OpenError;
use log_store::{LogStore, CF_LOGS, CF_META};
use snapshot_file::SnapshotDir;
use state_machine::StateMachineStore;

/// A node's opened storage.
pub struct Opened {
    pub db: Arc<DB>,
    pub log: LogStore,
    pub sm: StateMachineStore,
    /// True when the data dir was created by this open.
    pub created: bool,
}

/// Opens (or, when absent or empty, creates) a data dir.
///
/// An existing dir must carry a FORMAT marker of a version this build reads, a
/// RocksDB that opens, and (if present) a readable snapshot. Anything else is an
/// error: a node must not come up empty on top of data it failed to read.
pub fn open(data_dir: &Path, settings: Settings) -> Result<Opened, OpenError> {
    let created = format::is_fresh(data_dir)?;
    if created {
        format::create(data_dir)?;
        tracing::info!(path = %data_dir.display(), "created data dir");
    } else {
        format::check(data_dir)?;
    }

    let db_path = format::db_dir(data_dir);
    let mut opts = Options::default();
    // Only a brand-new data dir gets a new database; a missing one in an existing
    // dir is damage, reported by RocksDB's own "does not exist" error.
    opts.create_if_missing(created);
    opts.create_missing_column_families(created);
    let cfs = [CF_LOGS, CF_META]
        .into_iter()
        .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
    let db = DB::open_cf_descriptors(&opts, &db_path, cfs).map_err(|source| OpenError::Rocks {
        path: db_path.clone(),
        source,
    })?;
    let db = Arc::new(db);

    let snap_path = format::snapshot_dir(data_dir);
    let snapshots = SnapshotDir::open(snap_path.clone()).map_err(|e| OpenError::Snapshot {
        path: snap_path.clone(),
        reason: e.to_string(),
    })?;
    let sm =
        StateMachineStore::open(snapshots, settings).map_err(|reason| OpenError::Snapshot {
            path: snap_path,
            reason,
        })?;
    Ok(Opened {
        log: LogStore::new(db.clone()),
        db,
        sm,
        created,
    })
}

#[cfg(test)]
mod conformance;
