//! The API over TLS, and mutual TLS, on a real prismnetd (a one-node cluster).
//!
//! - certificates come from the `openssl` command (a CA, a server certificate for
//!   127.0.0.1, a client certificate)
//! - with `--tls-cert/--tls-key` the client library connects over TLS with the CA
//! - with `--tls-client-ca` a client without a certificate is refused and one with
//!   a certificate signed by the CA is served

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{test_ca, test_cert};
use prismnet_api::v1;
use prismnet_api::{ClientConfig, PrismClient};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CA, server certificate for IP 127.0.0.1, client certificate.
fn pki(dir: &Path) {
    test_ca(dir, "prismnet-test-ca");
    test_cert(dir, "server", "subjectAltName=IP:127.0.0.1");
    test_cert(dir, "client", "extendedKeyUsage=clientAuth");
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn start(dir: &Path, extra: &[String]) -> (Daemon, SocketAddr) {
    let (raft, api) = (free_addr(), free_addr());
    let log = std::fs::File::create(dir.join("prismnetd.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_prismnetd"))
        .args(["--id", "1", "--data-dir"])
        .arg(dir.join("data"))
        .args([
            "--peers",
            &format!("1={raft}/{api}"),
            "--cluster-name",
            &format!("tls-{}", std::process::id()),
        ])
        .args(["--tls-cert", "server.pem", "--tls-key", "server.key"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prismnetd");
    let daemon = Daemon(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(api).is_err() {
        assert!(
            Instant::now() < deadline,
            "prismnetd did not listen: {}",
            std::fs::read_to_string(dir.join("prismnetd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (daemon, api)
}

async fn status(
    api: SocketAddr,
    tls: ClientTlsConfig,
) -> Result<v1::ClusterStatusResponse, prismnet_api::ClientError> {
    let mut cfg = ClientConfig::new(vec![api.to_string()]);
    cfg.tls = Some(tls);
    cfg.deadline = Duration::from_secs(10);
    let client = PrismClient::connect(cfg).await?;
    client.cluster_status(v1::ClusterStatusRequest {}).await
}

#[tokio::test]
async fn api_over_tls_and_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let ca = Certificate::from_pem(std::fs::read(dir.path().join("ca.pem")).unwrap());
    let identity = Identity::from_pem(
        std::fs::read(dir.path().join("client.pem")).unwrap(),
        std::fs::read(dir.path().join("client.key")).unwrap(),
    );

    {
        let (_d, api) = start(dir.path(), &[]);
        let st = status(api, ClientTlsConfig::new().ca_certificate(ca.clone()))
            .await
            .expect("TLS call");
        assert_eq!(st.node_id, 1);
    }

    let mtls = dir.path().join("m");
    std::fs::create_dir(&mtls).unwrap();
    for f in ["ca.pem", "server.pem", "server.key"] {
        std::fs::copy(dir.path().join(f), mtls.join(f)).unwrap();
    }
    let (_d, api) = start(
        &mtls,
        &["--tls-client-ca".to_string(), "ca.pem".to_string()],
    );
    let anonymous = status(api, ClientTlsConfig::new().ca_certificate(ca.clone())).await;
    assert!(
        anonymous.is_err(),
        "a client without a certificate must be refused"
    );
    let st = status(
        api,
        ClientTlsConfig::new().ca_certificate(ca).identity(identity),
    )
    .await
    .expect("mTLS call");
    assert_eq!(st.node_id, 1);
}
