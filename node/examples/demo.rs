//! The local demo (README quick start, `scripts/demo.sh`): a 3-node PrismNET cluster
//! driving a local OVN stack, a sample project with a VPC, two subnets, a security
//! group and three VMs (network namespaces that get their addresses from OVN's
//! DHCP), which VM pairs can and cannot reach each other and why, the cluster status
//! and how to use prismctl against it. Then it waits for Ctrl-C and stops
//! everything; with `--check` it exits with the result of its checks instead.
//!
//! Runs as root. Uses the data-plane test harness (`tests/dataplane/harness`).
//!
//!     demo [--check] [--prismnetd PATH] [--prismctl PATH]

#[path = "../tests/dataplane/harness/mod.rs"]
mod harness;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use harness::cloud::{ip_of, Cloud};
use harness::vm::{eventually, Vm};

const PROJECT: &str = "acme";
/// How long a check waits for the network to converge before it decides.
const CONVERGE: Duration = Duration::from_secs(20);

struct Args {
    check: bool,
    prismnetd: PathBuf,
    prismctl: PathBuf,
}

fn args() -> Args {
    let here = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.to_path_buf()))
        .unwrap_or_default();
    let mut a = Args {
        check: std::env::var("DEMO_NONINTERACTIVE").is_ok_and(|v| !v.is_empty() && v != "0"),
        prismnetd: here.join("prismnetd"),
        prismctl: here.join("prismctl"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--check" => a.check = true,
            "--prismnetd" => a.prismnetd = it.next().map(PathBuf::from).unwrap_or_default(),
            "--prismctl" => a.prismctl = it.next().map(PathBuf::from).unwrap_or_default(),
            other => {
                eprintln!(
                    "usage: demo [--check] [--prismnetd PATH] [--prismctl PATH] (unknown: {other})"
                );
                std::process::exit(2);
            }
        }
    }
    a
}

#[derive(Clone, Copy, PartialEq)]
enum Probe {
    Ping,
    Tcp(u16),
}

struct Check {
    from: &'static str,
    to: &'static str,
    probe: Probe,
    expect: bool,
    why: &'static str,
}

