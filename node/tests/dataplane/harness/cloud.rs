//! PrismNET as PlasmaVMC and an operator use it, over the client library, plus the
//! VM boot sequence: create a port, bind it to the chassis, attach the tap with the
//! port's MAC and id, wait until OVN reports the port up, DHCP in the guest.

use std::io;
use std::path::Path;
use std::time::Duration;

use prismnet_api::v1;
use prismnet_api::PrismClient;

use super::cluster::PrismCluster;
use super::ovn_stack::{OvnStack, PHYSNET};
use super::vm::Vm;

pub const ORG: &str = "demo";

/// A whole test world: the OVN stack, a prismnetd cluster driving its NB, a client.
/// Dropping it stops everything; when dropped during a panic it prints the logs.
pub struct Cloud {
    pub client: PrismClient,
    // Field order is drop order: VMs are owned by the tests and dropped before this.
    pub cluster: PrismCluster,
    pub stack: OvnStack,
}

fn err(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

impl Cloud {
    /// Starts an OVN stack and an `n`-node prismnetd cluster on it; waits for a
    /// leader whose NB driver is connected.
    pub async fn start(prismnetd: &Path, n: u64) -> io::Result<Cloud> {
        let stack = OvnStack::start()?;
        let cluster = PrismCluster::start(prismnetd, n, &stack.nb_tcp_remote())?;
        cluster.wait_leader(None).await?;
        let client = cluster.client().await;
        Ok(Cloud {
            client,
            cluster,
            stack,
        })
    }

    pub async fn vpc(&self, project: &str, cidr: &str) -> io::Result<v1::Vpc> {
        self.client
            .create_vpc(v1::CreateVpcRequest {
                org: ORG.into(),
                project: project.into(),
                name: format!("{project}-vpc"),
                cidr_blocks: vec![cidr.into()],
                ..Default::default()
            })
            .await
            .map_err(|e| err("CreateVpc", e))
    }

    pub async fn subnet(&self, vpc: &v1::Vpc, name: &str, cidr: &str) -> io::Result<v1::Subnet> {
        self.client
            .create_subnet(v1::CreateSubnetRequest {
                vpc_id: vpc.id.clone(),
                name: name.into(),
                ipv4_cidr: cidr.into(),
                ..Default::default()
            })
            .await
            .map_err(|e| err("CreateSubnet", e))
    }

    /// A group with ingress rules `(protocol, port, remote CIDR)`; port 0 = any.
    pub async fn group(
        &self,
        project: &str,
        name: &str,
        ingress: &[(&str, u32, &str)],
    ) -> io::Result<v1::SecurityGroup> {
        let rules = ingress
            .iter()
            .map(|(proto, port, remote)| v1::SecurityGroupRule {
                direction: v1::Direction::Ingress as i32,
                ethertype: v1::EtherType::Ipv4 as i32,
                protocol: proto.to_string(),
                port_range_min: *port,
                port_range_max: *port,
                remote_ip_prefix: remote.to_string(),
                ..Default::default()
            })
            .collect();
        self.client
            .create_security_group(v1::CreateSecurityGroupRequest {
                org: ORG.into(),
                project: project.into(),
                name: name.into(),
                rules,
                ..Default::default()
            })
            .await
            .map_err(|e| err("CreateSecurityGroup", e))
    }

    /// Creates a port (groups by name; `None` = the project's default group).
    pub async fn port(
        &self,
        subnet: &v1::Subnet,
        name: &str,
        groups: Option<&[&str]>,
        fixed_ip: Option<&str>,
    ) -> io::Result<v1::Port> {
        let r = self
            .client
            .create_port(v1::CreatePortRequest {
                subnet_id: subnet.id.clone(),
                name: name.into(),
                security_groups: groups
                    .unwrap_or_default()
                    .iter()
                    .map(|g| g.to_string())
                    .collect(),
                no_security_groups: groups.is_some_and(|g| g.is_empty()),
                fixed_ips: fixed_ip.into_iter().map(String::from).collect(),
                device_id: format!("vm-{name}"),
                device_owner: "compute:plasmavmc".into(),
                ..Default::default()
            })
            .await
            .map_err(|e| err("CreatePort", e))?;
        r.port
            .ok_or_else(|| io::Error::other("CreatePort answered no port"))
    }

    /// Boots a VM on `port`: binds the port to this chassis, attaches the tap,
    /// waits until OVN reports the port up, runs DHCP in the guest and checks the
    /// guest got exactly the port's allocated address.
    pub async fn boot(&self, name: &str, port: &v1::Port) -> io::Result<Vm> {
        self.client
            .bind_port(v1::BindPortRequest {
                port_id: port.id.clone(),
                host: self.stack.chassis.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| err("BindPort", e))?;
        let vm = Vm::attach(&self.stack, name, &port.mac_address, &port.id)?;
        // Ground truth first: northd copies ovn-controller's binding into NB's
        // Logical_Switch_Port.up.
        self.stack
            .nbctl(&[
                "--timeout=30",
                "wait-until",
                "Logical_Switch_Port",
                &port.id,
                "up=true",
            ])
            .map_err(|e| {
                io::Error::other(format!("{name}: port not up in NB: {e}\n{}", self.logs()))
            })?;
        // Then what PlasmaVMC asks: WaitPortUp must say so too.
        let up = self
            .client
            .wait_port_up(v1::WaitPortUpRequest {
                port_id: port.id.clone(),
                timeout_ms: 3_000,
            })
            .await
            .map_err(|e| err("WaitPortUp", e))?;
        if !up.up {
            return Err(io::Error::other(format!(
                "{name}: NB shows port {} up but WaitPortUp answered up=false (ovn_sync {:?})",
                port.id, up.ovn_sync
            )));
        }
        let lease = vm.dhcp()?;
        let want = port
            .fixed_ips
            .first()
            .map(|f| f.ip_address.clone())
            .unwrap_or_default();
        if lease.ip.to_string() != want {
            return Err(io::Error::other(format!(
                "{name}: DHCP gave {} but the port's address is {want}",
                lease.ip
            )));
        }
        Ok(vm)
    }

    /// Creates a port and boots a VM on it.
    pub async fn vm(
        &self,
        subnet: &v1::Subnet,
        name: &str,
        groups: Option<&[&str]>,
    ) -> io::Result<(Vm, v1::Port)> {
        let port = self.port(subnet, name, groups, None).await?;
        let vm = self.boot(name, &port).await?;
        Ok((vm, port))
    }

    pub async fn set_groups(&self, port: &v1::Port, groups: &[&str]) -> io::Result<v1::Port> {
        self.client
            .update_port(v1::UpdatePortRequest {
                port_id: port.id.clone(),
                security_groups: Some(v1::StringList {
                    values: groups.iter().map(|g| g.to_string()).collect(),
                }),
                ..Default::default()
            })
            .await
            .map_err(|e| err("UpdatePort", e))
    }

    pub async fn delete_port(&self, port: &v1::Port) -> io::Result<()> {
        self.client
            .delete_port(v1::DeletePortRequest {
                port_id: port.id.clone(),
                ..Default::default()
            })
            .await
            .map(drop)
            .map_err(|e| err("DeletePort", e))
    }

    /// An external network on the provider bridge, gatewayed by this chassis.
    pub async fn external_network(
        &self,
        cidr: &str,
        gateway_ip: &str,
    ) -> io::Result<v1::ExternalNetwork> {
        self.client
            .create_external_network(v1::CreateExternalNetworkRequest {
                name: "public".into(),
                cidr: cidr.into(),
                gateway_ip: gateway_ip.into(),
                provider_network: PHYSNET.into(),
                gateway_chassis: vec![self.stack.chassis.clone()],
                ..Default::default()
            })
            .await
            .map_err(|e| err("CreateExternalNetwork", e))
    }

    pub async fn set_gateway(
        &self,
        vpc: &v1::Vpc,
        net: &v1::ExternalNetwork,
        snat: bool,
    ) -> io::Result<v1::Vpc> {
        self.client
            .set_gateway(v1::SetGatewayRequest {
                vpc_id: vpc.id.clone(),
                external_network_id: net.id.clone(),
                enable_snat: snat,
                ..Default::default()
            })
            .await
            .map_err(|e| err("SetGateway", e))
    }

    pub async fn floating_ip(
        &self,
        project: &str,
        net: &v1::ExternalNetwork,
        port: &v1::Port,
    ) -> io::Result<v1::FloatingIp> {
        self.client
            .create_floating_ip(v1::CreateFloatingIpRequest {
                org: ORG.into(),
                project: project.into(),
                external_network_id: net.id.clone(),
                port_id: port.id.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| err("CreateFloatingIp", e))
    }

    /// Waits until the chassis applied what NB holds now. The leader writes NB
    /// asynchronously after a write is acknowledged, so callers that need a change
    /// in effect poll the data plane (see [`super::vm::eventually`]); this is for
    /// settling before a check that something is NOT reachable.
    pub fn settle(&self) -> io::Result<()> {
        // Give the leader a moment to write NB, then wait for the chassis.
        std::thread::sleep(Duration::from_millis(300));
        self.stack.sync_hv()
    }

    /// Everything worth reading when a check failed.
    pub fn logs(&self) -> String {
        format!("{}\n{}", self.stack.logs(), self.cluster.logs(40))
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("==== logs of the failed scenario ====\n{}", self.logs());
        }
    }
}

/// The first IPv4 address of a port.
pub fn ip_of(port: &v1::Port) -> String {
    port.fixed_ips
        .first()
        .map(|f| f.ip_address.clone())
        .unwrap_or_default()
}
