//! Floating IPs: an external address of a project, optionally NATed to a port.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::id::Id;
use crate::scope::Scope;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatingIp {
    pub id: Id,
    pub scope: Scope,
    pub network_id: Id,
    /// Invariant: held in the external network's pool by this floating IP only.
    pub ip: IpAddr,
    /// Invariant: both set or both unset; the port is in the same project and its
    /// VPC has a gateway on `network_id`.
    pub port_id: Option<Id>,
    pub fixed_ip: Option<IpAddr>,
    pub created_ms: u64,
    pub updated_ms: u64,
}
