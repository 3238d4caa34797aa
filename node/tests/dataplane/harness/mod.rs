//! Data-plane harness: a whole OVN stack (NB, SB, northd, OVS with the userspace
//! datapath, ovn-controller), network namespaces as VMs, and a `prismnetd` cluster
//! driving the stack's NB, all per test, in temp dirs, with unique names.
//!
//! | file | what it starts |
//! |---|---|
//! | `sys` | commands, daemons killed on drop, network namespaces, the sweep of leftovers |
//! | `ovn_stack` | NB + SB ovsdb-servers, ovn-northd, an OVS ovsdb-server, ovs-vswitchd (in the stack's own netns), ovn-controller, `br-int` and the provider bridge `br-ex` |
//! | `vm` | a VM: a netns whose `eth0` is a veth on `br-int` with the port's MAC and `iface-id`; DHCP with busybox udhcpc; ping / TCP probes |
//! | `cluster` | `prismnetd` processes with `--ovn-nb` pointing at the stack's NB |
//!
//! Isolation: ovs-vswitchd runs inside the stack's network namespace, so the tap
//! devices the netdev bridges create (`br-int`, `br-ex`) and the host ends of the VM
//! veths live there, never in the host's namespace; every runtime dir
//! (`OVS_RUNDIR`, `OVN_RUNDIR`, control sockets) is the stack's temp dir. Two stacks
//! can run side by side; tests still run one at a time ([`serial`]) to keep the load
//! of two shared cores predictable.
//!
//! Cleanup: every process is a child killed on drop (also when a test panics), every
//! namespace is deleted on drop after the processes inside it are killed, and
//! [`sys::sweep_leftovers`] removes what a killed test process left behind (names and
//! temp dirs carry the owning pid).

#![allow(dead_code)] // the tests and the demo use different parts

pub mod cloud;
pub mod cluster;
pub mod ovn_stack;
pub mod sys;
pub mod vm;

use std::sync::{Mutex, MutexGuard};

/// Data-plane scenarios run one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
