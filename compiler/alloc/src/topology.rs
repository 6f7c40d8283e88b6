//! The topology graph and the routes found on it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;

use fairshare_policy::model::{NodeRef, Policy};
use petgraph::graph::{NodeIndex, UnGraph};
use petgraph::visit::EdgeRef;

use crate::{weight, AllocError, Shares};

/// One route DC → edge: the path the data of the pair takes and what it may carry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Route {
    /// Index into [`Policy::datacenters`].
    pub dc: usize,
    /// Index into [`Policy::edges`].
    pub edge: usize,
    /// The nodes from the DC to the edge, both included.
    pub path: Vec<NodeRef>,
    /// Indices into [`Policy::links`] of the links along `path`, in order.
    pub links: Vec<usize>,
    /// `C(d,e)`: the smallest link capacity along the path, when the topology was built.
    pub cap: u64,
    /// Summed one-way delay of the path's links, in microseconds.
    pub distance: u64,
    /// The route's weight computed from the policy the topology was built
    /// from (see the crate docs). [`crate::allocate`] recomputes weights from
    /// the policy it is given, so a changed subscriber count or response time
    /// takes effect without rebuilding.
    pub weight: f64,
}

/// A constraint of the allocation problem: a sum of shares bounded by a capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(tag = "kind", content = "index", rename_all = "lowercase")]
pub enum Constraint {
    /// The shares of a DC's routes are bounded by `B(d)`.
    Datacenter(usize),
    /// The shares of the routes crossing a link are bounded by its capacity.
    Link(usize),
    /// The shares of the routes into an edge are bounded by its demand.
    Demand(usize),
}

/// The topology of a policy: the graph of nodes and links, and one route per
/// connected (DC, edge) pair, sorted by (DC index, edge index).
///
/// Routes are computed once by [`Topology::build`]; the paths stay pinned
/// while the caller changes capacities, loads, demands, subscriber counts or
/// response times and re-runs [`crate::allocate`]. Rebuild the topology to
/// re-route after the link structure or the link capacities change enough to
/// make another path wider.
#[derive(Debug, Clone)]
pub struct Topology {
    graph: UnGraph<NodeRef, usize>,
    /// Structure of the policy the topology was built from, checked by
    /// [`Topology::check_structure`].
    dcs: usize,
    edges: usize,
    routers: usize,
    link_ends: Vec<(NodeRef, NodeRef)>,
    routes: Vec<Route>,
    /// `dc_start[d]..dc_start[d + 1]` are the indices of DC `d`'s routes.
    dc_start: Vec<usize>,
    /// The edge of each route, kept apart from [`Route`] for fast lookups.
    route_edge: Vec<u32>,
    /// Each DC's routes by increasing distance (then edge index), DC after DC.
    nearest: Vec<u32>,
    /// For route `r`, `route_cons[route_cons_off[r]..route_cons_off[r + 1]]`
    /// are the ids of the constraints it belongs to (see [`Topology::constraint_id`]).
    route_cons_off: Vec<u32>,
    route_cons: Vec<u32>,
    /// For constraint `c`, the routes that belong to it, in route order.
    cons_routes_off: Vec<u32>,
    cons_routes: Vec<u32>,
}

