//! VPCs.

use prismnet_api::v1;
use prismnet_state::command::{CreateVpc, UpdateVpc};
use prismnet_state::model::{StaticRoute, Vpc};
use tonic::Status;

use super::{cidr, id, ip, scope, strings};

pub fn route(field: &str, r: &v1::Route) -> Result<StaticRoute, Status> {
    Ok(StaticRoute {
        destination: cidr(field, &r.destination)?,
        nexthop: ip(field, &r.nexthop)?,
    })
}

pub fn routes(field: &str, v: &[v1::Route]) -> Result<Vec<StaticRoute>, Status> {
    v.iter().map(|r| route(field, r)).collect()
}

pub fn create(r: &v1::CreateVpcRequest) -> Result<CreateVpc, Status> {
    Ok(CreateVpc {
        scope: scope(&r.org, &r.project)?,
        name: r.name.clone(),
        cidr_blocks: r
            .cidr_blocks
            .iter()
            .map(|c| cidr("cidr_blocks", c))
            .collect::<Result<_, _>>()?,
        routes: routes("static_routes", &r.static_routes)?,
    })
}

pub fn update(r: &v1::UpdateVpcRequest) -> Result<UpdateVpc, Status> {
    Ok(UpdateVpc {
        vpc_id: id("id", &r.id)?,
        name: r.name.clone(),
        routes: r
            .static_routes
            .as_ref()
            .map(|l| routes("static_routes", &l.routes))
            .transpose()?,
        add_cidr_blocks: Vec::new(),
    })
}

pub fn to_proto(v: &Vpc) -> v1::Vpc {
    v1::Vpc {
        id: v.id.to_string(),
        org: v.scope.org.clone(),
        project: v.scope.project.clone(),
        name: v.name.clone(),
        cidr_blocks: strings(&v.cidr_blocks),
        external_gateway: v.gateway.as_ref().map(|g| v1::ExternalGateway {
            external_network_id: g.network_id.to_string(),
            enable_snat: g.enable_snat,
            external_ip: g.ip.to_string(),
            mac: g.mac.to_string(),
        }),
        static_routes: v
            .routes
            .iter()
            .map(|r| v1::Route {
                destination: r.destination.to_string(),
                nexthop: r.nexthop.to_string(),
            })
            .collect(),
        created_at_ms: v.created_ms,
    }
}
