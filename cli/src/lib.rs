//! `prismctl`, the PrismNET operator CLI, as a library: argument definitions
//! ([`Cli`]), one module per resource family under [`commands`] (arguments and
//! handler), output structs and renderers under [`output`], and value parsing and
//! security-group name resolution in [`resolve`].
//!
//! It talks to the cluster only through [`prismnet_api::PrismClient`], which follows
//! leader redirects and retries writes with the same request id.

pub mod commands;
pub mod error;
pub mod output;
pub mod resolve;

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use clap::Parser;
use prismnet_api::{ClientConfig, ClientError, PrismClient};
use serde::Serialize;

pub use commands::Command;
pub use error::CliError;
use output::{Detail, Format, Row};

/// The API address `prismctl` uses when neither `--endpoints` nor
/// `PRISMNET_ENDPOINTS` is given: a node on this host, on PrismNET's default API port.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:7001";

/// How long one logical call may take, retries included, unless `--deadline` says.
pub const DEFAULT_DEADLINE_SECS: &str = "30";

/// The time one connection attempt may take at most (less if the deadline is shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(
    name = "prismctl",
    version,
    about = "Operate a PrismNET cluster",
    long_about = "Operate a PrismNET cluster.\n\nGlobal options go before the command. \
                  Any subset of the cluster's API addresses works as --endpoints: \
                  the client finds the leader by itself."
)]
pub struct Cli {
    /// API addresses of cluster nodes (HOST:PORT, comma-separated or repeated).
    #[arg(
        long,
        env = "PRISMNET_ENDPOINTS",
        value_delimiter = ',',
        default_value = DEFAULT_ENDPOINT,
        value_name = "HOST:PORT,..."
    )]
    pub endpoints: Vec<String>,

    /// Bearer token sent with every call.
    #[arg(long, env = "PRISMNET_TOKEN", hide_env_values = true, value_name = "T")]
    pub token: Option<String>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table, env = "PRISMNET_OUTPUT")]
    pub output: Format,

    /// Let the node that receives a read answer it from its own state (possibly
    /// behind the leader) instead of redirecting to the leader.
    #[arg(long)]
    pub stale: bool,

    /// Time budget of each call, retries and redirects included (seconds, may be
    /// fractional).
    #[arg(
        long,
        env = "PRISMNET_DEADLINE",
        value_parser = resolve::parse_seconds,
        default_value = DEFAULT_DEADLINE_SECS,
        value_name = "SECONDS"
    )]
    pub deadline: Duration,

    /// PEM CA certificate: talk TLS to the endpoints and trust this CA.
    #[arg(long, env = "PRISMNET_CA_CERT", value_name = "PATH")]
    pub ca_cert: Option<std::path::PathBuf>,

    /// Request id of this invocation's write (default: a fresh UUID v4). Rerun a
    /// write whose outcome is unknown with the same id: the cluster applies it at
    /// most once and answers with the first outcome.
    #[arg(long, value_name = "R")]
    pub request_id: Option<String>,

    /// With `--request-id`: the revision the first run of that write had seen, as
    /// its error line printed. The cluster then tells a retry it no longer
    /// remembers from a new write (`request_expired`) instead of applying it twice.
    #[arg(long, value_name = "REV", requires = "request_id")]
    pub seen_revision: Option<u64>,

    #[command(subcommand)]
    pub command: Command,
}

/// What every handler gets: the client, the output format, the invocation's request
/// id, and where output goes.
pub struct Ctx {
    pub client: PrismClient,
    /// What `client` was made from: commands that must ask one particular node
    /// (the leader's view in `cluster status`) make a client for it alike.
    pub config: ClientConfig,
    pub format: Format,
    /// The operator's `--request-id`; `None`: the client library picks one per
    /// write (and reports it in an error whose outcome is unknown).
    request_id: Option<String>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Ctx {
    pub fn new(
        client: PrismClient,
        config: ClientConfig,
        format: Format,
        request_id: Option<String>,
        out: Box<dyn Write + Send>,
    ) -> Self {
        Ctx {
            client,
            config,
            format,
            request_id,
            out: Mutex::new(out),
        }
    }

    /// The request id of this invocation's write: the operator's `--request-id`,
    /// or empty for the client library to choose one (it knows then that no
    /// earlier run used it).
    pub fn request_id(&self) -> String {
        self.request_id.clone().unwrap_or_default()
    }

    /// Maps a write's error, keeping its request id for the error line.
    pub fn write<T>(&self, result: Result<T, ClientError>) -> Result<T, CliError> {
        result.map_err(|error| {
            let request_id = error
                .request_id()
                .map(String::from)
                .or(self.request_id.clone());
            CliError::Api {
                error: Box::new(error),
                request_id,
            }
        })
    }

    pub fn print_one<T: Serialize + Detail>(&self, item: &T) -> Result<(), CliError> {
        let s = output::one(self.format, item)?;
        self.emit(&s)
    }

    pub fn print_list<T: Serialize + Row>(&self, items: &[T]) -> Result<(), CliError> {
        let s = output::list(self.format, items)?;
        self.emit(&s)
    }

    pub fn emit(&self, s: &str) -> Result<(), CliError> {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let written = out.write_all(s.as_bytes()).and_then(|_| out.flush());
        match written {
            Ok(()) => Ok(()),
            // `prismctl port list | head`: the reader left; nothing is wrong.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(CliError::failed("io", format!("writing output: {e}"))),
        }
    }
}

/// The client configuration the global options describe.
pub fn client_config(cli: &Cli) -> Result<ClientConfig, CliError> {
    let tls = match &cli.ca_cert {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                CliError::usage(format!("reading --ca-cert {}: {e}", path.display()))
            })?;
            Some(
                tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(pem)),
            )
        }
        None => None,
    };
    Ok(ClientConfig {
        token: cli.token.clone(),
        deadline: cli.deadline,
        tls,
        stale_reads: cli.stale,
        connect_timeout: CONNECT_TIMEOUT.min(cli.deadline),
        ..ClientConfig::new(cli.endpoints.iter().map(|e| e.trim().to_string()))
    })
}

/// Runs one invocation, writing its output to `out`.
pub async fn run(cli: Cli, out: Box<dyn Write + Send>) -> Result<(), CliError> {
    let request_id = match (cli.request_id.clone(), cli.command.request_id()) {
        (Some(global), Some(own)) if global != own => {
            return Err(CliError::usage(format!(
                "two request ids given: --request-id {global} and {own}"
            )))
        }
        (global, own) => global.or(own),
    };
    if request_id.as_deref() == Some("") {
        return Err(CliError::usage("--request-id is empty"));
    }
    let config = client_config(&cli)?;
    let mut client = PrismClient::connect(config.clone()).await?;
    if let Some(seen) = cli.seen_revision {
        client = client.with_seen_revision(seen);
    }
    let ctx = Ctx::new(client, config, cli.output, request_id, out);
    commands::run(&ctx, cli.command).await
}
