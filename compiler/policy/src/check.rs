//! [`ast::File`] → [`model::Policy`]: every semantic check of the language.
//!
//! The checker walks the tree once, converting values and collecting every
//! problem it finds instead of stopping at the first. Whole-policy checks
//! (overlapping prefixes, routes) run afterwards on what was converted. All
//! checks are linear or `n log n` in the size of the policy: uniqueness uses
//! hash maps, overlaps a sort and a sweep, and routes one breadth-first search.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use crate::ast::{self, Keyed, Name, Prop, Quantity, Span};
use crate::diag::{Diagnostic, Kind};
use crate::model::{self, Algorithm, NodeRef, Policy, Protocol, Target};
use crate::units::{self, Dimension, Inexact};

/// The largest port number a switch port may have.
pub(crate) const MAX_SWITCH_PORT: u64 = 511;

pub(crate) fn check(file: &ast::File) -> Result<Policy, Vec<Diagnostic>> {
    let mut cx = Checker::default();
    let policy = cx.network(&file.network);
    if cx.diags.is_empty() {
        Ok(policy)
    } else {
        let mut diags = cx.diags;
        diags.sort_by_key(|d| d.primary.span.start);
        Err(diags)
    }
}

/// A client prefix with where it came from, for the overlap sweep.
struct ClientPrefix {
    first: u32,
    last: u32,
    prefix: model::Prefix,
    span: Span,
    edge: usize,
}

/// A use of a switch port: the number, where it was written (`None` for a
/// default), and who uses it.
struct PortUse {
    port: u64,
    span: Option<Span>,
    who: String,
}

/// What a switch block says, before its ports are known.
struct SwitchInfo<'a> {
    name: &'a Name,
    target: Target,
    cpu_port: Option<(u64, Span)>,
    device_id: Option<u64>,
    uplink_port: Option<(u64, Span)>,
}

#[derive(Default)]
struct Checker<'a> {
    diags: Vec<Diagnostic>,
    /// The one namespace of datacenters, edges and routers.
    nodes: HashMap<&'a str, (NodeRef, Span)>,
    /// Node names in declaration order, for deterministic suggestions.
    node_order: Vec<&'a str>,
    dc_names: Vec<&'a str>,
    edge_names: Vec<&'a str>,
    switch_names: HashMap<&'a str, Span>,
    device_ids: HashMap<u64, (Span, &'a str)>,
    server_names: HashMap<&'a str, Span>,
    /// Server addresses and which server has them.
    addresses: HashMap<Ipv4Addr, (Span, &'a str)>,
    clients: Vec<ClientPrefix>,
}

fn describe_node(node: &NodeRef) -> &'static str {
    match node {
        NodeRef::Datacenter(_) => "datacenter",
        NodeRef::Edge(_) => "edge",
        NodeRef::Router(_) => "router",
    }
}

