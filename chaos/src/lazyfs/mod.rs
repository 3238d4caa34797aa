//! lazyfs: a FUSE file system that loses what was not fsynced, for the power
//! nemeses (what LazyFS does for Jepsen). It passes everything through to a
//! backing directory, except file data: written data stays in memory, per inode,
//! until that file is fsynced. A power cut (`lose-unsynced` on the control
//! socket, after the node was SIGKILLed) throws it away; `torn` keeps half of the
//! latest write, so a file can end in a torn record.
//!
//! `prismnet-chaos lazyfs --backing DIR --mount DIR --control SOCK` serves one
//! mount until SIGTERM (or SIGINT), then unmounts; [`Control`] is the client of
//! its socket (commands in `control.rs`).
//!
//! Invariants (what a program on the mount can rely on, and what it cannot):
//! 1. Data written is seen at once by every read and stat through the mount
//!    (sizes include pending data): the file system answers with what it holds.
//!    The kernel caches nothing to contradict it: files are opened with
//!    FOPEN_DIRECT_IO (no page cache), attributes and entries have TTL 0.
//! 2. File data survives a power cut exactly when an fsync or fdatasync of that
//!    file (any handle of it) returned success after it was written. The sync
//!    writes the file's pending data to the backing file in write order, syncs
//!    the backing file, and only then forgets it; a failed sync keeps it pending.
//!    close() persists nothing.
//! 3. Metadata persists at once, as LazyFS does: create, mkdir, rename, unlink,
//!    rmdir, chmod/chown/utimes, truncate and fallocate go to the backing dir
//!    when they are called (so fsyncdir has nothing left to persist; it still
//!    syncs the backing dir). A power cut can thus leave a file that exists, or
//!    was renamed, with less data than was written to it: what a real file system
//!    gives a program that did not fsync the file.
//! 4. A truncate cuts pending data at the new size, so a later read or a cut
//!    never brings back bytes past it; growing a file fills the backing file
//!    with zeros, under any pending data.
//! 5. Pending data of a file that has no name left and no open handle is
//!    dropped (nothing can sync it).
//! 6. Pending data is bounded ([`PENDING_BYTES_MAX`]): past it, the file with
//!    most pending bytes is written back to its backing file unsynced (as a
//!    kernel writes dirty pages back on its own), and is then durable. A write
//!    that the backing file system could not take with everything pending fails
//!    with ENOSPC at once (space is reserved at write time).
//! 7. statfs is the backing file system's (prismnetd's free-space guard and the
//!    disk-full nemesis see the node's tmpfs); flock and POSIX locks are the
//!    kernel's own (the mount does not ask for them); fallocate supports
//!    KEEP_SIZE and plain extension, and answers EOPNOTSUPP for holes.
//! 8. Every operation and control command runs under one lock: a cut falls
//!    between two operations. Cuts are made only once the writer is dead
//!    (SIGKILLed and reaped), so no operation of it is in flight.
//!
//! Not supported (ENOSYS/EPERM): symlinks, hard links, device nodes, xattrs,
//! RENAME_EXCHANGE, shared writable mmap (direct I/O).

mod control;
mod fs;
mod pending;

use std::path::{Path, PathBuf};

pub use control::{Control, Dropped};
pub use pending::{Pending, Torn, Write};

/// Bytes of pending data before write-back (invariant 6).
pub const PENDING_BYTES_MAX: u64 = 256 << 20;
/// FUSE request threads.
const THREADS: usize = 4;
/// statfs(2) `f_type` of a FUSE mount.
pub const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;

/// Whether `dir` is the root of a FUSE mount.
pub fn is_fuse_mount(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c` is NUL-terminated and outlives the call; `st` is writable memory
    // of the right type, filled on success.
    let rc = unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) };
    // SAFETY: statfs succeeded, so it filled `st`.
    rc == 0 && unsafe { st.assume_init() }.f_type == FUSE_SUPER_MAGIC
}

/// Detaches the mount at `dir` (lazily: busy files keep it until closed).
pub fn unmount(dir: &Path) -> std::io::Result<()> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(std::io::Error::other)?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Mounts lazyfs over `backing` at `mount`, serves it and its control socket,
/// and returns only to exit: on SIGTERM, SIGINT or SIGHUP it unmounts first; when
/// the mount is taken away (unmounted from outside) it just ends.
pub fn serve(backing: PathBuf, mount: PathBuf, control: PathBuf) -> std::io::Result<()> {
    // Blocked here, before any thread exists, so every thread inherits the mask
    // and the signals wait for `sigwait` below.
    // SAFETY: a signal set on the stack, filled by sigemptyset/sigaddset.
    let set = unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let backing = std::path::absolute(&backing)?;
    let mount = std::path::absolute(&mount)?;
    let fs = fs::LazyFs::new(backing.clone())?;
    let state = fs.shared();
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        fuser::MountOption::FSName(format!("lazyfs:{}", backing.display())),
        fuser::MountOption::Subtype("lazyfs".into()),
        fuser::MountOption::NoAtime,
    ];
    config.n_threads = Some(THREADS);
    config.clone_fd = true;
    let session = fuser::Session::new(fs, &mount, &config)?;
    control::serve(state, &control)?;
    tracing::info!(backing = %backing.display(), mount = %mount.display(), control = %control.display(), "lazyfs mounted");
    std::thread::Builder::new()
        .name("lazyfs-session".into())
        .spawn(move || {
            let end = session.run();
            tracing::info!(?end, "lazyfs session ended (unmounted)");
            std::process::exit(0);
        })?;
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is a valid signal set, `sig` a writable int.
    unsafe { libc::sigwait(&set, &mut sig) };
    tracing::info!(signal = sig, "unmounting");
    if let Err(e) = unmount(&mount) {
        tracing::warn!(error = %e, "unmount failed");
    }
    std::process::exit(0);
}
