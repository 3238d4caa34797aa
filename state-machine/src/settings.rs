//! Cluster-wide settings of the state machine. They are replicated state (changed by
//! the `UpdateSettings` command), never read from a node's local configuration at
//! apply time, so every replica applies with the same values.

use serde::{Deserialize, Serialize};

use crate::ipam::MacPrefix;
use crate::model::Quotas;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Quotas a project gets when it comes into being.
    pub default_quotas: Quotas,
    /// Prefix of allocated MACs. Can only change while no MAC is held.
    pub mac_prefix: MacPrefix,
    /// How many recent request ids are remembered for idempotency.
    pub request_id_retention: u32,
    /// Distinguishes this cluster's ids from another cluster's. Can only change while
    /// the state holds no resource.
    pub id_salt: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            default_quotas: Quotas::default(),
            mac_prefix: MacPrefix::DEFAULT,
            request_id_retention: 100_000,
            id_salt: 0,
        }
    }
}

/// A partial update of [`Settings`]; `None` leaves a field unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsPatch {
    pub default_quotas: Option<Quotas>,
    pub mac_prefix: Option<MacPrefix>,
    pub request_id_retention: Option<u32>,
    pub id_salt: Option<u32>,
}
