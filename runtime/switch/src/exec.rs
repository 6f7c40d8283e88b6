//! Running one packet through a compiled program (v1model, as
//! `simple_switch` runs it): parser, checksum verification, ingress,
//! traffic manager decision, egress, checksum update, deparser.

use crate::bits::{mask, read_bits, sign_extend, write_bits};
use crate::hash::Algo;
use crate::meter::{Meter, MeterUnit};
use crate::program::{
    fold32, node_ref, ActOp, BinOp, CalcInput, ChecksumInfo, CsumPlan, Expr, ExtractField,
    ExtractTo, Fid, HdrRef, Hid, KeySrc, Node, NodeRef, ParseOp, Prim, Program, Std, SumReuse,
    TableInfo, TestOn, UnOp, UnionRef, COND_REF, END_REF, KEPT_SUMS, MAX_FIELDS, MAX_HEADERS,
    PLAN_MAX_BYTES,
};
use crate::table::TableState;

/// Control-plane state: table contents and extern cells.
#[derive(Debug, Clone)]
pub(crate) struct Runtime {
    pub tables: Vec<TableState>,
    pub meters: Vec<Vec<Meter>>,
    /// `(packets, bytes)` per cell.
    pub counters: Vec<Vec<(u64, u64)>>,
    pub registers: Vec<Vec<u128>>,
}

/// Per-packet header and metadata values, reused from packet to packet.
pub(crate) struct Phv {
    /// The values of the program's fields, in the first [`Phv::n_vals`]
    /// slots; the others stay zero. Fields of 65 to 128 bits keep their
    /// low 64 bits here and their high ones in [`Phv::hi`].
    pub vals: Box<Vals>,
    /// The high 64 bits of the fields of 65 to 128 bits, at the same
    /// slots as [`Phv::vals`]; 0 for every other field, always (every
    /// write to one of those leaves it 0 or writes 0).
    pub hi: Box<Vals>,
    pub n_vals: usize,
    /// Some field is wider than 64 bits: [`Phv::hi`] is ever written.
    mid: bool,
    /// Per header (the first [`Phv::n_headers`] slots, as all per-header
    /// arrays here): whether it is valid.
    pub valid: Box<[bool; MAX_HEADERS]>,
    pub n_headers: usize,
    /// How [`Phv::valid`] starts each packet: metadata valid, packet
    /// headers not.
    valid_init: Vec<bool>,
    pub stack_next: Vec<u32>,
    /// Values of fields over 128 bits, big-endian, one buffer per field.
    pub wide: Vec<Vec<u8>>,
    /// Per header: the byte offset in the packet it was extracted from, or
    /// [`NOT_EXTRACTED`] once its fields no longer come from one place in
    /// the packet (added, copied into, never extracted). Only a valid
    /// header's entry means anything: every way a header becomes valid
    /// sets it, so it is not reset between packets.
    pub orig: Box<[u32; MAX_HEADERS]>,
    /// Per header: the fields written since extraction, one bit per field
    /// (see [`crate::program::FieldHot::dirty_bit`]).
    pub dirty: Box<[u64; MAX_HEADERS]>,
    /// How the fields of packet headers start each packet (see
    /// [`crate::Switch::set_header_start`]): the values to write, when
    /// drawn from a seed.
    pub fill: Vec<(u32, u128)>,
    /// Fields of packet headers keep their values from the packet before.
    pub keep: bool,
    /// Per header: the current length in bits of its variable-length
    /// field (0 for headers without one, always: in a program without
    /// such fields the lengths need no reset).
    pub vl_bits: Vec<u32>,
    /// Some header has a variable-length field.
    varbit: bool,
    /// Per header union stack: the next element to extract.
    pub union_stack_next: Vec<u32>,
    /// Room to read a header near the end of a packet through its
    /// extraction plan (see [`run_plan`]).
    win: [u8; PLAN_WINDOW],
}

/// A header vector's field values, by field id: a slot for every 16-bit
/// id, so that indexing with a field id cut to 16 bits (see [`fx`]) needs
/// no bounds check. The array is allocated zeroed and only the program's
/// fields are ever written, so its pages past them are never touched.
/// A slot holds 64 bits: the low half of a wider field's value (the high
/// half is in [`Phv::hi`]).
pub(crate) type Vals = [u64; MAX_FIELDS];

/// The slot of field `f` in [`Vals`]: `f` itself, as every field id of a
/// loaded program is below [`MAX_FIELDS`] (refused at load otherwise).
#[inline(always)]
pub(crate) fn fx(f: Fid) -> usize {
    usize::from(f as u16)
}
const _: () = assert!(MAX_FIELDS == 1 << 16);

impl std::fmt::Debug for Phv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The program's fields only, not every slot; the high halves only
        // when some field has one.
        let hi: &[u64] = if self.mid {
            &self.hi[..self.n_vals]
        } else {
            &[]
        };
        f.debug_struct("Phv")
            .field("vals", &&self.vals[..self.n_vals])
            .field("hi", &hi)
            .field("valid", &&self.valid[..self.n_headers])
            .field("orig", &&self.orig[..self.n_headers])
            .field("dirty", &&self.dirty[..self.n_headers])
            .finish_non_exhaustive()
    }
}

/// A header vector set aside (the copy a queued pass of a packet runs
/// on): each part as long as the program needs, unlike [`Phv`]'s slots
/// for every id.
#[derive(Debug, Default)]
pub(crate) struct Saved {
    pub vals: Vec<u64>,
    /// [`Phv::hi`]'s slots, when the program has fields over 64 bits
    /// (else empty).
    pub hi: Vec<u64>,
    pub valid: Vec<bool>,
    pub stack_next: Vec<u32>,
    pub wide: Vec<Vec<u8>>,
    pub orig: Vec<u32>,
    pub dirty: Vec<u64>,
    /// The variable-length fields' lengths and the union stacks' next
    /// elements.
    pub vl_bits: Vec<u32>,
    pub union_stack_next: Vec<u32>,
}

/// A zeroed array on the heap (one this size would not fit on a thread's
/// stack); its pages are not touched until written.
fn zeroed<T: Copy + Default, const N: usize>() -> Box<[T; N]> {
    // The conversion cannot fail: the lengths are the same.
    vec![T::default(); N]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("a vector of N values"))
}

/// The slot of header `h` in the per-header arrays: `h` itself, as every
/// header id of a loaded program is below [`MAX_HEADERS`].
#[inline(always)]
pub(crate) fn hx(h: Hid) -> usize {
    usize::from(h as u16)
}
const _: () = assert!(MAX_HEADERS == 1 << 16);

/// [`Phv::orig`] of a header whose bytes are not in the packet.
pub(crate) const NOT_EXTRACTED: u32 = u32::MAX;

impl Phv {
    pub(crate) fn new(p: &Program) -> Phv {
        let wide = p
            .fields
            .iter()
            .filter(|f| f.wide.is_some())
            .map(|f| vec![0u8; f.width.div_ceil(8) as usize])
            .collect();
        Phv {
            vals: zeroed(),
            hi: zeroed(),
            n_vals: p.fields.len().min(MAX_FIELDS),
            mid: p.field_hot.iter().any(|h| h.mask >> 64 != 0),
            valid: zeroed(),
            n_headers: p.headers.len().min(MAX_HEADERS),
            valid_init: p.headers.iter().map(|h| h.metadata).collect(),
            stack_next: vec![0; p.stacks.len()],
            wide,
            // Any value: only a valid header's means anything, and every
            // way to become valid sets it.
            orig: zeroed(),
            dirty: zeroed(),
            fill: vec![],
            keep: false,
            vl_bits: vec![0; p.headers.len()],
            varbit: p.headers.iter().any(|h| h.varbit.is_some()),
            union_stack_next: vec![0; p.union_stacks.len()],
            win: [0; PLAN_WINDOW],
        }
    }

    /// Sets how the fields of packet headers start every packet.
    pub(crate) fn set_start(&mut self, p: &Program, start: crate::HeaderStart) {
        self.fill.clear();
        self.keep = start == crate::HeaderStart::Kept;
        let crate::HeaderStart::Seeded(seed) = start else {
            return;
        };
        // splitmix64: a different value for every field.
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        for h in p.headers.iter().filter(|h| !h.metadata) {
            for f in h.first_field..h.first_field + h.n_fields {
                let fi = &p.fields[f as usize];
                if fi.wide.is_none() {
                    let v = (u128::from(next()) << 64) | u128::from(next());
                    self.fill.push((f, v & crate::bits::mask(fi.width)));
                }
            }
        }
    }

    /// The header vector borrowed apart, as [`Exec`] runs on it.
    pub(crate) fn view(&mut self) -> PhvMut<'_> {
        PhvMut {
            vals: &mut self.vals,
            hi: &mut self.hi,
            n_vals: self.n_vals,
            mid: self.mid,
            valid: &mut self.valid,
            n_headers: self.n_headers,
            stack_next: &mut self.stack_next,
            wide: &mut self.wide,
            orig: &mut self.orig,
            dirty: &mut self.dirty,
            vl_bits: &mut self.vl_bits,
            union_stack_next: &mut self.union_stack_next,
            win: &mut self.win,
            valid_init: &self.valid_init,
            fill: &self.fill,
            keep: self.keep,
            varbit: self.varbit,
        }
    }
}

/// A [`Phv`]'s parts, each borrowed on its own. [`Exec`] holds this by
/// value, so that the slices' addresses stay in registers while values
/// are written (through a borrowed `Phv` every access would read the
/// vector's address again after each write).
pub(crate) struct PhvMut<'a> {
    pub vals: &'a mut Vals,
    pub hi: &'a mut Vals,
    pub n_vals: usize,
    mid: bool,
    pub valid: &'a mut [bool; MAX_HEADERS],
    pub n_headers: usize,
    pub stack_next: &'a mut [u32],
    pub wide: &'a mut [Vec<u8>],
    pub orig: &'a mut [u32; MAX_HEADERS],
    pub dirty: &'a mut [u64; MAX_HEADERS],
    pub vl_bits: &'a mut [u32],
    pub union_stack_next: &'a mut [u32],
    win: &'a mut [u8; PLAN_WINDOW],
    valid_init: &'a [bool],
    fill: &'a [(u32, u128)],
    keep: bool,
    varbit: bool,
}

