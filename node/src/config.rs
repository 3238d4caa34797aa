//! prismnetd configuration.
//!
//! Sources, lowest precedence first: built-in defaults, the TOML file named by
//! `--config`, `PRISMNETD_*` environment variables, command-line flags. Every setting
//! has the same name in all three places (`raft_addr` in the file,
//! `PRISMNETD_RAFT_ADDR`, `--raft-addr`).
//!
//! ```toml
//! id = 1
//! data_dir = "/var/lib/prismnet"
//! raft_addr = "10.0.0.1:7101"
//! api_addr = "10.0.0.1:7001"
//! peers = "1=10.0.0.1:7101/10.0.0.1:7001,2=10.0.0.2:7101/10.0.0.2:7001,3=10.0.0.3:7101/10.0.0.3:7001"
//! cluster_name = "prismnet"
//! ovn_nb = "tcp:10.0.0.5:6641"
//! tokens_file = "/etc/prismnet/tokens.toml"
//! # mutual TLS between nodes: all three or none
//! peer_tls_cert = "/etc/prismnet/peer.pem"
//! peer_tls_key = "/etc/prismnet/peer.key"
//! peer_tls_ca = "/etc/prismnet/peer-ca.pem"
//! # free space the data dir's filesystem keeps; below it writes are refused
//! # (RESOURCE_EXHAUSTED disk_full). 0 turns the guard off.
//! min_free_mb = 256
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use prismnet_raft::PeerNode;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("missing setting `{0}` (flag --{1}, env PRISMNETD_{2}, or the config file)")]
    Missing(&'static str, &'static str, &'static str),
    #[error("invalid {what} '{value}': {why}")]
    Invalid {
        what: &'static str,
        value: String,
        why: String,
    },
}

/// Flags; each also reads `PRISMNETD_<NAME>`.
#[derive(Parser, Debug, Default)]
#[command(name = "prismnetd", version, about = "PrismNET control-plane node")]
pub struct Flags {
    /// TOML configuration file.
    #[arg(long, env = "PRISMNETD_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id (>= 1).
    #[arg(long, env = "PRISMNETD_ID")]
    pub id: Option<u64>,
    #[arg(long, env = "PRISMNETD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Listen address for Raft peers.
    #[arg(long, env = "PRISMNETD_RAFT_ADDR")]
    pub raft_addr: Option<SocketAddr>,
    /// Listen address of the public gRPC API.
    #[arg(long, env = "PRISMNETD_API_ADDR")]
    pub api_addr: Option<SocketAddr>,
    /// Every initial member, this node included: `1=HOST:RAFTPORT/HOST:APIPORT,2=...`.
    #[arg(long, env = "PRISMNETD_PEERS")]
    pub peers: Option<String>,
    /// Never bootstrap: wait to be added to an existing cluster.
    #[arg(long, env = "PRISMNETD_JOIN")]
    pub join: bool,
    #[arg(long, env = "PRISMNETD_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// OVN Northbound remotes, comma separated (unix:PATH, tcp:HOST:PORT, ssl:HOST:PORT).
    #[arg(long, env = "PRISMNETD_OVN_NB")]
    pub ovn_nb: Option<String>,
    #[arg(long, env = "PRISMNETD_HEARTBEAT_MS")]
    pub heartbeat_ms: Option<u64>,
    #[arg(long, env = "PRISMNETD_ELECTION_MIN_MS")]
    pub election_min_ms: Option<u64>,
    #[arg(long, env = "PRISMNETD_ELECTION_MAX_MS")]
    pub election_max_ms: Option<u64>,
    /// Build a snapshot after this many log entries.
    #[arg(long, env = "PRISMNETD_SNAPSHOT_LOGS")]
    pub snapshot_logs: Option<u64>,
    /// MiB the data dir's filesystem must keep free (default 256). Below it the
    /// node takes no new log entries and, as leader, refuses writes with
    /// RESOURCE_EXHAUSTED `disk_full`; they resume once space is freed. 0 turns
    /// the guard off.
    #[arg(long, env = "PRISMNETD_MIN_FREE_MB")]
    pub min_free_mb: Option<u64>,
    /// tracing filter, e.g. `info` or `prismnet_raft=debug,info`.
    #[arg(long, env = "PRISMNETD_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// `text` or `json`.
    #[arg(long, env = "PRISMNETD_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Bearer tokens (see `auth`); without it the node runs in dev mode.
    #[arg(long, env = "PRISMNETD_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// PEM certificate and key: serve the API over TLS.
    #[arg(long, env = "PRISMNETD_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, env = "PRISMNETD_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA: require client certificates signed by it.
    #[arg(long, env = "PRISMNETD_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// PEM certificate, key and CA: mutual TLS between nodes on the Raft port (all
    /// three or none). Every node's certificate is signed by the CA and carries
    /// `subjectAltName=DNS:prismnet-peer`, `extendedKeyUsage=serverAuth,clientAuth`.
    #[arg(long, env = "PRISMNETD_PEER_TLS_CERT")]
    pub peer_tls_cert: Option<PathBuf>,
    #[arg(long, env = "PRISMNETD_PEER_TLS_KEY")]
    pub peer_tls_key: Option<PathBuf>,
    #[arg(long, env = "PRISMNETD_PEER_TLS_CA")]
    pub peer_tls_ca: Option<PathBuf>,
}

