//! Ports.

use prismnet_api::v1::{self, CreatePortResponse, OvnSyncState};
use serde::Serialize;

use super::subnet::{ipv6_mode_name, RouteOut};
use super::{cell, cell_list, cell_opt, opt, timestamp, yes_no, Detail, Row};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixedIpOut {
    pub subnet_id: String,
    pub ip_address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddressPairOut {
    pub ip_address: String,
    /// `null`: the port's own MAC.
    pub mac_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OvnSyncOut {
    /// `pending`, `synced`, `error` or `unknown`.
    pub state: &'static str,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortOut {
    pub id: String,
    pub org: String,
    pub project: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub name: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIpOut>,
    pub device_id: String,
    pub device_owner: String,
    /// The chassis the port is bound to; `null` while unbound.
    pub host: Option<String>,
    pub security_group_ids: Vec<String>,
    pub port_security_enabled: bool,
    pub allowed_address_pairs: Vec<AddressPairOut>,
    pub admin_state_up: bool,
    pub up: bool,
    pub ovn_sync: OvnSyncOut,
    pub created_at_ms: u64,
}

pub fn sync_state_name(state: OvnSyncState) -> &'static str {
    match state {
        OvnSyncState::Pending => "pending",
        OvnSyncState::Synced => "synced",
        OvnSyncState::Error => "error",
        OvnSyncState::Unspecified => "unknown",
    }
}

impl From<v1::Port> for PortOut {
    fn from(p: v1::Port) -> Self {
        let ovn_sync = match &p.ovn_sync {
            Some(s) => OvnSyncOut {
                state: sync_state_name(s.state()),
                reason: opt(&s.reason),
            },
            None => OvnSyncOut {
                state: "unknown",
                reason: None,
            },
        };
        PortOut {
            fixed_ips: p
                .fixed_ips
                .into_iter()
                .map(|f| FixedIpOut {
                    subnet_id: f.subnet_id,
                    ip_address: f.ip_address,
                })
                .collect(),
            allowed_address_pairs: p
                .allowed_address_pairs
                .into_iter()
                .map(|a| AddressPairOut {
                    mac_address: opt(&a.mac_address),
                    ip_address: a.ip_address,
                })
                .collect(),
            host: opt(&p.host),
            id: p.id,
            org: p.org,
            project: p.project,
            vpc_id: p.vpc_id,
            subnet_id: p.subnet_id,
            name: p.name,
            mac_address: p.mac_address,
            device_id: p.device_id,
            device_owner: p.device_owner,
            security_group_ids: p.security_group_ids,
            port_security_enabled: p.port_security_enabled,
            admin_state_up: p.admin_state_up,
            up: p.up,
            ovn_sync,
            created_at_ms: p.created_at_ms,
        }
    }
}

impl PortOut {
    fn ips(&self) -> Vec<&str> {
        self.fixed_ips
            .iter()
            .map(|f| f.ip_address.as_str())
            .collect()
    }
}

impl Detail for PortOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let pairs: Vec<String> = self
            .allowed_address_pairs
            .iter()
            .map(|a| match &a.mac_address {
                Some(mac) => format!("{}@{mac}", a.ip_address),
                None => a.ip_address.clone(),
            })
            .collect();
        let sync = match &self.ovn_sync.reason {
            Some(r) => format!("{} ({r})", self.ovn_sync.state),
            None => self.ovn_sync.state.to_string(),
        };
        vec![
            ("id", self.id.clone()),
            ("name", cell(&self.name)),
            ("org", cell(&self.org)),
            ("project", self.project.clone()),
            ("vpc_id", self.vpc_id.clone()),
            ("subnet_id", self.subnet_id.clone()),
            ("mac_address", self.mac_address.clone()),
            ("fixed_ips", cell_list(&self.ips())),
            ("device_id", cell(&self.device_id)),
            ("device_owner", cell(&self.device_owner)),
            ("host", cell_opt(&self.host)),
            ("security_group_ids", cell_list(&self.security_group_ids)),
            ("port_security_enabled", yes_no(self.port_security_enabled)),
            ("allowed_address_pairs", cell_list(&pairs)),
            ("admin_state_up", yes_no(self.admin_state_up)),
            ("up", yes_no(self.up)),
            ("ovn_sync", sync),
            ("created_at", timestamp(self.created_at_ms)),
        ]
    }
}

impl Row for PortOut {
    fn headers() -> &'static [&'static str] {
        &[
            "ID",
            "NAME",
            "SUBNET",
            "MAC",
            "FIXED_IPS",
            "DEVICE",
            "HOST",
            "UP",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            cell(&self.name),
            self.subnet_id.clone(),
            self.mac_address.clone(),
            cell_list(&self.ips()),
            cell(&self.device_id),
            cell_opt(&self.host),
            yes_no(self.up),
        ]
    }
}

/// One address of the NIC as CreatePort hands it out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NicAddressOut {
    pub address: String,
    pub prefix_length: u32,
    pub gateway: Option<String>,
    pub subnet_id: String,
}

/// What the VM's NIC needs (the rest of CreatePort's answer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NicOut {
    pub addresses: Vec<NicAddressOut>,
    pub dns_servers: Vec<String>,
    pub mtu: u32,
    pub host_routes: Vec<RouteOut>,
    pub dhcp_enabled: bool,
    pub ipv6_mode: Option<&'static str>,
}

/// `port create`: the port's fields plus `nic`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreatedPortOut {
    #[serde(flatten)]
    pub port: PortOut,
    pub nic: NicOut,
}

