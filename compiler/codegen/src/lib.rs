//! The pipeline IR of fairshare and its emitters.
//!
//! ```text
//! Policy + Topology + Shares
//!     └─ pipeline::build ──> ir::Program ──┬─ p4::render       fairshare.p4
//!                                          ├─ bmv2::lower      fairshare.json
//!                                          ├─ p4info::render   fairshare.p4info.txtpb
//!                                          └─ tna::render      fairshare_tna.p4 (Tofino switches)
//!     └─ rules::build ─────> per switch                         <switch>.rules.json
//!     └─ report / topology                                      shares.json, shares.txt, topology.dot
//! ```
//!
//! Invariants: the P4 text, the BMv2 JSON and the P4Info are renderings of
//! one [`ir::Program`], which is validated before any of them is produced;
//! every BMv2 JSON document is re-read through its typed model and checked
//! for dangling references and width mismatches before it is returned;
//! output is byte-for-byte deterministic.
//!
//! Boundary: no file IO (the caller writes [`Output::files`]), no policy
//! parsing, no allocation algorithm, no knowledge of P4Runtime's wire format.
//!
//! ```
//! use fairshare_codegen::pipeline::{build, PipelineParams};
//! use fairshare_policy::model::Sizes;
//! let prog = build(&PipelineParams::new(255, &Sizes { flows: 16, routes: 16, steer: 16 }));
//! prog.validate().unwrap();
//! let json = fairshare_codegen::bmv2::lower(&prog, "example");
//! fairshare_codegen::bmv2::check(&json).unwrap();
//! ```

pub mod bmv2;
pub mod ir;
pub mod p4;
pub mod p4info;
pub mod pipeline;
pub mod report;
pub mod rules;
pub mod tna;

use fairshare_alloc::{Shares, Topology};
use fairshare_policy::model::{Policy, Switch, Target};
use pipeline::PipelineParams;
use std::collections::BTreeMap;

/// The control all of fairshare's tables, actions and externs live in.
pub const CONTROL: &str = "Ingress";

