//! The validated message model: the seven message types of RFC 2205 §3.1
//! with their objects in the order the RFC's grammar gives, parsed from a
//! [`MessageView`] and emitted back byte for byte.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::intserv::{Adspec, FlowSpec, TokenBucket};
pub use crate::object::StyleKind;
use crate::object::{
    parse, ErrorSpec, FilterSpec, Hop, Opaque, Repr, ResvConfirm, Scope, Session, Style, TimeValues,
};
use crate::view::{MessageView, ObjectIter, ObjectView, HEADER_LEN, OBJECT_HEADER_LEN};
use crate::wire::{serde_hex, ClassNum, Disposition, MsgType, Writer};

/// How strictly [`Message::parse_with`] treats the checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Verify the checksum (a zero field aside). On by default.
    pub verify_checksum: bool,
    /// Accept a zero checksum field, which RFC 2205 §3.1.1 defines as "no
    /// checksum transmitted". Off by default.
    pub accept_zero_checksum: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            verify_checksum: true,
            accept_zero_checksum: false,
        }
    }
}

impl ParseOptions {
    /// Verifies checksums but accepts a zero one, as the RFC allows.
    pub fn lenient() -> Self {
        ParseOptions {
            verify_checksum: true,
            accept_zero_checksum: true,
        }
    }
}

/// One RSVP message: the common header's fields, an optional INTEGRITY,
/// the type-specific objects, and the objects of classes this crate does not
/// know (kept where they were so that they can be forwarded unchanged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The four flag bits of the common header (none defined by RFC 2205).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub flags: u8,
    /// The IP TTL the message was sent with, for detecting non-RSVP hops.
    pub send_ttl: u8,
    /// Send a zero checksum ("not transmitted") instead of computing one.
    /// Set by parse when the checksum field was zero.
    #[serde(default, skip_serializing_if = "is_false")]
    pub zero_checksum: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<Opaque>,
    #[serde(flatten)]
    pub body: Body,
    /// NULL objects and objects of unknown classes `10bbbbbb` and
    /// `11bbbbbb`, each with its position among the known objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<ExtraObject>,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}
fn is_false(v: &bool) -> bool {
    !*v
}

/// The type-specific part of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Body {
    Path(Path),
    Resv(Resv),
    PathErr(PathErr),
    ResvErr(ResvErr),
    PathTear(PathTear),
    ResvTear(ResvTear),
    ResvConf(ResvConf),
}

/// `<SESSION> <RSVP_HOP> <TIME_VALUES> [<POLICY_DATA> ...] [<sender descriptor>]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Path {
    pub session: Session,
    pub hop: Hop,
    pub time_values: TimeValues,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_data: Vec<Opaque>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<SenderDescriptor>,
}

/// `<SESSION> <RSVP_HOP> <TIME_VALUES> [<RESV_CONFIRM>] [<SCOPE>]
/// [<POLICY_DATA> ...] <STYLE> <flow descriptor list>`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resv {
    pub session: Session,
    pub hop: Hop,
    pub time_values: TimeValues,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resv_confirm: Option<ResvConfirm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_data: Vec<Opaque>,
    /// The STYLE object's flags byte (none defined).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub style_flags: u8,
    pub flows: FlowDescriptors,
}

/// `<SESSION> <ERROR_SPEC> [<POLICY_DATA> ...] [<sender descriptor>]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathErr {
    pub session: Session,
    pub error: ErrorSpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_data: Vec<Opaque>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<SenderDescriptor>,
}

/// `<SESSION> <RSVP_HOP> <ERROR_SPEC> [<SCOPE>] [<POLICY_DATA> ...] <STYLE>
/// [<error flow descriptor>]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResvErr {
    pub session: Session,
    pub hop: Hop,
    pub error: ErrorSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_data: Vec<Opaque>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub style_flags: u8,
    pub flows: FlowDescriptors,
}

/// `<SESSION> <RSVP_HOP> [<sender descriptor>]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathTear {
    pub session: Session,
    pub hop: Hop,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<SenderDescriptor>,
}

/// `<SESSION> <RSVP_HOP> [<SCOPE>] <STYLE> <flow descriptor list>`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResvTear {
    pub session: Session,
    pub hop: Hop,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub style_flags: u8,
    pub flows: FlowDescriptors,
}

