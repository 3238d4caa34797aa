//! Hand-written histories, each with the verdict both checkers must give.
//! Subnet `s1` has three allocatable addresses (10.0.0.2 ..= 10.0.0.4).

use std::net::Ipv4Addr;
use std::slice::from_ref;

use super::*;
use crate::history::{Event, Value, F};

const BUDGET: u64 = 1_000_000;

fn subnets() -> Vec<Subnet> {
    vec![Subnet {
        id: "s1".into(),
        cidr: "10.0.0.0/29".into(),
        first: Ipv4Addr::new(10, 0, 0, 2),
        last: Ipv4Addr::new(10, 0, 0, 4),
    }]
}

/// Port `id` at 10.0.0.`host`, device `d<id>`, MAC `m<id>`.
fn port(id: &str, host: u8) -> PortSeen {
    PortSeen {
        id: id.into(),
        subnet: "s1".into(),
        ip: format!("10.0.0.{host}"),
        mac: format!("m{id}"),
        name: String::new(),
        device: format!("d{id}"),
    }
}

fn named(p: &PortSeen, name: &str) -> PortSeen {
    PortSeen {
        name: name.into(),
        ..p.clone()
    }
}

enum Out {
    Ok(Value),
    Fail(&'static str),
    Info,
}

fn op(process: u32, f: F, span: (u64, u64), out: Out) -> Operation {
    let completion = match out {
        Out::Ok(value) => Some((Event::Ok { value }, span.1)),
        Out::Fail(e) => Some((Event::Fail { error: e.into() }, span.1)),
        Out::Info => Some((
            Event::Info {
                error: "deadline_exceeded".into(),
            },
            span.1,
        )),
    };
    Operation {
        process,
        f,
        invoke_ns: span.0,
        completion,
    }
}

/// A create of `p`'s device (asking for `p`'s address if `ask`).
fn create(p: &PortSeen, ask: bool, span: (u64, u64), out: Out) -> Operation {
    let f = F::CreatePort {
        subnet: p.subnet.clone(),
        ip: ask.then(|| p.ip.clone()),
        device: p.device.clone(),
    };
    op(1, f, span, out)
}

fn created(p: &PortSeen, span: (u64, u64)) -> Operation {
    create(p, false, span, Out::Ok(Value::Port(p.clone())))
}

fn create_fails(
    device: &str,
    ip: Option<&str>,
    span: (u64, u64),
    error: &'static str,
) -> Operation {
    let f = F::CreatePort {
        subnet: "s1".into(),
        ip: ip.map(String::from),
        device: device.into(),
    };
    op(2, f, span, Out::Fail(error))
}

fn delete(id: &str, span: (u64, u64), out: Out) -> Operation {
    op(3, F::DeletePort { port: id.into() }, span, out)
}

fn get(id: &str, span: (u64, u64), out: Out) -> Operation {
    op(4, F::GetPort { port: id.into() }, span, out)
}

fn list(ports: &[&PortSeen], span: (u64, u64)) -> Operation {
    let f = F::ListPorts {
        subnet: "s1".into(),
    };
    let ports = ports.iter().map(|p| (*p).clone()).collect();
    op(5, f, span, Out::Ok(Value::Ports(ports)))
}

fn write(id: &str, name: &str, span: (u64, u64), out: Out) -> Operation {
    let f = F::WriteName {
        port: id.into(),
        name: name.into(),
    };
    op(6, f, span, out)
}

fn lin(ops: &[Operation], final_ports: &[PortSeen]) -> Outcome {
    let f = linearizable(ops, &subnets(), final_ports, BUDGET);
    eprintln!("linearizable: {}", f.summary);
    f.outcome
}

fn inv(ops: &[Operation], final_ports: &[PortSeen]) -> Outcome {
    let f = invariants(ops, &subnets(), final_ports);
    eprintln!("invariants: {}", f.summary);
    f.outcome
}

fn both(ops: &[Operation], final_ports: &[PortSeen]) -> (Outcome, Outcome) {
    (lin(ops, final_ports), inv(ops, final_ports))
}

use Outcome::{Anomaly, Unknown, Valid};

#[test]
fn concurrent_creates_in_either_order() {
    let (a, b) = (port("a", 3), port("b", 2));
    // b asked for .2, a took .3; a list during both saw one of them: either
    // may have gone first.
    for seen in [&a, &b] {
        let ops = [
            created(&a, (0, 10)),
            create(&b, true, (1, 11), Out::Ok(Value::Port(b.clone()))),
            list(&[seen], (5, 6)),
        ];
        assert_eq!(both(&ops, &[a.clone(), b.clone()]), (Valid, Valid));
    }
}

#[test]
fn double_allocation_of_an_address() {
    let (a, b) = (port("a", 2), port("b", 2));
    let ops = [created(&a, (0, 1)), created(&b, (2, 3))];
    assert_eq!(both(&ops, &[a.clone(), b.clone()]), (Anomaly, Anomaly));
    // Seen by two gets at different times, both live in between: certain.
    let ops = [
        created(&a, (0, 1)),
        created(&b, (2, 3)),
        get("a", (4, 5), Out::Ok(Value::Port(a.clone()))),
        get("b", (6, 7), Out::Ok(Value::Port(b.clone()))),
        get("a", (8, 9), Out::Ok(Value::Port(a.clone()))),
        delete("a", (10, 11), Out::Ok(Value::Deleted)),
        delete("b", (10, 11), Out::Ok(Value::Deleted)),
    ];
    assert_eq!(both(&ops, &[]), (Anomaly, Anomaly));
}

#[test]
fn an_address_reused_after_a_delete_is_fine() {
    let (a, b) = (port("a", 2), port("b", 2));
    let ops = [
        created(&a, (0, 1)),
        delete("a", (2, 3), Out::Ok(Value::Deleted)),
        created(&b, (4, 5)),
    ];
    assert_eq!(both(&ops, from_ref(&b)), (Valid, Valid));
}

#[test]
fn subnet_full_only_when_full() {
    let (a, b, c) = (port("a", 2), port("b", 3), port("c", 4));
    let not_full = [
        created(&a, (0, 1)),
        create_fails("dx", None, (2, 3), "subnet_full"),
    ];
    assert_eq!(lin(&not_full, from_ref(&a)), Anomaly);
    let full = [
        created(&a, (0, 1)),
        created(&b, (0, 1)),
        created(&c, (0, 1)),
        create_fails("dx", None, (2, 3), "subnet_full"),
    ];
    assert_eq!(
        both(&full, &[a.clone(), b.clone(), c.clone()]),
        (Valid, Valid)
    );
    // Full while a concurrent delete had not yet taken effect: fine.
    let racing = [
        created(&a, (0, 1)),
        created(&b, (0, 1)),
        created(&c, (0, 1)),
        delete("c", (2, 5), Out::Ok(Value::Deleted)),
        create_fails("dx", None, (3, 4), "subnet_full"),
    ];
    assert_eq!(lin(&racing, &[a.clone(), b.clone()]), Valid);
}

#[test]
fn ip_in_use_only_when_held() {
    let a = port("a", 2);
    let free = [create_fails("dx", Some("10.0.0.2"), (0, 1), "ip_in_use")];
    assert_eq!(lin(&free, &[]), Anomaly);
    let held = [
        created(&a, (0, 1)),
        create_fails("dx", Some("10.0.0.2"), (2, 3), "ip_in_use"),
    ];
    assert_eq!(lin(&held, from_ref(&a)), Valid);
}

#[test]
fn failures_that_say_nothing_are_ignored() {
    let ops = [
        create_fails("dx", None, (0, 1), "not_leader"),
        create_fails("dy", Some("10.0.0.2"), (0, 1), "unavailable"),
        get("zz", (2, 3), Out::Fail("not_found")),
        delete("zz", (2, 3), Out::Ok(Value::Deleted)),
    ];
    assert_eq!(both(&ops, &[]), (Valid, Valid));
}

#[test]
fn lost_acknowledged_create() {
    let a = port("a", 2);
    assert_eq!(both(&[created(&a, (0, 1))], &[]), (Anomaly, Anomaly));
}

#[test]
fn stale_get_after_a_delete() {
    let a = port("a", 2);
    let stale = [
        created(&a, (0, 1)),
        delete("a", (2, 3), Out::Ok(Value::Deleted)),
        get("a", (4, 5), Out::Ok(Value::Port(a.clone()))),
    ];
    assert_eq!(lin(&stale, &[]), Anomaly);
    let concurrent = [
        created(&a, (0, 1)),
        delete("a", (2, 5), Out::Ok(Value::Deleted)),
        get("a", (3, 4), Out::Ok(Value::Port(a.clone()))),
    ];
    assert_eq!(both(&concurrent, &[]), (Valid, Valid));
}

#[test]
fn list_missing_a_completed_create() {
    let a = port("a", 2);
    let ops = [created(&a, (0, 1)), list(&[], (2, 3))];
    assert_eq!(lin(&ops, from_ref(&a)), Anomaly);
    let concurrent = [created(&a, (0, 3)), list(&[], (1, 2))];
    assert_eq!(lin(&concurrent, from_ref(&a)), Valid);
}

#[test]
fn info_create_seen_later_or_never() {
    let (a, b) = (port("a", 2), port("b", 3));
    let seen = [
        create(&a, false, (0, 1), Out::Info),
        get("a", (10, 11), Out::Ok(Value::Port(a.clone()))),
    ];
    assert_eq!(both(&seen, from_ref(&a)), (Valid, Valid));
    let only_at_the_end = [create(&a, false, (0, 1), Out::Info)];
    assert_eq!(both(&only_at_the_end, from_ref(&a)), (Valid, Valid));
    // Never seen: it left no port, so it holds no address (b may take .3
    // whatever b's create chose; a full subnet is not explained by it).
    let never = [
        create(&port("x", 2), false, (0, 1), Out::Info),
        created(&b, (2, 3)),
        create_fails("dx", None, (4, 5), "subnet_full"),
    ];
    assert_eq!(lin(&never, from_ref(&b)), Anomaly);
    let never = [
        create(&port("x", 2), false, (0, 1), Out::Info),
        created(&b, (2, 3)),
    ];
    assert_eq!(both(&never, from_ref(&b)), (Valid, Valid));
    // Seen before it was invoked: impossible.
    let early = [
        get("a", (0, 1), Out::Ok(Value::Port(a.clone()))),
        create(&a, false, (2, 3), Out::Info),
    ];
    assert_eq!(lin(&early, from_ref(&a)), Anomaly);
}

#[test]
fn a_create_applied_twice() {
    let a = port("a", 2);
    let twin = PortSeen {
        id: "a2".into(),
        ip: "10.0.0.3".into(),
        mac: "ma2".into(),
        ..a.clone()
    };
    let ops = [created(&a, (0, 1))];
    assert_eq!(both(&ops, &[a.clone(), twin]), (Anomaly, Anomaly));
}

#[test]
fn a_port_nobody_asked_for() {
    let a = port("a", 2);
    assert_eq!(both(&[], from_ref(&a)), (Anomaly, Anomaly));
    let failed = [create(&a, false, (0, 1), Out::Fail("not_leader"))];
    assert_eq!(both(&failed, from_ref(&a)), (Anomaly, Anomaly));
}

#[test]
fn info_delete_either_way() {
    let a = port("a", 2);
    let ops = [created(&a, (0, 1)), delete("a", (2, 3), Out::Info)];
    assert_eq!(both(&ops, from_ref(&a)), (Valid, Valid), "did not happen");
    assert_eq!(both(&ops, &[]), (Valid, Valid), "happened");
    // It happened before a later read, and a port never comes back.
    let gone = [
        created(&a, (0, 1)),
        delete("a", (2, 3), Out::Info),
        get("a", (10, 11), Out::Fail("not_found")),
        get("a", (12, 13), Out::Ok(Value::Port(a.clone()))),
    ];
    assert_eq!(lin(&gone, &[]), Anomaly);
}

#[test]
fn write_name_register() {
    let a = port("a", 2);
    let x = named(&a, "x");
    let stale = [
        created(&a, (0, 1)),
        write("a", "x", (2, 3), Out::Ok(Value::Port(x.clone()))),
        get("a", (4, 5), Out::Ok(Value::Port(a.clone()))),
    ];
    assert_eq!(lin(&stale, from_ref(&x)), Anomaly);
    let fresh = [
        created(&a, (0, 1)),
        write("a", "x", (2, 3), Out::Ok(Value::Port(x.clone()))),
        get("a", (4, 5), Out::Ok(Value::Port(x.clone()))),
    ];
    assert_eq!(both(&fresh, from_ref(&x)), (Valid, Valid));
    // The final name is not the last write's.
    assert_eq!(both(&fresh, from_ref(&a)), (Anomaly, Anomaly));
    // An info write may or may not have taken effect.
    let maybe = [
        created(&a, (0, 1)),
        write("a", "y", (2, 3), Out::Info),
        get("a", (4, 5), Out::Ok(Value::Port(a.clone()))),
    ];
    assert_eq!(both(&maybe, &[named(&a, "y")]), (Valid, Valid));
    assert_eq!(both(&maybe, from_ref(&a)), (Valid, Valid));
}

#[test]
fn budget_exhaustion_is_unknown() {
    let a = port("a", 2);
    let ops = [created(&a, (0, 1)), list(&[&a], (2, 3))];
    let f = linearizable(&ops, &subnets(), from_ref(&a), 1);
    assert_eq!(f.outcome, Unknown, "{}", f.summary);
    assert_eq!(lin(&ops, from_ref(&a)), Valid);
}

#[test]
fn an_anomaly_names_the_operations() {
    let a = port("a", 2);
    let ops = [
        created(&a, (0, 1)),
        delete("a", (2, 3), Out::Ok(Value::Deleted)),
        get("a", (4, 5), Out::Ok(Value::Port(a.clone()))),
    ];
    let f = linearizable(&ops, &subnets(), &[], BUDGET);
    assert_eq!(f.outcome, Anomaly);
    let anomaly = &f.details["anomaly"];
    assert_eq!(anomaly["subnet"], "s1");
    assert_eq!(anomaly["linearized"], 2);
    assert_eq!(anomaly["stuck"][0]["op"]["op"], 2, "{anomaly}");
    assert!(f.summary.contains("op 2"), "{}", f.summary);
}

/// A retried create whose first attempt was applied is answered with the port
/// as it is then, possibly renamed in between (the request-id replay path): the
/// create still made an unnamed port, and a read of it before the rename is no
/// anomaly. A read of the port unnamed after the rename completed still is.
#[test]
fn a_replayed_create_may_answer_a_later_name() {
    let a = port("a", 2);
    let renamed = named(&a, "n1");
    let ops = [
        create(&a, false, (0, 100), Out::Ok(Value::Port(renamed.clone()))),
        get("a", (10, 20), Out::Ok(Value::Port(a.clone()))),
        write("a", "n1", (30, 40), Out::Ok(Value::Port(renamed.clone()))),
    ];
    assert_eq!(lin(&ops, std::slice::from_ref(&renamed)), Valid);
    let stale = [
        create(&a, false, (0, 100), Out::Ok(Value::Port(renamed.clone()))),
        write("a", "n1", (30, 40), Out::Ok(Value::Port(renamed.clone()))),
        get("a", (50, 60), Out::Ok(Value::Port(a.clone()))),
    ];
    assert_eq!(lin(&stale, &[renamed]), Anomaly);
}
