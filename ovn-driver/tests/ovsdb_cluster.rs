//! The OVSDB client against a real 3-member clustered NB database.

use std::time::Duration;

use prismnet_ovn::ovsdb::{
    Client, Condition, Error, Insert, MonitorEvent, MonitorRequest, Operation, Select, TableCache,
    Until, Wait,
};
use prismnet_ovn::testing::{nb_config, NbCluster};
use tokio::sync::mpsc;

/// Writes attempted while the cluster elects a new leader.
const FAILOVER_ATTEMPTS: usize = 100;

fn switch(name: &str) -> Operation {
    Insert::new("Logical_Switch").value("name", name).into()
}

async fn next_event(rx: &mut mpsc::Receiver<MonitorEvent>) -> MonitorEvent {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("monitor event in time")
        .expect("monitor stream open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_the_leader_after_it_is_killed() {
    init_logs();
    let mut cluster = NbCluster::start(3).expect("cluster");
    let leader = cluster.wait_for_leader(None).expect("leader");
    let c = Client::connect(nb_config(&cluster.tcp_remotes()))
        .await
        .expect("connect");
    assert_eq!(
        c.current_remote().map(|r| r.to_string()),
        Some(cluster.members[leader].tcp_remote()),
        "connected to a non-leader"
    );
    let mut rx = c
        .monitor(&[MonitorRequest::new("Logical_Switch").columns(&["name"])])
        .await
        .expect("monitor");
    let mut cache = TableCache::new(c.schema().clone());
    cache.apply(&next_event(&mut rx).await);
    c.transact(&[switch("before")]).await.expect("write");
    cache.apply(&next_event(&mut rx).await);

    cluster.members[leader].kill();
    let new_leader = cluster.wait_for_leader(Some(leader)).expect("new leader");

    // Writes fail (unknown outcome) until the client has moved; each is
    // idempotent here because the name is checked before inserting.
    let mut written = false;
    for _ in 0..FAILOVER_ATTEMPTS {
        let guarded = [
            Wait::new("Logical_Switch", Until::Eq)
                .filter(Condition::eq("name", "after"))
                .timeout_ms(0)
                .into(),
            switch("after"),
        ];
        match c.transact(&guarded).await {
            Ok(_) => {
                written = true;
                break;
            }
            Err(Error::Transaction(t)) if t.op == Some("wait") => {
                written = true; // an earlier attempt did commit
                break;
            }
            Err(e) => {
                tracing::info!(error = %e, "write during failover");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert!(written, "no write after failover");
    assert_eq!(
        c.current_remote().map(|r| r.to_string()),
        Some(cluster.members[new_leader].tcp_remote())
    );
    let rows = c
        .transact(&[Select::new("Logical_Switch").into()])
        .await
        .expect("read back");
    let mut names: Vec<&str> = rows
        .rows(0)
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["after", "before"]);

    // The monitor resumed on the new leader from its last transaction id:
    // the cache converges to the same rows.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n = cache.table("Logical_Switch").map_or(0, |t| t.len());
        if n == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "cache has {n} rows");
        let ev = next_event(&mut rx).await;
        // A cluster keeps transaction history: no full re-dump is needed.
        assert!(matches!(ev, MonitorEvent::Update(_)), "{ev:?}");
        cache.apply(&ev);
    }
    assert!(c.connection_count() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_follower_when_leader_only() {
    init_logs();
    let cluster = NbCluster::start(3).expect("cluster");
    let leader = cluster.wait_for_leader(None).expect("leader");
    let follower = (leader + 1) % 3;
    let mut cfg = nb_config(&[cluster.members[follower].tcp_remote()]);
    cfg.initial_connect_timeout = Duration::from_secs(2);
    let err = Client::connect(cfg.clone()).await.err().expect("refused");
    assert!(
        err.to_string().contains("not the connected leader"),
        "{err}"
    );

    cfg.leader_only = false;
    let c = Client::connect(cfg)
        .await
        .expect("any member when not leader-only");
    c.transact(&[switch("via-follower")])
        .await
        .expect("follower forwards writes");
}

/// A leader that steps down but stays up: the client sees it in `_Server`
/// (leader -> false) and moves on without waiting for a broken connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_when_a_live_leader_steps_down() {
    init_logs();
    let cluster = NbCluster::start(3).expect("cluster");
    let leader = cluster.wait_for_leader(None).expect("leader");
    let c = Client::connect(nb_config(&cluster.tcp_remotes()))
        .await
        .expect("connect");
    cluster.members[leader]
        .appctl(&["cluster/failure-test", "transfer-leadership"])
        .expect("transfer leadership");
    let new_leader = cluster.wait_for_leader(Some(leader)).expect("new leader");
    let want = Some(cluster.members[new_leader].tcp_remote());
    for _ in 0..FAILOVER_ATTEMPTS {
        if c.current_remote().map(|r| r.to_string()) == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.current_remote().map(|r| r.to_string()), want);
    c.transact(&[switch("on-new-leader")]).await.expect("write");
    assert!(cluster.members[leader].is_running());
    assert!(c.connection_count() >= 2);
}

/// `RUST_LOG=prismnet_ovn=debug cargo test ...` shows the client's logs.
fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
