//! The latest snapshot, kept as one file in the data dir and replaced atomically
//! (write to a temporary file, fsync, rename, fsync the directory).
//!
//! File format (version 1), little endian:
//! ```text
//! magic "PRISMRSN" | u32 version | u32 meta_len | postcard(SnapshotMeta)
//! | u64 data_len | data (State::write_snapshot bytes) | u64 xxh3-64 of all bytes before
//! ```
//! The trailing checksum covers the meta too (the state bytes carry their own), so
//! a torn or damaged file is refused instead of restoring a wrong state.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use xxhash_rust::xxh3::xxh3_64;

use crate::codec;
use crate::store::format::sync_dir;
use crate::types::{LogId, SnapshotMeta};

const MAGIC: &[u8; 8] = b"PRISMRSN";
const VERSION: u32 = 1;
const CURRENT: &str = "current";
const TMP: &str = "current.tmp";
/// A snapshot's meta is a membership and two log ids; anything larger is damage.
const META_LEN_MAX: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: corrupt snapshot file: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// The snapshot directory of one data dir.
#[derive(Clone, Debug)]
pub struct SnapshotDir {
    dir: PathBuf,
    /// Serializes saves (a snapshot being built and one being installed may finish
    /// together) and remembers what `current` holds, so an older snapshot never
    /// replaces a newer one.
    saved: Arc<Mutex<Option<LogId>>>,
}

impl SnapshotDir {
    /// Creates the directory if needed and removes a temporary file left by a crash
    /// in the middle of a save (the previous `current` is still whole).
    pub fn open(dir: PathBuf) -> Result<SnapshotDir, SnapshotFileError> {
        let io = |source| SnapshotFileError::Io {
            path: dir.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(io)?;
        match fs::remove_file(dir.join(TMP)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        Ok(SnapshotDir {
            dir,
            saved: Arc::new(Mutex::new(None)),
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(CURRENT)
    }

    /// Durably replaces the current snapshot, unless it already holds a newer one.
    /// Blocking: call from a blocking thread.
    pub fn save(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), SnapshotFileError> {
        let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
        if saved.is_some() && *saved > meta.last_log_id {
            tracing::info!(snapshot = %meta, "not saving snapshot: a newer one is current");
            return Ok(());
        }
        let tmp = self.dir.join(TMP);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SnapshotFileError::Io { path, source }
        };
        let meta_bytes =
            codec::encode("snapshot meta", meta).map_err(|e| SnapshotFileError::Corrupt {
                path: tmp.clone(),
                reason: e.to_string(),
            })?;
        let mut head = Vec::with_capacity(24 + meta_bytes.len());
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&(meta_bytes.len() as u32).to_le_bytes());
        head.extend_from_slice(&meta_bytes);
        head.extend_from_slice(&(data.len() as u64).to_le_bytes());
        let mut hash = xxhash_rust::xxh3::Xxh3::new();
        hash.update(&head);
        hash.update(data);
        let sum = hash.digest();

        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        let written = f
            .write_all(&head)
            .and_then(|_| f.write_all(data))
            .and_then(|_| f.write_all(&sum.to_le_bytes()))
            .and_then(|_| f.sync_all());
        drop(f);
        if let Err(e) = written {
            // On a full disk the partial file holds the very space a retry (or
            // RocksDB) needs; `current` is untouched either way.
            let _ = fs::remove_file(&tmp);
            return Err(io(&tmp)(e));
        }
        let cur = self.path();
        fs::rename(&tmp, &cur).map_err(io(&cur))?;
        sync_dir(&self.dir).map_err(io(&self.dir))?;
        *saved = meta.last_log_id;
        Ok(())
    }

    /// Reads the current snapshot: `None` when there is none yet. Blocking.
    pub fn load(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, SnapshotFileError> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SnapshotFileError::Io { path, source }),
        };
        let (meta, data) =
            decode(&bytes).map_err(|reason| SnapshotFileError::Corrupt { path, reason })?;
        let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
        if *saved < meta.last_log_id {
            *saved = meta.last_log_id;
        }
        Ok(Some((meta, data)))
    }
}

fn decode(bytes: &[u8]) -> Result<(SnapshotMeta, Vec<u8>), String> {
    let body_len = bytes
        .len()
        .checked_sub(8)
        .ok_or("shorter than its checksum")?;
    let (body, sum) = bytes.split_at(body_len);
    let sum = u64::from_le_bytes(sum.try_into().map_err(|_| "checksum")?);
    if xxh3_64(body) != sum {
        return Err("checksum mismatch".into());
    }
    let take = |at: usize, n: usize| -> Result<&[u8], String> {
        body.get(at..at.checked_add(n).ok_or("length overflow")?)
            .ok_or_else(|| "truncated".to_string())
    };
    if take(0, 8)? != MAGIC {
        return Err("bad magic".into());
    }
    let version = u32::from_le_bytes(take(8, 4)?.try_into().map_err(|_| "version")?);
    if version != VERSION {
        return Err(format!(
            "snapshot file version {version} (this build reads {VERSION})"
        ));
    }
    let meta_len = u32::from_le_bytes(take(12, 4)?.try_into().map_err(|_| "meta len")?) as usize;
    if meta_len > META_LEN_MAX {
        return Err(format!("meta of {meta_len} bytes"));
    }
    let meta: SnapshotMeta =
        codec::decode("snapshot meta", take(16, meta_len)?).map_err(|e| e.to_string())?;
    let at = 16 + meta_len;
    let data_len = u64::from_le_bytes(take(at, 8)?.try_into().map_err(|_| "data len")?);
    let data_len = usize::try_from(data_len).map_err(|_| "data length overflow")?;
    let data = take(at + 8, data_len)?;
    if at + 8 + data_len != body.len() {
        return Err("trailing bytes".into());
    }
    Ok((meta, data.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_and_detect_damage() {
        let dir = tempfile::tempdir().unwrap();
        let sd = SnapshotDir::open(dir.path().join("snapshot")).unwrap();
        assert!(sd.load().unwrap().is_none());
        let meta = SnapshotMeta {
            snapshot_id: "1-2-3".into(),
            ..Default::default()
        };
        sd.save(&meta, b"state bytes").unwrap();
        let (m, d) = sd.load().unwrap().unwrap();
        assert_eq!(m, meta);
        assert_eq!(d, b"state bytes");

        let mut bytes = fs::read(sd.path()).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 0x55;
        fs::write(sd.path(), &bytes).unwrap();
        assert!(matches!(sd.load(), Err(SnapshotFileError::Corrupt { .. })));
        fs::write(sd.path(), &bytes[..10]).unwrap();
        assert!(matches!(sd.load(), Err(SnapshotFileError::Corrupt { .. })));
    }
}
