//! External networks: provider networks VPC gateways and floating IPs attach to.
//! Global and admin-managed; every tenant may use them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::id::Id;
use crate::model::subnet::SubnetFamily;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalNetwork {
    pub id: Id,
    pub name: String,
    /// The block, its upstream gateway, and the allocator of gateway and floating
    /// addresses.
    pub addresses: SubnetFamily,
    /// Name OVN maps to a bridge on the gateway chassis (`ovn-bridge-mappings`).
    pub provider_network: String,
    pub gateway_chassis: Vec<String>,
    pub created_ms: u64,
}

impl ExternalNetwork {
    pub fn gateway_ip(&self) -> IpAddr {
        self.addresses.gateway()
    }
}
