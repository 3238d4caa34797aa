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
use rocksdb::{ColumnFamilyDescriptor, LogLevel, Options, DB};

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

/// Free space a data dir needs, beyond its write-ahead log, for RocksDB to open:
/// its info log header, OPTIONS and MANIFEST files, a new WAL.
pub const OPEN_FREE_BYTES_MIN: u64 = 16 << 20;

/// Opens (or, when absent or empty, creates) a data dir.
///
/// An existing dir must carry a FORMAT marker of a version this build reads, a
/// RocksDB that opens, and (if present) a readable snapshot. Anything else is an
/// error: a node must not come up empty on top of data it failed to read.
///
/// A filesystem without room to open is refused up front (`OpenError::NoSpace`),
/// whatever `min_free_bytes` says: Debian's librocksdb is built with assertions,
/// and when a file write fails with ENOSPC during open (its info log first) the
/// next write to that file aborts the process instead of returning the error.
pub fn open(data_dir: &Path, settings: Settings) -> Result<Opened, OpenError> {
    let created = format::is_fresh(data_dir)?;
    if created {
        format::create(data_dir)?;
        tracing::info!(path = %data_dir.display(), "created data dir");
    } else {
        format::check(data_dir)?;
    }

    // Before measuring: this drops a snapshot file a full disk cut short.
    let snap_path = format::snapshot_dir(data_dir);
    let snapshots = SnapshotDir::open(snap_path.clone()).map_err(|e| OpenError::Snapshot {
        path: snap_path.clone(),
        reason: e.to_string(),
    })?;

    let db_path = format::db_dir(data_dir);
    let needed = OPEN_FREE_BYTES_MIN.saturating_add(wal_bytes(&db_path)?);
    let free = crate::disk::available_bytes(data_dir)?;
    if free < needed {
        return Err(OpenError::NoSpace {
            path: data_dir.to_path_buf(),
            free_bytes: free,
            needed_bytes: needed,
        });
    }

    let mut opts = Options::default();
    // Only a brand-new data dir gets a new database; a missing one in an existing
    // dir is damage, reported by RocksDB's own "does not exist" error.
    opts.create_if_missing(created);
    opts.create_missing_column_families(created);
    // RocksDB's own LOG keeps only its header (the options, at each open). The
    // librocksdb we link is built with assertions: once a write to a file failed
    // (ENOSPC), the next write to it aborts the process. Its info log writes on
    // its own schedule (status lines, and errors right after a failed write), so
    // on a full disk it would abort us before we can report the error and exit
    // cleanly. Errors still reach us as the statuses of our calls.
    opts.set_log_level(LogLevel::Header);
    let cfs = [CF_LOGS, CF_META]
        .into_iter()
        .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
    let db = DB::open_cf_descriptors(&opts, &db_path, cfs).map_err(|source| OpenError::Rocks {
        path: db_path.clone(),
        source,
    })?;
    let db = Arc::new(db);

    let sm = open_sm(snapshots, snap_path, settings)?;
    Ok(Opened {
        log: LogStore::new(db.clone()),
        db,
        sm,
        created,
    })
}

/// Opens only the state machine of `data_dir` (its snapshot files), for a node
/// whose log lives elsewhere: the simulator's (`crate::seams`).
pub fn open_state_machine(
    data_dir: &Path,
    settings: Settings,
) -> Result<StateMachineStore, OpenError> {
    let snap_path = format::snapshot_dir(data_dir);
    let snapshots = SnapshotDir::open(snap_path.clone()).map_err(|e| OpenError::Snapshot {
        path: snap_path.clone(),
        reason: e.to_string(),
    })?;
    open_sm(snapshots, snap_path, settings)
}

fn open_sm(
    snapshots: SnapshotDir,
    path: std::path::PathBuf,
    settings: Settings,
) -> Result<StateMachineStore, OpenError> {
    StateMachineStore::open(snapshots, settings)
        .map_err(|reason| OpenError::Snapshot { path, reason })
}

/// Bytes of RocksDB write-ahead log files (`*.log`) in `db_path`: what an open
/// replays and writes out again as a table file.
fn wal_bytes(db_path: &Path) -> Result<u64, OpenError> {
    let io = |source| OpenError::Io {
        path: db_path.to_path_buf(),
        what: "cannot list the database dir",
        source,
    };
    let entries = match std::fs::read_dir(db_path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(e)),
    };
    let mut total = 0u64;
    for entry in entries {
        let entry = entry.map_err(io)?;
        if entry.path().extension().is_some_and(|x| x == "log") {
            total = total.saturating_add(entry.metadata().map_err(io)?.len());
        }
    }
    Ok(total)
}

#[cfg(test)]
mod conformance;
