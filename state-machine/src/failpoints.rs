//! Failpoints: deliberate bugs for the chaos suite's "teeth" (a checker that never
//! fails proves nothing). Compiled in only with the cargo feature `failpoints`,
//! which no normal build, test or release enables; without it [`enabled`] is a
//! constant `false` and every failpoint site compiles away.
//!
//! prismnetd built with the feature reads `PRISMNET_FAILPOINTS` (a comma-separated
//! list of names) once at start and hands it to [`set`]. Every node of a broken
//! cluster runs with the same list, so the state machine stays a pure function of
//! the log even when a failpoint changes what it does.
//!
//! | name | where | the bug |
//! |---|---|---|
//! | `ack-before-fsync` | raft log store | appends acknowledged before (without) their fsync |
//! | `local-linearizable-reads` | raft node | linearizable reads answered from local state, no read index |
//! | `ignore-nb-fence` | OVN driver | writes NB without the fence guard and ignores a moved fence |
//! | `skip-request-dedup` | state machine | a repeated request id is applied again |

/// Every failpoint name; [`set`] refuses others.
pub const NAMES: &[&str] = &[
    "ack-before-fsync",
    "local-linearizable-reads",
    "ignore-nb-fence",
    "skip-request-dedup",
];

#[cfg(feature = "failpoints")]
static ENABLED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Enables the failpoints named in `list` (once per process). Unknown names are
/// an error, so a typo does not make a "broken" build that is not broken.
#[cfg(feature = "failpoints")]
pub fn set(list: &str) -> Result<(), String> {
    let names: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    if let Some(bad) = names.iter().find(|n| !NAMES.contains(&n.as_str())) {
        return Err(format!(
            "unknown failpoint {bad:?}; known: {}",
            NAMES.join(", ")
        ));
    }
    ENABLED
        .set(names)
        .map_err(|_| "failpoints already set".to_string())
}

/// Whether the failpoint `name` is on.
#[inline]
pub fn enabled(name: &str) -> bool {
    #[cfg(feature = "failpoints")]
    {
        ENABLED.get().is_some_and(|v| v.iter().any(|n| n == name))
    }
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = name;
        false
    }
}
