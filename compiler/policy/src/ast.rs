//! The syntax tree of a policy file, as written, with byte spans.
//!
//! The tree keeps every value as the text the user wrote (numbers with their
//! units, addresses, names) together with where it was written, and does not
//! judge it: [`crate::check`] turns it into a [`crate::model::Policy`] and
//! reports everything that is wrong. Blocks keep their properties as a list in
//! source order, so a property written twice is still visible here and can be
//! reported as a duplicate.

use std::fmt;

/// A byte range `start..end` in the source text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A name (identifier or quoted string) and where it was written.
#[derive(Clone, PartialEq, Eq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} @ {:?}", self.text, self.span)
    }
}

/// A number with an optional unit glued to it: `10Gbps`, `2ms`, `20%`, `255`.
#[derive(Clone, PartialEq, Eq)]
pub struct Quantity {
    /// The digits, possibly with one decimal point.
    pub number: String,
    /// The unit as written, if any.
    pub unit: Option<String>,
    /// The whole quantity, number and unit.
    pub span: Span,
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = self.unit.as_deref().unwrap_or("");
        write!(f, "{}{} @ {:?}", self.number, unit, self.span)
    }
}

/// Dotted-quad text such as `10.1.0.11`; the octets are not yet range-checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Address {
    pub text: String,
    pub span: Span,
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} @ {:?}", self.text, self.span)
    }
}

/// `address/length`, e.g. `198.51.100.0/24`.
#[derive(Clone, PartialEq, Eq)]
pub struct Prefix {
    pub addr: Address,
    /// The length digits as written.
    pub len: String,
    pub span: Span,
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} @ {:?}", self.addr.text, self.len, self.span)
    }
}

/// One property or nested block inside a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Prop<T> {
    pub kind: T,
    /// The keyword that introduces it.
    pub key: Span,
    /// The keyword and its value(s).
    pub span: Span,
}

/// The keyword a property is introduced by, for duplicate detection and
/// messages.
pub trait Keyed {
    fn keyword(&self) -> &'static str;
    /// Whether the property may appear more than once in its block.
    fn repeatable(&self) -> bool {
        false
    }
}

/// A whole `.fsp` file: one `network` block.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub network: Network,
}

/// `network "name" { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub name: Name,
    pub items: Vec<Prop<NetItem>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NetItem {
    /// `algorithm NAME`.
    Algorithm(Name),
    /// `recalc every TIME`.
    Recalc(Quantity),
    /// `weights { subscribers N distance N response N }`.
    Weights(Vec<Prop<WeightProp>>),
    /// `sizes { flows N routes N steer N }`.
    Sizes(Vec<Prop<SizeProp>>),
    Datacenter(Datacenter),
    Edge(Edge),
    /// `router NAME`.
    Router(Name),
    Link(Link),
    Service(Service),
}

