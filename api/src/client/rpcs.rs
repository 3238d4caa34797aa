//! One typed method per RPC, each a thin wrapper over [`PrismClient::call`].

use std::time::Duration;

use tonic::transport::Channel;

use super::call::Fresh;
use super::{ClientError, PrismClient};
use crate::methods::CallKind;
use crate::v1::admin_service_client::AdminServiceClient;
use crate::v1::external_network_service_client::ExternalNetworkServiceClient;
use crate::v1::floating_ip_service_client::FloatingIpServiceClient;
use crate::v1::ovn_service_client::OvnServiceClient;
use crate::v1::port_service_client::PortServiceClient;
use crate::v1::project_service_client::ProjectServiceClient;
use crate::v1::security_group_service_client::SecurityGroupServiceClient;
use crate::v1::subnet_service_client::SubnetServiceClient;
use crate::v1::vpc_service_client::VpcServiceClient;
use crate::v1::*;

/// Extra time the client waits beyond WaitPortUp's server-side timeout, so that the
/// server's answer (not the client's deadline) ends the call.
const WAIT_PORT_UP_SLACK: Duration = Duration::from_secs(5);

macro_rules! rpcs {
    ($($kind:ident $(@$slow:ident)? $client:ident :: $method:ident ($req:ty) -> $resp:ty;)*) => {
        impl PrismClient {
            $(
                #[doc = concat!("`", stringify!($client), "::", stringify!($method), "` (", stringify!($kind), ").")]
                pub async fn $method(&self, req: $req) -> Result<$resp, ClientError> {
                    rpcs!(@prepare $kind self req fresh id);
                    let client = rpcs!(@client self $($slow)?);
                    client
                        .run(CallKind::$kind, client.deadline, fresh, req, |ch: Channel, r| async move {
                            $client::new(ch).$method(r).await
                        })
                        .await
                        .map_err(|e| match id {
                            Some(id) => e.of_write(id),
                            None => e,
                        })
                }
            )*
        }
    };
    // `@slow`: one attempt may use the whole deadline, as before attempt timeouts
    // existed. For calls whose answer legitimately takes seconds (a learner catching
    // up with the log, a full OVN NB diff or claim) and membership changes, which the
    // node does not deduplicate by request_id (a retry after a timed-out attempt that
    // did apply could be refused as if nothing had happened). A silent leader costs
    // these the deadline; they are rare operator calls.
    (@client $this:ident) => { $this };
    (@client $this:ident slow) => { $this.with_attempt_timeout($this.deadline) };
    // Writes get their request_id here, once, before the first attempt, so that all
    // retries of this logical call carry the same one.
    (@prepare Write $this:ident $req:ident $fresh:ident $id:ident) => {
        let mut $req = $req;
        let $fresh = if $this.ensure_request_id(&mut $req.request_id) { Fresh::Yes } else { Fresh::No };
        let $id = Some($req.request_id.clone());
    };
    (@prepare Read $this:ident $req:ident $fresh:ident $id:ident) => { let $fresh = Fresh::No; let $id = None; };
    (@prepare Local $this:ident $req:ident $fresh:ident $id:ident) => { let $fresh = Fresh::No; let $id = None; };
}

