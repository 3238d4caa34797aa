//! Every bound of the state machine, in one place. A command that would exceed one is
//! refused with `limit_exceeded`; nothing grows without a named upper bound.

/// Names of resources, orgs and projects.
pub const NAME_LEN_MAX: usize = 63;
/// Free-form strings: descriptions, device ids and owners, chassis names.
pub const TEXT_LEN_MAX: usize = 255;
/// Client request ids.
pub const REQUEST_ID_LEN_MAX: usize = 128;

/// IPv4 blocks IPAM allocates from: a /8 at most (16M addresses), a /30 at least
/// (two usable addresses).
pub const IPV4_POOL_PREFIX_MIN: u8 = 8;
pub const IPV4_POOL_PREFIX_MAX: u8 = 30;
/// IPv6 blocks: a /64 at most, so every offset fits a `u64`.
pub const IPV6_POOL_PREFIX_MIN: u8 = 64;
pub const IPV6_POOL_PREFIX_MAX: u8 = 126;

/// Allocation pools and reserved ranges per address family of a subnet.
pub const RANGES_PER_POOL_MAX: usize = 64;
/// CIDR blocks per VPC.
pub const VPC_CIDR_BLOCKS_MAX: usize = 16;
/// Static routes per VPC, host routes per subnet.
pub const ROUTES_MAX: usize = 128;
/// DNS servers per subnet.
pub const DNS_SERVERS_MAX: usize = 8;
/// Security groups on one port.
pub const GROUPS_PER_PORT_MAX: usize = 32;
/// Allowed address pairs on one port.
pub const ADDRESS_PAIRS_MAX: usize = 32;
/// Gateway chassis of an external network.
pub const GATEWAY_CHASSIS_MAX: usize = 16;
/// Hard ceiling of any quota value, so counters can never overflow.
pub const QUOTA_MAX: u32 = 10_000_000;
/// Retained request ids (idempotency), cluster-wide.
pub const REQUEST_LOG_RETENTION_MAX: u32 = 10_000_000;
/// Client requests carried by one log entry (batched proposals).
pub const PROPOSALS_PER_ENTRY_MAX: usize = 1024;
/// Page size of list reads.
pub const PAGE_SIZE_MAX: usize = 1000;

/// MTU bounds: IPv6 needs 1280; jumbo frames top out near 9000.
pub const MTU_MIN: u32 = 1280;
pub const MTU_MAX: u32 = 9000;
/// 1500 less the Geneve overhead OVN adds.
pub const MTU_DEFAULT: u32 = 1442;

const _: () = assert!(IPV4_POOL_PREFIX_MIN <= IPV4_POOL_PREFIX_MAX && IPV4_POOL_PREFIX_MAX <= 30);
const _: () = assert!(IPV6_POOL_PREFIX_MIN >= 64 && IPV6_POOL_PREFIX_MIN <= IPV6_POOL_PREFIX_MAX);
const _: () = assert!(MTU_MIN <= MTU_DEFAULT && MTU_DEFAULT <= MTU_MAX);
