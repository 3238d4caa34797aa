//! The FUSE file system: a passthrough over the backing directory that keeps file
//! data in [`Pending`] until it is fsynced. The rules are in the module doc of
//! `lazyfs`; this file carries them out, one FUSE operation per method.
//!
//! Inodes are the backing file system's inode numbers (its root is FUSE's 1), and
//! `paths` maps each inode the kernel knows to its path under the backing dir.
//! Every operation runs under one lock (the state's): an operation sees and
//! leaves the file system whole, and a control command (a power cut) falls
//! between two operations, never inside one.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{
    DirBuilderExt, DirEntryExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};

use super::pending::Pending;
use super::PENDING_BYTES_MAX;

/// Attributes and entries are not cached by the kernel: every stat and lookup asks
/// the file system, which answers with what it holds now (pending sizes too).
const TTL: Duration = Duration::ZERO;

enum Handle {
    File {
        ino: u64,
        file: File,
    },
    Dir {
        entries: Vec<(u64, FileType, OsString)>,
    },
}

/// What a control command did, for its answer line.
pub struct Cut {
    pub dropped: u64,
    pub files: usize,
    /// Bytes of the last write kept by a torn cut, and the file's path.
    pub kept: Option<(u64, PathBuf)>,
}

pub struct State {
    root: PathBuf,
    /// The backing root's own inode number (FUSE calls it 1).
    root_ino: u64,
    paths: HashMap<u64, PathBuf>,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    pub pending: Pending,
}

/// The state, shared by the FUSE threads and the control socket's.
#[derive(Clone)]
pub struct Shared(Arc<Mutex<State>>);

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct LazyFs {
    state: Shared,
}

fn errno(e: std::io::Error) -> Errno {
    Errno::from(e)
}

fn kind(ft: fs::FileType) -> FileType {
    FileType::from_std(ft).unwrap_or(FileType::RegularFile)
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    let t = Duration::new(secs.unsigned_abs(), nsecs.clamp(0, 999_999_999) as u32);
    if secs >= 0 {
        UNIX_EPOCH + t
    } else {
        UNIX_EPOCH - t
    }
}

fn cpath(p: &Path) -> Result<CString, Errno> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

fn timespec(t: Option<TimeOrNow>) -> libc::timespec {
    match t {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => {
            let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
            }
        }
    }
}

/// `statvfs(3)` of `path`.
pub fn statvfs(path: &Path) -> Result<libc::statvfs, Errno> {
    let c = cpath(path)?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is NUL-terminated and outlives the call; `st` is writable memory
    // of the right type, filled on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(errno(std::io::Error::last_os_error()));
    }
    // SAFETY: statvfs succeeded, so it filled `st`.
    Ok(unsafe { st.assume_init() })
}

impl State {
    fn fuse_ino(&self, ino: u64) -> u64 {
        if ino == self.root_ino {
            INodeNo::ROOT.0
        } else {
            ino
        }
    }

    /// The backing path of inode `ino`.
    fn path(&self, ino: u64) -> Result<PathBuf, Errno> {
        if ino == INodeNo::ROOT.0 {
            return Ok(self.root.clone());
        }
        self.paths
            .get(&ino)
            .map(|rel| self.root.join(rel))
            .ok_or(Errno::ENOENT)
    }

    fn child(&self, parent: u64, name: &OsStr) -> Result<PathBuf, Errno> {
        Ok(self.path(parent)?.join(name))
    }

    fn attr(&self, meta: &fs::Metadata) -> FileAttr {
        let ino = self.fuse_ino(meta.ino());
        let size = if meta.is_file() {
            self.pending.size(ino, meta.size())
        } else {
            meta.size()
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: meta.blocks(),
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind: kind(meta.file_type()),
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev() as u32,
            blksize: meta.blksize() as u32,
            flags: 0,
        }
    }

    /// Stats `path` and remembers its inode; its attributes.
    fn learn(&mut self, path: &Path) -> Result<FileAttr, Errno> {
        let meta = fs::symlink_metadata(path).map_err(errno)?;
        let attr = self.attr(&meta);
        if attr.ino != INodeNo::ROOT {
            let rel = path.strip_prefix(&self.root).map_err(|_| Errno::EIO)?;
            self.paths.insert(attr.ino.0, rel.to_path_buf());
        }
        Ok(attr)
    }

    fn add_handle(&mut self, h: Handle) -> FileHandle {
        self.next_fh += 1;
        self.handles.insert(self.next_fh, h);
        FileHandle(self.next_fh)
    }

    fn file(&self, fh: FileHandle) -> Result<(u64, &File), Errno> {
        match self.handles.get(&fh.0) {
            Some(Handle::File { ino, file }) => Ok((*ino, file)),
            _ => Err(Errno::EBADF),
        }
    }

