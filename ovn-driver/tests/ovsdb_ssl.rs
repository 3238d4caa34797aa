//! The `ssl:` remote against a real ovsdb-server with `pssl:` (mutual TLS,
//! certificates made by `prismnet_ovn::testing::Pki`).

use prismnet_ovn::ovsdb::{Client, Insert, TlsConfig};
use prismnet_ovn::testing::{free_ports, nb_config, OvsdbServer, Pki};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transacts_over_ssl_with_client_certificate() {
    init_logs();
    let mut server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let pki = Pki::create(server.dir()).expect("pki");
    let port = free_ports(1).expect("port")[0];
    let arg = |flag: &str, p: &std::path::Path| format!("--{flag}={}", p.display());
    server.kill();
    server
        .start_with(&[
            &arg("private-key", &pki.server_key),
            &arg("certificate", &pki.server_cert),
            &arg("ca-cert", &pki.ca_cert),
            &format!("--remote=pssl:{port}:127.0.0.1"),
        ])
        .expect("restart with ssl");

    let mut cfg = nb_config(&[format!("ssl:127.0.0.1:{port}")]);
    cfg.tls = Some(TlsConfig {
        private_key: pki.client_key.clone(),
        certificate: pki.client_cert.clone(),
        ca_certificate: pki.ca_cert.clone(),
    });
    let c = Client::connect(cfg.clone()).await.expect("ssl connect");
    let reply = c
        .transact(&[Insert::new("Logical_Switch").value("name", "tls").into()])
        .await
        .expect("transact over ssl");
    assert!(reply.uuid(0).is_some());

    // A server certificate from another CA is refused.
    let other = tempfile::tempdir().expect("tempdir");
    let other_pki = Pki::create(other.path()).expect("pki");
    cfg.tls = Some(TlsConfig {
        private_key: pki.client_key.clone(),
        certificate: pki.client_cert.clone(),
        ca_certificate: other_pki.ca_cert.clone(),
    });
    cfg.initial_connect_timeout = std::time::Duration::from_secs(2);
    let err = Client::connect(cfg).await.err().map(|e| e.to_string());
    assert!(
        err.as_deref().unwrap_or_default().contains("certificate"),
        "{err:?}"
    );
}

/// `RUST_LOG=prismnet_ovn=debug cargo test ...` shows the client's logs.
fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