/// `<SESSION> <ERROR_SPEC> <RESV_CONFIRM> <STYLE> <flow descriptor list>`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResvConf {
    pub session: Session,
    pub error: ErrorSpec,
    pub resv_confirm: ResvConfirm,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub style_flags: u8,
    pub flows: FlowDescriptors,
}

/// `<SENDER_TEMPLATE> <SENDER_TSPEC> [<ADSPEC>]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SenderDescriptor {
    pub template: FilterSpec,
    pub tspec: TokenBucket,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adspec: Option<Adspec>,
}

/// The STYLE object's style with the flow descriptors it governs. Which
/// parts may be absent depends on the message type (see [`Message::check`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "style")]
pub enum FlowDescriptors {
    /// `<FLOWSPEC>`
    WF {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flowspec: Option<FlowSpec>,
    },
    /// `<FLOWSPEC> <FILTER_SPEC>` then `[<FLOWSPEC>] <FILTER_SPEC>` ...; a
    /// descriptor without a FLOWSPEC shares the one before it.
    FF { descriptors: Vec<FfDescriptor> },
    /// `<FLOWSPEC> <FILTER_SPEC> ...`: one shared reservation for the listed senders.
    SE {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flowspec: Option<FlowSpec>,
        filters: Vec<FilterSpec>,
    },
}

impl FlowDescriptors {
    pub fn style(&self) -> StyleKind {
        match self {
            FlowDescriptors::WF { .. } => StyleKind::WF,
            FlowDescriptors::FF { .. } => StyleKind::FF,
            FlowDescriptors::SE { .. } => StyleKind::SE,
        }
    }
}

/// One Fixed-Filter flow descriptor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FfDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flowspec: Option<FlowSpec>,
    pub filter: FilterSpec,
}

/// An object this crate keeps without understanding: a NULL object (class
/// 0) or one of an unknown class whose top bit is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraObject {
    /// How many known objects come before it in the message.
    pub position: usize,
    pub class_num: u8,
    pub c_type: u8,
    #[serde(with = "serde_hex")]
    pub body: Vec<u8>,
}

impl ExtraObject {
    /// What RFC 2205 §3.10 says to do with it (NULL is `Known`).
    pub fn disposition(&self) -> Disposition {
        ClassNum(self.class_num).disposition()
    }
}

impl Repr for ExtraObject {
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
            return Err("an extra object's body must be a multiple of 4 bytes");
        }
        match self.disposition() {
            Disposition::Ignore | Disposition::Forward => Ok(()),
            Disposition::Known if self.class_num == 0 => Ok(()),
            _ => Err("an extra object must be NULL or of an unknown class with the top bit set"),
        }
    }
}