fn step(s: &str) {
    println!("\n==> {s}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = args();
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> std::io::Result<bool> {
    step("starting a local OVN stack (NB, SB, northd, ovs-vswitchd, ovn-controller) and a 3-node PrismNET cluster");
    let c = Cloud::start(&args.prismnetd, 3).await?;
    let leader = c.cluster.wait_leader(None).await?;
    println!(
        "    OVN chassis {} in network namespace {}",
        c.stack.chassis, c.stack.netns.name
    );
    println!(
        "    PrismNET nodes: {} (leader: node {leader}, which alone drives OVN NB)",
        c.cluster.endpoints().join(" ")
    );

    step(&format!(
        "project '{PROJECT}': VPC 10.10.0.0/16 with subnets web 10.10.1.0/24 and db 10.10.2.0/24"
    ));
    let vpc = c.vpc(PROJECT, "10.10.0.0/16").await?;
    let web = c.subnet(&vpc, "web", "10.10.1.0/24").await?;
    let db = c.subnet(&vpc, "db", "10.10.2.0/24").await?;
    println!("    security group 'db-ssh': ingress tcp/22 from 10.10.1.0/24 only");
    c.group(PROJECT, "db-ssh", &[("tcp", 22, "10.10.1.0/24")])
        .await?;

    step("three VMs: create port, bind to the chassis, attach the tap, wait until up, DHCP in the guest");
    let mut vms: Vec<(&str, Vm, String)> = Vec::new();
    for (name, subnet, groups) in [
        ("web1", &web, None),
        ("web2", &web, None),
        ("db1", &db, Some(&["db-ssh"][..])),
    ] {
        let (vm, port) = c.vm(subnet, name, groups).await?;
        let groups = groups.map_or("default".to_string(), |g| g.join(","));
        println!(
            "    {name:5} port {}  mac {}  ip {} (by DHCP)  groups [{groups}]  netns {}",
            port.id,
            port.mac_address,
            ip_of(&port),
            vm.netns.name
        );
        vms.push((name, vm, ip_of(&port)));
    }
    let db1 = &mut vms[2].1;
    db1.serve_tcp(22, "SSH-2.0-db1")?;
    db1.serve_tcp(80, "HTTP-db1")?;

    step("who can reach whom (real packets through OVN)");
    let checks = [
        Check {
            from: "web1",
            to: "web2",
            probe: Probe::Ping,
            expect: true,
            why: "same subnet, both in the project's default group (ingress from members)",
        },
        Check {
            from: "web1",
            to: "db1",
            probe: Probe::Tcp(22),
            expect: true,
            why: "routed web -> db by the VPC router; db-ssh admits tcp/22 from 10.10.1.0/24",
        },
        Check {
            from: "web1",
            to: "db1",
            probe: Probe::Ping,
            expect: false,
            why: "db-ssh admits only tcp/22: ICMP is dropped",
        },
        Check {
            from: "web2",
            to: "db1",
            probe: Probe::Tcp(80),
            expect: false,
            why: "db-ssh admits only tcp/22: tcp/80 is dropped",
        },
        Check {
            from: "db1",
            to: "web1",
            probe: Probe::Ping,
            expect: false,
            why: "db1 is not in 'default'; web1 admits only members of 'default'",
        },
    ];
    let vm = |n: &str| vms.iter().find(|(name, ..)| *name == n).expect("known VM");
    let mut passed = 0;
    for ch in &checks {
        let (_, from, _) = vm(ch.from);
        let (_, _, to_ip) = vm(ch.to);
        let probe = || match ch.probe {
            Probe::Ping => from.ping(to_ip),
            Probe::Tcp(p) => from.tcp_probe(to_ip, p).is_some(),
        };
        // Reachable: a probe answers within CONVERGE (the time shown when it was not
        // at once). Unreachable: once the chassis applied everything, two probes in a
        // row get nothing (tried again within CONVERGE).
        let (got, took) = if ch.expect {
            let t = eventually(CONVERGE, probe);
            (t.is_some(), t)
        } else {
            let t = eventually(CONVERGE, || c.settle().is_ok() && (0..2).all(|_| !probe()));
            (t.is_none(), None)
        };
        let what = match ch.probe {
            Probe::Ping => "ping".to_string(),
            Probe::Tcp(p) => format!("tcp/{p}"),
        };
        let ok = got == ch.expect;
        passed += usize::from(ok);
        let after = took
            .filter(|t| *t > Duration::from_secs(2))
            .map(|t| format!(" (settled after {:.1} s)", t.as_secs_f64()))
            .unwrap_or_default();
        println!(
            "    [{}] {:5} -> {:5} {:7} {:6}  {}{after}",
            if ok { " ok " } else { "FAIL" },
            ch.from,
            ch.to,
            what,
            if got { "CAN" } else { "CANNOT" },
            ch.why
        );
    }

    step("cluster status (prismctl cluster status)");
    let endpoints: Vec<String> = c
        .cluster
        .nodes
        .iter()
        .map(|n| n.api_addr.to_string())
        .collect();
    let endpoints = endpoints.join(",");
    let prismctl = args.prismctl.display().to_string();
    for cmd in [&["cluster", "status"][..], &["ovn", "status"][..]] {
        match Command::new(&args.prismctl)
            .arg("--endpoints")
            .arg(&endpoints)
            .args(cmd)
            .output()
        {
            Ok(out) => {
                print!("{}", String::from_utf8_lossy(&out.stdout));
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
            }
            Err(e) => println!("    (could not run {prismctl}: {e})"),
        }
    }

    let all_ok = passed == checks.len();
    println!(
        "\n{}: {passed} of {} reachability checks as expected",
        if all_ok { "PASS" } else { "FAIL" },
        checks.len()
    );
    if args.check {
        return Ok(all_ok);
    }

    step("try it yourself (in another shell, as root)");
    println!("    export PRISMNET_ENDPOINTS={endpoints}");
    println!("    {prismctl} cluster status");
    println!("    {prismctl} vpc list --project {PROJECT}");
    println!("    {prismctl} port list --project {PROJECT}");
    println!("    {prismctl} sg list --project {PROJECT}");
    println!("    {prismctl} ovn status");
    println!(
        "    ip netns exec {} ping {}",
        vm("web1").1.netns.name,
        vm("web2").2
    );
    println!(
        "    ip netns exec {} busybox nc {} 22",
        vm("web2").1.netns.name,
        vm("db1").2
    );
    println!("\nRunning until Ctrl-C; then everything stops and is removed.");
    let _ = tokio::signal::ctrl_c().await;
    step("stopping: VMs, PrismNET nodes, OVN stack, namespaces");
    drop(vms);
    drop(c);
    println!("    done");
    Ok(all_ok)
}
