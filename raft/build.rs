//! Generates the prost messages and tonic client/server for `prismnet.raft.v1`, the
//! peer-to-peer Raft service.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The vendored protoc keeps builds independent of whatever protoc the machine
    // has; an explicit PROTOC from the environment still wins.
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // Build scripts are single-threaded, so setting the environment is sound here.
        std::env::set_var("PROTOC", protoc);
    }
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure()
        .compile_protos(&["proto/prismnet/raft/v1/raft.proto"], &["proto"])?;
    Ok(())
}
