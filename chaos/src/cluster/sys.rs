//! Commands, daemons and the ledger of everything a run creates.
//!
//! Every resource a run makes outside its run directory (a network namespace, a
//! link, a mount, a process) is written to the run's ledger *before* it is made,
//! so that whatever ends the run (success, a failure, Ctrl-C, SIGKILL of the suite
//! itself) leaves a list of what to remove. [`Ledger::drop`] removes them at the
//! end; `prismnet-chaos clean` (and the start of every run) sweeps the ledgers of
//! runs whose process is gone.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where ledgers live: one file per run, named by the run's pid.
pub const LEDGER_DIR: &str = "/run/prismnet-chaos";
/// How often waits poll.
pub const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum SysError {
    #[error("`{command}` failed ({status}): {output}")]
    Failed {
        command: String,
        status: String,
        output: String,
    },
    #[error("timed out after {after:?} waiting until {what}")]
    Timeout { what: String, after: Duration },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

pub type Result<T> = std::result::Result<T, SysError>;

pub fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SysError {
    let what = what.into();
    move |source| SysError::Io { what, source }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion; its stdout, or an error with the command and its output.
pub fn run_cmd(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(describe(cmd)))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(SysError::Failed {
            command: describe(cmd),
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ),
        })
    }
}

pub fn run(program: &str, args: &[&str]) -> Result<String> {
    run_cmd(Command::new(program).args(args))
}

/// Polls `check` until it yields a value or `timeout` passes.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            return Err(SysError::Timeout {
                what: what.into(),
                after: timeout,
            });
        }
        std::thread::sleep(POLL);
    }
}

/// The last `n` lines of a file (for error messages).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One thing to remove at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    Netns(String),
    /// A link in the root namespace (a bridge or a veth end).
    Link(String),
    Mount(PathBuf),
    /// A process group (its leader's pid).
    Group(u32),
}

impl Resource {
    fn line(&self) -> String {
        match self {
            Resource::Netns(n) => format!("netns {n}"),
            Resource::Link(l) => format!("link {l}"),
            Resource::Mount(m) => format!("mount {}", m.display()),
            Resource::Group(p) => format!("group {p}"),
        }
    }

    fn parse(line: &str) -> Option<Resource> {
        let (kind, arg) = line.split_once(' ')?;
        Some(match kind {
            "netns" => Resource::Netns(arg.into()),
            "link" => Resource::Link(arg.into()),
            "mount" => Resource::Mount(arg.into()),
            "group" => Resource::Group(arg.parse().ok()?),
            _ => return None,
        })
    }

    /// Removes it; what is already gone is fine.
    fn remove(&self) {
        let _ = match self {
            Resource::Group(pid) => {
                let pgid = -(i32::try_from(*pid).unwrap_or(i32::MAX));
                // SAFETY: a signal to a process group this run started.
                unsafe {
                    libc::kill(pgid, libc::SIGCONT);
                    libc::kill(pgid, libc::SIGKILL);
                }
                Ok(String::new())
            }
            Resource::Mount(m) => {
                let m = m.to_string_lossy().into_owned();
                run("umount", &["-l", &m]).or_else(|_| run("fusermount3", &["-uz", &m]))
            }
            Resource::Netns(n) => run("ip", &["netns", "delete", n]),
            Resource::Link(l) => run("ip", &["link", "delete", l]),
        };
    }
}

/// The run's list of what to remove; removes it all when dropped.
pub struct Ledger {
    path: PathBuf,
    file: Mutex<File>,
    items: Mutex<Vec<Resource>>,
}

impl Ledger {
    /// Sweeps the ledgers of dead runs, then starts this run's.
    pub fn open() -> Result<Ledger> {
        sweep();
        std::fs::create_dir_all(LEDGER_DIR).map_err(io_err(LEDGER_DIR))?;
        let path = Path::new(LEDGER_DIR).join(format!("{}.ledger", std::process::id()));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(path.display().to_string()))?;
        Ok(Ledger {
            path,
            file: Mutex::new(file),
            items: Mutex::new(Vec::new()),
        })
    }

    /// Records `r` (durably) before the caller creates it.
    pub fn will_create(&self, r: Resource) -> Result<()> {
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        writeln!(f, "{}", r.line())
            .and_then(|()| f.sync_data())
            .map_err(io_err("writing the ledger"))?;
        self.items.lock().unwrap_or_else(|p| p.into_inner()).push(r);
        Ok(())
    }

    /// Removes everything recorded, newest first (processes before the mounts and
    /// namespaces they use).
    pub fn clean(&self) {
        let items = std::mem::take(&mut *self.items.lock().unwrap_or_else(|p| p.into_inner()));
        remove_all(items);
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.clean();
    }
}

fn remove_all(items: Vec<Resource>) {
    // Processes first, whatever order they were made in: they hold mounts.
    let (groups, rest): (Vec<_>, Vec<_>) = items
        .into_iter()
        .partition(|r| matches!(r, Resource::Group(_)));
    for r in groups.iter().rev().chain(rest.iter().rev()) {
        r.remove();
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes what runs that are gone left behind. Returns how many ledgers.
pub fn sweep() -> usize {
    let Ok(dir) = std::fs::read_dir(LEDGER_DIR) else {
        return 0;
    };
    let mut swept = 0;
    for entry in dir.flatten() {
        let path = entry.path();
        let Some(pid) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || pid_alive(pid) {
            continue;
        }
        let items: Vec<Resource> = File::open(&path)
            .map(|f| {
                io::BufReader::new(f)
                    .lines()
                    .map_while(|l| l.ok())
                    .filter_map(|l| Resource::parse(&l))
                    .collect()
            })
            .unwrap_or_default();
        remove_all(items);
        let _ = std::fs::remove_file(&path);
        swept += 1;
    }
    swept
}

/// A process of the run, in its own process group (so its children go with it),
/// killed on drop.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(ledger: &Ledger, name: &str, mut cmd: Command, log: PathBuf) -> Result<Daemon> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io_err(log.display().to_string()))?;
        let err = out.try_clone().map_err(io_err("log file"))?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let what = describe(&cmd);
        let child = cmd.spawn().map_err(io_err(what))?;
        ledger.will_create(Resource::Group(child.id()))?;
        Ok(Daemon {
            name: name.into(),
            child: Some(child),
            log,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it still runs (reaps it if it exited).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    pub fn signal(&self, sig: libc::c_int) {
        if let Some(pid) = self.pid() {
            let pgid = -(i32::try_from(pid).unwrap_or(i32::MAX));
            // SAFETY: a signal to our own child's process group.
            unsafe { libc::kill(pgid, sig) };
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < grace && self.alive() {
            std::thread::sleep(POLL);
        }
        self.kill();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}
