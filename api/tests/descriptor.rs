//! The routing table and the file descriptor set agree with the protos.

use std::collections::BTreeSet;

use prismnet_api::methods::{call_kind, CallKind, METHODS};
use prismnet_api::FILE_DESCRIPTOR_SET;
use prost::Message;
use prost_types::FileDescriptorSet;

#[test]
fn every_rpc_has_a_routing_class_and_writes_carry_request_id() {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes");
    let mut from_protos = BTreeSet::new();
    for file in set.file.iter().filter(|f| f.package() == "prismnet.v1") {
        for service in &file.service {
            for method in &service.method {
                let path = format!("/prismnet.v1.{}/{}", service.name(), method.name());
                let kind = call_kind(&path).unwrap_or_else(|| panic!("{path} not in METHODS"));
                let input = method.input_type().trim_start_matches(".prismnet.v1.");
                let has_request_id = set
                    .file
                    .iter()
                    .flat_map(|f| &f.message_type)
                    .find(|m| m.name() == input)
                    .is_some_and(|m| m.field.iter().any(|f| f.name() == "request_id"));
                if kind == CallKind::Write {
                    assert!(has_request_id, "{path}: write without request_id");
                }
                if kind == CallKind::Read {
                    assert!(!has_request_id, "{path}: read with request_id");
                }
                from_protos.insert(path);
            }
        }
    }
    let table: BTreeSet<String> = METHODS.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(from_protos, table, "METHODS and the protos disagree");
}
