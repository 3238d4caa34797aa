//! The whole replicated state, and the lookups every command shares.
//!
//! Primary data (persisted in snapshots) and derived data (rebuilt on restore) are
//! kept apart: `Indexes`, project usage and the set of held addresses are functions
//! of the primary maps, so a snapshot cannot contradict itself.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::error::{Reason, Result, StateError};
use crate::id::Id;
use crate::ipam::MacPool;
use crate::model::{ExternalNetwork, FloatingIp, Port, Project, SecurityGroup, Subnet, Vpc};
use crate::request_log::RequestLog;
use crate::scope::{Actor, Scope};
use crate::settings::Settings;

#[derive(Clone, Debug)]
pub struct State {
    pub(crate) settings: Settings,
    /// Log index of the last command applied (0 before the first).
    pub(crate) last_index: u64,
    pub(crate) projects: BTreeMap<Scope, Project>,
    pub(crate) vpcs: BTreeMap<Id, Vpc>,
    pub(crate) subnets: BTreeMap<Id, Subnet>,
    /// Behind a pointer: ids grow with the log, so B-tree nodes fill to about half;
    /// keeping the large record out of the node halves the memory a port costs.
    /// Shared (`Arc`), so a snapshot takes the ports in O(ports) pointer copies
    /// under the state's lock and encodes them after releasing it; a port changed
    /// meanwhile is copied first (`Arc::make_mut`), the snapshot keeps the old one.
    pub(crate) ports: BTreeMap<Id, Arc<Port>>,
    pub(crate) groups: BTreeMap<Id, SecurityGroup>,
    pub(crate) extnets: BTreeMap<Id, ExternalNetwork>,
    pub(crate) fips: BTreeMap<Id, FloatingIp>,
    pub(crate) macs: MacPool,
    pub(crate) requests: RequestLog,
    /// Names this incarnation of the cluster (set once, see `SetIncarnation`).
    pub(crate) incarnation: Option<u128>,
    pub(crate) idx: Indexes,
}

/// Secondary indexes; every entry mirrors a field of a primary record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Indexes {
    pub vpcs_by_scope: BTreeSet<(Scope, Id)>,
    pub subnets_by_vpc: BTreeSet<(Id, Id)>,
    pub ports_by_subnet: BTreeSet<(Id, Id)>,
    /// (hash of device id, port): a 24-byte entry instead of a copy of the string;
    /// readers compare the device id itself.
    pub ports_by_device: BTreeSet<(u64, Id)>,
    /// Number of ports in each group that has any (no per-port entries: membership
    /// lists are derived from the ports when needed).
    pub group_port_counts: BTreeMap<Id, u32>,
    pub groups_by_name: BTreeMap<(Scope, String), Id>,
    pub fips_by_scope: BTreeSet<(Scope, Id)>,
    /// (port, floating ip) for every associated floating IP.
    pub fips_by_port: BTreeSet<(Id, Id)>,
}

/// Key of the device index.
pub(crate) fn device_key(device_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(device_id.as_bytes())
}

impl Default for State {
    fn default() -> State {
        State::new(Settings::default())
    }
}

impl State {
    pub fn new(settings: Settings) -> State {
        State {
            macs: MacPool::new(settings.mac_prefix),
            settings,
            last_index: 0,
            projects: BTreeMap::new(),
            vpcs: BTreeMap::new(),
            subnets: BTreeMap::new(),
            ports: BTreeMap::new(),
            groups: BTreeMap::new(),
            extnets: BTreeMap::new(),
            fips: BTreeMap::new(),
            requests: RequestLog::default(),
            incarnation: None,
            idx: Indexes::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Log index of the last applied command.
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// This cluster's incarnation, once a leader named it.
    pub fn incarnation(&self) -> Option<u128> {
        self.incarnation
    }

    /// The idempotency records: what is remembered, and up to which index records
    /// were forgotten.
    pub fn request_log(&self) -> &RequestLog {
        &self.requests
    }

    /// True when no resource of any kind exists.
    pub fn holds_no_resources(&self) -> bool {
        self.projects.is_empty() && self.extnets.is_empty() && self.macs.is_empty()
    }

    // ---- lookups with access control -------------------------------------------
    //
    // A resource of another tenant is reported exactly like a missing one.

    pub(crate) fn vpc_for(&self, actor: &Actor, id: Id) -> Result<&Vpc> {
        self.vpcs
            .get(&id)
            .filter(|v| actor.can_access(&v.scope))
            .ok_or_else(|| StateError::not_found("vpc", id))
    }

    pub(crate) fn subnet_for(&self, actor: &Actor, id: Id) -> Result<&Subnet> {
        self.subnets
            .get(&id)
            .filter(|s| actor.can_access(&s.scope))
            .ok_or_else(|| StateError::not_found("subnet", id))
    }

    pub(crate) fn port_for(&self, actor: &Actor, id: Id) -> Result<&Port> {
        let port = self
            .ports
            .get(&id)
            .ok_or_else(|| StateError::not_found("port", id))?;
        self.subnet_for(actor, port.subnet_id)
            .map_err(|_| StateError::not_found("port", id))?;
        Ok(port)
    }

    pub(crate) fn group_for(&self, actor: &Actor, id: Id) -> Result<&SecurityGroup> {
        self.groups
            .get(&id)
            .filter(|g| actor.can_access(&g.scope))
            .ok_or_else(|| StateError::not_found("security group", id))
    }

    pub(crate) fn fip_for(&self, actor: &Actor, id: Id) -> Result<&FloatingIp> {
        self.fips
            .get(&id)
            .filter(|f| actor.can_access(&f.scope))
            .ok_or_else(|| StateError::not_found("floating ip", id))
    }

    /// External networks are visible to every tenant (they choose one for gateways
    /// and floating IPs) but changed only by admins.
    pub(crate) fn extnet(&self, id: Id) -> Result<&ExternalNetwork> {
        self.extnets
            .get(&id)
            .ok_or_else(|| StateError::not_found("external network", id))
    }

    pub(crate) fn port_scope(&self, port: &Port) -> &Scope {
        &self
            .subnets
            .get(&port.subnet_id)
            .expect("a port's subnet exists")
            .scope
    }

    /// A creation in `scope` by `actor`: project actors create only in their project.
    pub(crate) fn check_create_scope(actor: &Actor, scope: &Scope) -> Result<()> {
        scope.validate()?;
        if actor.can_access(scope) {
            Ok(())
        } else {
            Err(StateError::new(
                Reason::ScopeMismatch,
                format!("this caller may only act in its own project, not in {scope}"),
            ))
        }
    }

    pub(crate) fn require_admin(actor: &Actor, what: &str) -> Result<()> {
        if actor.is_admin() {
            Ok(())
        } else {
            Err(StateError::new(
                Reason::AdminOnly,
                format!("{what} requires an admin"),
            ))
        }
    }

    /// Every invariant that ties primary records, indexes, usage and pools together.
    /// O(state); for tests, property checks and the debug tooling.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        crate::invariants::check(self)
    }
}
