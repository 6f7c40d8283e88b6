//! `fairshare compile`, `check` and `gen-policy`.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use fairshare_alloc::{allocate, Topology};
use fairshare_codegen::CodegenError;
use fairshare_policy::model::Policy;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code for bad input.
pub const EXIT_BAD_INPUT: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// The syntax tree, with spans.
    Ast,
    /// The validated policy model, as JSON.
    Model,
    /// The fair shares (shares.json).
    Shares,
    /// The pipeline IR.
    Ir,
    /// The P4 program (v1model).
    P4,
    /// The P4 program for Tofino (TNA); the switch must be a Tofino target
    /// (`target tofino` in the policy, or --target-kind tofino).
    Tna,
    /// The BMv2 JSON.
    Json,
    /// The P4Info, text format.
    P4info,
    /// The rules of one switch.
    Rules,
}

#[derive(Args)]
pub struct CompileArgs {
    /// The policy file (.fsp).
    pub policy: PathBuf,
    /// The folder to write into; created if missing.
    #[arg(short, long, default_value = "build", required_unless_present = "emit")]
    pub output: PathBuf,
    /// Print one stage to stdout instead of writing files.
    #[arg(long, value_enum)]
    pub emit: Option<Stage>,
    /// The switch whose pipeline or rules `--emit` prints (default: the first declared).
    #[arg(long)]
    pub switch: Option<String>,
    /// Print how long each stage took and the peak memory, to stderr.
    #[arg(long)]
    pub timings: bool,
    /// Compile every switch for this target, whatever its `target` in the
    /// policy says. Tofino pipelines also get `fairshare_tna.p4`.
    #[arg(long, value_enum)]
    pub target_kind: Option<TargetKind>,
    /// Give every switch this CPU port, whatever its `cpu-port` in the
    /// policy says: the port the program sends packet_in to and takes
    /// packet_out from (Tofino: 320 for the PCIe port of a 4-pipe Tofino,
    /// 192 for a 2-pipe one, 0 for Tofino 2, or an Ethernet CPU port).
    #[arg(long, value_name = "PORT")]
    pub cpu_port: Option<u16>,
}

/// The kind of switch a program is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    /// v1model, for BMv2 and fairshare's switch.
    Bmv2,
    /// TNA, for Tofino (the v1model artifacts are written too).
    Tofino,
}

/// Stage timings for `--timings`.
struct Timings {
    on: bool,
    start: std::time::Instant,
    last: std::time::Instant,
}

impl Timings {
    fn new(on: bool) -> Timings {
        let now = std::time::Instant::now();
        Timings {
            on,
            start: now,
            last: now,
        }
    }

    fn stage(&mut self, name: &str) {
        let now = std::time::Instant::now();
        if self.on {
            eprintln!(
                "stage {name:<10} {:>8.1} ms",
                (now - self.last).as_secs_f64() * 1e3
            );
        }
        self.last = now;
    }

    fn finish(&self) {
        if self.on {
            eprintln!(
                "stage total      {:>8.1} ms",
                self.start.elapsed().as_secs_f64() * 1e3
            );
            if let Some(kb) = peak_memory_kib() {
                eprintln!("peak memory      {:>8.1} MiB", kb as f64 / 1024.0);
            }
        }
    }
}

/// The process's peak resident set, from Linux's /proc (None elsewhere).
fn peak_memory_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Args)]
pub struct CheckArgs {
    /// The policy file (.fsp).
    pub policy: PathBuf,
}

