//! The OVSDB client against a real standalone ovsdb-server with the OVN NB
//! schema (started per test by `prismnet_ovn::testing`).

use std::time::Duration;

use prismnet_ovn::ovsdb::{
    AtomicType, Client, ColumnKind, Condition, Delete, Error, Insert, MonitorEvent, MonitorRequest,
    Mutate, Mutation, Operation, Row, RowUpdate, SchemaRequirements, Select, TableCache, Until,
    Update, Uuid, Value, Wait,
};
use prismnet_ovn::testing::{nb_config, OvsdbServer};
use tokio::sync::mpsc;

const EPOCH: &str = "prismnet-epoch";

fn fence(epoch: &str) -> Operation {
    Wait::new("NB_Global", Until::Eq)
        .filter(Condition::includes(
            "external_ids",
            Value::map([(EPOCH, epoch)]),
        ))
        .row(Row::new())
        .timeout_ms(0)
        .into()
}

fn switch(name: &str) -> Operation {
    Insert::new("Logical_Switch").value("name", name).into()
}

async fn switch_names(c: &Client) -> Vec<String> {
    let reply = c
        .transact(&[Select::new("Logical_Switch").columns(&["name"]).into()])
        .await
        .expect("select");
    let mut names: Vec<String> = reply
        .rows(0)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.get("name")?.as_str().map(String::from))
        .collect();
    names.sort();
    names
}

async fn next_event(rx: &mut mpsc::Receiver<MonitorEvent>) -> MonitorEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("monitor event in time")
        .expect("monitor stream open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transact_all_operations_and_failure_atomicity() {
    init_logs();
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let c = Client::connect(nb_config(&[server.unix_remote()]))
        .await
        .expect("connect");

    // insert with uuid-name and a named-uuid reference in the same txn.
    let reply = c
        .transact(&[
            Insert::new("NB_Global")
                .value("external_ids", Value::map([(EPOCH, "5")]))
                .into(),
            Insert::new("Logical_Switch_Port")
                .value("name", "p1")
                .uuid_name("p1")
                .into(),
            Insert::new("Logical_Switch")
                .value("name", "ls1")
                .value(
                    "ports",
                    Value::set([Value::named_uuid("p1").as_atom().cloned().unwrap()]),
                )
                .into(),
            Operation::Comment("prismnet test".into()),
        ])
        .await
        .expect("insert");
    let port_uuid = reply.uuid(1).cloned().expect("port uuid");
    let select = c
        .transact(&[Select::new("Logical_Switch")
            .filter(Condition::eq("name", "ls1"))
            .into()])
        .await
        .expect("select");
    let ls = &select.rows(0).expect("rows")[0];
    assert_eq!(
        ls["ports"].as_set().unwrap(),
        vec![&port_uuid.clone().into()]
    );
    assert!(ls.get("_uuid").and_then(Value::as_uuid).is_some());

    // update, mutate, delete report counts.
    let reply = c
        .transact(&[
            Update::new("Logical_Switch")
                .filter(Condition::eq("name", "ls1"))
                .value("other_config", Value::map([("mcast_snoop", "true")]))
                .into(),
            Mutate::new("Logical_Switch")
                .filter(Condition::eq("name", "ls1"))
                .mutation(Mutation::insert(
                    "external_ids",
                    Value::map([("owner", "prismnet")]),
                ))
                .into(),
            Delete::new("Logical_Switch")
                .filter(Condition::eq("name", "nope"))
                .into(),
        ])
        .await
        .expect("update/mutate/delete");
    assert_eq!(
        (reply.count(0), reply.count(1), reply.count(2)),
        (Some(1), Some(1), Some(0))
    );

    // The fence guard passes with the stored epoch...
    c.transact(&[fence("5"), switch("guarded")])
        .await
        .expect("guard passes");
    // ...and with a stale epoch the whole transaction fails, naming the wait.
    let err = c
        .transact(&[fence("4"), switch("stale")])
        .await
        .unwrap_err();
    let Error::Transaction(t) = &err else {
        panic!("expected a transaction error, got {err}")
    };
    assert_eq!((t.op_index, t.op), (Some(0), Some("wait")));
    assert_eq!(t.error, "timed out");
    assert!(
        t.details.as_deref().unwrap_or_default().contains("where"),
        "{t}"
    );

    // A failure after other ops commits none of them either (abort at #1).
    let err = c
        .transact(&[switch("aborted"), Operation::Abort])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transaction(t) if t.op_index == Some(1)),
        "{err}"
    );

    // A commit-time failure (dangling reference) is the extra result element.
    let ghost = Uuid::parse("00000000-0000-0000-0000-00000000beef").unwrap();
    let err = c
        .transact(&[Insert::new("Logical_Switch")
            .value("name", "dangling")
            .value("ports", Value::set([ghost]))
            .into()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transaction(t) if t.op_index.is_none()),
        "{err}"
    );
    assert!(err.to_string().contains("referential integrity"), "{err}");

    assert_eq!(switch_names(&c).await, ["guarded", "ls1"]);

    // Delete with a real match.
    let reply = c
        .transact(&[Delete::new("Logical_Switch")
            .filter(Condition::eq("name", "guarded"))
            .into()])
        .await
        .expect("delete");
    assert_eq!(reply.count(0), Some(1));
    assert_eq!(switch_names(&c).await, ["ls1"]);
    assert_eq!(c.connection_count(), 1);
}

