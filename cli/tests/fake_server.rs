//! The real `prismctl` binary against an in-process fake node (real tonic server on
//! 127.0.0.1): JSON shapes end to end, pagination followed to the last page,
//! security groups resolved by name, the request id sent with writes, error lines
//! built from the server's ErrorInfo, and UNIMPLEMENTED services reported properly.
//!
//! The fake serves only what these tests need; the end-to-end tests against a real
//! `prismnetd` cluster will use the same pattern with real endpoints.

use std::sync::{Arc, Mutex};

use prismnet_api::errors::{reasons, status_with_info, status_with_reason};
use prismnet_api::v1::admin_service_server::{AdminService, AdminServiceServer};
use prismnet_api::v1::get_security_group_request::Lookup;
use prismnet_api::v1::port_service_server::{PortService, PortServiceServer};
use prismnet_api::v1::security_group_service_server::{
    SecurityGroupService, SecurityGroupServiceServer,
};
use prismnet_api::v1::vpc_service_server::{VpcService, VpcServiceServer};
use prismnet_api::v1::*;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};

const SG_DEFAULT: &str = "6f1c2a4e-8d0b-4c53-9a51-2f7b0e6d9c11";
const SG_WEB: &str = "0b9e4a1c-1111-4c53-9a51-2f7b0e6d9c22";

#[derive(Default)]
struct Fake {
    /// (method, request_id or detail) in arrival order.
    seen: Mutex<Vec<(String, String)>>,
    add_rule: Mutex<Option<AddRuleRequest>>,
    create_port: Mutex<Option<CreatePortRequest>>,
}

impl Fake {
    fn saw(&self, method: &str, detail: impl Into<String>) {
        self.seen
            .lock()
            .unwrap()
            .push((method.to_string(), detail.into()));
    }
}

#[derive(Clone)]
struct Svc(Arc<Fake>);

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the fake"))
}

