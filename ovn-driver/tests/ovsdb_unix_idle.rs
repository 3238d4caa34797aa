//! An idle connection over a unix socket stays up.
//!
//! - ovsdb-server sends no inactivity probes on unix sockets, so only our own echo
//!   keeps the connection alive; it must never be dropped while the server answers
//! - with a 1 s probe interval, 7 s of silence is seven chances to get it wrong

use std::time::Duration;

use prismnet_ovn::ovsdb::Client;
use prismnet_ovn::testing::{nb_config, OvsdbServer};

#[tokio::test]
async fn idle_unix_connection_is_kept() {
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let mut cfg = nb_config(&[server.unix_remote()]);
    cfg.echo_interval = Duration::from_secs(1);
    let client = Client::connect(cfg).await.expect("connect");
    let before = client.connection_count();
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        client.connection_count(),
        before,
        "the idle unix connection was dropped and re-made"
    );
    client.echo().await.expect("still answers");
}
