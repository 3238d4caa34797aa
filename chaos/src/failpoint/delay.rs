//! Delayed links: the kernel here has no netem, so a small TCP proxy stands in
//! front of each node's Raft port when the delay nemesis is in a run. Peers dial
//! the proxy (the node's advertised Raft address) and the proxy forwards to the
//! node; what arrives is held for the current delay before it is passed on, in
//! order, in both directions. The delay is read from a file (milliseconds) every
//! 100 ms, so the nemesis changes it without restarting anything.
//!
//! The proxy runs in the node's namespace (`prismnet-chaos proxy`), so nftables
//! partitions still see the peers' own addresses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cluster::sys::{io_err, Result};

/// Chunks in flight per direction of one connection (a bound on memory).
const CHUNKS_IN_FLIGHT_MAX: usize = 1024;
const CHUNK_BYTES_MAX: usize = 64 * 1024;
/// How often the delay file is read.
const RELOAD: Duration = Duration::from_millis(100);

/// The delay file of the proxy in front of the node whose run dir is `node_dir`.
pub fn delay_file(node_dir: &Path) -> PathBuf {
    node_dir.join("raft-delay-ms")
}

pub fn set(file: &Path, ms: u64) -> Result<()> {
    std::fs::write(file, format!("{ms}\n")).map_err(io_err(file.display().to_string()))
}

/// Runs the proxy until the process is killed.
pub async fn proxy(listen: SocketAddr, to: SocketAddr, file: PathBuf) -> std::io::Result<()> {
    let delay = Arc::new(AtomicU64::new(0));
    let d = delay.clone();
    tokio::spawn(async move {
        loop {
            if let Some(ms) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                d.store(ms, Ordering::Relaxed);
            }
            tokio::time::sleep(RELOAD).await;
        }
    });
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (inbound, _) = listener.accept().await?;
        let delay = delay.clone();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(to).await else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            tokio::spawn(pipe(ri, wo, delay.clone()));
            tokio::spawn(pipe(ro, wi, delay));
        });
    }
}

/// Copies `r` to `w`, each chunk held until the delay in force when it arrived
/// has passed.
async fn pipe(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    delay: Arc<AtomicU64>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(CHUNKS_IN_FLIGHT_MAX);
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if w.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    let mut buf = vec![0u8; CHUNK_BYTES_MAX];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let due = Instant::now() + Duration::from_millis(delay.load(Ordering::Relaxed));
                if tx.send((due, buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}
