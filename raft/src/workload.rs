//! Realistic requests for tests and benchmarks: a project with a VPC and a subnet,
//! then many ports, each with a unique request id.

use prismnet_state::command::{CreatePort, CreateSubnet, CreateVpc, FamilySpec};
use prismnet_state::model::Ipv6Mode;
use prismnet_state::{Actor, Applied, Command, Id, Outcome, Request, Scope};

/// Builds requests of one project. Request ids are `<prefix>-<n>`, unique per
/// generator as long as prefixes differ.
pub struct Workload {
    scope: Scope,
    prefix: String,
    next: u64,
}

impl Workload {
    /// `project` must be a valid short name (`[a-z0-9-]`).
    pub fn new(project: &str, prefix: &str) -> Workload {
        Workload {
            scope: Scope {
                org: prismnet_state::scope::DEFAULT_ORG.to_string(),
                project: project.to_string(),
            },
            prefix: prefix.to_string(),
            next: 0,
        }
    }

    fn request(&mut self, command: Command) -> Request {
        self.next += 1;
        Request {
            actor: Actor::Project(self.scope.clone()),
            request_id: format!("{}-{}", self.prefix, self.next),
            command,
            seen_index: None,
        }
    }

    pub fn create_vpc(&mut self, name: &str, cidr: &str) -> Request {
        let cidr = cidr.parse().expect("test CIDR literal");
        self.request(Command::CreateVpc(CreateVpc {
            scope: self.scope.clone(),
            name: name.to_string(),
            cidr_blocks: vec![cidr],
            routes: vec![],
        }))
    }

    pub fn create_subnet(&mut self, vpc_id: Id, name: &str, cidr: &str) -> Request {
        let cidr = cidr.parse().expect("test CIDR literal");
        self.request(Command::CreateSubnet(CreateSubnet {
            vpc_id,
            name: name.to_string(),
            v4: Some(FamilySpec {
                cidr,
                gateway: None,
                pools: vec![],
                reserved: vec![],
            }),
            v6: None,
            ipv6_mode: Ipv6Mode::default(),
            dns_servers: vec![],
            host_routes: vec![],
            dhcp_enabled: true,
            mtu: None,
        }))
    }

    pub fn create_port(&mut self, subnet_id: Id, name: &str) -> Request {
        self.request(Command::CreatePort(CreatePort {
            subnet_id,
            name: name.to_string(),
            fixed_ips: vec![],
            mac: None,
            device_id: format!("vm-{name}"),
            device_owner: "compute:nova".to_string(),
            security_groups: None,
            port_security: true,
            allowed_address_pairs: vec![],
            admin_state_up: true,
        }))
    }
}

/// The id of the resource an applied command created, if it created one.
pub fn created_id(applied: &Applied) -> Option<Id> {
    match applied.outcome {
        Outcome::Created { id, .. } => Some(id),
        _ => None,
    }
}
