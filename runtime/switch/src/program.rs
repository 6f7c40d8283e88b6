//! The executable form of a BMv2 JSON program, and its compilation.
//!
//! Every name in the JSON is resolved here, once: fields become indices
//! into the packet's field array, headers, tables, actions, meters,
//! counters, registers and calculations become indices into vectors. A
//! construct the executor does not implement is refused with the JSON path
//! of the object that uses it.

use crate::bits::{self, hexstr};
use crate::error::{refused, Error};
use crate::hash::Algo;
use crate::meter::MeterUnit;
use fairshare_bmv2_json::{self as j, Bmv2Json, ExprValue, Operand, ParserParam};
use serde_json::Value;
use std::collections::HashMap;

pub(crate) type Hid = u32;
pub(crate) type Fid = u32;

#[derive(Debug, Clone)]
pub(crate) struct HeaderInfo {
    pub name: String,
    pub first_field: Fid,
    pub n_fields: u32,
    pub metadata: bool,
    /// Total width in bits (a whole number of bytes for packet headers).
    pub bits: u32,
    /// The stack this header is an element of.
    pub stack: Option<u32>,
    /// The header union this header is a member of: making it valid makes
    /// the other members invalid.
    pub union: Option<u32>,
    /// The header's type, by index in `header_types` (assignments between
    /// headers chosen at run time check it at load).
    pub htype: u32,
    /// The variable-length field, if the header type has one.
    pub varbit: Option<VarbitInfo>,
    /// How to read the fields out of the header's bytes, for packet
    /// headers of at most [`PLAN_MAX_BYTES`] bytes without wide fields;
    /// empty otherwise (the fields are then read one by one).
    pub plan: Vec<ExtractField>,
    /// Every field of `plan` is read through an 8-byte window.
    pub plan_narrow: bool,
}

/// The variable-length (`varbit`) field of a header. Its value is kept as
/// bytes, right-aligned in a buffer of `max_bits / 8` bytes with zeros
/// before it, and its current length per packet; the fields after it in
/// the header move by that length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VarbitInfo {
    /// The longest value: the header type's `max_length` (bytes) less its
    /// fixed fields.
    pub max_bits: u32,
}

/// The longest header extracted through an [`ExtractField`] plan.
pub(crate) const PLAN_MAX_BYTES: usize = 64;

/// The most fields (of all header instances, metadata included) a program
/// may have: a header vector holds a value for every field id below this,
/// so that a field id cut to 16 bits indexes it without a bounds check
/// on the hot path (see [`crate::exec::fx`]).
pub(crate) const MAX_FIELDS: usize = 1 << 16;

/// The most header instances a program may have, for the same reason as
/// [`MAX_FIELDS`] (see [`crate::exec::hx`]).
pub(crate) const MAX_HEADERS: usize = 1 << 16;

/// One field of a header extraction plan: the field is the bits of the
/// big-endian window starting at byte `byte` of the header, shifted right
/// by `shift` and masked. The window is 8 bytes when `narrow`, else 16.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExtractField {
    pub fid: Fid,
    pub byte: u32,
    pub shift: u32,
    pub narrow: bool,
    pub mask: u128,
}

/// Builds the extraction plan of a header (see [`HeaderInfo::plan`]).
fn extract_plan(fields: &[FieldInfo], first: Fid, bits: u32, metadata: bool) -> Vec<ExtractField> {
    if metadata || bits as usize > PLAN_MAX_BYTES * 8 || fields.iter().any(|f| f.width > 128) {
        return vec![];
    }
    let mut plan = vec![];
    for (i, f) in fields.iter().enumerate() {
        let skip = f.bit_off % 8;
        if skip + f.width > 128 {
            return vec![];
        }
        let narrow = skip + f.width <= 64;
        plan.push(ExtractField {
            fid: first + i as u32,
            byte: f.bit_off / 8,
            shift: if narrow { 64 } else { 128 } - skip - f.width,
            narrow,
            mask: bits::mask(f.width),
        });
    }
    plan
}

#[derive(Debug, Clone)]
pub(crate) struct FieldInfo {
    /// `header.field`.
    pub name: String,
    /// The field's own name (which may contain dots, as in p4c's `scalars`).
    pub short: String,
    pub header: Hid,
    pub width: u32,
    pub signed: bool,
    /// Offset of the field from the start of its header, in bits.
    pub bit_off: u32,
    /// For a field over 128 bits: its slot among the wide fields, which
    /// are kept as bytes and can only be extracted, emitted and copied
    /// with their header (and read as hash and checksum inputs). A
    /// variable-length field is kept the same way, in a buffer of its
    /// maximum length.
    pub wide: Option<u32>,
    /// The header's variable-length field.
    pub varbit: bool,
    /// The field comes after the header's variable-length field: its
    /// offset grows by that field's current length.
    pub after_varbit: bool,
}

/// What writing a field needs, kept apart from [`FieldInfo`] so that the
/// hot path reads 32 bytes per field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldHot {
    /// All ones in the field's width.
    pub mask: u128,
    pub header: Hid,
    /// The field's bit in its header's dirty set (zero past the 64th
    /// field: such headers are always emitted field by field).
    pub dirty_bit: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct StackInfo {
    pub headers: Vec<Hid>,
}

/// A header union: its member headers, in the order of the union type.
#[derive(Debug, Clone)]
pub(crate) struct UnionInfo {
    pub name: String,
    pub headers: Vec<Hid>,
}

/// A stack of header unions, by union index.
#[derive(Debug, Clone)]
pub(crate) struct UnionStackInfo {
    pub unions: Vec<u32>,
}

/// A header chosen at run time.
#[derive(Debug, Clone)]
pub(crate) enum HdrRef {
    Fixed(Hid),
    /// Element `index` of a header stack (`dereference_header_stack`);
    /// nothing when the index is out of range.
    StackElem {
        stack: u32,
        index: Box<Expr>,
    },
    /// Member `member` of a union (`access_union_header`).
    UnionMember {
        un: Box<UnionRef>,
        member: u32,
    },
    /// `cond ? a : b` on headers of one type.
    Cond(Box<Expr>, Box<HdrRef>, Box<HdrRef>),
}

