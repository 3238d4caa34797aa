//! Runs the built `prismctl` as a real process: usage errors exit 2, failures exit 1
//! with exactly one `error:` line on stderr. No server is needed: the failures come
//! from endpoints where nothing (or nothing useful) listens.
//!
//! End-to-end tests against a real `prismnetd` cluster go through the same
//! [`prismctl`] helper, with `--endpoints` pointing at the cluster.

use std::net::TcpListener;
use std::process::{Command, Output};

/// Runs prismctl with a clean environment (no PRISMNET_* from the caller's shell).
fn prismctl(args: &[&str]) -> Output {
    prismctl_env(args, &[])
}

fn prismctl_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prismctl"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PRISMNET_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).envs(env.iter().copied());
    cmd.output().expect("running prismctl")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts one `error: <reason>: <message>` line and returns it.
fn one_error_line(out: &Output) -> String {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {err:?}");
    let line = lines[0].to_string();
    assert!(line.starts_with("error: "), "{line}");
    let rest = &line["error: ".len()..];
    let (reason, message) = rest.split_once(": ").expect("error: <reason>: <message>");
    assert!(
        !reason.is_empty() && reason.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "reason {reason:?} in {line}"
    );
    assert!(!message.is_empty(), "{line}");
    line
}

/// An address where nothing listens: bound, then closed.
fn dead_endpoint() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

#[test]
fn no_command_is_a_usage_error() {
    let out = prismctl(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Usage: prismctl"), "{}", stderr(&out));
}

#[test]
fn clap_usage_errors_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["vpc", "create", "--project", "p", "--name", "n"],
        &[
            "subnet",
            "create",
            "--vpc",
            "v",
            "--name",
            "n",
            "--cidr",
            "10.0.1.0/24",
            "--pool",
            "10.0.1.20-10.0.1.10",
        ],
        &["vpc", "update", "v", "--route", "10.0.0.0/8"],
        &["--output", "yaml", "cluster", "status"],
        &["cluster", "status", "--stale"],
    ] {
        let out = prismctl(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn help_exits_0() {
    let out = prismctl(&["port", "create", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("--security-group"));
}

#[test]
fn checks_after_parsing_are_usage_errors_too() {
    // Two IPv4 CIDRs for one subnet: caught before anything is sent.
    let dead = dead_endpoint();
    let out = prismctl(&[
        "--endpoints",
        &dead,
        "--deadline",
        "1",
        "subnet",
        "create",
        "--vpc",
        "v",
        "--name",
        "n",
        "--cidr",
        "10.0.1.0/24",
        "--cidr",
        "10.0.2.0/24",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let line = one_error_line(&out);
    assert!(
        line.starts_with("error: invalid_argument: --cidr takes at most one IPv4"),
        "{line}"
    );

    let out = prismctl(&["--endpoints", "bad host:1", "cluster", "status"]);
    assert_eq!(out.status.code(), Some(2));
    let line = one_error_line(&out);
    assert!(line.starts_with("error: invalid_config: "), "{line}");
}

#[test]
fn unreachable_endpoint_fails_with_one_line() {
    let dead = dead_endpoint();
    for output in ["table", "json"] {
        let out = prismctl(&[
            "--endpoints",
            &dead,
            "--deadline",
            "1",
            "--output",
            output,
            "cluster",
            "status",
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stdout(&out).is_empty());
        let line = one_error_line(&out);
        assert!(line.starts_with("error: deadline_exceeded: "), "{line}");
    }
}

#[test]
fn endpoints_come_from_the_environment() {
    let dead = dead_endpoint();
    let out = prismctl_env(
        &["--deadline", "0.5", "vpc", "list", "--project", "p"],
        &[("PRISMNET_ENDPOINTS", &dead), ("PRISMNET_TOKEN", "secret")],
    );
    assert_eq!(out.status.code(), Some(1));
    let line = one_error_line(&out);
    assert!(!line.contains("secret"), "{line}");
}

#[test]
fn a_write_that_timed_out_names_its_request_id() {
    let dead = dead_endpoint();
    let out = prismctl(&[
        "--endpoints",
        &dead,
        "--deadline",
        "1",
        "port",
        "create",
        "--subnet",
        "s1",
        "--request-id",
        "retry-me-42",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let line = one_error_line(&out);
    assert!(line.contains("--request-id retry-me-42"), "{line}");
}

#[test]
fn a_silent_server_is_cut_off_by_the_deadline() {
    // Accepts TCP but never speaks HTTP/2: only the deadline ends the call.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().take(64) {
            match conn {
                Ok(c) => held.push(c),
                Err(_) => break,
            }
        }
    });
    let out = prismctl(&[
        "--endpoints",
        &addr,
        "--deadline",
        "1",
        "-o",
        "json",
        "ovn",
        "status",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let line = one_error_line(&out);
    assert!(line.starts_with("error: deadline_exceeded: "), "{line}");
    drop(keep);
}