#[derive(Args)]
pub struct GenArgs {
    /// Number of datacenters.
    #[arg(long, default_value_t = 2)]
    pub dcs: usize,
    /// Number of subscriber edges.
    #[arg(long, default_value_t = 4)]
    pub edges: usize,
    /// Seed of the generator; the same seed gives the same policy.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Link the regions' core routers in a chain, so that every edge reaches
    /// every datacenter (by default each region is a network of its own).
    #[arg(long)]
    pub chain_regions: bool,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Reads and checks a policy; on errors prints the diagnostics and returns
/// the exit code to use.
fn load(
    path: &Path,
) -> Result<std::result::Result<(fairshare_policy::ast::File, Policy), ExitCode>> {
    let src = fs::read_to_string(path)
        .with_context(|| format!("cannot read policy `{}`", path.display()))?;
    let name = path.display().to_string();
    match fairshare_policy::load(&src) {
        Ok(x) => Ok(Ok(x)),
        Err(diags) => {
            eprint!("{}", fairshare_policy::render(&diags, &name, &src));
            Ok(Err(ExitCode::from(EXIT_BAD_INPUT)))
        }
    }
}

pub fn check(args: &CheckArgs) -> Result<ExitCode> {
    let (_, policy) = match load(&args.policy)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    eprintln!(
        "{}: ok ({} datacenters, {} edges, {} links, {} services)",
        args.policy.display(),
        policy.datacenters.len(),
        policy.edges.len(),
        policy.links.len(),
        policy.services.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn gen(args: &GenArgs) -> Result<ExitCode> {
    if args.dcs == 0 || args.edges == 0 {
        eprintln!("error: --dcs and --edges must be at least 1");
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    }
    let shape = if args.chain_regions {
        fairshare_policy::gen::Shape::Chained
    } else {
        fairshare_policy::gen::Shape::Regional
    };
    let text = fairshare_policy::gen::generate_shape(args.dcs, args.edges, args.seed, shape);
    match &args.output {
        Some(p) => write_atomically(p, text.as_bytes())?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn compile(args: &CompileArgs) -> Result<ExitCode> {
    let mut timings = Timings::new(args.timings);
    let (ast, policy) = match load(&args.policy)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    timings.stage("load");
    let mut out = std::io::stdout().lock();
    match args.emit {
        Some(Stage::Ast) => {
            writeln!(out, "{ast:#?}")?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Stage::Model) => {
            writeln!(out, "{}", serde_json::to_string_pretty(&policy)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let topo = match Topology::build(&policy) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", args.policy.display());
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    timings.stage("topology");
    let shares = allocate(&topo, &policy, policy.algorithm);
    timings.stage("allocate");
    let retarget = fairshare_codegen::Retarget {
        target: args.target_kind.map(|k| match k {
            TargetKind::Bmv2 => fairshare_policy::model::Target::Bmv2,
            TargetKind::Tofino => fairshare_policy::model::Target::Tofino,
        }),
        cpu_port: args.cpu_port,
    };
    let output = match fairshare_codegen::compile_with(&policy, &topo, &shares, &retarget) {
        Ok(o) => o,
        Err(e @ (CodegenError::TableFull(_) | CodegenError::CpuPort(_))) => {
            for line in e.to_string().lines() {
                eprintln!("error: {}: {line}", args.policy.display());
            }
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(stage) = args.emit {
        let switch = match &args.switch {
            Some(s) => s.clone(),
            None => policy
                .switches()
                .next()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
        };
        let Some(sw) = output.switches.iter().find(|s| s.name == switch) else {
            eprintln!(
                "error: no switch named `{switch}` in {}",
                args.policy.display()
            );
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        };
        let pipe = output
            .pipeline_of(&sw.name)
            .context("switch without pipeline")?;
        match stage {
            Stage::Shares => out.write_all(output.shares_json.as_bytes())?,
            Stage::Ir => writeln!(out, "{:#?}", pipe.program)?,
            Stage::P4 => out.write_all(pipe.p4.as_bytes())?,
            Stage::Tna => match &pipe.tna {
                Some(tna) => out.write_all(tna.as_bytes())?,
                None => {
                    eprintln!(
                        "error: switch `{}` is a bmv2 target, so it has no TNA program; \
                         declare `target tofino` for it in the policy or pass \
                         --target-kind tofino (with --cpu-port, e.g. 320)",
                        sw.name
                    );
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
            },
            Stage::Json => out.write_all(pipe.json.as_bytes())?,
            Stage::P4info => out.write_all(pipe.p4info.as_bytes())?,
            Stage::Rules => out.write_all(sw.rules_json.as_bytes())?,
            Stage::Ast | Stage::Model => {}
        }
        return Ok(ExitCode::SUCCESS);
    }
    timings.stage("codegen");
    let files = output.files();
    write_tree(&args.output, &files)?;
    timings.stage("write");
    timings.finish();
    eprintln!(
        "{}: wrote {} files to {} ({} pipeline{}, {} switches)",
        args.policy.display(),
        files.len(),
        args.output.display(),
        output.pipelines.len(),
        if output.pipelines.len() == 1 { "" } else { "s" },
        output.switches.len()
    );
    // The process ends right after this: a large policy's outputs are
    // millions of small allocations, and handing them back one by one
    // costs more than the operating system reclaiming the whole at exit.
    drop(files);
    std::mem::forget((output, shares, topo, policy, ast));
    Ok(ExitCode::SUCCESS)
}

/// Writes `data` to `path` through a temporary file in the same folder,
/// so that `path` is either untouched or complete.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("output path has no file name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    fs::write(&tmp, data).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

/// Writes every file under a staging folder beside `root`, then moves them
/// into place: the whole staging folder when `root` does not exist yet, file
/// by file otherwise. Nothing under `root` changes if writing fails.
fn write_tree(root: &Path, files: &[(String, &str)]) -> Result<()> {
    let parent = root
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
    let base = root
        .file_name()
        .context("output folder has no name")?
        .to_string_lossy();
    let staging = parent.join(format!(".{base}.tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        let dirs: std::collections::BTreeSet<PathBuf> = files
            .iter()
            .filter_map(|(rel, _)| staging.join(rel).parent().map(Path::to_path_buf))
            .collect();
        for d in &dirs {
            fs::create_dir_all(d).with_context(|| format!("cannot create `{}`", d.display()))?;
        }
        // Large policies have one rules file per switch, thousands of them:
        // write them from as many threads as there are cores.
        let results = fairshare_codegen::par_map(files.len(), |i| {
            let p = staging.join(&files[i].0);
            fs::write(&p, files[i].1).with_context(|| format!("cannot write `{}`", p.display()))
        });
        results.into_iter().collect::<Result<Vec<()>>>()?;
        if !root.exists() {
            fs::rename(&staging, root)
                .with_context(|| format!("cannot create `{}`", root.display()))?;
            return Ok(());
        }
        for (rel, _) in files {
            let dst = root.join(rel);
            if let Some(d) = dst.parent() {
                fs::create_dir_all(d)
                    .with_context(|| format!("cannot create `{}`", d.display()))?;
            }
            fs::rename(staging.join(rel), &dst)
                .with_context(|| format!("cannot write `{}`", dst.display()))?;
        }
        Ok(())
    })();
    if staging.exists() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}
