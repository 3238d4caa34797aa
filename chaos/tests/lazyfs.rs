//! lazyfs on real FUSE mounts: `prismnet-chaos lazyfs` over a backing dir on a
//! small tmpfs of its own, driven through the mount and its control socket.
//! Needs root and /dev/fuse; each test says so and passes without them. Every
//! mount (and the tmpfs) is removed when the test ends, failed or not.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use prismnet_chaos::lazyfs::{is_fuse_mount, Control};

/// A lazyfs mount for one test; removed on drop.
struct Mount {
    dir: PathBuf,
    disk: PathBuf,
    backing: PathBuf,
    mnt: PathBuf,
    control: Control,
    daemon: Option<Child>,
}

fn can_mount() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let fuse = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .is_ok();
    if !(root && fuse) {
        eprintln!("skipped: lazyfs tests need root and /dev/fuse");
    }
    root && fuse
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Mount {
    fn new() -> Mount {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lazyfs-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let disk = dir.join("disk");
        let mnt = dir.join("mnt");
        fs::create_dir_all(&disk).unwrap();
        fs::create_dir_all(&mnt).unwrap();
        // Built before anything can fail: dropping it removes what was made.
        let mut m = Mount {
            backing: disk.join("backing"),
            control: Control::new(dir.join("control.sock")),
            dir,
            disk,
            mnt,
            daemon: None,
        };
        let disk = m.disk.to_string_lossy().into_owned();
        assert!(run(
            "mount",
            &["-t", "tmpfs", "-o", "size=32m", "tmpfs", &disk]
        ));
        fs::create_dir_all(&m.backing).unwrap();
        let log = File::create(m.dir.join("lazyfs.log")).unwrap();
        m.daemon = Some(
            Command::new(env!("CARGO_BIN_EXE_prismnet-chaos"))
                .arg("lazyfs")
                .arg("--backing")
                .arg(&m.backing)
                .arg("--mount")
                .arg(&m.mnt)
                .arg("--control")
                .arg(&m.control.socket)
                .env("NO_COLOR", "1")
                // Its own process group, as the cluster's daemons (the ledger
                // kills groups).
                .process_group(0)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let start = Instant::now();
        while !(is_fuse_mount(&m.mnt) && m.control.socket.exists()) {
            assert!(start.elapsed() < Duration::from_secs(10), "no mount");
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    fn path(&self, name: &str) -> PathBuf {
        self.mnt.join(name)
    }

    fn backing(&self, name: &str) -> PathBuf {
        self.backing.join(name)
    }

    fn pending(&self) -> u64 {
        self.control.pending().unwrap()
    }

    /// Pending bytes once they stop changing to something else than `want`: the
    /// kernel sends a file's release after close() returned, in the background.
    fn pending_settles_at(&self, want: u64) {
        let start = Instant::now();
        while self.pending() != want && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(self.pending(), want);
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            // SAFETY: a signal to our own child.
            unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if matches!(d.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
        for m in [&self.mnt, &self.disk] {
            let m = m.to_string_lossy().into_owned();
            run("umount", &["-l", &m]);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap()
}

fn append(p: &Path, data: &[u8]) -> File {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(data).unwrap();
    f
}

#[test]
fn fsynced_data_survives_a_power_cut_and_unsynced_data_is_lost() {
    if !can_mount() {
        return;
    }
    let m = Mount::new();
    let p = m.path("wal");
    append(&p, b"synced;").sync_all().unwrap();
    let f = append(&p, b"unsynced;");
    drop(f);
    // Before the cut: reads and sizes see everything written; the backing file only
    // what was synced.
    assert_eq!(read(&p), b"synced;unsynced;");
    assert_eq!(fs::metadata(&p).unwrap().len(), 16);
    assert_eq!(read(&m.backing("wal")), b"synced;");
    assert_eq!(m.pending(), 9);
    let d = m.control.lose_unsynced().unwrap();
    assert_eq!((d.bytes, d.files, d.kept), (9, 1, None));
    assert_eq!(read(&p), b"synced;");
    assert_eq!(fs::metadata(&p).unwrap().len(), 7);
    assert_eq!(m.pending(), 0);
}

#[test]
fn reads_lay_pending_writes_over_the_file_and_sizes_include_them() {
    if !can_mount() {
        return;
    }
    let m = Mount::new();
    let p = m.path("f");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&p)
        .unwrap();
    f.write_all(b"0123456789").unwrap();
    f.sync_data().unwrap();
    f.write_all_at(b"ab", 3).unwrap();
    f.write_all_at(b"Z", 14).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 15);
    let mut got = Vec::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"012ab56789\0\0\0\0Z");
    // Through another handle too.
    assert_eq!(read(&p), got);
    // fdatasync on a second handle syncs what the first wrote.
    File::open(&p).unwrap().sync_data().unwrap();
    assert_eq!(m.pending(), 0);
    assert_eq!(read(&m.backing("f")), got);
    m.control.lose_unsynced().unwrap();
    assert_eq!(read(&p), got);
}

#[test]
fn torn_keeps_a_prefix_of_the_last_write_only() {
    if !can_mount() {
        return;
    }
    let m = Mount::new();
    let (a, b) = (m.path("a"), m.path("b"));
    append(&a, b"head;").sync_data().unwrap();
    append(&a, b"lost;");
    append(&b, b"other file, lost");
    append(&a, b"RECORD").sync_data().unwrap();
    // That sync took everything of `a`: write again, unsynced.
    append(&a, b"11112222");
    let d = m.control.torn().unwrap();
    let (kept, file) = d.kept.clone().unwrap();
    assert_eq!((kept, file.as_str()), (4, "a"));
    assert_eq!(d.bytes, 16 + 4);
    assert_eq!(read(&a), b"head;lost;RECORD1111");
    assert!(read(&b).is_empty());
    assert_eq!(m.pending(), 0);
}

#[test]
fn torn_cut_after_unsynced_appends_leaves_a_hole_then_the_prefix() {
    if !can_mount() {
        return;
    }
    let m = Mount::new();
    let p = m.path("log");
    append(&p, b"ok;").sync_data().unwrap();
    let f = append(&p, b"dropped;");
    let mut f2 = f.try_clone().unwrap();
    f2.write_all(b"ABCDEF").unwrap();
    let d = m.control.torn().unwrap();
    assert_eq!(d.kept.map(|k| k.0), Some(3));
    // The earlier unsynced append is gone (a hole), the last one is torn.
    assert_eq!(read(&p), b"ok;\0\0\0\0\0\0\0\0ABC");
}

#[test]
fn rename_unlink_and_truncate_persist_at_once_and_keep_pending_data_consistent() {
    if !can_mount() {
        return;
    }
    let m = Mount::new();
    // Rename: the pending data moves with the file; the name is durable.
    let (f, g) = (m.path("f"), m.path("g"));
    append(&f, b"synced").sync_all().unwrap();
    append(&f, b"+pending");
    fs::rename(&f, &g).unwrap();
    assert_eq!(read(&g), b"synced+pending");
    m.control.lose_unsynced().unwrap();
    assert!(!f.exists());
    assert_eq!(read(&g), b"synced");

    // Unlink of a closed file drops its pending data.
    let u = m.path("u");
    append(&u, b"never synced");
    assert_eq!(m.pending(), 12);
    fs::remove_file(&u).unwrap();
    m.pending_settles_at(0);

    // Unlink of an open file keeps it until the last close.
    let mut o = append(&u, b"open");
    fs::remove_file(&u).unwrap();
    assert_eq!(m.pending(), 4);
    o.write_all(b"+more").unwrap();
    drop(o);
    m.pending_settles_at(0);

    // Truncate cuts pending data, and is durable itself.
    let t = m.path("t");
    let tf = append(&t, b"0123456789abcdef");
    tf.set_len(4).unwrap();
    assert_eq!(read(&t), b"0123");
    assert_eq!(m.pending(), 4);
    tf.set_len(8).unwrap();
    assert_eq!(read(&t), b"0123\0\0\0\0");
    m.control.lose_unsynced().unwrap();
    assert_eq!(read(&t), b"\0\0\0\0\0\0\0\0");

    // Replacing a file by rename drops the replaced file's pending data.
    let (x, y) = (m.path("x"), m.path("y"));
    append(&x, b"xx").sync_data().unwrap();
    append(&y, b"pending y");
    fs::rename(&x, &y).unwrap();
    m.pending_settles_at(0);
    assert_eq!(read(&y), b"xx");

    // Directories: made and renamed at once, files inside keep their names.
    let d = m.path("d");
    fs::create_dir(&d).unwrap();
    append(&d.join("in"), b"abc").sync_data().unwrap();
    fs::rename(&d, m.path("e")).unwrap();
    m.control.lose_unsynced().unwrap();
    assert_eq!(read(&m.path("e/in")), b"abc");
    let mut names: Vec<_> = fs::read_dir(&m.mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["e", "g", "t", "y"]);
}

fn statvfs(p: &Path) -> libc::statvfs {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is NUL-terminated; `st` is filled on success (asserted).
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) }, 0);
    // SAFETY: statvfs succeeded.
    unsafe { st.assume_init() }
}

