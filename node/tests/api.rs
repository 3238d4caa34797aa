//! The public API of a real cluster, through the client library and raw tonic:
//! every service, stale reads, idempotency, the error contract, tenant isolation.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{all_pages, rid, with_token, Cluster, Options, WAIT};
use prismnet_api::errors::{reason_of, reasons};
use prismnet_api::metadata::{STALE_READ_HEADER, STALE_READ_VALUE};
use prismnet_api::v1;
use prismnet_api::v1::get_security_group_request::Lookup;
use prismnet_api::v1::vpc_service_client::VpcServiceClient;
use prismnet_api::{ClientError, PrismClient};
use tonic::Code;

fn create_vpc(project: &str, name: &str, cidrs: &[&str]) -> v1::CreateVpcRequest {
    v1::CreateVpcRequest {
        project: project.into(),
        name: name.into(),
        cidr_blocks: cidrs.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    }
}

fn create_port(subnet_id: &str, device_id: &str) -> v1::CreatePortRequest {
    v1::CreatePortRequest {
        subnet_id: subnet_id.into(),
        device_id: device_id.into(),
        ..Default::default()
    }
}

fn route(destination: &str, nexthop: &str) -> v1::Route {
    v1::Route {
        destination: destination.into(),
        nexthop: nexthop.into(),
    }
}

/// Asserts the call failed with this code and reason.
#[track_caller]
fn assert_error<T: std::fmt::Debug>(r: Result<T, ClientError>, code: Code, reason: &str) {
    match r {
        Ok(v) => panic!("expected {code:?} [{reason}], got success: {v:?}"),
        Err(e) => {
            assert_eq!(
                (e.code, e.reason.as_deref()),
                (code, Some(reason)),
                "unexpected error: {e}"
            );
        }
    }
}

