//! Model-based property test: random command sequences against a deliberately naive
//! reference model of IPAM (sets and linear scans), checked after every step:
//! - the state machine and the model agree on every outcome and every address;
//! - no address or MAC is held twice, every address is inside its subnet and outside
//!   its reserved ranges (the invariant check rebuilds the pools from the ports);
//! - a retried request id returns the first result and allocates nothing;
//! - snapshot -> restore gives the same digest and the same future responses.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use common::*;
use prismnet_state::command::{CreateSubnet, FamilySpec};
use prismnet_state::model::Ipv6Mode;
use prismnet_state::net::IpRange;
use prismnet_state::{Actor, Command, Id, Outcome, Reason, State, View};
use proptest::prelude::*;

/// A /28 with gateway .1 and a reserved .5-.6: usable .2-.4 and .7-.14 (11 addresses),
/// small enough that sequences hit exhaustion and wrap-around often.
const SUBNETS: [&str; 2] = ["10.0.1.0/28", "10.0.2.0/28"];

#[derive(Clone, Debug)]
enum Op {
    Create {
        subnet: usize,
        requested: Option<u8>,
    },
    Delete {
        pick: usize,
    },
    Retry {
        pick: usize,
    },
    Snapshot,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..2usize, prop::option::weighted(0.3, 0u8..16)).prop_map(|(subnet, requested)| Op::Create { subnet, requested }),
        3 => any::<usize>().prop_map(|pick| Op::Delete { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Retry { pick }),
        1 => Just(Op::Snapshot),
    ]
}

/// The reference: per subnet, held host numbers and the cursor of automatic allocation.
#[derive(Default)]
struct ModelSubnet {
    held: BTreeSet<u8>,
    cursor: Option<u8>,
}

const GATEWAY: u8 = 1;
const RESERVED: [u8; 2] = [5, 6];

impl ModelSubnet {
    fn allowed(h: u8) -> bool {
        (1..15).contains(&h) && h != GATEWAY && !RESERVED.contains(&h)
    }

    fn next(&self) -> Option<u8> {
        let start = self.cursor.map_or(0, |c| c + 1);
        (start..16)
            .chain(0..start)
            .find(|h| Self::allowed(*h) && !self.held.contains(h))
    }
}

fn host(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(a) => a.octets()[3] & 0x0f,
        IpAddr::V6(_) => unreachable!(),
    }
}

