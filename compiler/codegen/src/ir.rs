//! The pipeline intermediate representation.
//!
//! A [`Program`] describes one P4 pipeline in target-neutral terms: header
//! types and instances, the parser, the controls as structured statements,
//! actions, tables and externs. The P4 renderer ([`crate::p4`]) prints it as
//! P4_16 source and the BMv2 renderer ([`crate::bmv2`]) lowers it to BMv2 JSON;
//! because both read the same value they cannot disagree about a table's keys,
//! an action's parameters or a meter's size.
//!
//! Entities refer to each other by index ([`HeaderId`], [`TableId`], ...)
//! into the vectors of [`Program`]; [`Program::validate`] checks every index
//! and every width once, so renderers may index without further checks.

use std::fmt;

/// Index into [`Program::headers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeaderId(pub usize);
/// Index into [`Program::actions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionId(pub usize);
/// Index into [`Program::tables`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId(pub usize);
/// Index into [`Program::meters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MeterId(pub usize);
/// Index into [`Program::counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterId(pub usize);

/// A whole pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Named constants, printed as `const` declarations in P4 and inlined in
    /// BMv2 JSON.
    pub consts: Vec<Const>,
    pub header_types: Vec<HeaderType>,
    pub headers: Vec<Header>,
    /// Fields of the user metadata struct (`meta` in P4).
    pub meta: Vec<FieldDecl>,
    pub parser: Vec<ParserState>,
    /// Headers in the order the deparser emits them.
    pub deparser: Vec<HeaderId>,
    pub checksums: Vec<Checksum>,
    pub actions: Vec<Action>,
    pub tables: Vec<Table>,
    pub meters: Vec<Meter>,
    pub counters: Vec<Counter>,
    pub ingress: Block,
    pub egress: Block,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    pub name: String,
    pub width: u32,
    /// The value, as v1model (BMv2) numbers it.
    pub value: u128,
    pub doc: String,
    /// Set when the constant names a meter colour: architectures number
    /// colours differently (BMv2 red is 2, Tofino red is 3), so each
    /// renderer prints its own number for it.
    pub color: Option<MeterColor>,
}

/// A colour a meter gives a packet (RFC 2698).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeterColor {
    Green,
    Yellow,
    Red,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub name: String,
    pub width: u32,
    /// One line saying why the field exists; printed as a P4 comment.
    pub doc: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeaderType {
    pub name: String,
    pub fields: Vec<FieldDecl>,
    /// `Some("packet_in")` for a `@controller_header("packet_in")` header.
    pub controller_header: Option<String>,
    pub doc: String,
}

impl HeaderType {
    /// Total width in bits.
    pub fn width(&self) -> u32 {
        self.fields.iter().map(|f| f.width).sum()
    }
}

/// A header instance (a member of the `headers_t` struct).
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub name: String,
    pub ty: usize,
}

/// The fields of v1model's `standard_metadata_t` the pipeline uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StdField {
    IngressPort,
    EgressSpec,
    EgressPort,
    PacketLength,
    ChecksumError,
    ParserError,
}

impl StdField {
    pub fn name(self) -> &'static str {
        match self {
            StdField::IngressPort => "ingress_port",
            StdField::EgressSpec => "egress_spec",
            StdField::EgressPort => "egress_port",
            StdField::PacketLength => "packet_length",
            StdField::ChecksumError => "checksum_error",
            StdField::ParserError => "parser_error",
        }
    }

    pub fn width(self) -> u32 {
        match self {
            StdField::IngressPort | StdField::EgressSpec | StdField::EgressPort => 9,
            StdField::PacketLength | StdField::ParserError => 32,
            StdField::ChecksumError => 1,
        }
    }
}

/// The parser errors of P4's core library, with the codes p4c gives them in
/// BMv2 JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParserErrorCode {
    NoError,
    PacketTooShort,
    NoMatch,
    StackOutOfBounds,
    HeaderTooShort,
    ParserTimeout,
    ParserInvalidArgument,
}

impl ParserErrorCode {
    pub const ALL: [ParserErrorCode; 7] = [
        ParserErrorCode::NoError,
        ParserErrorCode::PacketTooShort,
        ParserErrorCode::NoMatch,
        ParserErrorCode::StackOutOfBounds,
        ParserErrorCode::HeaderTooShort,
        ParserErrorCode::ParserTimeout,
        ParserErrorCode::ParserInvalidArgument,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ParserErrorCode::NoError => "NoError",
            ParserErrorCode::PacketTooShort => "PacketTooShort",
            ParserErrorCode::NoMatch => "NoMatch",
            ParserErrorCode::StackOutOfBounds => "StackOutOfBounds",
            ParserErrorCode::HeaderTooShort => "HeaderTooShort",
            ParserErrorCode::ParserTimeout => "ParserTimeout",
            ParserErrorCode::ParserInvalidArgument => "ParserInvalidArgument",
        }
    }

    pub fn code(self) -> u32 {
        self as u32
    }
}

