//! The domain model: one file per resource. These are plain data; the rules that
//! keep them consistent live in `apply/`, next to the commands that change them.

pub mod external_network;
pub mod floating_ip;
pub mod port;
pub mod project;
pub mod security_group;
pub mod subnet;
pub mod vpc;

pub use external_network::ExternalNetwork;
pub use floating_ip::FloatingIp;
pub use port::{AddressPair, Port};
pub use project::{Project, Quotas, Usage};
pub use security_group::{Direction, Protocol, Remote, Rule, SecurityGroup};
pub use subnet::{HostRoute, Ipv6Mode, Subnet, SubnetFamily};
pub use vpc::{ExternalGateway, StaticRoute, Vpc};
