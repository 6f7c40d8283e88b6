//! The shares report: `shares.json` for programs and `shares.txt` for people.

use fairshare_alloc::{Shares, Topology};
use fairshare_policy::model::Policy;
use serde::Serialize;
use std::fmt::Write as _;

/// The report borrows its names from the policy: a large policy has
/// hundreds of thousands of routes.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub network: &'a str,
    pub algorithm: &'static str,
    pub datacenters: Vec<DcReport<'a>>,
    pub routes: Vec<RouteReport<'a>>,
}

#[derive(Debug, Serialize)]
pub struct DcReport<'a> {
    pub name: &'a str,
    /// `B(d)`: what the DC can hand out.
    pub available_bps: u64,
    pub fixed_bps: u64,
    /// What the shares of its routes add up to.
    pub allocated_bps: u64,
}

#[derive(Debug, Serialize)]
pub struct RouteReport<'a> {
    pub dc: &'a str,
    pub edge: &'a str,
    pub path: Vec<&'a str>,
    pub cap_bps: u64,
    pub distance_us: u64,
    pub weight: f64,
    pub share_bps: u64,
}

impl Report<'_> {
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

pub fn build<'a>(policy: &'a Policy, topo: &Topology, shares: &Shares) -> Report<'a> {
    let routes: Vec<RouteReport<'_>> = topo
        .routes()
        .iter()
        .map(|r| RouteReport {
            dc: &policy.datacenters[r.dc].name,
            edge: &policy.edges[r.edge].name,
            path: r.path.iter().map(|n| policy.node_name(n)).collect(),
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
            name: &d.name,
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
        network: &policy.name,
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
            // Thousandths of the unit, rounded half up, in integers.
            let milli = (u128::from(bps) * 1000 + u128::from(scale / 2)) / u128::from(scale);
            return format!("{} {unit}", thousandths(milli as i128));
        }
    }
    format!("{bps} bps")
}

/// A number of thousandths as a decimal with up to three places, trailing
/// zeros dropped: 2525 → `2.525`, 2500 → `2.5`, 2000 → `2`.
fn thousandths(milli: i128) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let m = milli.unsigned_abs();
    let (whole, frac) = (m / 1000, m % 1000);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let f = format!("{frac:03}");
        format!("{sign}{whole}.{}", f.trim_end_matches('0'))
    }
}

fn trim(v: f64) -> String {
    thousandths((v * 1000.0).round() as i128)
}

/// The report for people.
pub fn text(r: &Report<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Fair shares of network \"{}\" ({})\n",
        r.network, r.algorithm
    );
    // Group the routes by datacenter in one pass.
    let mut by_dc: std::collections::HashMap<&str, Vec<&RouteReport<'_>>> =
        std::collections::HashMap::new();
    for x in &r.routes {
        by_dc.entry(x.dc).or_default().push(x);
    }
    for d in &r.datacenters {
        let routes = by_dc.get(d.name).map(Vec::as_slice).unwrap_or(&[]);
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