    fn is_open(&self, ino: u64) -> bool {
        self.handles
            .values()
            .any(|h| matches!(h, Handle::File { ino: i, .. } if *i == ino))
    }

    /// After `ino` lost a name: a file with no name left and no open handle can
    /// never be synced, so its pending writes go.
    fn unlinked(&mut self, ino: u64, nlink_before: u64) {
        if nlink_before <= 1 {
            self.paths.remove(&ino);
            if !self.is_open(ino) {
                self.pending.forget(ino);
            }
        }
    }

    /// Moves the names under `from` (relative) to `to` after a rename.
    fn renamed(&mut self, from: &Path, to: &Path) {
        for rel in self.paths.values_mut() {
            if let Ok(rest) = rel.strip_prefix(from) {
                *rel = if rest.as_os_str().is_empty() {
                    to.to_path_buf()
                } else {
                    to.join(rest)
                };
            }
        }
    }

    /// Writes the pending data of `ino` to `file`, then syncs it: the fsync that
    /// makes it survive a power cut. Pending until both succeeded.
    fn sync(&mut self, ino: u64, file: &File, datasync: bool) -> std::io::Result<()> {
        for w in self.pending.writes(ino) {
            file.write_all_at(&w.data, w.offset)?;
        }
        if datasync {
            file.sync_data()?;
        } else {
            file.sync_all()?;
        }
        self.pending.forget(ino);
        Ok(())
    }

    /// Write-back under memory pressure (as a kernel writes dirty pages back on its
    /// own): the file with most pending bytes goes to its backing file, unsynced
    /// (the backing file system is the "disk" here, so it is persisted).
    fn write_back(&mut self) -> std::io::Result<()> {
        while self.pending.bytes() > PENDING_BYTES_MAX {
            let Some(ino) = self.pending.largest() else {
                return Ok(());
            };
            match self.path(ino) {
                Ok(p) => {
                    let f = OpenOptions::new().write(true).open(p)?;
                    for w in self.pending.writes(ino) {
                        f.write_all_at(&w.data, w.offset)?;
                    }
                }
                Err(_) => tracing::warn!(ino, "pending data of an unnamed file dropped"),
            }
            self.pending.forget(ino);
        }
        Ok(())
    }

    /// Power cut: every pending write dropped.
    pub fn lose_unsynced(&mut self) -> Cut {
        let (dropped, files) = self.pending.lose_all();
        Cut {
            dropped,
            files,
            kept: None,
        }
    }

    /// Power cut during the last write: every pending write dropped but a prefix
    /// of the latest, which reaches the backing file.
    pub fn torn(&mut self) -> Cut {
        let files = self.pending.files();
        let (dropped, kept) = self.pending.torn();
        let kept = kept.and_then(|t| {
            let path = self.path(t.ino).ok()?;
            let written = OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.write_all_at(&t.write.data, t.write.offset));
            if let Err(e) = written {
                tracing::warn!(path = %path.display(), error = %e, "torn write not kept");
                return None;
            }
            let rel = path.strip_prefix(&self.root).unwrap_or(&path).to_path_buf();
            Some((t.write.data.len() as u64, rel))
        });
        Cut {
            dropped,
            files,
            kept,
        }
    }
}

impl LazyFs {
    pub fn new(root: PathBuf) -> std::io::Result<LazyFs> {
        let root_ino = fs::metadata(&root)?.ino();
        Ok(LazyFs {
            state: Shared(Arc::new(Mutex::new(State {
                root,
                root_ino,
                paths: HashMap::new(),
                handles: HashMap::new(),
                next_fh: 0,
                pending: Pending::default(),
            }))),
        })
    }

    pub fn shared(&self) -> Shared {
        self.state.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }
}

/// The open flags a backing file gets: read and write whatever the caller asked
/// (a sync writes through the handle it is called on), never O_TRUNC (the kernel
/// sends a truncate as setattr).
fn backing_open(path: &Path, create: Option<(u32, bool)>) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true);
    if let Some((mode, excl)) = create {
        o.mode(mode);
        if excl {
            o.create_new(true);
        } else {
            o.create(true);
        }
    }
    o.custom_flags(libc::O_CLOEXEC).open(path)
}