impl<'a> Checker<'a> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    // --- Generic helpers -------------------------------------------------

    /// Reports properties given more than once in one block and returns, for
    /// each property, whether it is the one to use (the first).
    fn duplicates<T: Keyed>(&mut self, props: &[Prop<T>], owner: &str) -> Vec<bool> {
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        let mut keep = Vec::with_capacity(props.len());
        for p in props {
            if p.kind.repeatable() {
                keep.push(true);
                continue;
            }
            let key = p.kind.keyword();
            if let Some(first) = seen.get(key) {
                self.push(
                    Diagnostic::error(
                        Kind::DuplicateProperty,
                        format!("duplicate property `{key}` in {owner}"),
                        p.key,
                        format!("`{key}` given again here"),
                    )
                    .with_secondary(*first, "first given here")
                    .with_help(format!(
                        "each property may be given once per block; remove one of the two `{key}`"
                    )),
                );
                keep.push(false);
            } else {
                seen.insert(key, p.key);
                keep.push(true);
            }
        }
        keep
    }

    fn missing(&mut self, owner: &str, at: Span, prop: &str, example: &str) {
        self.push(
            Diagnostic::error(
                Kind::MissingProperty,
                format!("{owner} has no `{prop}`"),
                at,
                format!("`{prop}` is required here"),
            )
            .with_help(format!("add `{example}` to the block")),
        );
    }

    /// Converts a quantity that must have a unit of `dim` into base units,
    /// at most `max`.
    fn measure(&mut self, q: &Quantity, what: &str, dim: Dimension, max: u64) -> Option<u64> {
        let text = format!("{}{}", q.number, q.unit.as_deref().unwrap_or(""));
        let Some(unit_text) = &q.unit else {
            self.push(
                Diagnostic::error(
                    Kind::UnitMismatch,
                    format!(
                        "unit mismatch: `{what}` needs {}, found the plain number `{text}`",
                        dim.noun()
                    ),
                    q.span,
                    "this number has no unit",
                )
                .with_help(format!(
                    "write the unit right after the number: {}, e.g. `{}`",
                    dim.units(),
                    dim.example()
                )),
            );
            return None;
        };
        let unit_span = Span::new(q.span.start + q.number.len(), q.span.end);
        let Some((found, multiplier)) = units::unit(unit_text) else {
            let help = match units::unit_case_fix(unit_text) {
                Some(fix) => format!("did you mean `{fix}`? units are case-sensitive"),
                None => format!("`{what}` takes {}: {}", dim.noun(), dim.units()),
            };
            self.push(
                Diagnostic::error(
                    Kind::UnitMismatch,
                    format!("unknown unit `{unit_text}` in `{text}`"),
                    unit_span,
                    "unknown unit",
                )
                .with_help(help),
            );
            return None;
        };
        if found != dim {
            self.push(
                Diagnostic::error(
                    Kind::UnitMismatch,
                    format!(
                        "unit mismatch: `{what}` needs {}, but `{text}` is {}",
                        dim.noun(),
                        found.noun()
                    ),
                    q.span,
                    format!("this is {}", found.noun()),
                )
                .with_help(format!(
                    "`{what}` takes {}: {}, e.g. `{}`",
                    dim.noun(),
                    dim.units(),
                    dim.example()
                )),
            );
            return None;
        }
        match units::parse_decimal(&q.number).and_then(|d| units::scale(d, multiplier, max)) {
            Ok(v) => Some(v),
            Err(Inexact::Fraction) => {
                self.push(
                    Diagnostic::error(
                        Kind::BadNumber,
                        format!("`{text}` is not a whole number of {}", dim.base()),
                        q.span,
                        "too precise",
                    )
                    .with_help(format!(
                        "`{what}` is counted in whole {}; round it or use a smaller unit",
                        dim.base()
                    )),
                );
                None
            }
            Err(Inexact::Overflow) => {
                self.push(
                    Diagnostic::error(
                        Kind::OutOfRange,
                        format!("`{text}` is too large for `{what}`"),
                        q.span,
                        "too large",
                    )
                    .with_help(format!(
                        "`{what}` can be at most {}",
                        units::format(max, dim)
                    )),
                );
                None
            }
        }
    }

    fn bandwidth(&mut self, q: &Quantity, what: &str) -> Option<u64> {
        self.measure(q, what, Dimension::Bandwidth, u64::MAX)
    }

    /// A bandwidth that must not be zero.
    fn positive_bandwidth(&mut self, q: &Quantity, what: &str) -> Option<u64> {
        let v = self.bandwidth(q, what)?;
        if v == 0 {
            self.push(
                Diagnostic::error(
                    Kind::Zero,
                    format!("`{what}` must be greater than zero"),
                    q.span,
                    "zero",
                )
                .with_help(format!("give `{what}` a positive bandwidth")),
            );
            return None;
        }
        Some(v)
    }

    fn time(&mut self, q: &Quantity, what: &str) -> Option<u64> {
        self.measure(q, what, Dimension::Time, u64::MAX)
    }

    /// A plain whole number in `min..=max`.
    fn integer(&mut self, q: &Quantity, what: &str, min: u64, max: u64) -> Option<u64> {
        if let Some(unit) = &q.unit {
            self.push(
                Diagnostic::error(
                    Kind::UnitMismatch,
                    format!(
                        "unit mismatch: `{what}` is a plain number, but `{}{unit}` has a unit",
                        q.number
                    ),
                    q.span,
                    "unexpected unit",
                )
                .with_help(format!("write just the number: `{what} {}`", q.number)),
            );
            return None;
        }
        if q.number.contains('.') {
            self.push(
                Diagnostic::error(
                    Kind::BadNumber,
                    format!("`{what}` must be a whole number, found `{}`", q.number),
                    q.span,
                    "not a whole number",
                )
                .with_help(format!("`{what}` takes a whole number from {min} to {max}")),
            );
            return None;
        }
        let value = units::parse_decimal(&q.number)
            .ok()
            .and_then(|d| u64::try_from(d.mantissa).ok())
            .filter(|v| (min..=max).contains(v));
        if value.is_none() {
            self.push(
                Diagnostic::error(
                    Kind::OutOfRange,
                    format!(
                        "`{what}` must be between {min} and {max}, found {}",
                        q.number
                    ),
                    q.span,
                    "out of range",
                )
                .with_help(format!("`{what}` takes a whole number from {min} to {max}")),
            );
        }
        value
    }

    fn switch_port(&mut self, q: &Quantity, what: &str) -> Option<u64> {
        self.integer(q, what, 0, MAX_SWITCH_PORT)
    }

    /// A plain non-negative number such as a weight.
    fn real(&mut self, q: &Quantity, what: &str) -> Option<f64> {
        if let Some(unit) = &q.unit {
            self.push(
                Diagnostic::error(
                    Kind::UnitMismatch,
                    format!(
                        "unit mismatch: weight `{what}` is a plain number, but `{}{unit}` has a unit",
                        q.number
                    ),
                    q.span,
                    "unexpected unit",
                )
                .with_help(format!("write just the number: `{what} {}`", q.number)),
            );
            return None;
        }
        match q.number.parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                self.push(
                    Diagnostic::error(
                        Kind::OutOfRange,
                        format!("weight `{what}` is too large: `{}`", q.number),
                        q.span,
                        "too large",
                    )
                    .with_help("weights are relative; scale them all down"),
                );
                None
            }
        }
    }

    fn ipv4(&mut self, a: &ast::Address) -> Option<Ipv4Addr> {
        let mut octets = [0u8; 4];
        let mut offset = a.span.start;
        let parts: Vec<&str> = a.text.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let span = Span::new(offset, offset + part.len());
            offset += part.len() + 1;
            let problem = if part.len() > 1 && part.starts_with('0') {
                Some(format!("`{part}` has a leading zero"))
            } else {
                match part.parse::<u8>() {
                    Ok(v) if i < 4 => {
                        octets[i] = v;
                        None
                    }
                    _ => Some(format!("`{part}` is larger than 255")),
                }
            };
            if let Some(label) = problem {
                self.push(
                    Diagnostic::error(
                        Kind::BadAddress,
                        format!("invalid IPv4 address `{}`", a.text),
                        span,
                        label,
                    )
                    .with_help(
                        "an IPv4 address is four numbers from 0 to 255, written without leading zeros",
                    ),
                );
                return None;
            }
        }
        if parts.len() != 4 {
            self.push(
                Diagnostic::error(
                    Kind::BadAddress,
                    format!("invalid IPv4 address `{}`", a.text),
                    a.span,
                    "not four numbers",
                )
                .with_help("an IPv4 address is four numbers from 0 to 255 separated by dots"),
            );
            return None;
        }
        Some(Ipv4Addr::from(octets))
    }

    fn prefix(&mut self, p: &ast::Prefix) -> Option<model::Prefix> {
        let addr = self.ipv4(&p.addr);
        let len_span = Span::new(p.addr.span.end + 1, p.span.end);
        let len = match p.len.parse::<u8>() {
            Ok(l) if l <= 32 => l,
            _ => {
                self.push(
                    Diagnostic::error(
                        Kind::BadPrefix,
                        format!(
                            "invalid prefix `{}/{}`: the length is longer than 32 bits",
                            p.addr.text, p.len
                        ),
                        len_span,
                        "longer than 32",
                    )
                    .with_help("an IPv4 prefix length is between 0 and 32"),
                );
                return None;
            }
        };
        let addr = addr?;
        let prefix = model::Prefix { addr, len };
        let masked = Ipv4Addr::from(u32::from(addr) & prefix.mask());
        if masked != addr {
            self.push(
                Diagnostic::error(
                    Kind::BadPrefix,
                    format!("invalid prefix `{addr}/{len}`: host bits are set"),
                    p.span,
                    format!("the bits after the first {len} must be zero"),
                )
                .with_help(format!("did you mean `{masked}/{len}`?")),
            );
            return None;
        }
        Some(prefix)
    }

    /// Registers a name in a uniqueness map; reports a duplicate.
    fn unique_name(
        &mut self,
        map_kind: &str,
        map: fn(&mut Self) -> &mut HashMap<&'a str, Span>,
        name: &'a Name,
    ) {
        if let Some(first) = map(self).get(name.text.as_str()).copied() {
            self.push(
                Diagnostic::error(
                    Kind::DuplicateName,
                    format!("the {map_kind} name `{}` is used twice", name.text),
                    name.span,
                    "used again here",
                )
                .with_secondary(first, "first used here")
                .with_help(format!(
                    "{map_kind} names must be unique in the policy; rename one of them"
                )),
            );
        } else {
            map(self).insert(&name.text, name.span);
        }
    }

    // --- The network -----------------------------------------------------

    fn network(&mut self, net: &'a ast::Network) -> Policy {
        use ast::NetItem as N;
        let keep = self.duplicates(&net.items, "the network");

        // The node namespace first, so that links and services may refer to
        // nodes declared after them.
        let mut routers = Vec::new();
        let (mut n_dc, mut n_edge) = (0, 0);
        for item in &net.items {
            let (name, node) = match &item.kind {
                N::Datacenter(d) => {
                    n_dc += 1;
                    self.dc_names.push(&d.name.text);
                    (&d.name, NodeRef::Datacenter(n_dc - 1))
                }
                N::Edge(e) => {
                    n_edge += 1;
                    self.edge_names.push(&e.name.text);
                    (&e.name, NodeRef::Edge(n_edge - 1))
                }
                N::Router(r) => {
                    routers.push(r.text.clone());
                    (r, NodeRef::Router(routers.len() - 1))
                }
                _ => continue,
            };
            self.define_node(name, node);
        }

        let mut policy = Policy {
            name: net.name.text.clone(),
            algorithm: Algorithm::WeightedMaxMin,
            recalc: 5_000_000,
            weights: model::Weights {
                subscribers: 1.0,
                distance: 0.0,
                response: 0.0,
            },
            sizes: model::Sizes {
                flows: 4096,
                routes: 1024,
                steer: 1024,
            },
            datacenters: Vec::with_capacity(n_dc),
            edges: Vec::with_capacity(n_edge),
            routers,
            links: Vec::new(),
            services: Vec::new(),
        };
        let mut unresolved_links = false;
        let mut service_names: HashMap<&'a str, Span> = HashMap::new();
        let mut vips: HashMap<(Ipv4Addr, Protocol, u16), (Span, &'a str)> = HashMap::new();
        let mut vip_uses: Vec<(Ipv4Addr, Span, &'a str)> = Vec::new();

        for (item, keep) in net.items.iter().zip(keep) {
            if !keep {
                continue;
            }
            match &item.kind {
                N::Algorithm(name) => {
                    if let Some(a) = self.algorithm(name) {
                        policy.algorithm = a;
                    }
                }
                N::Recalc(q) => {
                    if let Some(t) = self.time(q, "recalc every") {
                        if t == 0 {
                            self.push(
                                Diagnostic::error(
                                    Kind::Zero,
                                    "the recalculation period must be greater than zero",
                                    q.span,
                                    "zero",
                                )
                                .with_help("give a period such as `recalc every 5s`"),
                            );
                        }
                        policy.recalc = t;
                    }
                }
                N::Weights(props) => self.weights(props, item.key, &mut policy.weights),
                N::Sizes(props) => self.sizes(props, &mut policy.sizes),
                N::Datacenter(d) => {
                    let dc = self.datacenter(d);
                    policy.datacenters.push(dc);
                }
                N::Edge(e) => {
                    let index = policy.edges.len();
                    let edge = self.edge(e, index);
                    policy.edges.push(edge);
                }
                N::Router(_) => {}
                N::Link(l) => match self.link(l) {
                    Some(link) => policy.links.push(link),
                    None => unresolved_links = true,
                },
                N::Service(s) => {
                    if let Some(service) =
                        self.service(s, &mut service_names, &mut vips, &mut vip_uses)
                    {
                        policy.services.push(service);
                    }
                }
            }
        }

        if n_dc == 0 {
            self.push(
                Diagnostic::error(
                    Kind::MissingProperty,
                    format!("network `{}` has no datacenter", net.name.text),
                    net.name.span,
                    "no `datacenter` block in this network",
                )
                .with_help("add a `datacenter NAME { switch ... uplink ... server ... }` block"),
            );
        }
        if n_edge == 0 {
            self.push(
                Diagnostic::error(
                    Kind::MissingProperty,
                    format!("network `{}` has no edge", net.name.text),
                    net.name.span,
                    "no `edge` block in this network",
                )
                .with_help("add an `edge NAME { switch ... clients ... subscribers ... }` block"),
            );
        }

        self.overlaps(&policy);
        self.addresses_outside_clients(&policy, &vip_uses);
        // Unknown link endpoints would make edges look unreachable; the
        // unknown names are reported already.
        if !unresolved_links {
            self.routes(&policy, net);
        }
        policy
    }

    fn define_node(&mut self, name: &'a Name, node: NodeRef) {
        if let Some((first, first_span)) = self.nodes.get(name.text.as_str()) {
            let first_kind = describe_node(first);
            self.push(
                Diagnostic::error(
                    Kind::DuplicateName,
                    format!("the name `{}` is defined twice", name.text),
                    name.span,
                    format!(
                        "`{}` redefined here as a {}",
                        name.text,
                        describe_node(&node)
                    ),
                )
                .with_secondary(*first_span, format!("first defined here as a {first_kind}"))
                .with_help(
                    "datacenters, edges and routers share one namespace; rename one of them",
                ),
            );
        } else {
            self.nodes.insert(&name.text, (node, name.span));
            self.node_order.push(&name.text);
        }
    }

    fn algorithm(&mut self, name: &Name) -> Option<Algorithm> {
        const ALL: [Algorithm; 3] = [
            Algorithm::WeightedMaxMin,
            Algorithm::Proportional,
            Algorithm::NearestFirst,
        ];
        if let Some(a) = ALL.iter().find(|a| a.name() == name.text) {
            return Some(*a);
        }
        let names: Vec<&str> = ALL.iter().map(|a| a.name()).collect();
        self.unknown_value(name, "algorithm", &names);
        None
    }

    fn unknown_value(&mut self, name: &Name, what: &str, allowed: &[&str]) {
        let list = allowed
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let help = match closest(&name.text, allowed.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? the {what}s are {list}"),
            None => format!("the {what}s are {list}"),
        };
        self.push(
            Diagnostic::error(
                Kind::UnknownValue,
                format!("unknown {what} `{}`", name.text),
                name.span,
                format!("not a known {what}"),
            )
            .with_help(help),
        );
    }

    fn weights(&mut self, props: &[Prop<ast::WeightProp>], key: Span, out: &mut model::Weights) {
        use ast::WeightProp as W;
        let keep = self.duplicates(props, "`weights`");
        let mut all_ok = true;
        for (p, keep) in props.iter().zip(keep) {
            if !keep {
                continue;
            }
            let (slot, q, what) = match &p.kind {
                W::Subscribers(q) => (&mut out.subscribers, q, "subscribers"),
                W::Distance(q) => (&mut out.distance, q, "distance"),
                W::Response(q) => (&mut out.response, q, "response"),
            };
            match self.real(q, what) {
                Some(v) => *slot = v,
                None => all_ok = false,
            }
        }
        if all_ok && out.subscribers == 0.0 && out.distance == 0.0 && out.response == 0.0 {
            self.push(
                Diagnostic::error(
                    Kind::Zero,
                    "all weights are zero",
                    key,
                    "no weight is positive",
                )
                .with_help("give at least one weight a positive value, e.g. `subscribers 1.0`"),
            );
        }
    }

    fn sizes(&mut self, props: &[Prop<ast::SizeProp>], out: &mut model::Sizes) {
        use ast::SizeProp as S;
        let keep = self.duplicates(props, "`sizes`");
        for (p, keep) in props.iter().zip(keep) {
            if !keep {
                continue;
            }
            let (slot, q, what) = match &p.kind {
                S::Flows(q) => (&mut out.flows, q, "flows"),
                S::Routes(q) => (&mut out.routes, q, "routes"),
                S::Steer(q) => (&mut out.steer, q, "steer"),
            };
            if let Some(v) = self.integer(q, what, 1, u64::from(u32::MAX)) {
                *slot = u32::try_from(v).unwrap_or(u32::MAX);
            }
        }
    }

    // --- Switches --------------------------------------------------------

    fn switch(&mut self, s: &'a ast::Switch) -> SwitchInfo<'a> {
        use ast::SwitchProp as P;
        self.unique_name("switch", |c| &mut c.switch_names, &s.name);
        let owner = format!("switch `{}`", s.name.text);
        let keep = self.duplicates(&s.props, &owner);
        let mut info = SwitchInfo {
            name: &s.name,
            target: Target::Bmv2,
            cpu_port: None,
            device_id: None,
            uplink_port: None,
        };
        let mut has_cpu_port = false;
        let mut has_device_id = false;
        for (p, keep) in s.props.iter().zip(keep) {
            if !keep {
                continue;
            }
            match &p.kind {
                P::CpuPort(q) => {
                    has_cpu_port = true;
                    info.cpu_port = self.switch_port(q, "cpu-port").map(|v| (v, q.span));
                }
                P::UplinkPort(q) => {
                    info.uplink_port = self.switch_port(q, "uplink-port").map(|v| (v, q.span));
                }
                P::DeviceId(q) => {
                    has_device_id = true;
                    info.device_id = self.integer(q, "device-id", 0, u64::MAX);
                    if let Some(id) = info.device_id {
                        if let Some((first, other)) = self.device_ids.get(&id).copied() {
                            self.push(
                                Diagnostic::error(
                                    Kind::DuplicateName,
                                    format!("device-id {id} is used by two switches"),
                                    q.span,
                                    format!("used again here by `{}`", s.name.text),
                                )
                                .with_secondary(first, format!("first used here by `{other}`"))
                                .with_help("every switch needs its own P4Runtime device-id"),
                            );
                        } else {
                            self.device_ids.insert(id, (q.span, &s.name.text));
                        }
                    }
                }
                P::Target(name) => match name.text.as_str() {
                    "bmv2" => info.target = Target::Bmv2,
                    "tofino" => info.target = Target::Tofino,
                    _ => self.unknown_value(name, "target", &["bmv2", "tofino"]),
                },
            }
        }
        if !has_cpu_port {
            self.missing(&owner, s.name.span, "cpu-port", "cpu-port 255");
        }
        if !has_device_id {
            self.missing(&owner, s.name.span, "device-id", "device-id 1");
        }
        info
    }

    /// Completes a switch once the ports its owner uses are known, checking
    /// that no port is used twice. `ports` may contain defaulted uses
    /// (without a span); a clash with one is reported at the explicit use.
    fn finish_switch(
        &mut self,
        info: SwitchInfo<'a>,
        mut ports: Vec<PortUse>,
        default_uplink: u64,
        default_reason: &str,
    ) -> model::Switch {
        if let Some((p, span)) = info.cpu_port {
            ports.push(PortUse {
                port: p,
                span: Some(span),
                who: "the cpu-port".to_string(),
            });
        }
        let uplink = match info.uplink_port {
            Some((p, span)) => {
                ports.push(PortUse {
                    port: p,
                    span: Some(span),
                    who: "the uplink-port".to_string(),
                });
                p
            }
            None if default_uplink > MAX_SWITCH_PORT => {
                self.push(
                    Diagnostic::error(
                        Kind::OutOfRange,
                        format!(
                            "the default uplink-port of switch `{}` would be {default_uplink}, above {MAX_SWITCH_PORT}",
                            info.name.text
                        ),
                        info.name.span,
                        "no default uplink-port",
                    )
                    .with_help(format!(
                        "the default is {default_reason}; give the switch an explicit `uplink-port`"
                    )),
                );
                0
            }
            None => {
                ports.push(PortUse {
                    port: default_uplink,
                    span: None,
                    who: format!("the default uplink-port ({default_reason})"),
                });
                default_uplink
            }
        };
        let mut seen: HashMap<u64, usize> = HashMap::new();
        for (i, use_) in ports.iter().enumerate() {
            let Some(&j) = seen.get(&use_.port) else {
                seen.insert(use_.port, i);
                continue;
            };
            let first = &ports[j];
            let message = format!(
                "port {} of switch `{}` is used twice",
                use_.port, info.name.text
            );
            let d = match (use_.span, first.span) {
                (Some(a), Some(b)) => {
                    // Point at whichever was written later.
                    let ((here, here_who), (there, there_who)) = if a.start > b.start {
                        ((a, &use_.who), (b, &first.who))
                    } else {
                        ((b, &first.who), (a, &use_.who))
                    };
                    Diagnostic::error(
                        Kind::PortClash,
                        message,
                        here,
                        format!("used by {here_who}"),
                    )
                    .with_secondary(there, format!("also used by {there_who}"))
                    .with_help(
                        "the server ports, uplink-port, client-port and cpu-port of a switch must all differ",
                    )
                }
                (Some(here), None) | (None, Some(here)) => {
                    let (explicit, default) = if use_.span.is_some() {
                        (use_, first)
                    } else {
                        (first, use_)
                    };
                    Diagnostic::error(
                        Kind::PortClash,
                        message,
                        here,
                        format!("used by {}", explicit.who),
                    )
                    .with_help(format!(
                        "{} is also port {}; set it explicitly to a free port",
                        default.who, use_.port
                    ))
                }
                // Two defaults never coincide: they are 1 and 2 on an edge,
                // and there is one on a datacenter.
                (None, None) => continue,
            };
            self.push(d);
        }
        model::Switch {
            name: info.name.text.clone(),
            target: info.target,
            cpu_port: info.cpu_port.map_or(0, |(p, _)| p as u16),
            device_id: info.device_id.unwrap_or(0),
            uplink_port: uplink as u16,
        }
    }

    fn placeholder_switch(name: &str) -> model::Switch {
        model::Switch {
            name: name.to_string(),
            target: Target::Bmv2,
            cpu_port: 0,
            device_id: 0,
            uplink_port: 0,
        }
    }

    // --- Datacenters -----------------------------------------------------

    fn datacenter(&mut self, dc: &'a ast::Datacenter) -> model::Datacenter {
        use ast::DcItem as D;
        let owner = format!("datacenter `{}`", dc.name.text);
        let keep = self.duplicates(&dc.items, &owner);
        let mut switch = None;
        let mut uplink: Option<(u64, Span)> = None;
        let mut servers = Vec::new();
        let mut ports = Vec::new();
        let mut fixed = Vec::new();
        let mut fixed_spans = Vec::new();
        let mut purposes: HashMap<&str, Span> = HashMap::new();
        // Whether every number B(d) depends on was read without error.
        let mut sizes_ok = true;
        let mut has_uplink = false;
        for (item, keep) in dc.items.iter().zip(keep) {
            if !keep {
                continue;
            }
            match &item.kind {
                D::Switch(s) => switch = Some(self.switch(s)),
                D::Uplink(q) => {
                    has_uplink = true;
                    uplink = self.positive_bandwidth(q, "uplink").map(|v| (v, q.span));
                    sizes_ok &= uplink.is_some();
                }
                D::Server(s) => {
                    let (server, port_span, ok) = self.server(s);
                    sizes_ok &= ok;
                    if let Some(span) = port_span {
                        ports.push(PortUse {
                            port: u64::from(server.port),
                            span: Some(span),
                            who: format!("server `{}`", server.name),
                        });
                    }
                    servers.push(server);
                }
                D::Reserve(purpose, q) => {
                    if let Some(first) = purposes.get(purpose.text.as_str()) {
                        self.push(
                            Diagnostic::error(
                                Kind::DuplicateName,
                                format!("{owner} reserves bandwidth for `{}` twice", purpose.text),
                                purpose.span,
                                "reserved again here",
                            )
                            .with_secondary(*first, "first reserved here")
                            .with_help("give one `reserve` per purpose with the total bandwidth"),
                        );
                    } else {
                        purposes.insert(&purpose.text, purpose.span);
                    }
                    match self.bandwidth(q, "reserve") {
                        Some(rate) => {
                            fixed.push(model::FixedReservation {
                                purpose: purpose.text.clone(),
                                rate,
                            });
                            fixed_spans.push(item.span);
                        }
                        None => sizes_ok = false,
                    }
                }
            }
        }
        if switch.is_none() {
            self.missing(
                &owner,
                dc.name.span,
                "switch",
                "switch NAME { cpu-port 255 device-id 1 }",
            );
        }
        if !has_uplink {
            self.missing(&owner, dc.name.span, "uplink", "uplink 40Gbps");
        }
        if servers.is_empty() {
            self.push(
                Diagnostic::error(
                    Kind::MissingProperty,
                    format!("{owner} has no servers"),
                    dc.name.span,
                    "no `server` in this datacenter",
                )
                .with_help(
                    "add a server, e.g. `server web1 { address 10.1.0.11 port 1 capacity 10Gbps }`",
                ),
            );
        }
        let max_port = ports.iter().map(|p| p.port).max().unwrap_or(0);
        let switch = match switch {
            Some(info) => {
                self.finish_switch(info, ports, max_port + 1, "1 + the largest server port")
            }
            None => Self::placeholder_switch(&dc.name.text),
        };
        let model = model::Datacenter {
            name: dc.name.text.clone(),
            switch,
            uplink: uplink.map_or(0, |(v, _)| v),
            servers,
            fixed,
        };
        if let (true, Some((uplink, uplink_span)), Some(first)) =
            (sizes_ok, uplink, fixed_spans.first())
        {
            if model.available().is_none() {
                let headroom = model.server_headroom();
                let carry = uplink.min(headroom);
                let total = model.fixed_total();
                let fmt = |v| units::format(v, Dimension::Bandwidth);
                let mut d = Diagnostic::error(
                    Kind::OverReserved,
                    format!(
                        "the fixed reservations of {owner} ({}) exceed what it can carry ({})",
                        fmt(total),
                        fmt(carry)
                    ),
                    *first,
                    format!("{} reserved in total", fmt(total)),
                );
                for span in &fixed_spans[1..] {
                    d = d.with_secondary(*span, "also reserved");
                }
                d = d.with_secondary(uplink_span, format!("uplink of {}", fmt(uplink)));
                self.push(d.with_help(format!(
                    "the datacenter carries min(uplink {}, server headroom {}) = {}; lower the reservations by at least {} or add capacity",
                    fmt(uplink),
                    fmt(headroom),
                    fmt(carry),
                    fmt(total - carry)
                )));
            }
        }
        model
    }

    /// Returns the server, where its port was written, and whether its
    /// capacity and load were read without error.
    fn server(&mut self, s: &'a ast::Server) -> (model::Server, Option<Span>, bool) {
        use ast::ServerProp as P;
        self.unique_name("server", |c| &mut c.server_names, &s.name);
        let owner = format!("server `{}`", s.name.text);
        let keep = self.duplicates(&s.props, &owner);
        let mut server = model::Server {
            name: s.name.text.clone(),
            address: Ipv4Addr::UNSPECIFIED,
            port: 0,
            capacity: 0,
            response: 0,
            load_ppm: 0,
        };
        let (mut has_address, mut has_capacity) = (false, false);
        let mut port_span = None;
        let mut ok = true;
        for (p, keep) in s.props.iter().zip(keep) {
            if !keep {
                continue;
            }
            match &p.kind {
                P::Address(a) => {
                    has_address = true;
                    if let Some(addr) = self.ipv4(a) {
                        server.address = addr;
                        if let Some((first, other)) = self.addresses.get(&addr).copied() {
                            self.push(
                                Diagnostic::error(
                                    Kind::DuplicateName,
                                    format!("address {addr} is used by two servers"),
                                    a.span,
                                    format!("used again here by `{}`", s.name.text),
                                )
                                .with_secondary(first, format!("first used here by `{other}`"))
                                .with_help("every server needs its own address"),
                            );
                        } else {
                            self.addresses.insert(addr, (a.span, &s.name.text));
                        }
                    }
                }
                P::Port(q) => {
                    if let Some(v) = self.switch_port(q, "port") {
                        server.port = v as u16;
                        port_span = Some(q.span);
                    }
                }
                P::Capacity(q) => {
                    has_capacity = true;
                    match self.positive_bandwidth(q, "capacity") {
                        Some(v) => server.capacity = v,
                        None => ok = false,
                    }
                }
                P::Response(q) => {
                    if let Some(v) = self.time(q, "response") {
                        server.response = v;
                    }
                }
                P::Load(q) => {
                    match self.measure(q, "load", Dimension::Percent, u64::from(u32::MAX)) {
                        Some(v) if v > 1_000_000 => {
                            ok = false;
                            self.push(
                            Diagnostic::error(
                                Kind::LoadAbove100,
                                format!("the load of {owner} is above 100%"),
                                q.span,
                                "more than the whole capacity",
                            )
                            .with_help("load is the share of the capacity already in use, from 0% to 100%"),
                        );
                        }
                        Some(v) => server.load_ppm = v as u32,
                        None => ok = false,
                    }
                }
            }
        }
        let has_port = s.props.iter().any(|p| matches!(p.kind, P::Port(_)));
        if !has_address {
            self.missing(&owner, s.name.span, "address", "address 10.1.0.11");
        }
        if !has_port {
            self.missing(&owner, s.name.span, "port", "port 1");
        }
        if !has_capacity {
            self.missing(&owner, s.name.span, "capacity", "capacity 10Gbps");
            ok = false;
        }
        (server, port_span, ok)
    }

    // --- Edges -----------------------------------------------------------

    fn edge(&mut self, e: &'a ast::Edge, index: usize) -> model::Edge {
        use ast::EdgeItem as E;
        let owner = format!("edge `{}`", e.name.text);
        let keep = self.duplicates(&e.items, &owner);
        let mut switch = None;
        let mut clients = Vec::new();
        let mut subscribers = None;
        let mut has_subscribers = false;
        let mut has_clients = false;
        let mut demand = None;
        let mut client_port = None;
        for (item, keep) in e.items.iter().zip(keep) {
            if !keep {
                continue;
            }
            match &item.kind {
                E::Switch(s) => switch = Some(self.switch(s)),
                E::Clients(list) => {
                    has_clients = true;
                    for p in list {
                        if let Some(prefix) = self.prefix(p) {
                            let first = u32::from(prefix.addr);
                            let last = first | !prefix.mask();
                            self.clients.push(ClientPrefix {
                                first,
                                last,
                                prefix,
                                span: p.span,
                                edge: index,
                            });
                            clients.push(prefix);
                        }
                    }
                }
                E::Subscribers(q) => {
                    has_subscribers = true;
                    subscribers = self.integer(q, "subscribers", 0, u64::MAX);
                }
                E::Demand(q) => demand = self.bandwidth(q, "demand"),
                E::ClientPort(q) => {
                    client_port = self.switch_port(q, "client-port").map(|v| (v, q.span));
                }
            }
        }
        if switch.is_none() {
            self.missing(
                &owner,
                e.name.span,
                "switch",
                "switch NAME { cpu-port 255 device-id 2 }",
            );
        }
        if !has_clients {
            self.missing(&owner, e.name.span, "clients", "clients 198.51.100.0/24");
        }
        if !has_subscribers {
            self.missing(&owner, e.name.span, "subscribers", "subscribers 1000");
        }
        let client = match client_port {
            Some((p, span)) => PortUse {
                port: p,
                span: Some(span),
                who: "the client-port".to_string(),
            },
            None => PortUse {
                port: 1,
                span: None,
                who: "the default client-port (1 on an edge)".to_string(),
            },
        };
        let switch = match switch {
            Some(info) => self.finish_switch(info, vec![client], 2, "2 on an edge"),
            None => Self::placeholder_switch(&e.name.text),
        };
        model::Edge {
            name: e.name.text.clone(),
            switch,
            client_port: client_port.map_or(1, |(p, _)| p as u16),
            clients,
            subscribers: subscribers.unwrap_or(0),
            demand,
        }
    }

    // --- Links and services ----------------------------------------------

    fn resolve(&mut self, name: &Name) -> Option<NodeRef> {
        if let Some((node, _)) = self.nodes.get(name.text.as_str()) {
            return Some(node.clone());
        }
        let help = match closest(&name.text, self.node_order.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "declare it as a `datacenter`, an `edge` or a `router`, e.g. `router {}`",
                name.text
            ),
        };
        self.push(
            Diagnostic::error(
                Kind::UnknownName,
                format!("unknown node `{}`", name.text),
                name.span,
                "no datacenter, edge or router has this name",
            )
            .with_help(help),
        );
        None
    }

    fn link(&mut self, l: &'a ast::Link) -> Option<model::Link> {
        use ast::LinkProp as P;
        let owner = format!("the link `{} <-> {}`", l.a.text, l.b.text);
        let keep = self.duplicates(&l.props, &owner);
        let a = self.resolve(&l.a);
        let b = self.resolve(&l.b);
        if a.is_some() && a == b {
            self.push(
                Diagnostic::error(
                    Kind::SelfLink,
                    format!("link from `{}` to itself", l.a.text),
                    l.b.span,
                    "same node as the other end",
                )
                .with_secondary(l.a.span, "this end")
                .with_help("a link joins two different nodes"),
            );
        }
        let (mut capacity, mut distance) = (None, None);
        let (mut has_capacity, mut has_distance) = (false, false);
        for (p, keep) in l.props.iter().zip(keep) {
            if !keep {
                continue;
            }
            match &p.kind {
                P::Capacity(q) => {
                    has_capacity = true;
                    capacity = self.bandwidth(q, "capacity");
                    if capacity == Some(0) {
                        self.push(
                            Diagnostic::error(
                                Kind::Zero,
                                "a link's capacity must be greater than zero",
                                q.span,
                                "zero capacity",
                            )
                            .with_help("remove the link if the nodes are not connected"),
                        );
                    }
                }
                P::Distance(q) => {
                    has_distance = true;
                    distance = self.time(q, "distance");
                }
            }
        }
        let at = l.a.span.to(l.b.span);
        if !has_capacity {
            self.missing(&owner, at, "capacity", "capacity 10Gbps");
        }
        if !has_distance {
            self.missing(&owner, at, "distance", "distance 1ms");
        }
        Some(model::Link {
            a: a?,
            b: b?,
            capacity: capacity.unwrap_or(0),
            distance: distance.unwrap_or(0),
        })
    }

    fn service(
        &mut self,
        s: &'a ast::Service,
        names: &mut HashMap<&'a str, Span>,
        vips: &mut HashMap<(Ipv4Addr, Protocol, u16), (Span, &'a str)>,
        vip_uses: &mut Vec<(Ipv4Addr, Span, &'a str)>,
    ) -> Option<model::Service> {
        use ast::ServiceProp as P;
        let owner = format!("service `{}`", s.name.text);
        if let Some(first) = names.get(s.name.text.as_str()) {
            self.push(
                Diagnostic::error(
                    Kind::DuplicateName,
                    format!("the service name `{}` is used twice", s.name.text),
                    s.name.span,
                    "used again here",
                )
                .with_secondary(*first, "first used here")
                .with_help("service names must be unique; rename one of them"),
            );
        } else {
            names.insert(&s.name.text, s.name.span);
        }
        let keep = self.duplicates(&s.props, &owner);
        let mut vip = None;
        let mut at = None;
        let mut flow_rate = None;
        let (mut has_vip, mut has_at, mut has_rate) = (false, false, false);
        for (p, keep) in s.props.iter().zip(keep) {
            if !keep {
                continue;
            }
            match &p.kind {
                P::Vip {
                    addr,
                    protocol,
                    port,
                } => {
                    has_vip = true;
                    let a = self.ipv4(addr);
                    let proto = match protocol.text.as_str() {
                        "tcp" => Some(Protocol::Tcp),
                        "udp" => Some(Protocol::Udp),
                        _ => {
                            self.unknown_value(protocol, "protocol", &["tcp", "udp"]);
                            None
                        }
                    };
                    let port_no = self.integer(port, "vip port", 1, 65535);
                    if let (Some(a), Some(proto), Some(port_no)) = (a, proto, port_no) {
                        let port_no = port_no as u16;
                        let key = (a, proto, port_no);
                        if let Some((first, other)) = vips.get(&key).copied() {
                            self.push(
                                Diagnostic::error(
                                    Kind::DuplicateName,
                                    format!(
                                        "services `{other}` and `{}` both use {a} {}/{port_no}",
                                        s.name.text, protocol.text
                                    ),
                                    addr.span.to(port.span),
                                    "used again here",
                                )
                                .with_secondary(first, format!("first used here by `{other}`"))
                                .with_help(
                                    "every service needs its own address, protocol and port",
                                ),
                            );
                        } else {
                            vips.insert(key, (addr.span.to(port.span), &s.name.text));
                        }
                        vip_uses.push((a, addr.span, &s.name.text));
                        vip = Some((a, proto, port_no));
                    }
                }
                P::At(list) => {
                    has_at = true;
                    at = self.service_at(list);
                }
                P::FlowRate(q) => {
                    has_rate = true;
                    flow_rate = self.positive_bandwidth(q, "flow-rate");
                }
            }
        }
        if !has_vip {
            self.missing(&owner, s.name.span, "vip", "vip 203.0.113.10 tcp/80");
        }
        if !has_at {
            self.missing(&owner, s.name.span, "at", "at east");
        }
        if !has_rate {
            self.missing(&owner, s.name.span, "flow-rate", "flow-rate 20Mbps");
        }
        let (vip, protocol, port) = vip?;
        Some(model::Service {
            name: s.name.text.clone(),
            vip,
            protocol,
            port,
            at: at?,
            flow_rate: flow_rate?,
        })
    }

    /// Resolves `at DC, DC, ...` to datacenter indices.
    fn service_at(&mut self, list: &[Name]) -> Option<Vec<usize>> {
        let mut out = Vec::with_capacity(list.len());
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut ok = true;
        for name in list {
            if let Some(first) = seen.insert(&name.text, name.span) {
                self.push(
                    Diagnostic::error(
                        Kind::DuplicateName,
                        format!("datacenter `{}` is listed twice", name.text),
                        name.span,
                        "listed again here",
                    )
                    .with_secondary(first, "first listed here")
                    .with_help("list each datacenter once"),
                );
                ok = false;
                continue;
            }
            match self.nodes.get(name.text.as_str()) {
                Some((NodeRef::Datacenter(i), _)) => out.push(*i),
                Some((other, declared)) => {
                    let kind = describe_node(other);
                    let declared = *declared;
                    self.push(
                        Diagnostic::error(
                            Kind::NotADatacenter,
                            format!(
                                "service placed at `{}`, which is {} {kind}, not a datacenter",
                                name.text,
                                if kind == "edge" { "an" } else { "a" }
                            ),
                            name.span,
                            "not a datacenter",
                        )
                        .with_secondary(declared, format!("`{}` is declared here", name.text))
                        .with_help(
                            "services run in datacenters; list only datacenter names after `at`",
                        ),
                    );
                    ok = false;
                }
                None => {
                    let help = match closest(&name.text, self.dc_names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "the datacenters are {}",
                            self.dc_names
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    self.push(
                        Diagnostic::error(
                            Kind::UnknownName,
                            format!("unknown datacenter `{}`", name.text),
                            name.span,
                            "no datacenter has this name",
                        )
                        .with_help(help),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    // --- Whole-policy checks ---------------------------------------------

    /// Sorts the client prefixes and reports each one that overlaps an
    /// earlier one in address order. `n log n`.
    fn overlaps(&mut self, policy: &Policy) {
        self.clients
            .sort_by_key(|c| (c.first, std::cmp::Reverse(c.last), c.span.start));
        let mut cover: Option<usize> = None;
        let mut found = Vec::new();
        for (i, c) in self.clients.iter().enumerate() {
            if let Some(k) = cover {
                let other = &self.clients[k];
                if c.first <= other.last {
                    found.push((i, k));
                }
                if c.last > other.last {
                    cover = Some(i);
                }
            } else {
                cover = Some(i);
            }
        }
        for (i, k) in found {
            let (a, b) = (&self.clients[i], &self.clients[k]);
            // Report at whichever was written later.
            let (here, there) = if a.span.start > b.span.start {
                (a, b)
            } else {
                (b, a)
            };
            let there_edge = &policy.edges[there.edge].name;
            let whose = if here.edge == there.edge {
                "the same edge".to_string()
            } else {
                format!("edge `{there_edge}`")
            };
            let d = Diagnostic::error(
                Kind::OverlappingPrefixes,
                format!(
                    "client prefix {} of edge `{}` overlaps {} of {whose}",
                    here.prefix, policy.edges[here.edge].name, there.prefix
                ),
                here.span,
                "overlaps another client prefix",
            )
            .with_secondary(there.span, format!("{} of {whose}", there.prefix))
            .with_help(
                "client prefixes must be disjoint, so that every client belongs to exactly one edge",
            );
            self.diags.push(d);
        }
    }

    /// Reports server addresses and VIPs that fall inside a client prefix.
    fn addresses_outside_clients(&mut self, policy: &Policy, vips: &[(Ipv4Addr, Span, &str)]) {
        if self.clients.is_empty() {
            return;
        }
        // For each position in the sorted list, the prefix reaching furthest
        // among those up to it.
        let mut reach = Vec::with_capacity(self.clients.len());
        let mut best = 0;
        for (i, c) in self.clients.iter().enumerate() {
            if c.last > self.clients[best].last {
                best = i;
            }
            reach.push(best);
        }
        let servers = self
            .addresses
            .iter()
            .map(|(a, (span, name))| (*a, *span, "server", *name));
        let vips = vips
            .iter()
            .map(|(a, span, name)| (*a, *span, "service", *name));
        let mut found = Vec::new();
        for (addr, span, what, name) in servers.chain(vips) {
            let x = u32::from(addr);
            let n = self.clients.partition_point(|c| c.first <= x);
            if n == 0 {
                continue;
            }
            let c = &self.clients[reach[n - 1]];
            if x <= c.last {
                found.push(
                    Diagnostic::error(
                        Kind::OverlappingPrefixes,
                        format!(
                            "address {addr} of {what} `{name}` lies inside client prefix {} of edge `{}`",
                            c.prefix, policy.edges[c.edge].name
                        ),
                        span,
                        "inside a client prefix",
                    )
                    .with_secondary(c.span, "this client prefix")
                    .with_help("server and service addresses must lie outside every edge's client prefixes"),
                );
            }
        }
        // Hash map order is arbitrary; the final sort is by position only.
        found.sort_by_key(|d| d.primary.span.start);
        self.diags.extend(found);
    }

    /// Reports every edge that no link path joins to a datacenter.
    fn routes(&mut self, policy: &Policy, net: &ast::Network) {
        let n_dc = policy.datacenters.len();
        let n_edge = policy.edges.len();
        let index = |n: &NodeRef| match *n {
            NodeRef::Datacenter(i) => i,
            NodeRef::Edge(i) => n_dc + i,
            NodeRef::Router(i) => n_dc + n_edge + i,
        };
        let total = n_dc + n_edge + policy.routers.len();
        let mut adjacency = vec![Vec::new(); total];
        for l in &policy.links {
            let (a, b) = (index(&l.a), index(&l.b));
            if a < total && b < total {
                adjacency[a].push(b);
                adjacency[b].push(a);
            }
        }
        let mut reached = vec![false; total];
        let mut queue: VecDeque<usize> = (0..n_dc).collect();
        for r in reached.iter_mut().take(n_dc) {
            *r = true;
        }
        while let Some(n) = queue.pop_front() {
            for &m in &adjacency[n] {
                if !reached[m] {
                    reached[m] = true;
                    queue.push_back(m);
                }
            }
        }
        if n_dc == 0 {
            return;
        }
        let edge_spans = net.items.iter().filter_map(|i| match &i.kind {
            ast::NetItem::Edge(e) => Some(&e.name),
            _ => None,
        });
        for (i, name) in edge_spans.enumerate() {
            if i < n_edge && !reached[n_dc + i] {
                self.diags.push(
                    Diagnostic::error(
                        Kind::NoRoute,
                        format!("edge `{}` has no route to any datacenter", name.text),
                        name.span,
                        "not connected to a datacenter",
                    )
                    .with_help(format!(
                        "add a link from `{}` towards a router or a datacenter, e.g. `link {} <-> {} {{ capacity 10Gbps distance 1ms }}`",
                        name.text,
                        name.text,
                        policy.datacenters.first().map_or("NAME", |d| d.name.as_str())
                    )),
                );
            }
        }
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough
/// to be a plausible typo. Ties go to the earliest candidate.
fn closest<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c.len().abs_diff(word.len()) > limit {
            continue;
        }
        let d = edit_distance(word, c);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// The optimal-string-alignment distance: insertions, deletions,
/// substitutions and swaps of neighbours each cost 1.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_need_a_close_match() {
        let names = ["east", "west", "core1"];
        assert_eq!(closest("eastt", names.iter().copied()), Some("east"));
        assert_eq!(closest("core2", names.iter().copied()), Some("core1"));
        assert_eq!(closest("north", names.iter().copied()), None);
        assert_eq!(closest("eats", names.iter().copied()), Some("east"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("eats", "east"), 1);
    }
}