/// Walks the objects of a message in wire order.
struct Cursor<'a> {
    iter: ObjectIter<'a>,
    /// The next known object, not parsed until it is taken.
    peeked: Option<ObjectView<'a>>,
    known: usize,
    extra: Vec<ExtraObject>,
    msg: MsgType,
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    fn fill(&mut self) -> Result<(), Error> {
        while self.peeked.is_none() {
            let Some(view) = self.iter.next_object()? else {
                return Ok(());
            };
            let class = view.class_num();
            if class != ClassNum::NULL && class.disposition() == Disposition::Known {
                self.peeked = Some(view);
            } else {
                self.set_aside(view)?;
            }
        }
        Ok(())
    }

    /// Keeps a NULL object or one of an unknown class that may be ignored,
    /// or rejects the message for an unknown class that may not.
    #[cold]
    #[inline(never)]
    fn set_aside(&mut self, view: ObjectView<'a>) -> Result<(), Error> {
        let class = view.class_num();
        if class.disposition() == Disposition::Reject {
            return Err(Error::UnknownClass {
                class_num: class.0,
                c_type: view.c_type(),
                offset: view.offset(),
            });
        }
        self.extra.push(ExtraObject {
            position: self.known,
            class_num: class.0,
            c_type: view.c_type(),
            body: view.body().to_vec(),
        });
        Ok(())
    }

    /// The offset of the next known object, or the end of the message.
    fn offset(&self) -> usize {
        match &self.peeked {
            Some(v) => v.offset(),
            None => self.iter.offset(),
        }
    }

    /// Consumes the next known object if it is of `class`.
    #[inline(always)]
    fn next_of(&mut self, class: ClassNum) -> Result<Option<ObjectView<'a>>, Error> {
        self.fill()?;
        match self.peeked {
            Some(v) if v.class_num() == class => {
                self.known += 1;
                self.peeked = None;
                Ok(Some(v))
            }
            _ => Ok(None),
        }
    }

    /// The next known object parsed with `parse` if it is of `class`.
    #[inline(always)]
    fn take<T>(
        &mut self,
        class: ClassNum,
        parse: impl FnOnce(&ObjectView<'a>) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        match self.next_of(class)? {
            Some(v) => parse(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`Cursor::take`], but the object must be there.
    #[inline(always)]
    fn require<T>(
        &mut self,
        class: ClassNum,
        parse: impl FnOnce(&ObjectView<'a>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match self.next_of(class)? {
            Some(v) => parse(&v),
            None => Err(self.missing(class)),
        }
    }

    /// The error for a required object that is not next: out of order if it
    /// comes later, missing if not.
    #[cold]
    #[inline(never)]
    fn missing(&self, class: ClassNum) -> Error {
        match &self.peeked {
            Some(v)
                if self
                    .iter
                    .clone()
                    .any(|o| o.is_ok_and(|o| o.class_num() == class)) =>
            {
                Error::OutOfOrder {
                    message: self.msg,
                    class: v.class_num(),
                    offset: v.offset(),
                    expected: class,
                }
            }
            _ => Error::MissingObject {
                message: self.msg,
                class,
                offset: self.offset(),
            },
        }
    }

    #[inline]
    fn policy_data(&mut self) -> Result<Vec<Opaque>, Error> {
        let mut out = Vec::new();
        while let Some(p) = self.take(ClassNum::POLICY_DATA, parse::opaque)? {
            out.push(p);
        }
        Ok(out)
    }

    fn sender(&mut self) -> Result<Option<SenderDescriptor>, Error> {
        let Some(template) = self.take(ClassNum::SENDER_TEMPLATE, parse::filter_spec)? else {
            return Ok(None);
        };
        let tspec = self.require(ClassNum::SENDER_TSPEC, parse::sender_tspec)?;
        let adspec = self.take(ClassNum::ADSPEC, parse::adspec)?;
        Ok(Some(SenderDescriptor {
            template,
            tspec,
            adspec,
        }))
    }

    #[inline]
    fn flowspec(&mut self) -> Result<Option<FlowSpec>, Error> {
        self.take(ClassNum::FLOWSPEC, parse::flowspec)
    }

    #[inline]
    fn filter(&mut self) -> Result<Option<FilterSpec>, Error> {
        self.take(ClassNum::FILTER_SPEC, parse::filter_spec)
    }

    /// `<STYLE>` and the flow descriptors after it, checked for `self.msg`.
    fn flows(&mut self) -> Result<(u8, FlowDescriptors), Error> {
        let offset = self.offset();
        let style = self.require(ClassNum::STYLE, parse::style)?;
        let flows = match style.kind {
            StyleKind::WF => FlowDescriptors::WF {
                flowspec: self.flowspec()?,
            },
            StyleKind::FF => {
                let mut descriptors = Vec::new();
                loop {
                    let flowspec = self.flowspec()?;
                    match (flowspec, self.filter()?) {
                        (None, None) => break,
                        (Some(_), None) => {
                            return Err(Error::FlowDescriptor {
                                message: self.msg,
                                style: StyleKind::FF,
                                offset,
                                reason: "a FLOWSPEC must be followed by its FILTER_SPEC",
                            })
                        }
                        (flowspec, Some(filter)) => {
                            let d = FfDescriptor { flowspec, filter };
                            if descriptors.is_empty() {
                                // Most lists hold one descriptor: allocate
                                // for exactly that, and grow past it.
                                descriptors = vec![d];
                            } else {
                                descriptors.push(d);
                            }
                        }
                    }
                }
                FlowDescriptors::FF { descriptors }
            }
            StyleKind::SE => {
                let flowspec = self.flowspec()?;
                let mut filters = Vec::new();
                while let Some(f) = self.filter()? {
                    filters.push(f);
                }
                FlowDescriptors::SE { flowspec, filters }
            }
        };
        check_flows(self.msg, &flows).map_err(|reason| Error::FlowDescriptor {
            message: self.msg,
            style: style.kind,
            offset,
            reason,
        })?;
        Ok((style.flags, flows))
    }

    fn finish(mut self) -> Result<Vec<ExtraObject>, Error> {
        self.fill()?;
        if let Some(v) = &self.peeked {
            return Err(Error::UnexpectedObject {
                message: self.msg,
                class: v.class_num(),
                offset: v.offset(),
            });
        }
        Ok(self.extra)
    }
}

/// The per-message rules of RFC 2205 §3.1 on flow descriptor lists.
fn check_flows(msg: MsgType, flows: &FlowDescriptors) -> Result<(), &'static str> {
    use FlowDescriptors::*;
    match msg {
        MsgType::Resv | MsgType::ResvConf => match flows {
            WF { flowspec: None } => Err("a FLOWSPEC is required"),
            FF { descriptors } if descriptors.is_empty() => {
                Err("at least one FLOWSPEC FILTER_SPEC pair is required")
            }
            FF { descriptors } if descriptors[0].flowspec.is_none() => {
                Err("the first flow descriptor needs a FLOWSPEC")
            }
            SE { flowspec: None, .. } => Err("a FLOWSPEC is required"),
            SE { filters, .. } if filters.is_empty() => Err("at least one FILTER_SPEC is required"),
            _ => Ok(()),
        },
        MsgType::ResvTear => match flows {
            FF { descriptors } if descriptors.is_empty() => {
                Err("at least one FILTER_SPEC is required")
            }
            SE { filters, .. } if filters.is_empty() => Err("at least one FILTER_SPEC is required"),
            _ => Ok(()),
        },
        MsgType::ResvErr => match flows {
            FF { descriptors } if descriptors.len() > 1 => {
                Err("the error flow descriptor holds at most one FLOWSPEC FILTER_SPEC pair")
            }
            FF { descriptors } if descriptors.iter().any(|d| d.flowspec.is_none()) => {
                Err("the error flow descriptor needs its FLOWSPEC")
            }
            SE {
                flowspec: None,
                filters,
            } if !filters.is_empty() => Err("the error flow descriptor needs its FLOWSPEC"),
            SE {
                flowspec: Some(_),
                filters,
            } if filters.is_empty() => {
                Err("the error flow descriptor needs at least one FILTER_SPEC")
            }
            _ => Ok(()),
        },
        MsgType::Path | MsgType::PathErr | MsgType::PathTear => Ok(()),
    }
}

