//! The workload: dozens of clients, each a loop of port operations through the
//! client library (its redirects, retries and request ids, as PlasmaVMC uses it),
//! against every node; every operation recorded (see `history`).
//!
//! Subnets are small (/28: 11 allocatable addresses), so they fill and addresses
//! are reused after deletes: that is where double allocation would show.

mod recorder;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prismnet_api::{v1, ClientError, PrismClient};

pub use recorder::Recorder;

use crate::history::{Event, PortSeen, Value, F};

/// A subnet the workload uses, with what the checker needs to know of it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subnet {
    pub id: String,
    pub cidr: String,
    /// Addresses CreatePort may hand out (first..=last).
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl Subnet {
    pub fn capacity(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }
}

#[derive(Clone, Debug)]
pub struct TrafficConfig {
    pub clients: usize,
    pub seed: u64,
    /// Pause between one client's operations.
    pub think: Duration,
}

/// Port ids the clients have seen, to delete, read and write.
#[derive(Default)]
struct Known {
    ports: Mutex<Vec<(String, String)>>,
}

impl Known {
    fn add(&self, p: &PortSeen) {
        let mut v = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        if !v.iter().any(|(id, _)| *id == p.id) {
            v.push((p.id.clone(), p.subnet.clone()));
        }
    }

    /// Forgets a port that is gone (deleted, or reported not found), so that
    /// the clients mostly touch live ports.
    fn remove(&self, id: &str) {
        let mut v = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        v.retain(|(p, _)| p != id);
    }

    fn pick(&self, rng: &mut fastrand::Rng) -> Option<String> {
        let v = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        (!v.is_empty()).then(|| v[rng.usize(..v.len())].0.clone())
    }
}

