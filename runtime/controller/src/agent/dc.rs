//! The DC side: offers, interception of the servers' reservations with
//! release-ahead, teardown in the reverse order, steering among servers.
//!
//! # Steering
//!
//! Each server has a headroom: `capacity × (1 − load)` less the rates of
//! the flows admitted on it (a flow is on the server whose address its
//! Path's SENDER_TEMPLATE names). Every (service, edge) pair is steered to
//! one server: at first the server of the any-edge entry the code generator
//! wrote (the most free capacity, the first declared on a tie). After every
//! admission, teardown or expiry, each pair whose server's headroom can no
//! longer take one flow of the service (its `flow-rate`) moves to the
//! server with the most headroom, the first declared on a tie, if that one
//! can take a flow; the move is a [`Change::Steer`] for the single edge,
//! which the switch matches above the any-edge entry. A pair stays where it
//! is while its server can take a flow, so that steering does not flap with
//! every admission.
//!
//! # Which flow is which
//!
//! A server's Path names the flow: SESSION (client address, protocol,
//! client port) and SENDER_TEMPLATE (server address, service port). Its
//! route is (this DC, the edge with the longest client prefix holding the
//! client address); its service the first of the policy's services at this
//! DC with that protocol and port. The flow is keyed as the `flows` table
//! keys it after SNAT: ([`FlowKey`]) (VIP, client, protocol, service port,
//! client port). A second server's Path for a key held by another server is
//! refused. A refresh that changes the rate keeps the admitted rate: a new
//! rate needs a new flow.
//!
//! # What each message gives
//!
//! * A server's Path for a new flow that fits: exactly the release (the
//!   aggregate Path at the reduced rate, out of the uplink), RouteMeter
//!   (shrink), InstallFlow, and the server's Path forwarded out of the
//!   uplink (sender rewritten to the VIP, RSVP_HOP this DC), in that order;
//!   then any [`Change::Steer`] the admission calls for.
//! * One that does not fit, or names no route or service: a PathErr
//!   (Admission Control failure, requested bandwidth unavailable) back out
//!   of the server's port, and nothing else.
//! * A refresh of a known flow: the forwarded Path alone.
//! * A server's PathTear, or a flow's expiry: RemoveFlow, RouteMeter
//!   (grow), the aggregate's Path at the grown rate, the PathTear forwarded;
//!   then any Steer.
//! * The edge's Resv or ResvTear for a flow: passed on to the flow's server
//!   with the server as the filter (the server decides whether to tear its
//!   Path down). For an aggregate: recorded ([`RouteReport::resv_bps`]).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use fairshare_codegen::rules::{default_server, edge_id, service_id, Rules};
use fairshare_policy::model::{Policy, Switch};
use fairshare_rsvp::{
    Body, FilterSpec, FlowDescriptors, Hop, Message, Path, PathTear, SenderDescriptor, Session,
    TokenBucket,
};

use super::wire::{self, Tally};
use super::{
    adopted, expired, period, refresh_ms, Action, AgentError, Change, FlowKey, Found, RouteReport,
    Settings, Shadow, Stats,
};
use crate::{Book, FlowId, Plan, Step};

#[derive(Debug)]
struct Server {
    address: Ipv4Addr,
    port: u16,
    /// `capacity × (1 − load)`, bits per second.
    free_bps: u64,
    /// The flows admitted on it.
    used_bps: u64,
}

#[derive(Debug)]
struct Service {
    id: u16,
    vip: Ipv4Addr,
    protocol: u8,
    port: u16,
    rate_bps: u64,
}

#[derive(Debug)]
struct Route {
    edge: String,
    edge_id: u16,
    edge_addr: Ipv4Addr,
    cell: u32,
    book: Book,
    /// What this agent has written for the route.
    configured: Shadow,
    seq: u32,
    /// The number of flows on the book.
    flows: u32,
    admitted: u64,
    rejected: u64,
    /// The aggregate rate of the edge's last Resv, when it came and its
    /// refresh period.
    resv: Option<(u64, Duration, Duration)>,
}