#[test]
fn statfs_is_the_backing_file_systems() {
    if !can_mount() {
        return;
    }
    let m = Mount::new();
    let (mnt, disk) = (statvfs(&m.mnt), statvfs(&m.disk));
    assert_eq!(mnt.f_blocks * mnt.f_frsize, 32 << 20);
    assert_eq!(mnt.f_blocks, disk.f_blocks);
    // A balloon on the tmpfs (as the disk-full nemesis makes) shows through.
    fs::write(m.disk.join("balloon"), vec![1u8; 8 << 20]).unwrap();
    let after = statvfs(&m.mnt);
    let used = (mnt.f_bavail - after.f_bavail) * after.f_frsize;
    assert!((8 << 20..9 << 20).contains(&used), "{used}");
    // Pending data that would not fit fails at write time.
    let mut f = append(&m.path("big"), b"");
    let err = f.write_all(&vec![0u8; 30 << 20]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
}

#[test]
fn a_rocksdb_like_pattern_keeps_what_it_synced() {
    if !can_mount() {
        return;
    }
    let m = Mount::new();
    let db = m.path("db");
    fs::create_dir(&db).unwrap();
    File::open(&m.mnt).unwrap().sync_all().unwrap();
    // The LOCK file: flock is the kernel's own.
    let lock = File::create(db.join("LOCK")).unwrap();
    // SAFETY: flock on a file descriptor we own.
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let other = File::open(db.join("LOCK")).unwrap();
    // SAFETY: as above.
    assert_ne!(
        unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    // The WAL: preallocated (KEEP_SIZE), appended, fdatasynced per record but the
    // last.
    let mut wal = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(db.join("000003.log"))
        .unwrap();
    // SAFETY: fallocate on a file descriptor we own.
    let rc = unsafe { libc::fallocate(wal.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, 1 << 20) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    // SAFETY: as above.
    let punch = unsafe {
        libc::fallocate(
            wal.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            0,
            4096,
        )
    };
    assert_eq!(punch, -1);
    for i in 0..4 {
        wal.write_all(format!("record {i};").as_bytes()).unwrap();
        if i < 3 {
            wal.sync_data().unwrap();
        }
    }
    // The manifest: a temporary file, synced, renamed over CURRENT, dir synced.
    let tmp = db.join("000004.dbtmp");
    let mut t = File::create(&tmp).unwrap();
    t.write_all(b"MANIFEST-000004\n").unwrap();
    t.sync_all().unwrap();
    fs::rename(&tmp, db.join("CURRENT")).unwrap();
    File::open(&db).unwrap().sync_all().unwrap();
    // An info log never synced.
    append(&db.join("LOG"), b"some lines\n");
    drop(wal);

    let d = m.control.lose_unsynced().unwrap();
    assert_eq!(d.files, 2);
    assert_eq!(read(&db.join("000003.log")), b"record 0;record 1;record 2;");
    assert_eq!(read(&db.join("CURRENT")), b"MANIFEST-000004\n");
    assert!(read(&db.join("LOG")).is_empty());
    assert!(!tmp.exists());
}

#[test]
fn the_daemon_unmounts_on_sigterm() {
    if !can_mount() {
        return;
    }
    let mut m = Mount::new();
    let mut d = m.daemon.take().unwrap();
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
    assert!(d.wait().unwrap().success());
    assert!(!is_fuse_mount(&m.mnt));
}

#[test]
fn a_sweep_of_a_dead_runs_ledger_kills_the_daemon_and_detaches_the_mount() {
    if !can_mount() {
        return;
    }
    // A ledger as a killed run leaves it: the mount recorded before the daemon.
    let mut m = Mount::new();
    let mut d = m.daemon.take().unwrap();
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let ledger_dir = Path::new(prismnet_chaos::cluster::sys::LEDGER_DIR);
    fs::create_dir_all(ledger_dir).unwrap();
    let ledger = ledger_dir.join(format!("{dead}.ledger"));
    fs::write(
        &ledger,
        format!("mount {}\ngroup {}\n", m.mnt.display(), d.id()),
    )
    .unwrap();
    assert!(prismnet_chaos::cluster::sys::sweep() >= 1);
    assert!(!ledger.exists());
    assert!(!is_fuse_mount(&m.mnt));
    let status = d.wait().unwrap();
    assert!(!status.success(), "{status:?}");
    // The files it had are the backing dir's, untouched.
    assert!(m.backing.exists());
}
