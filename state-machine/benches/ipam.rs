//! Criterion benchmarks of the address pool: allocate + release pairs in an IPv4 /16,
//! an IPv6 /64 and a 99%-full IPv4 /8. Figures are recorded in docs/benchmarks.md.

use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use prismnet_state::ipam::{AddressPool, PoolSpec};

fn pool(cidr: &str, gw: &str) -> AddressPool {
    AddressPool::new(&PoolSpec {
        cidr: cidr.parse().unwrap(),
        gateway: Some(gw.parse().unwrap()),
        pools: vec![],
        reserved: vec![],
    })
    .unwrap()
}

/// Steady state: hold `live` addresses, then each iteration allocates one and releases
/// the oldest, so the pool keeps moving next-after-last through the block.
fn churn(c: &mut Criterion, name: &str, mut p: AddressPool, live: usize) {
    let mut window: std::collections::VecDeque<IpAddr> =
        (0..live).map(|_| p.allocate_next().unwrap()).collect();
    let mut g = c.benchmark_group("ipam");
    g.throughput(Throughput::Elements(2));
    g.bench_function(name, |b| {
        b.iter(|| {
            let ip = p.allocate_next().unwrap();
            window.push_back(ip);
            let old = window.pop_front().unwrap();
            assert!(p.release(&old));
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    churn(
        c,
        "alloc+release /16 (10k live)",
        pool("10.0.0.0/16", "10.0.0.1"),
        10_000,
    );
    churn(
        c,
        "alloc+release ipv6 /64 (10k live)",
        pool("fd00::/64", "fd00::1"),
        10_000,
    );

    // A /8 filled to 99%: every 100th address free, scattered through the block.
    let mut p = pool("10.0.0.0/8", "10.0.0.1");
    let mut freed = Vec::new();
    let mut i = 0u64;
    while let Ok(ip) = p.allocate_next() {
        if i.is_multiple_of(100) {
            freed.push(ip);
        }
        i += 1;
    }
    for ip in &freed {
        assert!(p.release(ip));
    }
    let fill = p.held() as f64 / (p.held() + p.free()) as f64;
    eprintln!(
        "99%-full /8: {} held, {} free, fill {:.4}, {} runs",
        p.held(),
        p.free(),
        fill,
        p.runs()
    );
    let mut g = c.benchmark_group("ipam");
    g.throughput(Throughput::Elements(2));
    g.bench_function("alloc+release 99%-full /8", |b| {
        b.iter_batched_ref(
            || (),
            |_| {
                let ip = p.allocate_next().unwrap();
                assert!(p.release(&ip));
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