fn setup(d: &mut Driver, t: &Actor) -> Vec<Id> {
    let v = d.vpc(t, "p", &["10.0.0.0/16"]);
    SUBNETS
        .iter()
        .map(|cidr| {
            let c: prismnet_state::net::Cidr = cidr.parse().unwrap();
            let r = IpRange {
                start: c.addr_at(5),
                end: c.addr_at(6),
            };
            created_id(&d.ok(
                t,
                Command::CreateSubnet(CreateSubnet {
                    vpc_id: v,
                    name: String::new(),
                    v4: Some(FamilySpec {
                        cidr: c,
                        gateway: None,
                        pools: vec![],
                        reserved: vec![r],
                    }),
                    v6: None,
                    ipv6_mode: Ipv6Mode::Slaac,
                    dns_servers: vec![],
                    host_routes: vec![],
                    dhcp_enabled: true,
                    mtu: None,
                }),
            ))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn ipam_matches_the_reference_model(ops in prop::collection::vec(op(), 1..80)) {
        let t = tenant("p");
        let mut d = Driver::default();
        let subnets = setup(&mut d, &t);
        let mut model: Vec<ModelSubnet> = (0..2).map(|_| ModelSubnet::default()).collect();
        // port id -> (subnet index, host); request id -> (command, first outcome)
        let mut ports: BTreeMap<Id, (usize, u8)> = BTreeMap::new();
        let mut done: Vec<(String, Command, Result<Outcome, Reason>)> = Vec::new();
        let mut macs: BTreeSet<String> = BTreeSet::new();

        for (step, op) in ops.into_iter().enumerate() {
            let rid = format!("r{step}");
            match op {
                Op::Create { subnet, requested } => {
                    let mut c = port_cmd(subnets[subnet]);
                    let m = &mut model[subnet];
                    let expect = match requested {
                        Some(h) => {
                            let cidr: prismnet_state::net::Cidr = SUBNETS[subnet].parse().unwrap();
                            c.fixed_ips = vec![cidr.addr_at(u64::from(h))];
                            if h == 0 || h == 15 || h == GATEWAY || RESERVED.contains(&h) {
                                Err(Reason::IpReserved)
                            } else if m.held.contains(&h) {
                                Err(Reason::IpInUse)
                            } else {
                                Ok(h)
                            }
                        }
                        None => m.next().ok_or(Reason::SubnetFull),
                    };
                    let cmd = Command::CreatePort(c);
                    let got = d.run_with_id(&t, &rid, cmd.clone());
                    match (&expect, &got) {
                        (Ok(h), Ok(a)) => {
                            let Some(View::Port(p)) = &a.view else { panic!("no port view") };
                            prop_assert_eq!(host(IpAddr::V4(p.ipv4.unwrap())), *h);
                            prop_assert!(macs.insert(p.mac.to_string()), "MAC handed out twice");
                            m.held.insert(*h);
                            if requested.is_none() {
                                m.cursor = Some(*h);
                            }
                            ports.insert(p.id, (subnet, *h));
                        }
                        (Err(r), Err(e)) => prop_assert_eq!(*r, e.reason),
                        _ => prop_assert!(false, "model {:?} vs machine {:?}", expect, got.map(|a| a.outcome)),
                    }
                    done.push((rid, cmd, got.map(|a| a.outcome).map_err(|e| e.reason)));
                }
                Op::Delete { pick } => {
                    if ports.is_empty() {
                        continue;
                    }
                    let (&id, &(s, h)) = ports.iter().nth(pick % ports.len()).unwrap();
                    let port = d.state.port(&t, id).unwrap().clone();
                    let cmd = Command::DeletePort { port_id: id };
                    let got = d.run_with_id(&t, &rid, cmd.clone());
                    prop_assert!(got.is_ok());
                    model[s].held.remove(&h);
                    macs.remove(&port.mac.to_string());
                    ports.remove(&id);
                    done.push((rid, cmd, got.map(|a| a.outcome).map_err(|e| e.reason)));
                }
                Op::Retry { pick } => {
                    if done.is_empty() {
                        continue;
                    }
                    let at = pick % done.len();
                    let (old_rid, cmd, first) = done[at].clone();
                    let automatic = matches!(&cmd, Command::CreatePort(c) if c.fixed_ips.is_empty());
                    let before = d.state.port_count();
                    let got = d.run_with_id(&t, &old_rid, cmd).map(|a| a.outcome).map_err(|e| e.reason);
                    match first {
                        // Successes are remembered: the retry answers the same, changes nothing.
                        Ok(o) => prop_assert_eq!(&got, &Ok(o)),
                        // Rejections are not remembered: the retry is evaluated afresh and may
                        // succeed now; the model then records what it allocated.
                        Err(_) => {
                            if let Ok(outcome @ Outcome::Created { id, .. }) = &got {
                                let id = *id;
                                // From now on the request id is remembered with this
                                // success: a later retry replays it (even after the
                                // port is deleted) and is checked as a success.
                                done[at].2 = Ok(outcome.clone());
                                let p = d.state.port(&t, id).unwrap().clone();
                                let s = subnets.iter().position(|s| *s == p.subnet_id).unwrap();
                                let h = host(IpAddr::V4(p.ipv4.unwrap()));
                                if automatic {
                                    prop_assert_eq!(Some(h), model[s].next());
                                    model[s].cursor = Some(h);
                                }
                                prop_assert!(model[s].held.insert(h));
                                prop_assert!(macs.insert(p.mac.to_string()), "MAC handed out twice");
                                ports.insert(id, (s, h));
                            }
                        }
                    }
                    if got.is_ok() {
                        prop_assert!(d.state.port_count() <= before + 1);
                    }
                }
                Op::Snapshot => {
                    let mut bytes = Vec::new();
                    d.state.write_snapshot(&mut bytes).unwrap();
                    let restored = State::read_snapshot(&bytes[..]).unwrap();
                    prop_assert_eq!(restored.digest(), d.state.digest());
                    // Continue on the restored copy: later steps check it behaves the same.
                    d.state = restored;
                }
            }
            // Every held address is inside its subnet, outside reserved ranges, once.
            for (s, m) in model.iter().enumerate() {
                let usage = d.state.subnet_usage(&t, subnets[s]).unwrap().v4.unwrap();
                prop_assert_eq!(usage.allocated, m.held.len() as u128);
                let ips: Vec<Ipv4Addr> = d
                    .state
                    .list_ports(&t, &prismnet_state::read::PortFilter { subnet_id: Some(subnets[s]), ..Default::default() }, Default::default())
                    .unwrap()
                    .iter()
                    .map(|p| p.ipv4.unwrap())
                    .collect();
                let hosts: BTreeSet<u8> = ips.iter().map(|a| host(IpAddr::V4(*a))).collect();
                prop_assert_eq!(&hosts, &m.held);
                prop_assert!(hosts.iter().all(|h| ModelSubnet::allowed(*h)));
            }
        }
    }
}
