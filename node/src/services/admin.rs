//! AdminService: cluster status and membership. Status and snapshots are answered by
//! the node asked, from its own view; membership changes go to the leader.

use prismnet_api::v1;
use prismnet_api::v1::admin_service_server::AdminService;
use prismnet_raft::disk::human_bytes;
use prismnet_raft::{DiskSpace, NodeStatus, PeerNode, Role};
use prismnet_state::{Actor, Command, SettingsPatch, State};
use tonic::{Request, Response, Status};

use super::Service;
use crate::errors::{admin_only, cluster_error, invalid};

fn role(r: Role) -> v1::NodeRole {
    match r {
        Role::Leader => v1::NodeRole::Leader,
        Role::Follower => v1::NodeRole::Follower,
        Role::Learner => v1::NodeRole::Learner,
        Role::Candidate => v1::NodeRole::Candidate,
        Role::Shutdown => v1::NodeRole::Unspecified,
    }
}

/// This node's own OVN NB standing: the one it can vouch for.
#[derive(Clone, Copy, Debug, Default)]
pub struct OwnNb {
    pub connected: bool,
    pub fenced_out: bool,
}

/// This node's view of the cluster; `own_nb` is this node's own NB standing (it
/// can vouch only for itself).
pub fn cluster_status(st: &NodeStatus, own_nb: OwnNb) -> v1::ClusterStatusResponse {
    let members = st
        .voters
        .iter()
        .map(|(id, n)| (*id, n, true))
        .chain(st.learners.iter().map(|(id, n)| (*id, n, false)));
    let nodes = members
        .map(|(id, n, voter)| {
            let r = if id == st.id {
                role(st.role)
            } else if Some(id) == st.leader_id {
                v1::NodeRole::Leader
            } else if voter {
                v1::NodeRole::Follower
            } else {
                v1::NodeRole::Learner
            };
            let matched_index = st.matched.as_ref().and_then(|m| m.get(&id).copied());
            // What this node can vouch for: itself, its leader, and (as leader) the
            // members that acknowledged replication.
            let reachable = id == st.id || Some(id) == st.leader_id || matched_index.is_some();
            let disk = if id == st.id {
                st.disk
            } else {
                st.peer_disks.get(&id).copied()
            };
            let fatal = if id == st.id { st.fatal.clone() } else { None };
            let error = fatal
                .or_else(|| disk.filter(DiskSpace::is_low).map(disk_low))
                .unwrap_or_default();
            v1::NodeStatus {
                id,
                raft_addr: n.raft_addr.clone(),
                api_addr: n.api_addr.clone(),
                role: r as i32,
                matched_index,
                health: Some(v1::NodeHealth {
                    reachable,
                    last_contact_ms_ago: if id == st.id {
                        Some(0)
                    } else {
                        st.peer_contacts
                            .get(&id)
                            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                    },
                    ovn_nb_connected: id == st.id && own_nb.connected,
                    ovn_fenced_out: id == st.id && own_nb.fenced_out,
                    error,
                    disk: disk.map(|d| v1::DiskHealth {
                        free_bytes: d.free_bytes,
                        min_free_bytes: d.min_free_bytes,
                        low: d.is_low(),
                    }),
                }),
            }
        })
        .collect();
    v1::ClusterStatusResponse {
        node_id: st.id,
        leader_id: st.leader_id,
        term: st.term,
        commit_index: st.committed,
        applied_index: st.applied,
        nodes,
    }
}