impl Keyed for NetItem {
    fn keyword(&self) -> &'static str {
        match self {
            NetItem::Algorithm(_) => "algorithm",
            NetItem::Recalc(_) => "recalc",
            NetItem::Weights(_) => "weights",
            NetItem::Sizes(_) => "sizes",
            NetItem::Datacenter(_) => "datacenter",
            NetItem::Edge(_) => "edge",
            NetItem::Router(_) => "router",
            NetItem::Link(_) => "link",
            NetItem::Service(_) => "service",
        }
    }

    fn repeatable(&self) -> bool {
        matches!(
            self,
            NetItem::Datacenter(_)
                | NetItem::Edge(_)
                | NetItem::Router(_)
                | NetItem::Link(_)
                | NetItem::Service(_)
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum WeightProp {
    Subscribers(Quantity),
    Distance(Quantity),
    Response(Quantity),
}

impl Keyed for WeightProp {
    fn keyword(&self) -> &'static str {
        match self {
            WeightProp::Subscribers(_) => "subscribers",
            WeightProp::Distance(_) => "distance",
            WeightProp::Response(_) => "response",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SizeProp {
    Flows(Quantity),
    Routes(Quantity),
    Steer(Quantity),
}

impl Keyed for SizeProp {
    fn keyword(&self) -> &'static str {
        match self {
            SizeProp::Flows(_) => "flows",
            SizeProp::Routes(_) => "routes",
            SizeProp::Steer(_) => "steer",
        }
    }
}

/// `datacenter NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Datacenter {
    pub name: Name,
    pub items: Vec<Prop<DcItem>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DcItem {
    Switch(Switch),
    /// `uplink BANDWIDTH`.
    Uplink(Quantity),
    Server(Server),
    /// `reserve PURPOSE BANDWIDTH`.
    Reserve(Name, Quantity),
}

impl Keyed for DcItem {
    fn keyword(&self) -> &'static str {
        match self {
            DcItem::Switch(_) => "switch",
            DcItem::Uplink(_) => "uplink",
            DcItem::Server(_) => "server",
            DcItem::Reserve(..) => "reserve",
        }
    }

    fn repeatable(&self) -> bool {
        matches!(self, DcItem::Server(_) | DcItem::Reserve(..))
    }
}

/// `switch NAME { ... }`, inside a datacenter or an edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Switch {
    pub name: Name,
    pub props: Vec<Prop<SwitchProp>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SwitchProp {
    CpuPort(Quantity),
    DeviceId(Quantity),
    UplinkPort(Quantity),
    Target(Name),
}

impl Keyed for SwitchProp {
    fn keyword(&self) -> &'static str {
        match self {
            SwitchProp::CpuPort(_) => "cpu-port",
            SwitchProp::DeviceId(_) => "device-id",
            SwitchProp::UplinkPort(_) => "uplink-port",
            SwitchProp::Target(_) => "target",
        }
    }
}

/// `server NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub name: Name,
    pub props: Vec<Prop<ServerProp>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServerProp {
    Address(Address),
    Port(Quantity),
    Capacity(Quantity),
    Response(Quantity),
    Load(Quantity),
}

impl Keyed for ServerProp {
    fn keyword(&self) -> &'static str {
        match self {
            ServerProp::Address(_) => "address",
            ServerProp::Port(_) => "port",
            ServerProp::Capacity(_) => "capacity",
            ServerProp::Response(_) => "response",
            ServerProp::Load(_) => "load",
        }
    }
}

/// `edge NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub name: Name,
    pub items: Vec<Prop<EdgeItem>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EdgeItem {
    Switch(Switch),
    /// `clients PREFIX, PREFIX, ...`.
    Clients(Vec<Prefix>),
    Subscribers(Quantity),
    Demand(Quantity),
    ClientPort(Quantity),
}

impl Keyed for EdgeItem {
    fn keyword(&self) -> &'static str {
        match self {
            EdgeItem::Switch(_) => "switch",
            EdgeItem::Clients(_) => "clients",
            EdgeItem::Subscribers(_) => "subscribers",
            EdgeItem::Demand(_) => "demand",
            EdgeItem::ClientPort(_) => "client-port",
        }
    }
}

/// `link A <-> B { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub a: Name,
    pub b: Name,
    pub props: Vec<Prop<LinkProp>>,
    /// From `link` to the closing brace.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LinkProp {
    Capacity(Quantity),
    Distance(Quantity),
}

impl Keyed for LinkProp {
    fn keyword(&self) -> &'static str {
        match self {
            LinkProp::Capacity(_) => "capacity",
            LinkProp::Distance(_) => "distance",
        }
    }
}

/// `service NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: Name,
    pub props: Vec<Prop<ServiceProp>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServiceProp {
    /// `vip ADDRESS PROTOCOL/PORT`.
    Vip {
        addr: Address,
        protocol: Name,
        port: Quantity,
    },
    /// `at DC, DC, ...`.
    At(Vec<Name>),
    FlowRate(Quantity),
}

impl Keyed for ServiceProp {
    fn keyword(&self) -> &'static str {
        match self {
            ServiceProp::Vip { .. } => "vip",
            ServiceProp::At(_) => "at",
            ServiceProp::FlowRate(_) => "flow-rate",
        }
    }
}