impl PhvMut<'_> {
    /// The value of field `f`, of any width up to 128 bits.
    #[inline(always)]
    pub(crate) fn get(&self, f: Fid) -> u128 {
        u128::from(self.vals[fx(f)]) | u128::from(self.hi[fx(f)]) << 64
    }

    /// Writes the value of field `f` (already cut to its width).
    #[inline(always)]
    pub(crate) fn put(&mut self, f: Fid, v: u128) {
        self.vals[fx(f)] = v as u64;
        self.hi[fx(f)] = (v >> 64) as u64;
    }

    /// Copies the values into a header vector set aside, reusing its
    /// buffers.
    pub(crate) fn copy_to(&self, dst: &mut Saved) {
        dst.vals.clear();
        dst.vals.extend_from_slice(&self.vals[..self.n_vals]);
        dst.hi.clear();
        if self.mid {
            dst.hi.extend_from_slice(&self.hi[..self.n_vals]);
        }
        let h = self.n_headers;
        dst.valid.clear();
        dst.valid.extend_from_slice(&self.valid[..h]);
        dst.stack_next.clear();
        dst.stack_next.extend_from_slice(self.stack_next);
        if dst.wide.len() == self.wide.len() {
            dst.wide.clone_from_slice(self.wide);
        } else {
            dst.wide = self.wide.to_vec();
        }
        dst.orig.clear();
        dst.orig.extend_from_slice(&self.orig[..h]);
        dst.dirty.clear();
        dst.dirty.extend_from_slice(&self.dirty[..h]);
        dst.vl_bits.clear();
        dst.vl_bits.extend_from_slice(self.vl_bits);
        dst.union_stack_next.clear();
        dst.union_stack_next
            .extend_from_slice(self.union_stack_next);
    }

    /// Takes the values of a header vector set aside by
    /// [`PhvMut::copy_to`] from a view of the same program.
    pub(crate) fn copy_from(&mut self, src: &Saved) {
        let n = self.n_vals.min(src.vals.len());
        self.vals[..n].copy_from_slice(&src.vals[..n]);
        if self.mid {
            let n = self.n_vals.min(src.hi.len());
            self.hi[..n].copy_from_slice(&src.hi[..n]);
        }
        let h = self.n_headers.min(src.valid.len());
        self.valid[..h].copy_from_slice(&src.valid[..h]);
        if self.stack_next.len() == src.stack_next.len() {
            self.stack_next.copy_from_slice(&src.stack_next);
        }
        if self.wide.len() == src.wide.len() {
            self.wide.clone_from_slice(&src.wide);
        }
        let h = h.min(src.orig.len()).min(src.dirty.len());
        self.orig[..h].copy_from_slice(&src.orig[..h]);
        self.dirty[..h].copy_from_slice(&src.dirty[..h]);
        if self.vl_bits.len() == src.vl_bits.len() {
            self.vl_bits.copy_from_slice(&src.vl_bits);
        }
        if self.union_stack_next.len() == src.union_stack_next.len() {
            self.union_stack_next.copy_from_slice(&src.union_stack_next);
        }
    }

    fn reset(&mut self, p: &Program) {
        if self.keep {
            for h in p.headers.iter().filter(|h| h.metadata) {
                let f = h.first_field as usize;
                self.vals[f..f + h.n_fields as usize].fill(0);
                if self.mid {
                    self.hi[f..f + h.n_fields as usize].fill(0);
                }
            }
        } else {
            self.vals[..self.n_vals].fill(0);
            if self.mid {
                self.hi[..self.n_vals].fill(0);
            }
        }
        copy_small(&mut self.valid[..], self.valid_init);
        if !self.stack_next.is_empty() {
            self.stack_next.fill(0);
        }
        if !self.union_stack_next.is_empty() {
            self.union_stack_next.fill(0);
        }
        if self.varbit {
            self.vl_bits.fill(0);
        }
        if !self.keep {
            for w in self.wide.iter_mut() {
                w.fill(0);
            }
        }
        for &(f, v) in self.fill {
            self.put(f, v);
        }
    }
}

/// Marks the branch it is called on as the less likely one, so that a
/// condition of the control graph is a branch the processor predicts
/// rather than a selection whose next node waits for the test's value.
#[cold]
fn taken() {}

/// Counts of what happened to packets, including every reason to drop one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub received: u64,
    pub sent: u64,
    /// Packets whose parser stopped on an error (v1model carries on to
    /// ingress with `parser_error` set; the program decides).
    pub parser_errors: u64,
    pub checksum_errors: u64,
    /// Dropped because ingress left `egress_spec` at the drop port.
    pub dropped_ingress: u64,
    /// Dropped because egress marked them to drop.
    pub dropped_egress: u64,
    /// Dropped because ingress set a multicast group (or a clone session
    /// named one) that is not configured or has no replicas.
    pub dropped_multicast: u64,
    /// Dropped at output: the egress port has no attached link.
    pub dropped_no_port: u64,
    pub assert_failures: u64,
    /// Extern accesses (counter, meter, register) at an index out of range
    /// (BMv2 ignores them too), and writes to a header stack element at an
    /// index out of range (ignored; BMv2 stops).
    pub index_errors: u64,
    /// Copies made by clone primitives (one per port a clone went to).
    pub cloned: u64,
    /// Clone primitives whose session is not configured (nothing is
    /// copied, as in BMv2).
    pub clone_no_session: u64,
    /// Copies made by multicast groups after ingress.
    pub replicated: u64,
    pub resubmitted: u64,
    pub recirculated: u64,
    /// Copies not made because a chain of resubmits, recirculations and
    /// egress clones went past [`crate::pre::MAX_GENERATIONS`], or one
    /// received packet went past [`crate::pre::MAX_COPIES`] copies.
    pub dropped_loop: u64,
    /// Copies dropped when they were to be queued for egress: their
    /// `intrinsic_metadata.priority` is at or above the number of priority
    /// queues per port ([`crate::Switch::set_priority_queues`]).
    pub dropped_priority: u64,
}

pub(crate) struct Scratch {
    pub phv: Phv,
    pub key: Vec<u128>,
    pub key2: Vec<u128>,
    pub buf: Vec<u8>,
    pub out: Vec<u8>,
}

impl Scratch {
    pub(crate) fn new(p: &Program) -> Scratch {
        Scratch {
            phv: Phv::new(p),
            key: vec![],
            key2: vec![],
            buf: vec![],
            out: Vec::with_capacity(2048),
        }
    }
}

pub(crate) struct PktState<'d> {
    pub data: &'d [u8],
    /// Bytes of `data` consumed by the parser; the rest is payload.
    pub cursor: usize,
    pub now_us: u64,
    pub exit: bool,
    pub truncate: Option<usize>,
    /// Clone, resubmit and recirculate requests made so far.
    pub ops: crate::pre::Ops,
    /// The packet's length as BMv2 keeps it for `packet_length` in
    /// egress: the length it came in with, plus the headers
    /// `add_header` made valid, minus those `remove_header` made invalid.
    pub length: usize,
    /// Sums of verify checksums kept for update checksums.
    pub kept: KeptSums,
}

/// The raw sums of the verify checksums that update checksums take on
/// (see [`crate::program::SumReuse`]), for one pass of a packet through
/// the parser and on: bit `i` of `which` says that `sums[i]` holds
/// verify checksum `i`'s, summed while its header, extracted at byte
/// `orig[i]` of the packet, had no input field written.
#[derive(Default)]
pub(crate) struct KeptSums {
    pub which: u8,
    pub sums: [u64; KEPT_SUMS],
    pub orig: [u32; KEPT_SUMS],
}
const _: () = assert!(KEPT_SUMS <= u8::BITS as usize);

/// Most parser states one packet goes through (a parser may loop, as over
/// a header stack; a packet that loops longer stops with `NoMatch`).
const MAX_STEPS: u32 = 100_000;

pub(crate) struct Exec<'a> {
    pub p: &'a Program,
    /// The tables of [`Runtime`]; the other parts are apart so that an
    /// action can read its parameters in its table entry while it runs
    /// (actions do not read or change tables).
    pub tables: &'a mut [TableState],
    pub meters: &'a mut [Vec<Meter>],
    pub counters: &'a mut [Vec<(u64, u64)>],
    pub registers: &'a mut [Vec<u128>],
    pub phv: PhvMut<'a>,
    pub key: &'a mut Vec<u128>,
    pub key2: &'a mut Vec<u128>,
    pub buf: &'a mut Vec<u8>,
    pub stats: &'a mut Stats,
    pub drop_port: u32,
}

