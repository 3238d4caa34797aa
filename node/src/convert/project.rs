//! Projects and quotas.

use prismnet_api::v1;
use prismnet_state::command::QuotasPatch;
use prismnet_state::model::{Quotas, Usage};
use prismnet_state::read::ProjectView;

pub fn quotas(q: &Quotas) -> v1::Quotas {
    v1::Quotas {
        vpcs: q.vpcs,
        subnets: q.subnets,
        ports: q.ports,
        security_groups: q.security_groups,
        rules_per_group: q.rules_per_group,
        floating_ips: q.floating_ips,
    }
}

/// Usage in the quota message's shape (rules are counted per group, so 0 here).
pub fn usage(u: &Usage) -> v1::Quotas {
    v1::Quotas {
        vpcs: u.vpcs,
        subnets: u.subnets,
        ports: u.ports,
        security_groups: u.security_groups,
        rules_per_group: 0,
        floating_ips: u.floating_ips,
    }
}

pub fn project(p: &ProjectView) -> v1::Project {
    v1::Project {
        org: p.scope.org.clone(),
        project: p.scope.project.clone(),
        quotas: Some(quotas(&p.quotas)),
        usage: Some(usage(&p.usage)),
        created_at_ms: p.created_ms,
    }
}

pub fn quota_patch(u: &v1::QuotaUpdate) -> QuotasPatch {
    QuotasPatch {
        vpcs: u.vpcs,
        subnets: u.subnets,
        ports: u.ports,
        security_groups: u.security_groups,
        rules_per_group: u.rules_per_group,
        floating_ips: u.floating_ips,
    }
}