/// The name P4Info and BMv2 JSON give an entity of the ingress control.
pub fn qualified(name: &str) -> String {
    if name == "NoAction" || name.contains('.') {
        name.to_string()
    } else {
        format!("{CONTROL}.{name}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    #[error("internal error in the pipeline IR: {0}")]
    Ir(String),
    #[error("internal error rendering P4: {0}")]
    Template(#[from] askama::Error),
    #[error("internal error: {0}")]
    Check(#[from] bmv2::CheckError),
    #[error("the pipeline cannot be written for TNA: {0}")]
    Tna(String),
    #[error("internal error serialising JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{}", overflow_message(.0))]
    TableFull(Vec<rules::Overflow>),
    /// A CPU port given to [`Retarget`] that no switch can take.
    #[error("{0}")]
    CpuPort(String),
}

fn overflow_message(o: &[rules::Overflow]) -> String {
    o.iter()
        .map(|o| {
            format!(
                "switch `{}`: table `{}` needs {} entries but has room for {} (raise the matching entry of the policy's `sizes` block)",
                o.switch, o.table, o.needed, o.size
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One distinct program and its renderings.
#[derive(Debug)]
pub struct PipelineOut {
    /// e.g. `bmv2-cpu255`.
    pub name: String,
    pub target: Target,
    pub params: PipelineParams,
    pub program: ir::Program,
    pub p4: String,
    pub json: String,
    pub p4info: String,
    /// The same program for TNA, when its switches are Tofino targets.
    pub tna: Option<String>,
    /// The switches that run it.
    pub switches: Vec<String>,
}

#[derive(Debug)]
pub struct SwitchOut {
    pub name: String,
    pub pipeline: String,
    pub rules: rules::Rules,
    pub rules_json: String,
}

/// Everything `fairshare compile` writes.
#[derive(Debug)]
pub struct Output {
    pub pipelines: Vec<PipelineOut>,
    pub switches: Vec<SwitchOut>,
    pub shares_json: String,
    pub shares_txt: String,
    pub topology_dot: String,
}

impl Output {
    /// The files to write, by path relative to the output folder, in a
    /// fixed order.
    pub fn files(&self) -> Vec<(String, &str)> {
        let mut v: Vec<(String, &str)> = vec![
            ("shares.json".into(), &self.shares_json),
            ("shares.txt".into(), &self.shares_txt),
            ("topology.dot".into(), &self.topology_dot),
        ];
        for p in &self.pipelines {
            v.push((format!("pipelines/{}/fairshare.p4", p.name), &p.p4));
            v.push((format!("pipelines/{}/fairshare.json", p.name), &p.json));
            v.push((
                format!("pipelines/{}/fairshare.p4info.txtpb", p.name),
                &p.p4info,
            ));
            if let Some(tna) = &p.tna {
                v.push((format!("pipelines/{}/fairshare_tna.p4", p.name), tna));
            }
        }
        for s in &self.switches {
            v.push((format!("switches/{}.rules.json", s.name), &s.rules_json));
        }
        v
    }

    /// The pipeline a switch runs.
    pub fn pipeline_of(&self, switch: &str) -> Option<&PipelineOut> {
        let s = self.switches.iter().find(|s| s.name == switch)?;
        self.pipelines.iter().find(|p| p.name == s.pipeline)
    }
}

fn pipeline_name(target: Target, params: &PipelineParams) -> String {
    let t = match target {
        Target::Bmv2 => "bmv2",
        Target::Tofino => "tofino",
    };
    format!("{t}-cpu{}", params.cpu_port)
}

/// A JSON object written one member per line and, inside its arrays, one
/// element per line in compact form: readable, diffable line by line, and a
/// fraction of the size of fully pretty-printed JSON for the large rules and
/// shares files of big policies. Elements are serialised straight from their
/// types.
pub struct JsonLines {
    out: Vec<u8>,
    members: usize,
}

impl Default for JsonLines {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonLines {
    pub fn new() -> JsonLines {
        JsonLines {
            out: b"{".to_vec(),
            members: 0,
        }
    }

    fn key(&mut self, key: &str) -> Result<(), serde_json::Error> {
        self.out
            .extend_from_slice(if self.members == 0 { b"\n  " } else { b",\n  " });
        self.members += 1;
        serde_json::to_writer(&mut self.out, key)?;
        self.out.extend_from_slice(b": ");
        Ok(())
    }

    pub fn member<T: serde::Serialize + ?Sized>(
        &mut self,
        key: &str,
        v: &T,
    ) -> Result<(), serde_json::Error> {
        self.key(key)?;
        serde_json::to_writer(&mut self.out, v)
    }

    pub fn array<T: serde::Serialize>(
        &mut self,
        key: &str,
        items: &[T],
    ) -> Result<(), serde_json::Error> {
        self.key(key)?;
        if items.is_empty() {
            self.out.extend_from_slice(b"[]");
            return Ok(());
        }
        self.out.extend_from_slice(b"[");
        for (i, item) in items.iter().enumerate() {
            self.out
                .extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
            serde_json::to_writer(&mut self.out, item)?;
        }
        self.out.extend_from_slice(b"\n  ]");
        Ok(())
    }

    pub fn finish(mut self) -> String {
        self.out.extend_from_slice(b"\n}\n");
        // Everything written came from serde_json, which writes UTF-8.
        String::from_utf8(self.out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// `(0..n).map(f)`, spread over the machine's cores. Item `i` goes to
/// thread `i % threads`, so that expensive items at the start (datacenter
/// switches) are shared out; the result is in index order.
pub fn par_map<T: Send, F: Fn(usize) -> T + Sync>(n: usize, f: F) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(8);
    if threads <= 1 || n < 64 {
        return (0..n).map(f).collect();
    }
    let parts: Vec<Vec<T>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                s.spawn(move || (t..n).step_by(threads).map(f).collect::<Vec<T>>())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut iters: Vec<_> = parts.into_iter().map(|p| p.into_iter()).collect();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if let Some(x) = iters[i % threads].next() {
            out.push(x);
        }
    }
    out
}

/// Renders one program: P4, checked BMv2 JSON, P4Info.
pub fn render_program(
    prog: &ir::Program,
    title: &str,
) -> Result<(String, String, String), CodegenError> {
    prog.validate().map_err(|e| CodegenError::Ir(e.0))?;
    let p4 = p4::render(prog, title)?;
    let json = bmv2::to_text(&bmv2::lower(prog, "fairshare.p4"))?;
    bmv2::check_text(&json)?;
    Ok((p4, json, p4info::render(prog)))
}

/// Compiles every switch of a policy for another target or CPU port than
/// its policy entry names: an existing policy tried on Tofino without being
/// edited (`fairshare compile --target tofino --cpu-port 320`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retarget {
    pub target: Option<Target>,
    pub cpu_port: Option<u16>,
}

impl Retarget {
    /// The target and CPU port a switch is compiled for.
    pub fn of(&self, sw: &Switch) -> (Target, u16) {
        (
            self.target.unwrap_or(sw.target),
            self.cpu_port.unwrap_or(sw.cpu_port),
        )
    }

    /// Refuses a CPU port that does not fit a 9-bit port number or that a
    /// switch already uses for a server, its clients or its uplink.
    pub fn check(&self, policy: &Policy) -> Result<(), CodegenError> {
        let Some(cpu) = self.cpu_port else {
            return Ok(());
        };
        if cpu > 511 {
            return Err(CodegenError::CpuPort(format!(
                "CPU port {cpu} does not fit a 9-bit port number (expected 0 to 511)"
            )));
        }
        let mut clashes = vec![];
        for dc in &policy.datacenters {
            for s in dc.servers.iter().filter(|s| s.port == cpu) {
                clashes.push(format!(
                    "switch `{}` has server `{}` on port {cpu}",
                    dc.switch.name, s.name
                ));
            }
            if dc.switch.uplink_port == cpu {
                clashes.push(format!(
                    "switch `{}` has its uplink on port {cpu}",
                    dc.switch.name
                ));
            }
        }
        for e in &policy.edges {
            if e.client_port == cpu {
                clashes.push(format!(
                    "switch `{}` has its clients on port {cpu}",
                    e.switch.name
                ));
            }
            if e.switch.uplink_port == cpu {
                clashes.push(format!(
                    "switch `{}` has its uplink on port {cpu}",
                    e.switch.name
                ));
            }
        }
        if clashes.is_empty() {
            Ok(())
        } else {
            Err(CodegenError::CpuPort(format!(
                "CPU port {cpu} is in use: {}",
                clashes.join("; ")
            )))
        }
    }
}

/// Compiles a checked policy with its shares into every artifact.
pub fn compile(policy: &Policy, topo: &Topology, shares: &Shares) -> Result<Output, CodegenError> {
    compile_with(policy, topo, shares, &Retarget::default())
}

/// [`compile`], with every switch compiled for the target and CPU port
/// `retarget` gives it.
pub fn compile_with(
    policy: &Policy,
    topo: &Topology,
    shares: &Shares,
    retarget: &Retarget,
) -> Result<Output, CodegenError> {
    retarget.check(policy)?;
    // One program per distinct (target, parameters), in order of first use.
    let mut programs: BTreeMap<(String, PipelineParams), Vec<String>> = BTreeMap::new();
    let key = |sw: &Switch| {
        let (target, cpu_port) = retarget.of(sw);
        let params = PipelineParams::new(cpu_port, &policy.sizes);
        (pipeline_name(target, &params), params)
    };
    for sw in policy.switches() {
        programs.entry(key(sw)).or_default().push(sw.name.clone());
    }
    let mut pipelines = vec![];
    for ((name, params), switches) in programs {
        let target = policy
            .switches()
            .find(|s| s.name == switches[0])
            .map(|s| retarget.of(s).0)
            .unwrap_or(Target::Bmv2);
        let program = pipeline::build(&params);
        let title = format!(
            "fairshare pipeline `{name}` for network \"{}\"",
            policy.name
        );
        let (p4, json, p4info) = render_program(&program, &title)?;
        let tna = match target {
            Target::Tofino => Some(tna::render(&program, &title)?),
            Target::Bmv2 => None,
        };
        pipelines.push(PipelineOut {
            name,
            target,
            params,
            program,
            p4,
            json,
            p4info,
            tna,
            switches,
        });
    }
    let name_of = |sw: &Switch| key(sw).0;
    let rules = rules::build(policy, topo, shares, &name_of).map_err(CodegenError::TableFull)?;
    let texts = par_map(rules.len(), |i| rules[i].to_text());
    let switches = rules
        .into_iter()
        .zip(texts)
        .map(|(r, text)| {
            Ok(SwitchOut {
                name: r.switch.clone(),
                pipeline: r.pipeline.clone(),
                rules_json: text?,
                rules: r,
            })
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    let report = report::build(policy, topo, shares);
    Ok(Output {
        pipelines,
        switches,
        shares_json: report.to_text()?,
        shares_txt: report::text(&report),
        topology_dot: topo.to_dot(policy, shares),
    })
}
