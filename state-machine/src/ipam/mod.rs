//! IP and MAC address management: pure data structures, no knowledge of ports or
//! subnets. The apply layer decides *who* holds an address; this module guarantees
//! that nobody else can.

pub mod intervals;
pub mod mac;
pub mod pool;

pub use mac::{MacError, MacPool, MacPrefix};
pub use pool::{AddressPool, PoolError, PoolSpec, SpecError};