/// The file: the same settings as the flags.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    id: Option<u64>,
    data_dir: Option<PathBuf>,
    raft_addr: Option<SocketAddr>,
    api_addr: Option<SocketAddr>,
    peers: Option<String>,
    join: Option<bool>,
    cluster_name: Option<String>,
    ovn_nb: Option<String>,
    heartbeat_ms: Option<u64>,
    election_min_ms: Option<u64>,
    election_max_ms: Option<u64>,
    snapshot_logs: Option<u64>,
    min_free_mb: Option<u64>,
    log_level: Option<String>,
    log_format: Option<String>,
    tokens_file: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    peer_tls_cert: Option<PathBuf>,
    peer_tls_key: Option<PathBuf>,
    peer_tls_ca: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// Mutual TLS between nodes (see `prismnet_raft::PeerTls`).
#[derive(Clone, Debug)]
pub struct PeerTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub id: u64,
    pub data_dir: PathBuf,
    pub raft_addr: SocketAddr,
    pub api_addr: SocketAddr,
    /// Initial members (empty with `join`).
    pub peers: BTreeMap<u64, PeerNode>,
    pub join: bool,
    pub cluster_name: String,
    pub ovn_nb: Vec<String>,
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    pub snapshot_logs: u64,
    /// `min_free_mb` in bytes (0: guard off).
    pub min_free_bytes: u64,
    pub log_level: String,
    pub json_logs: bool,
    pub tokens_file: Option<PathBuf>,
    pub tls: Option<TlsFiles>,
    pub peer_tls: Option<PeerTlsFiles>,
}

impl Config {
    /// From the process's flags, environment and config file.
    pub fn load() -> Result<Config, ConfigError> {
        Config::resolve(Flags::parse())
    }