impl From<CreatePortResponse> for CreatedPortOut {
    fn from(r: CreatePortResponse) -> Self {
        let ipv6_mode = ipv6_mode_name(r.ipv6_mode());
        CreatedPortOut {
            port: r.port.unwrap_or_default().into(),
            nic: NicOut {
                addresses: r
                    .addresses
                    .into_iter()
                    .map(|a| NicAddressOut {
                        gateway: opt(&a.gateway),
                        address: a.address,
                        prefix_length: a.prefix_length,
                        subnet_id: a.subnet_id,
                    })
                    .collect(),
                dns_servers: r.dns_servers,
                mtu: r.mtu,
                host_routes: r.host_routes.into_iter().map(RouteOut::from).collect(),
                dhcp_enabled: r.dhcp_enabled,
                ipv6_mode,
            },
        }
    }
}

impl Detail for CreatedPortOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut f = self.port.fields();
        let addrs: Vec<String> = self
            .nic
            .addresses
            .iter()
            .map(|a| match &a.gateway {
                Some(gw) => format!("{}/{} via {gw}", a.address, a.prefix_length),
                None => format!("{}/{}", a.address, a.prefix_length),
            })
            .collect();
        let routes: Vec<String> = self.nic.host_routes.iter().map(|r| r.to_string()).collect();
        f.push(("nic_addresses", cell_list(&addrs)));
        f.push(("nic_dns_servers", cell_list(&self.nic.dns_servers)));
        f.push(("nic_mtu", self.nic.mtu.to_string()));
        f.push(("nic_host_routes", cell_list(&routes)));
        f.push(("nic_dhcp_enabled", yes_no(self.nic.dhcp_enabled)));
        f.push((
            "nic_ipv6_mode",
            self.nic.ipv6_mode.unwrap_or("-").to_string(),
        ));
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{list, one, Format};
    use prismnet_api::v1::{FixedIp, NicAddress, OvnSync};

    fn sample() -> v1::Port {
        v1::Port {
            id: "p-1".into(),
            org: String::new(),
            project: "demo".into(),
            vpc_id: "v-1".into(),
            subnet_id: "s-1".into(),
            name: "eth0".into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            fixed_ips: vec![
                FixedIp {
                    subnet_id: "s-1".into(),
                    ip_address: "10.0.1.2".into(),
                },
                FixedIp {
                    subnet_id: "s-1".into(),
                    ip_address: "fd00:0:0:1::2".into(),
                },
            ],
            device_id: "vm-42".into(),
            device_owner: "plasmavmc:vm".into(),
            host: String::new(),
            security_group_ids: vec!["sg-1".into()],
            port_security_enabled: true,
            allowed_address_pairs: vec![],
            admin_state_up: true,
            created_at_ms: 1000,
            ovn_sync: Some(OvnSync {
                state: OvnSyncState::Synced as i32,
                reason: String::new(),
            }),
            up: false,
        }
    }

    #[test]
    fn json_shape() {
        let s = one(Format::Json, &PortOut::from(sample())).unwrap();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["id"], "p-1");
        assert_eq!(v["subnet_id"], "s-1");
        assert_eq!(v["mac_address"], "fa:16:3e:00:00:01");
        assert_eq!(
            v["fixed_ips"],
            serde_json::json!([
                {"subnet_id": "s-1", "ip_address": "10.0.1.2"},
                {"subnet_id": "s-1", "ip_address": "fd00:0:0:1::2"}
            ])
        );
        assert_eq!(v["device_id"], "vm-42");
        assert_eq!(v["security_group_ids"], serde_json::json!(["sg-1"]));
        assert_eq!(v["host"], serde_json::Value::Null);
        assert_eq!(v["ovn_sync"]["state"], "synced");
        assert_eq!(v["up"], false);
    }

    #[test]
    fn bound_host_and_list_is_array() {
        let mut p = sample();
        p.host = "chassis-1".into();
        let s = list(Format::Json, &[PortOut::from(p)]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v[0]["host"], "chassis-1");
        assert!(v.as_array().unwrap().len() == 1);
    }

    #[test]
    fn created_port_flattens_port_and_adds_nic() {
        let r = CreatePortResponse {
            port: Some(sample()),
            addresses: vec![NicAddress {
                address: "10.0.1.2".into(),
                prefix_length: 24,
                gateway: "10.0.1.1".into(),
                subnet_id: "s-1".into(),
            }],
            dns_servers: vec!["10.0.0.53".into()],
            mtu: 1442,
            host_routes: vec![],
            dhcp_enabled: true,
            ipv6_mode: v1::Ipv6Mode::Slaac as i32,
        };
        let out = CreatedPortOut::from(r);
        let v: serde_json::Value = serde_json::from_str(&one(Format::Json, &out).unwrap()).unwrap();
        assert_eq!(v["id"], "p-1");
        assert_eq!(v["nic"]["addresses"][0]["prefix_length"], 24);
        assert_eq!(v["nic"]["ipv6_mode"], "slaac");
        let table = one(Format::Table, &out).unwrap();
        assert!(
            table.contains("nic_addresses          10.0.1.2/24 via 10.0.1.1\n"),
            "{table}"
        );
    }

    #[test]
    fn table_row() {
        let s = list(Format::Table, &[PortOut::from(sample())]).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ID   NAME  SUBNET  MAC"), "{s}");
        assert!(lines[1].contains("10.0.1.2,fd00:0:0:1::2"), "{s}");
        let detail = one(Format::Table, &PortOut::from(sample())).unwrap();
        assert!(detail.contains("\nhost                   -\n"), "{detail}");
    }
}