/// A reference to a field that can be read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldRef {
    /// A field of a header instance: (header, field index in its type).
    Hdr(HeaderId, usize),
    /// A field of the user metadata: index into [`Program::meta`].
    Meta(usize),
    Std(StdField),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    BitAnd,
    Eq,
    Ne,
    Le,
    Gt,
    And,
    Or,
}

impl BinOp {
    /// The operator as both P4 and BMv2 JSON spell it.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::BitAnd => "&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }

    /// Whether the result is a boolean rather than a bit string.
    pub fn is_bool(self) -> bool {
        !matches!(self, BinOp::Add | BinOp::Sub | BinOp::BitAnd)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Field(FieldRef),
    /// A sized literal.
    Int {
        value: u128,
        width: u32,
    },
    /// A named constant: index into [`Program::consts`].
    Const(usize),
    /// A parameter of the enclosing action.
    Param(usize),
    /// `hdr.x.isValid()`.
    Valid(HeaderId),
    Bool(bool),
    /// A member of P4's `error` type, e.g. `NoError`; compared with
    /// `standard_metadata.parser_error`.
    Error(ParserErrorCode),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

impl Expr {
    pub fn field(f: FieldRef) -> Expr {
        Expr::Field(f)
    }
    pub fn int(value: u128, width: u32) -> Expr {
        Expr::Int { value, width }
    }
    pub fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
        Expr::Bin(op, Box::new(a), Box::new(b))
    }
    pub fn eq(a: Expr, b: Expr) -> Expr {
        Expr::bin(BinOp::Eq, a, b)
    }
    #[allow(clippy::should_implement_trait)]
    pub fn not(a: Expr) -> Expr {
        Expr::Not(Box::new(a))
    }
}

/// One step of an action or of a statement block.
#[derive(Debug, Clone, PartialEq)]
pub enum Prim {
    Assign(FieldRef, Expr),
    SetValid(HeaderId),
    SetInvalid(HeaderId),
    /// v1model `mark_to_drop(standard_metadata)`.
    MarkToDrop,
    Count {
        counter: CounterId,
        index: Expr,
    },
    /// Executes an indirect meter and stores the colour.
    ExecuteMeter {
        meter: MeterId,
        index: Expr,
        dst: FieldRef,
    },
    /// Reads the colour of the table's direct meter for the matched entry.
    ReadDirectMeter {
        meter: MeterId,
        dst: FieldRef,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub name: String,
    pub params: Vec<FieldDecl>,
    pub body: Vec<Prim>,
    pub doc: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    Exact,
    Lpm,
    Ternary,
}

impl MatchKind {
    pub fn name(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Lpm => "lpm",
            MatchKind::Ternary => "ternary",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub field: FieldRef,
    pub kind: MatchKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    pub keys: Vec<Key>,
    pub actions: Vec<ActionId>,
    /// The default action and its constant arguments.
    pub default_action: (ActionId, Vec<u128>),
    /// Whether the control plane may change the default action.
    pub default_const: bool,
    pub size: u32,
    /// A direct meter bound to this table.
    pub direct_meter: Option<MeterId>,
    pub doc: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterUnit {
    Bytes,
    Packets,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    pub name: String,
    pub unit: MeterUnit,
    /// Number of cells; ignored for a direct meter (it has one per entry).
    pub size: u32,
    /// The table a direct meter is bound to.
    pub direct: Option<TableId>,
    pub doc: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Counter {
    pub name: String,
    pub size: u32,
    /// Names of the cells, printed as constants and documented.
    pub cells: Vec<(String, String)>,
    pub doc: String,
}

/// A parser state: extract some headers, set some fields, then select.
#[derive(Debug, Clone, PartialEq)]
pub struct ParserState {
    pub name: String,
    pub extracts: Vec<HeaderId>,
    pub sets: Vec<(FieldRef, Expr)>,
    pub select: Vec<FieldRef>,
    /// (values, one per select field, next state); empty when unconditional.
    pub cases: Vec<(Vec<u128>, Next)>,
    pub default: Next,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Accept,
    State(String),
}

/// A checksum the deparser updates, or the parser verifies, over a list of
/// fields (optionally followed by the payload).
#[derive(Debug, Clone, PartialEq)]
pub struct Checksum {
    pub name: String,
    pub verify: bool,
    pub cond: Expr,
    pub inputs: Vec<ChecksumInput>,
    pub with_payload: bool,
    pub target: FieldRef,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChecksumInput {
    Field(FieldRef),
    Int { value: u128, width: u32 },
}

pub type Block = Vec<Stmt>;

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Apply(TableId),
    /// `if (t.apply().hit) { hit } else { miss }`.
    ApplyHit {
        table: TableId,
        hit: Block,
        miss: Block,
    },
    If {
        cond: Expr,
        then: Block,
        els: Block,
    },
    /// A direct call of an action with constant arguments.
    Call {
        action: ActionId,
        args: Vec<u128>,
    },
    Do(Vec<Prim>),
}

/// An inconsistency inside a [`Program`]: a bug in the builder, never user input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrError(pub String);

impl fmt::Display for IrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Program {
    pub fn header_type(&self, h: HeaderId) -> &HeaderType {
        &self.header_types[self.headers[h.0].ty]
    }

    /// The width of a field.
    pub fn field_width(&self, f: FieldRef) -> u32 {
        match f {
            FieldRef::Hdr(h, i) => self.header_type(h).fields[i].width,
            FieldRef::Meta(i) => self.meta[i].width,
            FieldRef::Std(s) => s.width(),
        }
    }

    /// The width of a bit-string expression (`None` for booleans).
    pub fn expr_width(&self, e: &Expr, params: &[FieldDecl]) -> Option<u32> {
        match e {
            Expr::Field(f) => Some(self.field_width(*f)),
            Expr::Int { width, .. } => Some(*width),
            Expr::Const(c) => Some(self.consts[*c].width),
            Expr::Param(p) => params.get(*p).map(|d| d.width),
            Expr::Valid(_) | Expr::Bool(_) | Expr::Not(_) => None,
            Expr::Error(_) => Some(32),
            Expr::Bin(op, a, b) => {
                if op.is_bool() {
                    None
                } else {
                    let (wa, wb) = (self.expr_width(a, params)?, self.expr_width(b, params)?);
                    Some(wa.max(wb))
                }
            }
        }
    }

    pub fn table_id(&self, name: &str) -> Option<TableId> {
        self.tables.iter().position(|t| t.name == name).map(TableId)
    }

    /// Checks every index and width in the program. The renderers rely on it.
    pub fn validate(&self) -> Result<(), IrError> {
        let err = |m: String| Err(IrError(m));
        for h in &self.headers {
            if h.ty >= self.header_types.len() {
                return err(format!("header {} has no type", h.name));
            }
        }
        for ht in &self.header_types {
            if ht.width() % 8 != 0 {
                return err(format!(
                    "header type {} is {} bits, not whole bytes",
                    ht.name,
                    ht.width()
                ));
            }
        }
        let check_field = |f: &FieldRef| -> Result<(), IrError> {
            match *f {
                FieldRef::Hdr(h, i)
                    if h.0 >= self.headers.len() || i >= self.header_type(h).fields.len() =>
                {
                    return Err(IrError(format!("bad field reference {f:?}")));
                }
                FieldRef::Meta(i) if i >= self.meta.len() => {
                    return Err(IrError(format!("bad metadata reference {i}")));
                }
                _ => {}
            }
            Ok(())
        };
        fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
            out.push(e);
            match e {
                Expr::Bin(_, a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::Not(a) => walk(a, out),
                _ => {}
            }
        }
        let check_expr = |e: &Expr, params: &[FieldDecl]| -> Result<(), IrError> {
            let mut all = Vec::new();
            walk(e, &mut all);
            for x in all {
                match x {
                    Expr::Field(f) => check_field(f)?,
                    Expr::Const(c) if *c >= self.consts.len() => {
                        return Err(IrError(format!("bad constant {c}")))
                    }
                    Expr::Param(p) if *p >= params.len() => {
                        return Err(IrError(format!("bad parameter {p}")))
                    }
                    Expr::Valid(h) if h.0 >= self.headers.len() => {
                        return Err(IrError(format!("bad header {h:?}")))
                    }
                    Expr::Int { value, width } if *width < 128 && *value >> *width != 0 => {
                        return Err(IrError(format!(
                            "literal {value} does not fit {width} bits"
                        )))
                    }
                    _ => {}
                }
            }
            Ok(())
        };
        let check_prim = |p: &Prim, params: &[FieldDecl]| -> Result<(), IrError> {
            match p {
                Prim::Assign(f, e) => {
                    check_field(f)?;
                    check_expr(e, params)?;
                    if self.expr_width(e, params).is_none() {
                        return Err(IrError(format!("assigning a boolean to {f:?}")));
                    }
                }
                Prim::SetValid(h) | Prim::SetInvalid(h) if h.0 >= self.headers.len() => {
                    return Err(IrError(format!("bad header {h:?}")))
                }
                Prim::Count { counter, index } => {
                    if counter.0 >= self.counters.len() {
                        return Err(IrError(format!("bad counter {counter:?}")));
                    }
                    check_expr(index, params)?;
                }
                Prim::ExecuteMeter { meter, index, dst } => {
                    let m = self
                        .meters
                        .get(meter.0)
                        .ok_or_else(|| IrError(format!("bad meter {meter:?}")))?;
                    if m.direct.is_some() {
                        return Err(IrError(format!("meter {} is direct", m.name)));
                    }
                    check_expr(index, params)?;
                    check_field(dst)?;
                }
                Prim::ReadDirectMeter { meter, dst } => {
                    let m = self
                        .meters
                        .get(meter.0)
                        .ok_or_else(|| IrError(format!("bad meter {meter:?}")))?;
                    if m.direct.is_none() {
                        return Err(IrError(format!("meter {} is not direct", m.name)));
                    }
                    check_field(dst)?;
                }
                _ => {}
            }
            Ok(())
        };
        for a in &self.actions {
            for p in &a.body {
                check_prim(p, &a.params)?;
            }
        }
        for t in &self.tables {
            for k in &t.keys {
                check_field(&k.field)?;
            }
            if t.actions.iter().any(|a| a.0 >= self.actions.len()) {
                return err(format!("table {} names a missing action", t.name));
            }
            let (def, args) = &t.default_action;
            if !t.actions.contains(def) {
                return err(format!(
                    "table {}: default action is not one of its actions",
                    t.name
                ));
            }
            if self.actions[def.0].params.len() != args.len() {
                return err(format!(
                    "table {}: default action arguments do not match",
                    t.name
                ));
            }
            if let Some(m) = t.direct_meter {
                if self
                    .meters
                    .get(m.0)
                    .and_then(|m| m.direct)
                    .map(|d| &self.tables[d.0].name)
                    != Some(&t.name)
                {
                    return err(format!("table {}: direct meter not bound to it", t.name));
                }
            }
        }
        for s in &self.parser {
            for (f, e) in &s.sets {
                check_field(f)?;
                check_expr(e, &[])?;
            }
            for f in &s.select {
                check_field(f)?;
            }
            for (vals, next) in &s.cases {
                if vals.len() != s.select.len() {
                    return err(format!("parser state {}: case arity", s.name));
                }
                if let Next::State(n) = next {
                    if !self.parser.iter().any(|p| &p.name == n) {
                        return err(format!("parser state {}: no state {n}", s.name));
                    }
                }
            }
        }
        for c in &self.checksums {
            check_expr(&c.cond, &[])?;
            check_field(&c.target)?;
        }
        let mut stack: Vec<&Stmt> = self.ingress.iter().chain(self.egress.iter()).collect();
        let mut applied = std::collections::BTreeSet::new();
        while let Some(s) = stack.pop() {
            match s {
                Stmt::Apply(t) | Stmt::ApplyHit { table: t, .. } => {
                    if t.0 >= self.tables.len() {
                        return err(format!("applying missing table {t:?}"));
                    }
                    if !applied.insert(*t) {
                        return err(format!("table {} applied twice", self.tables[t.0].name));
                    }
                    if let Stmt::ApplyHit { hit, miss, .. } = s {
                        stack.extend(hit.iter().chain(miss.iter()));
                    }
                }
                Stmt::If { cond, then, els } => {
                    check_expr(cond, &[])?;
                    if self.expr_width(cond, &[]).is_some() {
                        return err("an if condition is not boolean".into());
                    }
                    stack.extend(then.iter().chain(els.iter()));
                }
                Stmt::Call { action, args } => {
                    let a = self
                        .actions
                        .get(action.0)
                        .ok_or_else(|| IrError(format!("bad action {action:?}")))?;
                    if a.params.len() != args.len() {
                        return err(format!("call of {} with {} arguments", a.name, args.len()));
                    }
                }
                Stmt::Do(prims) => {
                    for p in prims {
                        check_prim(p, &[])?;
                    }
                }
            }
        }
        Ok(())
    }
}
