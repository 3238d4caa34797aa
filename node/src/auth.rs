//! Bearer tokens and the actor each stands for.
//!
//! The tokens file (TOML) lists admin tokens and tokens bound to one project:
//! ```toml
//! [[tokens]]
//! token = "0p3r4t0r-s3cr3t"
//! admin = true
//!
//! [[tokens]]
//! token = "w3b-t34m"
//! org = "default"
//! project = "web"
//! ```
//! Without a tokens file the node runs in dev mode: every caller is an admin. That is
//! logged loudly at start, since it is only fit for a laptop.
//!
//! Authentication is here; authorization (what a project may see and change) is
//! enforced by the state machine itself, so it holds for every code path.

use std::collections::BTreeMap;
use std::path::Path;

use prismnet_api::errors::{reasons, status_with_reason};
use prismnet_state::{Actor, Scope};
use serde::Deserialize;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read tokens file {0}: {1}")]
    Read(String, std::io::Error),
    #[error("tokens file {0}: {1}")]
    Parse(String, String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    token: String,
    #[serde(default)]
    admin: bool,
    org: Option<String>,
    project: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Auth {
    /// No tokens configured: every caller is an admin.
    Dev,
    Tokens(BTreeMap<String, Actor>),
}

impl Auth {
    pub fn load(path: Option<&Path>) -> Result<Auth, AuthError> {
        let Some(path) = path else {
            return Ok(Auth::Dev);
        };
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| AuthError::Read(name.clone(), e))?;
        Auth::parse(&name, &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Auth, AuthError> {
        let bad = |why: String| AuthError::Parse(name.to_string(), why);
        let file: TokensFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut tokens = BTreeMap::new();
        for e in file.tokens {
            if e.token.len() < 8 {
                return Err(bad("tokens must be at least 8 characters".into()));
            }
            let actor = match (e.admin, e.project) {
                (true, None) => Actor::Admin,
                (false, Some(p)) => {
                    let org = e
                        .org
                        .unwrap_or_else(|| prismnet_state::scope::DEFAULT_ORG.to_string());
                    Actor::Project(Scope::new(&org, &p).map_err(|e| bad(e.to_string()))?)
                }
                _ => {
                    return Err(bad(
                        "each token is either `admin = true` or bound to a `project`".into(),
                    ))
                }
            };
            if tokens.insert(e.token, actor).is_some() {
                return Err(bad("a token is listed twice".into()));
            }
        }
        if tokens.is_empty() {
            return Err(bad("no tokens listed; omit the file for dev mode".into()));
        }
        Ok(Auth::Tokens(tokens))
    }

    /// An admin token, for the node's own calls to its peers' API (all nodes share
    /// the tokens file). None in dev mode, where none is needed.
    pub fn admin_token(&self) -> Option<String> {
        match self {
            Auth::Dev => None,
            Auth::Tokens(t) => t.iter().find(|(_, a)| a.is_admin()).map(|(k, _)| k.clone()),
        }
    }

    pub fn is_dev(&self) -> bool {
        matches!(self, Auth::Dev)
    }

    /// The actor a request's `authorization: Bearer` metadata stands for.
    pub fn actor(&self, md: &MetadataMap) -> Result<Actor, Status> {
        match self {
            Auth::Dev => Ok(Actor::Admin),
            Auth::Tokens(tokens) => prismnet_api::metadata::bearer_token(md)
                .and_then(|t| tokens.get(t))
                .cloned()
                .ok_or_else(|| {
                    status_with_reason(
                        Code::Unauthenticated,
                        reasons::UNAUTHENTICATED,
                        "missing or unknown bearer token",
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file() {
        let a = Auth::parse(
            "t",
            "[[tokens]]\ntoken = \"adminadmin\"\nadmin = true\n[[tokens]]\ntoken = \"webwebweb\"\nproject = \"web\"\n",
        )
        .unwrap();
        let mut md = MetadataMap::new();
        assert_eq!(a.actor(&md).unwrap_err().code(), Code::Unauthenticated);
        md.insert("authorization", "Bearer webwebweb".parse().unwrap());
        assert_eq!(
            a.actor(&md).unwrap(),
            Actor::Project(Scope::new("default", "web").unwrap())
        );
        md.insert("authorization", "Bearer adminadmin".parse().unwrap());
        assert_eq!(a.actor(&md).unwrap(), Actor::Admin);
        assert!(Auth::parse("t", "[[tokens]]\ntoken = \"short\"\nadmin = true\n").is_err());
        assert!(Auth::parse("t", "[[tokens]]\ntoken = \"longenough\"\n").is_err());
        assert!(Auth::parse(
            "t",
            "[[tokens]]\ntoken = \"longenough\"\nproject = \"Bad_Name\"\n"
        )
        .is_err());
        assert!(Auth::load(None).unwrap().is_dev());
    }
}
