//! The edge side: accepts the DCs' offers, keeps the tally of each route,
//! installs the flows' meters on the edge switch, answers with Resvs, and
//! picks which DC's offer each service uses.
//!
//! # The tally
//!
//! Each route's book starts at the compiled share, as the edge switch's
//! initial rules do. Every aggregate Path from the route's DC carries the
//! DC's tally ([`Tally`]); the edge adopts the DC's offer from it and sets
//! its aggregate meter to the smaller of what its own book leaves and what
//! the DC announces (so a release shrinks the meter ahead of the flow, and
//! a grown aggregate grows it only once the flow's PathTear has been seen).
//! A flow's Path, forwarded by the DC (its RSVP_HOP names the DC), admits
//! the flow on the book: the aggregate meter shrinks (unless the release
//! did it already), the flow's entry is installed, and a Resv for the flow
//! goes back; the aggregate's Resv goes whenever the aggregate meter
//! changes. The edge's writes come in the order of [`crate::Book::admit`]'s
//! plan — meter before flow — so that the edge switch never holds more
//! than the offer either. A flow the book has no room for (the edge missed
//! a PathTear, or the offer) waits, counted as a mismatch, and is placed as
//! soon as room appears.
//!
//! A periodic refresh (not a change) whose tally differs from the edge's in
//! offered, used or flow count is a mismatch: counted, and repaired as far
//! as a refresh can tell (offer adopted, meter set as above); the flows
//! themselves converge by soft state within [`K`](super::K) periods: a
//! missed flow Path comes back with the server's next refresh, a flow whose
//! PathTear was missed expires.
//!
//! An aggregate Path whose tally is older (same epoch, lower sequence) than
//! the one held is a reordered message: it refreshes the offer's lifetime
//! and is otherwise ignored — except a sequence-0 offer, or the
//! [`K`](super::K)-th old-looking refresh in a row, which mean the DC
//! restarted with the same epoch.
//!
//! # Choosing a DC
//!
//! For each service, among the DCs that serve it, have a route to this
//! edge and whose offer the edge holds: the DC chosen stays while what its
//! route has left (the aggregate meter) can take one flow of the service;
//! otherwise the one with the most left that can take a flow is chosen, the
//! first in the service's `at` list on a tie. When no DC can take a flow,
//! the choice stays, unless there is none yet or its offer is gone, in
//! which case the one with the most left is chosen. A change is a
//! [`Change::ChooseDc`]. Staying put while the chosen DC can take a flow
//! keeps the edge from rewriting its choice at every admission.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use fairshare_codegen::rules::Rules;
use fairshare_policy::model::{Policy, Switch};
use fairshare_rsvp::{Body, FilterSpec, Hop, Message, Path, PathTear, Session, TokenBucket};

use super::wire::{self, Tally};
use super::{
    adopted, expired, period, refresh_ms, Action, AgentError, Change, FlowKey, Found, RouteReport,
    Settings, Shadow, Stats,
};
use crate::{Book, FlowId};

#[derive(Debug, Clone, Copy)]
struct Offer {
    tally: Tally,
    period: Duration,
    last: Duration,
}

#[derive(Debug)]
struct Route {
    dc: String,
    /// The DC's index in the policy.
    dc_index: usize,
    dc_addr: Ipv4Addr,
    cell: u32,
    book: Book,
    configured: Shadow,
    offer: Option<Offer>,
    /// The number of flows on the book.
    flows: u32,
    admitted: u64,
    rejected: u64,
    /// The aggregate rate of the last Resv sent.
    resv_sent: Option<u64>,
    /// Aggregate Paths in a row that were older than the offer held.
    stale_run: u32,
}

#[derive(Debug)]
struct Flow {
    id: FlowId,
    route: usize,
    rate_bps: u64,
    tspec: TokenBucket,
    session: Session,
    installed: bool,
    /// Adopted from the switch and not refreshed since: its token bucket
    /// is a stand-in until the DC's forwarded Path gives the real one.
    adopted: bool,
    last: Duration,
    period: Duration,
}