/// The settings and the request log's figures, as the API shows them.
fn settings(s: &State) -> v1::ClusterSettings {
    let st = s.settings();
    let log = s.request_log();
    let prefix = &st.mac_prefix.octets[..usize::from(st.mac_prefix.len_bytes)];
    v1::ClusterSettings {
        request_id_retention: st.request_id_retention,
        request_ids_remembered: log.len() as u64,
        requests_forgotten_through: log.forgotten_through(),
        oldest_request_index: log.oldest_index().unwrap_or(0),
        incarnation: s
            .incarnation()
            .map(|i| format!("{i:032x}"))
            .unwrap_or_default(),
        mac_prefix: prefix
            .iter()
            .map(|o| format!("{o:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        revision: s.last_index(),
    }
}

fn disk_low(d: DiskSpace) -> String {
    format!(
        "disk low: {} free, minimum {}",
        human_bytes(d.free_bytes),
        human_bytes(d.min_free_bytes)
    )
}

impl Service {
    fn own_nb(&self) -> OwnNb {
        self.ctx.ovn.as_ref().map_or(OwnNb::default(), |o| OwnNb {
            connected: o.nb_connected(),
            fenced_out: o.fenced_out(),
        })
    }

    pub(crate) fn require_admin(
        &self,
        req_md: &tonic::metadata::MetadataMap,
        what: &str,
    ) -> Result<(), Status> {
        match self.ctx.actor(req_md)? {
            Actor::Admin => Ok(()),
            Actor::Project(_) => Err(admin_only(what)),
        }
    }
}

#[tonic::async_trait]
impl AdminService for Service {
    async fn cluster_status(
        &self,
        req: Request<v1::ClusterStatusRequest>,
    ) -> Result<Response<v1::ClusterStatusResponse>, Status> {
        self.ctx.actor(req.metadata())?;
        Ok(Response::new(cluster_status(
            &self.ctx.raft.status(),
            self.own_nb(),
        )))
    }

    async fn add_node(
        &self,
        req: Request<v1::AddNodeRequest>,
    ) -> Result<Response<v1::ClusterStatusResponse>, Status> {
        self.require_admin(req.metadata(), "adding a node")?;
        let r = req.get_ref();
        if r.id == 0 {
            return Err(invalid(
                "invalid_argument",
                "id",
                "0",
                "node ids start at 1",
            ));
        }
        for (field, a) in [("raft_addr", &r.raft_addr), ("api_addr", &r.api_addr)] {
            if a.parse::<std::net::SocketAddr>().is_err() {
                return Err(invalid(
                    "invalid_argument",
                    field,
                    a,
                    "expected HOST:PORT with an IP address",
                ));
            }
        }
        let peer = PeerNode {
            raft_addr: r.raft_addr.clone(),
            api_addr: r.api_addr.clone(),
        };
        self.ctx
            .raft
            .add_node(r.id, peer)
            .await
            .map_err(cluster_error)?;
        Ok(Response::new(cluster_status(
            &self.ctx.raft.status(),
            self.own_nb(),
        )))
    }

    async fn remove_node(
        &self,
        req: Request<v1::RemoveNodeRequest>,
    ) -> Result<Response<v1::ClusterStatusResponse>, Status> {
        self.require_admin(req.metadata(), "removing a node")?;
        self.ctx
            .raft
            .remove_node(req.get_ref().id)
            .await
            .map_err(cluster_error)?;
        Ok(Response::new(cluster_status(
            &self.ctx.raft.status(),
            self.own_nb(),
        )))
    }

    async fn trigger_snapshot(
        &self,
        req: Request<v1::TriggerSnapshotRequest>,
    ) -> Result<Response<v1::TriggerSnapshotResponse>, Status> {
        self.require_admin(req.metadata(), "triggering a snapshot")?;
        self.ctx
            .raft
            .trigger_snapshot()
            .await
            .map_err(cluster_error)?;
        let st = self.ctx.raft.status();
        Ok(Response::new(v1::TriggerSnapshotResponse {
            node_id: st.id,
            snapshot_index: st.applied,
        }))
    }

    async fn get_settings(
        &self,
        req: Request<v1::GetSettingsRequest>,
    ) -> Result<Response<v1::ClusterSettings>, Status> {
        self.require_admin(req.metadata(), "reading the cluster settings")?;
        let s = self.ctx.read(req.metadata(), |s| Ok(settings(s))).await?;
        Ok(Response::new(s))
    }

    async fn update_settings(
        &self,
        req: Request<v1::UpdateSettingsRequest>,
    ) -> Result<Response<v1::ClusterSettings>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::UpdateSettings(SettingsPatch {
            request_id_retention: r.request_id_retention,
            ..Default::default()
        });
        self.ctx
            .write(req.metadata(), actor, &r.request_id, cmd)
            .await?;
        Ok(Response::new(self.ctx.local(settings)))
    }

    async fn state_digest(
        &self,
        req: Request<v1::StateDigestRequest>,
    ) -> Result<Response<v1::StateDigestResponse>, Status> {
        self.require_admin(req.metadata(), "reading the state digest")?;
        let (applied_index, digest) = self
            .ctx
            .raft
            .state_digest()
            .await
            .map_err(crate::errors::read_error)?;
        Ok(Response::new(v1::StateDigestResponse {
            node_id: self.ctx.raft.id(),
            applied_index,
            digest: format!("{digest:032x}"),
        }))
    }
}
