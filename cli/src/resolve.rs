//! Parsing of argument values (`CIDR`, `A=B`, `START-END`, protocols), splitting
//! repeated values by address family, and resolving security groups by name.
//!
//! The parsers are clap `value_parser`s: a malformed value is a usage error (exit 2)
//! before anything is sent. They check shape only (syntax, families); everything that
//! depends on cluster state is the server's to judge.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use prismnet_api::v1::{get_security_group_request::Lookup, GetSecurityGroupRequest};
use prismnet_api::v1::{IpRange, Route, SecurityGroupName};
use prismnet_api::PrismClient;

use crate::error::CliError;

/// An IPv4 or IPv6 family, for splitting repeated values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

pub fn family_of(ip: &IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

/// Something that belongs to one address family.
pub trait HasFamily {
    fn family(&self) -> Family;
}

impl HasFamily for IpAddr {
    fn family(&self) -> Family {
        family_of(self)
    }
}

/// `ADDRESS/PREFIX`. Kept as written (host bits are the server's to judge).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl HasFamily for Cidr {
    fn family(&self) -> Family {
        family_of(&self.addr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (expected ADDRESS/PREFIX)"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} in {s:?} is not an IP address"))?;
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("{prefix:?} in {s:?} is not a prefix length 0..={max}"))?;
        Ok(Cidr { addr, prefix })
    }
}

/// `DEST=NEXTHOP`: a destination CIDR and a next-hop address of the same family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteArg {
    pub destination: Cidr,
    pub nexthop: IpAddr,
}

impl FromStr for RouteArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (dest, hop) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not a route (expected DEST=NEXTHOP)"))?;
        let destination: Cidr = dest.parse()?;
        let nexthop: IpAddr = hop
            .parse()
            .map_err(|_| format!("next hop {hop:?} in {s:?} is not an IP address"))?;
        if destination.family() != family_of(&nexthop) {
            return Err(format!(
                "route {s:?} mixes families: {} destination, {} next hop",
                destination.family(),
                family_of(&nexthop)
            ));
        }
        Ok(RouteArg {
            destination,
            nexthop,
        })
    }
}

impl From<&RouteArg> for Route {
    fn from(r: &RouteArg) -> Self {
        Route {
            destination: r.destination.to_string(),
            nexthop: r.nexthop.to_string(),
        }
    }
}

pub fn routes(args: &[RouteArg]) -> Vec<Route> {
    args.iter().map(Route::from).collect()
}

/// `START-END`: an inclusive range of one family, start <= end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeArg {
    pub start: IpAddr,
    pub end: IpAddr,
}

impl FromStr for RangeArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // IPv6 addresses never contain '-', so the first one separates.
        let (start, end) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not a range (expected START-END)"))?;
        let start: IpAddr = start
            .trim()
            .parse()
            .map_err(|_| format!("range start {start:?} in {s:?} is not an IP address"))?;
        let end: IpAddr = end
            .trim()
            .parse()
            .map_err(|_| format!("range end {end:?} in {s:?} is not an IP address"))?;
        if family_of(&start) != family_of(&end) {
            return Err(format!("range {s:?} mixes IPv4 and IPv6"));
        }
        if start > end {
            return Err(format!("range {s:?} ends before it starts"));
        }
        Ok(RangeArg { start, end })
    }
}

pub fn ranges(args: &[RangeArg]) -> Vec<IpRange> {
    args.iter()
        .map(|r| IpRange {
            start: r.start.to_string(),
            end: r.end.to_string(),
        })
        .collect()
}

/// Splits a repeated option into at most one IPv4 and one IPv6 value.
pub fn split_families<T: HasFamily + Clone + fmt::Display>(
    option: &str,
    values: &[T],
) -> Result<(Option<T>, Option<T>), CliError> {
    let (mut v4, mut v6): (Option<T>, Option<T>) = (None, None);
    for v in values {
        let slot = match v.family() {
            Family::V4 => &mut v4,
            Family::V6 => &mut v6,
        };
        if let Some(prev) = slot {
            return Err(CliError::usage(format!(
                "{option} takes at most one {} value, got {prev} and {v}",
                v.family()
            )));
        }
        *slot = Some(v.clone());
    }
    Ok((v4, v6))
}

/// A security-group rule protocol: `any`, `tcp`, `udp`, `icmp` or a number 0..=255.
pub fn parse_protocol(s: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "any" | "tcp" | "udp" | "icmp" => Ok(lower),
        _ => match lower.parse::<u8>() {
            Ok(n) => Ok(n.to_string()),
            Err(_) => Err(format!(
                "{s:?} is not a protocol (any, tcp, udp, icmp or a number 0..=255)"
            )),
        },
    }
}