#[derive(Debug)]
struct Service {
    vip: Ipv4Addr,
    protocol: u8,
    port: u16,
    rate_bps: u64,
    /// The routes of the DCs that serve it, in the order of its `at` list.
    routes: Vec<usize>,
}

#[derive(Debug)]
pub(super) struct EdgeAgent {
    pub(super) stats: Stats,
    pub(super) addr: Ipv4Addr,
    pub(super) uplink: u32,
    name: String,
    sw: Switch,
    settings: Settings,
    /// Client prefixes (network, mask).
    clients: Vec<(u32, u32)>,
    routes: Vec<Route>,
    services: Vec<Service>,
    flows: HashMap<FlowKey, Flow>,
    /// Flows waiting for room on their book, oldest first.
    pending: BTreeSet<(FlowId, FlowKey)>,
    next_id: FlowId,
    /// The route each service uses now.
    choice: Vec<Option<usize>>,
    next_refresh: Option<Duration>,
    /// After [`stop`](Self::stop): nothing is announced any more.
    stopped: bool,
}

impl EdgeAgent {
    pub(super) fn new(
        policy: &Policy,
        ei: usize,
        rules: &Rules,
        settings: Settings,
    ) -> Result<EdgeAgent, AgentError> {
        let edge = &policy.edges[ei];
        let sw = edge.switch.clone();
        let mut routes = vec![];
        for cell in &rules.routes {
            let di = policy
                .datacenters
                .iter()
                .position(|d| d.name == cell.dc)
                .filter(|_| cell.edge == edge.name)
                .ok_or_else(|| AgentError::UnknownRoute {
                    switch: sw.name.clone(),
                    cell: cell.index,
                    dc: cell.dc.clone(),
                    edge: cell.edge.clone(),
                })?;
            let book = Book::new(cell.share_bps);
            routes.push(Route {
                dc: cell.dc.clone(),
                dc_index: di,
                dc_addr: wire::dc_address_in(policy, di),
                cell: cell.index,
                configured: Shadow::new(book.aggregate()),
                book,
                offer: None,
                flows: 0,
                admitted: 0,
                rejected: 0,
                resv_sent: None,
                stale_run: 0,
            });
        }
        let services: Vec<Service> = policy
            .services
            .iter()
            .map(|s| Service {
                vip: s.vip,
                protocol: s.protocol.number(),
                port: s.port,
                rate_bps: s.flow_rate,
                routes: s
                    .at
                    .iter()
                    .filter_map(|d| routes.iter().position(|r| r.dc_index == *d))
                    .collect(),
            })
            .collect();
        Ok(EdgeAgent {
            stats: Stats::default(),
            addr: wire::edge_address(edge),
            uplink: u32::from(sw.uplink_port),
            name: edge.name.clone(),
            sw,
            settings,
            clients: edge
                .clients
                .iter()
                .map(|p| (u32::from(p.addr) & p.mask(), p.mask()))
                .collect(),
            routes,
            choice: vec![None; services.len()],
            services,
            flows: HashMap::new(),
            pending: BTreeSet::new(),
            next_id: 1,
            next_refresh: None,
            stopped: false,
        })
    }

    pub(super) fn start(&mut self, now: Duration) -> Vec<Action> {
        self.stopped = false;
        self.next_refresh = Some(now + self.settings.refresh);
        vec![]
    }

