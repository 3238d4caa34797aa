//! `prismnet-chaos`: runs the chaos suite against real prismnetd processes.
//!
//! ```text
//! prismnet-chaos run [--nemesis all|NAME,...] [--time SECONDS] [--seed S] [--out DIR]
//! prismnet-chaos check DIR        re-check a run directory's history
//! prismnet-chaos clean            remove what killed runs left behind
//! prismnet-chaos list             the nemeses this build knows
//! prismnet-chaos lazyfs --backing DIR --mount DIR --control SOCK
//!                                 serve a lazyfs mount (the power nemeses') until SIGTERM
//! ```
//! The last line `run` prints is the verdict; the exit code is 0 for a valid
//! run, 1 for an anomaly, 2 when the run itself could not be carried out.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use prismnet_chaos::failpoint::{Nemesis, Pace};
use prismnet_chaos::report;
use prismnet_chaos::run::{self, RunConfig};

#[derive(Parser)]
#[command(
    name = "prismnet-chaos",
    about = "Jepsen-style chaos suite for PrismNET"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One run: a cluster, traffic, a seeded schedule of faults, the checks.
    Run {
        /// Nemeses: `all`, a group (`partition`, `kill`, `pause`, ...) or names.
        #[arg(long, default_value = "all")]
        nemesis: String,
        /// Seconds of faults (every nemesis runs at least once, even past it).
        #[arg(long, default_value_t = 120)]
        time: u64,
        /// The seed of the schedule and of the workload (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
        /// The run directory, new or empty (default: chaos-runs/<seed>-<time>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Short faults and quiet spells (what CI runs).
        #[arg(long)]
        short: bool,
        /// The prismnetd binary (default: next to this one).
        #[arg(long)]
        prismnetd: Option<PathBuf>,
        /// Failpoints to switch on in every node (a prismnetd built with
        /// `--features failpoints`): the suite must then report an anomaly.
        #[arg(long)]
        failpoints: Option<String>,
    },
    /// Re-checks the history of a run directory.
    Check { dir: PathBuf },
    /// Removes namespaces, links, mounts and processes of runs that are gone.
    Clean,
    /// Lists the nemeses this build knows.
    List,
    /// Mounts lazyfs (unsynced writes kept in memory, lost on `lose-unsynced`)
    /// over a backing dir and serves it until SIGTERM, then unmounts.
    Lazyfs {
        #[arg(long)]
        backing: PathBuf,
        #[arg(long)]
        mount: PathBuf,
        /// The control socket (`pending`, `lose-unsynced`, `torn`).
        #[arg(long)]
        control: PathBuf,
    },
    /// (Internal) the delay proxy a run puts in front of a node's Raft port.
    #[command(hide = true)]
    Proxy {
        #[arg(long)]
        listen: std::net::SocketAddr,
        #[arg(long)]
        to: std::net::SocketAddr,
        #[arg(long)]
        delay_file: PathBuf,
    },
}

/// A binary next to this one (`target/<profile>/`), or in its parent (tests run
/// from `target/<profile>/deps/`).
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let dir = exe.parent().context("binary dir")?;
    for d in [dir, dir.parent().unwrap_or(dir)] {
        let p = d.join(name);
        if p.exists() {
            return Ok(p);
        }
    }
    anyhow::bail!(
        "{name} not found next to {}; build it or pass its path",
        exe.display()
    )
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match main_inner() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            println!("VERDICT: could not run: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn main_inner() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Cmd::List => {
            for n in Nemesis::all() {
                println!("{}", n.name());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Proxy {
            listen,
            to,
            delay_file,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(prismnet_chaos::failpoint::delay::proxy(
                listen, to, delay_file,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Lazyfs {
            backing,
            mount,
            control,
        } => {
            prismnet_chaos::lazyfs::serve(backing, mount, control)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Clean => {
            let n = prismnet_chaos::cluster::sys::sweep();
            println!("removed what {n} dead run(s) left behind");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check { dir } => {
            let verdict = report::recheck(&dir)?;
            verdict.summary().iter().for_each(|l| println!("{l}"));
            println!("{}", verdict.line());
            Ok(verdict.exit_code())
        }
        Cmd::Run {
            nemesis,
            time,
            seed,
            out,
            clients,
            short,
            prismnetd,
            failpoints,
        } => {
            let nemeses = Nemesis::parse_set(&nemesis).map_err(anyhow::Error::msg)?;
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            });
            let dir = out.unwrap_or_else(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                PathBuf::from(format!("chaos-runs/{seed}-{now}"))
            });
            let config = RunConfig {
                dir: std::path::absolute(&dir).context("run dir")?,
                prismnetd: match prismnetd {
                    Some(p) => p,
                    None => sibling("prismnetd")?,
                },
                nemeses,
                seed,
                time: Duration::from_secs(time),
                pace: if short { Pace::SHORT } else { Pace::DEFAULT },
                clients,
                subnets: 3,
                deadline: Duration::from_secs(if short { 10 } else { 30 }),
                liveness: Duration::from_secs(if short { 5 } else { 10 }),
                node_args: Vec::new(),
                node_env: failpoints
                    .map(|f| vec![("PRISMNET_FAILPOINTS".to_string(), f)])
                    .unwrap_or_default(),
            };
            println!("seed {seed}, run dir {}", config.dir.display());
            let observed = run::run(&config)?;
            let verdict = report::write(&config, &observed)?;
            verdict.summary().iter().for_each(|l| println!("{l}"));
            println!("{}", verdict.line());
            Ok(verdict.exit_code())
        }
    }
}