fn group(id: &str, name: &str) -> SecurityGroup {
    SecurityGroup {
        id: id.into(),
        org: String::new(),
        project: "demo".into(),
        name: name.into(),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl AdminService for Svc {
    async fn cluster_status(
        &self,
        _: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        Ok(Response::new(ClusterStatusResponse {
            node_id: 2,
            leader_id: None,
            term: 5,
            commit_index: 9,
            applied_index: 9,
            nodes: vec![NodeStatus {
                id: 2,
                raft_addr: "127.0.0.1:7000".into(),
                api_addr: "127.0.0.1:7001".into(),
                role: NodeRole::Candidate as i32,
                matched_index: None,
                health: None,
            }],
        }))
    }
    async fn add_node(
        &self,
        _: Request<AddNodeRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        unimplemented()
    }
    async fn remove_node(
        &self,
        _: Request<RemoveNodeRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        unimplemented()
    }
    async fn trigger_snapshot(
        &self,
        _: Request<TriggerSnapshotRequest>,
    ) -> Result<Response<TriggerSnapshotResponse>, Status> {
        unimplemented()
    }
    async fn get_settings(
        &self,
        _: Request<GetSettingsRequest>,
    ) -> Result<Response<ClusterSettings>, Status> {
        unimplemented()
    }
    async fn update_settings(
        &self,
        _: Request<UpdateSettingsRequest>,
    ) -> Result<Response<ClusterSettings>, Status> {
        unimplemented()
    }

    async fn state_digest(
        &self,
        _: Request<StateDigestRequest>,
    ) -> Result<Response<StateDigestResponse>, Status> {
        unimplemented()
    }
}

#[tonic::async_trait]
impl SecurityGroupService for Svc {
    async fn create_security_group(
        &self,
        _: Request<CreateSecurityGroupRequest>,
    ) -> Result<Response<SecurityGroup>, Status> {
        unimplemented()
    }
    async fn get_security_group(
        &self,
        r: Request<GetSecurityGroupRequest>,
    ) -> Result<Response<SecurityGroup>, Status> {
        let found = match r.into_inner().lookup {
            Some(Lookup::Id(id)) if id == SG_DEFAULT => Some(group(SG_DEFAULT, "default")),
            Some(Lookup::Id(id)) if id == SG_WEB => Some(group(SG_WEB, "web")),
            Some(Lookup::ByName(n)) if n.project == "demo" && n.name == "default" => {
                self.0.saw("get_security_group", "by_name default");
                Some(group(SG_DEFAULT, "default"))
            }
            Some(Lookup::ByName(n)) if n.project == "demo" && n.name == "web" => {
                self.0.saw("get_security_group", "by_name web");
                Some(group(SG_WEB, "web"))
            }
            _ => None,
        };
        found
            .map(Response::new)
            .ok_or_else(|| status_with_reason(Code::NotFound, reasons::NOT_FOUND, "no such group"))
    }
    async fn list_security_groups(
        &self,
        r: Request<ListSecurityGroupsRequest>,
    ) -> Result<Response<ListSecurityGroupsResponse>, Status> {
        let r = r.into_inner();
        let (groups, next) = match r.page_token.as_str() {
            "" => (vec![group(SG_DEFAULT, "default")], "page-2"),
            "page-2" => (vec![group(SG_WEB, "web")], ""),
            _ => {
                return Err(status_with_reason(
                    Code::InvalidArgument,
                    reasons::INVALID_PAGE_TOKEN,
                    "bad token",
                ))
            }
        };
        Ok(Response::new(ListSecurityGroupsResponse {
            security_groups: groups,
            next_page_token: next.into(),
        }))
    }
    async fn delete_security_group(
        &self,
        _: Request<DeleteSecurityGroupRequest>,
    ) -> Result<Response<DeleteSecurityGroupResponse>, Status> {
        unimplemented()
    }
    async fn add_rule(
        &self,
        r: Request<AddRuleRequest>,
    ) -> Result<Response<AddRuleResponse>, Status> {
        let r = r.into_inner();
        *self.0.add_rule.lock().unwrap() = Some(r.clone());
        let mut rule = r.rule.unwrap_or_default();
        rule.id = "rule-1".into();
        Ok(Response::new(AddRuleResponse {
            rule: Some(rule.clone()),
            security_group: Some(SecurityGroup {
                rules: vec![rule],
                ..group(&r.security_group_id, "x")
            }),
        }))
    }
    async fn remove_rule(
        &self,
        _: Request<RemoveRuleRequest>,
    ) -> Result<Response<SecurityGroup>, Status> {
        unimplemented()
    }
}

#[tonic::async_trait]
impl PortService for Svc {
    async fn create_port(
        &self,
        r: Request<CreatePortRequest>,
    ) -> Result<Response<CreatePortResponse>, Status> {
        let r = r.into_inner();
        *self.0.create_port.lock().unwrap() = Some(r.clone());
        Ok(Response::new(CreatePortResponse {
            port: Some(Port {
                id: "port-1".into(),
                subnet_id: r.subnet_id.clone(),
                mac_address: "fa:16:3e:00:00:01".into(),
                fixed_ips: vec![FixedIp {
                    subnet_id: r.subnet_id.clone(),
                    ip_address: "10.0.1.5".into(),
                }],
                device_id: r.device_id,
                security_group_ids: vec![SG_DEFAULT.into()],
                ..Default::default()
            }),
            addresses: vec![NicAddress {
                address: "10.0.1.5".into(),
                prefix_length: 24,
                gateway: "10.0.1.1".into(),
                subnet_id: r.subnet_id,
            }],
            mtu: 1442,
            dhcp_enabled: true,
            ..Default::default()
        }))
    }
    async fn bind_port(&self, _: Request<BindPortRequest>) -> Result<Response<Port>, Status> {
        unimplemented()
    }
    async fn update_port(&self, _: Request<UpdatePortRequest>) -> Result<Response<Port>, Status> {
        unimplemented()
    }
    async fn delete_port(
        &self,
        _: Request<DeletePortRequest>,
    ) -> Result<Response<DeletePortResponse>, Status> {
        unimplemented()
    }
    async fn get_port(&self, _: Request<GetPortRequest>) -> Result<Response<Port>, Status> {
        Err(status_with_reason(
            Code::NotFound,
            reasons::NOT_FOUND,
            "port p-9 not found",
        ))
    }
    async fn list_ports(
        &self,
        _: Request<ListPortsRequest>,
    ) -> Result<Response<ListPortsResponse>, Status> {
        unimplemented()
    }
    async fn wait_port_up(&self, r: Request<WaitPortUpRequest>) -> Result<Response<Port>, Status> {
        Ok(Response::new(Port {
            id: r.into_inner().port_id,
            up: false,
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl VpcService for Svc {
    async fn create_vpc(&self, r: Request<CreateVpcRequest>) -> Result<Response<Vpc>, Status> {
        self.0.saw("create_vpc", r.into_inner().request_id);
        Err(status_with_info(
            Code::FailedPrecondition,
            reasons::CIDR_OVERLAP,
            "CIDR overlaps another VPC\nof the project",
            [("cidr".to_string(), "10.0.0.0/16".to_string())].into(),
            tonic::metadata::MetadataMap::new(),
        ))
    }
    async fn get_vpc(&self, _: Request<GetVpcRequest>) -> Result<Response<Vpc>, Status> {
        unimplemented()
    }
    async fn list_vpcs(
        &self,
        r: Request<ListVpcsRequest>,
    ) -> Result<Response<ListVpcsResponse>, Status> {
        let r = r.into_inner();
        let n: usize = if r.page_token.is_empty() {
            0
        } else {
            r.page_token
                .parse()
                .map_err(|_| Status::invalid_argument("token"))?
        };
        // Three pages of two.
        let vpcs = (0..2)
            .map(|i| Vpc {
                id: format!("vpc-{}", n * 2 + i),
                project: r.project.clone(),
                name: format!("net{}", n * 2 + i),
                cidr_blocks: vec![format!("10.{}.0.0/16", n * 2 + i)],
                ..Default::default()
            })
            .collect();
        let next = if n < 2 {
            (n + 1).to_string()
        } else {
            String::new()
        };
        Ok(Response::new(ListVpcsResponse {
            vpcs,
            next_page_token: next,
        }))
    }
    async fn update_vpc(&self, _: Request<UpdateVpcRequest>) -> Result<Response<Vpc>, Status> {
        unimplemented()
    }
    async fn set_gateway(&self, _: Request<SetGatewayRequest>) -> Result<Response<Vpc>, Status> {
        unimplemented()
    }
    async fn clear_gateway(
        &self,
        _: Request<ClearGatewayRequest>,
    ) -> Result<Response<Vpc>, Status> {
        unimplemented()
    }
    async fn delete_vpc(
        &self,
        _: Request<DeleteVpcRequest>,
    ) -> Result<Response<DeleteVpcResponse>, Status> {
        unimplemented()
    }
}

/// Starts the fake node; answers its address and state.
async fn start() -> (String, Arc<Fake>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let fake = Arc::new(Fake::default());
    let svc = Svc(fake.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(AdminServiceServer::new(svc.clone()))
            .add_service(SecurityGroupServiceServer::new(svc.clone()))
            .add_service(PortServiceServer::new(svc.clone()))
            .add_service(VpcServiceServer::new(svc))
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .expect("serve");
    });
    (addr, fake)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", self.stdout))
    }
    fn error_line(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "stderr: {:?}", self.stderr);
        lines[0].to_string()
    }
}

async fn prismctl(addr: &str, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_prismctl"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PRISMNET_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["--endpoints", addr, "--deadline", "5"])
        .args(args)
        .output()
        .await
        .expect("run prismctl");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn cluster_status_json_has_null_leader() {
    let (addr, _) = start().await;
    let run = prismctl(&addr, &["-o", "json", "cluster", "status"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["leader_id"], serde_json::Value::Null);
    assert_eq!(v["term"], 5);
    assert_eq!(v["members"][0]["role"], "candidate");
    assert_eq!(v["members"][0]["id"], 2);

    let run = prismctl(&addr, &["cluster", "status"]).await;
    assert_eq!(run.code, Some(0));
    assert!(
        run.stdout.contains("leader_id      none\n"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn lists_follow_every_page() {
    let (addr, _) = start().await;
    let run = prismctl(&addr, &["-o", "json", "vpc", "list", "--project", "demo"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let v = run.json();
    let ids: Vec<&str> = v
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["vpc-0", "vpc-1", "vpc-2", "vpc-3", "vpc-4", "vpc-5"]);

    let run = prismctl(&addr, &["sg", "list", "--project", "demo"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines[0].starts_with("ID "));
    assert!(lines[2].contains(" web "), "{}", run.stdout);
}

#[tokio::test]
async fn security_groups_by_name() {
    let (addr, fake) = start().await;
    let run = prismctl(
        &addr,
        &[
            "-o",
            "json",
            "sg",
            "rule",
            "add",
            "web",
            "--project",
            "demo",
            "--direction",
            "ingress",
            "--protocol",
            "tcp",
            "--port-min",
            "22",
            "--port-max",
            "22",
            "--remote-group",
            "default",
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let req = fake
        .add_rule
        .lock()
        .unwrap()
        .clone()
        .expect("add_rule called");
    assert_eq!(req.security_group_id, SG_WEB);
    assert!(uuid_like(&req.request_id), "{}", req.request_id);
    let rule = req.rule.expect("rule");
    assert_eq!(rule.remote_group_id, SG_DEFAULT);
    assert_eq!(rule.protocol, "tcp");
    let v = run.json();
    assert_eq!(v["id"], "rule-1");
    assert_eq!(v["security_group_id"], SG_WEB);
    assert_eq!(v["direction"], "ingress");

    // A name without a project cannot be looked up: a usage error.
    let run = prismctl(&addr, &["sg", "get", "web"]).await;
    assert_eq!(run.code, Some(2));
    assert!(run.error_line().starts_with("error: invalid_argument: "));

    let run = prismctl(&addr, &["sg", "get", "nope", "--project", "demo"]).await;
    assert_eq!(run.code, Some(1));
    assert_eq!(run.error_line(), "error: not_found: no such group");
}

#[tokio::test]
async fn port_create_passes_group_names_and_request_id() {
    let (addr, fake) = start().await;
    let run = prismctl(
        &addr,
        &[
            "-o",
            "json",
            "port",
            "create",
            "--subnet",
            "s1",
            "--security-group",
            "default",
            "--device-id",
            "vm-1",
            "--request-id",
            "r-123",
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let req = fake
        .create_port
        .lock()
        .unwrap()
        .clone()
        .expect("create_port called");
    assert_eq!(req.request_id, "r-123");
    assert_eq!(req.security_groups, vec!["default"]);
    let v = run.json();
    assert_eq!(v["id"], "port-1");
    assert_eq!(v["subnet_id"], "s1");
    assert_eq!(v["mac_address"], "fa:16:3e:00:00:01");
    assert_eq!(v["fixed_ips"][0]["ip_address"], "10.0.1.5");
    assert_eq!(v["device_id"], "vm-1");
    assert_eq!(v["security_group_ids"][0], SG_DEFAULT);
    assert_eq!(v["host"], serde_json::Value::Null);
    assert_eq!(v["nic"]["mtu"], 1442);
}

#[tokio::test]
async fn server_errors_are_one_line_with_reason_and_facts() {
    let (addr, fake) = start().await;
    let run = prismctl(
        &addr,
        &[
            "vpc",
            "create",
            "--project",
            "demo",
            "--name",
            "a",
            "--cidr",
            "10.0.0.0/16",
        ],
    )
    .await;
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.error_line(),
        "error: cidr_overlap: CIDR overlaps another VPC of the project (cidr=10.0.0.0/16)"
    );
    assert!(run.stdout.is_empty());
    // One request id per invocation, a UUID v4 by default.
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(uuid_like(&seen[0].1), "{seen:?}");

    let run = prismctl(&addr, &["port", "get", "p-9"]).await;
    assert_eq!(run.code, Some(1));
    assert_eq!(run.error_line(), "error: not_found: port p-9 not found");
}

#[tokio::test]
async fn unimplemented_services_are_reported() {
    let (addr, _) = start().await;
    for args in [
        &["ovn", "status"][..],
        &["ovn", "diff"],
        &["ovn", "takeover"],
    ] {
        let run = prismctl(&addr, args).await;
        assert_eq!(run.code, Some(1), "{args:?}");
        assert!(
            run.error_line().starts_with("error: unimplemented: "),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn wait_up_that_times_out_prints_the_port_and_fails() {
    let (addr, _) = start().await;
    let run = prismctl(
        &addr,
        &["-o", "json", "port", "wait-up", "p1", "--timeout", "0"],
    )
    .await;
    assert_eq!(run.code, Some(1));
    assert_eq!(run.json()["up"], false);
    assert_eq!(
        run.error_line(),
        "error: timeout: port p1 is not up after 0s"
    );
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}