impl Exec<'_> {
    #[inline]
    fn get(&self, f: Fid) -> u128 {
        self.phv.get(f)
    }

    /// The value of a field of 64 bits or fewer.
    #[inline(always)]
    fn narrow(&self, f: Fid) -> u128 {
        u128::from(self.phv.vals[fx(f)])
    }

    /// Writes a field, cut to its width, and marks it modified.
    #[inline]
    pub(crate) fn set(&mut self, f: Fid, v: u128) {
        let h = &self.p.field_hot[f as usize];
        self.phv.put(f, v & h.mask);
        self.phv.dirty[hx(h.header)] |= h.dirty_bit;
    }

    fn set_opt(&mut self, f: Option<Fid>, v: u128) {
        if let Some(f) = f {
            self.set(f, v);
        }
    }

    fn get_opt(&self, f: Option<Fid>) -> u128 {
        f.map_or(0, |f| self.get(f))
    }

    /// Evaluates an expression. The shapes p4c emits most are done here,
    /// inline at every use; the others in [`Exec::eval_tree`].
    #[inline(always)]
    pub(crate) fn eval(&self, e: &Expr, params: &[u128]) -> u128 {
        match e {
            Expr::Const(c) => *c,
            Expr::Field(f) => self.narrow(*f),
            Expr::Valid(h) => u128::from(self.phv.valid[hx(*h)]),
            Expr::Param(i) => params.get(*i as usize).copied().unwrap_or(0),
            Expr::FieldOp(op, f, c) => binop(*op, self.narrow(*f), *c),
            Expr::ValidAnd(h, op, f, c) => {
                u128::from(self.phv.valid[hx(*h)] && binop(*op, self.narrow(*f), *c) != 0)
            }
            Expr::FieldOpMask(op, f, c, m) => binop(*op, self.narrow(*f), *c) & m,
            Expr::NotValid(h) => u128::from(!self.phv.valid[hx(*h)]),
            _ => self.eval_tree(e, params),
        }
    }

    #[inline(never)]
    fn eval_tree(&self, e: &Expr, params: &[u128]) -> u128 {
        match e {
            Expr::Const(c) => *c,
            Expr::Field(f) => self.narrow(*f),
            Expr::Field128(f) => self.phv.get(*f),
            Expr::FieldS(f, w) => sign_extend(self.phv.get(*f), *w),
            Expr::Valid(h) => u128::from(self.phv.valid[hx(*h)]),
            Expr::Param(i) => params.get(*i as usize).copied().unwrap_or(0),
            Expr::StackLast { stack, field } => {
                let n = self.phv.stack_next[*stack as usize];
                if n == 0 {
                    return 0;
                }
                let h = self.p.stacks[*stack as usize].headers[n as usize - 1];
                let f = self.p.headers[h as usize].first_field + field;
                let fi = &self.p.fields[f as usize];
                let v = self.phv.get(f);
                if fi.signed {
                    sign_extend(v, fi.width)
                } else {
                    v
                }
            }
            Expr::Un(op, a) => {
                let x = self.eval(a, params);
                match op {
                    UnOp::Not => u128::from(x == 0),
                    UnOp::BitNot => !x,
                    UnOp::D2b => u128::from(x != 0),
                    UnOp::Neg => x.wrapping_neg(),
                }
            }
            Expr::Bin(op, a, b) => {
                let x = self.eval(a, params);
                match op {
                    BinOp::LAnd => return u128::from(x != 0 && self.eval(b, params) != 0),
                    BinOp::LOr => return u128::from(x != 0 || self.eval(b, params) != 0),
                    _ => {}
                }
                binop(*op, x, self.eval(b, params))
            }
            Expr::FieldOp(op, f, c) => binop(*op, self.narrow(*f), *c),
            Expr::ValidAnd(h, op, f, c) => {
                u128::from(self.phv.valid[hx(*h)] && binop(*op, self.narrow(*f), *c) != 0)
            }
            Expr::FieldOpMask(op, f, c, m) => binop(*op, self.narrow(*f), *c) & m,
            Expr::NotValid(h) => u128::from(!self.phv.valid[hx(*h)]),
            Expr::Cond(c, a, b) => {
                if self.eval(c, params) != 0 {
                    self.eval(a, params)
                } else {
                    self.eval(b, params)
                }
            }
            Expr::TwoCompMod(a, w) => sign_extend(self.eval(a, params) & mask(*w), *w),
            Expr::RefField { hdr, field, signed } => match self.header_at(hdr, params) {
                Some(h) => {
                    let v = self.phv.get(self.p.headers[h as usize].first_field + field);
                    match signed {
                        Some(w) => sign_extend(v, *w),
                        None => v,
                    }
                }
                None => 0,
            },
            Expr::RefValid(r) => u128::from(
                self.header_at(r, params)
                    .is_some_and(|h| self.phv.valid[hx(h)]),
            ),
            Expr::UnionValid(u) => u128::from(self.union_at(u, params).is_some_and(|u| {
                self.p.unions[u as usize]
                    .headers
                    .iter()
                    .any(|h| self.phv.valid[hx(*h)])
            })),
            Expr::StackSize(s) => u128::from(self.phv.stack_next[*s as usize]),
            Expr::StackLastIndex(s) => {
                u128::from(u64::from(self.phv.stack_next[*s as usize]).wrapping_sub(1))
            }
            Expr::VarbitCmp { a, b, eq } => {
                let x = self.varbit_value(*a);
                let y = self.varbit_value(*b);
                u128::from((x == y) == *eq)
            }
            Expr::Sat { e, width, signed } => {
                let v = self.eval(e, params) as i128;
                let w = *width;
                if *signed {
                    if w == 0 {
                        return 0;
                    }
                    let hi = if w >= 128 {
                        i128::MAX
                    } else {
                        (1i128 << (w - 1)) - 1
                    };
                    let lo = if w >= 128 {
                        i128::MIN
                    } else {
                        -(1i128 << (w - 1))
                    };
                    v.clamp(lo, hi) as u128
                } else if v < 0 {
                    0
                } else {
                    (v as u128).min(mask(w))
                }
            }
        }
    }

    /// The header a reference designates now; `None` for a stack index
    /// out of range.
    fn header_at(&self, r: &HdrRef, params: &[u128]) -> Option<Hid> {
        match r {
            HdrRef::Fixed(h) => Some(*h),
            HdrRef::StackElem { stack, index } => {
                let i = usize::try_from(self.eval(index, params)).ok()?;
                self.p.stacks[*stack as usize].headers.get(i).copied()
            }
            HdrRef::UnionMember { un, member } => {
                let u = self.union_at(un, params)?;
                self.p.unions[u as usize]
                    .headers
                    .get(*member as usize)
                    .copied()
            }
            HdrRef::Cond(c, a, b) => {
                if self.eval(c, params) != 0 {
                    self.header_at(a, params)
                } else {
                    self.header_at(b, params)
                }
            }
        }
    }

    /// The union a reference designates now; `None` for a stack index out
    /// of range (or the last element of an empty stack).
    fn union_at(&self, r: &UnionRef, params: &[u128]) -> Option<u32> {
        match r {
            UnionRef::Fixed(u) => Some(*u),
            UnionRef::StackElem { stack, index } => {
                let i = usize::try_from(self.eval(index, params)).ok()?;
                self.p.union_stacks[*stack as usize].unions.get(i).copied()
            }
            UnionRef::StackLast(stack) => {
                let n = self.phv.union_stack_next[*stack as usize].checked_sub(1)?;
                self.p.union_stacks[*stack as usize]
                    .unions
                    .get(n as usize)
                    .copied()
            }
        }
    }

    /// The significant bytes of a variable-length field's value (leading
    /// zero bytes left out), for comparing values as numbers.
    fn varbit_value(&self, f: Fid) -> &[u8] {
        let slot = self.p.fields[f as usize].wide.unwrap_or(0) as usize;
        let b = &self.phv.wide[slot];
        let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
        &b[start..]
    }

    /// Marks a header valid; the other members of its union, if it is in
    /// one, become invalid.
    #[inline]
    fn mark_valid(&mut self, h: Hid) {
        self.phv.valid[hx(h)] = true;
        if let Some(u) = self.p.headers[h as usize].union {
            for &o in &self.p.unions[u as usize].headers {
                if o != h {
                    self.phv.valid[hx(o)] = false;
                }
            }
        }
    }

    /// Copies a header's fields out of `data` at byte offset `at`; the
    /// caller checked that the header is within `data`.
    #[inline(always)]
    fn extract(&mut self, h: Hid, data: &[u8], at: usize) {
        let p = self.p;
        let hi = &p.headers[h as usize];
        if hi.plan.is_empty() {
            self.extract_fields(h, data, at);
            return;
        }
        tracing::trace!(header = %hi.name, at, "extract");
        let n = (hi.bits / 8) as usize;
        self.extract_planned(n, &hi.plan, hi.plan_narrow, hi.first_field, data, at);
        self.extracted(h, at);
    }

    /// Reads a header of `n` bytes through its plan (the fields from
    /// `first` on) out of `data` at byte `at`. The caller checked that the
    /// header is within `data`; it marks the header extracted.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn extract_planned(
        &mut self,
        n: usize,
        plan: &[ExtractField],
        narrow: bool,
        first: Fid,
        data: &[u8],
        at: usize,
    ) {
        // Every field is read through a 16-byte window: in place when the
        // packet goes on for 16 bytes past the header's window (of 32
        // bytes for a short header, else of `PLAN_MAX_BYTES`), else from
        // a copy of the header's bytes with room after them.
        let phv = &mut self.phv;
        let first = first as usize;
        let Some(vals) = phv.vals.get_mut(first..first + plan.len()) else {
            return;
        };
        let hi = (&mut *phv.hi, first);
        if n <= SHORT_HEADER {
            if let Some(win) = data
                .get(at..at + SHORT_WINDOW)
                .and_then(|w| <&[u8; SHORT_WINDOW]>::try_from(w).ok())
            {
                run_plan(plan, narrow, win, vals, hi);
                return;
            }
        }
        match data
            .get(at..at + PLAN_WINDOW)
            .and_then(|w| <&[u8; PLAN_WINDOW]>::try_from(w).ok())
        {
            Some(win) => run_plan(plan, narrow, win, vals, hi),
            None => {
                // The bytes past the header are shifted out: whatever the
                // buffer holds there from before does not matter.
                copy_small(&mut phv.win[..], &data[at..at + n]);
                run_plan(plan, narrow, phv.win, vals, hi);
            }
        }
    }

    /// Marks a header extracted at byte `at`: valid, its bytes there, no
    /// field written since.
    #[inline(always)]
    fn extracted(&mut self, h: Hid, at: usize) {
        self.mark_valid(h);
        self.phv.orig[hx(h)] = at as u32;
        self.phv.dirty[hx(h)] = 0;
    }

    /// [`Exec::extract`] field by field, for headers without a plan.
    #[inline(never)]
    fn extract_fields(&mut self, h: Hid, data: &[u8], at: usize) {
        let hi = &self.p.headers[h as usize];
        tracing::trace!(header = %hi.name, at, "extract");
        // A variable-length field is as long as `vl_bits` says (set by the
        // caller); the fields after it move by that much.
        let base = at * 8;
        let vl = self.phv.vl_bits[h as usize];
        for f in hi.first_field..hi.first_field + hi.n_fields {
            let fi = &self.p.fields[f as usize];
            let off = base + fi.bit_off as usize + if fi.after_varbit { vl as usize } else { 0 };
            match fi.wide {
                None => self.phv.put(f, read_bits(data, off, fi.width)),
                Some(slot) if fi.varbit => {
                    let buf = &mut self.phv.wide[slot as usize];
                    buf.fill(0);
                    copy_bits(data, off, buf, vl);
                }
                Some(slot) => copy_bits(data, off, &mut self.phv.wide[slot as usize], fi.width),
            }
        }
        self.mark_valid(h);
        self.phv.orig[hx(h)] = at as u32;
        self.phv.dirty[hx(h)] = 0;
    }

    /// Copies a header's fields and validity as they are (stack shifts).
    fn copy_header(&mut self, dst: Hid, src: Hid) {
        let (d, s) = (&self.p.headers[dst as usize], &self.p.headers[src as usize]);
        for i in 0..d.n_fields.min(s.n_fields) {
            let (fd, fs) = ((d.first_field + i) as usize, (s.first_field + i) as usize);
            self.phv.vals[fd] = self.phv.vals[fs];
            self.phv.hi[fd] = self.phv.hi[fs];
            if let (Some(wd), Some(ws)) = (self.p.fields[fd].wide, self.p.fields[fs].wide) {
                copy_wide(self.phv.wide, wd as usize, ws as usize);
            }
        }
        self.phv.vl_bits[dst as usize] = match d.varbit {
            Some(vb) => self.phv.vl_bits[src as usize].min(vb.max_bits),
            None => 0,
        };
        self.phv.valid[hx(dst)] = self.phv.valid[hx(src)];
        self.phv.orig[hx(dst)] = NOT_EXTRACTED;
    }

    /// `assign_header` as BMv2 runs it: from an invalid header, only makes
    /// the destination invalid; else copies the fields and makes it valid
    /// (which invalidates the other members of its union).
    fn assign_header(&mut self, dst: Hid, src: Hid) {
        if !self.phv.valid[hx(src)] {
            self.phv.valid[hx(dst)] = false;
            return;
        }
        self.copy_header(dst, src);
        self.mark_valid(dst);
    }

    /// `assign_header` on each member of two unions of one type.
    fn assign_union(&mut self, dst: u32, src: u32) {
        let p = self.p;
        let (d, s) = (
            &p.unions[dst as usize].headers,
            &p.unions[src as usize].headers,
        );
        for (&hd, &hs) in d.iter().zip(s) {
            self.assign_header(hd, hs);
        }
    }

    /// `push` (`up`) and `pop` on a header union stack, as BMv2 runs them:
    /// the unions are swapped `count` places along the whole stack, and the
    /// unions that land at the pushed (or popped) end keep the members and
    /// validity they had (BMv2's unions ignore the `mark_valid` and
    /// `mark_invalid` that follow the swaps): the stack rotates.
    fn shift_union_stack(&mut self, stack: u32, count: u32, up: bool) {
        let p = self.p;
        let us = &p.union_stacks[stack as usize].unions;
        let len = us.len();
        let n = count as usize;
        if n < len {
            if up {
                for i in (n..len).rev() {
                    self.swap_unions(us[i], us[i - n]);
                }
            } else {
                for i in 0..len - n {
                    self.swap_unions(us[i], us[i + n]);
                }
            }
        }
        let next = &mut self.phv.union_stack_next[stack as usize];
        *next = if up {
            (*next as usize + n.min(len)).min(len) as u32
        } else {
            next.saturating_sub(n.min(len) as u32)
        };
    }

    /// Swaps the members of two unions of one type: values, lengths and
    /// validity.
    fn swap_unions(&mut self, a: u32, b: u32) {
        let p = self.p;
        let (ua, ub) = (&p.unions[a as usize].headers, &p.unions[b as usize].headers);
        for (&ha, &hb) in ua.iter().zip(ub) {
            self.swap_headers(ha, hb);
        }
    }

    /// Swaps the values, length and validity of two headers of one type.
    fn swap_headers(&mut self, a: Hid, b: Hid) {
        if a == b {
            return;
        }
        let (ia, ib) = (&self.p.headers[a as usize], &self.p.headers[b as usize]);
        for i in 0..ia.n_fields.min(ib.n_fields) {
            let (fa, fb) = ((ia.first_field + i) as usize, (ib.first_field + i) as usize);
            self.phv.vals.swap(fa, fb);
            self.phv.hi.swap(fa, fb);
            if let (Some(wa), Some(wb)) = (self.p.fields[fa].wide, self.p.fields[fb].wide) {
                self.phv.wide.swap(wa as usize, wb as usize);
            }
        }
        let (a, b) = (a as usize, b as usize);
        self.phv.vl_bits.swap(a, b);
        self.phv.valid.swap(a, b);
        self.phv.orig[a & (MAX_HEADERS - 1)] = NOT_EXTRACTED;
        self.phv.orig[b & (MAX_HEADERS - 1)] = NOT_EXTRACTED;
    }

    fn clear_header(&mut self, h: Hid) {
        self.phv.vl_bits[h as usize] = 0;
        self.phv.orig[hx(h)] = NOT_EXTRACTED;
        let hi = &self.p.headers[h as usize];
        for f in hi.first_field..hi.first_field + hi.n_fields {
            self.phv.put(f, 0);
            if let Some(w) = self.p.fields[f as usize].wide {
                self.phv.wide[w as usize].fill(0);
            }
        }
    }

    /// Runs the parser. Returns the error code it stopped on, if any.
    pub(crate) fn parse(&mut self, pkt: &mut PktState<'_>) -> Option<u32> {
        let p = self.p;
        // The states' and extractions' trace events come from the general
        // path (the same results, one step at a time).
        if !p.fast_parse.is_empty() && !tracing::enabled!(tracing::Level::TRACE) {
            return self.parse_fast(pkt);
        }
        let mut state = p.parse_start?;
        let mut steps = 0u32;
        loop {
            steps += 1;
            if steps > MAX_STEPS {
                return Some(p.errors.no_match);
            }
            let st = &p.parse_states[state as usize];
            tracing::trace!(state = %st.name, cursor = pkt.cursor, "parse state");
            for op in &st.ops {
                match op {
                    ParseOp::Extract(h) => {
                        let n = (p.headers[*h as usize].bits / 8) as usize;
                        if pkt.cursor + n > pkt.data.len() {
                            return Some(p.errors.packet_too_short);
                        }
                        self.extract(*h, pkt.data, pkt.cursor);
                        pkt.cursor += n;
                    }
                    ParseOp::ExtractNext(s) => {
                        let next = self.phv.stack_next[*s as usize];
                        let Some(&h) = p.stacks[*s as usize].headers.get(next as usize) else {
                            return Some(p.errors.stack_out_of_bounds);
                        };
                        let n = (p.headers[h as usize].bits / 8) as usize;
                        if pkt.cursor + n > pkt.data.len() {
                            return Some(p.errors.packet_too_short);
                        }
                        self.extract(h, pkt.data, pkt.cursor);
                        self.phv.stack_next[*s as usize] = next + 1;
                        pkt.cursor += n;
                    }
                    ParseOp::Set(f, e) => {
                        let v = match *e {
                            Expr::Field(g) => self.narrow(g),
                            ref e => self.eval(e, &[]),
                        };
                        self.set(*f, v);
                    }
                    ParseOp::SetLookahead { dst, off, width } => {
                        let start = pkt.cursor * 8 + *off as usize;
                        if start + *width as usize > pkt.data.len() * 8 {
                            return Some(p.errors.packet_too_short);
                        }
                        let v = read_bits(pkt.data, start, *width);
                        self.set(*dst, v);
                    }
                    ParseOp::Verify(c, code) => {
                        if self.eval(c, &[]) == 0 {
                            return Some(*code);
                        }
                    }
                    ParseOp::Prim(prim) => self.prim(prim, &[], pkt),
                    ParseOp::ExtractTo(to, len) => {
                        let h = match *to {
                            ExtractTo::Header(h) => h,
                            ExtractTo::Stack(s) => {
                                let next = self.phv.stack_next[s as usize];
                                match p.stacks[s as usize].headers.get(next as usize) {
                                    Some(&h) => h,
                                    None => return Some(p.errors.stack_out_of_bounds),
                                }
                            }
                            ExtractTo::UnionStack { stack, member } => {
                                let next = self.phv.union_stack_next[stack as usize];
                                match p.union_stacks[stack as usize].unions.get(next as usize) {
                                    Some(&u) => p.unions[u as usize].headers[member as usize],
                                    None => return Some(p.errors.stack_out_of_bounds),
                                }
                            }
                        };
                        let hi = &p.headers[h as usize];
                        let left = (pkt.data.len() - pkt.cursor) as u128;
                        // BMv2's checks, in its order: whole bytes, enough
                        // packet, then the header type's maximum length.
                        let vl = match (len, hi.varbit) {
                            (Some(e), Some(vb)) => {
                                let bits = self.eval(e, &[]);
                                if bits % 8 != 0 {
                                    return Some(p.errors.parser_invalid_argument);
                                }
                                if u128::from(hi.bits / 8) + bits / 8 > left {
                                    return Some(p.errors.packet_too_short);
                                }
                                if bits > u128::from(vb.max_bits) {
                                    return Some(p.errors.header_too_short);
                                }
                                bits as u32
                            }
                            _ => 0,
                        };
                        let n = ((hi.bits + vl) / 8) as usize;
                        if n as u128 > left {
                            return Some(p.errors.packet_too_short);
                        }
                        self.phv.vl_bits[h as usize] = vl;
                        self.extract(h, pkt.data, pkt.cursor);
                        pkt.cursor += n;
                        match *to {
                            ExtractTo::Header(_) => {}
                            ExtractTo::Stack(s) => self.phv.stack_next[s as usize] += 1,
                            ExtractTo::UnionStack { stack, .. } => {
                                self.phv.union_stack_next[stack as usize] += 1
                            }
                        }
                    }
                    ParseOp::Advance(e) => {
                        let bits = self.eval(e, &[]);
                        let bytes = usize::try_from(bits / 8).unwrap_or(usize::MAX);
                        if bytes > pkt.data.len() - pkt.cursor {
                            return Some(p.errors.packet_too_short);
                        }
                        pkt.cursor += bytes;
                    }
                }
            }
            if let Some((fields, transitions)) =
                st.packed.as_ref().and_then(|ps| ps.fields64.as_ref())
            {
                let vals = &self.phv.vals;
                let mut key = 0u64;
                for &(f, pos) in fields {
                    key |= vals[fx(f)].wrapping_shl(pos);
                }
                match transitions.iter().find(|(v, m, _)| key & m == *v) {
                    None => return Some(p.errors.no_match),
                    Some((_, _, Some(n))) => state = *n,
                    Some((_, _, None)) => return None,
                }
                continue;
            }
            if let Some(ps) = &st.packed {
                let mut key = 0u128;
                for (k, w) in st.key.iter().zip(&ps.part_bits) {
                    let v = match k {
                        KeySrc::Expr(e) => self.eval(e, &[]),
                        KeySrc::Lookahead { off, width } => {
                            let start = pkt.cursor * 8 + *off as usize;
                            if start + *width as usize > pkt.data.len() * 8 {
                                return Some(p.errors.packet_too_short);
                            }
                            read_bits(pkt.data, start, *width)
                        }
                    };
                    key = key.checked_shl(*w).unwrap_or(0) | v;
                }
                match ps.transitions.iter().find(|(v, m, _)| key & m == *v) {
                    None => return Some(p.errors.no_match),
                    Some((_, _, Some(n))) => state = *n,
                    Some((_, _, None)) => return None,
                }
                continue;
            }
            self.key.clear();
            for k in &st.key {
                let v = match k {
                    KeySrc::Expr(e) => self.eval(e, &[]),
                    KeySrc::Lookahead { off, width } => {
                        let start = pkt.cursor * 8 + *off as usize;
                        if start + *width as usize > pkt.data.len() * 8 {
                            return Some(p.errors.packet_too_short);
                        }
                        read_bits(pkt.data, start, *width)
                    }
                };
                self.key.push(v);
            }
            let mut next = None;
            let mut matched = false;
            for t in &st.transitions {
                let hit = t.value.is_empty()
                    || self.key.iter().enumerate().all(|(i, k)| match &t.mask {
                        Some(m) => k & m[i] == t.value[i] & m[i],
                        None => *k == t.value[i],
                    });
                if hit {
                    next = t.next;
                    matched = true;
                    break;
                }
            }
            if !matched {
                return Some(p.errors.no_match);
            }
            match next {
                Some(n) => state = n,
                None => return None,
            }
        }
    }

    /// [`Exec::parse`] for a parser whose states are all
    /// [`crate::program::FastState`]s: the same steps, the same errors.
    fn parse_fast(&mut self, pkt: &mut PktState<'_>) -> Option<u32> {
        let p = self.p;
        let mut state = p.parse_start?;
        for _ in 0..MAX_STEPS {
            let Some(st) = p.fast_parse.get(state as usize) else {
                return Some(p.errors.no_match);
            };
            if let Some((h, n)) = st.extract {
                let n = n as usize;
                let at = pkt.cursor;
                if at + n > pkt.data.len() {
                    return Some(p.errors.packet_too_short);
                }
                match &st.planned {
                    Some(x) => {
                        self.extract_planned(n, &x.plan, x.narrow, x.first_field, pkt.data, at);
                        if x.in_union {
                            self.mark_valid(h);
                        } else {
                            self.phv.valid[hx(h)] = true;
                        }
                        self.phv.orig[hx(h)] = at as u32;
                        self.phv.dirty[hx(h)] = 0;
                    }
                    None => self.extract(h, pkt.data, at),
                }
                pkt.cursor += n;
            }
            for &(d, s) in &st.copies {
                let v = self.phv.get(s);
                self.set(d, v);
            }
            let vals = &self.phv.vals;
            // Most states select on one field, or on none.
            let key = match st.fields.as_slice() {
                [] => 0,
                &[(f, pos)] => vals[fx(f)].wrapping_shl(pos),
                fields => fields
                    .iter()
                    .fold(0u64, |key, &(f, pos)| key | vals[fx(f)].wrapping_shl(pos)),
            };
            match st.transitions.iter().find(|(v, m, _)| key & m == *v) {
                None => return Some(p.errors.no_match),
                Some((_, _, Some(n))) => state = *n,
                Some((_, _, None)) => return None,
            }
        }
        Some(p.errors.no_match)
    }

    /// Walks a control from `start`.
    pub(crate) fn control(&mut self, start: Option<Node>, pkt: &mut PktState<'_>) {
        // The tables are set aside while the control runs (actions do not
        // read them), so that an action can read its parameters in place
        // in its entry; an empty slice stands in for them, which costs
        // nothing.
        if start.is_none() {
            // An empty control (v1model's egress, often).
            pkt.exit = false;
            return;
        }
        let tables = std::mem::take(&mut self.tables);
        let p = self.p;
        self.walk(p, start, tables, pkt);
        self.tables = tables;
    }

    /// [`Exec::control`] with the program passed on its own: a function's
    /// own shared reference lets the compiler keep what it reads of the
    /// program in registers while the header vector is written.
    #[inline(never)]
    fn walk(
        &mut self,
        p: &Program,
        start: Option<Node>,
        tables: &mut [TableState],
        pkt: &mut PktState<'_>,
    ) {
        // The graph has no cycles (refused at load): the walk ends.
        let mut node = node_ref(start);
        pkt.exit = false;
        loop {
            if node & COND_REF != 0 {
                let ci = &p.conds[(node & !COND_REF) as usize];
                let v = match ci.test.on {
                    TestOn::Field(f) => ci.test.holds(self.phv.vals[fx(f)]),
                    TestOn::Valid(h) => ci.test.holds(u64::from(self.phv.valid[hx(h)])),
                    TestOn::Expr => ci.test.holds(u64::from(self.eval_apart(&ci.expr) != 0)),
                };
                node = if v {
                    taken();
                    ci.t
                } else {
                    ci.f
                };
                continue;
            }
            if node == END_REF {
                break;
            }
            node = self.apply_table(p, tables, node, pkt);
            // Only an action can call `exit`.
            if pkt.exit {
                break;
            }
        }
    }

    #[inline(always)]
    fn apply_table(
        &mut self,
        p: &Program,
        tables: &mut [TableState],
        t: u32,
        pkt: &mut PktState<'_>,
    ) -> NodeRef {
        let ti = &p.tables[t as usize];
        let table = &mut tables[t as usize];
        if table.len == 0 {
            // Nothing to look up (keyless tables, tables not filled yet):
            // the default action, with no counter or meter to run.
            let action = table.default.action;
            self.run_action(p, action, &table.default.data, pkt);
            return ti.next_ref(false, action);
        }
        let hit = if let (Some(k64), true) = (&ti.key64, table.is_packed()) {
            // Plain fields of 64 bits or fewer in all: packed in 64 bits.
            let vals = &self.phv.vals;
            let key = match k64.as_slice() {
                &[(f, pos, m)] => (vals[fx(f)] & m).wrapping_shl(pos),
                k64 => k64.iter().fold(0u64, |key, &(f, pos, m)| {
                    key | (vals[fx(f)] & m).wrapping_shl(pos)
                }),
            };
            table.lookup_packed(u128::from(key))
        } else if let (Some(k128), true) = (&ti.key128, table.is_packed()) {
            // Plain fields of 64 bits or fewer, over 64 bits in all.
            let vals = &self.phv.vals;
            let key = k128.iter().fold(0u128, |key, &(f, pos, m)| {
                key | u128::from(vals[fx(f)] & m).wrapping_shl(pos)
            });
            table.lookup_packed(key)
        } else if table.is_packed() {
            // The key fields packed as they are evaluated, as
            // `TableState::lookup` packs them.
            let mut key = 0u128;
            for k in &ti.keys {
                // A 128-bit key is the only one with a non-zero width, so
                // `key` is 0 when it is shifted by 128 (modulo 128: by 0).
                let v = match k.field {
                    Some(f) => self.narrow(f),
                    None => self.eval_apart(&k.src),
                };
                key = key.wrapping_shl(k.width) | (v & k.key_mask);
            }
            table.lookup_packed(key)
        } else {
            self.lookup_words(ti, table)
        };
        let call = match hit.and_then(|h| table.get_mut(h)) {
            Some(entry) => {
                if ti.with_counters {
                    entry.packets += 1;
                    entry.bytes += pkt.data.len() as u64;
                }
                if let Some((m, dst)) = ti.direct_meter {
                    let amount = match p.meters[m as usize].unit {
                        MeterUnit::Bytes => pkt.data.len() as u64,
                        MeterUnit::Packets => 1,
                    };
                    let colour = entry.meter.execute(pkt.now_us, amount);
                    let h = &p.field_hot[dst as usize];
                    self.phv.put(dst, u128::from(colour) & h.mask);
                    self.phv.dirty[hx(h.header)] |= h.dirty_bit;
                }
                &entry.call
            }
            None => &table.default,
        };
        let action = call.action;
        self.run_action(p, action, &call.data, pkt);
        ti.next_ref(hit.is_some(), action)
    }

    /// A table's entry for keys that do not pack into 128 bits, looked up
    /// key by key (apart from the walk, which it would only make longer).
    #[inline(never)]
    fn lookup_words(&mut self, ti: &TableInfo, table: &TableState) -> Option<u32> {
        self.key.clear();
        for k in &ti.keys {
            let v = self.eval(&k.src, &[]) & k.key_mask;
            self.key.push(v);
        }
        table.lookup(self.key, self.key2)
    }

    /// [`Exec::eval`] with no parameters, called rather than inlined: for
    /// the shapes of conditions and keys that the walk rarely meets.
    #[inline(never)]
    fn eval_apart(&self, e: &Expr) -> u128 {
        self.eval(e, &[])
    }

    /// Runs an action's primitives.
    #[inline(always)]
    fn run_action(&mut self, p: &Program, action: u32, params: &[u128], pkt: &mut PktState<'_>) {
        let a = &p.actions[action as usize];
        for op in &a.ops {
            match *op {
                ActOp::SetParam {
                    fid,
                    hdr,
                    param,
                    bit,
                    mask,
                } => {
                    let v = params.get(param as usize).copied().unwrap_or(0);
                    self.phv.vals[fx(fid)] = v as u64 & mask;
                    self.phv.dirty[hx(hdr)] |= bit;
                }
                ActOp::SetConst {
                    fid,
                    hdr,
                    bit,
                    value,
                } => {
                    self.phv.vals[fx(fid)] = value;
                    self.phv.dirty[hx(hdr)] |= bit;
                }
                ActOp::AddConst {
                    fid,
                    hdr,
                    src,
                    bit,
                    add,
                    mask,
                } => {
                    self.phv.vals[fx(fid)] = self.phv.vals[fx(src)].wrapping_add(add) & mask;
                    self.phv.dirty[hx(hdr)] |= bit;
                }
                ActOp::Prim(i) => {
                    let Some(prim) = a.prims.get(i as usize) else {
                        continue;
                    };
                    if let Prim::Assign(f, e) = prim {
                        let v = self.eval(e, params);
                        self.set(*f, v);
                        continue;
                    }
                    self.prim(prim, params, pkt);
                    if pkt.exit {
                        break;
                    }
                }
            }
        }
    }

    fn index(&mut self, e: &Expr, params: &[u128], size: u32) -> Option<usize> {
        let i = self.eval(e, params);
        if i < u128::from(size) {
            Some(i as usize)
        } else {
            self.stats.index_errors += 1;
            None
        }
    }

    pub(crate) fn prim(&mut self, prim: &Prim, params: &[u128], pkt: &mut PktState<'_>) {
        let p = self.p;
        match prim {
            Prim::Assign(f, e) => {
                let v = self.eval(e, params);
                self.set(*f, v);
            }
            Prim::AssignHeader { dst, src } => self.assign_header(*dst, *src),
            Prim::AddHeader(h) => {
                if !self.phv.valid[hx(*h)] {
                    self.clear_header(*h);
                    self.mark_valid(*h);
                    pkt.length += self.header_bytes(*h);
                }
            }
            Prim::RemoveHeader(h) => {
                if self.phv.valid[hx(*h)] {
                    pkt.length = pkt.length.saturating_sub(self.header_bytes(*h));
                }
                self.phv.valid[hx(*h)] = false;
            }
            Prim::MarkToDrop => {
                self.set_opt(p.std.egress_spec, u128::from(self.drop_port));
                self.set_opt(p.std.mcast_grp, 0);
            }
            Prim::Exit => pkt.exit = true,
            Prim::Nothing => {}
            Prim::ExecuteMeter { meter, index, dst } => {
                let info = &p.meters[*meter as usize];
                if let Some(i) = self.index(index, params, info.size) {
                    let amount = match info.unit {
                        MeterUnit::Bytes => pkt.data.len() as u64,
                        MeterUnit::Packets => 1,
                    };
                    let colour = self.meters[*meter as usize][i].execute(pkt.now_us, amount);
                    self.set(*dst, u128::from(colour));
                }
            }
            Prim::Count { counter, index } => {
                if let Some(i) = self.index(index, params, p.counters[*counter as usize].size) {
                    let c = &mut self.counters[*counter as usize][i];
                    c.0 += 1;
                    c.1 += pkt.data.len() as u64;
                }
            }
            Prim::RegisterRead {
                dst,
                register,
                index,
            } => {
                let v = match self.index(index, params, p.registers[*register as usize].size) {
                    Some(i) => self.registers[*register as usize][i],
                    None => 0,
                };
                self.set(*dst, v);
            }
            Prim::RegisterWrite {
                register,
                index,
                value,
            } => {
                let r = &p.registers[*register as usize];
                if let Some(i) = self.index(index, params, r.size) {
                    let v = self.eval(value, params) & mask(r.width);
                    self.registers[*register as usize][i] = v;
                }
            }
            Prim::HashOffset {
                dst,
                base,
                calc,
                size,
            } => {
                let h = u128::from(self.calculate(*calc, pkt));
                let base = self.eval(base, params);
                let size = self.eval(size, params);
                let v = if size == 0 {
                    base
                } else {
                    base.wrapping_add(h % size)
                };
                self.set(*dst, v);
            }
            Prim::Push { stack, count } => {
                let hs = &p.stacks[*stack as usize].headers;
                let n = (*count as usize).min(hs.len());
                for i in (n..hs.len()).rev() {
                    self.copy_header(hs[i], hs[i - n]);
                }
                for &h in &hs[..n] {
                    self.phv.valid[hx(h)] = false;
                }
                let next = &mut self.phv.stack_next[*stack as usize];
                *next = (*next + n as u32).min(hs.len() as u32);
            }
            Prim::Pop { stack, count } => {
                let hs = &p.stacks[*stack as usize].headers;
                let n = (*count as usize).min(hs.len());
                for i in 0..hs.len() - n {
                    self.copy_header(hs[i], hs[i + n]);
                }
                for &h in &hs[hs.len() - n..] {
                    self.phv.valid[hx(h)] = false;
                }
                let next = &mut self.phv.stack_next[*stack as usize];
                *next = next.saturating_sub(n as u32);
            }
            Prim::Truncate(e) => {
                let n = self.eval(e, params);
                pkt.truncate = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            Prim::Clone {
                session,
                field_list,
            } => {
                // BMv2 keeps the low 15 bits of the session id.
                let s = (self.eval(session, params) & 0x7fff) as u16;
                pkt.ops.clone = Some((s, *field_list));
            }
            Prim::Resubmit(fl) => pkt.ops.resubmit = Some(*fl),
            Prim::Recirculate(fl) => pkt.ops.recirculate = Some(*fl),
            Prim::Log(msg) => tracing::info!(target: "fairshare_switch::log_msg", "{msg}"),
            Prim::AssignRef { hdr, field, value } => match self.header_at(hdr, params) {
                Some(h) => {
                    let v = self.eval(value, params);
                    self.set(p.headers[h as usize].first_field + field, v);
                }
                None => self.stats.index_errors += 1,
            },
            Prim::AssignHeaderRef { dst, src } => {
                match (self.header_at(dst, params), self.header_at(src, params)) {
                    (Some(d), Some(s)) => self.assign_header(d, s),
                    _ => self.stats.index_errors += 1,
                }
            }
            Prim::AddHeaderRef(r) => match self.header_at(r, params) {
                Some(h) => {
                    if !self.phv.valid[hx(h)] {
                        self.clear_header(h);
                        self.mark_valid(h);
                        pkt.length += self.header_bytes(h);
                    }
                }
                None => self.stats.index_errors += 1,
            },
            Prim::RemoveHeaderRef(r) => match self.header_at(r, params) {
                Some(h) => {
                    if self.phv.valid[hx(h)] {
                        pkt.length = pkt.length.saturating_sub(self.header_bytes(h));
                    }
                    self.phv.valid[hx(h)] = false;
                }
                None => self.stats.index_errors += 1,
            },
            Prim::AssignUnion { dst, src } => {
                match (self.union_at(dst, params), self.union_at(src, params)) {
                    (Some(d), Some(s)) => self.assign_union(d, s),
                    _ => self.stats.index_errors += 1,
                }
            }
            Prim::AssignStack { dst, src } => {
                let (d, s) = (
                    &p.stacks[*dst as usize].headers,
                    &p.stacks[*src as usize].headers,
                );
                for (&hd, &hs) in d.iter().zip(s) {
                    self.assign_header(hd, hs);
                }
                self.phv.stack_next[*dst as usize] = self.phv.stack_next[*src as usize];
            }
            Prim::AssignUnionStack { dst, src } => {
                let (d, s) = (
                    &p.union_stacks[*dst as usize].unions,
                    &p.union_stacks[*src as usize].unions,
                );
                for (&ud, &us) in d.iter().zip(s) {
                    self.assign_union(ud, us);
                }
                self.phv.union_stack_next[*dst as usize] = self.phv.union_stack_next[*src as usize];
            }
            Prim::PushUnion { stack, count } => self.shift_union_stack(*stack, *count, true),
            Prim::PopUnion { stack, count } => self.shift_union_stack(*stack, *count, false),
            Prim::AssignVl { dst, src } => {
                let (fd, fs) = (&p.fields[*dst as usize], &p.fields[*src as usize]);
                if let (Some(wd), Some(ws)) = (fd.wide, fs.wide) {
                    copy_wide(self.phv.wide, wd as usize, ws as usize);
                    let bits = self.phv.vl_bits[fs.header as usize].min(fd.width);
                    self.phv.vl_bits[fd.header as usize] = bits;
                    self.phv.dirty[hx(fd.header)] = u64::MAX;
                }
            }
            Prim::Assert(e) => {
                if self.eval(e, params) == 0 {
                    self.stats.assert_failures += 1;
                    tracing::error!("assertion failed in the program");
                }
            }
        }
    }

    /// Computes a calculation over its inputs: the fields of valid headers
    /// (those of invalid headers are left out, as BMv2 does), constants,
    /// and the payload.
    pub(crate) fn calculate(&mut self, calc: u32, pkt: &PktState<'_>) -> u64 {
        let c = &self.p.calcs[calc as usize];
        if c.algo == Algo::Csum16 {
            return u64::from(self.csum16(calc, pkt));
        }
        self.buf.clear();
        let mut nbits = 0usize;
        for input in &c.inputs {
            let (v, w) = match input {
                CalcInput::Field(f) => {
                    let fi = &self.p.fields[*f as usize];
                    if !self.phv.valid[hx(fi.header)] {
                        continue;
                    }
                    (self.phv.get(*f), fi.width)
                }
                CalcInput::Const(v, w) => (*v, *w),
                CalcInput::Bytes(f) => {
                    let Some((bytes, pad, width)) = held_bytes(self.p, &self.phv, *f) else {
                        continue;
                    };
                    let mut done = 0u32;
                    while done < width {
                        let n = (width - done).min(64);
                        let v = read_bits(bytes, pad + done as usize, n);
                        let end = nbits + n as usize;
                        self.buf.resize(end.div_ceil(8), 0);
                        write_bits(self.buf, nbits, n, v);
                        nbits = end;
                        done += n;
                    }
                    continue;
                }
                CalcInput::Payload => {
                    // Payload bytes start on a byte boundary.
                    nbits = nbits.div_ceil(8) * 8;
                    self.buf.resize(nbits / 8, 0);
                    self.buf.extend_from_slice(&pkt.data[pkt.cursor..]);
                    nbits = self.buf.len() * 8;
                    continue;
                }
            };
            let end = nbits + w as usize;
            self.buf.resize(end.div_ceil(8), 0);
            write_bits(self.buf, nbits, w, v);
            nbits = end;
        }
        c.algo.compute(self.buf)
    }

    /// The Internet checksum of a calculation's inputs, summed as they are
    /// packed, without building the input bytes (the same result as
    /// packing them and running [`crate::hash::csum16`]).
    fn csum16(&self, calc: u32, pkt: &PktState<'_>) -> u16 {
        let c = &self.p.calcs[calc as usize];
        if let Some(sum) = c.csum.as_ref().and_then(|plan| self.plan_sum(plan, pkt)) {
            return Csum { sum, pos: 0 }.finish();
        }
        self.csum16_inputs(calc, pkt)
    }

    /// The raw ones' complement sum of a calculation laid out at load, if
    /// every header it reads is valid.
    #[inline(always)]
    fn plan_sum(&self, plan: &CsumPlan, pkt: &PktState<'_>) -> Option<u64> {
        if !plan.headers.iter().all(|h| self.phv.valid[hx(*h)]) {
            return None;
        }
        let mut sum = plan.konst;
        if plan.narrow {
            let vals = &*self.phv.vals;
            for &(f, k) in &plan.terms {
                sum += vals[fx(f)] << k;
            }
        } else {
            for &(f, k) in &plan.terms {
                sum += fold32(self.phv.get(f)) << k;
            }
        }
        if let Some(k) = plan.payload {
            sum += fold32(u128::from(payload_sum(&pkt.data[pkt.cursor..]))) << k;
        }
        Some(sum)
    }

    /// [`Exec::csum16`] input by input.
    fn csum16_inputs(&self, calc: u32, pkt: &PktState<'_>) -> u16 {
        let c = &self.p.calcs[calc as usize];
        let mut sum = Csum::default();
        for input in &c.inputs {
            match input {
                CalcInput::Field(f) => {
                    let fi = &self.p.fields[*f as usize];
                    if self.phv.valid[hx(fi.header)] {
                        sum.push(self.phv.get(*f), fi.width);
                    }
                }
                CalcInput::Const(v, w) => sum.push(*v, *w),
                CalcInput::Bytes(f) => {
                    if let Some((bytes, pad, width)) = held_bytes(self.p, &self.phv, *f) {
                        let mut done = 0u32;
                        while done < width {
                            let n = (width - done).min(64);
                            sum.push(read_bits(bytes, pad + done as usize, n), n);
                            done += n;
                        }
                    }
                }
                CalcInput::Payload => sum.bytes(&pkt.data[pkt.cursor..]),
            }
        }
        sum.finish()
    }

    /// [`Exec::calculate`], with a `csum16` summed in line.
    #[inline(always)]
    fn checksum(&mut self, calc: u32, pkt: &PktState<'_>) -> u64 {
        match self.p.calcs.get(calc as usize) {
            Some(c) if c.algo == Algo::Csum16 => u64::from(self.csum16(calc, pkt)),
            _ => self.calculate(calc, pkt),
        }
    }

    /// Whether a checksum's condition holds (or it has none).
    #[inline(always)]
    fn checksum_applies(&self, ck: &ChecksumInfo) -> bool {
        if let Some((h, f, test)) = &ck.guard {
            return self.phv.valid[hx(*h)] && test.holds(self.phv.vals[fx(*f)]);
        }
        let Some(c) = &ck.cond else {
            return true;
        };
        match *c {
            Expr::ValidAnd(h, op, f, k) => {
                self.phv.valid[hx(h)] && binop(op, self.narrow(f), k) != 0
            }
            // p4c's `a && b` conditions, `a` first, as `eval_tree` takes
            // them, without the call.
            Expr::Bin(BinOp::LAnd, ref a, ref b) => {
                self.eval(a, &[]) != 0 && self.eval(b, &[]) != 0
            }
            ref e => self.eval(e, &[]) != 0,
        }
    }

    /// Verifies the checksums the program asks for; a mismatch sets
    /// `standard_metadata.checksum_error`.
    pub(crate) fn verify_checksums(&mut self, pkt: &mut PktState<'_>) {
        let p = self.p;
        pkt.kept.which = 0;
        for (i, ck) in p.verify.iter().enumerate() {
            if !self.checksum_applies(ck) {
                continue;
            }
            let sum = match ck.keep {
                Some(keep) => self.kept_sum(ck.calc, keep, i, pkt),
                None => self.checksum(ck.calc, pkt),
            };
            let v = u128::from(sum) & p.field_hot[ck.target as usize].mask;
            if v != self.get(ck.target) {
                self.set_opt(p.std.checksum_error, 1);
                self.stats.checksum_errors += 1;
            }
        }
    }

    /// A verify checksum's `csum16`, its raw sum kept in `pkt` when the
    /// header its inputs are fields of is as it was extracted.
    fn kept_sum(
        &self,
        calc: u32,
        (h, inputs): (Hid, u64),
        i: usize,
        pkt: &mut PktState<'_>,
    ) -> u64 {
        let plan = self.p.calcs[calc as usize].csum.as_ref();
        let Some(sum) = plan.and_then(|plan| self.plan_sum(plan, pkt)) else {
            return u64::from(self.csum16_inputs(calc, pkt));
        };
        let orig = self.phv.orig[hx(h)];
        if orig != NOT_EXTRACTED && self.phv.dirty[hx(h)] & inputs == 0 && i < KEPT_SUMS {
            pkt.kept.which |= 1 << i;
            pkt.kept.sums[i] = sum;
            pkt.kept.orig[i] = orig;
        }
        u64::from(Csum { sum, pos: 0 }.finish())
    }

    /// An update checksum from the sum its verify checksum kept, corrected
    /// for the input fields written since: each one's old value is read
    /// from the packet's bytes and its new one taken. `None` when the sum
    /// was not kept, the header is no longer as extracted there, or the
    /// corrected sum is a multiple of 2^16 - 1 (which a sum from scratch
    /// alone tells apart from zero).
    #[inline(always)]
    fn reused_sum(&self, r: &SumReuse, pkt: &PktState<'_>) -> Option<u16> {
        let i = r.verify as usize;
        let h = hx(r.header);
        let orig = self.phv.orig[h];
        if pkt.kept.which & (1 << i) == 0 || orig != *pkt.kept.orig.get(i)? || !self.phv.valid[h] {
            return None;
        }
        let mut sum = pkt.kept.sums[i];
        let mut written = self.phv.dirty[h] & r.mask;
        if written == 0 {
            return Some(Csum { sum, pos: 0 }.finish());
        }
        let o = orig as usize;
        let bytes = pkt.data.get(o..o + r.reach as usize)?;
        while written != 0 {
            let x = *r.inputs.get(written.trailing_zeros() as usize)?;
            written &= written - 1;
            let at = x.byte as usize;
            let w: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
            let old = (u64::from_be_bytes(w) >> x.shift) & u64::from(x.mask);
            let new = self.phv.vals[fx(x.fid)];
            // Less the old term: plus a multiple of 2^16 - 1 above any
            // term (below 2^48), less the term.
            sum += (new << x.k) + (SUM_ZERO - (old << x.k));
        }
        let v = Csum { sum, pos: 0 }.finish();
        (v != 0 && v != 0xffff).then_some(v)
    }

    pub(crate) fn update_checksums(&mut self, pkt: &PktState<'_>) {
        let p = self.p;
        for ck in &p.update {
            if !self.checksum_applies(ck) {
                continue;
            }
            if let Some(v) = ck.reuse.as_ref().and_then(|r| self.reused_sum(r, pkt)) {
                debug_assert_eq!(v, self.csum16(ck.calc, pkt), "a corrected sum");
                self.set(ck.target, u128::from(v));
                continue;
            }
            let v = u128::from(self.checksum(ck.calc, pkt));
            self.set(ck.target, v);
        }
    }

    /// Writes the valid headers in deparser order, then the payload. A
    /// header extracted from the packet is copied from there, and only the
    /// fields written since are emitted on top.
    pub(crate) fn deparse(&self, pkt: &PktState<'_>, out: &mut Vec<u8>) {
        out.clear();
        if self.deparse_in_place(pkt, out) {
            return;
        }
        for &(h, _, _) in &self.p.deparse_packet {
            let hi = &self.p.headers[h as usize];
            if !self.phv.valid[hx(h)] {
                continue;
            }
            let at = out.len();
            let vl = self.phv.vl_bits[h as usize];
            let len = ((hi.bits + vl) / 8) as usize;
            let end = at + len;
            let orig = self.phv.orig[hx(h)];
            let mut dirty = u64::MAX;
            if orig != NOT_EXTRACTED
                && hi.n_fields <= 64
                && self.p.copy_extracted
                && hi.varbit.is_none()
            {
                let o = orig as usize;
                out.extend_from_slice(&pkt.data[o..o + len]);
                dirty = self.phv.dirty[hx(h)];
                if dirty == 0 {
                    continue;
                }
                if !hi.plan.is_empty() {
                    out.resize(end + 16, 0);
                    let w = &mut out[at..];
                    while dirty != 0 {
                        let x = &hi.plan[dirty.trailing_zeros() as usize];
                        dirty &= dirty - 1;
                        emit_field(w, x, &self.phv);
                    }
                    out.truncate(end);
                    continue;
                }
            }
            // Sixteen spare bytes let every field be written through a
            // 16-byte window.
            out.resize(end + 16, 0);
            if !hi.plan.is_empty() {
                let w = &mut out[at..];
                for x in &hi.plan {
                    emit_field(w, x, &self.phv);
                }
                out.truncate(end);
                continue;
            }
            let base = at * 8;
            for f in hi.first_field..hi.first_field + hi.n_fields {
                if dirty & self.p.field_hot[f as usize].dirty_bit == 0 && dirty != u64::MAX {
                    continue;
                }
                let fi = &self.p.fields[f as usize];
                let off =
                    base + fi.bit_off as usize + if fi.after_varbit { vl as usize } else { 0 };
                match fi.wide {
                    None => write_bits(out, off, fi.width, self.phv.get(f)),
                    Some(slot) if fi.varbit => {
                        paste_bits(&self.phv.wide[slot as usize], out, off, vl)
                    }
                    Some(slot) => paste_bits(&self.phv.wide[slot as usize], out, off, fi.width),
                }
            }
            out.truncate(end);
        }
        out.extend_from_slice(&pkt.data[pkt.cursor..]);
        if let Some(n) = pkt.truncate {
            out.truncate(n);
        }
    }

    /// The deparser's output when the valid headers are those extracted,
    /// back to back from the packet's first byte in deparser order, each
    /// read through an extraction plan: the packet copied whole, with the
    /// fields written since extraction emitted on top (the same bytes as
    /// copying header by header). Returns false, with `out` left empty,
    /// when the headers are otherwise.
    fn deparse_in_place(&self, pkt: &PktState<'_>, out: &mut Vec<u8>) -> bool {
        if !self.p.copy_extracted {
            return false;
        }
        out.extend_from_slice(pkt.data);
        let len = out.len();
        // Sixteen spare bytes let every field be written through a
        // 16-byte window.
        out.resize(len + 16, 0);
        // The headers are checked as they are emitted: when one is not in
        // place, what was written is thrown away.
        let mut at = 0usize;
        for &(h, bytes, in_place) in &self.p.deparse_packet {
            if !self.phv.valid[hx(h)] {
                continue;
            }
            if !in_place || self.phv.orig[hx(h)] as usize != at {
                out.clear();
                return false;
            }
            at += bytes as usize;
            let mut dirty = self.phv.dirty[hx(h)];
            if dirty == 0 {
                continue;
            }
            let hi = &self.p.headers[h as usize];
            let Some(w) = out.get_mut(at - bytes as usize..) else {
                continue;
            };
            while dirty != 0 {
                let i = dirty.trailing_zeros() as usize;
                if let Some(x) = hi.plan.get(i) {
                    emit_field(w, x, &self.phv);
                }
                dirty &= dirty - 1;
            }
        }
        if at != pkt.cursor {
            out.clear();
            return false;
        }
        out.truncate(len);
        if let Some(n) = pkt.truncate {
            out.truncate(n);
        }
        true
    }

    fn header_bytes(&self, h: Hid) -> usize {
        (self.p.headers[h as usize].bits / 8) as usize
    }

    pub(crate) fn std_get(&self, f: Option<Fid>) -> u128 {
        self.get_opt(f)
    }

    /// Writes a standard metadata field (if the program has it).
    #[inline(always)]
    pub(crate) fn std_set(&mut self, s: Std, v: u128) {
        if self.p.std.in_metadata {
            // Metadata is never deparsed: no dirty bit to keep.
            let (f, mask) = self.p.std.slots[s as usize];
            self.phv.vals[fx(f)] = v as u64 & mask;
        } else {
            self.set_opt(self.p.std.field(s), v);
        }
    }

    pub(crate) fn reset(&mut self) {
        self.phv.reset(self.p);
    }
}