    /// See [`super::Agent::adopt`]. The offers are not adopted: the DCs'
    /// next aggregate Paths bring them.
    pub(super) fn adopt(&mut self, now: Duration, found: &Found) -> Found {
        let mut taken = Found::default();
        if self.next_refresh.is_some() || !self.flows.is_empty() {
            return taken;
        }
        let cells: Vec<u32> = self.routes.iter().map(|r| r.cell).collect();
        let (per_route, left) = super::found_by_route(found, &cells, |k, r| self.holds(k, r));
        self.stats.not_adopted += left;
        for (r, flows) in per_route.into_iter().enumerate() {
            let cell = self.routes[r].cell;
            let Some(&aggregate_bps) = found.route_meters.get(&cell) else {
                continue;
            };
            let (book, configured, kept) = adopted(aggregate_bps, cell, &flows, &mut self.next_id);
            self.stats.not_adopted += (flows.len() - kept.len()) as u64;
            let route = &mut self.routes[r];
            route.book = book;
            route.configured = configured;
            route.flows = kept.len() as u32;
            for (id, key, rate) in kept {
                self.flows.insert(
                    key,
                    Flow {
                        id,
                        route: r,
                        rate_bps: rate,
                        tspec: wire::bucket(rate),
                        session: Session {
                            dest: key.dst.into(),
                            protocol: key.protocol,
                            flags: 0,
                            port: key.dst_port,
                        },
                        installed: true,
                        adopted: true,
                        last: now,
                        period: self.settings.refresh,
                    },
                );
                taken.flows.push((key, cell, rate));
                self.stats.adopted_flows += 1;
            }
            taken.route_meters.insert(cell, aggregate_bps);
        }
        taken
    }

    /// Whether this edge could have installed the flow `key` on route `r`:
    /// its client is behind this edge and its sender is the VIP and port
    /// of a service the route's DC serves.
    fn holds(&self, key: &FlowKey, r: usize) -> bool {
        let c = u32::from(key.dst);
        self.clients.iter().any(|&(net, mask)| c & mask == net)
            && self.services.iter().any(|s| {
                s.vip == key.src
                    && s.protocol == key.protocol
                    && s.port == key.src_port
                    && s.routes.contains(&r)
            })
    }

    /// Gives every offer back: a ResvTear per aggregate it holds, and no
    /// more refreshes.
    pub(super) fn stop(&mut self, _now: Duration) -> Vec<Action> {
        self.next_refresh = None;
        let mut out = vec![];
        self.stopped = true;
        for r in 0..self.routes.len() {
            if self.routes[r].offer.is_none() {
                continue;
            }
            let dst = self.routes[r].dc_addr;
            let m = wire::ff_resv_tear(
                wire::aggregate_session(self.addr),
                self.hop(),
                wire::aggregate_sender(dst),
            );
            self.push_uplink(&mut out, dst, &m);
        }
        out
    }

    pub(super) fn message(&mut self, now: Duration, port: u32, msg: Message) -> Vec<Action> {
        if port != self.uplink {
            self.stats.ignored += 1;
            return vec![];
        }
        match &msg.body {
            Body::Path(p) => self.path(now, p),
            Body::PathTear(t) => self.path_tear(now, t),
            Body::PathErr(_) | Body::ResvErr(_) => {
                self.stats.errors_received += 1;
                vec![]
            }
            _ => {
                self.stats.ignored += 1;
                vec![]
            }
        }
    }

    /// The route of an aggregate session from the DC at `sender`.
    fn aggregate_route(&self, session: &Session, sender: Ipv4Addr) -> Option<usize> {
        (session.protocol == wire::AGGREGATE_PROTOCOL && wire::v4(session.dest) == Some(self.addr))
            .then(|| self.routes.iter().position(|r| r.dc_addr == sender))
            .flatten()
    }

    /// The flow a forwarded Path or PathTear names, with its route (the DC
    /// its previous hop names).
    fn flow_of(
        &self,
        session: &Session,
        sender: &FilterSpec,
        phop: Ipv4Addr,
    ) -> Option<(FlowKey, usize)> {
        let FilterSpec::Port { addr, port } = *sender else {
            return None;
        };
        let (vip, client) = (wire::v4(addr)?, wire::v4(session.dest)?);
        let c = u32::from(client);
        if !self.clients.iter().any(|&(net, mask)| c & mask == net) {
            return None;
        }
        self.services
            .iter()
            .find(|s| s.vip == vip && s.protocol == session.protocol && s.port == port)?;
        let route = self.routes.iter().position(|r| r.dc_addr == phop)?;
        Some((
            FlowKey {
                src: vip,
                dst: client,
                protocol: session.protocol,
                src_port: port,
                dst_port: session.port,
            },
            route,
        ))
    }

