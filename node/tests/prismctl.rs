//! The built `prismctl` binary against a real 3-node cluster.

mod common;

use std::process::{Command, Output};

use common::{Cluster, Options};
use serde_json::Value;

/// Runs `prismctl --endpoints <those nodes> --deadline 30 -o json ARGS`.
fn prismctl(c: &Cluster, nodes: &[u64], args: &[&str]) -> Output {
    let endpoints: Vec<String> = nodes
        .iter()
        .map(|id| c.node(*id).api_addr.to_string())
        .collect();
    let mut cmd = Command::new(common::prismctl());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PRISMNET_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("--endpoints")
        .arg(endpoints.join(","))
        .args(["--deadline", "30", "-o", "json"])
        .args(args)
        .output()
        .expect("running prismctl")
}

/// The JSON a successful invocation printed.
#[track_caller]
fn json(out: Output) -> Value {
    assert!(
        out.status.success(),
        "prismctl failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "prismctl printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prismctl_drives_a_real_cluster() {
    // - a 3-node cluster; the built prismctl binary with --endpoints and -o json
    // - `cluster status`: leader_id, term and the three members (id, raft_addr,
    //   api_addr, role), the same leader the nodes report
    // - `vpc create`, `subnet create`, `port create --security-group default` print
    //   the resources with the API's field names; the port's `nic` has the address with
    //   its prefix length and gateway; `port create` given only a follower works
    // - `port list --subnet` shows both ports; `port get` the one asked for
    // - a refused call (overlapping subnet) and an unknown id print exactly one
    //   `error: <reason>: ...` line on stderr and exit 1
    let mut c = Cluster::new(3, Options::default());
    c.start_all();
    let (leader, term) = c.wait_leader(&[1, 2, 3]).await;
    let all = [1, 2, 3];

    let status = json(prismctl(&c, &all, &["cluster", "status"]));
    assert_eq!(status["leader_id"].as_u64(), Some(leader), "{status}");
    assert!(
        status["term"].as_u64().is_some_and(|t| t >= term),
        "{status}"
    );
    let members = status["members"].as_array().expect("members");
    assert_eq!(members.len(), 3, "{status}");
    for m in members {
        let id = m["id"].as_u64().expect("member id");
        let node = c.node(id);
        assert_eq!(str_of(m, "raft_addr"), node.raft_addr.to_string());
        assert_eq!(str_of(m, "api_addr"), node.api_addr.to_string());
        let role = str_of(m, "role");
        assert_eq!(
            role,
            if id == leader { "leader" } else { "follower" },
            "{m}"
        );
    }

    let vpc = json(prismctl(
        &c,
        &all,
        &[
            "vpc",
            "create",
            "--project",
            "cli",
            "--name",
            "main",
            "--cidr",
            "10.80.0.0/16",
        ],
    ));
    assert_eq!(str_of(&vpc, "project"), "cli");
    assert_eq!(str_of(&vpc, "name"), "main");
    assert_eq!(vpc["cidr_blocks"], serde_json::json!(["10.80.0.0/16"]));
    let vpc_id = str_of(&vpc, "id").to_string();

    let subnet = json(prismctl(
        &c,
        &all,
        &[
            "subnet",
            "create",
            "--vpc",
            &vpc_id,
            "--name",
            "web",
            "--cidr",
            "10.80.1.0/24",
            "--dns",
            "10.80.0.2",
            "--mtu",
            "1400",
        ],
    ));
    assert_eq!(str_of(&subnet, "vpc_id"), vpc_id);
    assert_eq!(str_of(&subnet, "ipv4_cidr"), "10.80.1.0/24");
    assert_eq!(str_of(&subnet, "gateway_ipv4"), "10.80.1.1");
    assert_eq!(subnet["mtu"].as_u64(), Some(1400));
    assert!(subnet["usage"].is_object(), "{subnet}");
    let subnet_id = str_of(&subnet, "id").to_string();

    let port = json(prismctl(
        &c,
        &all,
        &[
            "port",
            "create",
            "--subnet",
            &subnet_id,
            "--device-id",
            "vm-cli",
            "--security-group",
            "default",
        ],
    ));
    assert_eq!(str_of(&port, "subnet_id"), subnet_id);
    assert_eq!(str_of(&port, "vpc_id"), vpc_id);
    assert_eq!(str_of(&port, "device_id"), "vm-cli");
    assert!(!str_of(&port, "mac_address").is_empty());
    assert_eq!(
        port["security_group_ids"].as_array().map(Vec::len),
        Some(1),
        "{port}"
    );
    let fixed = &port["fixed_ips"][0];
    let ip = str_of(fixed, "ip_address").to_string();
    assert!(ip.starts_with("10.80.1."), "{port}");
    let nic = &port["nic"];
    assert_eq!(str_of(&nic["addresses"][0], "address"), ip);
    assert_eq!(nic["addresses"][0]["prefix_length"].as_u64(), Some(24));
    assert_eq!(str_of(&nic["addresses"][0], "gateway"), "10.80.1.1");
    assert_eq!(nic["dns_servers"], serde_json::json!(["10.80.0.2"]));
    assert_eq!(nic["mtu"].as_u64(), Some(1400));
    let port_id = str_of(&port, "id").to_string();

    let follower = all.into_iter().find(|i| *i != leader).expect("a follower");
    let second = json(prismctl(
        &c,
        &[follower],
        &[
            "port",
            "create",
            "--subnet",
            &subnet_id,
            "--device-id",
            "vm-2",
        ],
    ));
    assert_ne!(str_of(&second, "id"), port_id);

    let listed = json(prismctl(
        &c,
        &all,
        &["port", "list", "--subnet", &subnet_id],
    ));
    let mut ids: Vec<&str> = listed
        .as_array()
        .expect("a list is an array")
        .iter()
        .map(|p| str_of(p, "id"))
        .collect();
    ids.sort_unstable();
    let mut want = vec![port_id.as_str(), str_of(&second, "id")];
    want.sort_unstable();
    assert_eq!(ids, want);
    let got = json(prismctl(&c, &all, &["port", "get", &port_id]));
    assert_eq!(str_of(&got, "id"), port_id);

    // Errors: one line, the reason first, exit 1.
    for (args, reason) in [
        (
            vec![
                "subnet",
                "create",
                "--vpc",
                &vpc_id,
                "--name",
                "overlap",
                "--cidr",
                "10.80.1.0/25",
            ],
            "cidr_overlap",
        ),
        (
            vec!["port", "get", "0badc0de-0000-4000-8000-000000000000"],
            "not_found",
        ),
    ] {
        let out = prismctl(&c, &all, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one error line for {args:?}: {stderr}");
        assert!(
            lines[0].starts_with(&format!("error: {reason}: ")),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "nothing on stdout for a failure");
    }
}
