//! Compiles `proto/bf_pipeline_config.proto` with protox (a protobuf compiler
//! written in Rust, so no `protoc` is needed) and generates the prost message.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true);
    compiler.open_files(["bf_pipeline_config.proto"])?;
    let mut config = prost_build::Config::new();
    config.out_dir(&out_dir);
    config.compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
