//! External networks.

use prismnet_api::v1;
use serde::Serialize;

use super::{cell_list, timestamp, Detail, Row};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExternalNetworkOut {
    pub id: String,
    pub name: String,
    pub cidr: String,
    pub gateway_ip: String,
    pub provider_network: String,
    pub gateway_chassis: Vec<String>,
    pub created_at_ms: u64,
}

impl From<v1::ExternalNetwork> for ExternalNetworkOut {
    fn from(e: v1::ExternalNetwork) -> Self {
        ExternalNetworkOut {
            id: e.id,
            name: e.name,
            cidr: e.cidr,
            gateway_ip: e.gateway_ip,
            provider_network: e.provider_network,
            gateway_chassis: e.gateway_chassis,
            created_at_ms: e.created_at_ms,
        }
    }
}

impl Detail for ExternalNetworkOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.clone()),
            ("name", self.name.clone()),
            ("cidr", self.cidr.clone()),
            ("gateway_ip", self.gateway_ip.clone()),
            ("provider_network", self.provider_network.clone()),
            ("gateway_chassis", cell_list(&self.gateway_chassis)),
            ("created_at", timestamp(self.created_at_ms)),
        ]
    }
}

impl Row for ExternalNetworkOut {
    fn headers() -> &'static [&'static str] {
        &["ID", "NAME", "CIDR", "GATEWAY", "PROVIDER", "CHASSIS"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.name.clone(),
            self.cidr.clone(),
            self.gateway_ip.clone(),
            self.provider_network.clone(),
            cell_list(&self.gateway_chassis),
        ]
    }
}
