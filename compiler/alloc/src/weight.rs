//! Route weights from the policy's weight settings (formula in the crate docs).

use fairshare_policy::model::Policy;

use crate::Route;

/// The smallest weight a route can get, so that every route grows.
pub const MIN_WEIGHT: f64 = 1e-6;

/// A policy weight setting, with negative and non-finite values read as 0.
fn setting(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        0.0
    }
}

/// The weight of every route, in route order.
pub(crate) fn route_weights(routes: &[Route], policy: &Policy) -> Vec<f64> {
    let ws = setting(policy.weights.subscribers);
    let wd = setting(policy.weights.distance);
    let wr = setting(policy.weights.response);
    if ws + wd + wr == 0.0 || !(ws + wd + wr).is_finite() {
        return vec![1.0; routes.len()];
    }
    let max_subs = policy.edges.iter().map(|e| e.subscribers).max().unwrap_or(0);
    let min_dist = routes.iter().map(|r| r.distance.max(1)).min().unwrap_or(1);
    let response = |d: usize| policy.datacenters[d].mean_response().max(1);
    let min_resp = (0..policy.datacenters.len()).map(response).min().unwrap_or(1);
    routes
        .iter()
        .map(|r| {
            let subs = if max_subs == 0 {
                1.0
            } else {
                policy.edges[r.edge].subscribers as f64 / max_subs as f64
            };
            let dist = min_dist as f64 / r.distance.max(1) as f64;
            let resp = min_resp as f64 / response(r.dc) as f64;
            let w = ws * subs + wd * dist + wr * resp;
            if w.is_finite() {
                w.max(MIN_WEIGHT)
            } else {
                MIN_WEIGHT
            }
        })
        .collect()
}
