//! Projects and quotas.

use prismnet_api::v1;
use serde::Serialize;

use super::{timestamp, Detail, Row};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct QuotasOut {
    pub vpcs: u32,
    pub subnets: u32,
    pub ports: u32,
    pub security_groups: u32,
    pub rules_per_group: u32,
    pub floating_ips: u32,
}

impl From<v1::Quotas> for QuotasOut {
    fn from(q: v1::Quotas) -> Self {
        QuotasOut {
            vpcs: q.vpcs,
            subnets: q.subnets,
            ports: q.ports,
            security_groups: q.security_groups,
            rules_per_group: q.rules_per_group,
            floating_ips: q.floating_ips,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectOut {
    /// `org/project` (a project has no id of its own; the org is `default` when empty).
    pub id: String,
    pub org: String,
    pub project: String,
    pub quotas: QuotasOut,
    pub usage: QuotasOut,
    pub created_at_ms: u64,
}

impl From<v1::Project> for ProjectOut {
    fn from(p: v1::Project) -> Self {
        let org = if p.org.is_empty() {
            "default".to_string()
        } else {
            p.org
        };
        ProjectOut {
            id: format!("{org}/{}", p.project),
            org,
            project: p.project,
            quotas: p.quotas.unwrap_or_default().into(),
            usage: p.usage.unwrap_or_default().into(),
            created_at_ms: p.created_at_ms,
        }
    }
}

fn used(usage: u32, quota: u32) -> String {
    format!("{usage}/{quota}")
}

impl Detail for ProjectOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let (u, q) = (&self.usage, &self.quotas);
        vec![
            ("id", self.id.clone()),
            ("org", self.org.clone()),
            ("project", self.project.clone()),
            ("vpcs", used(u.vpcs, q.vpcs)),
            ("subnets", used(u.subnets, q.subnets)),
            ("ports", used(u.ports, q.ports)),
            (
                "security_groups",
                used(u.security_groups, q.security_groups),
            ),
            (
                "rules_per_group",
                used(u.rules_per_group, q.rules_per_group),
            ),
            ("floating_ips", used(u.floating_ips, q.floating_ips)),
            ("created_at", timestamp(self.created_at_ms)),
        ]
    }
}

impl Row for ProjectOut {
    fn headers() -> &'static [&'static str] {
        &["ORG", "PROJECT", "VPCS", "SUBNETS", "PORTS", "SGS", "FIPS"]
    }
    fn row(&self) -> Vec<String> {
        let (u, q) = (&self.usage, &self.quotas);
        vec![
            self.org.clone(),
            self.project.clone(),
            used(u.vpcs, q.vpcs),
            used(u.subnets, q.subnets),
            used(u.ports, q.ports),
            used(u.security_groups, q.security_groups),
            used(u.floating_ips, q.floating_ips),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{list, Format};

    #[test]
    fn shapes() {
        let p = v1::Project {
            org: String::new(),
            project: "demo".into(),
            quotas: Some(v1::Quotas {
                ports: 100,
                vpcs: 5,
                ..Default::default()
            }),
            usage: Some(v1::Quotas {
                ports: 3,
                vpcs: 1,
                ..Default::default()
            }),
            created_at_ms: 0,
        };
        let out = ProjectOut::from(p);
        let j: serde_json::Value =
            serde_json::from_str(&list(Format::Json, std::slice::from_ref(&out)).unwrap()).unwrap();
        assert_eq!(j[0]["id"], "default/demo");
        assert_eq!(j[0]["quotas"]["ports"], 100);
        assert_eq!(j[0]["usage"]["vpcs"], 1);
        let t = list(Format::Table, &[out]).unwrap();
        assert!(t.contains("default  demo     1/5"), "{t}");
    }
}
