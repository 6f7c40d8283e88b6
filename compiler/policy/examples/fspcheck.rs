//! Checks policy files and prints their diagnostics:
//! `cargo run -p fairshare-policy --example fspcheck -- FILE...`.

fn main() -> std::process::ExitCode {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        let src = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{path}: {e}");
                failed = true;
                continue;
            }
        };
        let name = std::path::Path::new(&path)
            .file_name()
            .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
        match fairshare_policy::load(&src) {
            Ok((_, policy)) => println!(
                "{path}: ok ({} datacenters, {} edges, {} links, {} services)",
                policy.datacenters.len(),
                policy.edges.len(),
                policy.links.len(),
                policy.services.len()
            ),
            Err(diags) => {
                failed = true;
                print!("{}", fairshare_policy::render(&diags, &name, &src));
            }
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
