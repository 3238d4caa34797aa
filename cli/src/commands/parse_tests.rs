//! Every command form of the issue parses (clap `try_parse_from`), bad forms are
//! usage errors, and the parsed arguments turn into the right requests.

use clap::error::ErrorKind;
use clap::Parser;
use prismnet_api::v1::{Direction, EtherType, Ipv6Mode};

use super::cluster::ClusterCmd;
use super::extnet::ExtnetCmd;
use super::fip::FipCmd;
use super::ovn::OvnCmd;
use super::port::PortCmd;
use super::project::ProjectCmd;
use super::sg::{RuleCmd, SgCmd};
use super::subnet::SubnetCmd;
use super::vpc::VpcCmd;
use super::Command;
use crate::output::Format;
use crate::Cli;

const SG_ID: &str = "6f1c2a4e-8d0b-4c53-9a51-2f7b0e6d9c11";

fn parse(line: &str) -> Cli {
    let args = std::iter::once("prismctl").chain(line.split_whitespace());
    match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => panic!("{line:?} did not parse: {e}"),
    }
}

fn parse_err(line: &str) -> ErrorKind {
    let args = std::iter::once("prismctl").chain(line.split_whitespace());
    match Cli::try_parse_from(args) {
        Ok(cli) => panic!("{line:?} parsed: {cli:?}"),
        Err(e) => {
            // Usage errors exit 2, like every clap error but help/version.
            assert_eq!(e.exit_code(), 2, "{line:?}: {e}");
            e.kind()
        }
    }
}

#[test]
fn every_documented_form_parses() {
    let forms = [
        "cluster status",
        "cluster add-node --id 4 --raft-addr 10.0.0.4:7000 --api-addr 10.0.0.4:7001",
        "cluster remove-node --id 4",
        "cluster snapshot",
        "cluster settings",
        "cluster settings --request-id-retention 500000",
        "--request-id r1 --seen-revision 42 vpc delete 00000000-0000-0000-0000-000000000001",
        "project show demo --org acme",
        "project show demo",
        "project list",
        "project set-quota demo --org acme --ports 10 --vpcs 2 --subnets 3 --security-groups 4 --rules-per-group 5 --floating-ips 6",
        "vpc create --project demo --org acme --name main --cidr 10.0.0.0/16 --cidr fd00::/48",
        "vpc create --project demo --name main --cidr 10.0.0.0/16",
        "vpc get v1",
        "vpc list --project demo",
        "vpc list",
        "vpc delete v1",
        "vpc update v1 --name other --route 0.0.0.0/0=10.0.0.254 --route ::/0=fd00::1",
        "vpc update v1 --clear-routes",
        "vpc set-gateway v1 --extnet e1 --no-snat",
        "vpc set-gateway v1 --extnet e1",
        "vpc clear-gateway v1",
        "subnet create --vpc v1 --name web --cidr 10.0.1.0/24 --cidr fd00:0:0:1::/64 --gateway 10.0.1.1 --gateway fd00:0:0:1::1 --no-dhcp --dns 10.0.0.53 --dns fd00::53 --host-route 192.168.0.0/16=10.0.1.254 --pool 10.0.1.10-10.0.1.100 --pool 10.0.1.150-10.0.1.200 --reserved 10.0.1.101-10.0.1.110 --mtu 1400 --ipv6-mode dhcpv6-stateful",
        "subnet create --vpc v1 --name web --cidr 10.0.1.0/24 --ipv6-mode slaac",
        "subnet create --vpc v1 --name web --cidr fd00::/64 --ipv6-mode dhcpv6-stateless",
        "subnet get s1",
        "subnet list --vpc v1",
        "subnet list --project demo",
        "subnet list",
        "subnet delete s1",
        "subnet update s1 --name x --dns 10.0.0.53 --no-dhcp",
        "port create --subnet s1 --ip 10.0.1.5 --ip fd00:0:0:1::5 --mac fa:16:3e:00:00:01 --device-id vm-1 --device-owner plasmavmc:vm --name eth0 --security-group default --security-group web --no-port-security --request-id r-1",
        "port create --subnet s1 --no-security-group",
        "port create --subnet s1",
        "port get p1",
        "port list --subnet s1 --device-id vm-1 --project demo",
        "port list",
        "port delete p1",
        "port bind p1 --host chassis-1",
        "port unbind p1",
        "port update p1 --security-group default --security-group web --name eth1",
        "port update p1 --no-security-group",
        "port wait-up p1 --timeout 10",
        "port wait-up p1",
        "sg create --project demo --org acme --name web --description frontends",
        "sg create --project demo --name web",
        "sg get default --project demo",
        "sg get 6f1c2a4e-8d0b-4c53-9a51-2f7b0e6d9c11",
        "sg list --project demo",
        "sg list",
        "sg delete web --project demo",
        "sg rule add default --project demo --direction ingress --ethertype ipv4 --protocol tcp --port-min 22 --port-max 22 --remote-cidr 10.0.0.0/8",
        "sg rule add web --project demo --direction egress --protocol 47 --remote-group default",
        "sg rule add web --direction ingress --protocol icmp",
        "sg rule remove web r1 --project demo",
        "sg rule remove 6f1c2a4e-8d0b-4c53-9a51-2f7b0e6d9c11 r1",
        "extnet create --name pub --cidr 203.0.113.0/24 --gateway 203.0.113.1 --provider-network physnet1 --gateway-chassis ch1,ch2",
        "extnet get e1",
        "extnet list",
        "extnet delete e1",
        "fip create --project demo --org acme --extnet e1 --ip 203.0.113.7",
        "fip create --project demo --extnet e1",
        "fip associate f1 --port p1 --fixed-ip 10.0.1.5",
        "fip associate f1 --port p1",
        "fip disassociate f1",
        "fip get f1",
        "fip list --project demo",
        "fip delete f1",
        "ovn status",
        "ovn diff",
        "ovn takeover",
        "ovn takeover --force",
    ];
    for form in forms {
        parse(form);
        // Global flags go before the command.
        parse(&format!(
            "--endpoints 10.0.0.1:7001,10.0.0.2:7001 --token t --output json --stale --deadline 2.5 {form}"
        ));
    }
}

