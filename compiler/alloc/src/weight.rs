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
    let max_subs = policy
        .edges
        .iter()
        .map(|e| e.subscribers)
        .max()
        .unwrap_or(0);
    let subs: Vec<f64> = policy
        .edges
        .iter()
        .map(|e| {
            if max_subs == 0 {
                ws
            } else {
                ws * (e.subscribers as f64 / max_subs as f64)
            }
        })
        .collect();
    let response: Vec<u64> = policy
        .datacenters
        .iter()
        .map(|d| d.mean_response().max(1))
        .collect();
    let min_resp = response.iter().copied().min().unwrap_or(1);
    let resp: Vec<f64> = response
        .iter()
        .map(|&r| wr * (min_resp as f64 / r as f64))
        .collect();
    let min_dist = routes.iter().map(|r| r.distance.max(1)).min().unwrap_or(1) as f64;
    routes
        .iter()
        .map(|r| {
            let w = subs[r.edge] + wd * (min_dist / r.distance.max(1) as f64) + resp[r.dc];
            if w.is_finite() {
                w.max(MIN_WEIGHT)
            } else {
                MIN_WEIGHT
            }
        })
        .collect()
}