/// A running Internet checksum over a bit stream, without packing the
/// bits. The ones' complement sum is the sum modulo 2^16 - 1, where 2^16 is
/// 1: a value contributes itself times 2^k, `k` set by where its last bit
/// falls within a 16-bit word, whatever word that is.
#[derive(Default)]
struct Csum {
    sum: u64,
    /// Bits pushed so far.
    pos: usize,
}

/// A multiple of 2^16 - 1 (zero in a ones' complement sum) above every
/// term of a sum of fields of 32 bits or fewer, each shifted by less than 16.
const SUM_ZERO: u64 = 0xffff << 32;

/// The checksum sum of bytes as if they started a 16-bit word: a number
/// below 2^16 that is a multiple of 2^16 - 1 apart from the 16-bit sum,
/// and zero only when every byte is.
///
/// A ones' complement sum does not depend on the byte order (RFC 1071):
/// the bytes are summed as little-endian 64-bit words with their carries,
/// folded to 16 bits, and the two bytes of the result swapped. Called,
/// not inlined: inlined, its set-up is hoisted to the start of the
/// checksum loops, where checksums without a payload pay for it too.
#[inline(never)]
fn payload_sum(data: &[u8]) -> u64 {
    let mut acc = 0u128;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        acc += u128::from(u64::from_le_bytes(a));
    }
    let rest = words.remainder().len();
    if rest != 0 {
        // The last eight bytes, of which the first `8 - rest` are summed
        // already: shifted out (they are the low ones, little-endian),
        // which leaves the tail at the start of a word, as it is. A
        // shorter payload is copied into a word instead.
        let tail = match data.len().checked_sub(8) {
            Some(from) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&data[from..]);
                u64::from_le_bytes(a) >> (8 * (8 - rest))
            }
            None => {
                let mut a = [0u8; 8];
                a[..rest].copy_from_slice(data);
                u64::from_le_bytes(a)
            }
        };
        acc += u128::from(tail);
    }
    // End-around carries keep the sum modulo 2^16 - 1 and a non-zero sum
    // non-zero.
    let (lo, c) = (acc as u64).overflowing_add((acc >> 64) as u64);
    let mut s = lo + u64::from(c);
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    u64::from((s as u16).swap_bytes())
}