macro_rules! take_typed {
    ($cursor:expr, $class:ident, $parse:ident) => {
        $cursor.require(ClassNum::$class, parse::$parse)?
    };
}

macro_rules! take_opt {
    ($cursor:expr, $class:ident, $parse:ident) => {
        $cursor.take(ClassNum::$class, parse::$parse)?
    };
}

impl Message {
    /// A message with no flags, a computed checksum, no INTEGRITY and no
    /// extra objects.
    pub fn new(send_ttl: u8, body: Body) -> Message {
        Message {
            flags: 0,
            send_ttl,
            zero_checksum: false,
            integrity: None,
            body,
            extra: Vec::new(),
        }
    }

    pub fn msg_type(&self) -> MsgType {
        match self.body {
            Body::Path(_) => MsgType::Path,
            Body::Resv(_) => MsgType::Resv,
            Body::PathErr(_) => MsgType::PathErr,
            Body::ResvErr(_) => MsgType::ResvErr,
            Body::PathTear(_) => MsgType::PathTear,
            Body::ResvTear(_) => MsgType::ResvTear,
            Body::ResvConf(_) => MsgType::ResvConf,
        }
    }

    /// The SESSION every message carries.
    pub fn session(&self) -> &Session {
        match &self.body {
            Body::Path(m) => &m.session,
            Body::Resv(m) => &m.session,
            Body::PathErr(m) => &m.session,
            Body::ResvErr(m) => &m.session,
            Body::PathTear(m) => &m.session,
            Body::ResvTear(m) => &m.session,
            Body::ResvConf(m) => &m.session,
        }
    }

    /// Parses and validates with the default [`ParseOptions`] (checksum
    /// verified, zero checksum rejected).
    pub fn parse(bytes: &[u8]) -> Result<Message, Error> {
        Self::parse_with(bytes, ParseOptions::default())
    }

    pub fn parse_with(bytes: &[u8], opts: ParseOptions) -> Result<Message, Error> {
        Self::from_view(&MessageView::new_checked(bytes)?, opts)
    }

