//! How each RPC is routed. The node's redirect layer and the client library both use
//! this table so that they agree on which calls go to the leader.

/// Routing class of an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// A mutation: always served by the leader, carries a `request_id`, retried with
    /// the same request_id.
    Write,
    /// A read: served by the leader (linearizable) unless the request carries
    /// `x-prismnet-stale: 1`, in which case the receiving node answers.
    Read,
    /// Answered by whichever node receives it, never redirected
    /// (ClusterStatus, TriggerSnapshot).
    Local,
}

/// Every RPC of `prismnet.v1` by its gRPC path, with its routing class.
pub const METHODS: &[(&str, CallKind)] = &[
    ("/prismnet.v1.ProjectService/GetProject", CallKind::Read),
    ("/prismnet.v1.ProjectService/ListProjects", CallKind::Read),
    ("/prismnet.v1.ProjectService/SetQuota", CallKind::Write),
    ("/prismnet.v1.VpcService/CreateVpc", CallKind::Write),
    ("/prismnet.v1.VpcService/GetVpc", CallKind::Read),
    ("/prismnet.v1.VpcService/ListVpcs", CallKind::Read),
    ("/prismnet.v1.VpcService/UpdateVpc", CallKind::Write),
    ("/prismnet.v1.VpcService/SetGateway", CallKind::Write),
    ("/prismnet.v1.VpcService/ClearGateway", CallKind::Write),
    ("/prismnet.v1.VpcService/DeleteVpc", CallKind::Write),
    ("/prismnet.v1.SubnetService/CreateSubnet", CallKind::Write),
    ("/prismnet.v1.SubnetService/GetSubnet", CallKind::Read),
    ("/prismnet.v1.SubnetService/ListSubnets", CallKind::Read),
    ("/prismnet.v1.SubnetService/UpdateSubnet", CallKind::Write),
    ("/prismnet.v1.SubnetService/DeleteSubnet", CallKind::Write),
    ("/prismnet.v1.PortService/CreatePort", CallKind::Write),
    ("/prismnet.v1.PortService/BindPort", CallKind::Write),
    ("/prismnet.v1.PortService/UpdatePort", CallKind::Write),
    ("/prismnet.v1.PortService/DeletePort", CallKind::Write),
    ("/prismnet.v1.PortService/GetPort", CallKind::Read),
    ("/prismnet.v1.PortService/ListPorts", CallKind::Read),
    ("/prismnet.v1.PortService/WaitPortUp", CallKind::Read),
    (
        "/prismnet.v1.SecurityGroupService/CreateSecurityGroup",
        CallKind::Write,
    ),
    (
        "/prismnet.v1.SecurityGroupService/GetSecurityGroup",
        CallKind::Read,
    ),
    (
        "/prismnet.v1.SecurityGroupService/ListSecurityGroups",
        CallKind::Read,
    ),
    (
        "/prismnet.v1.SecurityGroupService/DeleteSecurityGroup",
        CallKind::Write,
    ),
    ("/prismnet.v1.SecurityGroupService/AddRule", CallKind::Write),
    (
        "/prismnet.v1.SecurityGroupService/RemoveRule",
        CallKind::Write,
    ),
    (
        "/prismnet.v1.ExternalNetworkService/CreateExternalNetwork",
        CallKind::Write,
    ),
    (
        "/prismnet.v1.ExternalNetworkService/GetExternalNetwork",
        CallKind::Read,
    ),
    (
        "/prismnet.v1.ExternalNetworkService/ListExternalNetworks",
        CallKind::Read,
    ),
    (
        "/prismnet.v1.ExternalNetworkService/DeleteExternalNetwork",
        CallKind::Write,
    ),
    (
        "/prismnet.v1.FloatingIpService/CreateFloatingIp",
        CallKind::Write,
    ),
    (
        "/prismnet.v1.FloatingIpService/GetFloatingIp",
        CallKind::Read,
    ),
    (
        "/prismnet.v1.FloatingIpService/ListFloatingIps",
        CallKind::Read,
    ),
    (
        "/prismnet.v1.FloatingIpService/AssociateFloatingIp",
        CallKind::Write,
    ),
    (
        "/prismnet.v1.FloatingIpService/DisassociateFloatingIp",
        CallKind::Write,
    ),
    (
        "/prismnet.v1.FloatingIpService/DeleteFloatingIp",
        CallKind::Write,
    ),
    ("/prismnet.v1.AdminService/ClusterStatus", CallKind::Local),
    ("/prismnet.v1.AdminService/AddNode", CallKind::Write),
    ("/prismnet.v1.AdminService/RemoveNode", CallKind::Write),
    ("/prismnet.v1.AdminService/TriggerSnapshot", CallKind::Local),
    ("/prismnet.v1.AdminService/GetSettings", CallKind::Read),
    ("/prismnet.v1.AdminService/UpdateSettings", CallKind::Write),
    ("/prismnet.v1.AdminService/StateDigest", CallKind::Local),
    ("/prismnet.v1.OvnService/OvnStatus", CallKind::Read),
    ("/prismnet.v1.OvnService/OvnDiff", CallKind::Read),
    ("/prismnet.v1.OvnService/OvnTakeover", CallKind::Write),
];

/// The routing class of a gRPC path (`/package.Service/Method`); `None` for paths
/// outside `prismnet.v1` (health, reflection), which the node serves locally.
pub fn call_kind(path: &str) -> Option<CallKind> {
    METHODS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, kind)| *kind)
}
