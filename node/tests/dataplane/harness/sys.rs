//! Commands, daemons and network namespaces, all cleaned up on drop.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub const POLL: Duration = Duration::from_millis(50);

/// Prefix of every namespace and temp dir the harness creates: `pn<pid><seq>`.
pub const PREFIX: &str = "pn";

/// A name unique on this machine: the pid of this process and a sequence number.
pub fn unique_tag() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, Ordering::SeqCst);
    // A letter after the pid keeps "pn12-3" and "pn1-23" apart.
    format!("{PREFIX}{}x{seq}", std::process::id())
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd`, returns stdout; an error carries the command line and stderr.
pub fn run_cmd(cmd: &mut Command) -> io::Result<String> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "`{}` failed ({}): {}{}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )))
    }
}

pub fn run(program: &str, args: &[&str]) -> io::Result<String> {
    run_cmd(Command::new(program).args(args))
}

/// Runs and returns the whole output, whatever the exit status.
pub fn output(program: &str, args: &[&str]) -> io::Result<Output> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
}

/// Polls `f` until it returns `Some`, or fails with `what` after `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> io::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "timed out ({timeout:?}) waiting for {what}"
            )));
        }
        sleep(POLL);
    }
}

/// The last `n` lines of a file (for failure messages).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A long-running child process (never `--detach`ed), SIGKILLed on drop. Its
/// stdout and stderr go to `<dir>/<name>.out`.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
    pub out: PathBuf,
}

impl Daemon {
    /// Spawns `cmd`; `log` is the daemon's own log file (for [`Daemon::tail`]).
    pub fn spawn(name: &str, dir: &Path, mut cmd: Command, log: PathBuf) -> io::Result<Daemon> {
        let out = dir.join(format!("{name}.out"));
        let f = File::create(&out)?;
        cmd.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f);
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::other(format!("spawning `{}`: {e}", describe(&cmd))))?;
        Ok(Daemon {
            name: name.into(),
            child: Some(child),
            log,
            out,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails (with its output) if the process has exited.
    pub fn check_alive(&mut self) -> io::Result<()> {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                return Err(io::Error::other(format!(
                    "{} exited ({status}):\n{}\n{}",
                    self.name,
                    tail(&self.out, 20),
                    tail(&self.log, 20)
                )));
            }
        }
        Ok(())
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The end of its log and of its stdout/stderr.
    pub fn tail(&self, n: usize) -> String {
        format!(
            "---- {} ({}) ----\n{}\n{}",
            self.name,
            self.log.display(),
            tail(&self.log, n),
            tail(&self.out, 5)
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A network namespace, deleted on drop after every process inside is killed.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(name: &str) -> io::Result<Netns> {
        run("ip", &["netns", "add", name])?;
        let ns = Netns { name: name.into() };
        run("ip", &["-n", name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip netns exec <ns> <program> <args>` as a [`Command`] to adjust or spawn.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    pub fn exec(&self, program: &str, args: &[&str]) -> io::Result<String> {
        run_cmd(self.command(program).args(args))
    }

    pub fn output(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
    }

    /// `ip -n <ns> args...`
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A TCP listener bound inside this namespace (a thread enters the namespace,
    /// binds, and hands the socket back: a socket belongs to the namespace it was
    /// created in).
    pub fn tcp_listener(&self, port: u16) -> io::Result<std::net::TcpListener> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || -> io::Result<std::net::TcpListener> {
            use std::os::fd::AsRawFd;
            let f = File::open(&path)?;
            // SAFETY: setns(2) on a namespace file we opened; it changes only this
            // thread's network namespace, and the thread ends right after.
            let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            std::net::TcpListener::bind(("0.0.0.0", port))
        })
        .join()
        .map_err(|_| io::Error::other("listener thread panicked"))?
    }

    fn delete(name: &str) {
        if let Ok(pids) = run("ip", &["netns", "pids", name]) {
            for pid in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                // SAFETY: kill(2) of a process inside a namespace this harness owns.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = run("ip", &["netns", "del", name]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        Netns::delete(&self.name);
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid in a harness name `pn<pid>x<seq>...`, if it is one.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, _) = rest.split_once('x')?;
    pid.parse().ok()
}

/// Removes what harness runs of processes that no longer exist left behind (a test
/// binary killed by SIGKILL cannot run its destructors): their namespaces, with the
/// processes inside, and daemons whose command line names their temp dirs.
pub fn sweep_leftovers() {
    if let Ok(list) = run("ip", &["netns", "list"]) {
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if owner_pid(name).is_some_and(|p| !pid_alive(p)) {
                eprintln!("harness: removing leftover namespace {name}");
                Netns::delete(name);
            }
        }
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        // Temp dirs are named `prismnet-dp-pn<pid>x<seq>`.
        let Some(at) = cmdline.find("prismnet-dp-") else {
            continue;
        };
        let tag = &cmdline[at + "prismnet-dp-".len()..];
        if owner_pid(tag).is_some_and(|p| !pid_alive(p)) {
            eprintln!("harness: killing leftover process {pid}");
            // SAFETY: kill(2) of a process started by a dead harness run.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A temp dir for one stack or cluster, named after `tag` so leftovers can be found.
pub fn temp_dir(tag: &str) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("prismnet-dp-{tag}-"))
        .tempdir()
}

/// Waits until a unix socket accepts connections.
pub fn wait_socket(path: &Path, timeout: Duration) -> io::Result<()> {
    wait_for(&format!("socket {}", path.display()), timeout, || {
        std::os::unix::net::UnixStream::connect(path).ok().map(drop)
    })
}
