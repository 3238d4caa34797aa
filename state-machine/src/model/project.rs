//! Projects: created implicitly by the first resource in their scope, together with
//! their `default` security group.

use serde::{Deserialize, Serialize};

use crate::id::Id;
use crate::scope::Scope;

/// Per-project limits. Rules are counted per group, the rest per project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quotas {
    pub vpcs: u32,
    pub subnets: u32,
    pub ports: u32,
    pub security_groups: u32,
    pub rules_per_group: u32,
    pub floating_ips: u32,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            vpcs: 100,
            subnets: 1_000,
            ports: 10_000,
            security_groups: 1_000,
            rules_per_group: 100,
            floating_ips: 1_000,
        }
    }
}

/// What a project holds now. Derived from the resources (rebuilt on restore), kept
/// up to date by apply so quota checks are O(1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub vpcs: u32,
    pub subnets: u32,
    pub ports: u32,
    pub security_groups: u32,
    pub floating_ips: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub scope: Scope,
    pub quotas: Quotas,
    /// The project's `default` group, made with the project.
    pub default_group: Id,
    pub created_ms: u64,
    #[serde(skip)]
    pub usage: Usage,
}
