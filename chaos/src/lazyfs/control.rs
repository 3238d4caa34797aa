//! The control socket of a lazyfs mount, and its client.
//!
//! A unix stream socket; one command per connection, one line each way:
//!
//! | command | what it does | answer |
//! |---|---|---|
//! | `pending` | nothing | `ok pending=<bytes> files=<n>` |
//! | `lose-unsynced` | drops every pending write | `ok dropped=<bytes> files=<n>` |
//! | `torn` | drops every pending write but the first half of the latest write(), which reaches the backing file | `ok dropped=<bytes> files=<n> kept=<bytes> file=<path or ->` |
//!
//! Anything else is answered `err <why>`. A command runs under the file system's
//! lock, between two FUSE operations.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::fs::{Cut, Shared};

/// Longest command line read (they are all short).
const LINE_BYTES_MAX: u64 = 256;
/// How long the client waits for an answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

fn cut_line(c: &Cut) -> String {
    let mut s = format!("ok dropped={} files={}", c.dropped, c.files);
    if let Some((kept, path)) = &c.kept {
        s.push_str(&format!(" kept={kept} file={}", path.display()));
    }
    s
}

/// The answer to one command line.
fn answer(fs: &Shared, line: &str) -> String {
    let mut s = fs.lock();
    match line.trim() {
        "pending" => format!(
            "ok pending={} files={}",
            s.pending.bytes(),
            s.pending.files()
        ),
        "lose-unsynced" => cut_line(&s.lose_unsynced()),
        "torn" => {
            let c = s.torn();
            let mut line = cut_line(&c);
            if c.kept.is_none() {
                line.push_str(" kept=0 file=-");
            }
            line
        }
        other => format!("err unknown command {other:?}; known: pending, lose-unsynced, torn"),
    }
}

/// Serves the control socket at `path` (replacing a stale one) until the
/// process ends.
pub fn serve(fs: Shared, path: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::thread::Builder::new()
        .name("lazyfs-control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let mut line = String::new();
                let read = BufReader::new((&conn).take(LINE_BYTES_MAX)).read_line(&mut line);
                let reply = match read {
                    Ok(_) => answer(&fs, &line),
                    Err(e) => format!("err {e}"),
                };
                tracing::info!(command = %line.trim(), %reply, "control");
                let _ = (&conn).write_all(format!("{reply}\n").as_bytes());
            }
        })?;
    Ok(())
}

/// What a cut dropped (and kept), as the daemon answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub bytes: u64,
    pub files: u64,
    /// A torn cut's kept prefix: its bytes and file.
    pub kept: Option<(u64, String)>,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lost {} B in {} files", self.bytes, self.files)?;
        if let Some((kept, file)) = &self.kept {
            write!(f, ", torn: kept {kept} B of the last write to {file}")?;
        }
        Ok(())
    }
}

/// A client of one mount's control socket.
#[derive(Clone, Debug)]
pub struct Control {
    pub socket: PathBuf,
}

impl Control {
    pub fn new(socket: impl Into<PathBuf>) -> Control {
        Control {
            socket: socket.into(),
        }
    }

    /// Sends one command; the `key=value` fields of its `ok` answer.
    pub fn send(&self, command: &str) -> std::io::Result<BTreeMap<String, String>> {
        let mut conn = UnixStream::connect(&self.socket)?;
        conn.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        conn.write_all(format!("{command}\n").as_bytes())?;
        let mut line = String::new();
        BufReader::new(conn.take(LINE_BYTES_MAX * 4)).read_line(&mut line)?;
        let line = line.trim();
        let Some(fields) = line.strip_prefix("ok") else {
            return Err(std::io::Error::other(format!(
                "lazyfs {}: {command}: {line:?}",
                self.socket.display()
            )));
        };
        Ok(fields
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    /// Bytes written and not yet fsynced.
    pub fn pending(&self) -> std::io::Result<u64> {
        Ok(num(&self.send("pending")?, "pending"))
    }

    /// Drops every pending write (a power cut).
    pub fn lose_unsynced(&self) -> std::io::Result<Dropped> {
        self.send("lose-unsynced").map(|f| dropped(&f))
    }

    /// Drops every pending write but a prefix of the latest (a power cut during
    /// a write).
    pub fn torn(&self) -> std::io::Result<Dropped> {
        self.send("torn").map(|f| dropped(&f))
    }
}

fn num(fields: &BTreeMap<String, String>, key: &str) -> u64 {
    fields.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn dropped(fields: &BTreeMap<String, String>) -> Dropped {
    let kept = num(fields, "kept");
    Dropped {
        bytes: num(fields, "dropped"),
        files: num(fields, "files"),
        kept: (kept > 0).then(|| (kept, fields.get("file").cloned().unwrap_or_default())),
    }
}
