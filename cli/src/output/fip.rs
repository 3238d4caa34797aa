//! Floating IPs.

use prismnet_api::v1;
use serde::Serialize;

use super::{cell, cell_opt, opt, timestamp, Detail, Row};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloatingIpOut {
    pub id: String,
    pub org: String,
    pub project: String,
    pub external_network_id: String,
    pub floating_ip_address: String,
    /// `null` while not associated.
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
    pub created_at_ms: u64,
}

impl From<v1::FloatingIp> for FloatingIpOut {
    fn from(f: v1::FloatingIp) -> Self {
        FloatingIpOut {
            port_id: opt(&f.port_id),
            fixed_ip_address: opt(&f.fixed_ip_address),
            id: f.id,
            org: f.org,
            project: f.project,
            external_network_id: f.external_network_id,
            floating_ip_address: f.floating_ip_address,
            created_at_ms: f.created_at_ms,
        }
    }
}

impl Detail for FloatingIpOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.clone()),
            ("org", cell(&self.org)),
            ("project", self.project.clone()),
            ("external_network_id", self.external_network_id.clone()),
            ("floating_ip_address", self.floating_ip_address.clone()),
            ("port_id", cell_opt(&self.port_id)),
            ("fixed_ip_address", cell_opt(&self.fixed_ip_address)),
            ("created_at", timestamp(self.created_at_ms)),
        ]
    }
}

impl Row for FloatingIpOut {
    fn headers() -> &'static [&'static str] {
        &["ID", "ADDRESS", "EXTNET", "PORT", "FIXED_IP"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.floating_ip_address.clone(),
            self.external_network_id.clone(),
            cell_opt(&self.port_id),
            cell_opt(&self.fixed_ip_address),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{one, Format};

    #[test]
    fn unassociated_is_null() {
        let f = v1::FloatingIp {
            id: "f-1".into(),
            floating_ip_address: "203.0.113.7".into(),
            ..Default::default()
        };
        let j: serde_json::Value =
            serde_json::from_str(&one(Format::Json, &FloatingIpOut::from(f)).unwrap()).unwrap();
        assert_eq!(j["id"], "f-1");
        assert_eq!(j["port_id"], serde_json::Value::Null);
        assert_eq!(j["fixed_ip_address"], serde_json::Value::Null);
    }
}