rpcs! {
    Read ProjectServiceClient::get_project(GetProjectRequest) -> Project;
    Read ProjectServiceClient::list_projects(ListProjectsRequest) -> ListProjectsResponse;
    Write ProjectServiceClient::set_quota(SetQuotaRequest) -> Project;

    Write VpcServiceClient::create_vpc(CreateVpcRequest) -> Vpc;
    Read VpcServiceClient::get_vpc(GetVpcRequest) -> Vpc;
    Read VpcServiceClient::list_vpcs(ListVpcsRequest) -> ListVpcsResponse;
    Write VpcServiceClient::update_vpc(UpdateVpcRequest) -> Vpc;
    Write VpcServiceClient::set_gateway(SetGatewayRequest) -> Vpc;
    Write VpcServiceClient::clear_gateway(ClearGatewayRequest) -> Vpc;
    Write VpcServiceClient::delete_vpc(DeleteVpcRequest) -> DeleteVpcResponse;

    Write SubnetServiceClient::create_subnet(CreateSubnetRequest) -> Subnet;
    Read SubnetServiceClient::get_subnet(GetSubnetRequest) -> Subnet;
    Read SubnetServiceClient::list_subnets(ListSubnetsRequest) -> ListSubnetsResponse;
    Write SubnetServiceClient::update_subnet(UpdateSubnetRequest) -> Subnet;
    Write SubnetServiceClient::delete_subnet(DeleteSubnetRequest) -> DeleteSubnetResponse;

    Write PortServiceClient::create_port(CreatePortRequest) -> CreatePortResponse;
    Write PortServiceClient::bind_port(BindPortRequest) -> Port;
    Write PortServiceClient::update_port(UpdatePortRequest) -> Port;
    Write PortServiceClient::delete_port(DeletePortRequest) -> DeletePortResponse;
    Read PortServiceClient::get_port(GetPortRequest) -> Port;
    Read PortServiceClient::list_ports(ListPortsRequest) -> ListPortsResponse;

    Write SecurityGroupServiceClient::create_security_group(CreateSecurityGroupRequest) -> SecurityGroup;
    Read SecurityGroupServiceClient::get_security_group(GetSecurityGroupRequest) -> SecurityGroup;
    Read SecurityGroupServiceClient::list_security_groups(ListSecurityGroupsRequest) -> ListSecurityGroupsResponse;
    Write SecurityGroupServiceClient::delete_security_group(DeleteSecurityGroupRequest) -> DeleteSecurityGroupResponse;
    Write SecurityGroupServiceClient::add_rule(AddRuleRequest) -> AddRuleResponse;
    Write SecurityGroupServiceClient::remove_rule(RemoveRuleRequest) -> SecurityGroup;

    Write ExternalNetworkServiceClient::create_external_network(CreateExternalNetworkRequest) -> ExternalNetwork;
    Read ExternalNetworkServiceClient::get_external_network(GetExternalNetworkRequest) -> ExternalNetwork;
    Read ExternalNetworkServiceClient::list_external_networks(ListExternalNetworksRequest) -> ListExternalNetworksResponse;
    Write ExternalNetworkServiceClient::delete_external_network(DeleteExternalNetworkRequest) -> DeleteExternalNetworkResponse;

    Write FloatingIpServiceClient::create_floating_ip(CreateFloatingIpRequest) -> FloatingIp;
    Read FloatingIpServiceClient::get_floating_ip(GetFloatingIpRequest) -> FloatingIp;
    Read FloatingIpServiceClient::list_floating_ips(ListFloatingIpsRequest) -> ListFloatingIpsResponse;
    Write FloatingIpServiceClient::associate_floating_ip(AssociateFloatingIpRequest) -> FloatingIp;
    Write FloatingIpServiceClient::disassociate_floating_ip(DisassociateFloatingIpRequest) -> FloatingIp;
    Write FloatingIpServiceClient::delete_floating_ip(DeleteFloatingIpRequest) -> DeleteFloatingIpResponse;

    Local AdminServiceClient::cluster_status(ClusterStatusRequest) -> ClusterStatusResponse;
    Write @slow AdminServiceClient::add_node(AddNodeRequest) -> ClusterStatusResponse;
    Write @slow AdminServiceClient::remove_node(RemoveNodeRequest) -> ClusterStatusResponse;
    Local AdminServiceClient::trigger_snapshot(TriggerSnapshotRequest) -> TriggerSnapshotResponse;
    Read AdminServiceClient::get_settings(GetSettingsRequest) -> ClusterSettings;
    Write AdminServiceClient::update_settings(UpdateSettingsRequest) -> ClusterSettings;
    Local AdminServiceClient::state_digest(StateDigestRequest) -> StateDigestResponse;

    Read OvnServiceClient::ovn_status(OvnStatusRequest) -> OvnStatusResponse;
    Read @slow OvnServiceClient::ovn_diff(OvnDiffRequest) -> OvnDiffResponse;
    Write @slow OvnServiceClient::ovn_takeover(OvnTakeoverRequest) -> OvnTakeoverResponse;
}

impl PrismClient {
    /// `PortServiceClient::wait_port_up` (Read). The call's deadline is stretched to
    /// cover the requested wait, so the server's answer (the port, `up` or not) is what
    /// ends it.
    pub async fn wait_port_up(&self, req: WaitPortUpRequest) -> Result<Port, ClientError> {
        let wait = Duration::from_millis(u64::from(req.timeout_ms)) + WAIT_PORT_UP_SLACK;
        let deadline = self.deadline.max(wait);
        // The server holds the call for up to the requested wait: an attempt gets that
        // on top of the usual attempt timeout.
        self.with_attempt_timeout(self.attempt_timeout.saturating_add(wait))
            .call_with_deadline(CallKind::Read, deadline, req, |ch: Channel, r| async move {
                PortServiceClient::new(ch).wait_port_up(r).await
            })
            .await
    }
}
