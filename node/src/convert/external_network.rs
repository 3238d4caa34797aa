//! External networks.

use prismnet_api::v1;
use prismnet_state::command::CreateExternalNetwork;
use prismnet_state::model::ExternalNetwork;
use tonic::Status;

use super::{cidr, ip};

pub fn create(r: &v1::CreateExternalNetworkRequest) -> Result<CreateExternalNetwork, Status> {
    Ok(CreateExternalNetwork {
        name: r.name.clone(),
        cidr: cidr("cidr", &r.cidr)?,
        gateway_ip: ip("gateway_ip", &r.gateway_ip)?,
        reserved: Vec::new(),
        provider_network: r.provider_network.clone(),
        gateway_chassis: r.gateway_chassis.clone(),
    })
}

pub fn to_proto(n: &ExternalNetwork) -> v1::ExternalNetwork {
    v1::ExternalNetwork {
        id: n.id.to_string(),
        name: n.name.clone(),
        cidr: n.addresses.cidr().to_string(),
        gateway_ip: n.gateway_ip().to_string(),
        provider_network: n.provider_network.clone(),
        gateway_chassis: n.gateway_chassis.clone(),
        created_at_ms: n.created_ms,
    }
}