#[derive(Debug)]
struct Flow {
    id: FlowId,
    route: usize,
    /// The server whose Path holds it; `None` for a flow adopted from the
    /// switch until its server's first refresh names it.
    server: Option<usize>,
    rate_bps: u64,
    /// The admitted token bucket, as forwarded.
    tspec: TokenBucket,
    session: Session,
    /// The server's SENDER_TEMPLATE port (the service port).
    sender_port: u16,
    /// The previous hop of the server's Path (where PathErr and Resv go;
    /// unspecified until an adopted flow's first refresh).
    phop: Ipv4Addr,
    last: Duration,
    period: Duration,
}

#[derive(Debug)]
pub(super) struct DcAgent {
    pub(super) stats: Stats,
    pub(super) addr: Ipv4Addr,
    pub(super) uplink: u32,
    name: String,
    sw: Switch,
    settings: Settings,
    servers: Vec<Server>,
    services: Vec<Service>,
    routes: Vec<Route>,
    /// Client prefixes (network, mask, route), longest first.
    prefixes: Vec<(u32, u32, usize)>,
    flows: HashMap<FlowKey, Flow>,
    next_id: FlowId,
    /// The server each (service, route) pair is steered to.
    steer: Vec<Vec<Option<usize>>>,
    next_refresh: Option<Duration>,
    /// After [`stop`](Self::stop): nothing is announced any more.
    stopped: bool,
}

impl DcAgent {
    pub(super) fn new(
        policy: &Policy,
        di: usize,
        rules: &Rules,
        settings: Settings,
    ) -> Result<DcAgent, AgentError> {
        let dc = &policy.datacenters[di];
        let sw = dc.switch.clone();
        let too_large = |what, found: u64, bits| AgentError::TooLarge {
            switch: sw.name.clone(),
            what,
            found,
            bits,
        };
        let servers = dc
            .servers
            .iter()
            .map(|s| Server {
                address: s.address,
                port: s.port,
                free_bps: (u128::from(s.capacity)
                    * u128::from(1_000_000 - s.load_ppm.min(1_000_000))
                    / 1_000_000) as u64,
                used_bps: 0,
            })
            .collect();
        let mut services = vec![];
        for (si, s) in policy.services.iter().enumerate() {
            if s.at.contains(&di) {
                let id = service_id(si);
                services.push(Service {
                    id: u16::try_from(id).map_err(|_| too_large("a service id", id, 16))?,
                    vip: s.vip,
                    protocol: s.protocol.number(),
                    port: s.port,
                    rate_bps: s.flow_rate,
                });
            }
        }
        let mut routes = vec![];
        let mut prefixes = vec![];
        for cell in &rules.routes {
            let ei = policy
                .edges
                .iter()
                .position(|e| e.name == cell.edge)
                .filter(|_| cell.dc == dc.name)
                .ok_or_else(|| AgentError::UnknownRoute {
                    switch: sw.name.clone(),
                    cell: cell.index,
                    dc: cell.dc.clone(),
                    edge: cell.edge.clone(),
                })?;
            let edge = &policy.edges[ei];
            let id = edge_id(ei);
            let book = Book::new(cell.share_bps);
            for p in &edge.clients {
                prefixes.push((u32::from(p.addr) & p.mask(), p.mask(), routes.len()));
            }
            routes.push(Route {
                edge: edge.name.clone(),
                edge_id: u16::try_from(id).map_err(|_| too_large("an edge id", id, 16))?,
                edge_addr: wire::edge_address(edge),
                cell: cell.index,
                configured: Shadow::new(book.aggregate()),
                book,
                seq: 0,
                flows: 0,
                admitted: 0,
                rejected: 0,
                resv: None,
            });
        }
        prefixes.sort_by_key(|&(_, mask, r)| (std::cmp::Reverse(mask.count_ones()), r));
        let default = default_server(dc);
        let steer = vec![vec![default; routes.len()]; services.len()];
        Ok(DcAgent {
            stats: Stats::default(),
            addr: wire::dc_address_in(policy, di),
            uplink: u32::from(sw.uplink_port),
            name: dc.name.clone(),
            sw,
            settings,
            servers,
            services,
            routes,
            prefixes,
            flows: HashMap::new(),
            next_id: 1,
            steer,
            next_refresh: None,
            stopped: false,
        })
    }