async fn ports_of_subnet(client: &PrismClient, subnet_id: &str, page_size: u32) -> Vec<v1::Port> {
    all_pages(|token| async move {
        let r = client
            .list_ports(v1::ListPortsRequest {
                subnet_id: subnet_id.into(),
                page_size,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("list ports");
        (r.ports, r.next_page_token)
    })
    .await
}

async fn v4_allocated(client: &PrismClient, subnet_id: &str) -> u64 {
    client
        .get_subnet(v1::GetSubnetRequest {
            id: subnet_id.into(),
        })
        .await
        .expect("get subnet")
        .usage
        .and_then(|u| u.ipv4)
        .expect("ipv4 usage")
        .allocated
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_api_through_the_client_library() {
    // - a 3-node cluster; one client given every node
    // - VPC: create (two blocks, a static route), get, list, update name and routes
    // - project: appears with its first VPC (default quotas, usage, group `default`),
    //   get, list, set a quota
    // - subnet: dual-stack create with DNS, host routes, MTU; get with usage; list by
    //   VPC; update name and DNS
    // - port: create answers the NIC config (addresses with prefix lengths and
    //   gateways, DNS, MTU, host routes); get; list by subnet, by device id and by
    //   project, paginated; bind; update security groups; delete releases addresses
    //   (usage drops, the address can be taken again)
    // - security groups: `default` by name, create with a rule, add and remove rules,
    //   in-use refusal, delete
    // - external network (admin), VPC gateway set and clear, floating IP create,
    //   associate, disassociate, delete
    // - stale reads (`x-prismnet-stale: 1`, the client's stale option) are answered
    //   by a follower itself, while the same read without it is redirected
    // - everything is deleted again, leaving the project empty
    let mut c = Cluster::new(3, Options::default());
    c.start_all();
    let (leader, _) = c.wait_leader(&[1, 2, 3]).await;
    let client = c.client_all().await;
    let p = "tour";

    // VPC.
    let vpc = client
        .create_vpc(v1::CreateVpcRequest {
            static_routes: vec![route("192.168.0.0/24", "10.20.0.254")],
            ..create_vpc(p, "main", &["10.20.0.0/16", "fd20::/48"])
        })
        .await
        .expect("create vpc");
    assert_eq!((vpc.org.as_str(), vpc.project.as_str()), ("default", p));
    assert_eq!(vpc.cidr_blocks, ["10.20.0.0/16", "fd20::/48"]);
    assert_eq!(vpc.static_routes, [route("192.168.0.0/24", "10.20.0.254")]);
    assert_eq!(vpc.external_gateway, None);
    let got = client
        .get_vpc(v1::GetVpcRequest { id: vpc.id.clone() })
        .await
        .expect("get vpc");
    assert_eq!(got, vpc);
    let listed = client
        .list_vpcs(v1::ListVpcsRequest {
            project: p.into(),
            ..Default::default()
        })
        .await
        .expect("list vpcs");
    assert_eq!(listed.vpcs, std::slice::from_ref(&vpc));
    let vpc = client
        .update_vpc(v1::UpdateVpcRequest {
            id: vpc.id.clone(),
            name: Some("main-renamed".into()),
            static_routes: Some(v1::RouteList {
                routes: vec![
                    route("192.168.1.0/24", "10.20.0.253"),
                    route("192.168.2.0/24", "10.20.0.253"),
                ],
            }),
            ..Default::default()
        })
        .await
        .expect("update vpc");
    assert_eq!(vpc.name, "main-renamed");
    assert_eq!(vpc.static_routes.len(), 2);

    // Project: made by the first VPC.
    let project = client
        .get_project(v1::GetProjectRequest {
            org: String::new(),
            project: p.into(),
        })
        .await
        .expect("get project");
    let usage = project.usage.expect("usage");
    assert_eq!((usage.vpcs, usage.security_groups), (1, 1));
    let quotas = project.quotas.expect("quotas");
    assert!(quotas.ports > 0 && quotas.vpcs > 0);
    let projects = client
        .list_projects(v1::ListProjectsRequest::default())
        .await
        .expect("list projects");
    assert!(projects.projects.iter().any(|x| x.project == p));
    // Paging walks (org, project) order: orgs `pg` and `pg-x` sort the other way
    // round as "org/project" text, and a page ending in `pg/...` once skipped
    // `pg-x/*`.
    for (org, project) in [("pg", "z"), ("pg-x", "a"), ("pg-x", "b")] {
        client
            .set_quota(v1::SetQuotaRequest {
                org: org.into(),
                project: project.into(),
                quotas: Some(v1::QuotaUpdate::default()),
                ..Default::default()
            })
            .await
            .expect("set quota");
    }
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_projects(v1::ListProjectsRequest {
                page_size: 1,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("list page");
        paged.extend(
            page.projects
                .iter()
                .map(|x| format!("{}/{}", x.org, x.project)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let all: Vec<String> = client
        .list_projects(v1::ListProjectsRequest::default())
        .await
        .expect("list")
        .projects
        .iter()
        .map(|x| format!("{}/{}", x.org, x.project))
        .collect();
    assert_eq!(paged, all);
    for want in ["pg/z", "pg-x/a", "pg-x/b"] {
        assert!(all.iter().any(|x| x == want), "{want} missing: {all:?}");
    }
    let project = client
        .set_quota(v1::SetQuotaRequest {
            project: p.into(),
            quotas: Some(v1::QuotaUpdate {
                ports: Some(500),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("set quota");
    let q = project.quotas.expect("quotas");
    assert_eq!(q.ports, 500);
    assert_eq!(q.vpcs, quotas.vpcs, "other quotas unchanged");

    // Subnet.
    let subnet = client
        .create_subnet(v1::CreateSubnetRequest {
            vpc_id: vpc.id.clone(),
            name: "web".into(),
            ipv4_cidr: "10.20.1.0/24".into(),
            ipv6_cidr: "fd20:0:0:1::/64".into(),
            dns_servers: vec!["10.20.0.2".into()],
            host_routes: vec![route("172.16.0.0/16", "10.20.1.254")],
            mtu: Some(1400),
            ipv6_mode: v1::Ipv6Mode::Dhcpv6Stateful as i32,
            ..Default::default()
        })
        .await
        .expect("create subnet");
    assert_eq!(subnet.ipv4_cidr, "10.20.1.0/24");
    assert_eq!(subnet.ipv6_cidr, "fd20:0:0:1::/64");
    assert_eq!(subnet.gateway_ipv4, "10.20.1.1");
    assert!(!subnet.gateway_ipv6.is_empty());
    assert_eq!(subnet.mtu, 1400);
    assert_eq!(subnet.vpc_id, vpc.id);
    let usage = subnet.usage.expect("usage");
    assert!(usage.ipv4.is_some() && usage.ipv6.is_some(), "{usage:?}");
    let allocated_before = v4_allocated(&client, &subnet.id).await;
    let listed = client
        .list_subnets(v1::ListSubnetsRequest {
            vpc_id: vpc.id.clone(),
            ..Default::default()
        })
        .await
        .expect("list subnets");
    assert_eq!(
        listed.subnets.iter().map(|s| &s.id).collect::<Vec<_>>(),
        [&subnet.id]
    );
    let subnet = client
        .update_subnet(v1::UpdateSubnetRequest {
            id: subnet.id.clone(),
            name: Some("web-renamed".into()),
            dns_servers: Some(v1::StringList {
                values: vec!["10.20.0.3".into(), "10.20.0.4".into()],
            }),
            ..Default::default()
        })
        .await
        .expect("update subnet");
    assert_eq!(subnet.name, "web-renamed");
    assert_eq!(subnet.dns_servers, ["10.20.0.3", "10.20.0.4"]);

    // Port: the NIC configuration.
    let nic = client
        .create_port(v1::CreatePortRequest {
            name: "nic0".into(),
            ..create_port(&subnet.id, "vm-1")
        })
        .await
        .expect("create port");
    let port = nic.port.clone().expect("port");
    assert_eq!(port.subnet_id, subnet.id);
    assert_eq!(port.vpc_id, vpc.id);
    assert_eq!(port.project, p);
    assert_eq!(port.device_id, "vm-1");
    assert!(!port.mac_address.is_empty());
    assert_eq!(port.fixed_ips.len(), 2, "one address per family: {port:?}");
    let v4 = nic
        .addresses
        .iter()
        .find(|a| a.address.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4()))
        .expect("an IPv4 address");
    assert_eq!((v4.prefix_length, v4.gateway.as_str()), (24, "10.20.1.1"));
    let v6 = nic
        .addresses
        .iter()
        .find(|a| a.address.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6()))
        .expect("an IPv6 address");
    assert_eq!(
        (v6.prefix_length, v6.gateway.as_str()),
        (64, subnet.gateway_ipv6.as_str())
    );
    assert_eq!(nic.dns_servers, ["10.20.0.3", "10.20.0.4"]);
    assert_eq!(nic.mtu, 1400);
    assert_eq!(nic.host_routes, [route("172.16.0.0/16", "10.20.1.254")]);
    assert_eq!(
        v4_allocated(&client, &subnet.id).await,
        allocated_before + 1
    );
    let got = client
        .get_port(v1::GetPortRequest {
            port_id: port.id.clone(),
        })
        .await
        .expect("get port");
    assert_eq!(got, port);

    // Security groups: the port is in the project's `default` group.
    let default_sg = client
        .get_security_group(v1::GetSecurityGroupRequest {
            lookup: Some(Lookup::ByName(v1::SecurityGroupName {
                org: String::new(),
                project: p.into(),
                name: "default".into(),
            })),
        })
        .await
        .expect("default group by name");
    assert_eq!(
        port.security_group_ids,
        std::slice::from_ref(&default_sg.id)
    );
    assert!(!default_sg.rules.is_empty(), "default group has rules");

    // More ports, for listing and pagination.
    let mut port_ids = BTreeSet::from([port.id.clone()]);
    for i in 2..=6 {
        let r = client
            .create_port(create_port(&subnet.id, &format!("vm-{i}")))
            .await
            .expect("create port");
        port_ids.insert(r.port.expect("port").id);
    }
    let by_subnet = ports_of_subnet(&client, &subnet.id, 2).await;
    assert_eq!(
        by_subnet
            .iter()
            .map(|p| p.id.clone())
            .collect::<BTreeSet<_>>(),
        port_ids,
        "pages of 2 cover every port once"
    );
    assert_eq!(by_subnet.len(), port_ids.len());
    let by_device = client
        .list_ports(v1::ListPortsRequest {
            device_id: "vm-1".into(),
            ..Default::default()
        })
        .await
        .expect("list by device");
    assert_eq!(by_device.ports, std::slice::from_ref(&port));
    let by_project = all_pages(|token| {
        let client = &client;
        async move {
            let r = client
                .list_ports(v1::ListPortsRequest {
                    project: p.into(),
                    page_size: 4,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .expect("list by project");
            (r.ports, r.next_page_token)
        }
    })
    .await;
    assert_eq!(
        by_project
            .iter()
            .map(|p| p.id.clone())
            .collect::<BTreeSet<_>>(),
        port_ids
    );

    let bound = client
        .bind_port(v1::BindPortRequest {
            port_id: port.id.clone(),
            host: "chassis-1".into(),
            ..Default::default()
        })
        .await
        .expect("bind port");
    assert_eq!(bound.host, "chassis-1");

    let web = client
        .create_security_group(v1::CreateSecurityGroupRequest {
            project: p.into(),
            name: "web".into(),
            description: "web servers".into(),
            rules: vec![v1::SecurityGroupRule {
                direction: v1::Direction::Ingress as i32,
                ethertype: v1::EtherType::Ipv4 as i32,
                protocol: "tcp".into(),
                port_range_min: 443,
                port_range_max: 443,
                remote_ip_prefix: "0.0.0.0/0".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .expect("create group");
    // A new group holds the rules given plus the default egress rules.
    assert!(
        web.rules
            .iter()
            .any(|r| r.port_range_min == 443 && r.remote_ip_prefix == "0.0.0.0/0"),
        "{web:?}"
    );
    let rules_before = web.rules.len();
    let added = client
        .add_rule(v1::AddRuleRequest {
            security_group_id: web.id.clone(),
            rule: Some(v1::SecurityGroupRule {
                direction: v1::Direction::Ingress as i32,
                ethertype: v1::EtherType::Ipv4 as i32,
                protocol: "tcp".into(),
                port_range_min: 80,
                port_range_max: 80,
                remote_ip_prefix: "10.0.0.0/8".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("add rule");
    let rule = added.rule.expect("the new rule");
    assert_eq!(rule.port_range_min, 80);
    assert_eq!(
        added.security_group.expect("group").rules.len(),
        rules_before + 1
    );
    let groups = client
        .list_security_groups(v1::ListSecurityGroupsRequest {
            project: p.into(),
            ..Default::default()
        })
        .await
        .expect("list groups");
    assert_eq!(
        groups
            .security_groups
            .iter()
            .map(|g| g.name.as_str())
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["default", "web"])
    );
    let updated = client
        .update_port(v1::UpdatePortRequest {
            port_id: port.id.clone(),
            security_groups: Some(v1::StringList {
                values: vec!["web".into(), "default".into()],
            }),
            ..Default::default()
        })
        .await
        .expect("update port groups by name");
    assert_eq!(
        updated
            .security_group_ids
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([web.id.clone(), default_sg.id.clone()])
    );
    assert_error(
        client
            .delete_security_group(v1::DeleteSecurityGroupRequest {
                id: web.id.clone(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
        reasons::SECURITY_GROUP_IN_USE,
    );
    let web = client
        .remove_rule(v1::RemoveRuleRequest {
            security_group_id: web.id.clone(),
            rule_id: rule.id.clone(),
            ..Default::default()
        })
        .await
        .expect("remove rule");
    assert_eq!(web.rules.len(), rules_before);
    assert!(web.rules.iter().all(|r| r.id != rule.id));
    client
        .update_port(v1::UpdatePortRequest {
            port_id: port.id.clone(),
            security_groups: Some(v1::StringList {
                values: vec!["default".into()],
            }),
            ..Default::default()
        })
        .await
        .expect("back to default only");
    client
        .delete_security_group(v1::DeleteSecurityGroupRequest {
            id: web.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete group");

    // External network, gateway, floating IP.
    let ext = client
        .create_external_network(v1::CreateExternalNetworkRequest {
            name: "public".into(),
            cidr: "203.0.113.0/24".into(),
            gateway_ip: "203.0.113.1".into(),
            provider_network: "physnet1".into(),
            gateway_chassis: vec!["chassis-1".into()],
            ..Default::default()
        })
        .await
        .expect("create external network");
    assert_eq!(
        client
            .get_external_network(v1::GetExternalNetworkRequest { id: ext.id.clone() })
            .await
            .expect("get external network"),
        ext
    );
    let exts = client
        .list_external_networks(v1::ListExternalNetworksRequest::default())
        .await
        .expect("list external networks");
    assert_eq!(exts.external_networks, std::slice::from_ref(&ext));
    let with_gw = client
        .set_gateway(v1::SetGatewayRequest {
            vpc_id: vpc.id.clone(),
            external_network_id: ext.id.clone(),
            enable_snat: true,
            ..Default::default()
        })
        .await
        .expect("set gateway");
    let gw = with_gw.external_gateway.expect("gateway");
    assert_eq!(gw.external_network_id, ext.id);
    assert!(gw.enable_snat);
    assert!(gw.external_ip.starts_with("203.0.113."), "{gw:?}");
    let fip = client
        .create_floating_ip(v1::CreateFloatingIpRequest {
            project: p.into(),
            external_network_id: ext.id.clone(),
            ..Default::default()
        })
        .await
        .expect("create floating ip");
    assert!(fip.floating_ip_address.starts_with("203.0.113."));
    assert_eq!(fip.port_id, "");
    let fip = client
        .associate_floating_ip(v1::AssociateFloatingIpRequest {
            floating_ip_id: fip.id.clone(),
            port_id: port.id.clone(),
            ..Default::default()
        })
        .await
        .expect("associate");
    assert_eq!(fip.port_id, port.id);
    assert_eq!(fip.fixed_ip_address, v4.address);
    assert_eq!(
        client
            .get_floating_ip(v1::GetFloatingIpRequest { id: fip.id.clone() })
            .await
            .expect("get fip"),
        fip
    );
    let fips = client
        .list_floating_ips(v1::ListFloatingIpsRequest {
            project: p.into(),
            ..Default::default()
        })
        .await
        .expect("list fips");
    assert_eq!(fips.floating_ips, std::slice::from_ref(&fip));
    let fip = client
        .disassociate_floating_ip(v1::DisassociateFloatingIpRequest {
            floating_ip_id: fip.id.clone(),
            ..Default::default()
        })
        .await
        .expect("disassociate");
    assert_eq!(fip.port_id, "");
    client
        .delete_floating_ip(v1::DeleteFloatingIpRequest {
            id: fip.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete fip");
    let cleared = client
        .clear_gateway(v1::ClearGatewayRequest {
            vpc_id: vpc.id.clone(),
            ..Default::default()
        })
        .await
        .expect("clear gateway");
    assert_eq!(cleared.external_gateway, None);

    // Stale reads: a follower answers them itself.
    let follower = (1..=3).find(|i| *i != leader).expect("a follower");
    let mut raw = VpcServiceClient::new(c.channel(follower));
    let mut stale = tonic::Request::new(v1::GetVpcRequest { id: vpc.id.clone() });
    stale
        .metadata_mut()
        .insert(STALE_READ_HEADER, STALE_READ_VALUE.parse().expect("header"));
    let deadline = Instant::now() + WAIT;
    loop {
        // The follower may be a moment behind the leader: poll for the latest name.
        let mut req = tonic::Request::new(stale.get_ref().clone());
        *req.metadata_mut() = stale.metadata().clone();
        let got = raw.get_vpc(req).await.expect("stale read on a follower");
        if got.into_inner() == cleared {
            break;
        }
        assert!(Instant::now() < deadline, "follower never caught up");
        tokio::time::sleep(common::POLL).await;
    }
    let err = raw
        .get_vpc(v1::GetVpcRequest { id: vpc.id.clone() })
        .await
        .expect_err("without the header the follower redirects");
    assert_eq!(reason_of(&err).as_deref(), Some(reasons::NOT_LEADER));
    let stale_client = c.client(&[follower]).await.with_stale_reads(true);
    let got = stale_client
        .get_subnet(v1::GetSubnetRequest {
            id: subnet.id.clone(),
        })
        .await
        .expect("stale read through the library");
    assert_eq!(got.id, subnet.id);
    assert_eq!(
        stale_client.cached_leader(),
        None,
        "a stale read never went to the leader"
    );

    // Deleting a port releases its addresses: usage drops, and the address is free.
    let before_delete = v4_allocated(&client, &subnet.id).await;
    client
        .delete_port(v1::DeletePortRequest {
            port_id: port.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete port");
    assert_error(
        client
            .get_port(v1::GetPortRequest {
                port_id: port.id.clone(),
            })
            .await,
        Code::NotFound,
        reasons::NOT_FOUND,
    );
    assert_eq!(v4_allocated(&client, &subnet.id).await, before_delete - 1);
    let again = client
        .create_port(v1::CreatePortRequest {
            fixed_ips: vec![v4.address.clone()],
            ..create_port(&subnet.id, "vm-again")
        })
        .await
        .expect("the released address can be taken again");
    port_ids.remove(&port.id);
    port_ids.insert(again.port.expect("port").id);

    // Clean up everything: the project ends empty.
    for id in &port_ids {
        client
            .delete_port(v1::DeletePortRequest {
                port_id: id.clone(),
                ..Default::default()
            })
            .await
            .expect("delete port");
    }
    client
        .delete_subnet(v1::DeleteSubnetRequest {
            id: subnet.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete subnet");
    client
        .delete_vpc(v1::DeleteVpcRequest {
            id: vpc.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete vpc");
    client
        .delete_external_network(v1::DeleteExternalNetworkRequest {
            id: ext.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete external network");
    assert_error(
        client
            .get_vpc(v1::GetVpcRequest { id: vpc.id.clone() })
            .await,
        Code::NotFound,
        reasons::NOT_FOUND,
    );
    let usage = client
        .get_project(v1::GetProjectRequest {
            org: String::new(),
            project: p.into(),
        })
        .await
        .expect("get project")
        .usage
        .expect("usage");
    assert_eq!((usage.vpcs, usage.subnets, usage.ports), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_and_every_error_reason_over_the_wire() {
    // - idempotency: the same CreatePort request_id twice (the retry through another
    //   node) answers the same port and allocates once; the same id with a different
    //   request is FAILED_PRECONDITION request_id_conflict
    // - one call per error reason, with its code: INVALID_ARGUMENT cidr_overlap,
    //   ALREADY_EXISTS ip_in_use, RESOURCE_EXHAUSTED subnet_full and quota_exceeded,
    //   NOT_FOUND not_found, FAILED_PRECONDITION subnet_has_ports
    // - malformed input: bad CIDR, IP and id are INVALID_ARGUMENT (invalid_cidr,
    //   invalid_ip, invalid_id)
    // - a request over 4 MiB is refused (RESOURCE_EXHAUSTED request_too_large) and
    //   changes nothing; the node keeps serving
    // - no leader: with the leader and one follower killed, the survivor refuses writes
    //   with UNAVAILABLE (not_leader while it still remembers the dead leader, then
    //   no_leader), and the library's call ends in an error, never a success
    // - a leader cut off from both followers answers a write UNAVAILABLE
    //   (commit_timeout) rather than hanging or succeeding
    let mut c = Cluster::new(3, Options::default());
    c.start_all();
    let (leader, _) = c.wait_leader(&[1, 2, 3]).await;
    let client = c.client_all().await;
    let p = "errors";
    let vpc = client
        .create_vpc(create_vpc(p, "v", &["10.30.0.0/16"]))
        .await
        .expect("create vpc");
    // A /29: five usable addresses besides the gateway.
    let subnet = client
        .create_subnet(v1::CreateSubnetRequest {
            vpc_id: vpc.id.clone(),
            name: "tiny".into(),
            ipv4_cidr: "10.30.1.0/29".into(),
            ..Default::default()
        })
        .await
        .expect("create subnet");

    // Idempotency.
    let request = v1::CreatePortRequest {
        request_id: rid(),
        ..create_port(&subnet.id, "idem")
    };
    let first = client
        .create_port(request.clone())
        .await
        .expect("first create");
    let allocated = v4_allocated(&client, &subnet.id).await;
    let follower = (1..=3).find(|i| *i != leader).expect("a follower");
    let retry = c
        .client(&[follower])
        .await
        .create_port(request.clone())
        .await
        .expect("retry with the same request id");
    assert_eq!(
        retry.port, first.port,
        "the retry answers the first outcome"
    );
    assert_eq!(retry.addresses, first.addresses);
    assert_eq!(
        v4_allocated(&client, &subnet.id).await,
        allocated,
        "one allocation"
    );
    let idem = client
        .list_ports(v1::ListPortsRequest {
            device_id: "idem".into(),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(idem.ports.len(), 1);
    assert_error(
        client
            .create_port(v1::CreatePortRequest {
                name: "something else".into(),
                ..request.clone()
            })
            .await,
        Code::FailedPrecondition,
        reasons::REQUEST_ID_CONFLICT,
    );

    // Domain errors, one each.
    assert_error(
        client
            .create_subnet(v1::CreateSubnetRequest {
                vpc_id: vpc.id.clone(),
                name: "overlapping".into(),
                ipv4_cidr: "10.30.1.0/24".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        reasons::CIDR_OVERLAP,
    );
    let taken = first.port.clone().expect("port").fixed_ips[0]
        .ip_address
        .clone();
    assert_error(
        client
            .create_port(v1::CreatePortRequest {
                fixed_ips: vec![taken],
                ..create_port(&subnet.id, "dup")
            })
            .await,
        Code::AlreadyExists,
        reasons::IP_IN_USE,
    );
    let mut filled = 0;
    let full = loop {
        match client.create_port(create_port(&subnet.id, "filler")).await {
            Ok(_) => filled += 1,
            Err(e) => break e,
        }
        assert!(filled < 16, "a /29 never filled up");
    };
    assert_eq!(
        (full.code, full.reason.as_deref()),
        (Code::ResourceExhausted, Some(reasons::SUBNET_FULL)),
        "{full}"
    );
    assert_eq!(filled, 4, "a /29 holds five ports besides the gateway");
    client
        .set_quota(v1::SetQuotaRequest {
            project: p.into(),
            quotas: Some(v1::QuotaUpdate {
                vpcs: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("set quota");
    assert_error(
        client
            .create_vpc(create_vpc(p, "second", &["10.31.0.0/16"]))
            .await,
        Code::ResourceExhausted,
        reasons::QUOTA_EXCEEDED,
    );
    assert_error(
        client
            .get_port(v1::GetPortRequest {
                port_id: "0badc0de-0000-4000-8000-000000000000".into(),
            })
            .await,
        Code::NotFound,
        reasons::NOT_FOUND,
    );
    assert_error(
        client
            .delete_subnet(v1::DeleteSubnetRequest {
                id: subnet.id.clone(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
        reasons::SUBNET_HAS_PORTS,
    );

    // Malformed input.
    assert_error(
        client
            .create_subnet(v1::CreateSubnetRequest {
                vpc_id: vpc.id.clone(),
                name: "bad".into(),
                ipv4_cidr: "10.30.2.0/33".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        reasons::INVALID_CIDR,
    );
    assert_error(
        client
            .create_port(v1::CreatePortRequest {
                fixed_ips: vec!["10.30.1.300".into()],
                ..create_port(&subnet.id, "bad")
            })
            .await,
        Code::InvalidArgument,
        reasons::INVALID_IP,
    );
    assert_error(
        client
            .get_vpc(v1::GetVpcRequest {
                id: "not-an-id".into(),
            })
            .await,
        Code::InvalidArgument,
        reasons::INVALID_ID,
    );

    // An oversized request changes nothing.
    let applied_before = c.status(leader).await.expect("status").applied_index;
    let mut raw = VpcServiceClient::new(c.channel(leader));
    let err = raw
        .create_vpc(v1::CreateVpcRequest {
            request_id: rid(),
            ..create_vpc(p, &"x".repeat(5 << 20), &["10.32.0.0/16"])
        })
        .await
        .expect_err("a 5 MiB request is refused");
    assert_eq!(
        (err.code(), reason_of(&err).as_deref()),
        (Code::ResourceExhausted, Some(reasons::REQUEST_TOO_LARGE)),
        "{err:?}"
    );
    let vpcs = client
        .list_vpcs(v1::ListVpcsRequest {
            project: p.into(),
            ..Default::default()
        })
        .await
        .expect("the node still serves");
    assert_eq!(vpcs.vpcs.len(), 1);
    assert_eq!(
        c.status(leader).await.expect("status").applied_index,
        applied_before,
        "nothing was proposed"
    );

    // No leader: only one follower survives.
    let survivor = follower;
    let other = (1..=3)
        .find(|i| *i != leader && *i != survivor)
        .expect("the other follower");
    c.kill(leader);
    c.kill(other);
    let mut raw = VpcServiceClient::new(c.channel(survivor));
    let deadline = Instant::now() + WAIT;
    loop {
        let err = raw
            .create_vpc(v1::CreateVpcRequest {
                request_id: rid(),
                ..create_vpc("lonely", "never", &["10.40.0.0/16"])
            })
            .await
            .expect_err("a lone follower must not accept a write");
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        let reason = reason_of(&err);
        assert!(
            matches!(
                reason.as_deref(),
                Some(reasons::NOT_LEADER | reasons::NO_LEADER)
            ),
            "{err:?}"
        );
        if reason.as_deref() == Some(reasons::NO_LEADER) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the survivor never said no_leader"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lonely = c
        .client(&[survivor])
        .await
        .with_deadline(Duration::from_secs(3));
    let err = lonely
        .create_vpc(create_vpc("lonely", "never", &["10.41.0.0/16"]))
        .await
        .expect_err("no write succeeds without a quorum");
    assert_eq!(err.code, Code::DeadlineExceeded, "{err}");

    // The killed follower comes back: two nodes elect a leader and serve again.
    c.start(other);
    let (new_leader, _) = c.wait_leader(&[survivor, other]).await;
    let listed = c
        .client(&[survivor, other])
        .await
        .list_vpcs(v1::ListVpcsRequest {
            project: "lonely".into(),
            ..Default::default()
        })
        .await
        .expect("list after recovery");
    assert!(listed.vpcs.is_empty(), "refused writes left nothing");

    // A leader alone: its write cannot commit and is answered UNAVAILABLE.
    let cut_off = if new_leader == survivor {
        other
    } else {
        survivor
    };
    c.kill(cut_off);
    let mut raw = VpcServiceClient::new(c.channel(new_leader));
    let mut req = tonic::Request::new(v1::CreateVpcRequest {
        request_id: rid(),
        ..create_vpc("lonely", "uncommitted", &["10.42.0.0/16"])
    });
    req.set_timeout(Duration::from_secs(40));
    let err = raw
        .create_vpc(req)
        .await
        .expect_err("a leader without a quorum cannot acknowledge a write");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        matches!(
            reason_of(&err).as_deref(),
            Some(reasons::COMMIT_TIMEOUT | reasons::NO_LEADER | reasons::NOT_LEADER)
        ),
        "{err:?}"
    );
}

const TOKENS: &str = r#"
[[tokens]]
token = "admin-token-0001"
admin = true

[[tokens]]
token = "alpha-token-0001"
project = "alpha"

[[tokens]]
token = "bravo-token-0001"
project = "bravo"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated_by_their_tokens() {
    // - a single-node cluster with a tokens file: an admin token and two project
    //   tokens (alpha, bravo)
    // - bravo creates a VPC, subnet and port in its own project
    // - alpha cannot get, list or delete them (NOT_FOUND; its lists show only its own
    //   project; naming bravo's project in a list is PERMISSION_DENIED scope_mismatch)
    // - alpha cannot create in bravo's scope (PERMISSION_DENIED scope_mismatch) and
    //   cannot create external networks (PERMISSION_DENIED)
    // - the admin sees both projects; no token or an unknown one is UNAUTHENTICATED
    let mut c = Cluster::new(
        1,
        Options {
            tokens: Some(TOKENS.into()),
            admin_token: Some("admin-token-0001".into()),
            ..Options::default()
        },
    );
    c.start_all();
    c.wait_leader(&[1]).await;
    let admin = c.client(&[1]).await;
    let alpha = c.client_with_token(&[1], Some("alpha-token-0001")).await;
    let bravo = c.client_with_token(&[1], Some("bravo-token-0001")).await;

    let b_vpc = bravo
        .create_vpc(create_vpc("bravo", "b", &["10.50.0.0/16"]))
        .await
        .expect("bravo creates in its project");
    let b_subnet = bravo
        .create_subnet(v1::CreateSubnetRequest {
            vpc_id: b_vpc.id.clone(),
            name: "b".into(),
            ipv4_cidr: "10.50.1.0/24".into(),
            ..Default::default()
        })
        .await
        .expect("bravo subnet");
    let b_port = bravo
        .create_port(create_port(&b_subnet.id, "b-vm"))
        .await
        .expect("bravo port")
        .port
        .expect("port");
    let a_vpc = alpha
        .create_vpc(create_vpc("alpha", "a", &["10.50.0.0/16"]))
        .await
        .expect("alpha creates in its project (same CIDR: projects are separate)");

    // Reads and deletes of bravo's resources: not found for alpha.
    assert_error(
        alpha
            .get_vpc(v1::GetVpcRequest {
                id: b_vpc.id.clone(),
            })
            .await,
        Code::NotFound,
        reasons::NOT_FOUND,
    );
    assert_error(
        alpha
            .get_subnet(v1::GetSubnetRequest {
                id: b_subnet.id.clone(),
            })
            .await,
        Code::NotFound,
        reasons::NOT_FOUND,
    );
    assert_error(
        alpha
            .get_port(v1::GetPortRequest {
                port_id: b_port.id.clone(),
            })
            .await,
        Code::NotFound,
        reasons::NOT_FOUND,
    );
    assert_error(
        alpha
            .delete_port(v1::DeletePortRequest {
                port_id: b_port.id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        reasons::NOT_FOUND,
    );
    assert_error(
        alpha
            .delete_vpc(v1::DeleteVpcRequest {
                id: b_vpc.id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        reasons::NOT_FOUND,
    );
    let alpha_vpcs = alpha
        .list_vpcs(v1::ListVpcsRequest::default())
        .await
        .expect("alpha lists");
    assert_eq!(
        alpha_vpcs.vpcs,
        std::slice::from_ref(&a_vpc),
        "alpha sees only its own"
    );
    let alpha_ports = alpha
        .list_ports(v1::ListPortsRequest::default())
        .await
        .expect("alpha lists ports");
    assert!(alpha_ports.ports.is_empty());
    assert_error(
        alpha
            .list_vpcs(v1::ListVpcsRequest {
                project: "bravo".into(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        reasons::SCOPE_MISMATCH,
    );

    // Creating in bravo's scope, or admin-only resources.
    assert_error(
        alpha
            .create_vpc(create_vpc("bravo", "intruder", &["10.60.0.0/16"]))
            .await,
        Code::PermissionDenied,
        reasons::SCOPE_MISMATCH,
    );
    assert_error(
        alpha
            .create_subnet(v1::CreateSubnetRequest {
                vpc_id: b_vpc.id.clone(),
                name: "intruder".into(),
                ipv4_cidr: "10.50.2.0/24".into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        reasons::NOT_FOUND,
    );
    let denied = alpha
        .create_external_network(v1::CreateExternalNetworkRequest {
            name: "mine".into(),
            cidr: "198.51.100.0/24".into(),
            gateway_ip: "198.51.100.1".into(),
            provider_network: "physnet1".into(),
            gateway_chassis: vec!["ch".into()],
            ..Default::default()
        })
        .await
        .expect_err("external networks are admin only");
    assert_eq!(denied.code, Code::PermissionDenied, "{denied}");

    // Bravo's things are intact; the admin sees both projects.
    bravo
        .get_port(v1::GetPortRequest {
            port_id: b_port.id.clone(),
        })
        .await
        .expect("bravo's port survived alpha");
    let all = admin
        .list_vpcs(v1::ListVpcsRequest::default())
        .await
        .expect("admin lists");
    assert_eq!(
        all.vpcs
            .iter()
            .map(|v| v.project.as_str())
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["alpha", "bravo"])
    );

    // No token, or an unknown one.
    let anonymous = c.client_with_token(&[1], None).await;
    assert_error(
        anonymous.list_vpcs(v1::ListVpcsRequest::default()).await,
        Code::Unauthenticated,
        reasons::UNAUTHENTICATED,
    );
    let mut raw = VpcServiceClient::new(c.channel(1));
    let err = raw
        .list_vpcs(with_token(
            v1::ListVpcsRequest::default(),
            Some("not-a-known-token"),
        ))
        .await
        .expect_err("unknown token");
    assert_eq!(err.code(), Code::Unauthenticated);
}