    fn path(&mut self, now: Duration, p: &Path) -> Vec<Action> {
        let Some(sender) = &p.sender else {
            self.stats.ignored += 1;
            return vec![];
        };
        let FilterSpec::Port { addr, .. } = sender.template else {
            self.stats.ignored += 1;
            return vec![];
        };
        if let Some(r) = wire::v4(addr).and_then(|a| self.aggregate_route(&p.session, a)) {
            return self.aggregate(now, r, p);
        }
        let phop = wire::v4(p.hop.addr).unwrap_or(Ipv4Addr::UNSPECIFIED);
        let Some((key, route)) = self.flow_of(&p.session, &sender.template, phop) else {
            self.stats.ignored += 1;
            return vec![];
        };
        let period = period(p.time_values.refresh_ms);
        if let Some(f) = self.flows.get_mut(&key) {
            if f.route != route {
                // The same connection through another DC: the flows table
                // holds one entry per key, the first DC's.
                self.stats.conflicts += 1;
                return vec![];
            }
            f.last = now;
            f.period = period;
            if f.adopted {
                f.adopted = false;
                if wire::bucket_bps(&sender.tspec).map(|b| b / 8) == Some(f.rate_bps / 8) {
                    f.tspec = sender.tspec;
                }
            }
            if f.installed {
                return vec![];
            }
            return self.place_pending(now);
        }
        let Some(rate) = wire::bucket_bps(&sender.tspec) else {
            self.stats.ignored += 1;
            return vec![];
        };
        let id = self.next_id;
        self.next_id += 1;
        self.flows.insert(
            key,
            Flow {
                id,
                route,
                rate_bps: rate,
                tspec: sender.tspec,
                session: p.session,
                installed: false,
                adopted: false,
                last: now,
                period,
            },
        );
        let mut out = vec![];
        if !self.place(&mut out, key) {
            self.routes[route].rejected += 1;
            self.stats.tally_mismatches += 1;
            self.pending.insert((id, key));
        }
        self.recount_pending();
        out
    }

    /// Admits a waiting flow on its route's book: aggregate meter first,
    /// then the flow's entry, then the Resvs. `false` if there is no room.
    fn place(&mut self, out: &mut Vec<Action>, key: FlowKey) -> bool {
        let Some(f) = self.flows.get(&key) else {
            return false;
        };
        let (id, r, rate) = (f.id, f.route, f.rate_bps);
        if self.routes[r].book.admit(id, rate).is_err() {
            return false;
        }
        if let Some(f) = self.flows.get_mut(&key) {
            f.installed = true;
        }
        self.pending.remove(&(id, key));
        self.routes[r].admitted += 1;
        self.routes[r].flows += 1;
        self.stats.admitted += 1;
        self.sync_meter(out, r);
        let cell = self.routes[r].cell;
        self.push_write(
            out,
            r,
            Some(id),
            Change::InstallFlow {
                key,
                cell,
                rate_bps: rate,
            },
        );
        self.push_flow_resv(out, &key);
        // The aggregate's Resv went already if the release came first.
        if self.routes[r].resv_sent != Some(self.routes[r].configured.aggregate_bps) {
            self.push_aggregate_resv(out, r);
        }
        self.push_choices(out);
        true
    }

    /// Places every waiting flow that now fits, oldest first.
    fn place_pending(&mut self, _now: Duration) -> Vec<Action> {
        let mut out = vec![];
        if self.pending.is_empty() {
            return out;
        }
        let waiting: Vec<(FlowId, FlowKey)> = self.pending.iter().copied().collect();
        for (_, key) in waiting {
            self.place(&mut out, key);
        }
        self.recount_pending();
        out
    }

    fn recount_pending(&mut self) {
        self.stats.pending_flows = self.pending.len() as u64;
    }

