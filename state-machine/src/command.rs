//! What goes into the Raft log, and what applying it returns.
//!
//! Format rule: the log is read back by future versions, so variants are only ever
//! *appended* to these enums, never reordered or removed (postcard encodes a variant
//! by its position). A change that cannot be expressed that way adds a new
//! `Envelope` version with a conversion from the old one.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::id::Id;
use crate::model::{AddressPair, HostRoute, Ipv6Mode, Protocol, Quotas, StaticRoute};
use crate::model::{Direction, ExternalNetwork, FloatingIp, Port, SecurityGroup, Subnet, Vpc};
use crate::net::{Cidr, Family, IpRange, Mac};
use crate::scope::{Actor, Scope};
use crate::settings::{Settings, SettingsPatch};

/// A log entry's payload, versioned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Envelope {
    V1(Proposal),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode log entry: {0}")]
pub struct DecodeError(String);

impl Proposal {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(&EnvelopeRef::V1(self)).expect("in-memory serialization cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Result<Proposal, DecodeError> {
        match postcard::from_bytes::<Envelope>(bytes) {
            Ok(Envelope::V1(p)) => Ok(p),
            Err(e) => Err(DecodeError(e.to_string())),
        }
    }
}

#[derive(Serialize)]
enum EnvelopeRef<'a> {
    V1(&'a Proposal),
}

/// A client request as the leader proposes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub request: Request,
    pub stamp: Stamp,
}

/// Values the leader sets when it proposes; apply never reads a clock. Not part of the
/// idempotency comparison: a retry through another leader carries another stamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Unix time in milliseconds.
    pub time_ms: u64,
}

/// What the client asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub actor: Actor,
    /// Idempotency key, scoped to the actor's project (or to admins).
    pub request_id: String,
    pub command: Command,
}

