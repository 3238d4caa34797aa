//! Whole-state invariant check, used by tests and property tests after every step.
//!
//! The central check: the derived data kept up to date incrementally by apply
//! (indexes, usage, held addresses) equals what a rebuild from the primary records
//! gives. The rebuild itself refuses any address or MAC held twice.

use crate::state::State;

pub(crate) fn check(s: &State) -> Result<(), String> {
    let mut fresh = s.clone();
    fresh.idx = Default::default();
    for f in fresh.subnets.values_mut() {
        for fam in [&mut f.v4, &mut f.v6].into_iter().flatten() {
            reset_pool(fam);
        }
    }
    for n in fresh.extnets.values_mut() {
        reset_pool(&mut n.addresses);
    }
    fresh.macs = crate::ipam::MacPool::new(s.settings.mac_prefix);
    fresh.macs.set_cursor(s.macs.cursor());
    fresh.rebuild_derived()?;

    if fresh.idx != s.idx {
        return Err("indexes differ from a rebuild".into());
    }
    for (scope, p) in &s.projects {
        if fresh.projects[scope].usage != p.usage {
            return Err(format!("usage of {scope} differs from a rebuild"));
        }
    }
    for (id, sn) in &s.subnets {
        let f = &fresh.subnets[id];
        for (a, b) in [(&sn.v4, &f.v4), (&sn.v6, &f.v6)] {
            if let (Some(a), Some(b)) = (a, b) {
                if a.pool.held() != b.pool.held() || a.pool.free() != b.pool.free() {
                    return Err(format!(
                        "held addresses of subnet {id} differ from a rebuild"
                    ));
                }
            }
        }
    }
    if fresh.macs.len() != s.macs.len() {
        return Err("held MACs differ from a rebuild".into());
    }
    for p in s.ports.values() {
        let scope = s.port_scope(p);
        if !p.port_security && !p.security_groups.is_empty() {
            return Err(format!("port {} has groups without port security", p.id));
        }
        if p.security_groups
            .iter()
            .any(|g| &s.groups[g].scope != scope)
        {
            return Err(format!("port {} is in a group of another project", p.id));
        }
        let sn = &s.subnets[&p.subnet_id];
        if sn.v4.is_some() != p.ipv4.is_some() || sn.v6.is_some() != p.ipv6.is_some() {
            return Err(format!(
                "port {} does not have one address per subnet family",
                p.id
            ));
        }
    }
    for f in s.fips.values() {
        if f.port_id.is_some() != f.fixed_ip.is_some() {
            return Err(format!("floating ip {} half associated", f.id));
        }
        if let Some(pid) = f.port_id {
            let port = s
                .ports
                .get(&pid)
                .ok_or(format!("floating ip {} on missing port", f.id))?;
            if !port.fixed_ips().any(|ip| Some(ip) == f.fixed_ip) {
                return Err(format!("floating ip {} on an address its port lacks", f.id));
            }
        }
    }
    Ok(())
}

fn reset_pool(f: &mut crate::model::SubnetFamily) {
    let cursor = f.pool.cursor();
    f.pool = crate::ipam::AddressPool::new(&f.spec).expect("a stored spec is valid");
    f.pool.set_cursor(cursor);
}