    pub(super) fn start(&mut self, now: Duration) -> Vec<Action> {
        self.stopped = false;
        self.next_refresh = Some(now + self.settings.refresh);
        let mut out = vec![];
        for r in 0..self.routes.len() {
            self.push_aggregate(&mut out, r, true);
        }
        out
    }

    /// See [`super::Agent::adopt`].
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
                        server: None,
                        rate_bps: rate,
                        tspec: wire::bucket(rate),
                        session: Session {
                            dest: key.dst.into(),
                            protocol: key.protocol,
                            flags: 0,
                            port: key.dst_port,
                        },
                        sender_port: key.src_port,
                        phop: Ipv4Addr::UNSPECIFIED,
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

    /// Whether this DC could have admitted the flow `key` on route `r`: its
    /// client is behind the route's edge and its sender is the VIP and port
    /// of one of this DC's services.
    fn holds(&self, key: &FlowKey, r: usize) -> bool {
        let c = u32::from(key.dst);
        let route = self
            .prefixes
            .iter()
            .find(|&&(net, mask, _)| c & mask == net)
            .map(|&(_, _, r)| r);
        route == Some(r)
            && self
                .services
                .iter()
                .any(|s| s.vip == key.src && s.protocol == key.protocol && s.port == key.src_port)
    }

    /// Withdraws every offer: a PathTear per aggregate, and no more
    /// refreshes. Flows stay until their servers tear them down or they
    /// expire.
    pub(super) fn stop(&mut self, _now: Duration) -> Vec<Action> {
        self.next_refresh = None;
        let mut out = vec![];
        self.stopped = true;
        for r in 0..self.routes.len() {
            let route = &self.routes[r];
            let tear = wire::path_tear(
                wire::aggregate_session(route.edge_addr),
                Hop {
                    addr: self.addr.into(),
                    lih: self.uplink,
                },
                Some(SenderDescriptor {
                    template: wire::aggregate_sender(self.addr),
                    tspec: wire::bucket(route.book.aggregate()),
                    adspec: None,
                }),
            );
            let dst = route.edge_addr;
            self.push_uplink(&mut out, self.addr, dst, &tear);
        }
        out
    }

    pub(super) fn message(&mut self, now: Duration, port: u32, msg: Message) -> Vec<Action> {
        if port == self.uplink {
            return self.uplink_message(now, msg);
        }
        let Some(server) = self.servers.iter().position(|s| u32::from(s.port) == port) else {
            self.stats.ignored += 1;
            return vec![];
        };
        match msg.body {
            Body::Path(ref p) => self.server_path(now, server, &msg, p),
            Body::PathTear(ref t) => self.server_tear(now, server, t),
            Body::ResvErr(_) => {
                self.stats.errors_received += 1;
                vec![]
            }
            _ => {
                self.stats.ignored += 1;
                vec![]
            }
        }
    }

    /// The flow a server's Path or PathTear names, with its route and
    /// service, or why it has none.
    fn identify(&self, session: &Session, sender: &FilterSpec) -> Result<Identified, Unknown> {
        let FilterSpec::Port { addr, port } = *sender else {
            return Err(Unknown::NotOurs);
        };
        let (Some(server_addr), Some(client)) = (wire::v4(addr), wire::v4(session.dest)) else {
            return Err(Unknown::NotOurs);
        };
        let server = self
            .servers
            .iter()
            .position(|s| s.address == server_addr)
            .ok_or(Unknown::NotOurs)?;
        let c = u32::from(client);
        let route = self
            .prefixes
            .iter()
            .find(|&&(net, mask, _)| c & mask == net)
            .map(|&(_, _, r)| r)
            .ok_or(Unknown::NoRoute)?;
        let service = self
            .services
            .iter()
            .position(|s| s.protocol == session.protocol && s.port == port)
            .ok_or(Unknown::NoService)?;
        let s = &self.services[service];
        Ok(Identified {
            key: FlowKey {
                src: s.vip,
                dst: client,
                protocol: session.protocol,
                src_port: port,
                dst_port: session.port,
            },
            server,
            route,
        })
    }