impl Csum {
    #[inline(always)]
    fn push(&mut self, v: u128, width: u32) {
        self.pos += width as usize;
        let k = (16 - self.pos % 16) % 16;
        self.fold_if_high();
        self.sum += fold32(v & mask(width)) << k;
    }

    /// Folds the sum (keeping it modulo 2^32 - 1, and non-zero if it was)
    /// when it nears 2^64, so that a calculation with any number of
    /// inputs, each adding less than 2^50, never overflows it.
    #[inline(always)]
    fn fold_if_high(&mut self) {
        if self.sum >> 62 != 0 {
            self.sum = (self.sum & 0xffff_ffff) + (self.sum >> 32);
        }
    }

    /// Payload bytes; they start on a byte boundary (zero bits pad the
    /// inputs before them).
    fn bytes(&mut self, data: &[u8]) {
        self.pos = self.pos.div_ceil(8) * 8;
        // The bytes' own checksum sum, as if they started a word.
        let s = payload_sum(data);
        // Starting mid-word moves every byte 8 bits down: times 2^-8,
        // which is 2^8.
        let k = if self.pos % 16 == 8 { 8 } else { 0 };
        self.fold_if_high();
        self.sum += fold32(u128::from(s)) << k;
        self.pos += data.len() * 8;
    }