/// ovsdb-server sends echo requests on an idle TCP connection and drops
/// clients that do not answer (inactivity probe, 5 s). Our own probe is set
/// far out so only our answers keep the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_server_echo_past_the_inactivity_probe() {
    init_logs();
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let mut cfg = nb_config(&[server.tcp_remote()]);
    cfg.echo_interval = Duration::from_secs(120);
    let c = Client::connect(cfg).await.expect("connect");
    tokio::time::sleep(Duration::from_secs(12)).await;
    c.transact(&[switch("after-idle")])
        .await
        .expect("still connected");
    assert_eq!(
        c.connection_count(),
        1,
        "the server dropped us; log:\n{}",
        server.log()
    );
    assert!(
        !server.log().contains("inactivity probe"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_follows_changes_and_resumes_after_server_restart() {
    init_logs();
    let mut server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let c = Client::connect(nb_config(&[server.unix_remote()]))
        .await
        .expect("connect");
    c.transact(&[switch("before")]).await.expect("insert");

    let mut rx = c
        .monitor(&[MonitorRequest::new("Logical_Switch").columns(&["name", "external_ids"])])
        .await
        .expect("monitor");
    let mut cache = TableCache::new(c.schema().clone());
    let first = next_event(&mut rx).await;
    assert!(matches!(first, MonitorEvent::Reset(_)), "{first:?}");
    cache.apply(&first);
    assert_eq!(cache.table("Logical_Switch").map(|t| t.len()), Some(1));

    let reply = c.transact(&[switch("ls1")]).await.expect("insert");
    let ls1 = reply.uuid(0).cloned().unwrap();
    let ev = next_event(&mut rx).await;
    let MonitorEvent::Update(u) = &ev else {
        panic!("{ev:?}")
    };
    assert!(matches!(u["Logical_Switch"][&ls1], RowUpdate::Insert(_)));
    cache.apply(&ev);

    for kv in [("a", "1"), ("b", "2")] {
        c.transact(&[Mutate::new("Logical_Switch")
            .filter(Condition::eq("name", "ls1"))
            .mutation(Mutation::insert("external_ids", Value::map([kv])))
            .into()])
            .await
            .expect("mutate");
        cache.apply(&next_event(&mut rx).await);
    }
    let ids = &cache.row("Logical_Switch", &ls1).unwrap()["external_ids"];
    assert_eq!(ids.map_get("a").and_then(|a| a.as_str()), Some("1"));
    assert_eq!(ids.map_get("b").and_then(|a| a.as_str()), Some("2"));

    // Crash and restart the server: the client reconnects by itself and the
    // monitor starts again (standalone servers keep no history: a Reset).
    server.restart().expect("restart");
    let ev = next_event(&mut rx).await;
    assert!(matches!(ev, MonitorEvent::Reset(_)), "{ev:?}");
    cache.apply(&ev);
    assert_eq!(cache.table("Logical_Switch").map(|t| t.len()), Some(2));

    c.transact(&[switch("after-restart")])
        .await
        .expect("write after restart");
    cache.apply(&next_event(&mut rx).await);
    let mut names: Vec<&str> = cache
        .table("Logical_Switch")
        .unwrap()
        .values()
        .filter_map(|r| r["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["after-restart", "before", "ls1"]);
    assert_eq!(c.connection_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_check_refuses_a_server_without_what_we_need() {
    init_logs();
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let mut cfg = nb_config(&[server.unix_remote()]);
    cfg.requirements = SchemaRequirements::new()
        .column(
            "Logical_Switch",
            "name",
            ColumnKind::Scalar(AtomicType::String),
        )
        .column(
            "NB_Global",
            "external_ids",
            ColumnKind::Map(AtomicType::String, AtomicType::String),
        )
        .table("Bogus_Table")
        .column(
            "Logical_Switch",
            "ports",
            ColumnKind::Map(AtomicType::String, AtomicType::String),
        );
    let err = Client::connect(cfg.clone())
        .await
        .err()
        .expect("must refuse");
    let Error::Schema(m) = &err else {
        panic!("expected a schema error, got {err}")
    };
    assert_eq!(m.problems.len(), 2, "{err}");
    let text = err.to_string();
    assert!(text.contains("table Bogus_Table is missing"), "{text}");
    assert!(
        text.contains("Logical_Switch.ports is set of Uuid"),
        "{text}"
    );

    cfg.requirements = SchemaRequirements::new().column(
        "Logical_Switch",
        "name",
        ColumnKind::Scalar(AtomicType::String),
    );
    Client::connect(cfg).await.expect("compatible schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_monitor_request_is_a_clear_error() {
    init_logs();
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let c = Client::connect(nb_config(&[server.unix_remote()]))
        .await
        .expect("connect");
    let err = c
        .monitor(&[MonitorRequest::new("Bogus_Table")])
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::Rpc { .. }), "{err}");
    // The connection is still fine.
    c.echo().await.expect("echo");
    assert_eq!(c.connection_count(), 1);
}

/// `RUST_LOG=prismnet_ovn=debug cargo test ...` shows the client's logs.
fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