    pub fn resolve(flags: Flags) -> Result<Config, ConfigError> {
        let file = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.clone(),
                    source,
                })?
            }
            None => FileConfig::default(),
        };
        let id = flags
            .id
            .or(file.id)
            .ok_or(ConfigError::Missing("id", "id", "ID"))?;
        if id == 0 {
            return Err(ConfigError::Invalid {
                what: "id",
                value: "0".into(),
                why: "node ids start at 1".into(),
            });
        }
        let join = flags.join || file.join.unwrap_or(false);
        let peers = match flags.peers.or(file.peers) {
            Some(s) => parse_peers(&s)?,
            None => BTreeMap::new(),
        };
        if !join && peers.is_empty() {
            return Err(ConfigError::Missing("peers", "peers", "PEERS"));
        }
        if !join && !peers.contains_key(&id) {
            return Err(ConfigError::Invalid {
                what: "peers",
                value: format!("{peers:?}"),
                why: format!("the peer list must include this node ({id})"),
            });
        }
        // The listen addresses default to this node's entry in the peer list.
        let me = peers.get(&id);
        let raft_addr = match flags.raft_addr.or(file.raft_addr) {
            Some(a) => a,
            None => parse_addr(
                "raft_addr",
                &me.ok_or(ConfigError::Missing("raft_addr", "raft-addr", "RAFT_ADDR"))?
                    .raft_addr,
            )?,
        };
        let api_addr = match flags.api_addr.or(file.api_addr) {
            Some(a) => a,
            None => parse_addr(
                "api_addr",
                &me.ok_or(ConfigError::Missing("api_addr", "api-addr", "API_ADDR"))?
                    .api_addr,
            )?,
        };
        let tls = match (
            flags.tls_cert.or(file.tls_cert),
            flags.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_ca: flags.tls_client_ca.or(file.tls_client_ca),
            }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    what: "tls",
                    value: String::new(),
                    why: "tls_cert and tls_key go together".into(),
                })
            }
        };
        let peer_tls = match (
            flags.peer_tls_cert.or(file.peer_tls_cert),
            flags.peer_tls_key.or(file.peer_tls_key),
            flags.peer_tls_ca.or(file.peer_tls_ca),
        ) {
            (Some(cert), Some(key), Some(ca)) => Some(PeerTlsFiles { cert, key, ca }),
            (None, None, None) => None,
            (cert, key, ca) => {
                let missing: Vec<&str> = [
                    ("peer_tls_cert", cert.is_none()),
                    ("peer_tls_key", key.is_none()),
                    ("peer_tls_ca", ca.is_none()),
                ]
                .into_iter()
                .filter_map(|(name, absent)| absent.then_some(name))
                .collect();
                return Err(ConfigError::Invalid {
                    what: "peer_tls",
                    value: format!("missing {}", missing.join(", ")),
                    why: "peer_tls_cert, peer_tls_key and peer_tls_ca go together".into(),
                });
            }
        };
        let log_format = flags
            .log_format
            .or(file.log_format)
            .unwrap_or_else(|| "text".into());
        if log_format != "text" && log_format != "json" {
            return Err(ConfigError::Invalid {
                what: "log_format",
                value: log_format,
                why: "text or json".into(),
            });
        }
        let min_free_mb = flags
            .min_free_mb
            .or(file.min_free_mb)
            .unwrap_or(prismnet_raft::disk::MIN_FREE_BYTES_DEFAULT >> 20);
        let min_free_bytes =
            min_free_mb
                .checked_mul(1 << 20)
                .ok_or_else(|| ConfigError::Invalid {
                    what: "min_free_mb",
                    value: min_free_mb.to_string(),
                    why: "too large".into(),
                })?;
        let ovn_nb = flags
            .ovn_nb
            .or(file.ovn_nb)
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Config {
            id,
            data_dir: flags
                .data_dir
                .or(file.data_dir)
                .ok_or(ConfigError::Missing("data_dir", "data-dir", "DATA_DIR"))?,
            raft_addr,
            api_addr,
            peers,
            join,
            cluster_name: flags
                .cluster_name
                .or(file.cluster_name)
                .unwrap_or_else(|| "prismnet".into()),
            ovn_nb,
            heartbeat_ms: flags
                .heartbeat_ms
                .or(file.heartbeat_ms)
                .unwrap_or(prismnet_raft::config::HEARTBEAT_MS_DEFAULT),
            election_min_ms: flags
                .election_min_ms
                .or(file.election_min_ms)
                .unwrap_or(prismnet_raft::config::ELECTION_MIN_MS_DEFAULT),
            election_max_ms: flags
                .election_max_ms
                .or(file.election_max_ms)
                .unwrap_or(prismnet_raft::config::ELECTION_MAX_MS_DEFAULT),
            snapshot_logs: flags
                .snapshot_logs
                .or(file.snapshot_logs)
                .unwrap_or(prismnet_raft::config::SNAPSHOT_LOGS_SINCE_LAST_DEFAULT),
            min_free_bytes,
            log_level: flags
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            json_logs: log_format == "json",
            tokens_file: flags.tokens_file.or(file.tokens_file),
            tls,
            peer_tls,
        })
    }

    /// How peers and clients reach this node: its peer-list entry, or the listen
    /// addresses for a joining node.
    pub fn advertise(&self) -> PeerNode {
        self.peers.get(&self.id).cloned().unwrap_or(PeerNode {
            raft_addr: self.raft_addr.to_string(),
            api_addr: self.api_addr.to_string(),
        })
    }
}

fn parse_addr(what: &'static str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse()
        .map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
            what,
            value: s.into(),
            why: e.to_string(),
        })
}