    fn finish(self) -> u16 {
        // Each fold keeps the sum modulo 2^16 - 1 and a non-zero sum
        // non-zero, so any folds that end below 2^16 give the same bits:
        // here below 2^33, then 2^18, then 2^16 + 3, then 2^16.
        let mut sum = self.sum;
        sum = (sum & 0xffff_ffff) + (sum >> 32);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        !(sum as u16)
    }
}

/// Copies a header's bytes (`src`, at most [`PLAN_MAX_BYTES`]; or any
/// other short run of values) to the start of `dst`. From 8 to 32 values are
/// copied as two overlapping fixed-size blocks, without a call.
#[inline(always)]
fn copy_small<T: Copy>(dst: &mut [T], src: &[T]) {
    let n = src.len();
    if (16..=32).contains(&n) {
        dst[..16].copy_from_slice(&src[..16]);
        dst[n - 16..n].copy_from_slice(&src[n - 16..]);
    } else if (8..16).contains(&n) {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..n].copy_from_slice(&src[n - 8..]);
    } else {
        dst[..n].copy_from_slice(src);
    }
}

/// The bytes a header is read from by its extraction plan: the longest
/// header a plan reads, and 16 more.
const PLAN_WINDOW: usize = PLAN_MAX_BYTES + 16;
const _: () = assert!(PLAN_MAX_BYTES.is_power_of_two());
/// Headers this long or shorter (Ethernet, IPv4 and TCP without options)
/// are read in place through a shorter window, [`SHORT_WINDOW`]: from
/// short packets too.
const SHORT_HEADER: usize = 32;
const SHORT_WINDOW: usize = SHORT_HEADER + 16;
const _: () = assert!(SHORT_HEADER.is_power_of_two() && SHORT_HEADER <= PLAN_MAX_BYTES);

