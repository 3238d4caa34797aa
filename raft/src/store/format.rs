//! The data dir's layout and its version marker.
//!
//! ```text
//! <data_dir>/FORMAT              "prismnet-raft <version>\n", written when the dir is created
//! <data_dir>/db/                 RocksDB: column families `logs` and `meta`
//! <data_dir>/snapshot/current    the latest snapshot (meta + state), replaced atomically
//! ```
//! Version 1 encodes log entries, vote and log ids with postcard (openraft 0.9 types);
//! application payloads inside entries carry their own envelope version. A build
//! that changes any of that bumps [`VERSION`] and keeps a reader for the old one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::OpenError;

pub const VERSION: u32 = 1;
const MARKER_PREFIX: &str = "prismnet-raft ";
const FORMAT_FILE: &str = "FORMAT";

pub(crate) fn db_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("db")
}

pub(crate) fn snapshot_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("snapshot")
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> OpenError + 'a {
    move |source| OpenError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

/// Whether `data_dir` has never been used: absent or empty.
pub(crate) fn is_fresh(data_dir: &Path) -> Result<bool, OpenError> {
    match fs::read_dir(data_dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io(data_dir, "cannot list data dir")(e)),
    }
}

/// Creates the marker of a new data dir. Called before anything else is written,
/// so a dir with data but without a marker is never one of ours.
pub(crate) fn create(data_dir: &Path) -> Result<(), OpenError> {
    fs::create_dir_all(data_dir).map_err(io(data_dir, "cannot create data dir"))?;
    let path = data_dir.join(FORMAT_FILE);
    let tmp = data_dir.join("FORMAT.tmp");
    let mut f = fs::File::create(&tmp).map_err(io(&tmp, "cannot write format marker"))?;
    f.write_all(format!("{MARKER_PREFIX}{VERSION}\n").as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io(&tmp, "cannot write format marker"))?;
    fs::rename(&tmp, &path).map_err(io(&path, "cannot write format marker"))?;
    sync_dir(data_dir).map_err(io(data_dir, "cannot sync data dir"))?;
    Ok(())
}

/// Checks the marker of an existing data dir.
pub(crate) fn check(data_dir: &Path) -> Result<(), OpenError> {
    let path = data_dir.join(FORMAT_FILE);
    let text = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OpenError::MissingFormat {
                path: data_dir.to_path_buf(),
            })
        }
        Err(e) => return Err(io(&path, "cannot read format marker")(e)),
    };
    let text = String::from_utf8_lossy(&text);
    let expected = format!("{MARKER_PREFIX}{VERSION}");
    if text.trim_end() == expected {
        Ok(())
    } else {
        Err(OpenError::UnknownFormat {
            path: path.clone(),
            found: text.chars().take(64).collect(),
            expected,
        })
    }
}

/// fsync of a directory, so a rename inside it survives a power loss.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("node");
        assert!(is_fresh(&d).unwrap());
        create(&d).unwrap();
        assert!(!is_fresh(&d).unwrap());
        check(&d).unwrap();

        fs::write(d.join(FORMAT_FILE), "prismnet-raft 99\n").unwrap();
        assert!(matches!(check(&d), Err(OpenError::UnknownFormat { .. })));
        fs::remove_file(d.join(FORMAT_FILE)).unwrap();
        assert!(matches!(check(&d), Err(OpenError::MissingFormat { .. })));
    }
}
