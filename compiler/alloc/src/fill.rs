//! The three allocation algorithms and the integer rounding they share.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::{Constraint, FloorConflict, Topology};

/// One allocation problem: the topology's routes and constraints with the
/// capacities, weights and floors of the moment.
pub(crate) struct Problem<'a> {
    pub topo: &'a Topology,
    /// Capacity of each constraint by dense id; `None` is unbounded (an edge
    /// without a demand).
    pub caps: Vec<Option<u64>>,
    /// Weight of each route, > 0.
    pub weights: Vec<f64>,
    /// Lower bound of each route's share.
    pub floors: Vec<u64>,
}

/// A saturation time, ordered with `total_cmp` so it can key a heap.
#[derive(Clone, Copy, PartialEq)]
struct Time(f64);

impl Eq for Time {}

impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Time {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Held at its floor until the water level reaches it.
    Waiting,
    /// Growing: share = weight × level.
    Active,
    Frozen,
}

/// Weighted max-min by progressive filling, with floors.
///
/// A global level `t` rises from 0. An unfrozen route's share is
/// `max(floor, weight·t)`: it waits at its floor until `t = floor/weight`,
/// then grows. Every constraint's load is then `k + g·t`, where `k` sums the
/// frozen shares and the waiting floors and `g` the weights of the growing
/// routes, so it saturates at level `(cap − k)/g`. When the lowest such
/// level is reached, every unfrozen route of that constraint freezes.
///
/// The levels sit in a min-heap that is updated lazily. Freezing a route at
/// level `now` turns its `w·t` into the constant `w·now`, which lowers the
/// load of its other constraints at every later level, so their saturation
/// levels can only rise: the heap keeps their old, lower keys, and a popped
/// key that turns out too low is pushed again with the current level. A
/// route waking up lowers the levels of its constraints, so those are pushed
/// at once. Either way every open constraint has a heap key no higher than
/// its true level, and the popped minimum is the next saturation.
pub(crate) fn weighted_max_min(p: &Problem<'_>) -> Vec<f64> {
    let topo = p.topo;
    let nr = p.weights.len();
    let mut cons: Vec<Load> = p
        .caps
        .iter()
        .map(|c| Load {
            k: 0.0,
            g: 0.0,
            cap: c.map_or(f64::INFINITY, |c| c as f64),
            active: 0,
            open: 0,
        })
        .collect();
    let mut share = vec![0.0f64; nr];
    let mut wakeups: Vec<(Time, u32)> = Vec::new();
    let mut state: Vec<State> = p
        .floors
        .iter()
        .map(|&f| if f > 0 { State::Waiting } else { State::Active })
        .collect();

    for (r, (&floor, &weight)) in p.floors.iter().zip(&p.weights).enumerate() {
        let floor = floor as f64;
        let waiting = state[r] == State::Waiting;
        if waiting {
            wakeups.push((Time(floor / weight), r as u32));
        }
        for &c in topo.route_constraints(r) {
            let c = &mut cons[c as usize];
            c.open += 1;
            if waiting {
                c.k += floor;
            } else {
                c.g += weight;
                c.active += 1;
            }
        }
    }
    wakeups.sort_unstable();

    let mut heap: BinaryHeap<Reverse<(Time, u32)>> = BinaryHeap::with_capacity(cons.len());
    for (c, load) in cons.iter().enumerate() {
        if load.open > 0 && load.cap.is_finite() {
            if let Some(t) = load.level(0.0) {
                heap.push(Reverse((Time(t), c as u32)));
            }
        }
    }

    let mut next_wakeup = 0;
    let mut now = 0.0f64;
    loop {
        let top = heap.peek().map(|&Reverse((t, c))| (t.0, c as usize));
        let wakeup = wakeups.get(next_wakeup).map(|&(t, r)| (t.0, r as usize));
        let saturate = match (top, wakeup) {
            (None, None) => break,
            (Some((t, _)), Some((tw, _))) => t <= tw,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if let (true, Some((key, c))) = (saturate, top) {
            heap.pop();
            if cons[c].open == 0 {
                continue;
            }
            let Some(t) = cons[c].level(now) else {
                // Only waiting routes are left; a wakeup will push it again.
                continue;
            };
            if t > key {
                heap.push(Reverse((Time(t), c as u32)));
                continue;
            }
            now = now.max(t);
            for &r in topo.constraint_routes(c) {
                let r = r as usize;
                if state[r] == State::Frozen {
                    continue;
                }
                let was_active = state[r] == State::Active;
                let w = p.weights[r];
                let s = if was_active {
                    (w * now).max(p.floors[r] as f64)
                } else {
                    p.floors[r] as f64
                };
                share[r] = s;
                state[r] = State::Frozen;
                for &c2 in topo.route_constraints(r) {
                    let load = &mut cons[c2 as usize];
                    load.open -= 1;
                    if was_active {
                        load.active -= 1;
                        load.g = if load.active == 0 { 0.0 } else { load.g - w };
                        load.k += s;
                    }
                }
            }
        } else if let Some((t, r)) = wakeup {
            next_wakeup += 1;
            now = now.max(t);
            if state[r] == State::Waiting {
                state[r] = State::Active;
                let floor = p.floors[r] as f64;
                for &c in topo.route_constraints(r) {
                    let load = &mut cons[c as usize];
                    load.k -= floor;
                    load.g += p.weights[r];
                    load.active += 1;
                    if load.cap.is_finite() {
                        if let Some(t) = load.level(now) {
                            heap.push(Reverse((Time(t), c)));
                        }
                    }
                }
            }
        }
    }
    // Every route is in its DC's finite constraint, so all froze above; a
    // route left over (only possible through rounding) keeps the level.
    for r in 0..nr {
        if state[r] != State::Frozen {
            share[r] = (p.weights[r] * now).max(p.floors[r] as f64);
        }
    }
    share
}

/// The load of one constraint during progressive filling, kept together so
/// that an update touches one cache line.
#[derive(Clone, Copy)]
struct Load {
    /// Frozen shares plus the floors of waiting routes.
    k: f64,
    /// Summed weights of the growing routes.
    g: f64,
    cap: f64,
    /// Number of growing routes (`g` is reset to exactly 0 when none is left).
    active: u32,
    /// Number of routes not frozen yet.
    open: u32,
}

impl Load {
    /// The level at which the constraint saturates, not below `now`; `None`
    /// if nothing grows in it.
    fn level(&self, now: f64) -> Option<f64> {
        if self.k >= self.cap {
            Some(now)
        } else if self.g > 0.0 {
            Some(((self.cap - self.k) / self.g).max(now))
        } else {
            None
        }
    }
}

/// Proportional split: each DC divides `B(d)` among its routes in proportion
/// to their weights; then every link or demand constraint whose load would
/// exceed its capacity scales its routes by `capacity / load`, and a route in
/// several such constraints takes the smallest factor.
pub(crate) fn proportional(p: &Problem<'_>) -> Vec<f64> {
    let topo = p.topo;
    let nr = p.weights.len();
    let mut x = vec![0.0f64; nr];
    for d in 0..topo.dc_count() {
        let range = topo.dc_routes(d);
        let total: f64 = p.weights[range.clone()].iter().sum();
        let budget = p.caps[d].unwrap_or(0) as f64;
        for r in range {
            x[r] = budget * p.weights[r] / total;
        }
    }
    let factor = scale_factors(p, &x, &vec![0.0; nr], topo.dc_count());
    (0..nr)
        .map(|r| {
            let f = topo
                .route_constraints(r)
                .iter()
                .map(|&c| factor[c as usize])
                .fold(1.0f64, f64::min);
            x[r] * f
        })
        .collect()
}

/// Applies the floors to shares that fit every constraint: each share is
/// raised to its floor, then in every constraint that now overflows, the
/// parts above the floors are scaled by a common factor so that they fill
/// what the floors leave; a route in several constraints takes the smallest
/// factor. When the floors alone exceed a capacity, the routes of that
/// constraint get exactly their floors.
pub(crate) fn apply_floors(p: &Problem<'_>, shares: Vec<f64>) -> Vec<f64> {
    if p.floors.iter().all(|&f| f == 0) {
        return shares;
    }
    let floors: Vec<f64> = p.floors.iter().map(|&f| f as f64).collect();
    let raised: Vec<f64> = shares.iter().zip(&floors).map(|(s, f)| s.max(*f)).collect();
    let factor = scale_factors(p, &raised, &floors, 0);
    (0..raised.len())
        .map(|r| {
            let f = p
                .topo
                .route_constraints(r)
                .iter()
                .map(|&c| factor[c as usize])
                .fold(1.0f64, f64::min);
            floors[r] + (raised[r] - floors[r]) * f
        })
        .collect()
}

/// For every constraint with id ≥ `first`: the factor in [0, 1] by which the
/// parts of `x` above `base` must be scaled for the constraint to hold.
fn scale_factors(p: &Problem<'_>, x: &[f64], base: &[f64], first: usize) -> Vec<f64> {
    let mut factor = vec![1.0f64; p.caps.len()];
    for (c, cap) in p.caps.iter().enumerate().skip(first) {
        let Some(cap) = *cap else { continue };
        let mut fixed = 0.0;
        let mut above = 0.0;
        for &r in p.topo.constraint_routes(c) {
            fixed += base[r as usize];
            above += x[r as usize] - base[r as usize];
        }
        let cap = cap as f64;
        if fixed + above > cap && above > 0.0 {
            factor[c] = ((cap - fixed) / above).clamp(0.0, 1.0);
        }
    }
    factor
}

/// Nearest-first: DCs in index order; each DC's routes by increasing
/// distance (then edge index) each take, above their floors, all that every
/// constraint they are in still has after the floors and the earlier routes.
pub(crate) fn nearest_first(p: &Problem<'_>) -> Vec<u64> {
    let topo = p.topo;
    let mut rem: Vec<Option<u64>> = p.caps.clone();
    for (r, &floor) in p.floors.iter().enumerate() {
        for &c in topo.route_constraints(r) {
            if let Some(left) = rem[c as usize].as_mut() {
                *left = left.saturating_sub(floor);
            }
        }
    }
    let mut share = p.floors.clone();
    for d in 0..topo.dc_count() {
        for &r in topo.nearest_order(d) {
            let r = r as usize;
            let cons = topo.route_constraints(r);
            let extra = cons
                .iter()
                .filter_map(|&c| rem[c as usize])
                .min()
                .unwrap_or(0);
            for &c in cons {
                if let Some(left) = rem[c as usize].as_mut() {
                    *left -= extra;
                }
            }
            share[r] += extra;
        }
    }
    share
}

/// Rounds shares down to integers no lower than the floors, then makes every
/// constraint hold in integer arithmetic: where a sum exceeds a capacity,
/// the excess is taken from the routes with the most above their floors
/// (ties to the lower route index). Taking from a route never raises another
/// constraint's sum, so one pass over the constraints suffices. Constraints
/// whose floors alone exceed the capacity are returned as conflicts; there
/// the shares equal the floors.
pub(crate) fn round(p: &Problem<'_>, shares: &[f64]) -> (Vec<u64>, Vec<FloorConflict>) {
    let ints: Vec<u64> = shares
        .iter()
        .zip(&p.floors)
        .map(|(&s, &f)| {
            // `as` saturates: NaN becomes 0 and too large values u64::MAX.
            (s.floor() as u64).max(f)
        })
        .collect();
    settle(p, ints)
}

/// The integer pass of [`round`] on shares that are already integers.
pub(crate) fn settle(p: &Problem<'_>, mut s: Vec<u64>) -> (Vec<u64>, Vec<FloorConflict>) {
    let topo = p.topo;
    for (r, &f) in p.floors.iter().enumerate() {
        s[r] = s[r].max(f);
    }
    let mut conflicts = Vec::new();
    for (c, cap) in p.caps.iter().enumerate() {
        let Some(cap) = *cap else { continue };
        let members = topo.constraint_routes(c);
        let sum: u128 = members.iter().map(|&r| u128::from(s[r as usize])).sum();
        if sum <= u128::from(cap) {
            continue;
        }
        let floors: u128 = members
            .iter()
            .map(|&r| u128::from(p.floors[r as usize]))
            .sum();
        if floors > u128::from(cap) {
            conflicts.push(FloorConflict {
                constraint: topo.constraint(c),
                capacity: cap,
                floors: u64::try_from(floors).unwrap_or(u64::MAX),
            });
        }
        let mut excess = sum - u128::from(cap);
        let mut order: Vec<(u64, u32)> = members
            .iter()
            .map(|&r| (s[r as usize] - p.floors[r as usize], r))
            .filter(|&(above, _)| above > 0)
            .collect();
        order.sort_unstable_by_key(|&(above, r)| (Reverse(above), r));
        for (above, r) in order {
            if excess == 0 {
                break;
            }
            let take = u64::try_from(excess.min(u128::from(above))).unwrap_or(above);
            s[r as usize] -= take;
            excess -= u128::from(take);
        }
    }
    (s, conflicts)
}

/// The capacity of every constraint under `policy`.
pub(crate) fn capacities(
    topo: &Topology,
    policy: &fairshare_policy::model::Policy,
) -> Vec<Option<u64>> {
    (0..topo.constraint_count())
        .map(|c| match topo.constraint(c) {
            Constraint::Datacenter(d) => Some(policy.datacenters[d].available().unwrap_or(0)),
            Constraint::Link(l) => Some(policy.links[l].capacity),
            Constraint::Demand(e) => policy.edges[e].demand,
        })
        .collect()
}
