//! Generates the prost messages and tonic client/server code for `prismnet.v1`, plus a
//! file descriptor set the node serves through gRPC reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/prismnet/v1/common.proto",
    "proto/prismnet/v1/project.proto",
    "proto/prismnet/v1/vpc.proto",
    "proto/prismnet/v1/subnet.proto",
    "proto/prismnet/v1/port.proto",
    "proto/prismnet/v1/security_group.proto",
    "proto/prismnet/v1/external.proto",
    "proto/prismnet/v1/admin.proto",
    "proto/prismnet/v1/ovn.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The vendored protoc keeps builds independent of whatever (if any) protoc the
    // machine has; an explicit PROTOC from the environment still wins.
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // Build scripts are single-threaded, so setting the environment is sound here.
        std::env::set_var("PROTOC", protoc);
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("prismnet_v1_descriptor.bin"))
        .compile_protos(PROTOS, &["proto"])?;
    Ok(())
}
