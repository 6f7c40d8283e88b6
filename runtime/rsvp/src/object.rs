//! Typed RSVP objects (RFC 2205 Appendix A) with their IPv4 and IPv6 C-Types.
//!
//! Reserved fields are ignored on parse and written as zero on emit, as the
//! RFC asks; every other bit is kept, so bytes with zero reserved fields
//! round-trip exactly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::intserv::{self, Adspec, FlowSpec, TokenBucket};
use crate::view::ObjectView;
use crate::wire::{be16, be32, serde_hex, ClassNum, Writer};

/// The C-Type of the IPv4 form of the address-bearing objects.
pub const C_TYPE_IPV4: u8 = 1;
/// The C-Type of the IPv6 form of the address-bearing objects.
pub const C_TYPE_IPV6: u8 = 2;
/// The C-Type of the IntServ forms of FLOWSPEC, SENDER_TSPEC and ADSPEC.
pub const C_TYPE_INTSERV: u8 = 2;
/// The C-Type of the IPv6 flow-label form of FILTER_SPEC and SENDER_TEMPLATE.
pub const C_TYPE_IPV6_FLOW_LABEL: u8 = 3;

/// SESSION: the destination address, IP protocol and destination port that
/// name the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub dest: IpAddr,
    pub protocol: u8,
    /// Bit 0x01 is E_Police (police at the edge of the IntServ region).
    #[serde(default)]
    pub flags: u8,
    pub port: u16,
}

/// RSVP_HOP: the address of the previous (Path) or next (Resv) RSVP node and
/// its logical interface handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub addr: IpAddr,
    /// Logical Interface Handle, opaque to every node but the one that set it.
    pub lih: u32,
}

/// TIME_VALUES: the refresh period R in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeValues {
    pub refresh_ms: u32,
}

/// ERROR_SPEC: the node that found the error, flags, and the code and value
/// of RFC 2205 Appendix B (see [`error_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSpec {
    pub node: IpAddr,
    /// 0x01 InPlace, 0x02 NotGuilty.
    #[serde(default)]
    pub flags: u8,
    pub code: u8,
    pub value: u16,
}

impl ErrorSpec {
    /// The RFC name of the error code, when it has one.
    pub fn code_name(&self) -> Option<&'static str> {
        error_code::name(self.code)
    }
}

/// The error codes of RFC 2205 Appendix B.
pub mod error_code {
    pub const CONFIRMATION: u8 = 0;
    pub const ADMISSION_CONTROL_FAILURE: u8 = 1;
    pub const POLICY_CONTROL_FAILURE: u8 = 2;
    pub const NO_PATH_INFORMATION: u8 = 3;
    pub const NO_SENDER_INFORMATION: u8 = 4;
    pub const CONFLICTING_STYLE: u8 = 5;
    pub const UNKNOWN_STYLE: u8 = 6;
    pub const CONFLICTING_DEST_PORTS: u8 = 7;
    pub const CONFLICTING_SENDER_PORTS: u8 = 8;
    pub const SERVICE_PREEMPTED: u8 = 12;
    pub const UNKNOWN_OBJECT_CLASS: u8 = 13;
    pub const UNKNOWN_C_TYPE: u8 = 14;
    pub const API_ERROR: u8 = 20;
    pub const TRAFFIC_CONTROL_ERROR: u8 = 21;
    pub const TRAFFIC_CONTROL_SYSTEM_ERROR: u8 = 22;
    pub const RSVP_SYSTEM_ERROR: u8 = 23;

    /// Globally defined values of code 1 (Admission Control failure).
    pub mod admission {
        pub const DELAY_BOUND: u16 = 1;
        pub const BANDWIDTH_UNAVAILABLE: u16 = 2;
        pub const MTU_TOO_BIG: u16 = 3;
    }
    /// Values of code 21 (Traffic Control Error).
    pub mod traffic_control {
        pub const SERVICE_CONFLICT: u16 = 1;
        pub const SERVICE_UNSUPPORTED: u16 = 2;
        pub const BAD_FLOWSPEC: u16 = 3;
        pub const BAD_TSPEC: u16 = 4;
        pub const BAD_ADSPEC: u16 = 5;
    }

