//! The model on its own: each kind of step, allowed and refused.

use super::*;

const SUBNET: Sym = 100;

fn model() -> Model {
    // Three allocatable addresses: 10..=12.
    Model {
        subnet: SUBNET,
        range: Some((10, 12)),
    }
}

fn port(ip: u32, mac: Sym) -> Port {
    Port {
        subnet: SUBNET,
        ip,
        mac,
        name: 0,
        device: mac,
    }
}

fn create(id: Sym, ip: u32) -> Op {
    Op::Create {
        id,
        port: port(ip, id),
        requested_ip: None,
    }
}

fn run(ops: &[Op]) -> Option<State> {
    let m = model();
    ops.iter()
        .try_fold(State::default(), |s, op| m.step(&s, op))
}

#[test]
fn creates_take_free_addresses_in_range() {
    assert!(run(&[create(1, 10), create(2, 12)]).is_some());
    assert!(
        run(&[create(1, 10), create(2, 10)]).is_none(),
        "address held"
    );
    assert!(run(&[create(1, 13)]).is_none(), "out of range");
    assert!(run(&[create(1, 10), create(1, 11)]).is_none(), "id held");
    let other_subnet = Op::Create {
        id: 1,
        port: Port {
            subnet: SUBNET + 1,
            ..port(10, 1)
        },
        requested_ip: None,
    };
    assert!(run(&[other_subnet]).is_none());
    let asked_other = Op::Create {
        id: 1,
        port: port(10, 1),
        requested_ip: Some(11),
    };
    assert!(run(&[asked_other]).is_none(), "requested address not given");
    let same_mac = Op::Create {
        id: 2,
        port: port(11, 1),
        requested_ip: None,
    };
    assert!(run(&[create(1, 10), same_mac]).is_none());
}

#[test]
fn full_and_in_use_only_when_true() {
    assert!(run(&[create(1, 10), create(2, 11), Op::Full]).is_none());
    assert!(run(&[create(1, 10), create(2, 11), create(3, 12), Op::Full]).is_some());
    assert!(run(&[create(1, 10), Op::InUse { ip: 10 }]).is_some());
    assert!(run(&[create(1, 10), Op::InUse { ip: 11 }]).is_none());
    let unknown_range = Model {
        subnet: SUBNET,
        range: None,
    };
    assert!(unknown_range.step(&State::default(), &Op::Full).is_some());
}

#[test]
fn deletes_reads_and_writes() {
    assert!(run(&[create(1, 10), Op::Delete { id: 1 }, Op::Absent { id: 1 }]).is_some());
    assert!(run(&[Op::Delete { id: 1 }]).is_none());
    assert!(run(&[create(1, 10), Op::Absent { id: 1 }]).is_none());
    let renamed = Port {
        name: 7,
        ..port(10, 1)
    };
    let write = Op::Write {
        id: 1,
        name: 7,
        returned: Some(renamed),
    };
    let get = |p| Op::Get { id: 1, port: p };
    assert!(run(&[create(1, 10), write.clone(), get(renamed)]).is_some());
    assert!(
        run(&[create(1, 10), write, get(port(10, 1))]).is_none(),
        "stale name"
    );
    let list = |ports: Vec<(Sym, Port)>| Op::List { ports };
    assert!(run(&[create(1, 10), list(vec![(1, port(10, 1))])]).is_some());
    assert!(run(&[create(1, 10), list(vec![])]).is_none());
    let twice = list(vec![(1, port(10, 1)), (1, port(10, 1))]);
    assert!(run(&[create(1, 10), twice]).is_none());
}

#[test]
fn needs_names_the_effects_that_would_help() {
    let m = model();
    let s = run(&[create(1, 10), create(2, 11)]).unwrap_or_default();
    assert_eq!(m.needs(&s, &create(3, 11)), vec![Need::Gone(2)]);
    let renamed = Port {
        name: 9,
        ..port(11, 2)
    };
    let list = Op::List {
        ports: vec![(2, renamed)],
    };
    assert_eq!(m.needs(&s, &list), vec![Need::Gone(1), Need::Named(2, 9)]);
    let get = Op::Get {
        id: 2,
        port: renamed,
    };
    assert_eq!(m.needs(&s, &get), vec![Need::Named(2, 9)]);
    let moved = Op::Get {
        id: 2,
        port: port(12, 2),
    };
    assert!(
        m.needs(&s, &moved).is_empty(),
        "no write changes an address"
    );
    assert!(m.needs(&s, &Op::Full).is_empty());
    assert!(Need::Gone(1).met_by(&Op::Delete { id: 1 }));
    assert!(!Need::Named(2, 9).met_by(&Op::Delete { id: 2 }));
}

/// A replayed name write answers the port as it is now: another name is
/// accepted in its answer, any other field that differs is not.
#[test]
fn a_write_answer_may_carry_a_later_name_but_nothing_else() {
    let answered = |name: Sym, ip: u32| Op::Write {
        id: 1,
        name: 7,
        returned: Some(Port {
            name,
            ..port(ip, 1)
        }),
    };
    let after = run(&[create(1, 10), answered(8, 10)]).expect("a later name in the answer");
    assert_eq!(after.ports[&1].name, 7, "the write's own name takes effect");
    assert!(
        run(&[create(1, 10), answered(7, 11)]).is_none(),
        "another address"
    );
}