    fn aggregate(&mut self, now: Duration, r: usize, p: &Path) -> Vec<Action> {
        let announced = p
            .sender
            .as_ref()
            .and_then(|s| wire::bucket_bps(&s.tspec))
            .unwrap_or(0);
        let route = &mut self.routes[r];
        let prev = route.offer;
        // Without a tally element, the aggregate's rate is all there is:
        // taken as a refresh of the book's own flows.
        let tally = Tally::from_policy_data(&p.policy_data).unwrap_or_else(|| Tally {
            offered_bps: route.book.used() + announced,
            used_bps: route.book.used(),
            flows: route.flows,
            seq: prev.map_or(0, |o| o.tally.seq),
            epoch: prev.map_or(0, |o| o.tally.epoch),
            change: false,
        });
        let period = period(p.time_values.refresh_ms);
        if let Some(o) = prev {
            let behind = (tally.seq.wrapping_sub(o.tally.seq) as i32) < 0;
            // A DC that restarted with the same epoch starts again at
            // sequence 0: its offer, or the K-th refresh in a row that looks old,
            // are taken as the new state.
            let restart = tally.seq == 0 && tally.change;
            if o.tally.epoch == tally.epoch && behind && !restart && route.stale_run + 1 < super::K
            {
                // Reordered: an older state of the DC's book. It still
                // says the DC is there.
                route.stale_run += 1;
                if let Some(o) = &mut route.offer {
                    o.last = now;
                }
                self.stats.stale += 1;
                return vec![];
            }
        }
        route.stale_run = 0;
        route.offer = Some(Offer {
            tally,
            period,
            last: now,
        });
        let mut out = vec![];
        let mismatch = !tally.change && !tally_equal(route, &tally);
        if mismatch {
            self.stats.tally_mismatches += 1;
        }
        let before = (route.book.offered(), route.configured.aggregate_bps);
        route.book.reoffer(tally.offered_bps);
        self.sync_meter(&mut out, r);
        let route = &self.routes[r];
        if mismatch && before != (route.book.offered(), route.configured.aggregate_bps) {
            self.stats.repairs += 1;
        }
        out.extend(self.place_pending(now));
        if self.routes[r].resv_sent != Some(self.routes[r].configured.aggregate_bps) {
            self.push_aggregate_resv(&mut out, r);
        }
        self.push_choices(&mut out);
        out
    }

    fn path_tear(&mut self, now: Duration, t: &PathTear) -> Vec<Action> {
        let Some(sender) = &t.sender else {
            self.stats.ignored += 1;
            return vec![];
        };
        let FilterSpec::Port { addr, .. } = sender.template else {
            self.stats.ignored += 1;
            return vec![];
        };
        if let Some(r) = wire::v4(addr).and_then(|a| self.aggregate_route(&t.session, a)) {
            let mut out = vec![];
            self.withdraw(&mut out, r);
            out.extend(self.place_pending(now));
            return out;
        }
        let phop = wire::v4(t.hop.addr).unwrap_or(Ipv4Addr::UNSPECIFIED);
        let Some((key, _)) = self.flow_of(&t.session, &sender.template, phop) else {
            self.stats.ignored += 1;
            return vec![];
        };
        if !self.flows.contains_key(&key) {
            self.stats.ignored += 1;
            return vec![];
        }
        self.stats.teardowns += 1;
        let mut out = vec![];
        self.remove_flow(&mut out, key);
        out.extend(self.place_pending(now));
        out
    }

    /// Removes a flow: its entry first, then the aggregate grows.
    fn remove_flow(&mut self, out: &mut Vec<Action>, key: FlowKey) {
        let Some(f) = self.flows.remove(&key) else {
            return;
        };
        self.pending.remove(&(f.id, key));
        if f.installed {
            let r = f.route;
            let route = &mut self.routes[r];
            route.book.tear_down(f.id);
            route.flows -= 1;
            self.push_write(out, r, Some(f.id), Change::RemoveFlow { key });
            self.sync_meter(out, r);
            self.push_aggregate_resv(out, r);
            self.push_choices(out);
        }
        self.recount_pending();
    }