    /// The RFC name of an error code.
    pub fn name(code: u8) -> Option<&'static str> {
        Some(match code {
            0 => "Confirmation",
            1 => "Admission Control failure",
            2 => "Policy Control failure",
            3 => "No path information for this Resv message",
            4 => "No sender information for this Resv message",
            5 => "Conflicting reservation style",
            6 => "Unknown reservation style",
            7 => "Conflicting dest ports",
            8 => "Conflicting sender ports",
            12 => "Service preempted",
            13 => "Unknown object class",
            14 => "Unknown object C-Type",
            20 => "Reserved for use by the API",
            21 => "Traffic Control Error",
            22 => "Traffic Control System error",
            23 => "RSVP System error",
            _ => return None,
        })
    }
}

/// SCOPE: the explicit list of sender hosts a wildcard reservation reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Ipv4(Vec<Ipv4Addr>),
    Ipv6(Vec<Ipv6Addr>),
}

/// The three reservation styles (RFC 2205 §3.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StyleKind {
    /// Wildcard-Filter: shared, wildcard sender selection.
    WF,
    /// Fixed-Filter: distinct, explicit sender selection.
    FF,
    /// Shared-Explicit: shared, explicit sender selection.
    SE,
}

impl StyleKind {
    /// The 24-bit option vector: sharing control in bits 4-3 (01 distinct,
    /// 10 shared), sender selection in bits 2-0 (001 wildcard, 010 explicit).
    pub fn option_vector(self) -> u32 {
        match self {
            StyleKind::WF => 0b10_001,
            StyleKind::FF => 0b01_010,
            StyleKind::SE => 0b10_010,
        }
    }

    pub fn from_option_vector(v: u32) -> Option<StyleKind> {
        [StyleKind::WF, StyleKind::FF, StyleKind::SE]
            .into_iter()
            .find(|k| k.option_vector() == v)
    }
}

impl std::fmt::Display for StyleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// STYLE: the reservation style and the (unused) flags byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub flags: u8,
    pub kind: StyleKind,
}

/// FILTER_SPEC and SENDER_TEMPLATE: which sender's packets a reservation or
/// a path state covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FilterSpec {
    /// C-Type 1 (IPv4) or 2 (IPv6): source address and source port.
    Port { addr: IpAddr, port: u16 },
    /// C-Type 3: IPv6 source address and flow label (in a 24-bit field).
    FlowLabel { addr: Ipv6Addr, flow_label: u32 },
}

/// RESV_CONFIRM: the receiver that asked for a ResvConf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResvConfirm {
    pub receiver: IpAddr,
}

/// An object carried without interpretation (POLICY_DATA, INTEGRITY): its
/// C-Type and body. The body's length must be a multiple of 4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opaque {
    pub c_type: u8,
    #[serde(with = "serde_hex")]
    pub body: Vec<u8>,
}

/// One parsed object of a class this crate knows (NULL aside).
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Session(Session),
    Hop(Hop),
    Integrity(Opaque),
    TimeValues(TimeValues),
    ErrorSpec(ErrorSpec),
    Scope(Scope),
    Style(Style),
    FlowSpec(FlowSpec),
    FilterSpec(FilterSpec),
    SenderTemplate(FilterSpec),
    SenderTspec(TokenBucket),
    Adspec(Adspec),
    PolicyData(Opaque),
    ResvConfirm(ResvConfirm),
}

