//! API messages <-> domain types. One file per resource; this module holds the
//! parsers every resource uses. A field that does not parse is refused here with
//! INVALID_ARGUMENT and a reason naming what was wrong, before anything is proposed.

pub mod external_network;
pub mod floating_ip;
pub mod port;
pub mod project;
pub mod security_group;
pub mod subnet;
pub mod vpc;

use std::net::IpAddr;

use prismnet_api::errors::reasons;
use prismnet_api::v1;
use prismnet_state::command::GroupRef;
use prismnet_state::net::{Cidr, IpRange, Mac};
use prismnet_state::read::Page;
use prismnet_state::scope::DEFAULT_ORG;
use prismnet_state::{Id, Scope};
use tonic::Status;

use crate::errors::{invalid, state_error};

/// Page size when the request leaves it 0.
pub const PAGE_SIZE_DEFAULT: usize = 100;

pub fn id(field: &str, s: &str) -> Result<Id, Status> {
    s.parse()
        .map_err(|e| invalid(reasons::INVALID_ID, field, s, e))
}

/// An optional id: empty means absent.
pub fn opt_id(field: &str, s: &str) -> Result<Option<Id>, Status> {
    if s.is_empty() {
        Ok(None)
    } else {
        id(field, s).map(Some)
    }
}

pub fn cidr(field: &str, s: &str) -> Result<Cidr, Status> {
    s.trim()
        .parse()
        .map_err(|e| invalid(reasons::INVALID_CIDR, field, s, e))
}

pub fn opt_cidr(field: &str, s: &str) -> Result<Option<Cidr>, Status> {
    if s.is_empty() {
        Ok(None)
    } else {
        cidr(field, s).map(Some)
    }
}

pub fn ip(field: &str, s: &str) -> Result<IpAddr, Status> {
    s.trim()
        .parse()
        .map_err(|e| invalid(reasons::INVALID_IP, field, s, e))
}

pub fn opt_ip(field: &str, s: &str) -> Result<Option<IpAddr>, Status> {
    if s.is_empty() {
        Ok(None)
    } else {
        ip(field, s).map(Some)
    }
}

pub fn ips(field: &str, v: &[String]) -> Result<Vec<IpAddr>, Status> {
    v.iter().map(|s| ip(field, s)).collect()
}

pub fn mac(field: &str, s: &str) -> Result<Mac, Status> {
    s.trim()
        .to_ascii_lowercase()
        .parse()
        .map_err(|e| invalid(reasons::INVALID_MAC, field, s, e))
}

pub fn opt_mac(field: &str, s: &str) -> Result<Option<Mac>, Status> {
    if s.is_empty() {
        Ok(None)
    } else {
        mac(field, s).map(Some)
    }
}

pub fn range(field: &str, r: &v1::IpRange) -> Result<IpRange, Status> {
    Ok(IpRange {
        start: ip(field, &r.start)?,
        end: ip(field, &r.end)?,
    })
}

pub fn ranges(field: &str, v: &[v1::IpRange]) -> Result<Vec<IpRange>, Status> {
    v.iter().map(|r| range(field, r)).collect()
}

/// A scope named by org (empty: `default`) and project.
pub fn scope(org: &str, project: &str) -> Result<Scope, Status> {
    let org = if org.is_empty() { DEFAULT_ORG } else { org };
    Scope::new(org, project).map_err(state_error)
}

/// A list filter: nothing named means no filter.
pub fn opt_scope(org: &str, project: &str) -> Result<Option<Scope>, Status> {
    if project.is_empty() {
        if !org.is_empty() {
            return Err(invalid(
                reasons::INVALID_ARGUMENT,
                "org",
                org,
                "an org filter needs a project",
            ));
        }
        return Ok(None);
    }
    scope(org, project).map(Some)
}

/// A security group named by id or by its name in the project.
pub fn group_ref(s: &str) -> GroupRef {
    match s.parse::<Id>() {
        Ok(id) => GroupRef::Id(id),
        Err(_) => GroupRef::Name(s.to_string()),
    }
}

pub fn page(page_size: u32, token: &str) -> Result<Page, Status> {
    let after = if token.is_empty() {
        None
    } else {
        Some(
            token
                .parse()
                .map_err(|e| invalid(reasons::INVALID_PAGE_TOKEN, "page_token", token, e))?,
        )
    };
    let limit = if page_size == 0 {
        PAGE_SIZE_DEFAULT
    } else {
        page_size as usize
    };
    Ok(Page { after, limit })
}

/// The token of the page after `items`: empty when this page was the last.
pub fn next_token<T>(items: &[T], page: &Page, id: impl Fn(&T) -> &str) -> String {
    let limit = page.limit.min(prismnet_state::limits::PAGE_SIZE_MAX);
    match items.last() {
        Some(last) if items.len() >= limit => id(last).to_string(),
        _ => String::new(),
    }
}

pub fn strings<T: ToString>(v: impl IntoIterator<Item = T>) -> Vec<String> {
    v.into_iter().map(|x| x.to_string()).collect()
}
