//! The shares report: `shares.json` for programs and `shares.txt` for people.

use fairshare_alloc::{Shares, Topology};
use fairshare_policy::model::Policy;
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Serialize)]
pub struct Report {
    pub network: String,
    pub algorithm: &'static str,
    pub datacenters: Vec<DcReport>,
    pub routes: Vec<RouteReport>,
}

#[derive(Debug, Serialize)]
pub struct DcReport {
    pub name: String,
    /// `B(d)`: what the DC can hand out.
    pub available_bps: u64,
    pub fixed_bps: u64,
    /// What the shares of its routes add up to.
    pub allocated_bps: u64,
}

#[derive(Debug, Serialize)]
pub struct RouteReport {
    pub dc: String,
    pub edge: String,
    pub path: Vec<String>,
    pub cap_bps: u64,
    pub distance_us: u64,
    pub weight: f64,
    pub share_bps: u64,
}

impl Report {
    /// `shares.json`: one member per line, one array element per line.
    pub fn to_text(&self) -> Result<String, serde_json::Error> {
        let mut w = crate::JsonLines::new();
        w.member("network", &self.network)?;
        w.member("algorithm", &self.algorithm)?;
        w.array("datacenters", &self.datacenters)?;
        w.array("routes", &self.routes)?;
        Ok(w.finish())
    }
}

pub fn build(policy: &Policy, topo: &Topology, shares: &Shares) -> Report {
    let routes: Vec<RouteReport> = topo
        .routes()
        .iter()
        .map(|r| RouteReport {
            dc: policy.datacenters[r.dc].name.clone(),
            edge: policy.edges[r.edge].name.clone(),
            path: r
                .path
                .iter()
                .map(|n| policy.node_name(n).to_string())
                .collect(),
            cap_bps: r.cap,
            distance_us: r.distance,
            weight: (r.weight * 1e6).round() / 1e6,
            share_bps: shares.get(r.dc, r.edge).unwrap_or(0),
        })
        .collect();
    let datacenters = policy
        .datacenters
        .iter()
        .enumerate()
        .map(|(i, d)| DcReport {
            name: d.name.clone(),
            available_bps: d.available().unwrap_or(0),
            fixed_bps: d.fixed_total(),
            allocated_bps: topo
                .routes()
                .iter()
                .filter(|r| r.dc == i)
                .map(|r| shares.get(r.dc, r.edge).unwrap_or(0))
                .sum(),
        })
        .collect();
    Report {
        network: policy.name.clone(),
        algorithm: shares.algorithm.name(),
        datacenters,
        routes,
    }
}

/// Formats a rate with the largest unit that keeps it at or above 1.
pub fn rate(bps: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "Tbps"),
        (1_000_000_000, "Gbps"),
        (1_000_000, "Mbps"),
        (1_000, "Kbps"),
    ];
    for (scale, unit) in UNITS {
        if bps >= scale {
            let v = bps as f64 / scale as f64;
            return format!("{} {unit}", trim(v));
        }
    }
    format!("{bps} bps")
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The report for people.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Fair shares of network \"{}\" ({})\n",
        r.network, r.algorithm
    );
    // Group the routes by datacenter in one pass.
    let mut by_dc: std::collections::HashMap<&str, Vec<&RouteReport>> =
        std::collections::HashMap::new();
    for x in &r.routes {
        by_dc.entry(x.dc.as_str()).or_default().push(x);
    }
    for d in &r.datacenters {
        let routes = by_dc.get(d.name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let _ = writeln!(
            out,
            "datacenter {}: available {}, fixed {}, allocated {}",
            d.name,
            rate(d.available_bps),
            rate(d.fixed_bps),
            rate(d.allocated_bps)
        );
        let width = routes
            .iter()
            .map(|x| x.edge.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "  {:<width$}  {:>12}  {:>12}  {:>9}  {:>8}  path",
            "edge", "share", "cap", "distance", "weight"
        );
        for x in routes {
            let _ = writeln!(
                out,
                "  {:<width$}  {:>12}  {:>12}  {:>9}  {:>8}  {}",
                x.edge,
                rate(x.share_bps),
                rate(x.cap_bps),
                format!("{}us", x.distance_us),
                trim(x.weight),
                x.path.join(" -> ")
            );
        }
        out.push('\n');
    }
    out
}