impl Topology {
    /// Builds the graph of `policy` and finds the route of every DC and edge
    /// that are connected.
    ///
    /// Each route follows the widest path (largest bottleneck capacity); among
    /// the widest, the shortest (smallest summed distance); among those, the
    /// one the search settles first, which is a deterministic function of the
    /// policy.
    pub fn build(policy: &Policy) -> Result<Topology, AllocError> {
        let dcs = policy.datacenters.len();
        let edges = policy.edges.len();
        let routers = policy.routers.len();
        let nodes = dcs + edges + routers;
        let mut graph = UnGraph::<NodeRef, usize>::with_capacity(nodes, policy.links.len());
        for d in 0..dcs {
            graph.add_node(NodeRef::Datacenter(d));
        }
        for e in 0..edges {
            graph.add_node(NodeRef::Edge(e));
        }
        for r in 0..routers {
            graph.add_node(NodeRef::Router(r));
        }
        // Graph node indices: DCs, then edges, then routers.
        let index_of = |link: usize, node: &NodeRef| -> Result<NodeIndex, AllocError> {
            let found = match *node {
                NodeRef::Datacenter(i) if i < dcs => Some(i),
                NodeRef::Edge(i) if i < edges => Some(dcs + i),
                NodeRef::Router(i) if i < routers => Some(dcs + edges + i),
                _ => None,
            };
            found
                .map(NodeIndex::new)
                .ok_or_else(|| AllocError::UnknownNode {
                    link,
                    node: node.clone(),
                })
        };
        let mut link_ends = Vec::with_capacity(policy.links.len());
        for (l, link) in policy.links.iter().enumerate() {
            let a = index_of(l, &link.a)?;
            let b = index_of(l, &link.b)?;
            link_ends.push((link.a.clone(), link.b.clone()));
            // A link from a node to itself is never on a simple path.
            if a != b {
                graph.add_edge(a, b, l);
            }
        }

        let mut search = Search::new(&graph, policy);
        let mut routes = Vec::new();
        let mut dc_start = Vec::with_capacity(dcs + 1);
        for d in 0..dcs {
            dc_start.push(routes.len());
            search.routes_from(d, dcs, &mut routes);
        }
        dc_start.push(routes.len());

        let mut reached = vec![false; edges];
        for r in &routes {
            reached[r.edge] = true;
        }
        if let Some(e) = reached.iter().position(|&x| !x) {
            return Err(AllocError::NoRoute {
                edge: policy.edges[e].name.clone(),
            });
        }

        let weights = weight::route_weights(&routes, policy);
        for (r, w) in routes.iter_mut().zip(weights) {
            r.weight = w;
        }

        let mut topo = Topology {
            graph,
            dcs,
            edges,
            routers,
            link_ends,
            route_edge: routes.iter().map(|r| r.edge as u32).collect(),
            nearest: Vec::new(),
            routes,
            dc_start,
            route_cons_off: Vec::new(),
            route_cons: Vec::new(),
            cons_routes_off: Vec::new(),
            cons_routes: Vec::new(),
        };
        topo.index_constraints();
        for d in 0..dcs {
            let mut order: Vec<u32> = topo.dc_routes(d).map(|r| r as u32).collect();
            order.sort_by_key(|&r| {
                (
                    topo.routes[r as usize].distance,
                    topo.routes[r as usize].edge,
                )
            });
            topo.nearest.extend(order);
        }
        Ok(topo)
    }

    /// Fills the two membership tables between routes and constraints.
    fn index_constraints(&mut self) {
        let mut off = Vec::with_capacity(self.routes.len() + 1);
        let mut cons = Vec::new();
        for r in &self.routes {
            off.push(cons.len() as u32);
            cons.push(self.constraint_id(Constraint::Datacenter(r.dc)) as u32);
            for &l in &r.links {
                cons.push(self.constraint_id(Constraint::Link(l)) as u32);
            }
            cons.push(self.constraint_id(Constraint::Demand(r.edge)) as u32);
        }
        off.push(cons.len() as u32);

        let n = self.constraint_count();
        let mut count = vec![0u32; n + 1];
        for &c in &cons {
            count[c as usize + 1] += 1;
        }
        for c in 0..n {
            count[c + 1] += count[c];
        }
        let mut fill = count.clone();
        let mut members = vec![0u32; cons.len()];
        for r in 0..self.routes.len() {
            for &c in &cons[off[r] as usize..off[r + 1] as usize] {
                members[fill[c as usize] as usize] = r as u32;
                fill[c as usize] += 1;
            }
        }
        self.route_cons_off = off;
        self.route_cons = cons;
        self.cons_routes_off = count;
        self.cons_routes = members;
    }

    /// The routes, sorted by (DC index, edge index).
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The index of the route of `(dc, edge)` in [`Topology::routes`].
    pub fn route_index(&self, dc: usize, edge: usize) -> Option<usize> {
        let range = *self.dc_start.get(dc)?..*self.dc_start.get(dc + 1)?;
        let edge = u32::try_from(edge).ok()?;
        let local = self.route_edge[range.clone()].binary_search(&edge).ok()?;
        Some(range.start + local)
    }

    /// The graph: one node per DC, edge and router (in that order, each in
    /// policy order), one graph edge per link, weighted by the link's index.
    pub fn graph(&self) -> &UnGraph<NodeRef, usize> {
        &self.graph
    }

    /// Checks that `policy` has the structure the topology was built from:
    /// the same numbers of DCs, edges and routers and the same link endpoints.
    pub fn check_structure(&self, policy: &Policy) -> Result<(), AllocError> {
        let same = policy.datacenters.len() == self.dcs
            && policy.edges.len() == self.edges
            && policy.routers.len() == self.routers
            && policy.links.len() == self.link_ends.len()
            && policy
                .links
                .iter()
                .zip(&self.link_ends)
                .all(|(l, (a, b))| l.a == *a && l.b == *b);
        if same {
            Ok(())
        } else {
            Err(AllocError::StructureChanged {
                expected: format!(
                    "{} datacenters, {} edges, {} routers, {} links",
                    self.dcs,
                    self.edges,
                    self.routers,
                    self.link_ends.len()
                ),
                found: format!(
                    "{} datacenters, {} edges, {} routers, {} links{}",
                    policy.datacenters.len(),
                    policy.edges.len(),
                    policy.routers.len(),
                    policy.links.len(),
                    if policy.links.len() == self.link_ends.len() {
                        " with different endpoints"
                    } else {
                        ""
                    }
                ),
            })
        }
    }