/// A header union chosen at run time.
#[derive(Debug, Clone)]
pub(crate) enum UnionRef {
    Fixed(u32),
    /// Element `index` of a union stack (`dereference_union_stack`).
    StackElem {
        stack: u32,
        index: Box<Expr>,
    },
    /// The last extracted element of a union stack (parser select keys).
    StackLast(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnOp {
    /// Logical not.
    Not,
    BitNot,
    /// Data to boolean: non-zero.
    D2b,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Shl,
    Shr,
    /// Arithmetic shift right (a signed left operand).
    ShrS,
    And,
    Or,
    Xor,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LtS,
    LeS,
    GtS,
    GeS,
    LAnd,
    LOr,
}

/// An expression. Values are 128-bit two's complement numbers: BMv2
/// computes on unbounded integers and p4c masks every result that must
/// wrap, so arithmetic modulo 2^128 gives BMv2's results for operands up to
/// 127 bits. Booleans are 0 and 1.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Const(u128),
    /// An unsigned field of 64 bits or fewer.
    Field(Fid),
    /// An unsigned field of 65 to 128 bits.
    Field128(Fid),
    /// A signed field of the given width, sign-extended.
    FieldS(Fid, u32),
    Valid(Hid),
    Param(u32),
    /// A field of the last extracted element of a stack.
    StackLast {
        stack: u32,
        field: u32,
    },
    Un(UnOp, Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `Bin(op, Field(f), Const(c))`, in one node (never `LAnd`/`LOr`).
    FieldOp(BinOp, Fid, u128),
    /// `Valid(h) && FieldOp(op, f, c)`, in one node (p4c's checksum
    /// conditions: `hdr.isValid() && hdr.ihl == 5`).
    ValidAnd(Hid, BinOp, Fid, u128),
    /// `FieldOp(op, f, c) & m`, in one node (p4c's wrapping arithmetic:
    /// `(ttl - 1) & 0xff`).
    FieldOpMask(BinOp, Fid, u128, u128),
    /// `!Valid(h)`.
    NotValid(Hid),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Wraps to `width` bits and reads the result as signed.
    TwoCompMod(Box<Expr>, u32),
    /// Saturates to the range of an unsigned (`signed == false`) or signed
    /// integer of `width` bits.
    Sat {
        e: Box<Expr>,
        width: u32,
        signed: bool,
    },
    /// Field number `field` of a header chosen at run time; 0 when no
    /// header is chosen (index out of range). `signed` is the width of a
    /// signed field, for sign extension.
    RefField {
        hdr: Box<HdrRef>,
        field: u32,
        signed: Option<u32>,
    },
    /// Validity of a header chosen at run time (false when none is).
    RefValid(Box<HdrRef>),
    /// Whether a member of the union is valid (`valid_union`).
    UnionValid(Box<UnionRef>),
    /// The number of extracted elements of a header stack (`size_stack`).
    StackSize(u32),
    /// That number less one (`last_stack_index`), wrapping as BMv2's
    /// unsigned index does.
    StackLastIndex(u32),
    /// `==` (or `!=` when `eq` is false) on two variable-length fields:
    /// their values as numbers, as BMv2 compares them.
    VarbitCmp {
        a: Fid,
        b: Fid,
        eq: bool,
    },
}

#[cfg(test)]
thread_local! {
    /// Compile expressions as trees, without [`simplify`]: the general
    /// path, for tests to compare with.
    pub(crate) static UNSIMPLIFIED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Rewrites the shapes p4c emits most into single nodes: `d2b(valid)` is
/// `valid`, and a binary operation of an unsigned field and a constant
/// (`ttl <= 1`, `ttl - 1`) is one [`Expr::FieldOp`], and a header's
/// validity and-ed with one of those is one [`Expr::ValidAnd`], one of
/// those masked with a constant is one [`Expr::FieldOpMask`], and `not`
/// of a validity is one [`Expr::NotValid`].
pub(crate) fn simplify(e: Expr) -> Expr {
    match e {
        Expr::Un(UnOp::D2b, inner) if matches!(*inner, Expr::Valid(_)) => *inner,
        Expr::Un(UnOp::Not, inner) if matches!(*inner, Expr::Valid(_)) => match *inner {
            Expr::Valid(h) => Expr::NotValid(h),
            inner => Expr::Un(UnOp::Not, Box::new(inner)),
        },
        Expr::Bin(BinOp::And, a, b)
            if matches!((&*a, &*b), (Expr::FieldOp(..), Expr::Const(_))) =>
        {
            match (*a, *b) {
                (Expr::FieldOp(op, f, c), Expr::Const(m)) => Expr::FieldOpMask(op, f, c, m),
                (a, b) => Expr::Bin(BinOp::And, Box::new(a), Box::new(b)),
            }
        }
        Expr::Bin(BinOp::LAnd, a, b)
            if matches!((&*a, &*b), (Expr::Valid(_), Expr::FieldOp(..))) =>
        {
            match (*a, *b) {
                (Expr::Valid(h), Expr::FieldOp(op, f, c)) => Expr::ValidAnd(h, op, f, c),
                (a, b) => Expr::Bin(BinOp::LAnd, Box::new(a), Box::new(b)),
            }
        }
        Expr::Bin(op, a, b) if !matches!(op, BinOp::LAnd | BinOp::LOr) => match (*a, *b) {
            (Expr::Field(f), Expr::Const(c)) => Expr::FieldOp(op, f, c),
            (a, b) => Expr::Bin(op, Box::new(a), Box::new(b)),
        },
        e => e,
    }
}

impl Expr {
    pub(crate) fn signed(&self) -> bool {
        match self {
            Expr::FieldS(..) | Expr::TwoCompMod(..) => true,
            Expr::RefField { signed, .. } => signed.is_some(),
            Expr::Sat { signed, .. } => *signed,
            Expr::Un(UnOp::BitNot | UnOp::Neg, e) => e.signed(),
            Expr::Bin(op, a, b) => match op {
                BinOp::Add
                | BinOp::Sub
                | BinOp::Mul
                | BinOp::Div
                | BinOp::Mod
                | BinOp::And
                | BinOp::Or
                | BinOp::Xor => a.signed() || b.signed(),
                BinOp::Shl | BinOp::Shr | BinOp::ShrS => a.signed(),
                _ => false,
            },
            Expr::Cond(_, a, b) => a.signed() || b.signed(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Prim {
    Assign(Fid, Expr),
    AssignHeader {
        dst: Hid,
        src: Hid,
    },
    AddHeader(Hid),
    RemoveHeader(Hid),
    MarkToDrop,
    Exit,
    /// A primitive that does nothing (`resubmit` or `recirculate` of field
    /// list 0, which simple_switch takes as no request).
    Nothing,
    ExecuteMeter {
        meter: u32,
        index: Expr,
        dst: Fid,
    },
    Count {
        counter: u32,
        index: Expr,
    },
    RegisterRead {
        dst: Fid,
        register: u32,
        index: Expr,
    },
    RegisterWrite {
        register: u32,
        index: Expr,
        value: Expr,
    },
    HashOffset {
        dst: Fid,
        base: Expr,
        calc: u32,
        size: Expr,
    },
    Push {
        stack: u32,
        count: u32,
    },
    Pop {
        stack: u32,
        count: u32,
    },
    Truncate(Expr),
    Log(String),
    Assert(Expr),
    /// `assign` to a field of a header chosen at run time.
    AssignRef {
        hdr: HdrRef,
        field: u32,
        value: Expr,
    },
    /// `assign_header` where either side is chosen at run time.
    AssignHeaderRef {
        dst: HdrRef,
        src: HdrRef,
    },
    AddHeaderRef(HdrRef),
    RemoveHeaderRef(HdrRef),
    /// `assign_union`: member by member, as `assign_header`.
    AssignUnion {
        dst: UnionRef,
        src: UnionRef,
    },
    /// `assign_header_stack`: element by element, and the next index.
    AssignStack {
        dst: u32,
        src: u32,
    },
    /// `assign_union_stack`: union by union, and the next index.
    AssignUnionStack {
        dst: u32,
        src: u32,
    },
    PushUnion {
        stack: u32,
        count: u32,
    },
    PopUnion {
        stack: u32,
        count: u32,
    },
    /// `assign_VL`: copies a variable-length field with its length.
    AssignVl {
        dst: Fid,
        src: Fid,
    },
    /// `clone_ingress_pkt_to_egress` and `clone_egress_pkt_to_egress`
    /// alike: both record the session and the field list (an index into
    /// [`Program::field_lists`]); where the packet is when its pipeline
    /// ends decides the kind of clone, as in `simple_switch`.
    Clone {
        session: Expr,
        field_list: u16,
    },
    Resubmit(u16),
    Recirculate(u16),
}

#[derive(Debug, Clone)]
pub(crate) struct ActionInfo {
    pub name: String,
    pub params: Vec<(String, u32)>,
    pub prims: Vec<Prim>,
    /// `prims` as they are run (see [`ActOp`]), laid out at load.
    pub ops: Vec<ActOp>,
}

/// One step of an action: an assignment of a parameter, a constant, or a
/// field plus or minus a constant to a field of 64 bits or fewer carries
/// what writing the field needs (its mask, its header and its bit in the
/// header's dirty set); any other primitive is run from
/// [`ActionInfo::prims`] by index.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ActOp {
    /// Only to fields of 64 bits or fewer, as `SetConst`.
    SetParam {
        fid: Fid,
        hdr: Hid,
        param: u32,
        bit: u64,
        mask: u64,
    },
    /// The constant is already cut to the field's width.
    SetConst {
        fid: Fid,
        hdr: Hid,
        bit: u64,
        value: u64,
    },
    /// `field = (src + add) & mask` (p4c's wrapping `+` and `-` on fields:
    /// `(ttl - 1) & 0xff`), every width 64 bits or fewer: in 64-bit
    /// arithmetic, a subtraction as the addition of the constant's
    /// negation. `mask` is the expression's mask and the field's at once.
    AddConst {
        fid: Fid,
        hdr: Hid,
        src: Fid,
        bit: u64,
        add: u64,
        mask: u64,
    },
    Prim(u32),
}

/// Lays out [`ActionInfo::ops`].
fn action_ops(prims: &[Prim], hot: &[FieldHot]) -> Vec<ActOp> {
    prims
        .iter()
        .enumerate()
        .map(|(i, prim)| match *prim {
            Prim::Assign(f, Expr::Param(param)) if hot[f as usize].mask >> 64 == 0 => {
                let h = &hot[f as usize];
                ActOp::SetParam {
                    fid: f,
                    hdr: h.header,
                    param,
                    bit: h.dirty_bit,
                    mask: h.mask as u64,
                }
            }
            Prim::Assign(f, Expr::Const(c)) if hot[f as usize].mask >> 64 == 0 => {
                let h = &hot[f as usize];
                ActOp::SetConst {
                    fid: f,
                    hdr: h.header,
                    bit: h.dirty_bit,
                    value: (c & h.mask) as u64,
                }
            }
            // Only the low 64 bits of a sum or a difference reach the
            // field's mask, of 64 bits or fewer.
            Prim::Assign(f, Expr::FieldOpMask(op @ (BinOp::Add | BinOp::Sub), src, c, m))
                if hot[f as usize].mask >> 64 == 0 =>
            {
                let h = &hot[f as usize];
                ActOp::AddConst {
                    fid: f,
                    hdr: h.header,
                    src,
                    bit: h.dirty_bit,
                    add: if op == BinOp::Sub {
                        (c as u64).wrapping_neg()
                    } else {
                        c as u64
                    },
                    mask: (m & h.mask) as u64,
                }
            }
            _ => ActOp::Prim(i as u32),
        })
        .collect()
}

#[derive(Debug, Clone)]
pub(crate) enum ParseOp {
    Extract(Hid),
    ExtractNext(u32),
    Set(Fid, Expr),
    SetLookahead { dst: Fid, off: u32, width: u32 },
    Verify(Expr, u32),
    Prim(Prim),
    Advance(Expr),
    ExtractTo(ExtractTo, Option<Expr>),
}

/// Where a parser extract goes, for the extracts [`ParseOp::Extract`] and
/// [`ParseOp::ExtractNext`] do not cover ([`ParseOp::ExtractTo`]): into the
/// next element of a union stack, or of a header with a variable-length
/// field, whose length in bits is the expression.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ExtractTo {
    Header(Hid),
    /// The next element of a header stack.
    Stack(u32),
    /// Member `member` of the next element of a union stack.
    UnionStack {
        stack: u32,
        member: u32,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum KeySrc {
    Expr(Expr),
    Lookahead { off: u32, width: u32 },
}

#[derive(Debug, Clone)]
pub(crate) struct Transition {
    /// One value per key part; empty for the default transition.
    pub value: Vec<u128>,
    pub mask: Option<Vec<u128>>,
    pub next: Option<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct ParseState {
    pub name: String,
    pub ops: Vec<ParseOp>,
    pub key: Vec<KeySrc>,
    pub transitions: Vec<Transition>,
    /// When the key parts are unsigned and fit in 128 bits side by side:
    /// the bits of each part, and the transitions as `(value, mask, next)`
    /// on the packed key (the default transition has a zero mask).
    pub packed: Option<PackedSelect>,
}

#[derive(Debug, Clone)]
pub(crate) struct PackedSelect {
    pub part_bits: Vec<u32>,
    pub transitions: Vec<(u128, u128, Option<u32>)>,
    /// When every part is a plain field and the parts add up to 64 bits
    /// or fewer: per part its field and where its bits go (the number of
    /// key bits after it), and `transitions` in 64 bits; the key is then
    /// packed in 64-bit arithmetic.
    #[allow(clippy::type_complexity)]
    pub fields64: Option<(Vec<(Fid, u32)>, Vec<(u64, u64, Option<u32>)>)>,
}

/// A node on a cycle of the controls' graph, if there is one (depth
/// first, iteratively: a long chain of nodes does not grow the stack).
fn control_cycle(tables: &[TableInfo], conds: &[CondInfo]) -> Option<Node> {
    let index = |n: Node| match n {
        Node::Table(t) => t as usize,
        Node::Cond(c) => tables.len() + c as usize,
    };
    let next = |n: Node| -> Vec<Node> {
        match n {
            Node::Table(t) => tables[t as usize]
                .next_dense
                .iter()
                .flat_map(|&(miss, hit)| [miss, hit])
                .flatten()
                .collect(),
            Node::Cond(c) => {
                let ci = &conds[c as usize];
                [ci.if_true, ci.if_false].into_iter().flatten().collect()
            }
        }
    };
    // 0: not seen; 1: on the current path; 2: done.
    let mut state = vec![0u8; tables.len() + conds.len()];
    let all = (0..tables.len() as u32)
        .map(Node::Table)
        .chain((0..conds.len() as u32).map(Node::Cond));
    for root in all {
        if state[index(root)] != 0 {
            continue;
        }
        state[index(root)] = 1;
        let mut stack = vec![(root, next(root), 0usize)];
        while let Some((n, succ, i)) = stack.last_mut() {
            match succ.get(*i).copied() {
                Some(m) => {
                    *i += 1;
                    match state[index(m)] {
                        1 => return Some(m),
                        0 => {
                            state[index(m)] = 1;
                            let succ = next(m);
                            stack.push((m, succ, 0));
                        }
                        _ => {}
                    }
                }
                None => {
                    state[index(*n)] = 2;
                    stack.pop();
                }
            }
        }
    }
    None
}

/// A parser state of the shape p4c gives fixed headers, run in one step
/// (see [`Program::fast_parse`]): extract a header (or none), copy fields
/// into fields, select on fields packed in 64 bits.
#[derive(Debug, Clone)]
pub(crate) struct FastState {
    /// The header extracted and its length in bytes.
    pub extract: Option<(Hid, u32)>,
    /// The extracted header's plan, when it has one, with what reading
    /// through it takes of the header, laid out here so that a state's
    /// step reads them without going through the header.
    pub planned: Option<FastExtract>,
    /// `(destination, source)` of each field copy, in order.
    pub copies: Vec<(Fid, Fid)>,
    /// The select's fields and where their bits go, as
    /// [`PackedSelect::fields64`] has them.
    pub fields: Vec<(Fid, u32)>,
    /// The transitions on the packed key, as [`PackedSelect::fields64`]
    /// has them.
    pub transitions: Vec<(u64, u64, Option<u32>)>,
}

/// The extraction of a header with a plan by a [`FastState`].
#[derive(Debug, Clone)]
pub(crate) struct FastExtract {
    pub plan: Vec<ExtractField>,
    /// [`HeaderInfo::plan_narrow`].
    pub narrow: bool,
    pub first_field: Fid,
    /// The header is a member of a union (extracting it invalidates the
    /// other members).
    pub in_union: bool,
}

/// Every parser state as a [`FastState`], or none when one of them has
/// another shape.
fn fast_parse(states: &[ParseState], headers: &[HeaderInfo]) -> Vec<FastState> {
    let fast = |s: &ParseState| -> Option<FastState> {
        let (fields, transitions) = s.packed.as_ref()?.fields64.clone()?;
        let mut ops = s.ops.as_slice();
        let extract = match ops.first() {
            Some(ParseOp::Extract(h)) => {
                ops = &ops[1..];
                Some((*h, headers.get(*h as usize)?.bits / 8))
            }
            _ => None,
        };
        let copies = ops
            .iter()
            .map(|op| match op {
                ParseOp::Set(d, Expr::Field(s) | Expr::Field128(s)) => Some((*d, *s)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let planned = extract.and_then(|(h, _)| {
            let hi = &headers[h as usize];
            (!hi.plan.is_empty()).then(|| FastExtract {
                plan: hi.plan.clone(),
                narrow: hi.plan_narrow,
                first_field: hi.first_field,
                in_union: hi.union.is_some(),
            })
        });
        Some(FastState {
            extract,
            planned,
            copies,
            fields,
            transitions,
        })
    };
    states
        .iter()
        .map(fast)
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default()
}

/// Packs a select's transitions (see [`ParseState::packed`]).
fn pack_select(
    key: &[KeySrc],
    part_bytes: &[usize],
    transitions: &[Transition],
) -> Option<PackedSelect> {
    let unsigned = key.iter().all(|k| {
        matches!(
            k,
            KeySrc::Lookahead { .. }
                | KeySrc::Expr(Expr::Field(_) | Expr::Field128(_) | Expr::Valid(_))
        )
    });
    if !unsigned || part_bytes.iter().sum::<usize>() > 16 {
        return None;
    }
    let part_bits: Vec<u32> = part_bytes.iter().map(|b| *b as u32 * 8).collect();
    let pack = |parts: &[u128]| {
        parts.iter().zip(&part_bits).fold(0u128, |acc, (v, w)| {
            acc.checked_shl(*w).unwrap_or(0) | (v & bits::mask(*w))
        })
    };
    let mut out = vec![];
    for t in transitions {
        if t.value.is_empty() {
            out.push((0, 0, t.next));
            continue;
        }
        if t.value.len() != part_bits.len() {
            return None;
        }
        let mask = match &t.mask {
            Some(m) => pack(m),
            None => pack(&vec![u128::MAX; part_bits.len()]),
        };
        out.push((pack(&t.value) & mask, mask, t.next));
    }
    // Plain fields of 64 bits or fewer in all: the same packing in 64 bits.
    let total: u32 = part_bits.iter().sum();
    let fields64 = if total <= 64 {
        let mut after = total;
        key.iter()
            .zip(&part_bits)
            .map(|(k, w)| {
                after -= w;
                match k {
                    KeySrc::Expr(Expr::Field(f)) => Some((*f, after)),
                    _ => None,
                }
            })
            .collect::<Option<Vec<_>>>()
            .map(|f| {
                let t = out
                    .iter()
                    .map(|&(v, m, n)| (v as u64, m as u64, n))
                    .collect();
                (f, t)
            })
    } else {
        None
    };
    Some(PackedSelect {
        part_bits,
        transitions: out,
        fields64,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Table(u32),
    Cond(u32),
}

/// A control node, or the control's end, in one number as the walk takes
/// it: a table's index, a condition's index with [`COND_REF`] set, or
/// [`END_REF`] (see [`node_ref`]).
pub(crate) type NodeRef = u32;
pub(crate) const COND_REF: NodeRef = 1 << 31;
pub(crate) const END_REF: NodeRef = COND_REF - 1;

/// A node as a [`NodeRef`] (a program with 2^31 - 1 tables or conditions
/// or more is refused at load).
pub(crate) fn node_ref(n: Option<Node>) -> NodeRef {
    match n {
        None => END_REF,
        Some(Node::Table(t)) => t,
        Some(Node::Cond(c)) => c | COND_REF,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    Exact,
    Lpm,
    Ternary,
    Range,
    Optional,
}

#[derive(Debug, Clone)]
pub(crate) struct KeyInfo {
    pub name: String,
    pub kind: MatchKind,
    /// The field the key reads, when `src` is a plain unsigned field of
    /// 64 bits or fewer.
    pub field: Option<Fid>,
    pub src: Expr,
    pub width: u32,
    /// The field's width and the key's mask together: what is looked up.
    pub key_mask: u128,
}

#[derive(Debug, Clone)]
pub(crate) struct ActionCall {
    pub action: u32,
    pub data: Vec<u128>,
}

/// A table entry given in the program (`const entries`).
#[derive(Debug, Clone)]
pub(crate) struct ConstEntry {
    pub keys: Vec<crate::table::KeyMatch>,
    pub call: ActionCall,
    pub priority: Option<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    pub name: String,
    pub keys: Vec<KeyInfo>,
    /// Actions the table may run, by action index.
    pub actions: Vec<u32>,
    /// The next node after each of `actions`.
    pub next_by_action: Vec<Option<Node>>,
    pub next_hit: Option<Option<Node>>,
    pub next_miss: Option<Option<Node>>,
    pub default: ActionCall,
    pub default_const: bool,
    pub entries: Vec<ConstEntry>,
    pub max_size: u32,
    pub with_counters: bool,
    /// The direct meter array and the field its colour is written to.
    pub direct_meter: Option<(u32, Fid)>,
    /// Per action of the program: the next node after a miss and after a
    /// hit that ran it.
    pub next_dense: Vec<(Option<Node>, Option<Node>)>,
    /// `next_dense` as [`NodeRef`]s.
    pub next_refs: Vec<(NodeRef, NodeRef)>,
    /// When every key is a plain field and the keys add up to 64 bits or
    /// fewer: per key, its field, where its bits go in the packed key
    /// (the number of key bits after it) and its mask. The packed key is
    /// then built in 64 bits (the same number as the 128-bit packing).
    pub key64: Option<Vec<(Fid, u32, u64)>>,
    /// The same for keys of plain fields (each of 64 bits or fewer) that
    /// add up to 65 to 128 bits: the packed key is built in 128 bits.
    pub key128: Option<Vec<(Fid, u32, u64)>>,
}

impl TableInfo {
    /// The node after the table, when it hit or missed and ran `action`
    /// (laid out at load from [`TableInfo::next_by_rule`]).
    #[inline(always)]
    pub(crate) fn next_ref(&self, hit: bool, action: u32) -> NodeRef {
        self.next_refs
            .get(action as usize)
            .map_or(END_REF, |n| if hit { n.1 } else { n.0 })
    }

    /// [`TableInfo::next_ref`] from `next_tables` as the JSON gives it.
    fn next_by_rule(&self, hit: bool, action: u32) -> Option<Node> {
        let special = if hit { self.next_hit } else { self.next_miss };
        if let Some(n) = special {
            return n;
        }
        self.actions
            .iter()
            .position(|a| *a == action)
            .and_then(|i| self.next_by_action[i])
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CondInfo {
    pub expr: Expr,
    /// `expr` as one test when it has a shape p4c emits most.
    pub test: Test,
    pub if_true: Option<Node>,
    pub if_false: Option<Node>,
    /// `if_true` and `if_false` as [`NodeRef`]s.
    pub t: NodeRef,
    pub f: NodeRef,
}

/// A condition of a shape p4c emits most, decided in one step with no
/// dispatch on its kind: an unsigned field of 64 bits or fewer compared
/// with a constant that fits in 64 bits (a field's value never has bits
/// above its width, so the comparison in 64 bits is the comparison of the
/// values), or a header's validity (as 0 or 1), tested for lying in a
/// range: `value - lo <= span` in wrapping arithmetic, the answer then
/// inverted when `invert` is set. `==` is the range `[c, c]`, `<=` is
/// `[0, c]`, and `!=`, `>`, `>=` are the inverses of `==`, `<=`, `<`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Test {
    pub on: TestOn,
    pub lo: u64,
    pub span: u64,
    pub invert: bool,
}

/// What a [`Test`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestOn {
    Field(Fid),
    Valid(Hid),
    /// Any other shape: the condition's expression is evaluated, its
    /// answer read as 0 or 1.
    Expr,
}

impl Test {
    pub(crate) fn of(e: &Expr, fields: &[FieldInfo]) -> Test {
        let narrow = |f: Fid, c: u128| {
            let c = u64::try_from(c).ok()?;
            (fields.get(f as usize)?.width <= 64).then_some((f, c))
        };
        // `v < c` as a range: `[0, c - 1]`, empty when `c` is 0 (the
        // inverse of the whole range).
        let below = |c: u64| match c.checked_sub(1) {
            Some(top) => (0, top, false),
            None => (0, u64::MAX, true),
        };
        let test = match *e {
            Expr::FieldOp(op, f, c) => narrow(f, c).and_then(|(f, c)| {
                let (lo, span, invert) = match op {
                    BinOp::Eq => (c, 0, false),
                    BinOp::Ne => (c, 0, true),
                    BinOp::Le => (0, c, false),
                    BinOp::Gt => (0, c, true),
                    BinOp::Lt => below(c),
                    BinOp::Ge => {
                        let (lo, span, invert) = below(c);
                        (lo, span, !invert)
                    }
                    _ => return None,
                };
                Some(Test {
                    on: TestOn::Field(f),
                    lo,
                    span,
                    invert,
                })
            }),
            Expr::Valid(h) => Some(Test {
                on: TestOn::Valid(h),
                lo: 1,
                span: 0,
                invert: false,
            }),
            Expr::NotValid(h) => Some(Test {
                on: TestOn::Valid(h),
                lo: 0,
                span: 0,
                invert: false,
            }),
            _ => None,
        };
        // An expression's answer is read as 0 or 1.
        test.unwrap_or(Test {
            on: TestOn::Expr,
            lo: 1,
            span: 0,
            invert: false,
        })
    }

    /// The test's answer for the value it reads.
    #[inline(always)]
    pub(crate) fn holds(&self, v: u64) -> bool {
        (v.wrapping_sub(self.lo) <= self.span) != self.invert
    }
}

#[derive(Debug, Clone)]
pub(crate) enum CalcInput {
    Field(Fid),
    /// A field held as bytes: over 128 bits, or variable-length (its
    /// current length).
    Bytes(Fid),
    Const(u128, u32),
    Payload,
}

#[derive(Debug, Clone)]
pub(crate) struct CalcInfo {
    pub algo: Algo,
    pub inputs: Vec<CalcInput>,
    /// For `csum16`: the sum laid out for the case where every header the
    /// inputs read is valid.
    pub csum: Option<CsumPlan>,
}

/// A `csum16` calculation with every input header valid: each field's
/// value enters the ones' complement sum shifted by a fixed amount (where
/// its last bit falls within a 16-bit word), constants are summed at load.
#[derive(Debug, Clone)]
pub(crate) struct CsumPlan {
    /// The headers the inputs read; the plan holds when all are valid.
    pub headers: Vec<Hid>,
    /// `(field, shift)`.
    pub terms: Vec<(Fid, u32)>,
    /// Every field is 32 bits or narrower: its value needs no folding.
    pub narrow: bool,
    /// The constants' part of the sum.
    pub konst: u64,
    /// The shift of the payload's own sum (0 or 8), when it is an input.
    pub payload: Option<u32>,
}

/// `v` modulo 2^32 - 1 (a multiple of 2^16 - 1), in at most 34 bits.
#[inline(always)]
pub(crate) fn fold32(v: u128) -> u64 {
    let (lo, hi) = (v as u64, (v >> 64) as u64);
    (lo & 0xffff_ffff) + (lo >> 32) + (hi & 0xffff_ffff) + (hi >> 32)
}

/// The most inputs a `csum16` calculation laid out at load has (see
/// [`CsumPlan`]); longer ones are summed input by input.
const MAX_PLANNED_INPUTS: usize = 4096;

/// Lays out a `csum16` calculation (see [`CsumPlan`]).
fn csum_plan(inputs: &[CalcInput], fields: &[FieldInfo]) -> CsumPlan {
    let mut plan = CsumPlan {
        headers: vec![],
        terms: vec![],
        narrow: true,
        konst: 0,
        payload: None,
    };
    let mut pos = 0usize;
    for input in inputs {
        match input {
            // Never given: calculations with such inputs have no plan.
            CalcInput::Bytes(_) => {}
            CalcInput::Field(f) => {
                let fi = &fields[*f as usize];
                pos += fi.width as usize;
                plan.terms.push((*f, ((16 - pos % 16) % 16) as u32));
                plan.narrow &= fi.width <= 32;
                if !plan.headers.contains(&fi.header) {
                    plan.headers.push(fi.header);
                }
            }
            CalcInput::Const(v, w) => {
                pos += *w as usize;
                plan.konst += fold32(*v & bits::mask(*w)) << ((16 - pos % 16) % 16);
            }
            CalcInput::Payload => {
                pos = pos.div_ceil(8) * 8;
                // Only the payload's position matters: what follows it
                // starts after a length known only per packet, so a
                // payload that is not last is left to the general path.
                plan.payload = Some(if pos % 16 == 8 { 8 } else { 0 });
            }
        }
    }
    plan
}

#[derive(Debug, Clone)]
pub(crate) struct ChecksumInfo {
    pub target: Fid,
    pub calc: u32,
    pub cond: Option<Expr>,
    /// `cond` when it is `isValid() && field op constant` with a test in
    /// one step on the field: the header, the field and the test.
    pub guard: Option<(Hid, Fid, Test)>,
    /// A verify checksum whose sum an update checksum takes on: the
    /// header its inputs are fields of and their dirty bits (see
    /// [`SumReuse`]).
    pub keep: Option<(Hid, u64)>,
    /// An update checksum that takes on a verify checksum's sum.
    pub reuse: Option<SumReuse>,
}

/// The verify checksums whose sums a packet keeps for the update
/// checksums: those below this index in [`Program::verify`].
pub(crate) const KEPT_SUMS: usize = 4;

/// An update checksum over the same inputs as a verify checksum, every
/// input a field of one header read through its extraction plan (p4c's
/// IPv4 header checksum, verified in the parser and updated after
/// egress). The verify checksum keeps its sum when the header is as it
/// was extracted; the update checksum then corrects that sum for the
/// fields written since (their old values are in the packet's bytes, where
/// the header was extracted from), instead of summing every field again.
#[derive(Debug, Clone)]
pub(crate) struct SumReuse {
    /// The verify checksum, by index in [`Program::verify`] (below
    /// [`KEPT_SUMS`]).
    pub verify: u32,
    pub header: Hid,
    /// The inputs' dirty bits.
    pub mask: u64,
    /// Each input by its field's place in the header (its dirty bit).
    pub inputs: Vec<ReusedInput>,
    /// The bytes past the header's start that reading every input's old
    /// value takes (through 8-byte windows).
    pub reach: u32,
}

/// An input of a [`SumReuse`]: its field, read out of the header's bytes
/// as its extraction plan reads it, and its shift in the sum.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReusedInput {
    pub fid: Fid,
    pub byte: u32,
    pub shift: u8,
    pub k: u8,
    pub mask: u32,
}

/// Links each update checksum to a verify checksum over the same inputs
/// whose sum it can take on (see [`SumReuse`]).
fn link_sum_reuse(
    verify: &mut [ChecksumInfo],
    update: &mut [ChecksumInfo],
    calcs: &[CalcInfo],
    headers: &[HeaderInfo],
) {
    // The header and the shifts by field place, for a calculation whose
    // sum can be corrected field by field.
    let shape = |calc: u32| -> Option<(&CsumPlan, Hid, u64, Vec<ReusedInput>)> {
        let plan = calcs.get(calc as usize)?.csum.as_ref()?;
        if !plan.narrow || plan.payload.is_some() || plan.headers.len() != 1 {
            return None;
        }
        let h = plan.headers[0];
        let hi = headers.get(h as usize)?;
        if hi.metadata || hi.varbit.is_some() || hi.plan.is_empty() || hi.plan.len() > 64 {
            return None;
        }
        let (mut mask, mut inputs) = (0u64, vec![ReusedInput::default(); hi.plan.len()]);
        for &(f, k) in &plan.terms {
            let i = f.checked_sub(hi.first_field)? as usize;
            let x = hi.plan.get(i)?;
            // A field summed twice would need two corrections.
            if !x.narrow || mask & (1 << i) != 0 {
                return None;
            }
            mask |= 1 << i;
            inputs[i] = ReusedInput {
                fid: f,
                byte: x.byte,
                shift: x.shift as u8,
                k: k as u8,
                mask: u32::try_from(x.mask).ok()?,
            };
        }
        Some((plan, h, mask, inputs))
    };
    for u in update.iter_mut() {
        let Some((up, h, mask, inputs)) = shape(u.calc) else {
            continue;
        };
        let found = verify.iter().take(KEPT_SUMS).position(|v| {
            shape(v.calc).is_some_and(|(vp, ..)| vp.terms == up.terms && vp.konst == up.konst)
        });
        if let Some(i) = found {
            verify[i].keep = Some((h, mask));
            let reach = inputs.iter().map(|x| x.byte + 8).max().unwrap_or(0);
            u.reuse = Some(SumReuse {
                verify: i as u32,
                header: h,
                mask,
                inputs,
                reach,
            });
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct MeterArrayInfo {
    pub name: String,
    pub unit: MeterUnit,
    pub size: u32,
    pub direct: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CounterArrayInfo {
    pub name: String,
    pub size: u32,
    pub direct: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RegisterArrayInfo {
    pub name: String,
    pub size: u32,
    pub width: u32,
}

/// The v1model `standard_metadata` fields the switch reads or writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct StdMeta {
    pub ingress_port: Option<Fid>,
    pub egress_spec: Option<Fid>,
    pub egress_port: Option<Fid>,
    pub instance_type: Option<Fid>,
    pub packet_length: Option<Fid>,
    pub mcast_grp: Option<Fid>,
    pub egress_rid: Option<Fid>,
    pub checksum_error: Option<Fid>,
    pub parser_error: Option<Fid>,
    pub ingress_global_timestamp: Option<Fid>,
    pub egress_global_timestamp: Option<Fid>,
    /// `intrinsic_metadata.priority`, the field `simple_switch` picks a
    /// copy's egress queue by; `None` also when nothing in the program can
    /// make it other than 0 (see [`may_set`]), so that a packet then pays
    /// one predictable branch for it.
    pub priority: Option<Fid>,
    /// `queueing_metadata.*`, under those names only (p4c aliases them to
    /// `standard_metadata`), as `simple_switch` reads them.
    pub enq_timestamp: Option<Fid>,
    pub enq_qdepth: Option<Fid>,
    pub deq_timedelta: Option<Fid>,
    pub deq_qdepth: Option<Fid>,
    pub qid: Option<Fid>,
    /// The program has all four of the queueing fields (`qid` is
    /// optional): the switch sets them, as `simple_switch` does only then.
    pub queueing: bool,
    /// Of the queueing fields the switch sets to 0, those the program can
    /// write too (see [`may_set`]): the others are 0 at egress already.
    pub queue_zeroes: Vec<Std>,
    /// Every one of these fields is in a metadata header (as p4c lays
    /// them out) and 64 bits wide or less: writes need not mark them for
    /// the deparser, and go through [`StdMeta::slots`].
    pub in_metadata: bool,
    /// Per [`Std`], when [`StdMeta::in_metadata`]: the field's slot and
    /// mask; a field the program lacks has a slot past the program's
    /// fields, which nothing reads.
    pub slots: [(Fid, u64); Std::COUNT],
}

/// The standard metadata fields the switch writes on a packet's way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Std {
    IngressPort,
    EgressSpec,
    EgressPort,
    InstanceType,
    PacketLength,
    EgressRid,
    ParserError,
    IngressGlobalTimestamp,
    EgressGlobalTimestamp,
    EnqTimestamp,
    EnqQdepth,
    DeqTimedelta,
    DeqQdepth,
    Qid,
}

impl Std {
    pub(crate) const COUNT: usize = 14;
    const ALL: [Std; Std::COUNT] = [
        Std::IngressPort,
        Std::EgressSpec,
        Std::EgressPort,
        Std::InstanceType,
        Std::PacketLength,
        Std::EgressRid,
        Std::ParserError,
        Std::IngressGlobalTimestamp,
        Std::EgressGlobalTimestamp,
        Std::EnqTimestamp,
        Std::EnqQdepth,
        Std::DeqTimedelta,
        Std::DeqQdepth,
        Std::Qid,
    ];
}

impl StdMeta {
    /// The program's field for `s`, if it has one.
    pub(crate) fn field(&self, s: Std) -> Option<Fid> {
        match s {
            Std::IngressPort => self.ingress_port,
            Std::EgressSpec => self.egress_spec,
            Std::EgressPort => self.egress_port,
            Std::InstanceType => self.instance_type,
            Std::PacketLength => self.packet_length,
            Std::EgressRid => self.egress_rid,
            Std::ParserError => self.parser_error,
            Std::IngressGlobalTimestamp => self.ingress_global_timestamp,
            Std::EgressGlobalTimestamp => self.egress_global_timestamp,
            Std::EnqTimestamp => self.enq_timestamp,
            Std::EnqQdepth => self.enq_qdepth,
            Std::DeqTimedelta => self.deq_timedelta,
            Std::DeqQdepth => self.deq_qdepth,
            Std::Qid => self.qid,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorCodes {
    pub packet_too_short: u32,
    pub no_match: u32,
    pub stack_out_of_bounds: u32,
    pub header_too_short: u32,
    pub parser_invalid_argument: u32,
}

/// A compiled program.
#[derive(Debug, Clone)]
pub struct Program {
    pub(crate) headers: Vec<HeaderInfo>,
    pub(crate) fields: Vec<FieldInfo>,
    /// Per field, what a write needs.
    pub(crate) field_hot: Vec<FieldHot>,
    pub(crate) stacks: Vec<StackInfo>,
    pub(crate) unions: Vec<UnionInfo>,
    pub(crate) union_stacks: Vec<UnionStackInfo>,
    pub(crate) parse_states: Vec<ParseState>,
    /// `parse_states` as [`FastState`]s, by the same index, when every
    /// state has that shape (empty otherwise).
    pub(crate) fast_parse: Vec<FastState>,
    pub(crate) parse_start: Option<u32>,
    /// The packet headers the deparser emits, in its order (metadata left
    /// out): each with its length in bytes and whether it can be emitted
    /// on top of the bytes it was extracted from (it has an extraction
    /// plan of at most 64 fields).
    pub(crate) deparse_packet: Vec<(Hid, u32, bool)>,
    pub(crate) actions: Vec<ActionInfo>,
    pub(crate) tables: Vec<TableInfo>,
    pub(crate) conds: Vec<CondInfo>,
    pub(crate) ingress: Option<Node>,
    pub(crate) egress: Option<Node>,
    pub(crate) calcs: Vec<CalcInfo>,
    pub(crate) verify: Vec<ChecksumInfo>,
    pub(crate) update: Vec<ChecksumInfo>,
    pub(crate) meters: Vec<MeterArrayInfo>,
    pub(crate) counters: Vec<CounterArrayInfo>,
    pub(crate) registers: Vec<RegisterArrayInfo>,
    pub(crate) std: StdMeta,
    pub(crate) errors: ErrorCodes,
    /// Names of the error codes, by value.
    pub(crate) error_names: Vec<(u32, String)>,
    /// The fields of each field list that clone, resubmit or recirculate
    /// preserve, in the order of `$.field_lists`.
    pub(crate) field_lists: Vec<Vec<Fid>>,
    /// Whether the deparser copies the bytes of extracted headers (false
    /// only in tests, which compare with emitting every field).
    pub(crate) copy_extracted: bool,
}

impl Program {
    /// Turns off the layouts made at load (extraction plans, checksum
    /// layouts, packed selects, 64-bit table keys, copies of extracted
    /// headers, action steps): the general paths they
    /// shortcut, for tests to compare with.
    #[cfg(test)]
    pub(crate) fn without_fast_paths(&mut self) {
        for h in &mut self.headers {
            h.plan.clear();
        }
        for c in &mut self.calcs {
            c.csum = None;
        }
        for u in &mut self.update {
            u.reuse = None;
        }
        for v in &mut self.verify {
            v.keep = None;
            v.guard = None;
        }
        for u in &mut self.update {
            u.guard = None;
        }
        for s in &mut self.parse_states {
            s.packed = None;
        }
        self.fast_parse.clear();
        for t in &mut self.tables {
            t.key64 = None;
            t.key128 = None;
        }
        self.copy_extracted = false;
        for a in &mut self.actions {
            a.ops = (0..a.prims.len() as u32).map(ActOp::Prim).collect();
        }
    }
}

/// Reads a JSON text into the typed model, with the JSON path of the first
/// value that does not fit.
pub fn parse_json(text: &str) -> Result<Bmv2Json, Error> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        Error::Json {
            path: format!("$.{path}"),
            reason: e.into_inner().to_string(),
        }
    })
}

fn field_ref_parts(v: &(String, String)) -> (&str, &str) {
    (v.0.as_str(), v.1.as_str())
}

struct Ctx<'a> {
    doc: &'a Bmv2Json,
    headers: Vec<HeaderInfo>,
    fields: Vec<FieldInfo>,
    stacks: Vec<StackInfo>,
    header_ix: HashMap<String, Hid>,
    stack_ix: HashMap<String, u32>,
    unions: Vec<UnionInfo>,
    union_ix: HashMap<String, u32>,
    union_stacks: Vec<UnionStackInfo>,
    union_stack_ix: HashMap<String, u32>,
    aliases: HashMap<String, (String, String)>,
    action_ix: HashMap<u32, u32>,
    meter_ix: HashMap<String, u32>,
    counter_ix: HashMap<String, u32>,
    register_ix: HashMap<String, u32>,
    calc_ix: HashMap<String, u32>,
    error_ix: HashMap<String, u32>,
    /// Per `$.field_lists` entry: its id and its fields, or why they
    /// cannot be preserved.
    field_lists: Vec<(u64, Result<Vec<Fid>, Error>)>,
}

enum Scope {
    /// In an action with this many parameters.
    Action(usize),
    /// Outside actions: no parameters.
    Plain,
}

impl<'a> Ctx<'a> {
    fn header(&self, path: &str, name: &str) -> Result<Hid, Error> {
        self.header_ix
            .get(name)
            .copied()
            .ok_or(())
            .or_else(|()| refused(path, format!("unknown header `{name}`")))
    }

    fn stack(&self, path: &str, name: &str) -> Result<u32, Error> {
        self.stack_ix
            .get(name)
            .copied()
            .ok_or(())
            .or_else(|()| refused(path, format!("unknown header stack `{name}`")))
    }

    /// A field reference as an expression (`$valid$` reads the validity bit).
    fn field_expr(&self, path: &str, r: &(String, String)) -> Result<Expr, Error> {
        let (h, f) = field_ref_parts(r);
        if f == "$valid$" {
            if let Some(&s) = self.stack_ix.get(h) {
                return refused(
                    path,
                    format!("validity of the header stack `{s}` as a value is not supported"),
                );
            }
            return Ok(Expr::Valid(self.header(path, h)?));
        }
        let id = self.field(path, r)?;
        let fi = &self.fields[id as usize];
        if fi.varbit {
            return refused(
                path,
                format!(
                    "variable-length field `{h}.{f}` as a value (only `==`, `!=` between \
                     variable-length fields, assignment and checksum inputs are supported)"
                ),
            );
        }
        if fi.width > 128 {
            return refused(
                path,
                format!(
                    "field `{h}.{f}` is {} bits wide; values over 128 bits are not supported",
                    fi.width
                ),
            );
        }
        Ok(if fi.signed {
            Expr::FieldS(id, fi.width)
        } else if fi.width > 64 {
            Expr::Field128(id)
        } else {
            Expr::Field(id)
        })
    }

    /// A field reference as a writable field.
    fn field(&self, path: &str, r: &(String, String)) -> Result<Fid, Error> {
        let (h, f) = field_ref_parts(r);
        let hid = match self.header_ix.get(h) {
            Some(x) => *x,
            None => match self.aliases.get(&format!("{h}.{f}")) {
                Some(target) => return self.field(path, &target.clone()),
                None => return refused(path, format!("unknown header `{h}` (field `{h}.{f}`)")),
            },
        };
        let hi = &self.headers[hid as usize];
        (hi.first_field..hi.first_field + hi.n_fields)
            .find(|&i| self.fields[i as usize].short == f)
            .ok_or(())
            .or_else(|()| refused(path, format!("header `{h}` has no field `{f}`")))
    }

    fn expr(&self, path: &str, o: &Operand, scope: &Scope) -> Result<Expr, Error> {
        #[cfg(test)]
        if UNSIMPLIFIED.with(std::cell::Cell::get) {
            return self.expr_raw(path, o, scope);
        }
        self.expr_raw(path, o, scope).map(simplify)
    }

    fn expr_raw(&self, path: &str, o: &Operand, scope: &Scope) -> Result<Expr, Error> {
        Ok(match o {
            Operand::Field { value } => self.field_expr(path, value)?,
            Operand::Hexstr { value, .. } => {
                Expr::Const(hexstr(value).or_else(|e| refused(path, e))?)
            }
            Operand::Bool { value } => Expr::Const(u128::from(*value)),
            Operand::RuntimeData { value } | Operand::Local { value } => match scope {
                Scope::Action(n) if (*value as usize) < *n => Expr::Param(*value),
                Scope::Action(n) => {
                    return refused(
                        path,
                        format!("runtime_data {value} but the action has {n} parameters"),
                    )
                }
                Scope::Plain => return refused(path, "runtime_data outside an action"),
            },
            Operand::StackField { value } => {
                let stack = self.stack(path, &value.0)?;
                let first = self.stacks[stack as usize].headers[0];
                let hi = &self.headers[first as usize];
                let field = (0..hi.n_fields)
                    .find(|&i| self.fields[(hi.first_field + i) as usize].short == value.1)
                    .ok_or(())
                    .or_else(|()| {
                        refused(
                            path,
                            format!("stack `{}` has no field `{}`", value.0, value.1),
                        )
                    })?;
                Expr::StackLast { stack, field }
            }
            Operand::Expression { value } => match value {
                ExprValue::Operand(inner) => self.expr(path, inner, scope)?,
                ExprValue::Node(n) => self.node(path, n, scope)?,
            },
            other => {
                return refused(
                    path,
                    format!("operand {} cannot be used as a value", kind_of(other)),
                )
            }
        })
    }

    fn node(&self, path: &str, n: &j::ExprNode, scope: &Scope) -> Result<Expr, Error> {
        let side = |o: &Option<Operand>, which: &str| -> Result<Expr, Error> {
            match o {
                Some(x) => self.expr(path, x, scope),
                None => refused(path, format!("operator `{}` needs a {which} operand", n.op)),
            }
        };
        let width_of = |o: &Option<Operand>| -> Result<u32, Error> {
            match o {
                Some(Operand::Hexstr { value, .. }) => {
                    let w = hexstr(value).or_else(|e| refused(path, e))?;
                    u32::try_from(w)
                        .ok()
                        .filter(|w| *w <= 128)
                        .ok_or(())
                        .or_else(|()| refused(path, format!("width {w} is not supported")))
                }
                _ => refused(path, format!("operator `{}` needs a constant width", n.op)),
            }
        };
        let b = |e: Expr| Box::new(e);
        let bin = |op: BinOp| -> Result<Expr, Error> {
            Ok(Expr::Bin(
                op,
                b(side(&n.left, "left")?),
                b(side(&n.right, "right")?),
            ))
        };
        Ok(match n.op.as_str() {
            "+" => bin(BinOp::Add)?,
            "-" => match &n.left {
                Some(_) => bin(BinOp::Sub)?,
                None => Expr::Un(UnOp::Neg, b(side(&n.right, "right")?)),
            },
            "*" => bin(BinOp::Mul)?,
            "/" => bin(BinOp::Div)?,
            "%" => bin(BinOp::Mod)?,
            "<<" => bin(BinOp::Shl)?,
            ">>" => {
                let l = side(&n.left, "left")?;
                let op = if l.signed() { BinOp::ShrS } else { BinOp::Shr };
                Expr::Bin(op, b(l), b(side(&n.right, "right")?))
            }
            "&" => bin(BinOp::And)?,
            "|" => bin(BinOp::Or)?,
            "^" => bin(BinOp::Xor)?,
            op @ ("==" | "!=")
                if self.varbit_field(n.left.as_ref()).is_some()
                    || self.varbit_field(n.right.as_ref()).is_some() =>
            {
                match (
                    self.varbit_field(n.left.as_ref()),
                    self.varbit_field(n.right.as_ref()),
                ) {
                    (Some(a), Some(b)) => Expr::VarbitCmp {
                        a,
                        b,
                        eq: op == "==",
                    },
                    _ => {
                        return refused(
                            path,
                            "a variable-length field compared with something else than one",
                        )
                    }
                }
            }
            "==" => bin(BinOp::Eq)?,
            "!=" => bin(BinOp::Ne)?,
            op @ ("<" | "<=" | ">" | ">=") => {
                let l = side(&n.left, "left")?;
                let r = side(&n.right, "right")?;
                let s = l.signed() || r.signed();
                let op = match (op, s) {
                    ("<", false) => BinOp::Lt,
                    ("<=", false) => BinOp::Le,
                    (">", false) => BinOp::Gt,
                    (">=", false) => BinOp::Ge,
                    ("<", true) => BinOp::LtS,
                    ("<=", true) => BinOp::LeS,
                    (">", true) => BinOp::GtS,
                    _ => BinOp::GeS,
                };
                Expr::Bin(op, b(l), b(r))
            }
            "and" => bin(BinOp::LAnd)?,
            "or" => bin(BinOp::LOr)?,
            "not" => Expr::Un(UnOp::Not, b(side(&n.right, "right")?)),
            "~" => Expr::Un(UnOp::BitNot, b(side(&n.right, "right")?)),
            "d2b" => Expr::Un(UnOp::D2b, b(side(&n.right, "right")?)),
            "b2d" => side(&n.right, "right")?,
            "?" => Expr::Cond(
                b(side(&n.cond, "condition")?),
                b(side(&n.left, "left")?),
                b(side(&n.right, "right")?),
            ),
            "two_comp_mod" => Expr::TwoCompMod(b(side(&n.left, "left")?), width_of(&n.right)?),
            "usat_cast" => Expr::Sat {
                e: b(side(&n.left, "left")?),
                width: width_of(&n.right)?,
                signed: false,
            },
            "sat_cast" => Expr::Sat {
                e: b(side(&n.left, "left")?),
                width: width_of(&n.right)?,
                signed: true,
            },
            "valid" => match &n.right {
                Some(Operand::Header { value }) => Expr::Valid(self.header(path, value)?),
                Some(o @ Operand::Expression { .. }) => match self.header_ref(path, o, scope)? {
                    HdrRef::Fixed(h) => Expr::Valid(h),
                    r => Expr::RefValid(Box::new(r)),
                },
                _ => return refused(path, "operator `valid` needs a header operand"),
            },
            "access_field" => match offset_node(n) {
                Some((left, offset)) => self.access_field(path, left, offset, scope)?,
                None => return refused(path, "`access_field` needs a header and a number"),
            },
            "valid_union" => match &n.right {
                Some(o) => Expr::UnionValid(Box::new(self.union_ref(path, o, scope)?)),
                None => return refused(path, "operator `valid_union` needs a header union"),
            },
            op @ ("size_stack" | "last_stack_index") => {
                let stack = match &n.right {
                    Some(Operand::HeaderStack { value }) => self.stack(path, value)?,
                    _ => return refused(path, format!("operator `{op}` needs a header stack")),
                };
                if op == "size_stack" {
                    Expr::StackSize(stack)
                } else {
                    Expr::StackLastIndex(stack)
                }
            }
            other => {
                return refused(
                    path,
                    format!("expression operator `{other}` is not supported"),
                )
            }
        })
    }

    /// The variable-length field an operand names, if it names one.
    fn varbit_field(&self, o: Option<&Operand>) -> Option<Fid> {
        match o {
            Some(Operand::Field { value }) => self
                .field("", value)
                .ok()
                .filter(|f| self.fields[*f as usize].varbit),
            _ => None,
        }
    }

    /// A header operand, named or chosen at run time (a stack element at
    /// a computed index, a member of such a union, `?:` on headers).
    fn header_ref(&self, path: &str, o: &Operand, scope: &Scope) -> Result<HdrRef, Error> {
        match o {
            Operand::Header { value } | Operand::Regular { value } => {
                Ok(HdrRef::Fixed(self.header(path, value)?))
            }
            Operand::Expression { value } => match value {
                ExprValue::Operand(inner) => self.header_ref(path, inner, scope),
                ExprValue::Node(n) => match n.op.as_str() {
                    "dereference_header_stack" | "dereference_stack" => {
                        let stack = match &n.left {
                            Some(Operand::HeaderStack { value }) => self.stack(path, value)?,
                            _ => {
                                return refused(
                                    path,
                                    "`dereference_header_stack` needs a header stack",
                                )
                            }
                        };
                        let index = self.value(path, n.right.as_ref(), scope)?;
                        Ok(match index {
                            Expr::Const(i) => {
                                let hs = &self.stacks[stack as usize].headers;
                                match usize::try_from(i).ok().and_then(|i| hs.get(i)) {
                                    Some(h) => HdrRef::Fixed(*h),
                                    None => {
                                        return refused(
                                            path,
                                            format!(
                                                "index {i} is out of the stack's {} elements",
                                                hs.len()
                                            ),
                                        )
                                    }
                                }
                            }
                            index => HdrRef::StackElem {
                                stack,
                                index: Box::new(index),
                            },
                        })
                    }
                    "?" => {
                        let (Some(c), Some(a), Some(b)) = (&n.cond, &n.left, &n.right) else {
                            return refused(path, "`?` needs a condition and two headers");
                        };
                        let a = self.header_ref(path, a, scope)?;
                        let b = self.header_ref(path, b, scope)?;
                        if self.ref_type(&a) != self.ref_type(&b) {
                            return refused(path, "`?` on headers of different types");
                        }
                        Ok(HdrRef::Cond(
                            Box::new(self.expr(path, c, scope)?),
                            Box::new(a),
                            Box::new(b),
                        ))
                    }
                    "access_union_header" => {
                        let Some((left, member)) = offset_node(n) else {
                            return refused(
                                path,
                                "`access_union_header` needs a union and a number",
                            );
                        };
                        let un = self.union_ref(path, left, scope)?;
                        if member as usize >= self.union_members(&un) {
                            return refused(path, format!("the union has no member {member}"));
                        }
                        Ok(match un {
                            UnionRef::Fixed(u) => {
                                HdrRef::Fixed(self.unions[u as usize].headers[member as usize])
                            }
                            un => HdrRef::UnionMember {
                                un: Box::new(un),
                                member,
                            },
                        })
                    }
                    other => refused(path, format!("operator `{other}` does not give a header")),
                },
            },
            other => refused(path, format!("expected a header, found {}", kind_of(other))),
        }
    }

    /// A header union operand, named or chosen at run time.
    fn union_ref(&self, path: &str, o: &Operand, scope: &Scope) -> Result<UnionRef, Error> {
        match o {
            Operand::HeaderUnion { value } => self
                .union_ix
                .get(value)
                .map(|u| UnionRef::Fixed(*u))
                .ok_or(())
                .or_else(|()| refused(path, format!("unknown header union `{value}`"))),
            Operand::Expression { value } => match value {
                ExprValue::Operand(inner) => self.union_ref(path, inner, scope),
                ExprValue::Node(n) if n.op == "dereference_union_stack" => {
                    let stack = match &n.left {
                        Some(Operand::HeaderUnionStack { value }) => {
                            self.union_stack(path, value)?
                        }
                        _ => {
                            return refused(
                                path,
                                "`dereference_union_stack` needs a header union stack",
                            )
                        }
                    };
                    let index = self.value(path, n.right.as_ref(), scope)?;
                    let us = &self.union_stacks[stack as usize].unions;
                    Ok(match index {
                        Expr::Const(i) => match usize::try_from(i).ok().and_then(|i| us.get(i)) {
                            Some(u) => UnionRef::Fixed(*u),
                            None => {
                                return refused(
                                    path,
                                    format!(
                                        "index {i} is out of the stack's {} elements",
                                        us.len()
                                    ),
                                )
                            }
                        },
                        index => UnionRef::StackElem {
                            stack,
                            index: Box::new(index),
                        },
                    })
                }
                _ => refused(path, "expected a header union"),
            },
            other => refused(
                path,
                format!("expected a header union, found {}", kind_of(other)),
            ),
        }
    }

    fn union_stack(&self, path: &str, name: &str) -> Result<u32, Error> {
        self.union_stack_ix
            .get(name)
            .copied()
            .ok_or(())
            .or_else(|()| refused(path, format!("unknown header union stack `{name}`")))
    }

    /// The number of members of the unions a reference may designate.
    fn union_members(&self, u: &UnionRef) -> usize {
        let ix = match u {
            UnionRef::Fixed(u) => *u,
            UnionRef::StackElem { stack, .. } | UnionRef::StackLast(stack) => {
                self.union_stacks[*stack as usize].unions[0]
            }
        };
        self.unions[ix as usize].headers.len()
    }

    /// A header a reference may designate (all of them are of its type).
    fn ref_repr(&self, r: &HdrRef) -> Hid {
        match r {
            HdrRef::Fixed(h) => *h,
            HdrRef::StackElem { stack, .. } => self.stacks[*stack as usize].headers[0],
            HdrRef::UnionMember { un, member } => {
                let u = match &**un {
                    UnionRef::Fixed(u) => *u,
                    UnionRef::StackElem { stack, .. } | UnionRef::StackLast(stack) => {
                        self.union_stacks[*stack as usize].unions[0]
                    }
                };
                self.unions[u as usize].headers[*member as usize]
            }
            HdrRef::Cond(_, a, _) => self.ref_repr(a),
        }
    }

    fn ref_type(&self, r: &HdrRef) -> u32 {
        self.headers[self.ref_repr(r) as usize].htype
    }

    /// `access_field`: field number `offset` of a header operand; the
    /// number just past the fields is the hidden `$valid$`.
    fn access_field(
        &self,
        path: &str,
        hdr: &Operand,
        offset: u32,
        scope: &Scope,
    ) -> Result<Expr, Error> {
        let r = self.header_ref(path, hdr, scope)?;
        let hi = &self.headers[self.ref_repr(&r) as usize];
        if offset == hi.n_fields {
            return Ok(match r {
                HdrRef::Fixed(h) => Expr::Valid(h),
                r => Expr::RefValid(Box::new(r)),
            });
        }
        if offset > hi.n_fields {
            return refused(
                path,
                format!("header `{}` has no field number {offset}", hi.name),
            );
        }
        let fid = hi.first_field + offset;
        let fi = &self.fields[fid as usize];
        if fi.varbit || fi.width > 128 {
            return refused(
                path,
                format!("field `{}` cannot be read as a number", fi.name),
            );
        }
        let signed = fi.signed.then_some(fi.width);
        Ok(match r {
            HdrRef::Fixed(_) => match signed {
                Some(w) => Expr::FieldS(fid, w),
                None if fi.width > 64 => Expr::Field128(fid),
                None => Expr::Field(fid),
            },
            r => Expr::RefField {
                hdr: Box::new(r),
                field: offset,
                signed,
            },
        })
    }

    /// The destination of an `assign`: a field, or a field of a header
    /// chosen at run time (`access_field` as an lvalue).
    fn assign_target(
        &self,
        path: &str,
        o: Option<&Operand>,
        scope: &Scope,
    ) -> Result<Result<Fid, (HdrRef, u32)>, Error> {
        let Some(Operand::Expression { value }) = o else {
            return self.field_operand(path, o).map(Ok);
        };
        let (left, offset) = match value {
            ExprValue::Node(n) if n.op == "access_field" => match offset_node(n) {
                Some(x) => x,
                None => return refused(path, "`access_field` needs a header and a number"),
            },
            ExprValue::Operand(inner) => return self.assign_target(path, Some(inner), scope),
            _ => return refused(path, "an assignment target must be a field"),
        };
        let r = self.header_ref(path, left, scope)?;
        let hi = &self.headers[self.ref_repr(&r) as usize];
        if offset >= hi.n_fields {
            return refused(
                path,
                format!("header `{}` has no writable field number {offset}", hi.name),
            );
        }
        let fid = hi.first_field + offset;
        let fi = &self.fields[fid as usize];
        if fi.varbit || fi.width > 128 {
            return refused(
                path,
                format!("field `{}` cannot be written as a number", fi.name),
            );
        }
        Ok(match r {
            HdrRef::Fixed(_) => Ok(fid),
            r => Err((r, offset)),
        })
    }

    fn header_operand(&self, path: &str, o: Option<&Operand>) -> Result<Hid, Error> {
        match o {
            Some(Operand::Header { value } | Operand::Regular { value }) => {
                self.header(path, value)
            }
            Some(other) => refused(path, format!("expected a header, found {}", kind_of(other))),
            None => refused(path, "expected a header parameter"),
        }
    }

    fn field_operand(&self, path: &str, o: Option<&Operand>) -> Result<Fid, Error> {
        match o {
            Some(Operand::Field { value }) => {
                if value.1 == "$valid$" {
                    return refused(path, "writing `$valid$` directly is not supported");
                }
                let f = self.field(path, value)?;
                if self.fields[f as usize].varbit {
                    return refused(
                        path,
                        format!(
                            "variable-length field `{}` written as a number (`assign_VL` copies it)",
                            self.fields[f as usize].name
                        ),
                    );
                }
                if self.fields[f as usize].width > 128 {
                    return refused(
                        path,
                        format!(
                            "field `{}` is over 128 bits wide",
                            self.fields[f as usize].name
                        ),
                    );
                }
                Ok(f)
            }
            Some(other) => refused(path, format!("expected a field, found {}", kind_of(other))),
            None => refused(path, "expected a field parameter"),
        }
    }

    fn named(
        &self,
        path: &str,
        o: Option<&Operand>,
        ix: &HashMap<String, u32>,
        what: &str,
    ) -> Result<u32, Error> {
        let name = match o {
            Some(
                Operand::MeterArray { value }
                | Operand::CounterArray { value }
                | Operand::RegisterArray { value }
                | Operand::Calculation { value },
            ) => value,
            Some(other) => {
                return refused(path, format!("expected a {what}, found {}", kind_of(other)))
            }
            None => return refused(path, format!("expected a {what} parameter")),
        };
        ix.get(name)
            .copied()
            .ok_or(())
            .or_else(|()| refused(path, format!("unknown {what} `{name}`")))
    }

    fn value(&self, path: &str, o: Option<&Operand>, scope: &Scope) -> Result<Expr, Error> {
        match o {
            Some(x) => self.expr(path, x, scope),
            None => refused(path, "missing parameter"),
        }
    }

    fn const_u32(&self, path: &str, o: Option<&Operand>) -> Result<u32, Error> {
        match o {
            Some(Operand::Hexstr { value, .. }) => {
                let v = hexstr(value).or_else(|e| refused(path, e))?;
                u32::try_from(v).or_else(|_| refused(path, format!("{value} is too large")))
            }
            _ => refused(path, "expected a constant"),
        }
    }

    /// A field list operand (its JSON id, a constant) as an index into
    /// [`Program::field_lists`].
    fn field_list(&self, path: &str, o: Option<&Operand>) -> Result<u16, Error> {
        let id = self.const_u32(path, o)?;
        let Some(i) = self
            .field_lists
            .iter()
            .position(|(fid, _)| *fid == u64::from(id))
        else {
            return refused(path, format!("field list id {id} is not in $.field_lists"));
        };
        if let Err(e) = &self.field_lists[i].1 {
            return Err(e.clone());
        }
        u16::try_from(i).or_else(|_| refused(path, "more than 65536 field lists"))
    }

    fn prim(&self, path: &str, p: &j::Primitive, scope: &Scope) -> Result<Prim, Error> {
        let a = |i: usize| p.parameters.get(i);
        let path = &format!("{path} (`{}`)", p.op);
        Ok(match p.op.as_str() {
            "assign" | "modify_field" => {
                if let Some(Operand::Header { .. }) = a(0) {
                    Prim::AssignHeader {
                        dst: self.header_operand(path, a(0))?,
                        src: self.header_operand(path, a(1))?,
                    }
                } else if let (Some(dst), Some(src)) =
                    (self.varbit_field(a(0)), self.varbit_field(a(1)))
                {
                    Prim::AssignVl { dst, src }
                } else {
                    match self.assign_target(path, a(0), scope)? {
                        Ok(f) => Prim::Assign(f, self.value(path, a(1), scope)?),
                        Err((hdr, field)) => Prim::AssignRef {
                            hdr,
                            field,
                            value: self.value(path, a(1), scope)?,
                        },
                    }
                }
            }
            "assign_VL" => match (self.varbit_field(a(0)), self.varbit_field(a(1))) {
                (Some(dst), Some(src)) => Prim::AssignVl { dst, src },
                _ => return refused(path, "`assign_VL` needs two variable-length fields"),
            },
            "assign_header" => {
                let (Some(d), Some(s)) = (a(0), a(1)) else {
                    return refused(path, "`assign_header` needs two headers");
                };
                let dst = self.header_ref(path, d, scope)?;
                let src = self.header_ref(path, s, scope)?;
                if self.ref_type(&dst) != self.ref_type(&src) {
                    return refused(path, "`assign_header` between headers of different types");
                }
                match (dst, src) {
                    (HdrRef::Fixed(dst), HdrRef::Fixed(src)) => Prim::AssignHeader { dst, src },
                    (dst, src) => Prim::AssignHeaderRef { dst, src },
                }
            }
            op @ ("add_header" | "setValid" | "remove_header" | "setInvalid") => {
                let Some(h) = a(0) else {
                    return refused(path, "expected a header parameter");
                };
                let add = matches!(op, "add_header" | "setValid");
                match (self.header_ref(path, h, scope)?, add) {
                    (HdrRef::Fixed(h), true) => Prim::AddHeader(h),
                    (HdrRef::Fixed(h), false) => Prim::RemoveHeader(h),
                    (r, true) => Prim::AddHeaderRef(r),
                    (r, false) => Prim::RemoveHeaderRef(r),
                }
            }
            "assign_union" => {
                let (Some(d), Some(s)) = (a(0), a(1)) else {
                    return refused(path, "`assign_union` needs two header unions");
                };
                let dst = self.union_ref(path, d, scope)?;
                let src = self.union_ref(path, s, scope)?;
                if self.union_members(&dst) != self.union_members(&src) {
                    return refused(path, "`assign_union` between unions of different types");
                }
                Prim::AssignUnion { dst, src }
            }
            "assign_header_stack" => match (a(0), a(1)) {
                (
                    Some(Operand::HeaderStack { value: d }),
                    Some(Operand::HeaderStack { value: s }),
                ) => {
                    let (dst, src) = (self.stack(path, d)?, self.stack(path, s)?);
                    let (dh, sh) = (
                        &self.stacks[dst as usize].headers,
                        &self.stacks[src as usize].headers,
                    );
                    if dh.len() != sh.len()
                        || self.headers[dh[0] as usize].htype != self.headers[sh[0] as usize].htype
                    {
                        return refused(
                            path,
                            "`assign_header_stack` between different stack types",
                        );
                    }
                    Prim::AssignStack { dst, src }
                }
                _ => return refused(path, "`assign_header_stack` needs two header stacks"),
            },
            "assign_union_stack" => match (a(0), a(1)) {
                (
                    Some(Operand::HeaderUnionStack { value: d }),
                    Some(Operand::HeaderUnionStack { value: s }),
                ) => {
                    let (dst, src) = (self.union_stack(path, d)?, self.union_stack(path, s)?);
                    let (du, su) = (
                        &self.union_stacks[dst as usize].unions,
                        &self.union_stacks[src as usize].unions,
                    );
                    if du.len() != su.len()
                        || self.unions[du[0] as usize].headers.len()
                            != self.unions[su[0] as usize].headers.len()
                    {
                        return refused(path, "`assign_union_stack` between different stack types");
                    }
                    Prim::AssignUnionStack { dst, src }
                }
                _ => return refused(path, "`assign_union_stack` needs two header union stacks"),
            },
            "mark_to_drop" | "drop" => Prim::MarkToDrop,
            "exit" => Prim::Exit,
            "execute_meter" => Prim::ExecuteMeter {
                meter: self.named(path, a(0), &self.meter_ix, "meter array")?,
                index: self.value(path, a(1), scope)?,
                dst: self.field_operand(path, a(2))?,
            },
            "count" => Prim::Count {
                counter: self.named(path, a(0), &self.counter_ix, "counter array")?,
                index: self.value(path, a(1), scope)?,
            },
            "register_read" => Prim::RegisterRead {
                dst: self.field_operand(path, a(0))?,
                register: self.named(path, a(1), &self.register_ix, "register array")?,
                index: self.value(path, a(2), scope)?,
            },
            "register_write" => Prim::RegisterWrite {
                register: self.named(path, a(0), &self.register_ix, "register array")?,
                index: self.value(path, a(1), scope)?,
                value: self.value(path, a(2), scope)?,
            },
            "modify_field_with_hash_based_offset" => Prim::HashOffset {
                dst: self.field_operand(path, a(0))?,
                base: self.value(path, a(1), scope)?,
                calc: self.named(path, a(2), &self.calc_ix, "calculation")?,
                size: self.value(path, a(3), scope)?,
            },
            op @ ("push" | "pop") => {
                let stack = match a(0) {
                    Some(Operand::HeaderStack { value }) => self.stack(path, value)?,
                    Some(Operand::HeaderUnionStack { value }) => {
                        let stack = self.union_stack(path, value)?;
                        let count = self.const_u32(path, a(1))?;
                        return Ok(if op == "push" {
                            Prim::PushUnion { stack, count }
                        } else {
                            Prim::PopUnion { stack, count }
                        });
                    }
                    _ => return refused(path, "expected a header stack"),
                };
                let count = self.const_u32(path, a(1))?;
                if op == "push" {
                    Prim::Push { stack, count }
                } else {
                    Prim::Pop { stack, count }
                }
            }
            "truncate" => Prim::Truncate(self.value(path, a(0), scope)?),
            "log_msg" => Prim::Log(match a(0) {
                Some(Operand::String { value }) => value.clone(),
                _ => String::new(),
            }),
            "assert" | "assume" => Prim::Assert(self.value(path, a(0), scope)?),
            "clone_ingress_pkt_to_egress" | "clone_egress_pkt_to_egress" => Prim::Clone {
                session: self.value(path, a(0), scope)?,
                field_list: self.field_list(path, a(1))?,
            },
            // simple_switch keeps the list id as its request flag: id 0
            // asks for nothing.
            "resubmit" | "recirculate" if self.const_u32(path, a(0))? == 0 => Prim::Nothing,
            "resubmit" => Prim::Resubmit(self.field_list(path, a(0))?),
            "recirculate" => Prim::Recirculate(self.field_list(path, a(0))?),
            other => return refused(path, format!("primitive `{other}` is not supported")),
        })
    }
}

/// The header (or union) and the number of an `access_field` or
/// `access_union_header` node.
fn offset_node(n: &j::ExprNode) -> Option<(&Operand, u32)> {
    match (&n.left, &n.right) {
        (Some(left), Some(Operand::Offset { value })) => Some((left, *value)),
        _ => None,
    }
}

fn kind_of(o: &Operand) -> &'static str {
    match o {
        Operand::Field { .. } => "a field",
        Operand::Hexstr { .. } => "a constant",
        Operand::Bool { .. } => "a boolean",
        Operand::Header { .. } => "a header",
        Operand::Regular { .. } => "a header",
        Operand::RuntimeData { .. } => "an action parameter",
        Operand::Expression { .. } => "an expression",
        Operand::MeterArray { .. } => "a meter array",
        Operand::CounterArray { .. } => "a counter array",
        Operand::RegisterArray { .. } => "a register array",
        Operand::Calculation { .. } => "a calculation",
        Operand::Lookahead { .. } => "a lookahead",
        Operand::Payload { .. } => "the payload",
        Operand::String { .. } => "a string",
        Operand::HeaderStack { .. } => "a header stack",
        Operand::StackField { .. } => "a stack field",
        Operand::Local { .. } => "a local (`local`)",
        Operand::Stack { .. } => "a header stack",
        Operand::HeaderUnion { .. } => "a header union",
        Operand::HeaderUnionStack { .. } => "a header union stack",
        Operand::UnionStackField { .. } => "a union stack field",
        Operand::UnionStack { .. } => "a header union stack",
        Operand::Offset { .. } => "a field or member number",
        Operand::Extern { .. } => "an extern instance",
        Operand::ParseVset { .. } => "a parse value set",
    }
}

fn get_str<'v>(v: &'v Value, k: &str) -> Option<&'v str> {
    v.get(k).and_then(Value::as_str)
}

fn get_u64(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

/// Splits the bytes of a select value into one number per key part.
fn split_select(path: &str, hex: &str, part_bytes: &[usize]) -> Result<Vec<u128>, Error> {
    let (bytes, neg) = bits::hex_bytes(hex).or_else(|e| refused(path, e))?;
    if neg {
        return refused(path, format!("negative select value `{hex}`"));
    }
    let total: usize = part_bytes.iter().sum();
    if bytes.len() > total && bytes[..bytes.len() - total].iter().any(|b| *b != 0) {
        return refused(
            path,
            format!("select value `{hex}` is wider than the key ({total} bytes)"),
        );
    }
    let mut padded = vec![0u8; total.saturating_sub(bytes.len())];
    padded.extend_from_slice(&bytes[bytes.len().saturating_sub(total)..]);
    let mut out = Vec::with_capacity(part_bytes.len());
    let mut at = 0;
    for &n in part_bytes {
        out.push(bits::bytes_to_u128(&padded[at..at + n]).unwrap_or(0));
        at += n;
    }
    Ok(out)
}

/// Compiles a typed BMv2 document.
pub fn compile(doc: &Bmv2Json) -> Result<Program, Error> {
    if doc.meta.version.first() != Some(&2) {
        return refused(
            "$.__meta__.version",
            format!("format version {:?} is not 2.x", doc.meta.version),
        );
    }
    for (name, list) in [
        ("parse_vsets", &doc.parse_vsets),
        ("extern_instances", &doc.extern_instances),
        ("learn_lists", &doc.learn_lists),
    ] {
        if !list.is_empty() {
            return refused(format!("$.{name}[0]"), format!("{name} are not supported"));
        }
    }

    // Header types and instances.
    let types: HashMap<&str, (usize, &j::HeaderType)> = doc
        .header_types
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), (i, t)))
        .collect();
    let mut headers = vec![];
    let mut fields = vec![];
    let mut header_ix = HashMap::new();
    let mut header_by_id = HashMap::new();
    let mut n_wide = 0u32;
    for (hi, h) in doc.headers.iter().enumerate() {
        let path = format!("$.headers[{hi}]");
        let Some(&(ti, t)) = types.get(h.header_type.as_str()) else {
            return refused(
                path,
                format!("header `{}` has unknown type `{}`", h.name, h.header_type),
            );
        };
        let first = fields.len() as Fid;
        let mut off = 0u32;
        let mut varbit = None;
        let fixed_bits: u32 = t.fields.iter().filter_map(|f| f.width()).sum();
        for (fi, f) in t.fields.iter().enumerate() {
            match f {
                j::FieldDef::Fixed(name, width, _)
                | j::FieldDef::FixedNumSigned(name, width, _) => {
                    let signed = f.signed();
                    fields.push(FieldInfo {
                        name: format!("{}.{}", h.name, name),
                        short: name.clone(),
                        header: hi as Hid,
                        width: *width,
                        signed,
                        bit_off: off,
                        wide: (*width > 128).then(|| {
                            n_wide += 1;
                            n_wide - 1
                        }),
                        varbit: false,
                        after_varbit: varbit.is_some(),
                    });
                    off += width;
                }
                j::FieldDef::Varbit(name, _) => {
                    let tpath = format!("$.header_types[{ti}].fields[{fi}]");
                    if varbit.is_some() {
                        return refused(
                            tpath,
                            format!(
                                "header type `{}` has a second variable-length field",
                                t.name
                            ),
                        );
                    }
                    let Some(max_bytes) = t.max_length else {
                        return refused(
                            tpath,
                            format!(
                                "header type `{}` has a variable-length field but no `max_length`",
                                t.name
                            ),
                        );
                    };
                    let Some(max_bits) = max_bytes
                        .checked_mul(8)
                        .and_then(|b| b.checked_sub(fixed_bits))
                        .filter(|b| *b > 0 && b % 8 == 0)
                    else {
                        return refused(
                            tpath,
                            format!(
                                "`max_length` {max_bytes} of header type `{}` leaves no whole bytes \
                                 for its variable-length field",
                                t.name
                            ),
                        );
                    };
                    n_wide += 1;
                    varbit = Some(VarbitInfo { max_bits });
                    fields.push(FieldInfo {
                        name: format!("{}.{}", h.name, name),
                        short: name.clone(),
                        header: hi as Hid,
                        width: max_bits,
                        signed: false,
                        bit_off: off,
                        wide: Some(n_wide - 1),
                        varbit: true,
                        after_varbit: false,
                    });
                }
            }
        }
        if !h.metadata && off % 8 != 0 {
            return refused(
                path,
                format!(
                    "header `{}` is {off} bits, not a whole number of bytes",
                    h.name
                ),
            );
        }
        if hi >= MAX_HEADERS {
            return refused(
                path,
                format!(
                    "header `{}` is header number {}; the switch holds at most {MAX_HEADERS}",
                    h.name,
                    hi + 1
                ),
            );
        }
        if fields.len() > MAX_FIELDS {
            return refused(
                path,
                format!(
                    "the headers up to `{}` have {} fields in all; the switch holds at most {MAX_FIELDS}",
                    h.name,
                    fields.len()
                ),
            );
        }
        header_ix.insert(h.name.clone(), hi as Hid);
        header_by_id.insert(h.id, hi as Hid);
        let plan = if varbit.is_some() {
            vec![]
        } else {
            extract_plan(&fields[first as usize..], first, off, h.metadata)
        };
        headers.push(HeaderInfo {
            name: h.name.clone(),
            first_field: first,
            n_fields: fields.len() as u32 - first,
            metadata: h.metadata,
            bits: off,
            stack: None,
            union: None,
            htype: ti as u32,
            varbit,
            plan_narrow: plan.iter().all(|x| x.narrow),
            plan,
        });
    }
    let mut stacks = vec![];
    let mut stack_ix = HashMap::new();
    for (si, s) in doc.header_stacks.iter().enumerate() {
        let path = format!("$.header_stacks[{si}]");
        let name = get_str(s, "name")
            .ok_or(())
            .or_else(|()| refused(&path, "a header stack without a name"))?;
        let ids = s
            .get("header_ids")
            .and_then(Value::as_array)
            .ok_or(())
            .or_else(|()| refused(&path, "no header_ids"))?;
        let mut hs = vec![];
        for id in ids {
            let h = id
                .as_u64()
                .and_then(|id| header_by_id.get(&(id as u32)).copied())
                .ok_or(())
                .or_else(|()| refused(&path, format!("unknown header id {id}")))?;
            headers[h as usize].stack = Some(si as u32);
            hs.push(h);
        }
        if hs.is_empty() {
            return refused(&path, "an empty header stack");
        }
        if hs
            .iter()
            .any(|h| headers[*h as usize].htype != headers[hs[0] as usize].htype)
        {
            return refused(&path, "a header stack whose elements differ in type");
        }
        stack_ix.insert(name.to_string(), si as u32);
        stacks.push(StackInfo { headers: hs });
    }
    let mut unions = vec![];
    let mut union_ix = HashMap::new();
    let mut union_by_id = HashMap::new();
    for (ui, u) in doc.header_unions.iter().enumerate() {
        let path = format!("$.header_unions[{ui}]");
        let (Some(name), Some(ids), Some(id)) = (
            get_str(u, "name"),
            u.get("header_ids").and_then(Value::as_array),
            get_u64(u, "id"),
        ) else {
            return refused(path, "a header union needs a name, an id and header_ids");
        };
        let mut hs = vec![];
        for id in ids {
            let h = id
                .as_u64()
                .and_then(|id| header_by_id.get(&(id as u32)).copied())
                .ok_or(())
                .or_else(|()| refused(&path, format!("unknown header id {id}")))?;
            if headers[h as usize].union.is_some() || headers[h as usize].metadata {
                return refused(
                    &path,
                    format!(
                        "header `{}` cannot be a member of this union",
                        headers[h as usize].name
                    ),
                );
            }
            headers[h as usize].union = Some(ui as u32);
            hs.push(h);
        }
        if hs.is_empty() {
            return refused(&path, "an empty header union");
        }
        union_ix.insert(name.to_string(), ui as u32);
        union_by_id.insert(id, ui as u32);
        unions.push(UnionInfo {
            name: name.to_string(),
            headers: hs,
        });
    }
    let mut union_stacks = vec![];
    let mut union_stack_ix = HashMap::new();
    for (si, s) in doc.header_union_stacks.iter().enumerate() {
        let path = format!("$.header_union_stacks[{si}]");
        let (Some(name), Some(ids)) = (
            get_str(s, "name"),
            s.get("header_union_ids").and_then(Value::as_array),
        ) else {
            return refused(
                path,
                "a header union stack needs a name and header_union_ids",
            );
        };
        let mut us = vec![];
        for id in ids {
            let u = id
                .as_u64()
                .and_then(|id| union_by_id.get(&id).copied())
                .ok_or(())
                .or_else(|()| refused(&path, format!("unknown header union id {id}")))?;
            us.push(u);
        }
        let Some(&u0) = us.first() else {
            return refused(&path, "an empty header union stack");
        };
        let types = |u: u32| -> Vec<u32> {
            unions[u as usize]
                .headers
                .iter()
                .map(|h| headers[*h as usize].htype)
                .collect()
        };
        if us.iter().any(|u| types(*u) != types(u0)) {
            return refused(&path, "a header union stack whose elements differ in type");
        }
        union_stack_ix.insert(name.to_string(), si as u32);
        union_stacks.push(UnionStackInfo { unions: us });
    }

    let mut ctx = Ctx {
        doc,
        headers,
        fields,
        stacks,
        header_ix,
        stack_ix,
        unions,
        union_ix,
        union_stacks,
        union_stack_ix,
        aliases: doc.field_aliases.iter().cloned().collect(),
        action_ix: HashMap::new(),
        meter_ix: HashMap::new(),
        counter_ix: HashMap::new(),
        register_ix: HashMap::new(),
        calc_ix: HashMap::new(),
        error_ix: doc.errors.iter().cloned().collect(),
        field_lists: vec![],
    };
    ctx.field_lists = compile_field_lists(&ctx, doc);

    // Externs.
    let mut meters = vec![];
    for (i, m) in doc.meter_arrays.iter().enumerate() {
        let path = format!("$.meter_arrays[{i}]");
        let unit = match m.kind.as_str() {
            "bytes" => MeterUnit::Bytes,
            "packets" => MeterUnit::Packets,
            other => {
                return refused(
                    path,
                    format!("meter type `{other}` is neither bytes nor packets"),
                )
            }
        };
        if m.rate_count != 2 {
            return refused(
                path,
                format!(
                    "meters with {} rates are not supported (only 2)",
                    m.rate_count
                ),
            );
        }
        ctx.meter_ix.insert(m.name.clone(), i as u32);
        meters.push(MeterArrayInfo {
            name: m.name.clone(),
            unit,
            size: m.size,
            direct: m.is_direct,
        });
    }
    let mut counters = vec![];
    for (i, c) in doc.counter_arrays.iter().enumerate() {
        ctx.counter_ix.insert(c.name.clone(), i as u32);
        counters.push(CounterArrayInfo {
            name: c.name.clone(),
            size: c.size,
            direct: c.is_direct,
        });
    }
    let mut registers = vec![];
    for (i, r) in doc.register_arrays.iter().enumerate() {
        let path = format!("$.register_arrays[{i}]");
        let (Some(name), Some(size), Some(width)) = (
            get_str(r, "name"),
            get_u64(r, "size"),
            get_u64(r, "bitwidth"),
        ) else {
            return refused(path, "a register array needs a name, a size and a bitwidth");
        };
        if width > 128 {
            return refused(
                path,
                format!("registers of {width} bits are not supported (at most 128)"),
            );
        }
        ctx.register_ix.insert(name.to_string(), i as u32);
        registers.push(RegisterArrayInfo {
            name: name.to_string(),
            size: size as u32,
            width: width as u32,
        });
    }
    let mut calcs = vec![];
    for (i, c) in doc.calculations.iter().enumerate() {
        let path = format!("$.calculations[{i}]");
        let Some(algo) = Algo::from_name(&c.algo) else {
            return refused(
                path,
                format!("hash algorithm `{}` is not supported", c.algo),
            );
        };
        let mut inputs = vec![];
        for (k, o) in c.input.iter().enumerate() {
            let p = format!("{path}.input[{k}]");
            inputs.push(match o {
                Operand::Field { value }
                    if ctx.field(&p, value).is_ok_and(|f| {
                        let fi = &ctx.fields[f as usize];
                        fi.varbit || fi.width > 128
                    }) =>
                {
                    CalcInput::Bytes(ctx.field(&p, value)?)
                }
                Operand::Field { value } => {
                    CalcInput::Field(ctx.field_operand(&p, Some(o)).map_err(|e| {
                        if value.1 == "$valid$" {
                            Error::Refused {
                                path: p.clone(),
                                reason: "a validity bit as hash input is not supported".into(),
                            }
                        } else {
                            e
                        }
                    })?)
                }
                Operand::Hexstr { value, bitwidth } => {
                    let Some(w) = bitwidth else {
                        return refused(p, "a constant hash input needs a bitwidth");
                    };
                    CalcInput::Const(
                        hexstr(value).or_else(|e| refused(&p, e))? & bits::mask(*w),
                        *w,
                    )
                }
                Operand::Payload { .. } => CalcInput::Payload,
                other => {
                    return refused(
                        p,
                        format!("{} as hash input is not supported", kind_of(other)),
                    )
                }
            });
        }
        ctx.calc_ix.insert(c.name.clone(), i as u32);
        // A plan's sum has no room for folds: at most `MAX_PLANNED_INPUTS`
        // terms, each below 2^49, keep it below 2^61.
        let csum = (algo == Algo::Csum16
            && inputs.len() <= MAX_PLANNED_INPUTS
            && !inputs.iter().any(|i| matches!(i, CalcInput::Bytes(_)))
            && inputs
                .iter()
                .position(|i| matches!(i, CalcInput::Payload))
                .is_none_or(|p| p == inputs.len() - 1))
        .then(|| csum_plan(&inputs, &ctx.fields));
        calcs.push(CalcInfo { algo, inputs, csum });
    }

    // Actions.
    let mut actions = vec![];
    for (ai, a) in doc.actions.iter().enumerate() {
        ctx.action_ix.insert(a.id, ai as u32);
        let scope = Scope::Action(a.runtime_data.len());
        let mut prims = vec![];
        for (pi, p) in a.primitives.iter().enumerate() {
            let path = format!("$.actions[{ai}].primitives[{pi}] of action `{}`", a.name);
            prims.push(ctx.prim(&path, p, &scope)?);
        }
        for (k, rd) in a.runtime_data.iter().enumerate() {
            if rd.bitwidth > 128 {
                return refused(
                    format!("$.actions[{ai}].runtime_data[{k}]"),
                    "action parameters over 128 bits are not supported",
                );
            }
        }
        actions.push(ActionInfo {
            name: a.name.clone(),
            params: a
                .runtime_data
                .iter()
                .map(|r| (r.name.clone(), r.bitwidth))
                .collect(),
            prims,
            ops: vec![],
        });
    }

    // Parser.
    let errors = ErrorCodes {
        packet_too_short: ctx.error_ix.get("PacketTooShort").copied().unwrap_or(1),
        no_match: ctx.error_ix.get("NoMatch").copied().unwrap_or(2),
        stack_out_of_bounds: ctx.error_ix.get("StackOutOfBounds").copied().unwrap_or(3),
        header_too_short: ctx.error_ix.get("HeaderTooShort").copied().unwrap_or(4),
        parser_invalid_argument: ctx
            .error_ix
            .get("ParserInvalidArgument")
            .copied()
            .unwrap_or(6),
    };
    if doc.parsers.len() > 1 {
        return refused("$.parsers[1]", "more than one parser");
    }
    let mut parse_states = vec![];
    let mut parse_start = None;
    if let Some(parser) = doc.parsers.first() {
        let state_ix: HashMap<&str, u32> = parser
            .parse_states
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i as u32))
            .collect();
        parse_start = Some(
            *state_ix
                .get(parser.init_state.as_str())
                .ok_or(())
                .or_else(|()| {
                    refused(
                        "$.parsers[0].init_state",
                        format!("unknown parse state `{}`", parser.init_state),
                    )
                })?,
        );
        for (si, s) in parser.parse_states.iter().enumerate() {
            let base = format!("$.parsers[0].parse_states[{si}]");
            let mut ops = vec![];
            for (oi, op) in s.parser_ops.iter().enumerate() {
                let path = format!("{base}.parser_ops[{oi}] (`{}`)", op.op);
                let param = |i: usize| match op.parameters.get(i) {
                    Some(ParserParam::Operand(o)) => Some(o),
                    _ => None,
                };
                ops.push(match op.op.as_str() {
                    op @ ("extract" | "extract_VL") => {
                        let to = match param(0) {
                            Some(Operand::Regular { value } | Operand::Header { value }) => {
                                ExtractTo::Header(ctx.header(&path, value)?)
                            }
                            Some(Operand::Stack { value }) => {
                                ExtractTo::Stack(ctx.stack(&path, value)?)
                            }
                            Some(Operand::UnionStack { value: (us, m) }) => {
                                let stack = ctx.union_stack(&path, us)?;
                                let u0 = ctx.union_stacks[stack as usize].unions[0];
                                let member = ctx.doc.header_unions[u0 as usize]
                                    .get("union_type")
                                    .and_then(Value::as_str)
                                    .and_then(|t| {
                                        ctx.doc.header_union_types.iter().find(|ut| {
                                            ut.get("name").and_then(Value::as_str) == Some(t)
                                        })
                                    })
                                    .and_then(|ut| ut.get("headers").and_then(Value::as_array))
                                    .and_then(|hs| {
                                        hs.iter().position(|x| {
                                            x.get(0).and_then(Value::as_str) == Some(m.as_str())
                                        })
                                    })
                                    .ok_or(())
                                    .or_else(|()| {
                                        refused(
                                            &path,
                                            format!("header union stack `{us}` has no member `{m}`"),
                                        )
                                    })?;
                                if member >= ctx.unions[u0 as usize].headers.len() {
                                    return refused(path, format!("no member `{m}`"));
                                }
                                ExtractTo::UnionStack {
                                    stack,
                                    member: member as u32,
                                }
                            }
                            _ => {
                                return refused(
                                    path,
                                    "extract needs a header, a header stack or a union stack",
                                )
                            }
                        };
                        let target = match to {
                            ExtractTo::Header(h) => h,
                            ExtractTo::Stack(s) => ctx.stacks[s as usize].headers[0],
                            ExtractTo::UnionStack { stack, member } => {
                                let u0 = ctx.union_stacks[stack as usize].unions[0];
                                ctx.unions[u0 as usize].headers[member as usize]
                            }
                        };
                        let hi = &ctx.headers[target as usize];
                        if hi.metadata {
                            return refused(path, format!("`{}` is metadata", hi.name));
                        }
                        let len = if op == "extract_VL" {
                            if hi.varbit.is_none() {
                                return refused(
                                    path,
                                    format!("`{}` has no variable-length field", hi.name),
                                );
                            }
                            Some(ctx.value(&path, param(1), &Scope::Plain)?)
                        } else if hi.varbit.is_some() {
                            return refused(
                                path,
                                format!(
                                    "`{}` has a variable-length field; extracting it needs a length",
                                    hi.name
                                ),
                            );
                        } else {
                            None
                        };
                        match (to, len) {
                            (ExtractTo::Header(h), None) => ParseOp::Extract(h),
                            (ExtractTo::Stack(s), None) => ParseOp::ExtractNext(s),
                            (to, len) => ParseOp::ExtractTo(to, len),
                        }
                    }
                    "set" if ctx.varbit_field(param(0)).is_some() => {
                        match (ctx.varbit_field(param(0)), ctx.varbit_field(param(1))) {
                            (Some(dst), Some(src)) => ParseOp::Prim(Prim::AssignVl { dst, src }),
                            _ => {
                                return refused(
                                    path,
                                    "a variable-length field set from something else than one",
                                )
                            }
                        }
                    }
                    "set" => {
                        let dst = ctx.field_operand(&path, param(0))?;
                        match param(1) {
                            Some(Operand::Lookahead {
                                value: (off, width),
                            }) => {
                                if *width > 128 || *off < 0 {
                                    return refused(
                                        path,
                                        "lookahead over 128 bits or at a negative offset",
                                    );
                                }
                                ParseOp::SetLookahead {
                                    dst,
                                    off: *off as u32,
                                    width: *width,
                                }
                            }
                            other => ParseOp::Set(dst, ctx.value(&path, other, &Scope::Plain)?),
                        }
                    }
                    "verify" => {
                        let cond = ctx.value(&path, param(0), &Scope::Plain)?;
                        let code = match ctx.value(&path, param(1), &Scope::Plain)? {
                            Expr::Const(c) => c as u32,
                            _ => return refused(path, "verify needs a constant error code"),
                        };
                        ParseOp::Verify(cond, code)
                    }
                    "primitive" => match op.parameters.first() {
                        Some(ParserParam::Primitive(p)) => {
                            ParseOp::Prim(ctx.prim(&path, p, &Scope::Plain)?)
                        }
                        _ => return refused(path, "a parser primitive without its primitive"),
                    },
                    "advance" => ParseOp::Advance(ctx.value(&path, param(0), &Scope::Plain)?),
                    other => {
                        return refused(
                            path,
                            format!("parser operation `{other}` is not supported"),
                        )
                    }
                });
            }
            let mut key = vec![];
            let mut part_bytes = vec![];
            for (ki, k) in s.transition_key.iter().enumerate() {
                let path = format!("{base}.transition_key[{ki}]");
                match k {
                    Operand::Lookahead {
                        value: (off, width),
                    } => {
                        if *width > 128 || *off < 0 {
                            return refused(
                                path,
                                "lookahead over 128 bits or at a negative offset",
                            );
                        }
                        key.push(KeySrc::Lookahead {
                            off: *off as u32,
                            width: *width,
                        });
                        part_bytes.push(width.div_ceil(8) as usize);
                    }
                    Operand::UnionStackField { value } => {
                        let parts = value
                            .as_array()
                            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>());
                        let Some([us, m, f]) = parts.as_deref() else {
                            return refused(
                                path,
                                "a union stack field needs [stack, member, field]",
                            );
                        };
                        let stack = ctx.union_stack(&path, us)?;
                        let u0 = ctx.union_stacks[stack as usize].unions[0];
                        let uname = &ctx.unions[u0 as usize].name;
                        // Members are named `<union>.<member>` (p4c's naming).
                        let Some(member) = ctx.unions[u0 as usize]
                            .headers
                            .iter()
                            .position(|h| ctx.headers[*h as usize].name == format!("{uname}.{m}"))
                        else {
                            return refused(
                                path,
                                format!("union stack `{us}` has no member `{m}`"),
                            );
                        };
                        let h = ctx.unions[u0 as usize].headers[member];
                        let hi = &ctx.headers[h as usize];
                        let Some(field) = (0..hi.n_fields)
                            .find(|i| ctx.fields[(hi.first_field + i) as usize].short == *f)
                        else {
                            return refused(path, format!("member `{m}` has no field `{f}`"));
                        };
                        let fi = &ctx.fields[(hi.first_field + field) as usize];
                        if fi.varbit || fi.width > 128 {
                            return refused(path, "a select key over 128 bits");
                        }
                        part_bytes.push(fi.width.div_ceil(8) as usize);
                        key.push(KeySrc::Expr(Expr::RefField {
                            hdr: Box::new(HdrRef::UnionMember {
                                un: Box::new(UnionRef::StackLast(stack)),
                                member: member as u32,
                            }),
                            field,
                            signed: fi.signed.then_some(fi.width),
                        }));
                    }
                    other => {
                        let e = ctx.expr(&path, other, &Scope::Plain)?;
                        let width = match &e {
                            Expr::Field(f) | Expr::Field128(f) | Expr::FieldS(f, _) => {
                                ctx.fields[*f as usize].width
                            }
                            Expr::StackLast { stack, field } => {
                                let h = ctx.stacks[*stack as usize].headers[0];
                                ctx.fields[(ctx.headers[h as usize].first_field + field) as usize]
                                    .width
                            }
                            Expr::Valid(_) | Expr::RefValid(_) => 1,
                            Expr::RefField { hdr, field, .. } => {
                                let h = ctx.ref_repr(hdr);
                                ctx.fields[(ctx.headers[h as usize].first_field + field) as usize]
                                    .width
                            }
                            _ => {
                                return refused(path, "a select key must be a field or a lookahead")
                            }
                        };
                        key.push(KeySrc::Expr(e));
                        part_bytes.push(width.div_ceil(8) as usize);
                    }
                }
            }
            let mut transitions = vec![];
            for (ti, t) in s.transitions.iter().enumerate() {
                let path = format!("{base}.transitions[{ti}]");
                let next = match &t.next_state {
                    None => None,
                    Some(n) => Some(
                        *state_ix
                            .get(n.as_str())
                            .ok_or(())
                            .or_else(|()| refused(&path, format!("unknown parse state `{n}`")))?,
                    ),
                };
                match t.kind.as_str() {
                    "default" => transitions.push(Transition {
                        value: vec![],
                        mask: None,
                        next,
                    }),
                    "hexstr" => {
                        let Some(v) = &t.value else {
                            return refused(path, "a hexstr transition without a value");
                        };
                        let value = split_select(&path, v, &part_bytes)?;
                        let mask = match &t.mask {
                            Some(m) => Some(split_select(&path, m, &part_bytes)?),
                            None => None,
                        };
                        transitions.push(Transition { value, mask, next });
                    }
                    other => {
                        return refused(path, format!("transition type `{other}` is not supported"))
                    }
                }
            }
            let packed = pack_select(&key, &part_bytes, &transitions);
            parse_states.push(ParseState {
                name: s.name.clone(),
                ops,
                key,
                transitions,
                packed,
            });
        }
    }

    // Deparser.
    if doc.deparsers.len() > 1 {
        return refused("$.deparsers[1]", "more than one deparser");
    }
    let mut deparse = vec![];
    if let Some(d) = doc.deparsers.first() {
        if !d.primitives.is_empty() {
            return refused(
                "$.deparsers[0].primitives[0]",
                "deparser primitives are not supported",
            );
        }
        for (i, h) in d.order.iter().enumerate() {
            let path = format!("$.deparsers[0].order[{i}]");
            if let Some(x) = ctx.header_ix.get(h.as_str()) {
                deparse.push(*x);
            } else if let Some(s) = ctx.stack_ix.get(h.as_str()) {
                deparse.extend(ctx.stacks[*s as usize].headers.iter().copied());
            } else if let Some(u) = ctx.union_ix.get(h.as_str()) {
                deparse.extend(ctx.unions[*u as usize].headers.iter().copied());
            } else if let Some(s) = ctx.union_stack_ix.get(h.as_str()) {
                for u in &ctx.union_stacks[*s as usize].unions {
                    deparse.extend(ctx.unions[*u as usize].headers.iter().copied());
                }
            } else {
                return refused(path, format!("unknown header `{h}`"));
            }
        }
    }
    // The deparser never emits metadata.
    deparse.retain(|h| !ctx.headers[*h as usize].metadata);

    // Pipelines.
    let mut tables = vec![];
    let mut conds = vec![];
    // The JSON path of each table and conditional, by node index.
    let mut table_paths = vec![];
    let mut cond_paths = vec![];
    let mut ingress = None;
    let mut egress = None;
    for (pi, pl) in doc.pipelines.iter().enumerate() {
        let base = format!("$.pipelines[{pi}]");
        if !pl.action_profiles.is_empty() {
            return refused(
                format!("{base}.action_profiles[0]"),
                "action profiles and selectors are not supported",
            );
        }
        let mut nodes: HashMap<&str, Node> = HashMap::new();
        for (ti, t) in pl.tables.iter().enumerate() {
            nodes.insert(t.name.as_str(), Node::Table((tables.len() + ti) as u32));
        }
        for (ci, c) in pl.conditionals.iter().enumerate() {
            nodes.insert(c.name.as_str(), Node::Cond((conds.len() + ci) as u32));
        }
        let node = |path: &str, n: &Option<String>| -> Result<Option<Node>, Error> {
            match n {
                None => Ok(None),
                Some(name) => nodes
                    .get(name.as_str())
                    .copied()
                    .map(Some)
                    .ok_or(())
                    .or_else(|()| refused(path, format!("unknown table or conditional `{name}`"))),
            }
        };
        for (ti, t) in pl.tables.iter().enumerate() {
            let path = format!("{base}.tables[{ti}]");
            tables.push(compile_table(&ctx, &path, t, &node)?);
            table_paths.push(path);
        }
        for (ci, c) in pl.conditionals.iter().enumerate() {
            let path = format!("{base}.conditionals[{ci}]");
            let expr = ctx.expr(&path, &c.expression, &Scope::Plain)?;
            let if_true = node(&format!("{path}.true_next"), &c.true_next)?;
            let if_false = node(&format!("{path}.false_next"), &c.false_next)?;
            conds.push(CondInfo {
                test: Test::of(&expr, &ctx.fields),
                expr,
                if_true,
                if_false,
                t: node_ref(if_true),
                f: node_ref(if_false),
            });
            cond_paths.push(path);
        }
        let init = node(&format!("{base}.init_table"), &pl.init_table)?;
        match pl.name.as_str() {
            "ingress" => ingress = init,
            "egress" => egress = init,
            other => {
                return refused(
                    base,
                    format!("pipeline `{other}` is neither ingress nor egress"),
                )
            }
        }
    }

    // A walk through a control must end: no cycles.
    if let Some(n) = control_cycle(&tables, &conds) {
        let (path, name) = match n {
            Node::Table(t) => (&table_paths[t as usize], tables[t as usize].name.as_str()),
            Node::Cond(c) => (&cond_paths[c as usize], "a conditional"),
        };
        return refused(
            path,
            format!(
                "the control's graph has a cycle through {name}: a packet would never leave it"
            ),
        );
    }

    // Checksums.
    let mut verify = vec![];
    let mut update = vec![];
    for (i, c) in doc.checksums.iter().enumerate() {
        let path = format!("$.checksums[{i}]");
        if c.kind != "generic" && c.kind != "ipv4" {
            return refused(path, format!("checksum type `{}` is not supported", c.kind));
        }
        let calc = *ctx
            .calc_ix
            .get(&c.calculation)
            .ok_or(())
            .or_else(|()| refused(&path, format!("unknown calculation `{}`", c.calculation)))?;
        let target = ctx.field_operand(
            &path,
            Some(&Operand::Field {
                value: c.target.clone(),
            }),
        )?;
        let cond = match &c.if_cond {
            Some(e) => Some(ctx.expr(&format!("{path}.if_cond"), e, &Scope::Plain)?),
            None => None,
        };
        let guard = match cond {
            Some(Expr::ValidAnd(h, op, f, k)) => {
                let test = Test::of(&Expr::FieldOp(op, f, k), &ctx.fields);
                matches!(test.on, TestOn::Field(_)).then_some((h, f, test))
            }
            _ => None,
        };
        let info = ChecksumInfo {
            target,
            calc,
            cond,
            guard,
            keep: None,
            reuse: None,
        };
        if c.verify {
            verify.push(info.clone());
        }
        if c.update {
            update.push(info);
        }
    }

    let sm = |f: &str| {
        ctx.field("", &("standard_metadata".to_string(), f.to_string()))
            .ok()
    };
    // simple_switch reads these two as `intrinsic_metadata.*` (p4c aliases
    // them to `standard_metadata`).
    let im = |f: &str| {
        ctx.field("", &("intrinsic_metadata".to_string(), f.to_string()))
            .ok()
    };
    let qm = |f: &str| {
        ctx.field("", &("queueing_metadata".to_string(), f.to_string()))
            .ok()
    };
    let std = StdMeta {
        ingress_port: sm("ingress_port"),
        egress_spec: sm("egress_spec"),
        egress_port: sm("egress_port"),
        instance_type: sm("instance_type"),
        packet_length: sm("packet_length"),
        mcast_grp: im("mcast_grp").or_else(|| sm("mcast_grp")),
        egress_rid: im("egress_rid").or_else(|| sm("egress_rid")),
        checksum_error: sm("checksum_error"),
        parser_error: sm("parser_error"),
        ingress_global_timestamp: sm("ingress_global_timestamp"),
        egress_global_timestamp: sm("egress_global_timestamp"),
        // Only through the alias, as for `mcast_grp`: `simple_switch` has
        // no other name for it.
        priority: im("priority"),
        enq_timestamp: qm("enq_timestamp"),
        enq_qdepth: qm("enq_qdepth"),
        deq_timedelta: qm("deq_timedelta"),
        deq_qdepth: qm("deq_qdepth"),
        qid: qm("qid"),
        queueing: false,
        queue_zeroes: vec![],
        in_metadata: false,
        slots: [(0, 0); Std::COUNT],
    };
    // A slot no field of the program has: where writes of the fields it
    // lacks go.
    let sink = u32::try_from(ctx.fields.len())
        .ok()
        .filter(|&n| (n as usize) < MAX_FIELDS);
    let slots = Std::ALL.map(|s| match (std.field(s), sink) {
        (Some(f), _) => (f, bits::mask(ctx.fields[f as usize].width) as u64),
        (None, Some(n)) => (n, 0),
        (None, None) => (0, 0),
    });
    let std = StdMeta {
        slots,
        queueing: [
            std.enq_timestamp,
            std.enq_qdepth,
            std.deq_timedelta,
            std.deq_qdepth,
        ]
        .iter()
        .all(Option::is_some),
        in_metadata: sink.is_some()
            && [
                std.ingress_port,
                std.egress_spec,
                std.egress_port,
                std.instance_type,
                std.packet_length,
                std.mcast_grp,
                std.egress_rid,
                std.checksum_error,
                std.parser_error,
                std.ingress_global_timestamp,
                std.egress_global_timestamp,
                std.enq_timestamp,
                std.enq_qdepth,
                std.deq_timedelta,
                std.deq_qdepth,
                std.qid,
            ]
            .into_iter()
            .flatten()
            .all(|f| {
                let fi = &ctx.fields[f as usize];
                ctx.headers[fi.header as usize].metadata && fi.width <= 64
            }),
        ..std
    };
    if std.egress_spec.is_none() && ingress.is_some() {
        return refused(
            "$.headers",
            "no `standard_metadata.egress_spec`: not a v1model program",
        );
    }
    let error_names = doc.errors.iter().map(|(n, v)| (*v, n.clone())).collect();
    let field_hot = ctx
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let local = i as u32 - ctx.headers[f.header as usize].first_field;
            FieldHot {
                mask: bits::mask(f.width),
                header: f.header,
                dirty_bit: 1u64.checked_shl(local).unwrap_or(0),
            }
        })
        .collect::<Vec<FieldHot>>();
    for a in &mut actions {
        a.ops = action_ops(&a.prims, &field_hot);
    }
    let fast_parse = fast_parse(&parse_states, &ctx.headers);
    if tables.len() >= END_REF as usize || conds.len() >= END_REF as usize {
        return refused(
            "$.pipelines",
            "more tables or conditionals than the walk numbers (2^31 - 2 of each)",
        );
    }
    link_sum_reuse(&mut verify, &mut update, &calcs, &ctx.headers);
    let deparse_packet = deparse
        .iter()
        .filter_map(|&h| {
            let hi = &ctx.headers[h as usize];
            let in_place = !hi.plan.is_empty() && hi.n_fields <= 64;
            (!hi.metadata).then_some((h, hi.bits / 8, in_place))
        })
        .collect();
    let mut prog = Program {
        copy_extracted: true,
        field_hot,
        headers: ctx.headers,
        fields: ctx.fields,
        stacks: ctx.stacks,
        unions: ctx.unions,
        union_stacks: ctx.union_stacks,
        fast_parse,
        parse_states,
        parse_start,
        deparse_packet,
        actions,
        tables,
        conds,
        ingress,
        egress,
        calcs,
        verify,
        update,
        meters,
        counters,
        registers,
        std,
        errors,
        error_names,
        field_lists: ctx
            .field_lists
            .into_iter()
            .map(|(_, f)| f.unwrap_or_default())
            .collect(),
    };
    if !prog.std.priority.is_some_and(|f| may_set(&prog, f)) {
        prog.std.priority = None;
    }
    prog.std.queue_zeroes = [Std::EnqQdepth, Std::DeqTimedelta, Std::DeqQdepth]
        .into_iter()
        .filter(|&s| prog.std.field(s).is_some_and(|f| may_set(&prog, f)))
        .collect();
    Ok(prog)
}

/// Whether field `f` can hold anything but 0 when a copy goes to egress:
/// a field of a packet header can (its start value, see
/// [`crate::HeaderStart`]), and so can a metadata field that a primitive,
/// a parser operation, a direct meter, a checksum update or the switch
/// itself writes. Metadata starts every packet at 0, and the field lists of
/// clones, resubmits and recirculations carry a field's own value, so a
/// metadata field written nowhere stays 0. Conservative: a header chosen
/// at run time counts as any header it may be.
pub(crate) fn may_set(p: &Program, f: Fid) -> bool {
    let h = p.fields[f as usize].header;
    let hi = &p.headers[h as usize];
    if !hi.metadata || hi.stack.is_some() || hi.union.is_some() {
        return true;
    }
    let s = &p.std;
    let by_switch = [
        s.ingress_port,
        s.egress_spec,
        s.egress_port,
        s.instance_type,
        s.packet_length,
        s.mcast_grp,
        s.egress_rid,
        s.checksum_error,
        s.parser_error,
        s.ingress_global_timestamp,
        s.egress_global_timestamp,
    ];
    if by_switch.contains(&Some(f)) {
        return true;
    }
    let prims = p.actions.iter().flat_map(|a| &a.prims);
    let parser_prims = p
        .parse_states
        .iter()
        .flat_map(|st| &st.ops)
        .filter_map(|op| match op {
            ParseOp::Prim(prim) => Some(prim),
            _ => None,
        });
    if prims
        .chain(parser_prims)
        .any(|prim| prim_may_set(prim, f, h))
    {
        return true;
    }
    let parser_sets = p
        .parse_states
        .iter()
        .flat_map(|st| &st.ops)
        .any(|op| match op {
            ParseOp::Set(d, _) | ParseOp::SetLookahead { dst: d, .. } => *d == f,
            ParseOp::Extract(x) | ParseOp::ExtractTo(ExtractTo::Header(x), _) => *x == h,
            // Stack and union elements were answered above.
            ParseOp::ExtractNext(_)
            | ParseOp::ExtractTo(ExtractTo::Stack(_) | ExtractTo::UnionStack { .. }, _) => false,
            ParseOp::Verify(..) | ParseOp::Advance(_) | ParseOp::Prim(_) => false,
        });
    parser_sets
        || p.tables
            .iter()
            .any(|t| t.direct_meter.is_some_and(|(_, d)| d == f))
        || p.update.iter().any(|c| c.target == f)
}

/// Whether a primitive can write field `f` of header `h` (a metadata
/// header in no stack or union).
fn prim_may_set(prim: &Prim, f: Fid, h: Hid) -> bool {
    match prim {
        Prim::Assign(d, _)
        | Prim::ExecuteMeter { dst: d, .. }
        | Prim::RegisterRead { dst: d, .. }
        | Prim::HashOffset { dst: d, .. }
        | Prim::AssignVl { dst: d, .. } => *d == f,
        Prim::AssignHeader { dst: x, .. } | Prim::AddHeader(x) | Prim::RemoveHeader(x) => *x == h,
        Prim::AssignRef { hdr, .. } => ref_may_be(hdr, h),
        Prim::AssignHeaderRef { dst, .. }
        | Prim::AddHeaderRef(dst)
        | Prim::RemoveHeaderRef(dst) => ref_may_be(dst, h),
        // Stacks and unions: `h` is in none.
        Prim::Push { .. }
        | Prim::Pop { .. }
        | Prim::AssignUnion { .. }
        | Prim::AssignStack { .. }
        | Prim::AssignUnionStack { .. }
        | Prim::PushUnion { .. }
        | Prim::PopUnion { .. } => false,
        // `mark_to_drop` writes `egress_spec` and `mcast_grp`, answered
        // with the switch's own fields.
        Prim::MarkToDrop
        | Prim::Exit
        | Prim::Nothing
        | Prim::Count { .. }
        | Prim::RegisterWrite { .. }
        | Prim::Truncate(_)
        | Prim::Log(_)
        | Prim::Assert(_)
        | Prim::Clone { .. }
        | Prim::Resubmit(_)
        | Prim::Recirculate(_) => false,
    }
}

/// Whether a header chosen at run time may be header `h` (in no stack or
/// union).
fn ref_may_be(r: &HdrRef, h: Hid) -> bool {
    match r {
        HdrRef::Fixed(x) => *x == h,
        HdrRef::StackElem { .. } | HdrRef::UnionMember { .. } => false,
        HdrRef::Cond(_, a, b) => ref_may_be(a, h) || ref_may_be(b, h),
    }
}

/// Reads `$.field_lists`: per list, its id and the fields it names. A list
/// that names anything but fields of at most 128 bits gets the reason it
/// cannot be preserved, given only if a primitive uses it (the lists of
/// digests may hold other things).
fn compile_field_lists(ctx: &Ctx<'_>, doc: &Bmv2Json) -> Vec<(u64, Result<Vec<Fid>, Error>)> {
    let list = |i: usize, v: &Value| -> Result<Vec<Fid>, Error> {
        let path = format!("$.field_lists[{i}]");
        let elements = v.get("elements").and_then(Value::as_array);
        let mut fields = vec![];
        for (k, e) in elements.into_iter().flatten().enumerate() {
            let p = format!("{path}.elements[{k}]");
            let r = match (e.get("type").and_then(Value::as_str), e.get("value")) {
                (Some("field"), Some(Value::Array(r))) => match r.as_slice() {
                    [Value::String(h), Value::String(f)] => (h.clone(), f.clone()),
                    _ => return refused(p, "expected a field reference [header, field]"),
                },
                (t, _) => {
                    return refused(
                        p,
                        format!(
                            "expected a field, found an element of type `{}`",
                            t.unwrap_or("none")
                        ),
                    )
                }
            };
            let f = ctx.field(&p, &r)?;
            if ctx.fields[f as usize].width > 128 {
                return refused(p, "fields over 128 bits cannot be preserved");
            }
            fields.push(f);
        }
        Ok(fields)
    };
    doc.field_lists
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let id = get_u64(v, "id").unwrap_or(u64::MAX);
            (id, list(i, v))
        })
        .collect()
}

/// Resolves a next-node name (with the JSON path for errors).
type NodeOf<'a> = dyn Fn(&str, &Option<String>) -> Result<Option<Node>, Error> + 'a;

fn compile_table(
    ctx: &Ctx<'_>,
    path: &str,
    t: &j::Table,
    node: &NodeOf<'_>,
) -> Result<TableInfo, Error> {
    if t.kind != "simple" {
        return refused(
            path,
            format!(
                "table `{}` is of type `{}`; only `simple` tables are supported",
                t.name, t.kind
            ),
        );
    }
    let mut keys = vec![];
    for (ki, k) in t.key.iter().enumerate() {
        let kp = format!("{path}.key[{ki}]");
        let kind = match k.match_type.as_str() {
            "exact" => MatchKind::Exact,
            "lpm" => MatchKind::Lpm,
            "ternary" => MatchKind::Ternary,
            "range" => MatchKind::Range,
            "optional" => MatchKind::Optional,
            other => return refused(kp, format!("match kind `{other}` is not supported")),
        };
        let src = ctx.field_expr(&kp, &k.target)?;
        let width = match &src {
            Expr::Field(f) | Expr::Field128(f) | Expr::FieldS(f, _) => {
                ctx.fields[*f as usize].width
            }
            _ => 1,
        };
        let mask = match &k.mask {
            Some(m) => Some(hexstr(m).or_else(|e| refused(&kp, e))? & bits::mask(width)),
            None => None,
        };
        keys.push(KeyInfo {
            name: k.name.clone(),
            kind,
            field: match src {
                Expr::Field(f) => Some(f),
                _ => None,
            },
            src,
            width,
            key_mask: bits::mask(width) & mask.unwrap_or(u128::MAX),
        });
    }
    if keys.iter().filter(|k| k.kind == MatchKind::Lpm).count() > 1 {
        return refused(
            path,
            format!("table `{}` has more than one lpm key", t.name),
        );
    }
    let mut actions = vec![];
    let mut next_by_action = vec![];
    for (i, id) in t.action_ids.iter().enumerate() {
        let Some(&a) = ctx.action_ix.get(id) else {
            return refused(
                format!("{path}.action_ids[{i}]"),
                format!("unknown action id {id}"),
            );
        };
        actions.push(a);
        let name = &ctx.doc.actions[a as usize].name;
        let next = t.next_tables.get(name).cloned().flatten();
        next_by_action.push(match t.next_tables.get(name) {
            Some(_) => node(&format!("{path}.next_tables.{name}"), &next)?,
            None => node(&format!("{path}.base_default_next"), &t.base_default_next)?,
        });
    }
    let next_hit = match t.next_tables.get("__HIT__") {
        Some(n) => Some(node(&format!("{path}.next_tables.__HIT__"), n)?),
        None => None,
    };
    let next_miss = match t.next_tables.get("__MISS__") {
        Some(n) => Some(node(&format!("{path}.next_tables.__MISS__"), n)?),
        None => None,
    };
    let call = |p: &str, action_id: u32, data: &[String]| -> Result<ActionCall, Error> {
        let Some(&a) = ctx.action_ix.get(&action_id) else {
            return refused(p, format!("unknown action id {action_id}"));
        };
        let params = &ctx.doc.actions[a as usize].runtime_data;
        if params.len() != data.len() {
            return refused(
                p,
                format!(
                    "action `{}` takes {} parameters, {} given",
                    ctx.doc.actions[a as usize].name,
                    params.len(),
                    data.len()
                ),
            );
        }
        let data = data
            .iter()
            .zip(params)
            .map(|(d, rd)| hexstr(d).map(|v| v & bits::mask(rd.bitwidth)))
            .collect::<Result<Vec<_>, _>>()
            .or_else(|e| refused(p, e))?;
        Ok(ActionCall { action: a, data })
    };
    let (default, default_const) = match &t.default_entry {
        Some(d) => (
            call(
                &format!("{path}.default_entry"),
                d.action_id,
                &d.action_data,
            )?,
            d.action_const,
        ),
        None => match actions.first() {
            Some(&a) if ctx.doc.actions[a as usize].runtime_data.is_empty() => (
                ActionCall {
                    action: a,
                    data: vec![],
                },
                false,
            ),
            _ => {
                return refused(
                    path,
                    "a table without a default entry whose first action takes parameters",
                )
            }
        },
    };
    let mut entries = vec![];
    for (ei, e) in t.entries.iter().flatten().enumerate() {
        let ep = format!("{path}.entries[{ei}]");
        let Some(mk) = e.get("match_key").and_then(Value::as_array) else {
            return refused(ep, "an entry without match_key");
        };
        if mk.len() != keys.len() {
            return refused(
                ep,
                format!("{} match values for {} keys", mk.len(), keys.len()),
            );
        }
        let mut km = vec![];
        for (ki, (m, k)) in mk.iter().zip(&keys).enumerate() {
            let mp = format!("{ep}.match_key[{ki}]");
            let num = |name: &str| -> Result<u128, Error> {
                let s = get_str(m, name)
                    .ok_or(())
                    .or_else(|()| refused(&mp, format!("no `{name}`")))?;
                hexstr(s).or_else(|e| refused(&mp, e))
            };
            use crate::table::KeyMatch;
            km.push(match get_str(m, "match_type") {
                Some("exact") => KeyMatch::Exact(num("key")?),
                Some("lpm") => KeyMatch::Lpm {
                    value: num("key")?,
                    prefix_len: get_u64(m, "prefix_length").unwrap_or(u64::from(k.width)) as u32,
                },
                Some("ternary") => KeyMatch::Ternary {
                    value: num("key")?,
                    mask: num("mask")?,
                },
                Some("range") => KeyMatch::Range {
                    low: num("start")?,
                    high: num("end")?,
                },
                Some("optional") => KeyMatch::Ternary {
                    value: num("key")?,
                    mask: bits::mask(k.width),
                },
                other => return refused(mp, format!("match type {other:?} is not supported")),
            });
        }
        let Some(ae) = e.get("action_entry") else {
            return refused(ep, "an entry without action_entry");
        };
        let id = get_u64(ae, "action_id")
            .ok_or(())
            .or_else(|()| refused(&ep, "no action_id"))?;
        let data: Vec<String> = ae
            .get("action_data")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let priority =
            get_u64(e, "priority").map(|p| u32::MAX - (p.min(u64::from(u32::MAX)) as u32));
        entries.push(ConstEntry {
            keys: km,
            call: call(&format!("{ep}.action_entry"), id as u32, &data)?,
            priority,
        });
    }
    let direct_meter = match &t.direct_meters {
        None => None,
        Some(m) => {
            let Some(&mi) = ctx.meter_ix.get(m) else {
                return refused(path, format!("unknown direct meter `{m}`"));
            };
            let Some(target) = &ctx.doc.meter_arrays[mi as usize].result_target else {
                return refused(path, format!("direct meter `{m}` has no result_target"));
            };
            Some((
                mi,
                ctx.field_operand(
                    path,
                    Some(&Operand::Field {
                        value: target.clone(),
                    }),
                )?,
            ))
        }
    };
    let mut info = TableInfo {
        name: t.name.clone(),
        keys,
        actions,
        next_by_action,
        next_hit,
        next_miss,
        default,
        default_const,
        entries,
        max_size: t.max_size,
        with_counters: t.with_counters,
        direct_meter,
        next_dense: vec![],
        next_refs: vec![],
        key64: None,
        key128: None,
    };
    let total = info.keys.iter().map(|k| k.width).sum::<u32>();
    if total <= 128 {
        let mut after = total;
        // `field` is only set for fields of 64 bits or fewer: the mask
        // fits in 64 bits.
        let plan = info
            .keys
            .iter()
            .map(|k| {
                after -= k.width;
                k.field.map(|f| (f, after, k.key_mask as u64))
            })
            .collect();
        if total <= 64 {
            info.key64 = plan;
        } else {
            info.key128 = plan;
        }
    }
    info.next_dense = (0..ctx.doc.actions.len() as u32)
        .map(|a| (info.next_by_rule(false, a), info.next_by_rule(true, a)))
        .collect();
    info.next_refs = info
        .next_dense
        .iter()
        .map(|&(miss, hit)| (node_ref(miss), node_ref(hit)))
        .collect();
    Ok(info)
}

#[cfg(test)]
mod test_tests {
    use super::*;

    fn field(width: u32) -> FieldInfo {
        FieldInfo {
            name: "h.f".into(),
            short: "f".into(),
            header: 0,
            width,
            signed: false,
            bit_off: 0,
            wide: None,
            varbit: false,
            after_varbit: false,
        }
    }

    /// Every comparison a range test stands for answers as the
    /// comparison does, at and around the edges of the 64-bit values.
    #[test]
    fn a_range_test_answers_as_the_comparison_it_stands_for() {
        let fields = [field(64)];
        let edges = [0u64, 1, 2, 7, 8, 9, u64::MAX / 2, u64::MAX - 1, u64::MAX];
        type Cmp = fn(u64, u64) -> bool;
        let ops: [(BinOp, Cmp); 6] = [
            (BinOp::Eq, |v, c| v == c),
            (BinOp::Ne, |v, c| v != c),
            (BinOp::Lt, |v, c| v < c),
            (BinOp::Le, |v, c| v <= c),
            (BinOp::Gt, |v, c| v > c),
            (BinOp::Ge, |v, c| v >= c),
        ];
        for (op, cmp) in ops {
            for c in edges {
                let t = Test::of(&Expr::FieldOp(op, 0, u128::from(c)), &fields);
                assert_eq!(t.on, TestOn::Field(0), "{op:?} {c}");
                for v in edges {
                    assert_eq!(t.holds(v), cmp(v, c), "{v} {op:?} {c}");
                }
            }
        }
    }

    #[test]
    fn validity_tests_read_the_valid_bit_and_other_shapes_fall_back() {
        let fields = [field(64), field(65)];
        let valid = Test::of(&Expr::Valid(3), &fields);
        let not_valid = Test::of(&Expr::NotValid(3), &fields);
        assert_eq!(valid.on, TestOn::Valid(3));
        assert_eq!(not_valid.on, TestOn::Valid(3));
        assert!(valid.holds(1) && !valid.holds(0));
        assert!(not_valid.holds(0) && !not_valid.holds(1));
        // A wide field, a constant over 64 bits, another operator.
        for e in [
            Expr::FieldOp(BinOp::Eq, 1, 5),
            Expr::FieldOp(BinOp::Eq, 0, 1 << 64),
            Expr::FieldOp(BinOp::Add, 0, 1),
        ] {
            let t = Test::of(&e, &fields);
            assert_eq!(t.on, TestOn::Expr, "{e:?}");
            assert!(t.holds(1) && !t.holds(0), "{e:?}");
        }
    }
}

#[cfg(test)]
mod priority_tests {
    use super::*;
    use serde_json::{json, Value};

    /// `tests/data/minimal.json` with `standard_metadata.priority` (aliased
    /// as `intrinsic_metadata.priority`, as p4c does) and a register.
    fn doc() -> Value {
        let mut d: Value =
            serde_json::from_str(include_str!("../tests/data/minimal.json")).expect("JSON");
        d["header_types"][0]["fields"] = json!([
            ["ingress_port", 9, false],
            ["egress_spec", 9, false],
            ["egress_port", 9, false],
            ["mcast_grp", 16, false],
            ["priority", 3, false],
            ["_padding", 2, false]
        ]);
        d["field_aliases"] = json!([[
            "intrinsic_metadata.priority",
            ["standard_metadata", "priority"]
        ]]);
        d["register_arrays"] = json!([{"name": "r", "id": 0, "size": 4, "bitwidth": 8}]);
        d["meter_arrays"] = json!([{"name": "mtr", "id": 0, "is_direct": false,
            "rate_count": 2, "type": "packets", "size": 1}]);
        d["calculations"] = json!([{"name": "crc", "id": 0, "algo": "crc16",
            "input": [{"type": "field", "value": ["standard_metadata", "ingress_port"]}]}]);
        d
    }

    fn priority(d: &Value) -> Option<Fid> {
        let text = d.to_string();
        compile(&parse_json(&text).expect("reads"))
            .expect("compiles")
            .std
            .priority
    }

    fn push(d: &mut Value, at: &str, op: Value) {
        d.pointer_mut(at)
            .and_then(Value::as_array_mut)
            .expect("a list")
            .push(op);
    }

    /// A program that never writes the priority gives it no check; one
    /// that writes it in any way does.
    #[test]
    fn the_priority_is_checked_only_when_something_writes_it() {
        let prio = json!({"type": "field", "value": ["standard_metadata", "priority"]});
        let one = json!({"type": "hexstr", "value": "0x1"});
        let assign = json!({"op": "assign", "parameters": [prio, one]});
        assert_eq!(priority(&doc()), None, "written nowhere");
        let action = "/actions/0/primitives";
        let writes = [
            (action, assign.clone()),
            (
                action,
                json!({"op": "register_read", "parameters": [prio,
                {"type": "register_array", "value": "r"}, {"type": "hexstr", "value": "0x0"}]}),
            ),
            (
                "/parsers/0/parse_states/0/parser_ops",
                json!({"op": "set", "parameters": [prio, one]}),
            ),
            (
                action,
                json!({"op": "execute_meter", "parameters": [
                {"type": "meter_array", "value": "mtr"}, {"type": "hexstr", "value": "0x0"}, prio]}),
            ),
            (
                action,
                json!({"op": "modify_field_with_hash_based_offset", "parameters": [prio,
                {"type": "hexstr", "value": "0x0"}, {"type": "calculation", "value": "crc"},
                {"type": "hexstr", "value": "0x8"}]}),
            ),
            (
                action,
                json!({"op": "assign_header", "parameters": [
                {"type": "header", "value": "standard_metadata"},
                {"type": "header", "value": "standard_metadata"}]}),
            ),
        ];
        for (at, op) in writes {
            let mut d = doc();
            push(&mut d, at, op.clone());
            assert!(priority(&d).is_some(), "{op}");
        }
        // The target of an update checksum.
        let mut d = doc();
        d["checksums"] = json!([{"name": "ck", "id": 0, "target": ["standard_metadata", "priority"],
            "type": "generic", "calculation": "crc", "verify": false, "update": true, "if_cond": null}]);
        assert!(priority(&d).is_some(), "an update checksum's target");
        // Without the alias, the switch does not read it at all.
        let mut d = doc();
        push(&mut d, action, assign);
        d["field_aliases"] = json!([]);
        assert_eq!(priority(&d), None);
    }

    /// Standard metadata goes through the slot layout only when every
    /// field of it is a metadata field of 64 bits or fewer; a field the
    /// program lacks gets a slot past its fields.
    #[test]
    fn standard_metadata_slots_only_for_narrow_metadata() {
        let std_of = |d: &Value| {
            compile(&parse_json(&d.to_string()).expect("reads"))
                .expect("compiles")
                .std
        };
        let d = doc();
        let std = std_of(&d);
        assert!(std.in_metadata);
        // One header, `standard_metadata`, of the one header type.
        let n = d["header_types"][0]["fields"]
            .as_array()
            .map_or(0, Vec::len);
        // `minimal.json` has no `instance_type`: its writes go past the
        // program's fields, with nothing to keep.
        assert_eq!(std.slots[Std::InstanceType as usize], (n as Fid, 0));
        let port = std.ingress_port.expect("ingress_port");
        assert_eq!(std.slots[Std::IngressPort as usize], (port, 0x1ff));
        let mut wide = doc();
        wide["header_types"][0]["fields"][0] = json!(["ingress_port", 72, false]);
        assert!(!std_of(&wide).in_metadata, "a 72-bit field");
    }
}
