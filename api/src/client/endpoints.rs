//! Channels per endpoint and the cached leader, shared by all clones of a client.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::error::ClientError;

pub(crate) struct Endpoints {
    /// Configured endpoints, normalized to URIs, in the caller's order.
    list: Vec<String>,
    tls: Option<ClientTlsConfig>,
    connect_timeout: Duration,
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
        connect_timeout: Duration,
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
            connect_timeout,
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
        let mut endpoint = Endpoint::from_shared(uri.to_string())
            .map_err(|e| ClientError::config(format!("bad endpoint {uri:?}: {e}")))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            // Keepalives notice a silently dead node on an idle connection, so the
            // next call fails over instead of hanging until its deadline.
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| ClientError::config(format!("TLS config for {uri:?}: {e}")))?;
        }
        // Lazy: a node that is down must not fail the client, only calls routed to it.
        let ch = endpoint.connect_lazy();
        channels.insert(uri.to_string(), ch.clone());
        Ok(ch)
    }
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