    /// The DC's offer is gone (PathTear or expiry): nothing is offered
    /// beyond what the flows hold.
    fn withdraw(&mut self, out: &mut Vec<Action>, r: usize) {
        let route = &mut self.routes[r];
        route.offer = None;
        route.resv_sent = None;
        route.book.reoffer(0);
        self.sync_meter(out, r);
        self.push_choices(out);
    }

    /// Sets the aggregate meter to the smaller of what the book leaves and
    /// what the DC announced, when that differs from what is written.
    fn sync_meter(&mut self, out: &mut Vec<Action>, r: usize) {
        let route = &self.routes[r];
        let own = route.book.aggregate();
        let want = route
            .offer
            .map_or(own, |o| own.min(o.tally.aggregate_bps()));
        if want != route.configured.aggregate_bps {
            let cell = route.cell;
            self.push_write(
                out,
                r,
                None,
                Change::RouteMeter {
                    cell,
                    rate_bps: want,
                },
            );
        }
    }

    fn push_write(&mut self, out: &mut Vec<Action>, r: usize, id: Option<FlowId>, c: Change) {
        let route = &mut self.routes[r];
        if route.configured.after(id, &c) > route.book.offered() {
            self.stats.invariant_violations += 1;
            return;
        }
        route.configured.apply(id, &c);
        out.push(Action::Write(c));
    }

    fn hop(&self) -> Hop {
        Hop {
            addr: self.addr.into(),
            lih: self.uplink,
        }
    }

    fn push_uplink(&mut self, out: &mut Vec<Action>, dst: Ipv4Addr, m: &Message) {
        match wire::frame(wire::uplink_macs(&self.sw), self.addr, dst, m) {
            Ok(frame) => out.push(Action::PacketOut {
                port: self.uplink,
                frame,
            }),
            Err(_) => self.stats.emit_errors += 1,
        }
    }

    /// The Resv of a route's aggregate: FF, the DC's sender, at what the
    /// aggregate meter holds.
    fn push_aggregate_resv(&mut self, out: &mut Vec<Action>, r: usize) {
        if self.stopped {
            return;
        }
        let route = &self.routes[r];
        if route.offer.is_none() {
            return;
        }
        let rate = route.configured.aggregate_bps;
        let dst = route.dc_addr;
        let m = wire::ff_resv(
            wire::aggregate_session(self.addr),
            self.hop(),
            refresh_ms(self.settings.refresh),
            wire::aggregate_sender(dst),
            wire::bucket(rate),
        );
        self.routes[r].resv_sent = Some(rate);
        self.push_uplink(out, dst, &m);
    }

    /// The Resv of an installed flow: FF, the VIP as sender, at its rate.
    fn push_flow_resv(&mut self, out: &mut Vec<Action>, key: &FlowKey) {
        if self.stopped {
            return;
        }
        let Some(f) = self.flows.get(key) else {
            return;
        };
        let dst = self.routes[f.route].dc_addr;
        let m = wire::ff_resv(
            f.session,
            self.hop(),
            refresh_ms(self.settings.refresh),
            FilterSpec::Port {
                addr: key.src.into(),
                port: key.src_port,
            },
            f.tspec,
        );
        self.push_uplink(out, dst, &m);
    }

    /// Re-picks the DC of every service (see the module doc).
    fn push_choices(&mut self, out: &mut Vec<Action>) {
        for si in 0..self.services.len() {
            let s = &self.services[si];
            let left = |r: usize| self.routes[r].configured.aggregate_bps;
            let held: Vec<usize> = s
                .routes
                .iter()
                .copied()
                .filter(|&r| self.routes[r].offer.is_some())
                .collect();
            let cur = self.choice[si].filter(|c| held.contains(c));
            if cur.is_some_and(|c| left(c) >= s.rate_bps) {
                continue;
            }
            // The most left, the first in `at` order on a tie.
            let most = |fits: bool| {
                held.iter()
                    .copied()
                    .filter(|&r| !fits || left(r) >= s.rate_bps)
                    .fold(None, |best: Option<usize>, r| match best {
                        Some(b) if left(b) >= left(r) => Some(b),
                        _ => Some(r),
                    })
            };
            let pick = most(true).or(if cur.is_none() { most(false) } else { None });
            let Some(pick) = pick else { continue };
            if Some(pick) == self.choice[si] {
                continue;
            }
            self.choice[si] = Some(pick);
            out.push(Action::Write(Change::ChooseDc {
                vip: s.vip,
                dc: self.routes[pick].dc.clone(),
            }));
        }
    }