    fn server_path(
        &mut self,
        now: Duration,
        server: usize,
        msg: &Message,
        p: &Path,
    ) -> Vec<Action> {
        let Some(sender) = &p.sender else {
            self.stats.ignored += 1;
            return vec![];
        };
        let phop = wire::v4(p.hop.addr).unwrap_or(self.servers[server].address);
        let id = match self.identify(&p.session, &sender.template) {
            Ok(id) => id,
            Err(Unknown::NotOurs) => {
                self.stats.ignored += 1;
                return vec![];
            }
            Err(why) => {
                match why {
                    Unknown::NoRoute => self.stats.no_route += 1,
                    _ => self.stats.no_service += 1,
                }
                return self.path_err(server, phop, p.session, sender.clone());
            }
        };
        let period = period(p.time_values.refresh_ms);
        if let Some(f) = self.flows.get_mut(&id.key) {
            let confirmed = match f.server {
                Some(s) if s != id.server => {
                    self.routes[id.route].rejected += 1;
                    self.stats.rejected += 1;
                    self.stats.conflicts += 1;
                    return self.path_err(server, phop, p.session, sender.clone());
                }
                Some(_) => false,
                None => {
                    // An adopted flow: its server's refresh names it, and
                    // its token bucket is the server's again when it asks
                    // for the rate the switch's meter holds.
                    f.server = Some(id.server);
                    self.servers[id.server].used_bps += f.rate_bps;
                    if wire::bucket_bps(&sender.tspec).map(|b| b / 8) == Some(f.rate_bps / 8) {
                        f.tspec = sender.tspec;
                    }
                    true
                }
            };
            // A refresh: forwarded without re-admission, at the admitted rate.
            f.last = now;
            f.period = period;
            f.phop = phop;
            let tspec = f.tspec;
            self.stats.refreshes_forwarded += 1;
            let mut out = vec![];
            self.push_forwarded_path(&mut out, msg, p, &id.key, tspec);
            if confirmed {
                self.push_steering(&mut out);
            }
            return out;
        }
        let Some(rate) = wire::bucket_bps(&sender.tspec) else {
            self.routes[id.route].rejected += 1;
            self.stats.rejected += 1;
            return self.path_err(server, phop, p.session, sender.clone());
        };
        let fid = self.next_id;
        let route = &mut self.routes[id.route];
        let plan = match route.book.admit(fid, rate) {
            Ok(plan) => plan,
            Err(_) => {
                route.rejected += 1;
                self.stats.rejected += 1;
                return self.path_err(server, phop, p.session, sender.clone());
            }
        };
        self.next_id += 1;
        route.seq = route.seq.wrapping_add(1);
        route.flows += 1;
        route.admitted += 1;
        self.stats.admitted += 1;
        self.servers[id.server].used_bps += rate;
        self.flows.insert(
            id.key,
            Flow {
                id: fid,
                route: id.route,
                server: Some(id.server),
                rate_bps: rate,
                tspec: sender.tspec,
                session: p.session,
                sender_port: id.key.src_port,
                phop,
                last: now,
                period,
            },
        );
        let mut out = Vec::with_capacity(5);
        self.run_plan(&mut out, id.route, &plan, &id.key, |me, out| {
            me.push_forwarded_path(out, msg, p, &id.key, sender.tspec)
        });
        self.push_steering(&mut out);
        out
    }

    fn server_tear(&mut self, now: Duration, server: usize, t: &PathTear) -> Vec<Action> {
        let Some(sender) = &t.sender else {
            self.stats.ignored += 1;
            return vec![];
        };
        let key = match self.identify(&t.session, &sender.template) {
            Ok(id)
                if self
                    .flows
                    .get(&id.key)
                    .is_some_and(|f| f.server.unwrap_or(id.server) == server) =>
            {
                id.key
            }
            _ => {
                self.stats.ignored += 1;
                return vec![];
            }
        };
        self.stats.teardowns += 1;
        self.tear_down(now, key)
    }