    /// The number of constraints: one per DC, per link and per edge.
    pub(crate) fn constraint_count(&self) -> usize {
        self.dcs + self.link_ends.len() + self.edges
    }

    /// The dense id of a constraint: DCs first, then links, then edge demands.
    pub(crate) fn constraint_id(&self, c: Constraint) -> usize {
        match c {
            Constraint::Datacenter(d) => d,
            Constraint::Link(l) => self.dcs + l,
            Constraint::Demand(e) => self.dcs + self.link_ends.len() + e,
        }
    }

    /// The constraint with dense id `id`.
    pub(crate) fn constraint(&self, id: usize) -> Constraint {
        let links = self.link_ends.len();
        if id < self.dcs {
            Constraint::Datacenter(id)
        } else if id < self.dcs + links {
            Constraint::Link(id - self.dcs)
        } else {
            Constraint::Demand(id - self.dcs - links)
        }
    }

    /// The ids of the constraints route `r` belongs to.
    pub(crate) fn route_constraints(&self, r: usize) -> &[u32] {
        &self.route_cons[self.route_cons_off[r] as usize..self.route_cons_off[r + 1] as usize]
    }

    /// The routes in constraint `c`, in route order.
    pub(crate) fn constraint_routes(&self, c: usize) -> &[u32] {
        &self.cons_routes[self.cons_routes_off[c] as usize..self.cons_routes_off[c + 1] as usize]
    }

    /// The index range of DC `d`'s routes.
    pub(crate) fn dc_routes(&self, d: usize) -> std::ops::Range<usize> {
        self.dc_start[d]..self.dc_start[d + 1]
    }

    /// DC `d`'s routes by increasing distance, ties by edge index.
    pub(crate) fn nearest_order(&self, d: usize) -> &[u32] {
        &self.nearest[self.dc_start[d]..self.dc_start[d + 1]]
    }

    pub(crate) fn dc_count(&self) -> usize {
        self.dcs
    }

    /// Renders the topology with `shares` on it as a Graphviz graph.
    ///
    /// DCs are boxes labelled with `B(d)`, edges ellipses labelled with their
    /// subscribers, routers diamonds; each link is labelled with its capacity
    /// and the sum of the shares of the routes crossing it. The output
    /// depends only on its inputs (nodes and links in policy order).
    pub fn to_dot(&self, policy: &Policy, shares: &Shares) -> String {
        let mut crossing = vec![0u128; policy.links.len()];
        for rs in &shares.routes {
            if let Some(r) = self.route_index(rs.dc, rs.edge) {
                for &l in &self.routes[r].links {
                    if let Some(sum) = crossing.get_mut(l) {
                        *sum += u128::from(rs.share);
                    }
                }
            }
        }
        let mut out = String::new();
        let _ = writeln!(out, "graph {} {{", quote(&policy.name));
        let _ = writeln!(out, "  node [fontname=\"Helvetica\"];");
        let _ = writeln!(out, "  edge [fontname=\"Helvetica\"];");
        for (d, dc) in policy.datacenters.iter().enumerate() {
            let b = dc.available().unwrap_or(0);
            let label = format!("{}\\nB = {}", escape(&dc.name), format_bps(u128::from(b)));
            let _ = writeln!(out, "  dc{d} [shape=box, label=\"{label}\"];");
        }
        for (e, edge) in policy.edges.iter().enumerate() {
            let mut label = format!("{}\\n{} subscribers", escape(&edge.name), edge.subscribers);
            if let Some(demand) = edge.demand {
                let _ = write!(label, "\\ndemand {}", format_bps(u128::from(demand)));
            }
            let _ = writeln!(out, "  edge{e} [shape=ellipse, label=\"{label}\"];");
        }
        for (r, name) in policy.routers.iter().enumerate() {
            let _ = writeln!(
                out,
                "  router{r} [shape=diamond, label=\"{}\"];",
                escape(name)
            );
        }
        for (l, link) in policy.links.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {} -- {} [label=\"{} / {}\\n{} us\"];",
                dot_id(&link.a),
                dot_id(&link.b),
                format_bps(crossing[l]),
                format_bps(u128::from(link.capacity)),
                link.distance
            );
        }
        out.push_str("}\n");
        out
    }
}

