//! PrismNET's transports over turmoil's simulated TCP: the peer transport
//! (`prismnet_raft::seams`), the API server's incoming connections and the
//! client library's dialer (`prismnet_api::Dial`).

use std::io;
use std::sync::Arc;

use prismnet_raft::seams::{Conn, Dial, Incoming};
use turmoil::net::{TcpListener, TcpStream};

/// Port of every node's peer service.
pub const RAFT_PORT: u16 = 7000;
/// Port of every node's public API.
pub const API_PORT: u16 = 9000;

/// Accepted connections of `listener`, as a stream (turmoil's listener has no
/// stream adapter of its own).
fn accept_stream(listener: TcpListener) -> impl tokio_stream::Stream<Item = io::Result<TcpStream>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let conn = listener.accept().await.map(|(s, _)| s);
            if tx.send(conn).await.is_err() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// The peer service's incoming connections on this host.
pub async fn raft_incoming() -> io::Result<Incoming> {
    let listener = TcpListener::bind(("0.0.0.0", RAFT_PORT)).await?;
    let s = tokio_stream::StreamExt::map(accept_stream(listener), |c| c.map(|s| Conn(Box::new(s))));
    Ok(Box::pin(s))
}

/// The API's incoming connections on this host.
pub async fn api_incoming() -> io::Result<impl tokio_stream::Stream<Item = io::Result<Conn>>> {
    let listener = TcpListener::bind(("0.0.0.0", API_PORT)).await?;
    Ok(tokio_stream::StreamExt::map(accept_stream(listener), |c| {
        c.map(|s| Conn(Box::new(s)))
    }))
}

/// How a node dials its peers.
pub fn raft_dial() -> Dial {
    Arc::new(|addr: String| {
        Box::pin(async move { TcpStream::connect(addr).await.map(|s| Conn(Box::new(s))) })
    })
}

/// How a client dials the nodes.
pub fn api_dial() -> prismnet_api::Dial {
    prismnet_api::Dial(Arc::new(|addr: String| {
        Box::pin(async move {
            TcpStream::connect(addr)
                .await
                .map(|s| Box::new(s) as Box<dyn prismnet_api::Io>)
        })
    }))
}
