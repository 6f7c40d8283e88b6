//! Compiles the P4Runtime `.proto` files in `proto/` with protox (a protobuf
//! compiler written in Rust, so no `protoc` is needed) and generates the prost
//! messages and the tonic client and server. The encoded descriptor set is
//! written next to the generated code for the text-format support.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "p4/v1/p4runtime.proto",
    "p4/v1/p4data.proto",
    "p4/config/v1/p4info.proto",
    "p4/config/v1/p4types.proto",
    "google/rpc/status.proto",
    "google/rpc/code.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(PROTOS)?;
    std::fs::write(
        out_dir.join("p4runtime_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    let mut config = tonic_prost_build::Config::new();
    // `Name` impls give each message its protobuf name, for text format and
    // for packing into `Any`.
    config.enable_type_names();
    // Type URLs for `Any` as the reference implementations write them.
    config.type_name_domain(["."], "type.googleapis.com");
    // Maps in field order (BTreeMap), so that encoding is deterministic.
    config.btree_map(["."]);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(true)
        // Decodes each message from one contiguous buffer (see
        // src/codec.rs).
        .codec_path("crate::codec::Codec")
        // Written by hand to keep field-number order on the wire (see
        // src/manual.rs).
        .extern_path(".p4.v1.Replica", "crate::manual::Replica")
        .compile_fds_with_config(compiler.file_descriptor_set(), config)?;
    Ok(())
}
