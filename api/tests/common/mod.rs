//! A fake PrismNET cluster for client-library tests: real tonic servers on
//! 127.0.0.1 ephemeral ports, with a settable "leader". Each node answers like the
//! real node's API front: followers redirect, nodes without a leader say no_leader.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prismnet_api::errors::{
    no_leader_status, not_leader_status, reasons, status_with_info, status_with_reason,
};
use prismnet_api::metadata::{bearer_token, wants_stale_read};
use prismnet_api::v1::admin_service_server::{AdminService, AdminServiceServer};
use prismnet_api::v1::port_service_server::{PortService, PortServiceServer};
use prismnet_api::v1::*;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};

/// One request as a fake node saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub node: usize,
    pub method: &'static str,
    pub request_id: String,
    pub stale: bool,
    pub auth: Option<String>,
}

pub struct Cluster {
    /// host:port of each node's API.
    pub addrs: Vec<String>,
    pub leader: Mutex<Option<usize>>,
    pub seen: Mutex<Vec<Seen>>,
    pub token: Option<String>,
    /// Followers redirect without naming the leader's address.
    pub hide_leader_addr: AtomicBool,
    /// Per node: record CreatePort / GetPort calls, then never answer them (like a
    /// paused process whose kernel still accepts the bytes).
    pub silent: Vec<AtomicBool>,
    shutdown: Mutex<Vec<Option<oneshot::Sender<()>>>>,
}

impl Cluster {
    /// Starts `n` nodes; `leader` is the index of the initial leader.
    pub async fn start(n: usize, leader: Option<usize>, token: Option<&str>) -> Arc<Cluster> {
        let mut listeners = Vec::new();
        for _ in 0..n {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            listeners.push(l);
        }
        let addrs = listeners
            .iter()
            .map(|l| l.local_addr().expect("addr").to_string())
            .collect();
        let cluster = Arc::new(Cluster {
            addrs,
            leader: Mutex::new(leader),
            seen: Mutex::new(Vec::new()),
            token: token.map(str::to_string),
            hide_leader_addr: AtomicBool::new(false),
            silent: (0..n).map(|_| AtomicBool::new(false)).collect(),
            shutdown: Mutex::new(Vec::new()),
        });
        for (id, listener) in listeners.into_iter().enumerate() {
            let node = FakeNode {
                id,
                cluster: cluster.clone(),
            };
            let (tx, rx) = oneshot::channel();
            cluster.shutdown.lock().unwrap().push(Some(tx));
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(PortServiceServer::new(node.clone()))
                    .add_service(AdminServiceServer::new(node))
                    .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                        let _ = rx.await;
                    }),
            );
        }
        cluster
    }

    /// Makes node `id` stop (or resume) answering CreatePort and GetPort.
    pub fn set_silent(&self, id: usize, silent: bool) {
        self.silent[id].store(silent, Ordering::SeqCst);
    }

    pub fn set_leader(&self, leader: Option<usize>) {
        *self.leader.lock().unwrap() = leader;
    }

    /// Stops node `id`'s server (it stops accepting; open connections are closed).
    pub fn stop(&self, id: usize) {
        if let Some(tx) = self.shutdown.lock().unwrap()[id].take() {
            let _ = tx.send(());
        }
    }

    pub fn seen(&self, method: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method)
            .cloned()
            .collect()
    }

    pub fn endpoint(&self, id: usize) -> String {
        format!("http://{}", self.addrs[id])
    }
}

/// An address nothing listens on.
pub async fn dead_addr() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    drop(l);
    addr
}

#[derive(Clone)]
struct FakeNode {
    id: usize,
    cluster: Arc<Cluster>,
}

impl FakeNode {
    /// Never returns while this node is silent (the caller gives up).
    async fn hang_if_silent(&self) {
        if self.cluster.silent[self.id].load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }

    /// Records the call, then authenticates and routes it like the real node would.
    fn admit(
        &self,
        md: &MetadataMap,
        method: &'static str,
        request_id: &str,
        redirect: bool,
    ) -> Result<(), Status> {
        let stale = wants_stale_read(md);
        self.cluster.seen.lock().unwrap().push(Seen {
            node: self.id,
            method,
            request_id: request_id.to_string(),
            stale,
            auth: md
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        });
        if let Some(token) = &self.cluster.token {
            if bearer_token(md) != Some(token.as_str()) {
                return Err(status_with_reason(
                    Code::Unauthenticated,
                    reasons::UNAUTHENTICATED,
                    "bad token",
                ));
            }
        }
        if !redirect || stale {
            return Ok(());
        }
        let leader = *self.cluster.leader.lock().unwrap();
        match leader {
            Some(l) if l == self.id => Ok(()),
            Some(l) => {
                let addr = (!self.cluster.hide_leader_addr.load(Ordering::SeqCst))
                    .then(|| self.cluster.addrs[l].as_str());
                Err(not_leader_status(Some(l as u64), addr))
            }
            None => Err(no_leader_status()),
        }
    }
}