/// Every change to the state. See `apply/` for the rules of each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    UpdateSettings(SettingsPatch),
    SetQuotas {
        scope: Scope,
        quotas: QuotasPatch,
    },
    CreateVpc(CreateVpc),
    UpdateVpc(UpdateVpc),
    SetVpcGateway {
        vpc_id: Id,
        network_id: Id,
        enable_snat: bool,
    },
    ClearVpcGateway {
        vpc_id: Id,
    },
    DeleteVpc {
        vpc_id: Id,
    },
    CreateSubnet(CreateSubnet),
    UpdateSubnet(UpdateSubnet),
    DeleteSubnet {
        subnet_id: Id,
    },
    CreatePort(CreatePort),
    UpdatePort(UpdatePort),
    BindPort {
        port_id: Id,
        host: String,
    },
    DeletePort {
        port_id: Id,
    },
    CreateSecurityGroup {
        scope: Scope,
        name: String,
        description: String,
        /// Rules added with the group (after its default egress rules), atomically.
        rules: Vec<RuleSpec>,
    },
    DeleteSecurityGroup {
        group_id: Id,
    },
    AddSecurityGroupRule {
        group_id: Id,
        rule: RuleSpec,
    },
    RemoveSecurityGroupRule {
        group_id: Id,
        rule_id: Id,
    },
    CreateExternalNetwork(CreateExternalNetwork),
    DeleteExternalNetwork {
        network_id: Id,
    },
    CreateFloatingIp {
        scope: Scope,
        network_id: Id,
        ip: Option<IpAddr>,
        /// Associate at once with this port (and fixed IP), atomically.
        associate: Option<(Id, Option<IpAddr>)>,
    },
    AssociateFloatingIp {
        fip_id: Id,
        port_id: Id,
        fixed_ip: Option<IpAddr>,
    },
    DisassociateFloatingIp {
        fip_id: Id,
    },
    DeleteFloatingIp {
        fip_id: Id,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotasPatch {
    pub vpcs: Option<u32>,
    pub subnets: Option<u32>,
    pub ports: Option<u32>,
    pub security_groups: Option<u32>,
    pub rules_per_group: Option<u32>,
    pub floating_ips: Option<u32>,
}

impl QuotasPatch {
    pub fn apply_to(&self, q: &Quotas) -> Quotas {
        Quotas {
            vpcs: self.vpcs.unwrap_or(q.vpcs),
            subnets: self.subnets.unwrap_or(q.subnets),
            ports: self.ports.unwrap_or(q.ports),
            security_groups: self.security_groups.unwrap_or(q.security_groups),
            rules_per_group: self.rules_per_group.unwrap_or(q.rules_per_group),
            floating_ips: self.floating_ips.unwrap_or(q.floating_ips),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateVpc {
    pub scope: Scope,
    pub name: String,
    pub cidr_blocks: Vec<Cidr>,
    /// Initial static routes (checked as in `UpdateVpc`).
    pub routes: Vec<StaticRoute>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateVpc {
    pub vpc_id: Id,
    pub name: Option<String>,
    /// Replaces the whole route table when set.
    pub routes: Option<Vec<StaticRoute>>,
    /// Blocks added to the VPC (blocks are never removed while subnets use them).
    pub add_cidr_blocks: Vec<Cidr>,
}

/// One address family of a new subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilySpec {
    pub cidr: Cidr,
    /// Default: the first usable address.
    pub gateway: Option<IpAddr>,
    pub pools: Vec<IpRange>,
    pub reserved: Vec<IpRange>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSubnet {
    pub vpc_id: Id,
    pub name: String,
    pub v4: Option<FamilySpec>,
    pub v6: Option<FamilySpec>,
    pub ipv6_mode: Ipv6Mode,
    pub dns_servers: Vec<IpAddr>,
    pub host_routes: Vec<HostRoute>,
    pub dhcp_enabled: bool,
    /// Default: [`crate::limits::MTU_DEFAULT`].
    pub mtu: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateSubnet {
    pub subnet_id: Id,
    pub name: Option<String>,
    pub dns_servers: Option<Vec<IpAddr>>,
    pub host_routes: Option<Vec<HostRoute>>,
    pub dhcp_enabled: Option<bool>,
    pub mtu: Option<u32>,
}

/// A security group named by id or by its name in the port's project.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GroupRef {
    Id(Id),
    Name(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatePort {
    pub subnet_id: Id,
    pub name: String,
    /// At most one address per family; families not named are allocated.
    pub fixed_ips: Vec<IpAddr>,
    pub mac: Option<Mac>,
    pub device_id: String,
    pub device_owner: String,
    /// `None`: the project's `default` group. `Some(vec![])`: no group.
    pub security_groups: Option<Vec<GroupRef>>,
    pub port_security: bool,
    pub allowed_address_pairs: Vec<AddressPair>,
    pub admin_state_up: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatePort {
    pub port_id: Id,
    pub name: Option<String>,
    pub security_groups: Option<Vec<GroupRef>>,
    pub port_security: Option<bool>,
    pub allowed_address_pairs: Option<Vec<AddressPair>>,
    pub admin_state_up: Option<bool>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub direction: Direction,
    pub ethertype: Family,
    pub protocol: Protocol,
    pub port_min: Option<u16>,
    pub port_max: Option<u16>,
    pub remote_cidr: Option<Cidr>,
    pub remote_group: Option<GroupRef>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateExternalNetwork {
    pub name: String,
    pub cidr: Cidr,
    pub gateway_ip: IpAddr,
    /// Addresses that are never handed to gateways or floating IPs.
    pub reserved: Vec<IpRange>,
    pub provider_network: String,
    pub gateway_chassis: Vec<String>,
}

/// Kinds of resources, as named in outcomes and errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Project,
    Vpc,
    Subnet,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    ExternalNetwork,
    FloatingIp,
    Settings,
}

/// What a command did. This, not the full resource, is what the request log keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Created { kind: Kind, id: Id },
    Updated { kind: Kind, id: Id },
    Deleted { kind: Kind, id: Id },
    SettingsUpdated,
    QuotasSet { scope: Scope },
    RuleAdded { group_id: Id, rule_id: Id },
}

/// The current state of the resource an outcome names, returned to the proposer so
/// it needs no second read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum View {
    Vpc(Vpc),
    Subnet(Box<Subnet>),
    Port(Port),
    SecurityGroup(SecurityGroup),
    ExternalNetwork(Box<ExternalNetwork>),
    FloatingIp(FloatingIp),
    Project(crate::read::ProjectView),
    Settings(Settings),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub outcome: Outcome,
    /// True when the request id had been seen: nothing was changed now.
    pub replayed: bool,
    /// The resource as it is after this command (None once deleted).
    pub view: Option<View>,
}