    /// Gives a flow's rate back: remove its entry, grow the aggregate,
    /// announce the aggregate, then pass the PathTear on.
    fn tear_down(&mut self, _now: Duration, key: FlowKey) -> Vec<Action> {
        let Some(f) = self.flows.remove(&key) else {
            return vec![];
        };
        if let Some(s) = f.server {
            self.servers[s].used_bps -= f.rate_bps;
        }
        let route = &mut self.routes[f.route];
        let Some(plan) = route.book.tear_down(f.id) else {
            return vec![];
        };
        route.seq = route.seq.wrapping_add(1);
        route.flows -= 1;
        let mut out = Vec::with_capacity(5);
        self.run_plan(&mut out, f.route, &plan, &key, |_, _| {});
        let tear = wire::path_tear(
            f.session,
            Hop {
                addr: self.addr.into(),
                lih: self.uplink,
            },
            Some(SenderDescriptor {
                template: FilterSpec::Port {
                    addr: key.src.into(),
                    port: f.sender_port,
                },
                tspec: f.tspec,
                adspec: None,
            }),
        );
        self.push_uplink(&mut out, key.src, key.dst, &tear);
        self.push_steering(&mut out);
        out
    }

    /// Turns a plan's steps into actions, checking each write against the
    /// offer first ([`Plan::check`] on what has been written).
    fn run_plan(
        &mut self,
        out: &mut Vec<Action>,
        r: usize,
        plan: &Plan,
        key: &FlowKey,
        mut forward: impl FnMut(&mut Self, &mut Vec<Action>),
    ) {
        let flow = plan.steps.iter().find_map(|s| match s {
            Step::InstallFlow { flow, .. } | Step::RemoveFlow { flow } => Some(*flow),
            _ => None,
        });
        let mut trial = self.routes[r].configured.condensed(flow);
        if plan
            .check(&mut trial, self.routes[r].book.offered())
            .is_err()
        {
            self.stats.invariant_violations += 1;
        }
        let cell = self.routes[r].cell;
        for step in &plan.steps {
            match *step {
                Step::Release { .. } | Step::Refresh { .. } => self.push_aggregate(out, r, true),
                Step::SetAggregateMeter { aggregate_bps } => self.push_write(
                    out,
                    r,
                    None,
                    Change::RouteMeter {
                        cell,
                        rate_bps: aggregate_bps,
                    },
                ),
                Step::InstallFlow { flow, rate_bps } => self.push_write(
                    out,
                    r,
                    Some(flow),
                    Change::InstallFlow {
                        key: *key,
                        cell,
                        rate_bps,
                    },
                ),
                Step::RemoveFlow { flow } => {
                    self.push_write(out, r, Some(flow), Change::RemoveFlow { key: *key })
                }
                Step::ForwardPath { .. } => forward(self, out),
            }
        }
    }

    /// A write, checked against the route's offer on what has been
    /// written; one that would over-reserve is counted and not sent.
    fn push_write(&mut self, out: &mut Vec<Action>, r: usize, id: Option<FlowId>, c: Change) {
        let route = &mut self.routes[r];
        if route.configured.after(id, &c) > route.book.offered() {
            self.stats.invariant_violations += 1;
            return;
        }
        route.configured.apply(id, &c);
        out.push(Action::Write(c));
    }

    fn push_aggregate(&mut self, out: &mut Vec<Action>, r: usize, change: bool) {
        if self.stopped {
            return;
        }
        let route = &self.routes[r];
        let tally = Tally {
            offered_bps: route.book.offered(),
            used_bps: route.book.used(),
            flows: route.flows,
            seq: route.seq,
            epoch: self.settings.epoch,
            change,
        };
        let msg = wire::aggregate_path(
            self.addr,
            route.edge_addr,
            self.uplink,
            refresh_ms(self.settings.refresh),
            tally,
        );
        let dst = route.edge_addr;
        self.push_uplink(out, self.addr, dst, &msg);
    }

    /// The server's Path as this node forwards it: previous hop this DC,
    /// sender the VIP, the admitted token bucket, no INTEGRITY.
    fn push_forwarded_path(
        &mut self,
        out: &mut Vec<Action>,
        msg: &Message,
        p: &Path,
        key: &FlowKey,
        tspec: TokenBucket,
    ) {
        let mut m = msg.forwarded();
        m.integrity = None;
        m.body = Body::Path(Path {
            session: p.session,
            hop: Hop {
                addr: self.addr.into(),
                lih: self.uplink,
            },
            time_values: p.time_values,
            policy_data: p.policy_data.clone(),
            sender: Some(SenderDescriptor {
                template: FilterSpec::Port {
                    addr: key.src.into(),
                    port: key.src_port,
                },
                tspec,
                adspec: p.sender.as_ref().and_then(|s| s.adspec.clone()),
            }),
        });
        self.push_uplink(out, key.src, key.dst, &m);
    }