    /// Validates a checked view into the model.
    pub fn from_view(view: &MessageView<'_>, opts: ParseOptions) -> Result<Message, Error> {
        if view.version() != 1 {
            return Err(Error::Version {
                found: view.version(),
            });
        }
        let msg = MsgType::from_u8(view.msg_type()).ok_or(Error::MessageType {
            found: view.msg_type(),
        })?;
        // A zero field is kept as such, so that emit writes zero again: emit
        // never computes one (a computed zero goes out as 0xffff).
        let zero_checksum = view.checksum() == 0;
        if opts.verify_checksum && !view.checksum_ok() {
            if !zero_checksum {
                return Err(Error::Checksum {
                    computed: view.checksum_sum(),
                    found: view.checksum(),
                });
            }
            if !opts.accept_zero_checksum {
                return Err(Error::ZeroChecksum);
            }
        }

        let mut c = Cursor {
            iter: view.objects(),
            peeked: None,
            known: 0,
            extra: Vec::new(),
            msg,
        };
        let integrity = take_opt!(c, INTEGRITY, opaque);
        let body = match msg {
            MsgType::Path => Body::Path(Path {
                session: take_typed!(c, SESSION, session),
                hop: take_typed!(c, RSVP_HOP, hop),
                time_values: take_typed!(c, TIME_VALUES, time_values),
                policy_data: c.policy_data()?,
                sender: c.sender()?,
            }),
            MsgType::Resv => {
                let session = take_typed!(c, SESSION, session);
                let hop = take_typed!(c, RSVP_HOP, hop);
                let time_values = take_typed!(c, TIME_VALUES, time_values);
                let resv_confirm = take_opt!(c, RESV_CONFIRM, resv_confirm);
                let scope = take_opt!(c, SCOPE, scope);
                let policy_data = c.policy_data()?;
                let (style_flags, flows) = c.flows()?;
                Body::Resv(Resv {
                    session,
                    hop,
                    time_values,
                    resv_confirm,
                    scope,
                    policy_data,
                    style_flags,
                    flows,
                })
            }
            MsgType::PathErr => Body::PathErr(PathErr {
                session: take_typed!(c, SESSION, session),
                error: take_typed!(c, ERROR_SPEC, error_spec),
                policy_data: c.policy_data()?,
                sender: c.sender()?,
            }),
            MsgType::ResvErr => {
                let session = take_typed!(c, SESSION, session);
                let hop = take_typed!(c, RSVP_HOP, hop);
                let error = take_typed!(c, ERROR_SPEC, error_spec);
                let scope = take_opt!(c, SCOPE, scope);
                let policy_data = c.policy_data()?;
                let (style_flags, flows) = c.flows()?;
                Body::ResvErr(ResvErr {
                    session,
                    hop,
                    error,
                    scope,
                    policy_data,
                    style_flags,
                    flows,
                })
            }
            MsgType::PathTear => Body::PathTear(PathTear {
                session: take_typed!(c, SESSION, session),
                hop: take_typed!(c, RSVP_HOP, hop),
                sender: c.sender()?,
            }),
            MsgType::ResvTear => {
                let session = take_typed!(c, SESSION, session);
                let hop = take_typed!(c, RSVP_HOP, hop);
                let scope = take_opt!(c, SCOPE, scope);
                let (style_flags, flows) = c.flows()?;
                Body::ResvTear(ResvTear {
                    session,
                    hop,
                    scope,
                    style_flags,
                    flows,
                })
            }
            MsgType::ResvConf => {
                let session = take_typed!(c, SESSION, session);
                let error = take_typed!(c, ERROR_SPEC, error_spec);
                let resv_confirm = take_typed!(c, RESV_CONFIRM, resv_confirm);
                let (style_flags, flows) = c.flows()?;
                Body::ResvConf(ResvConf {
                    session,
                    error,
                    resv_confirm,
                    style_flags,
                    flows,
                })
            }
        };
        let extra = c.finish()?;
        Ok(Message {
            flags: view.flags(),
            send_ttl: view.send_ttl(),
            zero_checksum,
            integrity,
            body,
            extra,
        })
    }

    /// The message as a node forwards it (RFC 2205 §3.10): objects of
    /// classes `11bbbbbb` kept in place, NULL and `10bbbbbb` objects
    /// dropped, and a checksum computed: the node writes the message anew,
    /// whether or not the one it received carried one.
    pub fn forwarded(&self) -> Message {
        let mut m = self.clone();
        m.extra.retain(|e| e.disposition() == Disposition::Forward);
        m.zero_checksum = false;
        m
    }

