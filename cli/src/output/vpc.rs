//! VPCs.

use prismnet_api::v1;
use serde::Serialize;

use super::subnet::RouteOut;
use super::{cell, cell_list, opt, timestamp, yes_no, Detail, Row};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayOut {
    pub external_network_id: String,
    pub enable_snat: bool,
    pub external_ip: Option<String>,
    pub mac: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VpcOut {
    pub id: String,
    pub org: String,
    pub project: String,
    pub name: String,
    pub cidr_blocks: Vec<String>,
    /// `null`: no gateway.
    pub external_gateway: Option<GatewayOut>,
    pub static_routes: Vec<RouteOut>,
    pub created_at_ms: u64,
}

impl From<v1::Vpc> for VpcOut {
    fn from(v: v1::Vpc) -> Self {
        VpcOut {
            external_gateway: v.external_gateway.map(|g| GatewayOut {
                external_ip: opt(&g.external_ip),
                mac: opt(&g.mac),
                external_network_id: g.external_network_id,
                enable_snat: g.enable_snat,
            }),
            static_routes: v.static_routes.into_iter().map(Into::into).collect(),
            id: v.id,
            org: v.org,
            project: v.project,
            name: v.name,
            cidr_blocks: v.cidr_blocks,
            created_at_ms: v.created_at_ms,
        }
    }
}

impl VpcOut {
    fn gateway_cell(&self) -> String {
        match &self.external_gateway {
            None => "-".to_string(),
            Some(g) => format!(
                "{} ip={} snat={}",
                g.external_network_id,
                g.external_ip.as_deref().unwrap_or("-"),
                yes_no(g.enable_snat)
            ),
        }
    }
}

impl Detail for VpcOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let routes: Vec<String> = self.static_routes.iter().map(|r| r.to_string()).collect();
        vec![
            ("id", self.id.clone()),
            ("name", cell(&self.name)),
            ("org", cell(&self.org)),
            ("project", self.project.clone()),
            ("cidr_blocks", cell_list(&self.cidr_blocks)),
            ("external_gateway", self.gateway_cell()),
            ("static_routes", cell_list(&routes)),
            ("created_at", timestamp(self.created_at_ms)),
        ]
    }
}

impl Row for VpcOut {
    fn headers() -> &'static [&'static str] {
        &["ID", "NAME", "PROJECT", "CIDRS", "GATEWAY", "ROUTES"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            cell(&self.name),
            self.project.clone(),
            cell_list(&self.cidr_blocks),
            self.external_gateway
                .as_ref()
                .map(|g| g.external_network_id.clone())
                .unwrap_or_else(|| "-".to_string()),
            self.static_routes.len().to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{one, Format};

    #[test]
    fn json_shape() {
        let v = v1::Vpc {
            id: "v-1".into(),
            project: "demo".into(),
            name: "main".into(),
            cidr_blocks: vec!["10.0.0.0/16".into(), "fd00::/48".into()],
            static_routes: vec![v1::Route {
                destination: "0.0.0.0/0".into(),
                nexthop: "10.0.0.254".into(),
            }],
            ..Default::default()
        };
        let j: serde_json::Value =
            serde_json::from_str(&one(Format::Json, &VpcOut::from(v.clone())).unwrap()).unwrap();
        assert_eq!(j["id"], "v-1");
        assert_eq!(j["external_gateway"], serde_json::Value::Null);
        assert_eq!(j["static_routes"][0]["nexthop"], "10.0.0.254");
        let mut v = v;
        v.external_gateway = Some(v1::ExternalGateway {
            external_network_id: "e-1".into(),
            enable_snat: true,
            external_ip: "203.0.113.5".into(),
            mac: String::new(),
        });
        let out = VpcOut::from(v);
        let j: serde_json::Value = serde_json::from_str(&one(Format::Json, &out).unwrap()).unwrap();
        assert_eq!(j["external_gateway"]["external_ip"], "203.0.113.5");
        assert_eq!(j["external_gateway"]["mac"], serde_json::Value::Null);
        let t = one(Format::Table, &out).unwrap();
        assert!(
            t.contains("external_gateway  e-1 ip=203.0.113.5 snat=yes\n"),
            "{t}"
        );
        assert!(
            t.contains("static_routes     0.0.0.0/0=10.0.0.254\n"),
            "{t}"
        );
    }
}
