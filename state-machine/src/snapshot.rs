//! Snapshots: the whole state as a stream of records, and the digest replicas compare.
//!
//! On-disk format (version 2), little endian:
//! ```text
//! magic "PRISMSNP" | u32 format version
//! u32 length | postcard(Record::HeaderV2)        (v1: Record::Header)
//! repeated: u32 length | postcard(Record)        (one record per resource)
//! u32 length | postcard(Record::End { records, checksum })
//! ```
//! Version 2 added the cluster incarnation and the request log's horizon
//! (`forgotten_through`) to the header. A version 1 snapshot has neither: it
//! restores without an incarnation (the next leader names one), and with the most
//! cautious horizon that fits it (see [`v1_horizon`]).
//! `checksum` is xxh3-64 of every byte before the End record, so a truncated or
//! damaged snapshot is refused instead of restoring a partial state.
//!
//! Only primary data is written; indexes, usage counters and the held-address sets
//! are rebuilt on restore, and the rebuild checks that no address or MAC is claimed
//! twice. The encoding is canonical (ordered maps, fixed field order), so the digest
//! of two replicas at the same index is equal exactly when their states are.
//!
//! Versioning: a new format gets a new version number and a reader for the old one
//! stays (`read_v1` below), so a node upgraded in place still restores old snapshots.

use std::io::{self, BufReader, BufWriter, Read, Write};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::id::Id;
use crate::model::{ExternalNetwork, FloatingIp, Port, Project, SecurityGroup, Subnet, Vpc};
use crate::net::Family;
use crate::request_log::{RequestEntry, RequestKey, RequestRecord};
use crate::settings::Settings;
use crate::state::{device_key, State};
use std::collections::BTreeMap;
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"PRISMSNP";
pub const FORMAT_VERSION: u32 = 2;
/// No single record may claim more than this; a larger length means corruption.
const RECORD_LEN_MAX: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot I/O: {0}")]
    Io(#[from] io::Error),
    #[error("not a PrismNET snapshot (bad magic)")]
    Magic,
    #[error(
        "snapshot format version {0} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    Version(u32),
    #[error("snapshot is corrupt: {0}")]
    Corrupt(String),
}

