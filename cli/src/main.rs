//! `prismctl`: parse, run, map errors to exit codes. Usage errors exit 2 (clap's own
//! and ours), failures exit 1, both with one `error: <reason>: <message>` line.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use prismnet_cli::{error::EXIT_FAILURE, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: internal: {e:#}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(prismnet_cli::run(cli, Box::new(std::io::stdout()))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.line());
            ExitCode::from(e.exit_code())
        }
    }
}
