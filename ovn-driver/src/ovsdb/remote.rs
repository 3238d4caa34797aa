//! OVSDB remotes (`unix:PATH`, `tcp:HOST:PORT`, `ssl:HOST:PORT`) and
//! connecting to them.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;

use super::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
    Ssl { host: String, port: u16 },
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hp = |host: &str| {
            if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_string()
            }
        };
        match self {
            Remote::Unix(p) => write!(f, "unix:{}", p.display()),
            Remote::Tcp { host, port } => write!(f, "tcp:{}:{port}", hp(host)),
            Remote::Ssl { host, port } => write!(f, "ssl:{}:{port}", hp(host)),
        }
    }
}

impl FromStr for Remote {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::BadRemote {
            remote: s.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| bad("expected unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT"))?;
        if scheme == "unix" {
            return if rest.is_empty() {
                Err(bad("empty path"))
            } else {
                Ok(Remote::Unix(rest.into()))
            };
        }
        // An IPv6 host is bracketed: tcp:[::1]:6641.
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => v6
                .split_once("]:")
                .ok_or_else(|| bad("unterminated [IPv6] host"))?,
            None => rest.rsplit_once(':').ok_or_else(|| bad("missing port"))?,
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port: u16 = port.parse().map_err(|_| bad("port is not a number"))?;
        let host = host.to_string();
        match scheme {
            "tcp" => Ok(Remote::Tcp { host, port }),
            "ssl" => Ok(Remote::Ssl { host, port }),
            _ => Err(bad("unknown scheme (unix, tcp, ssl)")),
        }
    }
}

/// PEM files for `ssl:` remotes, as ovsdb-server's `--private-key`,
/// `--certificate` and `--ca-cert`. The server demands a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub private_key: PathBuf,
    pub certificate: PathBuf,
    pub ca_certificate: PathBuf,
}

/// A connected byte stream of any transport.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}
pub(crate) type BoxStream = Box<dyn Stream>;

pub(crate) async fn connect(
    remote: &Remote,
    tls: Option<&TlsConnector>,
) -> Result<BoxStream, Error> {
    let io_err = |source| Error::Connect {
        remote: remote.to_string(),
        source,
    };
    match remote {
        Remote::Unix(path) => Ok(Box::new(UnixStream::connect(path).await.map_err(io_err)?)),
        Remote::Tcp { host, port } => {
            let s = TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(io_err)?;
            // Requests are small and latency matters more than batching.
            s.set_nodelay(true).map_err(io_err)?;
            Ok(Box::new(s))
        }
        Remote::Ssl { host, port } => {
            let connector = tls.ok_or_else(|| {
                Error::Tls(format!("{remote}: ssl remote but no TlsConfig given"))
            })?;
            let s = TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(io_err)?;
            s.set_nodelay(true).map_err(io_err)?;
            let name = ServerName::try_from(host.clone())
                .map_err(|e| Error::Tls(format!("{remote}: bad server name: {e}")))?;
            let s = connector.connect(name, s).await.map_err(io_err)?;
            Ok(Box::new(s))
        }
    }
}

fn read_pem(path: &PathBuf) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Tls(format!("reading {}: {e}", path.display())))
}

/// Builds the TLS client (ring provider) from PEM files.
pub(crate) fn tls_connector(cfg: &TlsConfig) -> Result<TlsConnector, Error> {
    let tls = |what: &str, e: &dyn fmt::Display| Error::Tls(format!("{what}: {e}"));
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut read_pem(&cfg.ca_certificate)?.as_slice()) {
        roots
            .add(cert.map_err(|e| tls("CA certificate", &e))?)
            .map_err(|e| tls("CA certificate", &e))?;
    }
    if roots.is_empty() {
        return Err(Error::Tls(format!(
            "no certificate in {}",
            cfg.ca_certificate.display()
        )));
    }
    let chain = rustls_pemfile::certs(&mut read_pem(&cfg.certificate)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls("certificate", &e))?;
    let key = rustls_pemfile::private_key(&mut read_pem(&cfg.private_key)?.as_slice())
        .map_err(|e| tls("private key", &e))?
        .ok_or_else(|| Error::Tls(format!("no key in {}", cfg.private_key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls("verifier", &e))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls("protocol versions", &e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(CaOnlyVerifier(inner)))
        .with_client_auth_cert(chain, key)
        .map_err(|e| tls("client certificate", &e))?;
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Verifies the server's chain against our CA but not its host name: OVS PKI
/// certificates (ovs-pki) name a node, not an address, and OVS itself only
/// checks the CA. The chain is checked first, so a name mismatch is the only
/// error forgiven.
#[derive(Debug)]
struct CaOnlyVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for CaOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_remotes() {
        let r = |s: &str| s.parse::<Remote>();
        assert_eq!(
            r("unix:/run/nb.sock").unwrap(),
            Remote::Unix("/run/nb.sock".into())
        );
        assert_eq!(
            r("tcp:127.0.0.1:6641").unwrap(),
            Remote::Tcp {
                host: "127.0.0.1".into(),
                port: 6641
            }
        );
        assert_eq!(
            r("ssl:[::1]:6641").unwrap(),
            Remote::Ssl {
                host: "::1".into(),
                port: 6641
            }
        );
        for s in ["tcp:[::1]:6641", "ssl:nb.example:6641", "unix:/x"] {
            assert_eq!(r(s).unwrap().to_string(), s);
        }
        for bad in [
            "",
            "tcp:",
            "tcp:host",
            "tcp::1",
            "tcp:h:99999",
            "udp:h:1",
            "unix:",
            "tcp:[::1",
        ] {
            assert!(matches!(r(bad), Err(Error::BadRemote { .. })), "{bad}");
        }
    }

    #[test]
    fn missing_pem_files_are_clear_errors() {
        let cfg = TlsConfig {
            private_key: "/nonexistent/key.pem".into(),
            certificate: "/nonexistent/cert.pem".into(),
            ca_certificate: "/nonexistent/ca.pem".into(),
        };
        let err = tls_connector(&cfg)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
