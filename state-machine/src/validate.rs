//! Checks of client-supplied values shared by several commands.

use std::net::IpAddr;

use crate::error::{Reason, Result, StateError};
use crate::limits;
use crate::net::{Cidr, Family};

/// Resource names: up to 63 printable ASCII characters, no spaces at the ends.
pub fn name(what: &str, s: &str, required: bool) -> Result<()> {
    let ok = (!required || !s.is_empty())
        && s.len() <= limits::NAME_LEN_MAX
        && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && s.trim() == s;
    if ok {
        Ok(())
    } else {
        Err(StateError::new(
            Reason::InvalidName,
            format!(
                "{what} name '{s}' must be {}up to {} printable characters",
                if required { "1 to " } else { "" },
                limits::NAME_LEN_MAX
            ),
        ))
    }
}

/// Free-form text: device ids, descriptions, chassis names.
pub fn text(what: &str, s: &str) -> Result<()> {
    if s.len() <= limits::TEXT_LEN_MAX && !s.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(StateError::new(
            Reason::InvalidArgument,
            format!(
                "{what} must be at most {} characters without control characters",
                limits::TEXT_LEN_MAX
            ),
        ))
    }
}

pub fn request_id(s: &str) -> Result<()> {
    if !s.is_empty()
        && s.len() <= limits::REQUEST_ID_LEN_MAX
        && s.bytes().all(|b| b.is_ascii_graphic())
    {
        Ok(())
    } else {
        Err(StateError::new(
            Reason::InvalidRequestId,
            format!(
                "request id must be 1-{} printable characters",
                limits::REQUEST_ID_LEN_MAX
            ),
        ))
    }
}

pub fn count(what: &str, n: usize, max: usize) -> Result<()> {
    if n <= max {
        Ok(())
    } else {
        Err(StateError::limit(what, max))
    }
}

/// Addresses that can never be a host or next hop.
pub fn unicast_ip(what: &str, ip: &IpAddr) -> Result<()> {
    if ip.is_unspecified() || ip.is_multicast() || matches!(ip, IpAddr::V4(a) if a.is_broadcast()) {
        return Err(StateError::new(
            Reason::InvalidArgument,
            format!("{what} {ip} is not a unicast address"),
        ));
    }
    Ok(())
}

/// Route destinations and next hops: same family, next hop unicast.
pub fn route(destination: &Cidr, nexthop: &IpAddr) -> Result<()> {
    if destination.family() != Family::of(nexthop) || unicast_ip("next hop", nexthop).is_err() {
        return Err(StateError::new(
            Reason::InvalidRoute,
            format!("route {destination} via {nexthop}: next hop must be a unicast address of the same family"),
        ));
    }
    Ok(())
}
