//! Clock faults through libfaketime: with the clock nemesis in a run, every node
//! runs with libfaketime preloaded, reading its offset from a file of its own
//! (re-read once a second). Only the wall clock is faked (CLOCK_REALTIME: the
//! leader's stamps, certificates, logs); the monotonic clock that timers and
//! elections use stays true, as an NTP step or a slewing clock would leave it.
//! Safety must not depend on either; liveness may suffer.

use std::path::{Path, PathBuf};

use crate::cluster::sys::{io_err, Result};

/// Debian's `faketime` package (multi-threaded variant, for a tokio process).
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// The offset file of the node whose run dir is `node_dir`.
pub fn offset_file(node_dir: &Path) -> PathBuf {
    node_dir.join("clock")
}

/// The environment that makes a process read its clock offset from `file`.
pub fn env(file: &Path) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), LIBFAKETIME.into()),
        ("FAKETIME_TIMESTAMP_FILE".into(), file.display().to_string()),
        ("FAKETIME_CACHE_DURATION".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// Sets the offset: libfaketime's syntax, e.g. `+0`, `-300s`, `+0 x1.5`.
pub fn set(file: &Path, spec: &str) -> Result<()> {
    std::fs::write(file, format!("{spec}\n")).map_err(io_err(file.display().to_string()))
}

pub fn available() -> bool {
    Path::new(LIBFAKETIME).exists()
}