#[tonic::async_trait]
impl PortService for FakeNode {
    async fn create_port(
        &self,
        request: Request<CreatePortRequest>,
    ) -> Result<Response<CreatePortResponse>, Status> {
        let req = request.get_ref();
        let admitted = self.admit(request.metadata(), "create_port", &req.request_id, true);
        self.hang_if_silent().await;
        admitted?;
        if req.subnet_id == "disk-full" {
            // What a leader answers when it refused the write before proposing.
            let info = [("nodes".to_string(), "2,3".to_string())].into();
            return Err(status_with_info(
                Code::ResourceExhausted,
                reasons::DISK_FULL,
                "not enough free disk space to accept writes: node 2 has 1.0 MiB free, minimum 16.0 MiB",
                info,
                MetadataMap::new(),
            ));
        }
        if let Some(applied) = match req.subnet_id.as_str() {
            "full-applied" => Some(true),
            "full-unmarked" => Some(false),
            _ => None,
        } {
            // What a leader answers when the state machine refused the write.
            let mut md = MetadataMap::new();
            if applied {
                md.insert(
                    prismnet_api::metadata::APPLIED_HEADER,
                    tonic::metadata::MetadataValue::from_static("1"),
                );
            }
            return Err(status_with_info(
                Code::ResourceExhausted,
                reasons::SUBNET_FULL,
                "subnet is full",
                Default::default(),
                md,
            ));
        }
        if req.subnet_id == "bad-cidr" {
            let info = [("cidr".to_string(), "10.0.0.0/33".to_string())].into();
            return Err(status_with_info(
                Code::InvalidArgument,
                reasons::INVALID_CIDR,
                "10.0.0.0/33 is not a CIDR",
                info,
                MetadataMap::new(),
            ));
        }
        Ok(Response::new(CreatePortResponse {
            port: Some(Port {
                id: req.request_id.clone(),
                subnet_id: req.subnet_id.clone(),
                host: format!("node{}", self.id),
                ..Default::default()
            }),
            mtu: 1442,
            ..Default::default()
        }))
    }

    async fn get_port(&self, request: Request<GetPortRequest>) -> Result<Response<Port>, Status> {
        let admitted = self.admit(request.metadata(), "get_port", "", true);
        self.hang_if_silent().await;
        admitted?;
        let id = request.into_inner().port_id;
        match id.as_str() {
            "missing" => Err(status_with_reason(
                Code::NotFound,
                reasons::NOT_FOUND,
                "no such port",
            )),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Err(Status::internal("too late"))
            }
            _ => Ok(Response::new(Port {
                id,
                host: format!("node{}", self.id),
                ..Default::default()
            })),
        }
    }

    async fn bind_port(&self, _: Request<BindPortRequest>) -> Result<Response<Port>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn update_port(&self, _: Request<UpdatePortRequest>) -> Result<Response<Port>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn delete_port(
        &self,
        _: Request<DeletePortRequest>,
    ) -> Result<Response<DeletePortResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_ports(
        &self,
        _: Request<ListPortsRequest>,
    ) -> Result<Response<ListPortsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn wait_port_up(&self, _: Request<WaitPortUpRequest>) -> Result<Response<Port>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

#[tonic::async_trait]
impl AdminService for FakeNode {
    async fn cluster_status(
        &self,
        request: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        // Never redirected, like the real node.
        self.admit(request.metadata(), "cluster_status", "", false)?;
        let leader = *self.cluster.leader.lock().unwrap();
        Ok(Response::new(ClusterStatusResponse {
            node_id: self.id as u64,
            leader_id: leader.map(|l| l as u64),
            ..Default::default()
        }))
    }

    async fn add_node(
        &self,
        _: Request<AddNodeRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn remove_node(
        &self,
        _: Request<RemoveNodeRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn trigger_snapshot(
        &self,
        _: Request<TriggerSnapshotRequest>,
    ) -> Result<Response<TriggerSnapshotResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_settings(
        &self,
        _: Request<GetSettingsRequest>,
    ) -> Result<Response<ClusterSettings>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn update_settings(
        &self,
        _: Request<UpdateSettingsRequest>,
    ) -> Result<Response<ClusterSettings>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn state_digest(
        &self,
        _: Request<StateDigestRequest>,
    ) -> Result<Response<StateDigestResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}
