//! A tiny driver for the state machine: applies commands at increasing log indexes,
//! as the Raft layer would, and offers builders for the common commands.
#![allow(dead_code)]

use std::net::IpAddr;

use prismnet_state::command::{CreatePort, CreateSubnet, CreateVpc, FamilySpec, GroupRef};
use prismnet_state::model::Ipv6Mode;
use prismnet_state::{
    Actor, Applied, Command, Id, Outcome, Proposal, Request, Scope, Stamp, State, StateError, View,
};

#[derive(Default)]
pub struct Driver {
    pub state: State,
    pub index: u64,
    pub next_request: u64,
}

pub fn scope(project: &str) -> Scope {
    Scope::new("default", project).unwrap()
}

pub fn tenant(project: &str) -> Actor {
    Actor::Project(scope(project))
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn created_id(a: &Applied) -> Id {
    match a.outcome {
        Outcome::Created { id, .. } => id,
        ref o => panic!("expected a creation, got {o:?}"),
    }
}

impl Driver {
    /// Applies with a fresh request id.
    pub fn run(&mut self, actor: &Actor, command: Command) -> Result<Applied, StateError> {
        self.next_request += 1;
        let rid = format!("req-{}", self.next_request);
        self.run_with_id(actor, &rid, command)
    }

    /// Applies a new request with this id, from a client that has seen every
    /// index applied so far.
    pub fn run_with_id(
        &mut self,
        actor: &Actor,
        request_id: &str,
        command: Command,
    ) -> Result<Applied, StateError> {
        self.run_seen(actor, request_id, Some(self.index), command)
    }

    /// Applies a request whose client had seen `seen_index` before its first
    /// attempt (a retry passes its first attempt's value).
    pub fn run_seen(
        &mut self,
        actor: &Actor,
        request_id: &str,
        seen_index: Option<u64>,
        command: Command,
    ) -> Result<Applied, StateError> {
        self.index += 1;
        let p = Proposal {
            request: Request {
                actor: actor.clone(),
                request_id: request_id.to_string(),
                command,
                seen_index,
            },
            stamp: Stamp {
                time_ms: 1_700_000_000_000 + self.index,
            },
        };
        // Every log entry survives the encoding the Raft log uses.
        let p = Proposal::decode(&p.encode()).unwrap();
        let before = self.state.digest_ignoring_index();
        let r = self.state.apply(self.index, &p);
        assert_eq!(self.state.last_index(), self.index);
        if r.is_err() {
            // A rejected command changes nothing but the applied index.
            assert_eq!(
                self.state.digest_ignoring_index(),
                before,
                "a rejected command changed the state"
            );
        }
        self.state.check_invariants().unwrap();
        r
    }

    pub fn ok(&mut self, actor: &Actor, command: Command) -> Applied {
        self.run(actor, command)
            .unwrap_or_else(|e| panic!("command failed: {e}"))
    }

    pub fn err(&mut self, actor: &Actor, command: Command) -> StateError {
        match self.run(actor, command) {
            Ok(a) => panic!("expected an error, got {:?}", a.outcome),
            Err(e) => e,
        }
    }

    pub fn vpc(&mut self, actor: &Actor, project: &str, cidrs: &[&str]) -> Id {
        let a = self.ok(
            actor,
            Command::CreateVpc(CreateVpc {
                scope: scope(project),
                name: "vpc".into(),
                cidr_blocks: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
                routes: vec![],
            }),
        );
        created_id(&a)
    }

    pub fn subnet(&mut self, actor: &Actor, vpc: Id, v4: Option<&str>, v6: Option<&str>) -> Id {
        let a = self.ok(actor, subnet_cmd(vpc, v4, v6));
        created_id(&a)
    }

    pub fn port(&mut self, actor: &Actor, subnet: Id) -> prismnet_state::model::Port {
        match self.ok(actor, Command::CreatePort(port_cmd(subnet))).view {
            Some(View::Port(p)) => p,
            v => panic!("expected a port view, got {v:?}"),
        }
    }
}

pub fn subnet_cmd(vpc: Id, v4: Option<&str>, v6: Option<&str>) -> Command {
    let fam = |c: &str| FamilySpec {
        cidr: c.parse().unwrap(),
        gateway: None,
        pools: vec![],
        reserved: vec![],
    };
    Command::CreateSubnet(CreateSubnet {
        vpc_id: vpc,
        name: "net".into(),
        v4: v4.map(fam),
        v6: v6.map(fam),
        ipv6_mode: Ipv6Mode::Slaac,
        dns_servers: vec![],
        host_routes: vec![],
        dhcp_enabled: true,
        mtu: None,
    })
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

pub fn group(name: &str) -> GroupRef {
    GroupRef::Name(name.to_string())
}
