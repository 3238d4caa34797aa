//! A VPC: address blocks, one implicit router joining all its subnets, an optional
//! external gateway and static routes.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::id::Id;
use crate::net::{Cidr, Mac};
use crate::scope::Scope;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    pub id: Id,
    pub scope: Scope,
    pub name: String,
    /// Invariant: non-empty, pairwise non-overlapping; every subnet of the VPC lies
    /// inside one of them.
    pub cidr_blocks: Vec<Cidr>,
    pub gateway: Option<ExternalGateway>,
    pub routes: Vec<StaticRoute>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// The router's uplink to an external network. Its address is held in that
/// network's pool and its MAC in the cluster MAC pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalGateway {
    pub network_id: Id,
    pub enable_snat: bool,
    pub ip: IpAddr,
    pub mac: Mac,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StaticRoute {
    pub destination: Cidr,
    pub nexthop: IpAddr,
}