#[inline]
fn fixed_len(view: &ObjectView<'_>, len: usize, reason: &'static str) -> Result<(), Error> {
    if view.length() != len {
        return Err(wrong_length(view, reason));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn wrong_length(view: &ObjectView<'_>, reason: &'static str) -> Error {
    Error::ObjectLength {
        class: view.class_num(),
        offset: view.offset(),
        length: view.length(),
        reason,
    }
}

#[cold]
#[inline(never)]
fn unknown_c_type(view: &ObjectView<'_>) -> Error {
    Error::UnknownCType {
        class: view.class_num(),
        c_type: view.c_type(),
        offset: view.offset(),
    }
}

#[inline]
fn v4(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

#[inline]
fn v6(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(a)
}

/// Reads the address of an address-first object (IPv4 C-Type 1 with a body
/// of `4 + tail` bytes, IPv6 C-Type 2 with `16 + tail`), returning the
/// address and the offset of what follows it.
#[inline(always)]
fn addr_first(view: &ObjectView<'_>, tail: usize) -> Result<(IpAddr, usize), Error> {
    let b = view.body();
    match view.c_type() {
        C_TYPE_IPV4 => {
            fixed_len(view, 8 + tail, length_reason(8 + tail, "IPv4"))?;
            Ok((IpAddr::V4(v4(b, 0)), 4))
        }
        C_TYPE_IPV6 => {
            fixed_len(view, 20 + tail, length_reason(20 + tail, "IPv6"))?;
            Ok((IpAddr::V6(v6(b, 0)), 16))
        }
        _ => Err(unknown_c_type(view)),
    }
}

#[inline]
fn length_reason(len: usize, family: &str) -> &'static str {
    match (len, family) {
        (8, "IPv4") => "8 bytes for the IPv4 C-Type",
        (12, "IPv4") => "12 bytes for the IPv4 C-Type",
        (20, "IPv6") => "20 bytes for the IPv6 C-Type",
        (24, "IPv6") => "24 bytes for the IPv6 C-Type",
        _ => "the size of its C-Type",
    }
}

fn write_addr(w: &mut Writer<'_>, a: &IpAddr) {
    match a {
        IpAddr::V4(a) => w.bytes(&a.octets()),
        IpAddr::V6(a) => w.bytes(&a.octets()),
    }
}

fn addr_c_type(a: &IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => C_TYPE_IPV4,
        IpAddr::V6(_) => C_TYPE_IPV6,
    }
}

fn addr_len(a: &IpAddr) -> usize {
    match a {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 16,
    }
}

/// Parsers of one class each, straight into the typed form. The caller has
/// matched the view's Class-Num; [`Object::parse`] and the message parser
/// share them, so both read every class the same way.
pub(crate) mod parse {
    use super::*;

    #[inline(always)]
    pub(crate) fn session(view: &ObjectView<'_>) -> Result<Session, Error> {
        let b = view.body();
        let (dest, at) = addr_first(view, 4)?;
        Ok(Session {
            dest,
            protocol: b[at],
            flags: b[at + 1],
            port: be16(b, at + 2),
        })
    }

    #[inline(always)]
    pub(crate) fn hop(view: &ObjectView<'_>) -> Result<Hop, Error> {
        let b = view.body();
        let (addr, at) = addr_first(view, 4)?;
        Ok(Hop {
            addr,
            lih: be32(b, at),
        })
    }

    #[inline(always)]
    pub(crate) fn time_values(view: &ObjectView<'_>) -> Result<TimeValues, Error> {
        if view.c_type() != 1 {
            return Err(unknown_c_type(view));
        }
        fixed_len(view, 8, "8 bytes for TIME_VALUES")?;
        Ok(TimeValues {
            refresh_ms: be32(view.body(), 0),
        })
    }

    #[inline(always)]
    pub(crate) fn error_spec(view: &ObjectView<'_>) -> Result<ErrorSpec, Error> {
        let b = view.body();
        let (node, at) = addr_first(view, 4)?;
        Ok(ErrorSpec {
            node,
            flags: b[at],
            code: b[at + 1],
            value: be16(b, at + 2),
        })
    }

    pub(crate) fn scope(view: &ObjectView<'_>) -> Result<Scope, Error> {
        let b = view.body();
        match view.c_type() {
            C_TYPE_IPV4 => Ok(Scope::Ipv4(b.chunks_exact(4).map(|c| v4(c, 0)).collect())),
            C_TYPE_IPV6 => {
                if b.len() % 16 != 0 {
                    return Err(wrong_length(
                        view,
                        "4 plus a multiple of 16 bytes for the IPv6 C-Type",
                    ));
                }
                Ok(Scope::Ipv6(b.chunks_exact(16).map(|c| v6(c, 0)).collect()))
            }
            _ => Err(unknown_c_type(view)),
        }
    }

    #[inline(always)]
    pub(crate) fn style(view: &ObjectView<'_>) -> Result<Style, Error> {
        if view.c_type() != 1 {
            return Err(unknown_c_type(view));
        }
        fixed_len(view, 8, "8 bytes for STYLE")?;
        let b = view.body();
        let option_vector = be32(b, 0) & 0x00ff_ffff;
        let Some(kind) = StyleKind::from_option_vector(option_vector) else {
            return Err(Error::UnknownStyle {
                offset: view.offset(),
                option_vector,
            });
        };
        Ok(Style { flags: b[0], kind })
    }

    #[inline(always)]
    pub(crate) fn flowspec(view: &ObjectView<'_>) -> Result<FlowSpec, Error> {
        if view.c_type() != C_TYPE_INTSERV {
            return Err(unknown_c_type(view));
        }
        FlowSpec::parse(view.body(), view.offset())
    }

    /// FILTER_SPEC and SENDER_TEMPLATE, which share their forms.
    #[inline(always)]
    pub(crate) fn filter_spec(view: &ObjectView<'_>) -> Result<FilterSpec, Error> {
        let b = view.body();
        if view.c_type() == C_TYPE_IPV6_FLOW_LABEL {
            fixed_len(view, 24, "24 bytes for the IPv6 flow-label C-Type")?;
            Ok(FilterSpec::FlowLabel {
                addr: v6(b, 0),
                flow_label: be32(b, 16) & 0x00ff_ffff,
            })
        } else {
            let (addr, at) = addr_first(view, 4)?;
            Ok(FilterSpec::Port {
                addr,
                port: be16(b, at + 2),
            })
        }
    }

    #[inline(always)]
    pub(crate) fn sender_tspec(view: &ObjectView<'_>) -> Result<TokenBucket, Error> {
        if view.c_type() != C_TYPE_INTSERV {
            return Err(unknown_c_type(view));
        }
        intserv::tspec::parse(view.body(), view.offset())
    }

    pub(crate) fn adspec(view: &ObjectView<'_>) -> Result<Adspec, Error> {
        if view.c_type() != C_TYPE_INTSERV {
            return Err(unknown_c_type(view));
        }
        Adspec::parse(view.body(), view.offset())
    }

    /// POLICY_DATA and INTEGRITY.
    pub(crate) fn opaque(view: &ObjectView<'_>) -> Result<Opaque, Error> {
        Ok(Opaque {
            c_type: view.c_type(),
            body: view.body().to_vec(),
        })
    }

    #[inline(always)]
    pub(crate) fn resv_confirm(view: &ObjectView<'_>) -> Result<ResvConfirm, Error> {
        let (receiver, _) = addr_first(view, 0)?;
        Ok(ResvConfirm { receiver })
    }
}

impl Object {
    /// Parses an object of a known class. NULL and unknown classes are the
    /// caller's to handle (see [`ClassNum::disposition`]); given one, this
    /// returns [`Error::UnknownClass`].
    pub fn parse(view: &ObjectView<'_>) -> Result<Object, Error> {
        Ok(match view.class_num() {
            ClassNum::SESSION => Object::Session(parse::session(view)?),
            ClassNum::RSVP_HOP => Object::Hop(parse::hop(view)?),
            ClassNum::TIME_VALUES => Object::TimeValues(parse::time_values(view)?),
            ClassNum::ERROR_SPEC => Object::ErrorSpec(parse::error_spec(view)?),
            ClassNum::SCOPE => Object::Scope(parse::scope(view)?),
            ClassNum::STYLE => Object::Style(parse::style(view)?),
            ClassNum::FLOWSPEC => Object::FlowSpec(parse::flowspec(view)?),
            ClassNum::FILTER_SPEC => Object::FilterSpec(parse::filter_spec(view)?),
            ClassNum::SENDER_TEMPLATE => Object::SenderTemplate(parse::filter_spec(view)?),
            ClassNum::SENDER_TSPEC => Object::SenderTspec(parse::sender_tspec(view)?),
            ClassNum::ADSPEC => Object::Adspec(parse::adspec(view)?),
            ClassNum::POLICY_DATA => Object::PolicyData(parse::opaque(view)?),
            ClassNum::INTEGRITY => Object::Integrity(parse::opaque(view)?),
            ClassNum::RESV_CONFIRM => Object::ResvConfirm(parse::resv_confirm(view)?),
            class => {
                return Err(Error::UnknownClass {
                    class_num: class.0,
                    c_type: view.c_type(),
                    offset: view.offset(),
                })
            }
        })
    }
}

/// An object ready to be written: its class, C-Type and body. Implemented by
/// every typed object; the message emitter walks these.
pub(crate) trait Repr {
    fn c_type(&self) -> u8;
    fn body_len(&self) -> usize;
    fn emit_body(&self, w: &mut Writer<'_>);
    /// Constraints the types cannot express, checked before anything is written.
    fn check(&self) -> Result<(), &'static str> {
        Ok(())
    }
}

impl Repr for Session {
    fn c_type(&self) -> u8 {
        addr_c_type(&self.dest)
    }
    fn body_len(&self) -> usize {
        addr_len(&self.dest) + 4
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        write_addr(w, &self.dest);
        w.u8(self.protocol);
        w.u8(self.flags);
        w.u16(self.port);
    }
}

impl Repr for Hop {
    fn c_type(&self) -> u8 {
        addr_c_type(&self.addr)
    }
    fn body_len(&self) -> usize {
        addr_len(&self.addr) + 4
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        write_addr(w, &self.addr);
        w.u32(self.lih);
    }
}

impl Repr for TimeValues {
    fn c_type(&self) -> u8 {
        1
    }
    fn body_len(&self) -> usize {
        4
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        w.u32(self.refresh_ms);
    }
}

impl Repr for ErrorSpec {
    fn c_type(&self) -> u8 {
        addr_c_type(&self.node)
    }
    fn body_len(&self) -> usize {
        addr_len(&self.node) + 4
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        write_addr(w, &self.node);
        w.u8(self.flags);
        w.u8(self.code);
        w.u16(self.value);
    }
}

impl Repr for Scope {
    fn c_type(&self) -> u8 {
        match self {
            Scope::Ipv4(_) => C_TYPE_IPV4,
            Scope::Ipv6(_) => C_TYPE_IPV6,
        }
    }
    fn body_len(&self) -> usize {
        match self {
            Scope::Ipv4(a) => 4 * a.len(),
            Scope::Ipv6(a) => 16 * a.len(),
        }
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        match self {
            Scope::Ipv4(a) => a.iter().for_each(|a| w.bytes(&a.octets())),
            Scope::Ipv6(a) => a.iter().for_each(|a| w.bytes(&a.octets())),
        }
    }
}

impl Repr for Style {
    fn c_type(&self) -> u8 {
        1
    }
    fn body_len(&self) -> usize {
        4
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        w.u32(u32::from(self.flags) << 24 | self.kind.option_vector());
    }
}

impl Repr for FlowSpec {
    fn c_type(&self) -> u8 {
        C_TYPE_INTSERV
    }
    fn body_len(&self) -> usize {
        FlowSpec::body_len(self)
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        self.emit(w)
    }
}

impl Repr for FilterSpec {
    fn c_type(&self) -> u8 {
        match self {
            FilterSpec::Port { addr, .. } => addr_c_type(addr),
            FilterSpec::FlowLabel { .. } => C_TYPE_IPV6_FLOW_LABEL,
        }
    }
    fn body_len(&self) -> usize {
        match self {
            FilterSpec::Port { addr, .. } => addr_len(addr) + 4,
            FilterSpec::FlowLabel { .. } => 20,
        }
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        match self {
            FilterSpec::Port { addr, port } => {
                write_addr(w, addr);
                w.u16(0);
                w.u16(*port);
            }
            FilterSpec::FlowLabel { addr, flow_label } => {
                w.bytes(&addr.octets());
                w.u32(*flow_label & 0x00ff_ffff);
            }
        }
    }
    fn check(&self) -> Result<(), &'static str> {
        match self {
            FilterSpec::FlowLabel { flow_label, .. } if *flow_label > 0x00ff_ffff => {
                Err("a flow label must fit its 24-bit field")
            }
            _ => Ok(()),
        }
    }
}

impl Repr for TokenBucket {
    fn c_type(&self) -> u8 {
        C_TYPE_INTSERV
    }
    fn body_len(&self) -> usize {
        intserv::tspec::BODY_LEN
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        intserv::tspec::emit(self, w)
    }
}

impl Repr for Adspec {
    fn c_type(&self) -> u8 {
        C_TYPE_INTSERV
    }
    fn body_len(&self) -> usize {
        Adspec::body_len(self)
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        self.emit(w)
    }
}

impl Repr for ResvConfirm {
    fn c_type(&self) -> u8 {
        addr_c_type(&self.receiver)
    }
    fn body_len(&self) -> usize {
        addr_len(&self.receiver)
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        write_addr(w, &self.receiver)
    }
}

impl Repr for Opaque {
    fn c_type(&self) -> u8 {
        self.c_type
    }
    fn body_len(&self) -> usize {
        self.body.len()
    }
    fn emit_body(&self, w: &mut Writer<'_>) {
        w.bytes(&self.body)
    }
    fn check(&self) -> Result<(), &'static str> {
        if self.body.len() % 4 != 0 {
            return Err("an opaque object's body must be a multiple of 4 bytes");
        }
        Ok(())
    }
}
