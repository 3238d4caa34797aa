//! The page cache of a lazyfs mount: data written to a file but not yet fsynced,
//! per inode, in the order it was written. Pure bookkeeping (no I/O), so that the
//! rules below are tested without a mount.
//!
//! Rules:
//! - a write is kept as it came (offset, bytes); a write that continues the file's
//!   previous pending write exactly (an append) is merged into it, and the length
//!   of the latest write is remembered apart, so a torn cut still knows where the
//!   last write began;
//! - what a read sees is the backing file with every pending write laid over it
//!   in order; a file's size is the larger of the backing size and the end of its
//!   pending writes;
//! - a truncate cuts pending writes at the new size (the truncate itself goes to
//!   the backing file at once);
//! - `bytes` is the sum of the pending writes' lengths (an overwritten range counts
//!   twice until synced: a bound on memory, not the file's size).

use std::collections::BTreeMap;

/// One write() as the file system got it (or appends merged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub offset: u64,
    pub data: Vec<u8>,
}

impl Write {
    fn end(&self) -> u64 {
        self.offset + self.data.len() as u64
    }
}

#[derive(Debug, Default)]
struct File {
    writes: Vec<Write>,
    /// Length of the latest write(), the tail of `writes.last()` (0: it was cut
    /// away by a truncate).
    last_len: usize,
    /// When the latest write came (a count over the whole file system).
    last_seq: u64,
}

impl File {
    fn end(&self) -> u64 {
        self.writes.iter().map(Write::end).max().unwrap_or(0)
    }

    fn bytes(&self) -> u64 {
        self.writes.iter().map(|w| w.data.len() as u64).sum()
    }
}

/// What a torn cut keeps: a prefix of the last write, to be written to the
/// backing file of `ino` at `write.offset`.
#[derive(Debug, PartialEq, Eq)]
pub struct Torn {
    pub ino: u64,
    pub write: Write,
}

/// Every inode's pending writes.
#[derive(Debug, Default)]
pub struct Pending {
    files: BTreeMap<u64, File>,
    bytes: u64,
    /// Writes so far (orders the files' latest writes).
    seq: u64,
}

impl Pending {
    /// Bytes pending over all files.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Files with pending writes.
    pub fn files(&self) -> usize {
        self.files.len()
    }

    pub fn write(&mut self, ino: u64, offset: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let f = self.files.entry(ino).or_default();
        match f.writes.last_mut() {
            Some(w) if w.end() == offset => w.data.extend_from_slice(data),
            _ => f.writes.push(Write {
                offset,
                data: data.to_vec(),
            }),
        }
        self.seq += 1;
        f.last_len = data.len();
        f.last_seq = self.seq;
        self.bytes += data.len() as u64;
    }

    /// The size `ino` has with its pending writes, over a backing file of
    /// `backing_size` bytes.
    pub fn size(&self, ino: u64, backing_size: u64) -> u64 {
        self.files
            .get(&ino)
            .map_or(backing_size, |f| f.end().max(backing_size))
    }

    /// Lays the pending writes of `ino` over `buf`, which holds the file from
    /// `offset` as the backing file has it.
    pub fn overlay(&self, ino: u64, offset: u64, buf: &mut [u8]) {
        let Some(f) = self.files.get(&ino) else {
            return;
        };
        let end = offset + buf.len() as u64;
        for w in &f.writes {
            let (lo, hi) = (w.offset.max(offset), w.end().min(end));
            if lo >= hi {
                continue;
            }
            let src = &w.data[(lo - w.offset) as usize..(hi - w.offset) as usize];
            buf[(lo - offset) as usize..(hi - offset) as usize].copy_from_slice(src);
        }
    }

    /// Cuts the pending writes of `ino` at `size` (a truncate of the file).
    pub fn truncate(&mut self, ino: u64, size: u64) {
        let Some(f) = self.files.get_mut(&ino) else {
            return;
        };
        let before = f.bytes();
        // The latest write is the tail of the last entry: cut with it, or gone.
        f.last_len = match f.writes.last() {
            Some(w) if w.offset < size => f
                .last_len
                .saturating_sub(w.end().saturating_sub(size) as usize),
            _ => 0,
        };
        f.writes.retain(|w| w.offset < size);
        for w in &mut f.writes {
            w.data.truncate((size - w.offset) as usize);
        }
        self.bytes -= before - f.bytes();
        if f.writes.is_empty() {
            self.forget(ino);
        }
    }

    /// The pending writes of `ino`, in order (to write to the backing file).
    pub fn writes(&self, ino: u64) -> &[Write] {
        self.files.get(&ino).map_or(&[], |f| &f.writes)
    }

    /// Forgets the pending writes of `ino` (they were synced, or the file is
    /// gone); returns their bytes.
    pub fn forget(&mut self, ino: u64) -> u64 {
        let bytes = self.files.remove(&ino).map_or(0, |f| f.bytes());
        self.bytes -= bytes;
        bytes
    }

