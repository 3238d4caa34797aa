//! Tenancy: every tenant resource lives in a scope, an org plus a project.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Reason, StateError};
use crate::limits;

pub const DEFAULT_ORG: &str = "default";

/// Invariant: both names are valid short names (checked by [`Scope::new`]; commands
/// carrying a scope are validated before they touch state).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub org: String,
    pub project: String,
}

impl Scope {
    pub fn new(org: &str, project: &str) -> Result<Scope, StateError> {
        let s = Scope {
            org: org.to_string(),
            project: project.to_string(),
        };
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<(), StateError> {
        check_short_name("org", &self.org)?;
        check_short_name("project", &self.project)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.project)
    }
}

/// Short names (orgs, projects): 1-63 of `[a-z0-9-]`, not starting or ending with
/// '-', so they can appear in OVN names and DNS labels unchanged.
pub fn check_short_name(what: &str, s: &str) -> Result<(), StateError> {
    let ok = !s.is_empty()
        && s.len() <= limits::NAME_LEN_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(StateError::new(
            Reason::InvalidScope,
            format!(
                "{what} '{s}' must be 1-{} characters of a-z, 0-9 and '-'",
                limits::NAME_LEN_MAX
            ),
        ))
    }
}

/// Who sends a command. The API layer authenticates; the state machine enforces what
/// each actor may see and touch, so isolation holds whatever the API layer does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    Admin,
    Project(Scope),
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        matches!(self, Actor::Admin)
    }

    /// Whether this actor may see resources of `scope`.
    pub fn can_access(&self, scope: &Scope) -> bool {
        match self {
            Actor::Admin => true,
            Actor::Project(s) => s == scope,
        }
    }

    /// Key under which this actor's request ids are remembered.
    pub fn request_scope(&self) -> String {
        match self {
            Actor::Admin => String::from("*admin"),
            Actor::Project(s) => s.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert!(Scope::new("default", "web-1").is_ok());
        for bad in ["", "Web", "a_b", "-a", "a-", &"x".repeat(64)] {
            assert_eq!(
                Scope::new("default", bad).unwrap_err().reason,
                Reason::InvalidScope,
                "{bad}"
            );
        }
    }
}
