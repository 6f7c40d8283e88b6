//! Running a folder of cases (`DIR/<case>/` with one `.json` and one `.stf`
//! each), spread over threads.

use crate::{run_files, Outcome};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How one case ended.
#[derive(Debug, Clone)]
pub enum CaseStatus {
    Passed,
    /// It ran and failed, or needs what the switch lacks.
    Failed(Outcome),
    /// The case could not be run: its folder or files are bad input.
    BadInput(String),
}

#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub status: CaseStatus,
    pub time: Duration,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        matches!(self.status, CaseStatus::Passed)
    }

    /// One line: empty for a pass.
    pub fn reason(&self) -> String {
        match &self.status {
            CaseStatus::Passed => String::new(),
            CaseStatus::Failed(o) => o.reason(),
            CaseStatus::BadInput(r) => format!("bad input: {r}"),
        }
    }
}

/// The single file with this extension in a folder.
fn only_file(dir: &Path, ext: &str) -> Result<PathBuf, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut found = vec![];
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == ext) {
            found.push(p);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        n => Err(format!(
            "{}: expected one .{ext} file, found {n}",
            dir.display()
        )),
    }
}

/// Runs one case folder.
pub fn run_case(dir: &Path) -> CaseResult {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let start = Instant::now();
    let status = match only_file(dir, "json").and_then(|j| Ok((j, only_file(dir, "stf")?))) {
        Err(e) => CaseStatus::BadInput(e),
        Ok((json, stf)) => match run_files(&json, &stf) {
            Ok(o) if o.passed() => CaseStatus::Passed,
            Ok(o) => CaseStatus::Failed(o),
            Err(e) => CaseStatus::BadInput(e.to_string()),
        },
    };
    CaseResult {
        name,
        status,
        time: start.elapsed(),
    }
}

/// The case folders under `dir`, sorted by name.
pub fn case_dirs(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Runs every case folder under `dir` on `threads` threads (at least one);
/// results come back sorted by case name.
pub fn run_dir(dir: &Path, threads: usize) -> Result<Vec<CaseResult>, String> {
    let dirs = case_dirs(dir)?;
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(dirs.len()));
    std::thread::scope(|s| {
        for _ in 0..threads.max(1).min(dirs.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(d) = dirs.get(i) else { break };
                let r = run_case(d);
                if let Ok(mut v) = results.lock() {
                    v.push(r);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(results)
}

/// The threads to use: the available cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A table of results (case, result, reason, time) and the closing line
/// `N passed, M failed`.
pub fn table(results: &[CaseResult]) -> String {
    let w = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut s = format!("{:<w$}  {:<6}  {:>9}  reason\n", "case", "result", "time");
    for r in results {
        s += &format!(
            "{:<w$}  {:<6}  {:>7.1}ms  {}\n",
            r.name,
            if r.passed() { "pass" } else { "FAIL" },
            r.time.as_secs_f64() * 1e3,
            r.reason()
        );
    }
    let passed = results.iter().filter(|r| r.passed()).count();
    s += &format!("{passed} passed, {} failed\n", results.len() - passed);
    s
}
