//! A tour of the state machine: the commands a cloud sends when it boots VMs, applied
//! at increasing log indexes exactly as the Raft layer applies them.
//!
//! `cargo run -p prismnet-state --example tour`

use prismnet_state::command::{
    CreatePort, CreateSubnet, CreateVpc, FamilySpec, GroupRef, RuleSpec,
};
use prismnet_state::model::{Direction, Ipv6Mode, Protocol};
use prismnet_state::net::Family;
use prismnet_state::{
    Actor, Applied, Command, Id, Outcome, Proposal, Request, Scope, Stamp, State, StateError, View,
};

struct Log {
    state: State,
    index: u64,
}

impl Log {
    fn apply(
        &mut self,
        actor: &Actor,
        request_id: &str,
        command: Command,
    ) -> Result<Applied, StateError> {
        self.index += 1;
        let proposal = Proposal {
            request: Request {
                actor: actor.clone(),
                request_id: request_id.into(),
                command,
                seen_index: None,
            },
            stamp: Stamp {
                time_ms: 1_764_300_000_000 + self.index,
            },
        };
        self.state.apply(self.index, &proposal)
    }

    fn create(&mut self, actor: &Actor, request_id: &str, command: Command) -> Id {
        match self
            .apply(actor, request_id, command)
            .expect("tour command")
            .outcome
        {
            Outcome::Created { id, .. } => id,
            o => panic!("unexpected {o:?}"),
        }
    }
}

fn subnet(vpc: Id, name: &str, v4: &str, v6: &str) -> Command {
    let fam = |c: &str| FamilySpec {
        cidr: c.parse().unwrap(),
        gateway: None,
        pools: vec![],
        reserved: vec![],
    };
    Command::CreateSubnet(CreateSubnet {
        vpc_id: vpc,
        name: name.into(),
        v4: Some(fam(v4)),
        v6: Some(fam(v6)),
        ipv6_mode: Ipv6Mode::Slaac,
        dns_servers: vec!["10.0.0.53".parse().unwrap()],
        host_routes: vec![],
        dhcp_enabled: true,
        mtu: None,
    })
}

fn port(subnet: Id, vm: &str, groups: &[&str]) -> Command {
    Command::CreatePort(CreatePort {
        subnet_id: subnet,
        name: format!("{vm}-eth0"),
        fixed_ips: vec![],
        mac: None,
        device_id: vm.into(),
        device_owner: "compute:plasmavmc".into(),
        security_groups: Some(
            groups
                .iter()
                .map(|g| GroupRef::Name(g.to_string()))
                .collect(),
        ),
        port_security: true,
        allowed_address_pairs: vec![],
        admin_state_up: true,
    })
}

fn main() {
    let mut log = Log {
        state: State::default(),
        index: 0,
    };
    let scope = Scope::new("acme", "shop").unwrap();
    let tenant = Actor::Project(scope.clone());

    println!("== a project comes into being with its first VPC ==");
    let vpc = log.create(
        &tenant,
        "vpc-1",
        Command::CreateVpc(CreateVpc {
            scope: scope.clone(),
            name: "prod".into(),
            cidr_blocks: vec![
                "10.0.0.0/16".parse().unwrap(),
                "fd00:10::/48".parse().unwrap(),
            ],
            routes: vec![],
        }),
    );
    let web = log.create(
        &tenant,
        "sn-web",
        subnet(vpc, "web", "10.0.1.0/24", "fd00:10:0:1::/64"),
    );
    let db = log.create(
        &tenant,
        "sn-db",
        subnet(vpc, "db", "10.0.2.0/24", "fd00:10:0:2::/64"),
    );
    let sg = log.create(
        &tenant,
        "sg-ssh",
        Command::CreateSecurityGroup {
            scope: scope.clone(),
            name: "ssh".into(),
            description: "ssh from the office".into(),
            rules: vec![],
        },
    );
    let rule = RuleSpec {
        direction: Direction::Ingress,
        ethertype: Family::V4,
        protocol: Protocol::Tcp,
        port_min: Some(22),
        port_max: None,
        remote_cidr: Some("192.0.2.0/24".parse().unwrap()),
        remote_group: None,
    };
    log.apply(
        &tenant,
        "rule-ssh",
        Command::AddSecurityGroupRule { group_id: sg, rule },
    )
    .unwrap();
    let p = log.state.project(&tenant, &scope).unwrap();
    println!("project {}: usage {:?}", p.scope, p.usage);

    println!("\n== three VMs boot: what each NIC gets ==");
    for (vm, sn, groups) in [
        ("vm-web-1", web, vec!["default", "ssh"]),
        ("vm-web-2", web, vec!["default"]),
        ("vm-db-1", db, vec!["default"]),
    ] {
        let a = log
            .apply(&tenant, &format!("boot-{vm}"), port(sn, vm, &groups))
            .unwrap();
        let Some(View::Port(p)) = a.view else {
            unreachable!()
        };
        let ips: Vec<String> = p.fixed_ips().map(|i| i.to_string()).collect();
        println!("{vm}: port {} mac {} ips {}", p.id, p.mac, ips.join(", "));
    }

    println!("\n== a retried request allocates nothing ==");
    let retry = log
        .apply(
            &tenant,
            "boot-vm-web-1",
            port(web, "vm-web-1", &["default", "ssh"]),
        )
        .unwrap();
    println!(
        "replayed: {} -> {:?}; ports now: {}",
        retry.replayed,
        retry.outcome,
        log.state.port_count()
    );
    let conflict = log
        .apply(&tenant, "boot-vm-web-1", port(db, "vm-web-1", &[]))
        .unwrap_err();
    println!("same id, other request: {conflict}");

    println!("\n== bad input is refused with a stable reason and changes nothing ==");
    let mut bad = CreatePort {
        fixed_ips: vec!["10.0.1.2".parse().unwrap()],
        ..match port(web, "vm-x", &[]) {
            Command::CreatePort(c) => c,
            _ => unreachable!(),
        }
    };
    println!(
        "{}",
        log.apply(&tenant, "r-bad-1", Command::CreatePort(bad.clone()))
            .unwrap_err()
    );
    bad.fixed_ips = vec!["10.9.9.9".parse().unwrap()];
    println!(
        "{}",
        log.apply(&tenant, "r-bad-2", Command::CreatePort(bad))
            .unwrap_err()
    );
    let other = Actor::Project(Scope::new("acme", "other").unwrap());
    println!(
        "{}",
        log.apply(&other, "r-bad-3", Command::DeleteSubnet { subnet_id: web })
            .unwrap_err()
    );

    println!("\n== snapshot and restore ==");
    let mut bytes = Vec::new();
    log.state.write_snapshot(&mut bytes).unwrap();
    let restored = State::read_snapshot(&bytes[..]).unwrap();
    println!(
        "snapshot {} bytes; digest {:032x} == {:032x}: {}",
        bytes.len(),
        log.state.digest(),
        restored.digest(),
        log.state.digest() == restored.digest()
    );
    let usage = log.state.subnet_usage(&tenant, web).unwrap().v4.unwrap();
    println!(
        "subnet web {}: {} allocated, {} free",
        usage.cidr, usage.allocated, usage.free
    );
}
