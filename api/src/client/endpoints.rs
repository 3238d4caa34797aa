//! Channels per endpoint and the cached leader, shared by all clones of a client.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::config::{Dial, Io};
use super::error::ClientError;

/// Unanswered TCP keepalive probes before the kernel drops a connection. With the
/// default 1 s idle time and interval, a dead host is dropped after ~4 s of silence
/// even if the HTTP/2 PINGs (which notice it sooner) were not running.
const TCP_KEEPALIVE_RETRIES: u32 = 3;

/// How each channel connects and notices a silent peer (see [`super::ClientConfig`]).
#[derive(Clone, Debug)]
pub(crate) struct ConnectSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) keepalive_interval: Duration,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) tcp_keepalive: Option<Duration>,
    pub(crate) dial: Option<Dial>,
}

pub(crate) struct Endpoints {
    /// Configured endpoints, normalized to URIs, in the caller's order.
    list: Vec<String>,
    tls: Option<ClientTlsConfig>,
    settings: ConnectSettings,
    /// One channel per URI: a tonic Channel multiplexes calls over one HTTP/2
    /// connection and reconnects by itself, so it is built once and reused.
    channels: Mutex<HashMap<String, Channel>>,
    /// URI of the node that last answered a leader-only call.
    leader: Mutex<Option<String>>,
}

impl Endpoints {
    pub(crate) fn new(
        endpoints: &[String],
        tls: Option<ClientTlsConfig>,
        settings: ConnectSettings,
    ) -> Result<Self, ClientError> {
        if endpoints.is_empty() {
            return Err(ClientError::config("no endpoints configured"));
        }
        let secure = tls.is_some();
        let mut list = Vec::with_capacity(endpoints.len());
        for e in endpoints {
            let uri = normalize(e, secure)
                .ok_or_else(|| ClientError::config(format!("bad endpoint {e:?}")))?;
            if !list.contains(&uri) {
                list.push(uri);
            }
        }
        Ok(Endpoints {
            list,
            tls,
            settings,
            channels: Mutex::new(HashMap::new()),
            leader: Mutex::new(None),
        })
    }

    pub(crate) fn list(&self) -> &[String] {
        &self.list
    }

    /// Turns a leader address from a redirect (`host:port`) into a URI.
    pub(crate) fn normalize(&self, addr: &str) -> Option<String> {
        normalize(addr, self.tls.is_some())
    }

    pub(crate) fn leader(&self) -> Option<String> {
        lock(&self.leader).clone()
    }

    pub(crate) fn set_leader(&self, uri: &str) {
        let mut leader = lock(&self.leader);
        if leader.as_deref() != Some(uri) {
            tracing::debug!(leader = uri, "prismnet client: leader cached");
            *leader = Some(uri.to_string());
        }
    }

    /// Drops the cached leader if it is `uri` (it failed or stepped down).
    pub(crate) fn forget_leader(&self, uri: &str) {
        let mut leader = lock(&self.leader);
        if leader.as_deref() == Some(uri) {
            *leader = None;
        }
    }

    pub(crate) fn channel(&self, uri: &str) -> Result<Channel, ClientError> {
        let mut channels = lock(&self.channels);
        if let Some(ch) = channels.get(uri) {
            return Ok(ch.clone());
        }
        let s = &self.settings;
        let mut endpoint = Endpoint::from_shared(uri.to_string())
            .map_err(|e| ClientError::config(format!("bad endpoint {uri:?}: {e}")))?
            .connect_timeout(s.connect_timeout)
            .tcp_nodelay(true)
            // PINGs notice a silent node (paused, or its packets dropped) within
            // interval + timeout and close the connection: calls in flight on it
            // fail over at once, and the next ones go to a fresh connection instead
            // of waiting for an attempt timeout each. While idle too, so that an idle
            // client's first call after the fault does not land in a dead connection.
            .http2_keep_alive_interval(s.keepalive_interval)
            .keep_alive_timeout(s.keepalive_timeout)
            .keep_alive_while_idle(true)
            // tonic has no TCP_USER_TIMEOUT; the PINGs cover unacknowledged data.
            .tcp_keepalive(s.tcp_keepalive)
            .tcp_keepalive_interval(s.tcp_keepalive)
            .tcp_keepalive_retries(s.tcp_keepalive.map(|_| TCP_KEEPALIVE_RETRIES));
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| ClientError::config(format!("TLS config for {uri:?}: {e}")))?;
        }
        // Lazy: a node that is down must not fail the client, only calls routed to it.
        let ch = match &s.dial {
            None => endpoint.connect_lazy(),
            Some(dial) => endpoint.connect_with_connector_lazy(connector(dial.clone())),
        };
        channels.insert(uri.to_string(), ch.clone());
        Ok(ch)
    }
}

/// tonic's connector over a [`Dial`]: each new connection dials the URI's
/// `host:port`. Its twin in `raft/src/network/client.rs` serves the other crate: the dependency
/// rules keep `raft/` and `api/` apart, so the seven lines live in both.
fn connector(
    dial: Dial,
) -> impl tower::Service<
    tonic::codegen::http::Uri,
    Response = hyper_util::rt::TokioIo<Box<dyn Io>>,
    Error = std::io::Error,
    Future = impl Send,
> + Send
       + 'static {
    tower::service_fn(move |uri: tonic::codegen::http::Uri| {
        let (dial, addr) = (dial.clone(), uri.authority().map(|a| a.to_string()));
        async move {
            let addr = addr.ok_or_else(|| std::io::Error::other("endpoint without host:port"))?;
            (dial.0)(addr).await.map(hyper_util::rt::TokioIo::new)
        }
    })
}

/// A poisoned lock only means another call panicked while holding it; the data (a
/// cache) is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn normalize(addr: &str, secure: bool) -> Option<String> {
    let addr = addr.trim().trim_end_matches('/');
    if addr.is_empty() {
        return None;
    }
    let uri = if addr.contains("://") {
        addr.to_string()
    } else if secure {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    };
    Endpoint::from_shared(uri.clone()).ok().map(|_| uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_endpoints() {
        assert_eq!(
            normalize("10.0.0.1:7000", false).as_deref(),
            Some("http://10.0.0.1:7000")
        );
        assert_eq!(
            normalize("node1:7000", true).as_deref(),
            Some("https://node1:7000")
        );
        assert_eq!(
            normalize(" http://[::1]:7000/ ", true).as_deref(),
            Some("http://[::1]:7000")
        );
        assert_eq!(normalize("", false), None);
        assert_eq!(normalize("bad host:1", false), None);
    }
}
