//! Scale benchmark (a plain binary, `cargo bench -p prismnet-state --bench scale`):
//! prints per-operation latency percentiles of the address pool at several fill
//! levels, IPAM ops/s on one core, and for a state of 1M ports: memory per port,
//! CreatePort apply rate, snapshot size and snapshot + restore time.
//! Figures are recorded in docs/benchmarks.md; nothing here asserts a time.

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prismnet_state::command::{CreatePort, CreateSubnet, CreateVpc, FamilySpec, QuotasPatch};
use prismnet_state::ipam::{AddressPool, PoolSpec};
use prismnet_state::model::Ipv6Mode;
use prismnet_state::{Actor, Command, Id, Outcome, Proposal, Request, Scope, Stamp, State};

/// Counts live heap bytes (requested sizes), so memory per port is measured, not
/// estimated; allocates with mimalloc, the allocator prismnetd uses.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { MiMalloc.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { MiMalloc.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { MiMalloc.realloc(p, l, n) }
    }
}

static SAVE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

#[global_allocator]
static A: Counting = Counting;

fn pool(cidr: &str, gw: &str) -> AddressPool {
    AddressPool::new(&PoolSpec {
        cidr: cidr.parse().unwrap(),
        gateway: Some(gw.parse().unwrap()),
        pools: vec![],
        reserved: vec![],
    })
    .unwrap()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "  {name:<34} p50 {:>7.0?} p99 {:>7.0?} p99.9 {:>7.0?} max {:>7.0?}",
        pct(&v, 0.5),
        pct(&v, 0.99),
        pct(&v, 0.999),
        v[v.len() - 1]
    );
}

/// Fills a /8 to `fill` with the free addresses scattered evenly through the block
/// (fill everything, then release every k-th address), then times single allocate
/// and release operations.
fn latency_at_fill(fill: f64) {
    let mut p = pool("10.0.0.0/8", "10.0.0.1");
    let total = p.free() as u64;
    if fill > 0.0 {
        let mut all = Vec::with_capacity(total as usize);
        while let Ok(ip) = p.allocate_next() {
            all.push(ip);
        }
        let every = (1.0 / (1.0 - fill)).round() as usize;
        for ip in all.iter().step_by(every) {
            p.release(ip);
        }
    }
    let (mut alloc, mut release) = (Vec::with_capacity(100_000), Vec::with_capacity(100_000));
    for _ in 0..100_000 {
        let t = Instant::now();
        let ip = p.allocate_next().unwrap();
        alloc.push(t.elapsed());
        let t = Instant::now();
        p.release(&ip);
        release.push(t.elapsed());
    }
    println!(
        "/8 at {:.2}% fill ({} held, {} runs):",
        100.0 * p.held() as f64 / total as f64,
        p.held(),
        p.runs()
    );
    report("allocate_next", alloc);
    report("release", release);
}

fn throughput(name: &str, mut p: AddressPool) {
    let mut window: std::collections::VecDeque<IpAddr> =
        (0..10_000).map(|_| p.allocate_next().unwrap()).collect();
    let n = 5_000_000u64;
    let t = Instant::now();
    for _ in 0..n {
        window.push_back(p.allocate_next().unwrap());
        p.release(&window.pop_front().unwrap());
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "  {name:<34} {:>6.2} M ops/s (allocate + release = 2 ops)",
        2.0 * n as f64 / s / 1e6
    );
}

struct Log {
    state: State,
    index: u64,
}

impl Log {
    fn apply(&mut self, actor: &Actor, command: Command) -> Id {
        self.index += 1;
        let p = Proposal {
            request: Request {
                actor: actor.clone(),
                // As the client library makes them: a UUID.
                request_id: format!("{:08x}-7e57-4000-8000-{:012x}", self.index, self.index),
                command,
                seen_index: None,
            },
            stamp: Stamp {
                time_ms: 1_700_000_000_000 + self.index,
            },
        };
        match self.state.apply(self.index, &p).unwrap().outcome {
            Outcome::Created { id, .. } => id,
            _ => Id::MIN,
        }
    }
}