/// Makes the VPC and `n` /28 subnets the workload writes to (retrying through
/// whatever the cluster is doing at start).
pub async fn setup(client: &PrismClient, n: u8) -> Result<Vec<Subnet>, ClientError> {
    let vpc = client
        .create_vpc(v1::CreateVpcRequest {
            project: "chaos".into(),
            name: "chaos".into(),
            cidr_blocks: vec!["10.50.0.0/16".into()],
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    for k in 0..n {
        let cidr = format!("10.50.{k}.0/28");
        let s = client
            .create_subnet(v1::CreateSubnetRequest {
                vpc_id: vpc.id.clone(),
                name: format!("s{k}"),
                ipv4_cidr: cidr.clone(),
                ..Default::default()
            })
            .await?;
        // .0 network, .1 gateway, .15 broadcast: .2 through .14 are allocatable.
        out.push(Subnet {
            id: s.id,
            cidr,
            first: Ipv4Addr::new(10, 50, k, 2),
            last: Ipv4Addr::new(10, 50, k, 14),
        });
    }
    Ok(out)
}

/// Runs the clients until `stop` is set; every operation goes to `recorder`.
/// Client `k` uses `apis[k % apis.len()]`.
pub async fn run(
    apis: Vec<PrismClient>,
    subnets: Vec<Subnet>,
    config: TrafficConfig,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
) {
    let known = Arc::new(Known::default());
    let mut tasks = Vec::new();
    for k in 0..config.clients {
        let c = Client {
            api: apis[k % apis.len()].clone(),
            subnets: subnets.clone(),
            known: known.clone(),
            recorder: recorder.clone(),
            rng: fastrand::Rng::with_seed(config.seed.wrapping_add(k as u64)),
        };
        let (stop, think) = (stop.clone(), config.think);
        tasks.push(tokio::spawn(c.run(stop, think)));
    }
    for t in tasks {
        let _ = t.await;
    }
}

struct Client {
    api: PrismClient,
    subnets: Vec<Subnet>,
    known: Arc<Known>,
    recorder: Arc<Recorder>,
    rng: fastrand::Rng,
}

impl Client {
    async fn run(mut self, stop: Arc<AtomicBool>, think: Duration) {
        let mut process = self.recorder.new_process();
        let mut seq = 0u64;
        while !stop.load(Ordering::Relaxed) {
            seq += 1;
            let Some(f) = self.next_op(process, seq) else {
                tokio::time::sleep(think).await;
                continue;
            };
            self.recorder.invoke(process, &f);
            let event = self.perform(&f).await;
            if let Event::Ok { value } = &event {
                self.learn(value);
            }
            self.forget_gone(&f, &event);
            let unknown = matches!(event, Event::Info { .. });
            self.recorder.complete(process, &f, event);
            if unknown {
                // Jepsen's rule: an operation of unknown outcome may still take
                // effect; this client goes on as a new process.
                process = self.recorder.new_process();
            }
            tokio::time::sleep(think).await;
        }
    }

    fn forget_gone(&self, f: &F, event: &Event) {
        let port = match f {
            F::DeletePort { port } | F::GetPort { port } | F::WriteName { port, .. } => port,
            _ => return,
        };
        let gone = match event {
            Event::Ok { .. } => matches!(f, F::DeletePort { .. }),
            Event::Fail { error } => error == "not_found",
            _ => false,
        };
        if gone {
            self.known.remove(port);
        }
    }

    fn learn(&self, v: &Value) {
        match v {
            Value::Port(p) => self.known.add(p),
            Value::Ports(ps) => ps.iter().for_each(|p| self.known.add(p)),
            Value::Deleted => {}
        }
    }

    fn next_op(&mut self, process: u32, seq: u64) -> Option<F> {
        let subnet = self.subnets[self.rng.usize(..self.subnets.len())].clone();
        let roll = self.rng.u8(..100);
        Some(match roll {
            0..=34 => F::CreatePort {
                ip: self.rng.bool().then(|| {
                    let span = subnet.capacity();
                    Ipv4Addr::from(u32::from(subnet.first) + self.rng.u32(..span)).to_string()
                }),
                subnet: subnet.id,
                device: format!("c{process}-{seq}"),
            },
            35..=54 => F::DeletePort {
                port: self.known.pick(&mut self.rng)?,
            },
            55..=74 => F::GetPort {
                port: self.known.pick(&mut self.rng)?,
            },
            75..=84 => F::ListPorts { subnet: subnet.id },
            _ => F::WriteName {
                port: self.known.pick(&mut self.rng)?,
                name: format!("n{process}-{seq}"),
            },
        })
    }

    async fn perform(&self, f: &F) -> Event {
        let write = !matches!(f, F::GetPort { .. } | F::ListPorts { .. });
        let port = |r: Result<Option<v1::Port>, ClientError>| match r {
            Ok(Some(p)) => Event::Ok {
                value: Value::Port(seen(&p)),
            },
            // A success without its port is a server bug: the outcome is unknown.
            Ok(None) => Event::Info {
                error: "no_port_in_answer".into(),
            },
            Err(e) => classify(&e, write),
        };
        let done = |r: Result<Value, ClientError>| match r {
            Ok(value) => Event::Ok { value },
            Err(e) => classify(&e, write),
        };
        match f {
            F::CreatePort { subnet, ip, device } => port(
                self.api
                    .create_port(v1::CreatePortRequest {
                        subnet_id: subnet.clone(),
                        fixed_ips: ip.iter().cloned().collect(),
                        device_id: device.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.port),
            ),
            F::DeletePort { port } => done(
                self.api
                    .delete_port(v1::DeletePortRequest {
                        port_id: port.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| Value::Deleted),
            ),
            F::GetPort { port: id } => port(
                self.api
                    .get_port(v1::GetPortRequest {
                        port_id: id.clone(),
                    })
                    .await
                    .map(Some),
            ),
            F::ListPorts { subnet } => done(list(&self.api, subnet).await.map(Value::Ports)),
            F::WriteName { port: id, name } => port(
                self.api
                    .update_port(v1::UpdatePortRequest {
                        port_id: id.clone(),
                        name: Some(name.clone()),
                        ..Default::default()
                    })
                    .await
                    .map(Some),
            ),
        }
    }
}

/// A failed call as the history records it. A write whose outcome the library
/// cannot vouch for is `info`; every other failure is definite, by the library's
/// contract (which the checkers hold it to). A read never changes anything, so
/// its failures are `fail` whatever the cause.
fn classify(e: &ClientError, write: bool) -> Event {
    let error = e
        .reason()
        .map(String::from)
        .unwrap_or_else(|| format!("{:?}", e.code()));
    if write && e.outcome_unknown {
        Event::Info { error }
    } else {
        Event::Fail { error }
    }
}

pub fn seen(p: &v1::Port) -> PortSeen {
    PortSeen {
        id: p.id.clone(),
        subnet: p.subnet_id.clone(),
        ip: p
            .fixed_ips
            .first()
            .map(|f| f.ip_address.clone())
            .unwrap_or_default(),
        mac: p.mac_address.clone(),
        name: p.name.clone(),
        device: p.device_id.clone(),
    }
}

/// Every port of a subnet (linearizable reads, all pages), in id order.
pub async fn list(api: &PrismClient, subnet: &str) -> Result<Vec<PortSeen>, ClientError> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = api
            .list_ports(v1::ListPortsRequest {
                subnet_id: subnet.into(),
                page_token: token,
                page_size: 1000,
                ..Default::default()
            })
            .await?;
        out.extend(page.ports.iter().map(seen));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        token = page.next_page_token;
    }
}