/// A positive number of seconds, possibly fractional (e.g. `0.5`).
pub fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!("{s:?} is not a number of seconds in (0, 86400]"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Whether a security-group reference is an id (UUID-shaped) rather than a name.
pub fn is_id(reference: &str) -> bool {
    uuid::Uuid::try_parse(reference).is_ok()
}

/// The id of a security group named by id or by name within `org`/`project`.
///
/// An id is returned as is (the server checks it when it is used). A name needs a
/// project; it is looked up with GetSecurityGroup's by-name form.
pub async fn security_group_id(
    client: &PrismClient,
    org: &str,
    project: Option<&str>,
    reference: &str,
) -> Result<String, CliError> {
    if is_id(reference) {
        return Ok(reference.to_string());
    }
    let project = project.filter(|p| !p.is_empty()).ok_or_else(|| {
        CliError::usage(format!(
            "security group {reference:?} is a name: give --project (or PRISMNET_PROJECT) to look it up"
        ))
    })?;
    let sg = client
        .get_security_group(GetSecurityGroupRequest {
            lookup: Some(Lookup::ByName(SecurityGroupName {
                org: org.to_string(),
                project: project.to_string(),
                name: reference.to_string(),
            })),
        })
        .await?;
    Ok(sg.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c: Cidr = "10.0.0.0/16".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/16");
        assert_eq!(c.family(), Family::V4);
        let c: Cidr = "fd00:0:0:1::/64".parse().unwrap();
        assert_eq!(c.family(), Family::V6);
        assert_eq!(c.to_string(), "fd00:0:0:1::/64");
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "fd00::/129",
            "x/8",
            "10.0.0.0/x",
            "",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn route_args() {
        let r: RouteArg = "0.0.0.0/0=10.0.0.1".parse().unwrap();
        assert_eq!(
            Route::from(&r),
            Route {
                destination: "0.0.0.0/0".into(),
                nexthop: "10.0.0.1".into()
            }
        );
        let r: RouteArg = "::/0=fd00::1".parse().unwrap();
        assert_eq!(r.nexthop.to_string(), "fd00::1");
        let err = "10.0.0.0/8".parse::<RouteArg>().unwrap_err();
        assert!(err.contains("DEST=NEXTHOP"), "{err}");
        let err = "10.0.0.0/8=fd00::1".parse::<RouteArg>().unwrap_err();
        assert!(err.contains("mixes families"), "{err}");
        assert!("10.0.0.0/8=nope".parse::<RouteArg>().is_err());
        assert!("10.0.0.0=10.0.0.1".parse::<RouteArg>().is_err());
    }

    #[test]
    fn range_args() {
        let r: RangeArg = "10.0.1.10-10.0.1.200".parse().unwrap();
        assert_eq!(
            ranges(&[r]),
            vec![IpRange {
                start: "10.0.1.10".into(),
                end: "10.0.1.200".into()
            }]
        );
        let r: RangeArg = "fd00::10-fd00::ff".parse().unwrap();
        assert_eq!(r.start.to_string(), "fd00::10");
        let r: RangeArg = "10.0.0.5-10.0.0.5".parse().unwrap();
        assert_eq!(r.start, r.end);
        for (bad, why) in [
            ("10.0.1.10", "START-END"),
            ("10.0.1.200-10.0.1.10", "ends before"),
            ("10.0.1.10-fd00::1", "mixes"),
            ("x-10.0.0.1", "start"),
            ("10.0.0.1-", "end"),
        ] {
            let err = bad.parse::<RangeArg>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn families_split() {
        let v: Vec<Cidr> = vec!["fd00::/48".parse().unwrap(), "10.0.0.0/16".parse().unwrap()];
        let (v4, v6) = split_families("--cidr", &v).unwrap();
        assert_eq!(v4.unwrap().to_string(), "10.0.0.0/16");
        assert_eq!(v6.unwrap().to_string(), "fd00::/48");
        let v: Vec<Cidr> = vec!["10.0.0.0/16".parse().unwrap()];
        let (v4, v6) = split_families("--cidr", &v).unwrap();
        assert!(v4.is_some() && v6.is_none());
        let v: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let err = split_families("--ip", &v).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.line().contains("--ip takes at most one IPv4"),
            "{}",
            err.line()
        );
    }

    #[test]
    fn protocols_and_seconds() {
        assert_eq!(parse_protocol("TCP").unwrap(), "tcp");
        assert_eq!(parse_protocol("any").unwrap(), "any");
        assert_eq!(parse_protocol("47").unwrap(), "47");
        assert!(parse_protocol("256").is_err());
        assert!(parse_protocol("gre").is_err());
        assert_eq!(parse_seconds("0.5").unwrap().as_millis(), 500);
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("NaN").is_err());
    }

    #[test]
    fn ids_and_names() {
        assert!(is_id("6f1c2a4e-8d0b-4c53-9a51-2f7b0e6d9c11"));
        assert!(!is_id("default"));
        assert!(!is_id("web-servers"));
    }
}