    fn push_uplink(&mut self, out: &mut Vec<Action>, src: Ipv4Addr, dst: Ipv4Addr, m: &Message) {
        match wire::frame(wire::uplink_macs(&self.sw), src, dst, m) {
            Ok(frame) => out.push(Action::PacketOut {
                port: self.uplink,
                frame,
            }),
            Err(_) => self.stats.emit_errors += 1,
        }
    }

    fn push_to_server(&mut self, out: &mut Vec<Action>, server: usize, dst: Ipv4Addr, m: &Message) {
        let s = &self.servers[server];
        let macs = wire::host_macs(&self.sw, s.port, s.address);
        let port = u32::from(s.port);
        match wire::frame(macs, self.addr, dst, m) {
            Ok(frame) => out.push(Action::PacketOut { port, frame }),
            Err(_) => self.stats.emit_errors += 1,
        }
    }

    fn path_err(
        &mut self,
        server: usize,
        phop: Ipv4Addr,
        session: Session,
        sender: SenderDescriptor,
    ) -> Vec<Action> {
        let m = wire::admission_failure(self.addr, session, sender);
        let mut out = vec![];
        self.push_to_server(&mut out, server, phop, &m);
        self.stats.path_errs_sent += out.len() as u64;
        out
    }

    /// Moves (service, edge) pairs whose server can no longer take a flow
    /// (see the module doc).
    fn push_steering(&mut self, out: &mut Vec<Action>) {
        let headroom = |s: &Server| s.free_bps.saturating_sub(s.used_bps);
        for (si, svc) in self.services.iter().enumerate() {
            for r in 0..self.routes.len() {
                let cur = self.steer[si][r];
                if cur.is_some_and(|c| headroom(&self.servers[c]) >= svc.rate_bps) {
                    continue;
                }
                let best = self
                    .servers
                    .iter()
                    .enumerate()
                    .max_by(|(ia, a), (ib, b)| headroom(a).cmp(&headroom(b)).then(ib.cmp(ia)))
                    .map(|(i, _)| i);
                let Some(best) = best else { continue };
                if Some(best) == cur || headroom(&self.servers[best]) < svc.rate_bps {
                    continue;
                }
                self.steer[si][r] = Some(best);
                out.push(Action::Write(Change::Steer {
                    service: svc.id,
                    edge: Some(self.routes[r].edge_id),
                    server: self.servers[best].address,
                }));
            }
        }
    }