/// `1=HOST:RAFTPORT/HOST:APIPORT,2=...`
pub fn parse_peers(s: &str) -> Result<BTreeMap<u64, PeerNode>, ConfigError> {
    let bad = |why: &str| ConfigError::Invalid {
        what: "peers",
        value: s.into(),
        why: why.into(),
    };
    let mut peers = BTreeMap::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, addrs) = entry
            .split_once('=')
            .ok_or_else(|| bad("each entry is ID=RAFT_ADDR/API_ADDR"))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| bad("ids are positive integers"))?;
        let (raft, api) = addrs
            .split_once('/')
            .ok_or_else(|| bad("each entry is ID=RAFT_ADDR/API_ADDR"))?;
        for a in [raft, api] {
            if !a.contains(':') {
                return Err(bad("addresses are HOST:PORT"));
            }
        }
        if id == 0
            || peers
                .insert(
                    id,
                    PeerNode {
                        raft_addr: raft.into(),
                        api_addr: api.into(),
                    },
                )
                .is_some()
        {
            return Err(bad("ids are unique and >= 1"));
        }
    }
    Ok(peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::try_parse_from(std::iter::once("prismnetd").chain(args.iter().copied())).unwrap()
    }

    /// A minimal valid command line plus `extra`, resolved.
    fn with(extra: &[&str]) -> Result<Config, ConfigError> {
        let mut args = vec![
            "--id",
            "1",
            "--data-dir",
            "/d",
            "--peers",
            "1=127.0.0.1:1/127.0.0.1:2",
        ];
        args.extend_from_slice(extra);
        Config::resolve(flags(&args))
    }

    #[test]
    fn flags_alone_suffice() {
        let c = Config::resolve(flags(&[
            "--id",
            "2",
            "--data-dir",
            "/tmp/x",
            "--peers",
            "1=127.0.0.1:7101/127.0.0.1:7001,2=127.0.0.2:7101/127.0.0.2:7001,3=127.0.0.3:7101/127.0.0.3:7001",
        ]))
        .unwrap();
        assert_eq!(c.raft_addr.to_string(), "127.0.0.2:7101");
        assert_eq!(c.api_addr.to_string(), "127.0.0.2:7001");
        assert_eq!(c.peers.len(), 3);
        assert_eq!(c.cluster_name, "prismnet");
        assert!(c.ovn_nb.is_empty());
        assert_eq!(c.min_free_bytes, 256 << 20);
    }

    #[test]
    fn min_free_mb_from_every_source() {
        assert_eq!(
            with(&["--min-free-mb", "16"]).unwrap().min_free_bytes,
            16 << 20
        );
        assert_eq!(with(&["--min-free-mb", "0"]).unwrap().min_free_bytes, 0);
        assert!(matches!(
            with(&["--min-free-mb", &u64::MAX.to_string()]),
            Err(ConfigError::Invalid {
                what: "min_free_mb",
                ..
            })
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "min_free_mb = 64\n").unwrap();
        let file = with(&["--config", path.to_str().unwrap()]).unwrap();
        assert_eq!(file.min_free_bytes, 64 << 20);
        let flag_wins = with(&["--config", path.to_str().unwrap(), "--min-free-mb", "8"]).unwrap();
        assert_eq!(flag_wins.min_free_bytes, 8 << 20);
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "id = 1\ndata_dir = \"/d\"\npeers = \"1=127.0.0.1:1/127.0.0.1:2\"\ncluster_name = \"blue\"\novn_nb = \"unix:/a, tcp:127.0.0.1:6641\"\n",
        )
        .unwrap();
        let c = Config::resolve(flags(&[
            "--config",
            path.to_str().unwrap(),
            "--cluster-name",
            "green",
        ]))
        .unwrap();
        assert_eq!(c.cluster_name, "green");
        assert_eq!(c.ovn_nb, ["unix:/a", "tcp:127.0.0.1:6641"]);
        std::fs::write(&path, "id = 1\nbogus = 3\n").unwrap();
        assert!(matches!(
            Config::resolve(flags(&["--config", path.to_str().unwrap()])),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn peer_list_errors() {
        assert!(parse_peers("1=a:1/b:2,1=c:3/d:4").is_err());
        assert!(parse_peers("x=a:1/b:2").is_err());
        assert!(parse_peers("1=a:1").is_err());
        assert!(parse_peers("0=a:1/b:2").is_err());
        let missing_self = Config::resolve(flags(&[
            "--id",
            "4",
            "--data-dir",
            "/d",
            "--peers",
            "1=127.0.0.1:1/127.0.0.1:2",
        ]));
        assert!(matches!(missing_self, Err(ConfigError::Invalid { .. })));
        let join = Config::resolve(flags(&[
            "--id",
            "4",
            "--data-dir",
            "/d",
            "--join",
            "--raft-addr",
            "127.0.0.4:7101",
            "--api-addr",
            "127.0.0.4:7001",
        ]))
        .unwrap();
        assert!(join.join && join.peers.is_empty());
        assert_eq!(join.advertise().api_addr, "127.0.0.4:7001");
    }

    #[test]
    fn peer_tls_all_or_none() {
        assert!(with(&[]).unwrap().peer_tls.is_none());
        let all = with(&[
            "--peer-tls-cert",
            "/c.pem",
            "--peer-tls-key",
            "/c.key",
            "--peer-tls-ca",
            "/ca.pem",
        ])
        .unwrap()
        .peer_tls
        .expect("peer tls");
        assert_eq!(all.ca, PathBuf::from("/ca.pem"));
        match with(&["--peer-tls-cert", "/c.pem", "--peer-tls-key", "/c.key"]) {
            Err(ConfigError::Invalid { what, value, .. }) => {
                assert_eq!(what, "peer_tls");
                assert_eq!(value, "missing peer_tls_ca");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}
