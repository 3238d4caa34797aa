//! Floating IPs.

use prismnet_api::v1;
use prismnet_state::model::FloatingIp;

pub fn to_proto(f: &FloatingIp) -> v1::FloatingIp {
    v1::FloatingIp {
        id: f.id.to_string(),
        org: f.scope.org.clone(),
        project: f.scope.project.clone(),
        external_network_id: f.network_id.to_string(),
        floating_ip_address: f.ip.to_string(),
        port_id: f.port_id.map(|p| p.to_string()).unwrap_or_default(),
        fixed_ip_address: f.fixed_ip.map(|p| p.to_string()).unwrap_or_default(),
        created_at_ms: f.created_ms,
    }
}