    /// Calls `f` on every object in wire order, extra objects included.
    fn visit(
        &self,
        f: &mut dyn FnMut(ClassNum, &dyn Repr) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut known = 0usize;
        let mut next = |class: ClassNum, obj: &dyn Repr| -> Result<(), Error> {
            for e in self.extra.iter().filter(|e| e.position == known) {
                f(ClassNum(e.class_num), e)?;
            }
            known += 1;
            f(class, obj)
        };
        if let Some(i) = &self.integrity {
            next(ClassNum::INTEGRITY, i)?;
        }
        let sender = |next: &mut dyn FnMut(ClassNum, &dyn Repr) -> Result<(), Error>,
                      s: &Option<SenderDescriptor>|
         -> Result<(), Error> {
            if let Some(s) = s {
                next(ClassNum::SENDER_TEMPLATE, &s.template)?;
                next(ClassNum::SENDER_TSPEC, &s.tspec)?;
                if let Some(a) = &s.adspec {
                    next(ClassNum::ADSPEC, a)?;
                }
            }
            Ok(())
        };
        let policy = |next: &mut dyn FnMut(ClassNum, &dyn Repr) -> Result<(), Error>,
                      p: &[Opaque]|
         -> Result<(), Error> {
            p.iter().try_for_each(|p| next(ClassNum::POLICY_DATA, p))
        };
        let flows = |next: &mut dyn FnMut(ClassNum, &dyn Repr) -> Result<(), Error>,
                     flags: u8,
                     fl: &FlowDescriptors|
         -> Result<(), Error> {
            let style = Style {
                flags,
                kind: fl.style(),
            };
            next(ClassNum::STYLE, &style)?;
            match fl {
                FlowDescriptors::WF { flowspec } => {
                    if let Some(fs) = flowspec {
                        next(ClassNum::FLOWSPEC, fs)?;
                    }
                }
                FlowDescriptors::FF { descriptors } => {
                    for d in descriptors {
                        if let Some(fs) = &d.flowspec {
                            next(ClassNum::FLOWSPEC, fs)?;
                        }
                        next(ClassNum::FILTER_SPEC, &d.filter)?;
                    }
                }
                FlowDescriptors::SE { flowspec, filters } => {
                    if let Some(fs) = flowspec {
                        next(ClassNum::FLOWSPEC, fs)?;
                    }
                    for fi in filters {
                        next(ClassNum::FILTER_SPEC, fi)?;
                    }
                }
            }
            Ok(())
        };
        match &self.body {
            Body::Path(m) => {
                next(ClassNum::SESSION, &m.session)?;
                next(ClassNum::RSVP_HOP, &m.hop)?;
                next(ClassNum::TIME_VALUES, &m.time_values)?;
                policy(&mut next, &m.policy_data)?;
                sender(&mut next, &m.sender)?;
            }
            Body::Resv(m) => {
                next(ClassNum::SESSION, &m.session)?;
                next(ClassNum::RSVP_HOP, &m.hop)?;
                next(ClassNum::TIME_VALUES, &m.time_values)?;
                if let Some(c) = &m.resv_confirm {
                    next(ClassNum::RESV_CONFIRM, c)?;
                }
                if let Some(s) = &m.scope {
                    next(ClassNum::SCOPE, s)?;
                }
                policy(&mut next, &m.policy_data)?;
                flows(&mut next, m.style_flags, &m.flows)?;
            }
            Body::PathErr(m) => {
                next(ClassNum::SESSION, &m.session)?;
                next(ClassNum::ERROR_SPEC, &m.error)?;
                policy(&mut next, &m.policy_data)?;
                sender(&mut next, &m.sender)?;
            }
            Body::ResvErr(m) => {
                next(ClassNum::SESSION, &m.session)?;
                next(ClassNum::RSVP_HOP, &m.hop)?;
                next(ClassNum::ERROR_SPEC, &m.error)?;
                if let Some(s) = &m.scope {
                    next(ClassNum::SCOPE, s)?;
                }
                policy(&mut next, &m.policy_data)?;
                flows(&mut next, m.style_flags, &m.flows)?;
            }
            Body::PathTear(m) => {
                next(ClassNum::SESSION, &m.session)?;
                next(ClassNum::RSVP_HOP, &m.hop)?;
                sender(&mut next, &m.sender)?;
            }
            Body::ResvTear(m) => {
                next(ClassNum::SESSION, &m.session)?;
                next(ClassNum::RSVP_HOP, &m.hop)?;
                if let Some(s) = &m.scope {
                    next(ClassNum::SCOPE, s)?;
                }
                flows(&mut next, m.style_flags, &m.flows)?;
            }
            Body::ResvConf(m) => {
                next(ClassNum::SESSION, &m.session)?;
                next(ClassNum::ERROR_SPEC, &m.error)?;
                next(ClassNum::RESV_CONFIRM, &m.resv_confirm)?;
                flows(&mut next, m.style_flags, &m.flows)?;
            }
        }
        // Extra objects after the last known one (or past the end, for a
        // model whose known objects were removed) go at the end.
        let end = known;
        for e in self.extra.iter().filter(|e| e.position >= end) {
            f(ClassNum(e.class_num), e)?;
        }
        Ok(())
    }