/// Reads a header's fields out of its bytes, which start `win` (the bytes
/// after the header are shifted out), into `vals`, the header's fields.
/// `narrow`: every field of the plan is (the loop then has no branch).
/// The header is at most `W - 16` bytes long, a power of two.
#[inline(always)]
/// `hi` is the high halves' array and the first field's slot in it.
fn run_plan<const W: usize>(
    plan: &[ExtractField],
    narrow: bool,
    win: &[u8; W],
    vals: &mut [u64],
    hi: (&mut Vals, usize),
) {
    // A plan's fields start within the header's first `W - 16` bytes (a
    // power of two): the remainder changes nothing, and it shows that
    // every window is in the array.
    if narrow {
        for (x, v) in plan.iter().zip(vals) {
            let b = x.byte as usize % (W - 16);
            let mut a = [0u8; 8];
            a.copy_from_slice(&win[b..b + 8]);
            *v = (u64::from_be_bytes(a) >> x.shift) & x.mask as u64;
        }
        return;
    }
    let (his, first) = hi;
    for (i, (x, v)) in plan.iter().zip(vals).enumerate() {
        let b = x.byte as usize % (W - 16);
        if x.narrow {
            let mut a = [0u8; 8];
            a.copy_from_slice(&win[b..b + 8]);
            *v = (u64::from_be_bytes(a) >> x.shift) & x.mask as u64;
        } else {
            let mut a = [0u8; 16];
            a.copy_from_slice(&win[b..b + 16]);
            let x = (u128::from_be_bytes(a) >> x.shift) & x.mask;
            *v = x as u64;
            his[(first + i) % MAX_FIELDS] = (x >> 64) as u64;
        }
    }
}

