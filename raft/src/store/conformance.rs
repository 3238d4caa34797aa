//! openraft's storage conformance suite against the RocksDB log store and the
//! state machine, each run in a fresh temporary data dir.

use openraft::testing::{StoreBuilder, Suite};
use prismnet_state::Settings;
use tempfile::TempDir;

use super::log_store::LogStore;
use super::state_machine::{ApplyOrder, StateMachineStore};
use crate::types::{StorageError, TypeConfig};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let opened = super::open(dir.path(), Settings::default()).expect("open fresh data dir");
        // The suite applies blank entries with gaps (e.g. index 3 on an empty state
        // machine); production storage refuses that, see `ApplyOrder`.
        let sm = opened.sm.with_order(ApplyOrder::Increasing);
        Ok((dir, opened.log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("storage suite failed: {e}");
    }
}