    /// The number of bytes [`Message::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        let mut len = HEADER_LEN;
        // The closure never fails, so neither does the walk.
        let _ = self.visit(&mut |_, o| {
            len += OBJECT_HEADER_LEN + o.body_len();
            Ok(())
        });
        len
    }

    /// Checks what the types cannot: the flow descriptor rules of the
    /// message type, 4-bit flags, 16-bit lengths, bodies in whole words.
    pub fn check(&self) -> Result<(), Error> {
        let message = self.msg_type();
        let invalid = |reason| Error::InvalidModel { message, reason };
        if self.flags > 0x0f {
            return Err(invalid("the header flags are 4 bits"));
        }
        let flows = match &self.body {
            Body::Resv(m) => Some(&m.flows),
            Body::ResvErr(m) => Some(&m.flows),
            Body::ResvTear(m) => Some(&m.flows),
            Body::ResvConf(m) => Some(&m.flows),
            _ => None,
        };
        if let Some(flows) = flows {
            check_flows(message, flows).map_err(invalid)?;
        }
        let mut total = HEADER_LEN;
        self.visit(&mut |class, o| {
            o.check().map_err(invalid)?;
            let len = OBJECT_HEADER_LEN + o.body_len();
            if len > usize::from(u16::MAX) {
                return Err(Error::TooLong {
                    what: class.name().unwrap_or("object"),
                    length: len,
                });
            }
            total += len;
            Ok(())
        })?;
        if total > usize::from(u16::MAX) {
            return Err(Error::TooLong {
                what: "message",
                length: total,
            });
        }
        Ok(())
    }

    /// Writes the message into the front of `buf`, which must hold
    /// [`Message::buffer_len`] bytes, and returns that length. The checksum
    /// is computed unless `zero_checksum` is set; a computed zero is written
    /// as 0xffff, since a zero field means no checksum.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.check()?;
        let len = self.buffer_len();
        let have = buf.len();
        let buf = buf
            .get_mut(..len)
            .ok_or(Error::BufferTooSmall { need: len, have })?;
        let mut w = Writer::new(buf);
        w.u8(0x10 | self.flags);
        w.u8(self.msg_type() as u8);
        w.u16(0);
        w.u8(self.send_ttl);
        w.u8(0);
        // `check` bounded the length by 65535.
        w.u16(len as u16);
        self.visit(&mut |class, o| {
            let start = w.pos();
            w.u16((OBJECT_HEADER_LEN + o.body_len()) as u16);
            w.u8(class.0);
            w.u8(o.c_type());
            o.emit_body(&mut w);
            debug_assert_eq!(w.pos() - start, OBJECT_HEADER_LEN + o.body_len());
            Ok(())
        })?;
        if !self.zero_checksum {
            // Zero is "not transmitted" (RFC 2205 §3.1.1); a computed zero
            // goes out as its other one's complement form, 0xffff.
            let sum = match crate::wire::internet_checksum(w.written()) {
                0 => 0xffff,
                sum => sum,
            };
            w.patch_u16(2, sum);
        }
        Ok(len)
    }

    /// Appends the message to `out` and returns its length.
    pub fn emit_vec(&self, out: &mut Vec<u8>) -> Result<usize, Error> {
        let start = out.len();
        out.resize(start + self.buffer_len(), 0);
        match self.emit(&mut out[start..]) {
            Ok(n) => Ok(n),
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// The message's bytes in a new vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.emit_vec(&mut out)?;
        Ok(out)
    }
}