#[test]
fn global_flags() {
    let cli = parse("--endpoints a:1,b:2 --endpoints c:3 --token t -o json --stale --deadline 0.5 --request-id r cluster status");
    assert_eq!(cli.endpoints, vec!["a:1", "b:2", "c:3"]);
    assert_eq!(cli.token.as_deref(), Some("t"));
    assert_eq!(cli.output, Format::Json);
    assert!(cli.stale);
    assert_eq!(cli.deadline.as_millis(), 500);
    assert_eq!(cli.request_id.as_deref(), Some("r"));
    assert!(matches!(cli.command, Command::Cluster(ClusterCmd::Status)));
}

#[test]
fn defaults() {
    // Only when the environment does not set them.
    if std::env::var_os("PRISMNET_ENDPOINTS").is_none() {
        assert_eq!(
            parse("cluster status").endpoints,
            vec![crate::DEFAULT_ENDPOINT]
        );
    }
    if std::env::var_os("PRISMNET_OUTPUT").is_none() {
        assert_eq!(parse("cluster status").output, Format::Table);
    }
    if std::env::var_os("PRISMNET_DEADLINE").is_none() {
        assert_eq!(parse("cluster status").deadline.as_secs(), 30);
    }
}

#[test]
fn usage_errors() {
    assert_eq!(
        parse_err(""),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    assert_eq!(parse_err("frobnicate"), ErrorKind::InvalidSubcommand);
    assert_eq!(
        parse_err("cluster add-node --id x --raft-addr a --api-addr b"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("cluster add-node --id 4 --raft-addr a"),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        parse_err("--output yaml cluster status"),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        parse_err("--deadline 0 cluster status"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("vpc create --project p --name n"),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        parse_err("vpc create --project p --name n --cidr 10.0.0.0"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("vpc update v --route 10.0.0.0/8=10.0.0.1 --clear-routes"),
        ErrorKind::ArgumentConflict
    );
    assert_eq!(
        parse_err("vpc update v --route 10.0.0.0/8"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("vpc update v --route 10.0.0.0/8=fd00::1"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("subnet create --vpc v --name n --cidr 10.0.1.0/24 --pool 10.0.1.10"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("subnet create --vpc v --name n --cidr 10.0.1.0/24 --pool 10.0.1.20-10.0.1.10"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("subnet create --vpc v --name n --cidr 10.0.1.0/24 --reserved 10.0.1.1-fd00::1"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("subnet create --vpc v --name n --cidr 10.0.1.0/24 --host-route 10.9.0.0/16"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("subnet create --vpc v --name n --cidr 10.0.1.0/24 --ipv6-mode dhcp"),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        parse_err("subnet create --vpc v --name n --cidr 10.0.1.0/24 --gateway nope"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("port create --subnet s --security-group web --no-security-group"),
        ErrorKind::ArgumentConflict
    );
    assert_eq!(
        parse_err("port create --subnet s --ip 10.0.1.300"),
        ErrorKind::ValueValidation
    );
    assert_eq!(parse_err("port bind p"), ErrorKind::MissingRequiredArgument);
    assert_eq!(
        parse_err("port wait-up p --timeout 61"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("sg rule add web --direction sideways"),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        parse_err("sg rule add web --direction ingress --protocol gre"),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        parse_err("sg rule add web --direction ingress --port-min 22"),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        parse_err("sg rule add web --direction ingress --remote-cidr 10.0.0.0/8 --remote-group x"),
        ErrorKind::ArgumentConflict
    );
    assert_eq!(
        parse_err("fip create --project p --extnet e --fixed-ip 10.0.0.1"),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(parse_err("extnet create --name n --cidr 203.0.113.0/24 --gateway 203.0.113.1 --provider-network p"), ErrorKind::MissingRequiredArgument);
    // Global flags belong before the command.
    assert_eq!(
        parse_err("cluster status --stale"),
        ErrorKind::UnknownArgument
    );
}

#[test]
fn vpc_create_and_update() {
    let cli = parse("vpc create --project demo --org acme --name main --cidr 10.0.0.0/16 --cidr fd00::/48 --route 0.0.0.0/0=10.0.0.254");
    let Command::Vpc(VpcCmd::Create {
        scope,
        name,
        cidrs,
        routes,
    }) = cli.command
    else {
        panic!("not vpc create");
    };
    assert_eq!(
        (scope.project.as_str(), scope.org().as_str(), name.as_str()),
        ("demo", "acme", "main")
    );
    let cidrs: Vec<String> = cidrs.iter().map(ToString::to_string).collect();
    assert_eq!(cidrs, vec!["10.0.0.0/16", "fd00::/48"]);
    assert_eq!(routes[0].nexthop.to_string(), "10.0.0.254");

    let cli = parse("vpc update v1 --clear-routes");
    let Command::Vpc(VpcCmd::Update {
        routes,
        clear_routes,
        name,
        ..
    }) = cli.command
    else {
        panic!("not vpc update");
    };
    assert!(clear_routes && routes.is_empty() && name.is_none());
}

#[test]
fn subnet_cidrs_split_by_family() {
    let cli = parse("subnet create --vpc v1 --name web --cidr fd00:0:0:1::/64 --cidr 10.0.1.0/24 --gateway fd00:0:0:1::1 --pool 10.0.1.10-10.0.1.100 --reserved 10.0.1.101-10.0.1.110 --dns 10.0.0.53 --host-route 192.168.0.0/16=10.0.1.254 --mtu 1400 --no-dhcp --ipv6-mode dhcpv6-stateful");
    let Command::Subnet(SubnetCmd::Create(args)) = cli.command else {
        panic!("not subnet create");
    };
    let req = args.request("rid".into()).unwrap();
    assert_eq!(req.request_id, "rid");
    assert_eq!(req.vpc_id, "v1");
    assert_eq!(req.ipv4_cidr, "10.0.1.0/24");
    assert_eq!(req.ipv6_cidr, "fd00:0:0:1::/64");
    assert_eq!(req.gateway_ipv4, "");
    assert_eq!(req.gateway_ipv6, "fd00:0:0:1::1");
    assert_eq!(req.allocation_pools[0].start, "10.0.1.10");
    assert_eq!(req.allocation_pools[0].end, "10.0.1.100");
    assert_eq!(req.reserved_ranges[0].end, "10.0.1.110");
    assert_eq!(req.dns_servers, vec!["10.0.0.53"]);
    assert_eq!(req.host_routes[0].destination, "192.168.0.0/16");
    assert_eq!(req.dhcp_enabled, Some(false));
    assert_eq!(req.mtu, Some(1400));
    assert_eq!(req.ipv6_mode(), Ipv6Mode::Dhcpv6Stateful);

    // Defaults: DHCP and MTU left to the server.
    let cli = parse("subnet create --vpc v1 --name web --cidr 10.0.1.0/24");
    let Command::Subnet(SubnetCmd::Create(args)) = cli.command else {
        panic!()
    };
    let req = args.request("rid".into()).unwrap();
    assert_eq!(
        (req.ipv6_cidr.as_str(), req.dhcp_enabled, req.mtu),
        ("", None, None)
    );
    assert_eq!(req.ipv6_mode(), Ipv6Mode::Unspecified);

    for (line, why) in [
        ("subnet create --vpc v --name n --cidr 10.0.1.0/24 --cidr 10.0.2.0/24", "--cidr takes at most one IPv4"),
        ("subnet create --vpc v --name n --cidr fd00::/64 --cidr fd01::/64", "--cidr takes at most one IPv6"),
        ("subnet create --vpc v --name n --cidr 10.0.1.0/24 --gateway 10.0.1.1 --gateway 10.0.1.2", "--gateway takes at most one IPv4"),
        ("subnet create --vpc v --name n --cidr 10.0.1.0/24 --gateway fd00::1", "no IPv6 --cidr"),
    ] {
        let Command::Subnet(SubnetCmd::Create(args)) = parse(line).command else {
            panic!()
        };
        let err = args.request("rid".into()).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{line}");
        assert!(err.line().contains(why), "{line}: {}", err.line());
    }
}

#[test]
fn port_create_request() {
    let cli = parse("port create --subnet s1 --ip fd00::5 --ip 10.0.1.5 --security-group default --security-group 6f1c2a4e-8d0b-4c53-9a51-2f7b0e6d9c11 --device-id vm-1 --no-port-security --request-id r-7");
    assert_eq!(cli.command.request_id().as_deref(), Some("r-7"));
    let Command::Port(PortCmd::Create(args)) = cli.command else {
        panic!()
    };
    let req = args.request("r-7".into()).unwrap();
    assert_eq!(req.subnet_id, "s1");
    assert_eq!(req.fixed_ips, vec!["fd00::5", "10.0.1.5"]);
    // Names go to the server as they are: it resolves them in the subnet's project.
    assert_eq!(req.security_groups, vec!["default", SG_ID]);
    assert!(!req.no_security_groups);
    assert_eq!(req.port_security_enabled, Some(false));
    assert_eq!(req.device_id, "vm-1");

    let Command::Port(PortCmd::Create(args)) =
        parse("port create --subnet s1 --no-security-group").command
    else {
        panic!()
    };
    let req = args.request("r".into()).unwrap();
    assert!(req.no_security_groups && req.security_groups.is_empty());
    assert_eq!(req.port_security_enabled, None);

    let Command::Port(PortCmd::Create(args)) =
        parse("port create --subnet s1 --ip 10.0.1.5 --ip 10.0.1.6").command
    else {
        panic!()
    };
    assert_eq!(args.request("r".into()).unwrap_err().exit_code(), 2);
}

#[test]
fn port_update_request() {
    let Command::Port(PortCmd::Update(args)) =
        parse("port update p1 --security-group default --name eth1").command
    else {
        panic!()
    };
    let req = args.request("r".into()).unwrap();
    assert_eq!(req.security_groups.unwrap().values, vec!["default"]);
    assert_eq!(req.name.as_deref(), Some("eth1"));
    assert_eq!(req.port_security_enabled, None);

    let Command::Port(PortCmd::Update(args)) = parse("port update p1 --no-security-group").command
    else {
        panic!()
    };
    // Present and empty: no groups.
    assert_eq!(
        args.request("r".into())
            .unwrap()
            .security_groups
            .unwrap()
            .values,
        Vec::<String>::new()
    );

    let Command::Port(PortCmd::Update(args)) = parse("port update p1").command else {
        panic!()
    };
    assert_eq!(args.request("r".into()).unwrap_err().exit_code(), 2);
}

#[test]
fn sg_rule_request() {
    let Command::Sg(SgCmd::Rule(RuleCmd::Add(args))) = parse("sg rule add default --project demo --direction ingress --protocol TCP --port-min 22 --port-max 23 --remote-cidr fd00::/8").command else {
        panic!()
    };
    assert_eq!(args.sg, "default");
    assert_eq!(args.scope.project.as_deref(), Some("demo"));
    let rule = args.rule(None).unwrap();
    assert_eq!(rule.direction(), Direction::Ingress);
    // Inferred from the remote CIDR.
    assert_eq!(rule.ethertype(), EtherType::Ipv6);
    assert_eq!(rule.protocol, "tcp");
    assert_eq!((rule.port_range_min, rule.port_range_max), (22, 23));
    assert_eq!(rule.remote_ip_prefix, "fd00::/8");
    assert_eq!(rule.remote_group_id, "");

    let Command::Sg(SgCmd::Rule(RuleCmd::Add(args))) =
        parse("sg rule add web --direction egress --remote-group default").command
    else {
        panic!()
    };
    let rule = args.rule(Some(SG_ID.into())).unwrap();
    assert_eq!(rule.direction(), Direction::Egress);
    assert_eq!(rule.ethertype(), EtherType::Ipv4);
    assert_eq!(rule.protocol, "any");
    assert_eq!(rule.remote_group_id, SG_ID);

    let Command::Sg(SgCmd::Rule(RuleCmd::Add(args))) =
        parse("sg rule add web --direction ingress --ethertype ipv4 --remote-cidr fd00::/8")
            .command
    else {
        panic!()
    };
    assert_eq!(args.rule(None).unwrap_err().exit_code(), 2);
    let Command::Sg(SgCmd::Rule(RuleCmd::Add(args))) =
        parse("sg rule add web --direction ingress --protocol tcp --port-min 30 --port-max 20")
            .command
    else {
        panic!()
    };
    assert_eq!(args.rule(None).unwrap_err().exit_code(), 2);
}

#[test]
fn other_families() {
    let Command::Project(ProjectCmd::SetQuota {
        project,
        org,
        quotas,
    }) = parse("project set-quota demo --ports 10 --floating-ips 2").command
    else {
        panic!()
    };
    assert_eq!(
        (
            project.as_str(),
            quotas.ports,
            quotas.floating_ips,
            quotas.vpcs
        ),
        ("demo", Some(10), Some(2), None)
    );
    let _ = org;
    let Command::Extnet(ExtnetCmd::Create { gateway_chassis, cidr, .. }) = parse("extnet create --name pub --cidr 203.0.113.0/24 --gateway 203.0.113.1 --provider-network physnet1 --gateway-chassis ch1,ch2 --gateway-chassis ch3").command else {
        panic!()
    };
    assert_eq!(gateway_chassis, vec!["ch1", "ch2", "ch3"]);
    assert_eq!(cidr.to_string(), "203.0.113.0/24");
    let Command::Fip(FipCmd::Associate {
        fip_id,
        port,
        fixed_ip,
    }) = parse("fip associate f1 --port p1 --fixed-ip 10.0.1.5").command
    else {
        panic!()
    };
    assert_eq!((fip_id.as_str(), port.as_str()), ("f1", "p1"));
    assert_eq!(fixed_ip.unwrap().to_string(), "10.0.1.5");
    let Command::Vpc(VpcCmd::SetGateway {
        no_snat, extnet, ..
    }) = parse("vpc set-gateway v1 --extnet e1 --no-snat").command
    else {
        panic!()
    };
    assert!(no_snat && extnet == "e1");
    let Command::Ovn(OvnCmd::Takeover { force }) = parse("ovn takeover --force").command else {
        panic!()
    };
    assert!(force);
    let Command::Port(PortCmd::WaitUp { timeout, .. }) = parse("port wait-up p1").command else {
        panic!()
    };
    assert_eq!(timeout, 30);
    let Command::Cluster(ClusterCmd::AddNode {
        id,
        raft_addr,
        api_addr,
    }) =
        parse("cluster add-node --id 4 --raft-addr 10.0.0.4:7000 --api-addr 10.0.0.4:7001").command
    else {
        panic!()
    };
    assert_eq!(
        (id, raft_addr.as_str(), api_addr.as_str()),
        (4, "10.0.0.4:7000", "10.0.0.4:7001")
    );
}

#[test]
fn clap_definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}