    fn uplink_message(&mut self, now: Duration, msg: Message) -> Vec<Action> {
        match &msg.body {
            Body::Resv(resv) => {
                let session = resv.session;
                let flows = resv.flows.clone();
                self.edge_resv(now, &msg, session, &flows)
            }
            Body::ResvTear(t) => {
                let session = t.session;
                let flows = t.flows.clone();
                self.edge_resv(now, &msg, session, &flows)
            }
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

    /// A Resv or ResvTear from the edge: for an aggregate, recorded; for a
    /// flow, passed on to its server with the server as the filter.
    fn edge_resv(
        &mut self,
        now: Duration,
        msg: &Message,
        session: Session,
        flows: &FlowDescriptors,
    ) -> Vec<Action> {
        let Some((filter, rate)) = wire::ff_single(flows) else {
            self.stats.ignored += 1;
            return vec![];
        };
        let FilterSpec::Port { addr, port } = filter else {
            self.stats.ignored += 1;
            return vec![];
        };
        let (Some(sender), Some(dest)) = (wire::v4(addr), wire::v4(session.dest)) else {
            self.stats.ignored += 1;
            return vec![];
        };
        if session.protocol == wire::AGGREGATE_PROTOCOL && sender == self.addr {
            if let Some(r) = self.routes.iter_mut().find(|r| r.edge_addr == dest) {
                if let Body::Resv(resv) = &msg.body {
                    r.resv = Some((rate.unwrap_or(0), now, period(resv.time_values.refresh_ms)));
                } else {
                    r.resv = None;
                }
                return vec![];
            }
            self.stats.ignored += 1;
            return vec![];
        }
        let key = FlowKey {
            src: sender,
            dst: dest,
            protocol: session.protocol,
            src_port: port,
            dst_port: session.port,
        };
        // An adopted flow whose server has not refreshed yet has nowhere
        // to go: the edge's next Resv will.
        let Some((server, phop)) = self
            .flows
            .get(&key)
            .and_then(|f| f.server.map(|s| (s, f.phop)))
        else {
            self.stats.ignored += 1;
            return vec![];
        };
        let server_filter = FilterSpec::Port {
            addr: self.servers[server].address.into(),
            port,
        };
        let mut m = msg.forwarded();
        m.integrity = None;
        let hop = Hop {
            addr: self.addr.into(),
            lih: u32::from(self.servers[server].port),
        };
        let rewrite = |flows: &mut FlowDescriptors| {
            if let FlowDescriptors::FF { descriptors } = flows {
                for d in descriptors {
                    d.filter = server_filter;
                }
            }
        };
        match &mut m.body {
            Body::Resv(r) => {
                r.hop = hop;
                rewrite(&mut r.flows);
            }
            Body::ResvTear(t) => {
                t.hop = hop;
                rewrite(&mut t.flows);
            }
            _ => {}
        }
        let mut out = vec![];
        self.push_to_server(&mut out, server, phop, &m);
        out
    }

    pub(super) fn tick(&mut self, now: Duration) -> Vec<Action> {
        let mut out = vec![];
        // Flows whose server stopped refreshing: torn down, oldest first.
        let mut gone: Vec<(FlowId, FlowKey)> = self
            .flows
            .iter()
            .filter(|(_, f)| expired(now, f.last, f.period))
            .map(|(k, f)| (f.id, *k))
            .collect();
        gone.sort();
        for (_, key) in gone {
            self.stats.expired_flows += 1;
            out.extend(self.tear_down(now, key));
        }
        for r in &mut self.routes {
            if r.resv.is_some_and(|(_, at, p)| expired(now, at, p)) {
                r.resv = None;
                self.stats.expired_offers += 1;
            }
        }
        if let Some(due) = self.next_refresh {
            if now >= due {
                for r in 0..self.routes.len() {
                    self.push_aggregate(&mut out, r, false);
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

    pub(super) fn reoffer(
        &mut self,
        _now: Duration,
        shares: &[(String, String, u64)],
    ) -> Vec<Action> {
        let mut out = vec![];
        for (dc, edge, share) in shares {
            if *dc != self.name {
                continue;
            }
            let Some(r) = self.routes.iter().position(|r| &r.edge == edge) else {
                continue;
            };
            let (_, plan) = self.routes[r].book.reoffer(*share);
            if let Some(plan) = plan {
                let route = &mut self.routes[r];
                route.seq = route.seq.wrapping_add(1);
                // The key is not used by a plan without flow steps.
                let none = FlowKey {
                    src: Ipv4Addr::UNSPECIFIED,
                    dst: Ipv4Addr::UNSPECIFIED,
                    protocol: 0,
                    src_port: 0,
                    dst_port: 0,
                };
                self.run_plan(&mut out, r, &plan, &none, |_, _| {});
            }
        }
        out
    }

    pub(super) fn routes(&self) -> Vec<RouteReport> {
        let mut v: Vec<RouteReport> = self
            .routes
            .iter()
            .map(|r| RouteReport {
                dc: self.name.clone(),
                edge: r.edge.clone(),
                cell: r.cell,
                offered_bps: r.book.offered(),
                used_bps: r.book.used(),
                aggregate_bps: r.configured.aggregate_bps,
                admitted: r.admitted,
                rejected: r.rejected,
                flows: r.flows as usize,
                tally_equal: None,
                resv_bps: r.resv.map(|(b, _, _)| b),
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
            .map(|(k, f)| (*k, self.routes[f.route].cell, f.rate_bps))
            .collect();
        v.sort();
        v
    }
}

struct Identified {
    key: FlowKey,
    server: usize,
    route: usize,
}

enum Unknown {
    /// Not a server of this DC, or not IPv4.
    NotOurs,
    NoRoute,
    NoService,
}
