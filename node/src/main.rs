//! `prismnetd`: parse the configuration, run the daemon until SIGTERM or Ctrl-C.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> anyhow::Result<()> {
    let config = prismnet_node::config::Config::load()?;
    #[cfg(feature = "failpoints")]
    if let Ok(list) = std::env::var("PRISMNET_FAILPOINTS") {
        prismnet_state::failpoints::set(&list).map_err(anyhow::Error::msg)?;
        eprintln!("FAILPOINTS ON: {list} (a deliberately broken build)");
    }
    prismnet_node::daemon::init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(prismnet_node::daemon::run(config))
}