/// Version 1 header (read only).
#[derive(Serialize, Deserialize)]
struct Header {
    last_index: u64,
    settings: Settings,
    mac_cursor: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct HeaderV2 {
    last_index: u64,
    settings: Settings,
    mac_cursor: Option<u64>,
    incarnation: Option<u128>,
    /// `RequestLog::forgotten_through`.
    requests_forgotten_through: u64,
}

/// Variant order is part of the format.
#[derive(Serialize)]
enum RecordRef<'a> {
    Header(&'a Header),
    Project(&'a Project),
    ExternalNetwork(&'a ExternalNetwork),
    Vpc(&'a Vpc),
    Subnet(&'a Subnet),
    SecurityGroup(&'a SecurityGroup),
    Port(&'a Port),
    FloatingIp(&'a FloatingIp),
    Request(&'a RequestKey, &'a RequestRecord),
    End { records: u64, checksum: u64 },
    HeaderV2(&'a HeaderV2),
}

/// Large records are boxed: the enum stays small to move, and a port is decoded
/// straight into the box the state keeps (`Box<T>` encodes exactly as `T`).
#[derive(Deserialize)]
enum Record {
    Header(Header),
    Project(Project),
    ExternalNetwork(Box<ExternalNetwork>),
    Vpc(Box<Vpc>),
    Subnet(Box<Subnet>),
    SecurityGroup(Box<SecurityGroup>),
    Port(Box<Port>),
    FloatingIp(Box<FloatingIp>),
    Request(RequestKey, RequestRecord),
    End { records: u64, checksum: u64 },
    HeaderV2(HeaderV2),
}

/// Writes records with length prefixes while hashing everything written.
struct RecordWriter<W: Write> {
    out: W,
    hash: Xxh3,
    buf: Vec<u8>,
    records: u64,
}

impl<W: Write> RecordWriter<W> {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes)
    }

    fn record(&mut self, r: &RecordRef) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let buf = postcard::to_extend(r, buf).map_err(|e| io::Error::other(e.to_string()))?;
        let len =
            u32::try_from(buf.len()).map_err(|_| io::Error::other("snapshot record over 4 GiB"))?;
        self.raw(&len.to_le_bytes())?;
        self.raw(&buf)?;
        self.buf = buf;
        self.records += 1;
        Ok(())
    }
}

impl<W: Write> RecordWriter<W> {
    fn new(out: W) -> RecordWriter<W> {
        RecordWriter {
            out,
            hash: Xxh3::new(),
            buf: Vec::new(),
            records: 0,
        }
    }
}

/// A consistent copy of everything a snapshot holds, cheap to take under the
/// state's lock: the ports and the remembered requests (the bulk of a large
/// state) as shared pointers, the rest already encoded. [`SnapshotSource::write`] then encodes the ports and
/// writes the snapshot without the lock. At 1M ports taking it costs pointer
/// copies (tens of ms) where encoding under the lock took ~0.4 s, during which
/// every apply waited.
pub struct SnapshotSource {
    /// Magic, version and the records before the ports.
    head: RecordWriter<Vec<u8>>,
    ports: Vec<Arc<Port>>,
    /// The floating IPs.
    fips: RecordWriter<Vec<u8>>,
    requests: Vec<RequestEntry>,
}

impl SnapshotSource {
    /// Writes the snapshot. Memory use beyond the source is one record.
    pub fn write<W: Write>(&self, w: W) -> io::Result<()> {
        let mut rw = RecordWriter::new(BufWriter::with_capacity(1 << 16, w));
        rw.raw(&self.head.out)?;
        for p in &self.ports {
            rw.record(&RecordRef::Port(p))?;
        }
        rw.raw(&self.fips.out)?;
        for e in &self.requests {
            rw.record(&RecordRef::Request(&e.0, &e.1))?;
        }
        let records = self.head.records + rw.records + self.fips.records;
        let end = RecordRef::End {
            records,
            checksum: rw.hash.digest(),
        };
        let bytes = postcard::to_stdvec(&end).map_err(|e| io::Error::other(e.to_string()))?;
        rw.out.write_all(&(bytes.len() as u32).to_le_bytes())?;
        rw.out.write_all(&bytes)?;
        rw.out.flush()
    }
}

impl State {
    /// Streams the whole state to `w`.
    pub fn write_snapshot<W: Write>(&self, w: W) -> io::Result<()> {
        self.snapshot_source_version(FORMAT_VERSION)?.write(w)
    }

    /// What [`State::write_snapshot`] would write, taken now (see
    /// [`SnapshotSource`]): the way to snapshot a state shared under a lock.
    pub fn snapshot_source(&self) -> io::Result<SnapshotSource> {
        self.snapshot_source_version(FORMAT_VERSION)
    }

    /// The version 1 format, to test that it is still read.
    #[cfg(test)]
    pub(crate) fn write_snapshot_v1<W: Write>(&self, w: W) -> io::Result<()> {
        self.snapshot_source_version(1)?.write(w)
    }

    fn snapshot_source_version(&self, version: u32) -> io::Result<SnapshotSource> {
        let mut head = RecordWriter::new(Vec::new());
        head.raw(MAGIC)?;
        head.raw(&version.to_le_bytes())?;
        if version == 1 {
            let header = Header {
                last_index: self.last_index,
                settings: self.settings.clone(),
                mac_cursor: self.macs.cursor(),
            };
            head.record(&RecordRef::Header(&header))?;
        } else {
            let header = HeaderV2 {
                last_index: self.last_index,
                settings: self.settings.clone(),
                mac_cursor: self.macs.cursor(),
                incarnation: self.incarnation,
                requests_forgotten_through: self.requests.forgotten_through(),
            };
            head.record(&RecordRef::HeaderV2(&header))?;
        }
        // Order matters for restore: referenced records come before referrers.
        for p in self.projects.values() {
            head.record(&RecordRef::Project(p))?;
        }
        for n in self.extnets.values() {
            head.record(&RecordRef::ExternalNetwork(n))?;
        }
        for v in self.vpcs.values() {
            head.record(&RecordRef::Vpc(v))?;
        }
        for s in self.subnets.values() {
            head.record(&RecordRef::Subnet(s))?;
        }
        for g in self.groups.values() {
            head.record(&RecordRef::SecurityGroup(g))?;
        }
        let ports = self.ports.values().cloned().collect();
        let mut fips = RecordWriter::new(Vec::new());
        for f in self.fips.values() {
            fips.record(&RecordRef::FloatingIp(f))?;
        }
        let requests = self.requests.entries().cloned().collect();
        Ok(SnapshotSource {
            head,
            ports,
            fips,
            requests,
        })
    }

    /// Restores a state written by [`State::write_snapshot`].
    pub fn read_snapshot<R: Read>(r: R) -> Result<State, SnapshotError> {
        let mut r = BufReader::with_capacity(1 << 16, r);
        let mut head = [0u8; 12];
        r.read_exact(&mut head)?;
        if &head[..8] != MAGIC {
            return Err(SnapshotError::Magic);
        }
        let version = u32::from_le_bytes(head[8..].try_into().expect("4 bytes"));
        let mut hash = Xxh3::new();
        hash.update(&head);
        match version {
            1 | 2 => read_records(r, hash, version),
            v => Err(SnapshotError::Version(v)),
        }
    }

    /// A stable 128-bit digest of the whole state: equal on two replicas exactly when
    /// their states are equal.
    pub fn digest(&self) -> u128 {
        struct HashSink(Xxh3);
        impl Write for HashSink {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.update(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut sink = HashSink(Xxh3::new());
        self.write_snapshot(&mut sink)
            .expect("writing to a hasher cannot fail");
        sink.0.digest128()
    }
}

impl State {
    /// The digest of everything but the applied index: lets tests check that a
    /// rejected command (which still consumes its index) changed nothing else.
    #[doc(hidden)]
    pub fn digest_ignoring_index(&self) -> u128 {
        let mut s = self.clone();
        s.last_index = 0;
        s.digest()
    }
}

fn corrupt(msg: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt(msg.into())
}

/// A version 1 snapshot does not say whether request records were evicted. If
/// the log holds as many as the retention allows, some may have been: every index
/// up to its oldest record counts as forgotten. Otherwise none was (eviction only
/// ever trims to the retention), unless the retention was lowered, which also trims
/// to it.
fn v1_horizon(s: &State) -> u64 {
    if s.requests.len() >= s.settings.request_id_retention as usize {
        s.requests.oldest_index().unwrap_or(s.last_index)
    } else {
        0
    }
}

/// Versions 1 and 2 share every record but the header.
fn read_records<R: Read>(mut r: R, mut hash: Xxh3, version: u32) -> Result<State, SnapshotError> {
    let mut state: Option<State> = None;
    // Ports are the bulk of a large state: collected in id order and built into the
    // map in one pass (densely packed nodes, no per-insert search).
    let mut ports: Vec<(Id, Arc<Port>)> = Vec::new();
    let mut buf = Vec::new();
    let mut records: u64 = 0;
    loop {
        let mut len = [0u8; 4];
        r.read_exact(&mut len).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => corrupt("truncated: no end record"),
            _ => SnapshotError::Io(e),
        })?;
        let n = u32::from_le_bytes(len) as usize;
        if n > RECORD_LEN_MAX {
            return Err(corrupt(format!("record of {n} bytes")));
        }
        buf.resize(n, 0);
        r.read_exact(&mut buf)
            .map_err(|_| corrupt("truncated record"))?;
        let record: Record =
            postcard::from_bytes(&buf).map_err(|e| corrupt(format!("undecodable record: {e}")))?;
        if let Record::End {
            records: want,
            checksum,
        } = record
        {
            if want != records || checksum != hash.digest() {
                return Err(corrupt("checksum or record count mismatch"));
            }
            let mut s = state.ok_or_else(|| corrupt("no header"))?;
            s.ports = ports.into_iter().collect();
            if version == 1 {
                let horizon = v1_horizon(&s);
                s.requests.set_forgotten_through(horizon);
            }
            s.rebuild_derived().map_err(corrupt)?;
            return Ok(s);
        }
        hash.update(&len);
        hash.update(&buf);
        records += 1;
        let s = match (&mut state, record) {
            (None, Record::Header(h)) if version == 1 => {
                let mut s = State::new(h.settings);
                s.last_index = h.last_index;
                s.macs.set_cursor(h.mac_cursor);
                state = Some(s);
                continue;
            }
            (None, Record::HeaderV2(h)) if version == 2 => {
                let mut s = State::new(h.settings);
                s.last_index = h.last_index;
                s.macs.set_cursor(h.mac_cursor);
                s.incarnation = h.incarnation;
                s.requests
                    .set_forgotten_through(h.requests_forgotten_through);
                state = Some(s);
                continue;
            }
            (None, _) | (Some(_), Record::Header(_) | Record::HeaderV2(_)) => {
                return Err(corrupt("header missing, repeated or of another version"))
            }
            (Some(s), rec) => (s, rec),
        };
        match s {
            (s, Record::Project(p)) => {
                s.projects.insert(p.scope.clone(), p);
            }
            (s, Record::ExternalNetwork(n)) => {
                s.extnets.insert(n.id, *n);
            }
            (s, Record::Vpc(v)) => {
                s.vpcs.insert(v.id, *v);
            }
            (s, Record::Subnet(v)) => {
                s.subnets.insert(v.id, *v);
            }
            (s, Record::SecurityGroup(g)) => {
                s.groups.insert(g.id, *g);
            }
            (_, Record::Port(p)) => {
                if ports.last().is_some_and(|(last, _)| *last >= p.id) {
                    return Err(corrupt("ports out of order"));
                }
                ports.push((p.id, p.into()));
            }
            (s, Record::FloatingIp(f)) => {
                s.fips.insert(f.id, *f);
            }
            (s, Record::Request(k, rec)) => s.requests.record(k, rec, u32::MAX),
            (_, Record::Header(_) | Record::HeaderV2(_) | Record::End { .. }) => {
                unreachable!("handled above")
            }
        }
    }
}

impl State {
    /// Rebuilds indexes, usage and held addresses from the primary records, checking
    /// that every reference resolves and nothing is held twice.
    pub(crate) fn rebuild_derived(&mut self) -> Result<(), String> {
        for p in self.projects.values_mut() {
            p.usage = Default::default();
        }
        for v in self.vpcs.values() {
            self.idx.vpcs_by_scope.insert((v.scope.clone(), v.id));
            usage(&mut self.projects, &v.scope)?.vpcs += 1;
            if let Some(g) = &v.gateway {
                let net = self
                    .extnets
                    .get_mut(&g.network_id)
                    .ok_or("gateway network missing")?;
                net.addresses
                    .pool
                    .allocate_specific(&g.ip)
                    .map_err(|e| format!("gateway {}: {e}", g.ip))?;
                hold_mac(&mut self.macs, g.mac)?;
            }
        }
        for s in self.subnets.values() {
            if !self.vpcs.contains_key(&s.vpc_id) {
                return Err(format!("subnet {} of missing vpc", s.id));
            }
            self.idx.subnets_by_vpc.insert((s.vpc_id, s.id));
            usage(&mut self.projects, &s.scope)?.subnets += 1;
            hold_mac(&mut self.macs, s.gateway_mac)?;
        }
        for g in self.groups.values() {
            self.idx
                .groups_by_name
                .insert((g.scope.clone(), g.name.clone()), g.id);
            usage(&mut self.projects, &g.scope)?.security_groups += 1;
        }
        // Bulk build of the per-port indexes: collect, sort, build in one pass.
        let mut by_subnet = Vec::with_capacity(self.ports.len());
        let mut by_device = Vec::with_capacity(self.ports.len());
        let mut ports_per_subnet: BTreeMap<Id, u32> = BTreeMap::new();
        for p in self.ports.values() {
            let subnet = self
                .subnets
                .get_mut(&p.subnet_id)
                .ok_or("port of missing subnet")?;
            for ip in p.fixed_ips() {
                let f = subnet
                    .family_mut(Family::of(&ip))
                    .ok_or("port address of a missing family")?;
                f.pool
                    .allocate_specific(&ip)
                    .map_err(|e| format!("port {} address {ip}: {e}", p.id))?;
            }
            hold_mac(&mut self.macs, p.mac)?;
            for g in &p.security_groups {
                if !self.groups.contains_key(g) {
                    return Err(format!("port {} in a missing group", p.id));
                }
                *self.idx.group_port_counts.entry(*g).or_insert(0) += 1;
            }
            by_subnet.push((p.subnet_id, p.id));
            if !p.device_id.is_empty() {
                by_device.push((device_key(&p.device_id), p.id));
            }
            *ports_per_subnet.entry(p.subnet_id).or_insert(0) += 1;
        }
        by_subnet.sort_unstable();
        by_device.sort_unstable();
        self.idx.ports_by_subnet = by_subnet.into_iter().collect();
        self.idx.ports_by_device = by_device.into_iter().collect();
        for (subnet, n) in ports_per_subnet {
            let scope = &self.subnets[&subnet].scope;
            usage(&mut self.projects, scope)?.ports += n;
        }
        for f in self.fips.values() {
            let net = self
                .extnets
                .get_mut(&f.network_id)
                .ok_or("floating ip of missing network")?;
            net.addresses
                .pool
                .allocate_specific(&f.ip)
                .map_err(|e| format!("floating ip {}: {e}", f.ip))?;
            self.idx.fips_by_scope.insert((f.scope.clone(), f.id));
            if let Some(port) = f.port_id {
                self.idx.fips_by_port.insert((port, f.id));
            }
            usage(&mut self.projects, &f.scope)?.floating_ips += 1;
        }
        Ok(())
    }
}

fn usage<'a>(
    projects: &'a mut std::collections::BTreeMap<crate::scope::Scope, Project>,
    scope: &crate::scope::Scope,
) -> Result<&'a mut crate::model::Usage, String> {
    projects
        .get_mut(scope)
        .map(|p| &mut p.usage)
        .ok_or_else(|| format!("project {scope} missing"))
}

fn hold_mac(macs: &mut crate::ipam::MacPool, mac: crate::net::Mac) -> Result<(), String> {
    macs.allocate_specific(mac)
        .map_err(|e| format!("MAC {mac}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Proposal, Request, Stamp};
    use crate::scope::Actor;
    use crate::settings::SettingsPatch;

    fn apply(s: &mut State, rid: &str, command: Command) {
        let index = s.last_index + 1;
        let p = Proposal {
            request: Request {
                actor: Actor::Admin,
                request_id: rid.into(),
                command,
                seen_index: Some(s.last_index),
            },
            stamp: Stamp::default(),
        };
        s.apply(index, &p).expect("applies");
    }

    fn retention(n: u32) -> Command {
        Command::UpdateSettings(SettingsPatch {
            request_id_retention: Some(n),
            ..Default::default()
        })
    }

    fn restore(bytes: &[u8]) -> State {
        State::read_snapshot(bytes).expect("restores")
    }

    #[test]
    fn version_2_keeps_incarnation_and_horizon() {
        let mut s = State::default();
        apply(&mut s, "r", retention(2));
        apply(&mut s, "i", Command::SetIncarnation { incarnation: 7 });
        apply(&mut s, "x", retention(2));
        assert_eq!(s.requests.forgotten_through(), 1);
        let mut bytes = Vec::new();
        s.write_snapshot(&mut bytes).unwrap();
        assert_eq!(bytes[8..12], 2u32.to_le_bytes());
        let back = restore(&bytes);
        assert_eq!(back.incarnation(), Some(7));
        assert_eq!(back.requests.forgotten_through(), 1);
        assert_eq!(back.digest(), s.digest());
    }

    #[test]
    fn version_1_restores_with_a_cautious_horizon() {
        // Below the retention: nothing can have been evicted.
        let mut s = State::default();
        apply(&mut s, "a", retention(3));
        apply(&mut s, "b", retention(3));
        let mut v1 = Vec::new();
        s.write_snapshot_v1(&mut v1).unwrap();
        let back = restore(&v1);
        assert_eq!(back.requests.forgotten_through(), 0);
        assert_eq!(back.incarnation(), None);
        // At the retention: everything up to the oldest record may be forgotten.
        apply(&mut s, "c", retention(3));
        apply(&mut s, "d", retention(3));
        assert_eq!(s.requests.oldest_index(), Some(2));
        let mut v1 = Vec::new();
        s.write_snapshot_v1(&mut v1).unwrap();
        assert_eq!(restore(&v1).requests.forgotten_through(), 2);
    }
}