/// Writes a field's value into a header's bytes (with 16 spare bytes
/// after them) where its extraction plan reads it.
#[inline(always)]
fn emit_field(w: &mut [u8], x: &ExtractField, phv: &PhvMut<'_>) {
    let b = x.byte as usize;
    if x.narrow {
        let v = phv.vals[fx(x.fid)];
        let m = (x.mask as u64) << x.shift;
        let mut a = [0u8; 8];
        a.copy_from_slice(&w[b..b + 8]);
        let cur = u64::from_be_bytes(a);
        let new = (cur & !m) | ((v << x.shift) & m);
        w[b..b + 8].copy_from_slice(&new.to_be_bytes());
    } else {
        let v = phv.get(x.fid);
        let m = x.mask << x.shift;
        let mut a = [0u8; 16];
        a.copy_from_slice(&w[b..b + 16]);
        let cur = u128::from_be_bytes(a);
        let new = (cur & !m) | ((v << x.shift) & m);
        w[b..b + 16].copy_from_slice(&new.to_be_bytes());
    }
}

/// A binary operation on two evaluated operands.
#[inline(always)]
fn binop(op: BinOp, x: u128, y: u128) -> u128 {
    match op {
        BinOp::Add => x.wrapping_add(y),
        BinOp::Sub => x.wrapping_sub(y),
        BinOp::Mul => x.wrapping_mul(y),
        BinOp::Div => x.checked_div(y).unwrap_or(0),
        BinOp::Mod => x.checked_rem(y).unwrap_or(0),
        BinOp::Shl => u32::try_from(y)
            .ok()
            .and_then(|s| x.checked_shl(s))
            .unwrap_or(0),
        BinOp::Shr => u32::try_from(y)
            .ok()
            .and_then(|s| x.checked_shr(s))
            .unwrap_or(0),
        BinOp::ShrS => ((x as i128) >> y.min(127)) as u128,
        BinOp::And => x & y,
        BinOp::Or => x | y,
        BinOp::Xor => x ^ y,
        BinOp::Eq => u128::from(x == y),
        BinOp::Ne => u128::from(x != y),
        BinOp::Lt => u128::from(x < y),
        BinOp::Le => u128::from(x <= y),
        BinOp::Gt => u128::from(x > y),
        BinOp::Ge => u128::from(x >= y),
        BinOp::LtS => u128::from((x as i128) < (y as i128)),
        BinOp::LeS => u128::from((x as i128) <= (y as i128)),
        BinOp::GtS => u128::from((x as i128) > (y as i128)),
        BinOp::GeS => u128::from((x as i128) >= (y as i128)),
        BinOp::LAnd | BinOp::LOr => 0,
    }
}

/// The bytes of a field held as bytes, where its value starts in them
/// (in bits) and its width (the current one for a variable-length field);
/// `None` when its header is invalid.
fn held_bytes<'x>(p: &Program, phv: &'x PhvMut<'_>, f: Fid) -> Option<(&'x [u8], usize, u32)> {
    let fi = &p.fields[f as usize];
    if !phv.valid[hx(fi.header)] {
        return None;
    }
    let bytes = &phv.wide[fi.wide? as usize];
    let width = if fi.varbit {
        phv.vl_bits[fi.header as usize]
    } else {
        fi.width
    };
    Some((bytes, bytes.len() * 8 - width as usize, width))
}

/// Copies one byte-held field value into another, right-aligned (zeros
/// before it when the destination is longer).
fn copy_wide(wide: &mut [Vec<u8>], d: usize, s: usize) {
    if d == s {
        return;
    }
    let (dst, src) = if d < s {
        let (x, y) = wide.split_at_mut(s);
        (&mut x[d], &y[0])
    } else {
        let (x, y) = wide.split_at_mut(d);
        (&mut y[0], &x[s])
    };
    let n = dst.len().min(src.len());
    let (dl, sl) = (dst.len(), src.len());
    dst[..dl - n].fill(0);
    dst[dl - n..].copy_from_slice(&src[sl - n..]);
}

/// Copies `width` bits at bit `off` of `src` into `dst` (right-aligned).
fn copy_bits(src: &[u8], off: usize, dst: &mut [u8], width: u32) {
    let pad = dst.len() * 8 - width as usize;
    let mut done = 0u32;
    while done < width {
        let n = (width - done).min(64);
        let v = read_bits(src, off + done as usize, n);
        write_bits(dst, pad + done as usize, n, v);
        done += n;
    }
}

/// Writes a right-aligned `width`-bit value held in `src` at bit `off` of `dst`.
fn paste_bits(src: &[u8], dst: &mut [u8], off: usize, width: u32) {
    let pad = src.len() * 8 - width as usize;
    let mut done = 0u32;
    while done < width {
        let n = (width - done).min(64);
        let v = read_bits(src, pad + done as usize, n);
        write_bits(dst, off + done as usize, n, v);
        done += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header's bytes of every length a plan reads are copied whole, and
    /// nothing past them is written.
    #[test]
    fn header_copies_take_every_length() {
        let src: Vec<u8> = (1..=PLAN_MAX_BYTES as u8).collect();
        for n in 0..=PLAN_MAX_BYTES {
            let mut dst = [0xeeu8; PLAN_WINDOW];
            copy_small(&mut dst, &src[..n]);
            assert_eq!(&dst[..n], &src[..n], "{n} bytes");
            assert!(
                dst[n..].iter().all(|b| *b == 0xee),
                "{n} bytes: past the end"
            );
        }
    }

    /// The payload's sum, taken in little-endian words, gives the
    /// checksum of the bytes, for every length and for zero bytes (whose
    /// sum must stay zero).
    #[test]
    fn payload_sums_give_the_checksum_of_the_bytes() {
        for len in 0..70usize {
            for fill in [0u8, 0xff, 0x5a] {
                let data: Vec<u8> = (0..len)
                    .map(|i| {
                        if fill == 0x5a {
                            (i * 37 + 11) as u8
                        } else {
                            fill
                        }
                    })
                    .collect();
                let mut sum = Csum::default();
                sum.bytes(&data);
                assert_eq!(sum.finish(), crate::hash::csum16(&data), "{data:?}");
                // After an odd number of bytes the payload starts mid-word.
                let mut odd = Csum::default();
                odd.push(0xab, 8);
                odd.bytes(&data);
                let mut packed = vec![0xab];
                packed.extend_from_slice(&data);
                assert_eq!(odd.finish(), crate::hash::csum16(&packed), "{packed:?}");
            }
        }
    }

    /// The streaming checksum equals the checksum of the packed bytes, for
    /// fields of every width at every alignment, with and without payload.
    #[test]
    fn streaming_csum16_matches_the_packed_bytes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..2000 {
            let n = (next() % 8) as usize;
            let mut inputs = vec![];
            for _ in 0..n {
                let w = (next() % 128 + 1) as u32;
                let v = (u128::from(next()) << 64 | u128::from(next())) & mask(w);
                inputs.push((v, w));
            }
            let payload: Vec<u8> = (0..next() % 40).map(|_| next() as u8).collect();
            let with_payload = round % 2 == 0;
            let mut buf = vec![];
            let mut bits = 0usize;
            let mut sum = Csum::default();
            for (v, w) in &inputs {
                buf.resize((bits + *w as usize).div_ceil(8), 0);
                write_bits(&mut buf, bits, *w, *v);
                bits += *w as usize;
                sum.push(*v, *w);
            }
            if with_payload {
                buf.extend_from_slice(&payload);
                sum.bytes(&payload);
            }
            assert_eq!(
                sum.finish(),
                crate::hash::csum16(&buf),
                "{inputs:?} {payload:?}"
            );
        }
    }

    /// A sum of more inputs than 64 bits hold unfolded (a program may give
    /// a calculation any number of fields) still gives the bytes' checksum.
    #[test]
    fn streaming_csum16_of_many_wide_inputs_does_not_overflow() {
        // One bit, then 32-bit values that each end one bit into a 16-bit
        // word: each adds close to 2^47.
        let (n, w) = (200_000usize, 32u32);
        let mut buf = vec![0u8; (1 + n * w as usize).div_ceil(8)];
        let mut sum = Csum::default();
        write_bits(&mut buf, 0, 1, 1);
        sum.push(1, 1);
        for i in 0..n {
            let v = mask(w) - i as u128;
            write_bits(&mut buf, 1 + i * w as usize, w, v);
            sum.push(v, w);
        }
        assert!(sum.sum < 1 << 63);
        assert_eq!(sum.finish(), crate::hash::csum16(&buf));
    }
}