fn dot_id(node: &NodeRef) -> String {
    match *node {
        NodeRef::Datacenter(i) => format!("dc{i}"),
        NodeRef::Edge(i) => format!("edge{i}"),
        NodeRef::Router(i) => format!("router{i}"),
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

/// Formats a rate with the largest unit that keeps the number at least 1,
/// with up to three decimals and no trailing zeros, e.g. `2.5 Gbps`.
pub(crate) fn format_bps(bps: u128) -> String {
    const UNITS: [(u128, &str); 4] = [
        (1_000_000_000_000, "Tbps"),
        (1_000_000_000, "Gbps"),
        (1_000_000, "Mbps"),
        (1_000, "Kbps"),
    ];
    for (size, unit) in UNITS {
        if bps >= size {
            let whole = bps / size;
            let milli = (bps % size) * 1000 / size;
            if milli == 0 {
                return format!("{whole} {unit}");
            }
            let frac = format!("{milli:03}");
            return format!("{whole}.{} {unit}", frac.trim_end_matches('0'));
        }
    }
    format!("{bps} bps")
}

/// Scratch space for the per-DC route search, reused across DCs.
struct Search<'a> {
    graph: &'a UnGraph<NodeRef, usize>,
    policy: &'a Policy,
    /// Number of links at each node, self-loops not counted.
    degree: Vec<usize>,
    /// Distinct capacities of the links whose both ends have degree ≥ 2,
    /// ascending.
    core_caps: Vec<u64>,
    width: Vec<Option<u64>>,
    dist: Vec<u64>,
    pred: Vec<Option<(usize, usize)>>,
    settled: Vec<bool>,
}

impl<'a> Search<'a> {
    fn new(graph: &'a UnGraph<NodeRef, usize>, policy: &'a Policy) -> Self {
        let n = graph.node_count();
        let mut degree = vec![0usize; n];
        for e in graph.edge_references() {
            degree[e.source().index()] += 1;
            degree[e.target().index()] += 1;
        }
        let mut core_caps: Vec<u64> = graph
            .edge_references()
            .filter(|e| degree[e.source().index()] >= 2 && degree[e.target().index()] >= 2)
            .map(|e| policy.links[*e.weight()].capacity)
            .collect();
        core_caps.sort_unstable();
        core_caps.dedup();
        Search {
            graph,
            policy,
            degree,
            core_caps,
            width: vec![None; n],
            dist: vec![u64::MAX; n],
            pred: vec![None; n],
            settled: vec![false; n],
        }
    }

    fn capacity(&self, link: usize) -> u64 {
        self.policy.links[link].capacity
    }

    /// The other end of graph edge `e` seen from `n`.
    fn neighbours(&self, n: usize) -> impl Iterator<Item = (usize, usize)> + 'a {
        let graph = self.graph;
        graph.edges(NodeIndex::new(n)).map(move |e| {
            let other = if e.source().index() == n {
                e.target().index()
            } else {
                e.source().index()
            };
            (other, *e.weight())
        })
    }

    /// Appends the routes from DC `dc` to every edge it reaches, in edge order.
    ///
    /// First a bottleneck search gives the widest capacity `W(v)` from the DC
    /// to every node. The shortest path among the widest to edge `e` is then
    /// the shortest path in the subgraph of links with capacity ≥ `W(e)`. The
    /// interior nodes of a simple path have degree ≥ 2, so only the "core"
    /// (the DC and the nodes of degree ≥ 2) is searched, and an edge of degree
    /// 1 is reached from its only neighbour. The core subgraph changes only at
    /// the capacities of core links, so edges whose `W(e)` falls between the
    /// same two core capacities share one shortest-path search.
    fn routes_from(&mut self, dc: usize, edge_base: usize, out: &mut Vec<Route>) {
        self.widest_from(dc);

        let mut caps = self.core_caps.clone();
        for (other, link) in self.neighbours(dc) {
            if other != dc && self.degree[other] >= 2 {
                caps.push(self.capacity(link));
            }
        }
        caps.sort_unstable();
        caps.dedup();

        // Group the reached edges by the smallest core capacity ≥ W(e).
        let edges = self.policy.edges.len();
        let mut targets: Vec<(Option<u64>, usize)> = (0..edges)
            .filter_map(|e| {
                let w = self.width[edge_base + e]?;
                let i = caps.partition_point(|&c| c < w);
                Some((caps.get(i).copied(), e))
            })
            .collect();
        targets.sort_unstable();

        let first = out.len();
        let mut i = 0;
        while i < targets.len() {
            let key = targets[i].0;
            let mut j = i;
            while j < targets.len() && targets[j].0 == key {
                j += 1;
            }
            self.shortest_from(dc, key);
            for &(_, e) in &targets[i..j] {
                out.push(self.route_to(dc, e, edge_base + e));
            }
            i = j;
        }
        out[first..].sort_unstable_by_key(|r| r.edge);
    }

    /// Bottleneck search: `width[v]` = the largest bottleneck capacity of a
    /// path from `src` to `v` (`u64::MAX` at `src`, `None` if unreachable).
    fn widest_from(&mut self, src: usize) {
        self.width.iter_mut().for_each(|w| *w = None);
        self.settled.iter_mut().for_each(|s| *s = false);
        let mut heap = BinaryHeap::new();
        self.width[src] = Some(u64::MAX);
        heap.push((u64::MAX, Reverse(src)));
        while let Some((w, Reverse(n))) = heap.pop() {
            if self.settled[n] {
                continue;
            }
            self.settled[n] = true;
            for (m, link) in self.neighbours(n) {
                let through = w.min(self.capacity(link));
                if !self.settled[m] && self.width[m].is_none_or(|old| through > old) {
                    self.width[m] = Some(through);
                    heap.push((through, Reverse(m)));
                }
            }
        }
    }

    /// Whether a node may be inside a path from `src`.
    fn is_core(&self, n: usize, src: usize) -> bool {
        n == src || self.degree[n] >= 2
    }

    /// Shortest paths from `src` over core links of capacity ≥ `min_cap`
    /// (`None`: no link qualifies). Ties on distance go to the smaller link
    /// index into a node not yet settled.
    fn shortest_from(&mut self, src: usize, min_cap: Option<u64>) {
        self.dist.iter_mut().for_each(|d| *d = u64::MAX);
        self.pred.iter_mut().for_each(|p| *p = None);
        self.settled.iter_mut().for_each(|s| *s = false);
        self.dist[src] = 0;
        let Some(min_cap) = min_cap else { return };
        let mut heap = BinaryHeap::new();
        heap.push(Reverse((0u64, src)));
        while let Some(Reverse((d, n))) = heap.pop() {
            if self.settled[n] {
                continue;
            }
            self.settled[n] = true;
            for (m, link) in self.neighbours(n) {
                if self.settled[m] || !self.is_core(m, src) || self.capacity(link) < min_cap {
                    continue;
                }
                let nd = d.saturating_add(self.policy.links[link].distance);
                let better = nd < self.dist[m]
                    || (nd == self.dist[m] && self.pred[m].is_some_and(|(_, old)| link < old));
                if better {
                    self.dist[m] = nd;
                    self.pred[m] = Some((n, link));
                    heap.push(Reverse((nd, m)));
                }
            }
        }
    }

    /// The route from `src` to edge `e` (graph node `node`) after
    /// [`Search::shortest_from`] ran with `e`'s threshold.
    fn route_to(&self, src: usize, e: usize, node: usize) -> Route {
        let cap = self.width[node].unwrap_or(0);
        let mut links = Vec::new();
        let mut at = node;
        if !self.is_core(node, src) {
            // A leaf: its only link leads to a core node.
            if let Some((m, link)) = self.neighbours(node).next() {
                links.push(link);
                at = m;
            }
        }
        while let Some((prev, link)) = self.pred[at] {
            links.push(link);
            at = prev;
        }
        links.reverse();
        let mut here = self.graph[NodeIndex::new(src)].clone();
        let mut path = Vec::with_capacity(links.len() + 1);
        path.push(here.clone());
        let mut distance = 0u64;
        for &l in &links {
            let link = &self.policy.links[l];
            distance = distance.saturating_add(link.distance);
            here = if link.a == here {
                link.b.clone()
            } else {
                link.a.clone()
            };
            path.push(here.clone());
        }
        Route {
            dc: src,
            edge: e,
            path,
            links,
            cap,
            distance,
            weight: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_bps;

    #[test]
    fn rates_use_the_largest_unit_with_up_to_three_decimals() {
        assert_eq!(format_bps(0), "0 bps");
        assert_eq!(format_bps(999), "999 bps");
        assert_eq!(format_bps(1_000), "1 Kbps");
        assert_eq!(format_bps(2_500_000_000), "2.5 Gbps");
        assert_eq!(format_bps(5_333_333_333), "5.333 Gbps");
        assert_eq!(format_bps(1_050_000), "1.05 Mbps");
        assert_eq!(format_bps(12_000_000_000_000), "12 Tbps");
    }
}