    pub(super) fn tick(&mut self, now: Duration) -> Vec<Action> {
        let mut out = vec![];
        // Offers first: a withdrawn offer shrinks the aggregate meter
        // before any other write of this call, so that every write fits
        // the offer as it stands once the call returns.
        for r in 0..self.routes.len() {
            if self.routes[r]
                .offer
                .is_some_and(|o| expired(now, o.last, o.period))
            {
                self.stats.expired_offers += 1;
                self.withdraw(&mut out, r);
            }
        }
        let mut gone: Vec<(FlowId, FlowKey)> = self
            .flows
            .iter()
            .filter(|(_, f)| expired(now, f.last, f.period))
            .map(|(k, f)| (f.id, *k))
            .collect();
        gone.sort();
        for (_, key) in &gone {
            self.stats.expired_flows += 1;
            self.remove_flow(&mut out, *key);
        }
        if !gone.is_empty() {
            out.extend(self.place_pending(now));
        }
        if let Some(due) = self.next_refresh {
            if now >= due {
                for r in 0..self.routes.len() {
                    if self.routes[r].offer.is_some() {
                        self.push_aggregate_resv(&mut out, r);
                        self.stats.refreshes_sent += 1;
                    }
                }
                let mut keys: Vec<(FlowId, FlowKey)> = self
                    .flows
                    .iter()
                    .filter(|(_, f)| f.installed)
                    .map(|(k, f)| (f.id, *k))
                    .collect();
                keys.sort();
                for (_, k) in keys {
                    self.push_flow_resv(&mut out, &k);
                    self.stats.refreshes_sent += 1;
                }
                let mut next = due + self.settings.refresh;
                if next <= now {
                    next = now + self.settings.refresh;
                }
                self.next_refresh = Some(next);
            }
        }
        out
    }

    pub(super) fn routes(&self) -> Vec<RouteReport> {
        let mut v: Vec<RouteReport> = self
            .routes
            .iter()
            .map(|r| RouteReport {
                dc: r.dc.clone(),
                edge: self.name.clone(),
                cell: r.cell,
                offered_bps: r.book.offered(),
                used_bps: r.book.used(),
                aggregate_bps: r.configured.aggregate_bps,
                admitted: r.admitted,
                rejected: r.rejected,
                flows: r.flows as usize,
                tally_equal: r.offer.map(|o| tally_equal(r, &o.tally)),
                resv_bps: None,
            })
            .collect();
        v.sort_by_key(|r| r.cell);
        v
    }

    pub(super) fn offered(&self, cell: u32) -> Option<u64> {
        self.routes
            .iter()
            .find(|r| r.cell == cell)
            .map(|r| r.book.offered())
    }

    pub(super) fn flows(&self) -> Vec<(FlowKey, u32, u64)> {
        let mut v: Vec<_> = self
            .flows
            .iter()
            .filter(|(_, f)| f.installed)
            .map(|(k, f)| (*k, self.routes[f.route].cell, f.rate_bps))
            .collect();
        v.sort();
        v
    }

    pub(super) fn choices(&self) -> Vec<(Ipv4Addr, String)> {
        self.services
            .iter()
            .zip(&self.choice)
            .filter_map(|(s, c)| c.map(|r| (s.vip, self.routes[r].dc.clone())))
            .collect()
    }
}

/// Whether a route's book agrees with a tally in offered, used and flows.
fn tally_equal(route: &Route, t: &Tally) -> bool {
    route.book.offered() == t.offered_bps
        && route.book.used() == t.used_bps
        && route.flows == t.flows
}