fn million_ports() {
    const PORTS: u64 = 1_000_000;
    const SUBNETS: u64 = 100;
    let scope = Scope::new("default", "bench").unwrap();
    let t = Actor::Project(scope.clone());
    let before = LIVE.load(Ordering::Relaxed);
    let mut log = Log {
        state: State::default(),
        index: 0,
    };
    let q = QuotasPatch {
        ports: Some(2_000_000),
        subnets: Some(1000),
        ..Default::default()
    };
    log.apply(
        &Actor::Admin,
        Command::SetQuotas {
            scope: scope.clone(),
            quotas: q,
        },
    );
    let vpc = log.apply(
        &t,
        Command::CreateVpc(CreateVpc {
            scope: scope.clone(),
            name: "v".into(),
            cidr_blocks: vec!["10.0.0.0/8".parse().unwrap()],
            routes: vec![],
        }),
    );
    let subnets: Vec<Id> = (0..SUBNETS)
        .map(|i| {
            let cidr = format!("10.{}.0.0/16", i).parse().unwrap();
            log.apply(
                &t,
                Command::CreateSubnet(CreateSubnet {
                    vpc_id: vpc,
                    name: format!("s{i}"),
                    v4: Some(FamilySpec {
                        cidr,
                        gateway: None,
                        pools: vec![],
                        reserved: vec![],
                    }),
                    v6: None,
                    ipv6_mode: Ipv6Mode::Slaac,
                    dns_servers: vec![],
                    host_routes: vec![],
                    dhcp_enabled: true,
                    mtu: None,
                }),
            )
        })
        .collect();
    let base = LIVE.load(Ordering::Relaxed);
    let t0 = Instant::now();
    for i in 0..PORTS {
        let c = CreatePort {
            subnet_id: subnets[(i % SUBNETS) as usize],
            name: String::new(),
            fixed_ips: vec![],
            mac: None,
            // A realistic VM id: a UUID string.
            device_id: format!("6f1c{:04x}-2b7e-4d0a-9c3f-{:012x}", i % 65536, i),
            device_owner: "compute:plasmavmc".into(),
            security_groups: None,
            port_security: true,
            allowed_address_pairs: vec![],
            admin_state_up: true,
        };
        log.apply(&t, Command::CreatePort(c));
    }
    let apply_s = t0.elapsed().as_secs_f64();
    let after = LIVE.load(Ordering::Relaxed);
    println!(
        "1M ports ({} subnets, default group, 36-char device ids, 100k retained request ids):",
        SUBNETS
    );
    println!(
        "  CreatePort apply rate               {:>8.0} /s on one core",
        PORTS as f64 / apply_s
    );
    println!(
        "  heap per port (all state)           {:>8.0} bytes",
        (after - base) as f64 / PORTS as f64
    );
    println!(
        "  heap total                          {:>8.1} MiB",
        (after - before) as f64 / (1 << 20) as f64
    );

    // What a snapshot holds the state's lock for: taking the source.
    let t0 = Instant::now();
    let source = log.state.snapshot_source().unwrap();
    println!(
        "  snapshot source (under the lock)    {:>8.1?}",
        t0.elapsed()
    );
    drop(source);
    // Sized up front, as a file would be: the figure is the encoder's, not Vec growth.
    let mut bytes = Vec::with_capacity(256 << 20);
    let t0 = Instant::now();
    log.state.write_snapshot(&mut bytes).unwrap();
    let write = t0.elapsed();
    if let Some(path) = SAVE.get() {
        std::fs::write(path, &bytes).unwrap();
    }
    let t0 = Instant::now();
    let restored = State::read_snapshot(&bytes[..]).unwrap();
    let read = t0.elapsed();
    println!(
        "  snapshot size                       {:>8.1} MiB ({:.0} bytes/port)",
        bytes.len() as f64 / (1 << 20) as f64,
        bytes.len() as f64 / PORTS as f64
    );
    println!("  snapshot write                      {:>8.1?}", write);
    println!("  snapshot restore (with rebuild)     {:>8.1?}", read);
    println!(
        "  snapshot + restore                  {:>8.1?}",
        write + read
    );
    let t0 = Instant::now();
    let d = restored.digest();
    println!(
        "  digest                              {:>8.1?}",
        t0.elapsed()
    );
    assert_eq!(d, log.state.digest(), "restore must be identical");
    drop(restored);
    request_log_cost(&mut log, bytes.len());
}

/// What one remembered request id costs: the heap and snapshot bytes freed by
/// forgetting all but one of the 100k the state remembers (keys as the node makes
/// them: a project scope and a 36-character UUID request id).
fn request_log_cost(log: &mut Log, snapshot_bytes: usize) {
    let remembered = log.state.request_log().len();
    let before = LIVE.load(Ordering::Relaxed);
    log.apply(
        &Actor::Admin,
        Command::UpdateSettings(prismnet_state::SettingsPatch {
            request_id_retention: Some(1),
            ..Default::default()
        }),
    );
    let forgotten = remembered + 1 - log.state.request_log().len();
    let freed = before.saturating_sub(LIVE.load(Ordering::Relaxed));
    let mut bytes = Vec::with_capacity(snapshot_bytes);
    log.state.write_snapshot(&mut bytes).unwrap();
    println!(
        "  per remembered request id           {:>8.0} bytes heap, {:.0} bytes of snapshot",
        freed as f64 / forgotten as f64,
        snapshot_bytes.saturating_sub(bytes.len()) as f64 / forgotten as f64
    );
}

fn main() {
    // `cargo test --benches` runs bench binaries with --bench absent; keep that fast.
    if !std::env::args().any(|a| a == "--bench") {
        println!("scale: run with `cargo bench -p prismnet-state --bench scale`");
        return;
    }
    // Profiling aid: `scale --bench restore-file PATH` restores a saved snapshot.
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "restore-file") {
        let bytes = std::fs::read(&args[i + 1]).unwrap();
        let t0 = Instant::now();
        let s = State::read_snapshot(&bytes[..]).unwrap();
        println!("restore {:?} ({} ports)", t0.elapsed(), s.port_count());
        return;
    }
    if let Ok(path) = std::env::var("SCALE_SAVE_SNAPSHOT") {
        SAVE.set(path).ok();
    }
    if std::env::args().any(|a| a == "ports") {
        million_ports();
        return;
    }
    println!("== address pool, single operations ==");
    for fill in [0.0, 0.5, 0.99, 0.9999] {
        latency_at_fill(fill);
    }
    println!("== address pool, throughput on one core ==");
    throughput("IPv4 /16, 10k live", pool("10.0.0.0/16", "10.0.0.1"));
    throughput("IPv6 /64, 10k live", pool("fd00::/64", "fd00::1"));
    println!("== state machine at 1M ports ==");
    million_ports();
}
