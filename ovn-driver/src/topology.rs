//! Builds `prismnet_state::State`s for tests by applying commands at
//! increasing log indexes, as the Raft layer would. Admin actor throughout.
//! Test-only (feature `testing`): failures panic with the state error.

use std::net::IpAddr;

use prismnet_state::command::{
    CreateExternalNetwork, CreatePort, CreateSubnet, CreateVpc, FamilySpec, GroupRef, RuleSpec,
    UpdatePort,
};
use prismnet_state::model::{Direction, Ipv6Mode, Port, Protocol};
use prismnet_state::net::{Cidr, Family};
use prismnet_state::{
    Actor, Applied, Command, Id, Outcome, Proposal, Request, Scope, Stamp, State, StateError, View,
};

#[derive(Default)]
pub struct Topology {
    pub state: State,
    next_request: u64,
}

pub fn cidr(s: &str) -> Cidr {
    s.parse().expect("test CIDR")
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test IP")
}

fn scope(project: &str) -> Scope {
    Scope::new("default", project).expect("test scope")
}

fn created(a: &Applied) -> Id {
    match a.outcome {
        Outcome::Created { id, .. } => id,
        Outcome::RuleAdded { rule_id, .. } => rule_id,
        ref o => panic!("expected a creation, got {o:?}"),
    }
}

impl Topology {
    pub fn new() -> Topology {
        Topology::default()
    }

    /// Log index of the last applied command.
    pub fn index(&self) -> u64 {
        self.state.last_index()
    }

    pub fn try_run(&mut self, command: Command) -> Result<Applied, StateError> {
        self.next_request += 1;
        let index = self.state.last_index() + 1;
        let p = Proposal {
            request: Request {
                actor: Actor::Admin,
                request_id: format!("t-{}", self.next_request),
                command,
                seen_index: None,
            },
            stamp: Stamp {
                time_ms: 1_700_000_000_000 + index,
            },
        };
        self.state.apply(index, &p)
    }

    pub fn run(&mut self, command: Command) -> Applied {
        self.try_run(command)
            .unwrap_or_else(|e| panic!("command failed: {e}"))
    }

    pub fn vpc(&mut self, project: &str, cidrs: &[&str]) -> Id {
        let a = self.run(Command::CreateVpc(CreateVpc {
            scope: scope(project),
            name: "vpc".into(),
            cidr_blocks: cidrs.iter().map(|c| cidr(c)).collect(),
            routes: vec![],
        }));
        created(&a)
    }

    pub fn subnet_cmd(vpc: Id, v4: Option<&str>, v6: Option<&str>) -> CreateSubnet {
        let fam = |c: &str| FamilySpec {
            cidr: cidr(c),
            gateway: None,
            pools: vec![],
            reserved: vec![],
        };
        CreateSubnet {
            vpc_id: vpc,
            name: "net".into(),
            v4: v4.map(fam),
            v6: v6.map(fam),
            ipv6_mode: Ipv6Mode::Slaac,
            dns_servers: vec![],
            host_routes: vec![],
            dhcp_enabled: true,
            mtu: None,
        }
    }

    pub fn subnet(&mut self, vpc: Id, v4: Option<&str>, v6: Option<&str>) -> Id {
        self.subnet_with(Self::subnet_cmd(vpc, v4, v6))
    }

    pub fn subnet_with(&mut self, c: CreateSubnet) -> Id {
        created(&self.run(Command::CreateSubnet(c)))
    }

    pub fn port_cmd(subnet: Id) -> CreatePort {
        CreatePort {
            subnet_id: subnet,
            name: String::new(),
            fixed_ips: vec![],
            mac: None,
            device_id: String::new(),
            device_owner: String::new(),
            security_groups: None,
            port_security: true,
            allowed_address_pairs: vec![],
            admin_state_up: true,
        }
    }

    pub fn port(&mut self, subnet: Id) -> Port {
        self.port_with(Self::port_cmd(subnet))
    }

    pub fn port_with(&mut self, c: CreatePort) -> Port {
        match self.run(Command::CreatePort(c)).view {
            Some(View::Port(p)) => p,
            v => panic!("expected a port view, got {v:?}"),
        }
    }

    pub fn update_port(&mut self, u: UpdatePort) {
        self.run(Command::UpdatePort(u));
    }

    pub fn delete_port(&mut self, port_id: Id) {
        self.run(Command::DeletePort { port_id });
    }

    pub fn bind(&mut self, port_id: Id, host: &str) {
        self.run(Command::BindPort {
            port_id,
            host: host.into(),
        });
    }

    /// A group with no rules but the default egress ones.
    pub fn group(&mut self, project: &str, name: &str) -> Id {
        created(&self.run(Command::CreateSecurityGroup {
            scope: scope(project),
            name: name.into(),
            description: String::new(),
            rules: vec![],
        }))
    }

    pub fn default_group(&self, project: &str) -> Id {
        self.state
            .security_groups()
            .find(|g| g.scope == scope(project) && g.name == "default")
            .map(|g| g.id)
            .expect("project has a default group")
    }

    /// An ingress rule; returns its id.
    pub fn ingress(
        &mut self,
        group: Id,
        protocol: Protocol,
        ports: Option<(u16, u16)>,
        remote_cidr: Option<&str>,
    ) -> Id {
        self.rule(
            group,
            RuleSpec {
                direction: Direction::Ingress,
                ethertype: Family::V4,
                protocol,
                port_min: ports.map(|p| p.0),
                port_max: ports.map(|p| p.1),
                remote_cidr: remote_cidr.map(cidr),
                remote_group: None,
            },
        )
    }

    pub fn rule(&mut self, group: Id, rule: RuleSpec) -> Id {
        created(&self.run(Command::AddSecurityGroupRule {
            group_id: group,
            rule,
        }))
    }

    pub fn remove_rule(&mut self, group: Id, rule: Id) {
        self.run(Command::RemoveSecurityGroupRule {
            group_id: group,
            rule_id: rule,
        });
    }

    pub fn extnet(&mut self, block: &str, gateway: &str, provider: &str, chassis: &[&str]) -> Id {
        created(
            &self.run(Command::CreateExternalNetwork(CreateExternalNetwork {
                name: "ext".into(),
                cidr: cidr(block),
                gateway_ip: ip(gateway),
                reserved: vec![],
                provider_network: provider.into(),
                gateway_chassis: chassis.iter().map(|c| c.to_string()).collect(),
            })),
        )
    }

    pub fn set_gateway(&mut self, vpc: Id, network: Id, snat: bool) {
        self.run(Command::SetVpcGateway {
            vpc_id: vpc,
            network_id: network,
            enable_snat: snat,
        });
    }

    pub fn floating_ip(&mut self, project: &str, network: Id, port: Id) -> Id {
        created(&self.run(Command::CreateFloatingIp {
            scope: scope(project),
            network_id: network,
            ip: None,
            associate: Some((port, None)),
        }))
    }

    pub fn groups_ref(names: &[&str]) -> Option<Vec<GroupRef>> {
        Some(
            names
                .iter()
                .map(|n| GroupRef::Name(n.to_string()))
                .collect(),
        )
    }
}