impl Filesystem for LazyFs {
    fn init(&mut self, _req: &Request, _config: &mut KernelConfig) -> std::io::Result<()> {
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut s = self.state();
        match s.child(parent.0, name).and_then(|p| s.learn(&p)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let s = self.state();
        let meta = match fh.map(|fh| s.file(fh)) {
            Some(Ok((_, f))) => f.metadata().map_err(errno),
            _ => s
                .path(ino.0)
                .and_then(|p| fs::symlink_metadata(p).map_err(errno)),
        };
        match meta {
            Ok(m) => reply.attr(&TTL, &s.attr(&m)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = self.state();
        let done = (|| -> Result<FileAttr, Errno> {
            let path = s.path(ino.0)?;
            if let Some(mode) = mode {
                fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(errno)?;
            }
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::lchown(&path, uid, gid).map_err(errno)?;
            }
            if let Some(size) = size {
                // Metadata goes to the backing file at once; pending data past the
                // new end goes with it (a later read must not find it again).
                match fh.map(|fh| s.file(fh)) {
                    Some(Ok((_, f))) => f.set_len(size).map_err(errno)?,
                    _ => backing_open(&path, None)
                        .and_then(|f| f.set_len(size))
                        .map_err(errno)?,
                }
                s.pending.truncate(ino.0, size);
            }
            if atime.is_some() || mtime.is_some() {
                let c = cpath(&path)?;
                let times = [timespec(atime), timespec(mtime)];
                // SAFETY: `c` is NUL-terminated and `times` two timespecs, both
                // outliving the call.
                let rc = unsafe {
                    libc::utimensat(
                        libc::AT_FDCWD,
                        c.as_ptr(),
                        times.as_ptr(),
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                };
                if rc != 0 {
                    return Err(errno(std::io::Error::last_os_error()));
                }
            }
            let meta = match fh.map(|fh| s.file(fh)) {
                Some(Ok((_, f))) => f.metadata(),
                _ => fs::symlink_metadata(&path),
            }
            .map_err(errno)?;
            Ok(s.attr(&meta))
        })();
        match done {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = self.state();
        let made = s.child(parent.0, name).and_then(|p| {
            fs::DirBuilder::new()
                .mode(mode & !umask & 0o7777)
                .create(&p)
                .map_err(errno)?;
            s.learn(&p)
        });
        match made {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.state();
        let done = s.child(parent.0, name).and_then(|p| {
            let meta = fs::symlink_metadata(&p).map_err(errno)?;
            fs::remove_file(&p).map_err(errno)?;
            let ino = s.fuse_ino(meta.ino());
            s.unlinked(ino, meta.nlink());
            Ok(())
        });
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.state();
        let done = s.child(parent.0, name).and_then(|p| {
            let meta = fs::symlink_metadata(&p).map_err(errno)?;
            fs::remove_dir(&p).map_err(errno)?;
            s.paths.remove(&meta.ino());
            Ok(())
        });
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut s = self.state();
        let done = (|| -> Result<(), Errno> {
            let (from, to) = (s.child(parent.0, name)?, s.child(newparent.0, newname)?);
            if flags.bits() & libc::RENAME_EXCHANGE != 0 {
                return Err(Errno::EINVAL);
            }
            let replaced = fs::symlink_metadata(&to).ok();
            let (cf, ct) = (cpath(&from)?, cpath(&to)?);
            // SAFETY: both paths are NUL-terminated and outlive the call.
            let rc = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    cf.as_ptr(),
                    libc::AT_FDCWD,
                    ct.as_ptr(),
                    flags.bits(),
                )
            };
            if rc != 0 {
                return Err(errno(std::io::Error::last_os_error()));
            }
            if let Some(m) = replaced {
                let ino = s.fuse_ino(m.ino());
                s.unlinked(ino, if m.is_dir() { 1 } else { m.nlink() });
            }
            let rel = |p: &Path| p.strip_prefix(&s.root).map(Path::to_path_buf);
            let (rf, rt) = (rel(&from), rel(&to));
            if let (Ok(rf), Ok(rt)) = (rf, rt) {
                s.renamed(&rf, &rt);
            }
            Ok(())
        })();
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.state();
        match s
            .path(ino.0)
            .and_then(|p| backing_open(&p, None).map_err(errno))
        {
            Ok(file) => {
                let fh = s.add_handle(Handle::File { ino: ino.0, file });
                reply.opened(fh, FopenFlags::FOPEN_DIRECT_IO);
            }
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = self.state();
        let made = (|| -> Result<(FileAttr, FileHandle), Errno> {
            let p = s.child(parent.0, name)?;
            let excl = flags & libc::O_EXCL != 0;
            let file = backing_open(&p, Some((mode & !umask & 0o7777, excl))).map_err(errno)?;
            if flags & libc::O_TRUNC != 0 {
                // An existing file (create raced a lookup): truncated like setattr.
                file.set_len(0).map_err(errno)?;
                let ino = s.fuse_ino(file.metadata().map_err(errno)?.ino());
                s.pending.truncate(ino, 0);
            }
            let attr = s.learn(&p)?;
            let fh = s.add_handle(Handle::File {
                ino: attr.ino.0,
                file,
            });
            Ok((attr, fh))
        })();
        match made {
            Ok((attr, fh)) => {
                reply.created(&TTL, &attr, Generation(0), fh, FopenFlags::FOPEN_DIRECT_IO)
            }
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let s = self.state();
        let data = (|| -> Result<Vec<u8>, Errno> {
            let (ino, file) = s.file(fh)?;
            let backing = file.metadata().map_err(errno)?.len();
            let end = s.pending.size(ino, backing).min(offset + u64::from(size));
            let mut buf = vec![0u8; end.saturating_sub(offset) as usize];
            // The backing file's part (a short read past its end leaves zeros).
            let mut done = 0;
            while done < buf.len() {
                match file.read_at(&mut buf[done..], offset + done as u64) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(errno(e)),
                }
            }
            s.pending.overlay(ino, offset, &mut buf);
            Ok(buf)
        })();
        match data {
            Ok(buf) => reply.data(&buf),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut s = self.state();
        let done = (|| -> Result<(), Errno> {
            let (ino, _) = s.file(fh)?;
            // Space is reserved at write time, as a file system with delayed
            // allocation does: a write that the backing file system could not
            // take with everything pending fails now, not at fsync.
            let st = statvfs(&s.root)?;
            let free = st.f_bavail.saturating_mul(st.f_frsize);
            if s.pending.bytes() + data.len() as u64 > free {
                return Err(Errno::ENOSPC);
            }
            s.pending.write(ino, offset, data);
            s.write_back().map_err(errno)
        })();
        match done {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() persists nothing.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = self.state();
        if let Some(Handle::File { ino, .. }) = s.handles.remove(&fh.0) {
            // The last handle of a file without a name: nobody can sync it now.
            let named = ino == INodeNo::ROOT.0 || s.paths.contains_key(&ino);
            if !named && !s.is_open(ino) {
                s.pending.forget(ino);
            }
        }
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = self.state();
        let done = s
            .file(fh)
            .and_then(|(ino, f)| f.try_clone().map(|f| (ino, f)).map_err(errno))
            .and_then(|(ino, f)| s.sync(ino, &f, datasync).map_err(errno));
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.state();
        let listed = (|| -> Result<Vec<(u64, FileType, OsString)>, Errno> {
            let p = s.path(ino.0)?;
            let parent = if ino == INodeNo::ROOT {
                INodeNo::ROOT.0
            } else {
                p.parent()
                    .and_then(|pp| fs::metadata(pp).ok())
                    .map_or(INodeNo::ROOT.0, |m| s.fuse_ino(m.ino()))
            };
            let mut v = vec![
                (ino.0, FileType::Directory, OsString::from(".")),
                (parent, FileType::Directory, OsString::from("..")),
            ];
            for e in fs::read_dir(&p).map_err(errno)? {
                let e = e.map_err(errno)?;
                let ft = e.file_type().map_err(errno)?;
                v.push((s.fuse_ino(e.ino()), kind(ft), e.file_name()));
            }
            Ok(v)
        })();
        match listed {
            Ok(entries) => {
                let fh = s.add_handle(Handle::Dir { entries });
                reply.opened(fh, FopenFlags::empty());
            }
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let s = self.state();
        let Some(Handle::Dir { entries }) = s.handles.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), i as u64 + 1, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.state().handles.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Names are persisted as they change; the backing dir's own sync still
        // runs, for a backing file system that needs it.
        let s = self.state();
        match s
            .path(ino.0)
            .and_then(|p| File::open(p).and_then(|d| d.sync_all()).map_err(errno))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let root = self.state().root.clone();
        match statvfs(&root) {
            Ok(st) => reply.statfs(
                st.f_blocks,
                st.f_bfree,
                st.f_bavail,
                st.f_files,
                st.f_ffree,
                st.f_bsize as u32,
                st.f_namemax as u32,
                st.f_frsize as u32,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // Callers are root (the suite's processes); existence is what is checked.
        match self.state().path(ino.0).map(|p| p.exists()) {
            Ok(true) => reply.ok(),
            Ok(false) => reply.error(Errno::ENOENT),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        // Preallocation (RocksDB's, with KEEP_SIZE) and plain extension are
        // metadata: they go to the backing file. Punching holes or zeroing ranges
        // would have to cut pending data too: refused.
        if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
            return reply.error(Errno::EOPNOTSUPP);
        }
        let s = self.state();
        let done = s.file(fh).and_then(|(_, f)| {
            // SAFETY: fallocate on a file descriptor this handle owns.
            let rc = unsafe {
                libc::fallocate(
                    f.as_raw_fd(),
                    mode,
                    offset as libc::off_t,
                    length as libc::off_t,
                )
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(errno(std::io::Error::last_os_error()))
            }
        });
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