    /// The inode with the most bytes pending (for a write-back under pressure).
    pub fn largest(&self) -> Option<u64> {
        self.files
            .iter()
            .max_by_key(|(_, f)| f.bytes())
            .map(|(ino, _)| *ino)
    }

    /// Power loss: drops every pending write; returns (bytes, files) dropped.
    pub fn lose_all(&mut self) -> (u64, usize) {
        let dropped = (self.bytes, self.files.len());
        self.files.clear();
        self.bytes = 0;
        dropped
    }

    /// Power loss in the middle of a write: drops every pending write except the
    /// first half of the latest write() (at least one byte of it when it has more
    /// than one), which the caller writes to the backing file. Returns the bytes
    /// dropped and what is kept.
    pub fn torn(&mut self) -> (u64, Option<Torn>) {
        let latest = self.files.iter().max_by_key(|(_, f)| f.last_seq);
        let kept = latest.and_then(|(ino, f)| {
            let ino = *ino;
            let w = f.writes.last()?;
            let start = w.data.len() - f.last_len;
            let keep = f.last_len / 2;
            (keep > 0).then(|| Torn {
                ino,
                write: Write {
                    offset: w.offset + start as u64,
                    data: w.data[start..start + keep].to_vec(),
                },
            })
        });
        let (bytes, _) = self.lose_all();
        let kept_bytes = kept.as_ref().map_or(0, |t| t.write.data.len() as u64);
        (bytes - kept_bytes, kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Pending, ino: u64, backing: &[u8], offset: u64, len: usize) -> Vec<u8> {
        let size = p.size(ino, backing.len() as u64);
        let end = (offset + len as u64).min(size);
        let mut buf = vec![0u8; end.saturating_sub(offset) as usize];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = backing.get(offset as usize + i).copied().unwrap_or(0);
        }
        p.overlay(ino, offset, &mut buf);
        buf
    }

    #[test]
    fn reads_see_writes_in_order_over_the_backing_file() {
        let mut p = Pending::default();
        p.write(1, 2, b"abcd");
        p.write(1, 4, b"XY");
        assert_eq!(read(&p, 1, b"0123456789", 0, 10), b"01abXY6789");
        assert_eq!(p.size(1, 3), 6);
        assert_eq!(p.size(1, 10), 10);
        assert_eq!(p.size(2, 7), 7);
        assert_eq!(p.bytes(), 6);
        // Past the backing file's end, a hole reads as zeros.
        p.write(1, 12, b"z");
        assert_eq!(read(&p, 1, b"0123456789", 8, 10), b"89\0\0z");
    }

    #[test]
    fn appends_merge_but_the_last_write_is_remembered() {
        let mut p = Pending::default();
        p.write(1, 0, b"aaaa");
        p.write(1, 4, b"bbbbbb");
        assert_eq!(p.writes(1).len(), 1);
        let (dropped, kept) = p.torn();
        let kept = kept.unwrap();
        assert_eq!(kept.write.offset, 4);
        assert_eq!(kept.write.data, b"bbb");
        assert_eq!(dropped, 7);
        assert_eq!(p.bytes(), 0);
        assert_eq!(p.files(), 0);
    }

    #[test]
    fn truncate_cuts_pending_writes() {
        let mut p = Pending::default();
        p.write(1, 0, b"abcdef");
        p.write(1, 10, b"ghij");
        p.truncate(1, 3);
        assert_eq!(
            p.writes(1),
            &[Write {
                offset: 0,
                data: b"abc".to_vec()
            }]
        );
        assert_eq!(p.bytes(), 3);
        assert_eq!(p.size(1, 0), 3);
        // The latest write was cut away: a torn cut keeps nothing of it.
        assert_eq!(p.torn(), (3, None));
        p.write(1, 0, b"xy");
        p.truncate(1, 0);
        assert_eq!(p.files(), 0);
        assert_eq!(p.bytes(), 0);
    }

    #[test]
    fn forget_and_lose_account_for_bytes() {
        let mut p = Pending::default();
        p.write(1, 0, b"abc");
        p.write(2, 0, b"defgh");
        assert_eq!(p.largest(), Some(2));
        assert_eq!(p.forget(2), 5);
        assert_eq!(p.bytes(), 3);
        p.write(3, 0, b"xyz");
        p.write(1, 3, b"de");
        // The latest write is file 1's, merged into its first: half of it is kept.
        let kept = Torn {
            ino: 1,
            write: Write {
                offset: 3,
                data: b"d".to_vec(),
            },
        };
        assert_eq!(p.torn(), (7, Some(kept)));
        p.write(3, 0, b"x");
        assert_eq!(p.lose_all(), (1, 1));
    }
}
