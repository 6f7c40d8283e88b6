//! The P4_16 renderer for the Tofino Native Architecture (TNA, Tofino 1;
//! the same text builds for T2NA, Tofino 2, through `#if __TARGET_TOFINO__`).
//!
//! It prints the same [`Program`] as [`crate::p4`] does for v1model, so
//! tables, actions, their parameters, meters, counters and the controller
//! headers carry the same names, and the P4Info a Tofino compiler derives
//! from this program names them as fairshare's own P4Info does: one rules
//! file serves both architectures. The layout lives in `templates/tna.p4`.
//!
//! Where TNA forces another construct, the mapping is fixed here:
//!
//! | v1model (the IR's terms)               | TNA                                                     |
//! |----------------------------------------|---------------------------------------------------------|
//! | `standard_metadata.ingress_port`       | `ig_intr_md.ingress_port` (`PortId_t`, 9 bits)           |
//! | `standard_metadata.egress_spec`        | `ig_tm_md.ucast_egress_port`                             |
//! | `standard_metadata.egress_port`        | `eg_intr_md.egress_port` (egress only)                   |
//! | `mark_to_drop(standard_metadata)`      | `ig_dprsr_md.drop_ctl = 1` (`eg_dprsr_md` in egress)     |
//! | `standard_metadata.parser_error`       | `ig_prsr_md.parser_err`, a bit mask; `NoError` is `PARSER_ERROR_OK` |
//! | `m.execute_meter(i, dst)`              | `dst = (bit<W>) m.execute(i)`; the index is cast to the meter's width |
//! | `dm.read(dst)` (direct meter)          | `dst = (bit<W>) dm.execute()` in the same action          |
//! | colours green 0, yellow 1, red 2       | `MeterColor_t`: green 0, yellow 1, red 3                 |
//! | `c.count(i)` in any action             | the index is recorded in metadata and counted once, at the end of ingress |
//! | `verify_checksum` (header fields)      | `Checksum.add` + `verify()` in the parser state that extracts the header; the IR's condition is applied at the start of ingress |
//! | `update_checksum`                      | `Checksum.update` in the ingress deparser, under a flag set at the end of ingress |
//! | `update_checksum_with_payload`         | residual: the parser subtracts the fields ingress may rewrite and the old checksum, the deparser adds the new fields back |
//! | zero-initialised user metadata         | every metadata field is set to zero in the parser's start state |
//! | egress reading ingress metadata        | a bridged header emitted first by the ingress deparser |
//! | empty egress                           | `ig_tm_md.bypass_egress = 1`                             |
//!
//! Invariants: [`check`] refuses, with the reason, any program this
//! renderer cannot express faithfully (egress touching headers or tables,
//! a verified checksum over the payload, a rewritten field that does not sit
//! on a 16-bit boundary of its checksum); what it accepts is rendered from
//! the IR alone, deterministically.
//!
//! Boundary: no Tofino compiler runs here. The text follows the published
//! `tna.p4` / `tofino.p4` include files (extern signatures, intrinsic
//! metadata names, `PORT_METADATA_SIZE`, `MeterColor_t`); it is not compiled
//! in this repository's tests.

use crate::ir::*;
use crate::p4::ActionView;
use crate::p4::{
    action_views, const_views, field_views, header_members, header_views, parser_states,
    table_views, ConstView, Dialect, FieldView, HeaderView, Printer, StateView, TableView,
};
use crate::CodegenError;
use askama::Template;
use std::collections::BTreeSet;

#[derive(Template)]
#[template(path = "tna.p4", escape = "none")]
pub struct TnaTemplate {
    pub title: String,
    pub consts: Vec<ConstView>,
    pub headers: Vec<HeaderView>,
    /// The bridged-metadata header, when egress reads ingress metadata.
    pub bridged: Option<HeaderView>,
    pub header_members: Vec<String>,
    pub meta: Vec<FieldView>,
    pub parser_externs: Vec<String>,
    pub states: Vec<StateView>,
    pub externs: Vec<String>,
    pub actions: Vec<ActionView>,
    pub tables: Vec<TableView>,
    pub ingress: Vec<String>,
    pub deparser_externs: Vec<String>,
    pub deparser: Vec<String>,
    pub egress_parser: Vec<String>,
    pub egress: Vec<String>,
}

/// The TNA name of an intrinsic field, in ingress or in egress; `None`
/// where TNA has no such field in that half.
pub(crate) fn std_field(s: StdField, egress: bool) -> Option<&'static str> {
    Some(match (s, egress) {
        (StdField::IngressPort, false) => "ig_intr_md.ingress_port",
        (StdField::EgressSpec, false) => "ig_tm_md.ucast_egress_port",
        (StdField::EgressPort, true) => "eg_intr_md.egress_port",
        (StdField::ParserError, false) => "ig_prsr_md.parser_err",
        (StdField::ParserError, true) => "eg_prsr_md.parser_err",
        (StdField::ChecksumError, false) => "meta.checksum_error",
        _ => return None,
    })
}

/// The `parser_err` flag of a parser error, from `tofino.p4`.
pub(crate) fn parser_error(code: ParserErrorCode) -> Option<&'static str> {
    Some(match code {
        ParserErrorCode::NoError => "PARSER_ERROR_OK",
        ParserErrorCode::NoMatch => "PARSER_ERROR_NO_MATCH",
        ParserErrorCode::PacketTooShort => "PARSER_ERROR_PARTIAL_HDR",
        _ => return None,
    })
}

/// The width of an index into `size` cells (at least one bit).
pub fn index_bits(size: u32) -> u32 {
    if size <= 2 {
        1
    } else {
        32 - (size - 1).leading_zeros()
    }
}

/// TNA's number of a meter colour (`MeterColor_t`).
pub fn color_value(c: MeterColor) -> u128 {
    match c {
        MeterColor::Green => 0,
        MeterColor::Yellow => 1,
        MeterColor::Red => 3,
    }
}

/// Everything a statement block touches, for [`check`] and bridging.
#[derive(Default)]
struct Uses {
    std: BTreeSet<&'static str>,
    std_fields: Vec<StdField>,
    meta_read: BTreeSet<usize>,
    headers: bool,
    errors: Vec<ParserErrorCode>,
    tables: Vec<TableId>,
    calls: Vec<ActionId>,
    externs: bool,
}

impl Uses {
    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Field(f) => self.field_read(*f),
            Expr::Valid(_) => self.headers = true,
            Expr::Error(c) => self.errors.push(*c),
            Expr::Bin(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            Expr::Not(a) => self.expr(a),
            _ => {}
        }
    }

    fn field_read(&mut self, f: FieldRef) {
        self.field(f);
        if let FieldRef::Meta(i) = f {
            self.meta_read.insert(i);
        }
    }

    fn field(&mut self, f: FieldRef) {
        match f {
            FieldRef::Hdr(..) => self.headers = true,
            FieldRef::Std(s) => {
                self.std.insert(s.name());
                self.std_fields.push(s);
            }
            FieldRef::Meta(_) => {}
        }
    }

    fn prim(&mut self, p: &Prim) {
        match p {
            Prim::Assign(f, e) => {
                self.field(*f);
                self.expr(e);
            }
            Prim::SetValid(_) | Prim::SetInvalid(_) => self.headers = true,
            Prim::MarkToDrop => {}
            Prim::Count { index, .. } => {
                self.externs = true;
                self.expr(index);
            }
            Prim::ExecuteMeter { index, dst, .. } => {
                self.externs = true;
                self.expr(index);
                self.field(*dst);
            }
            Prim::ReadDirectMeter { dst, .. } => {
                self.externs = true;
                self.field(*dst);
            }
        }
    }

    fn block(&mut self, b: &[Stmt]) {
        for s in b {
            match s {
                Stmt::Apply(t) => self.tables.push(*t),
                Stmt::ApplyHit { table, hit, miss } => {
                    self.tables.push(*table);
                    self.block(hit);
                    self.block(miss);
                }
                Stmt::If { cond, then, els } => {
                    self.expr(cond);
                    self.block(then);
                    self.block(els);
                }
                Stmt::Call { action, .. } => self.calls.push(*action),
                Stmt::Do(prims) => prims.iter().for_each(|p| self.prim(p)),
            }
        }
    }
}

/// The header fields some action or statement assigns: the fields a
/// checksum over the payload must take out in the parser and add back in
/// the deparser.
fn rewritten_fields(prog: &Program) -> BTreeSet<(usize, usize)> {
    fn prims<'a>(b: &'a [Stmt], out: &mut Vec<&'a Prim>) {
        for s in b {
            match s {
                Stmt::ApplyHit { hit, miss, .. } => {
                    prims(hit, out);
                    prims(miss, out);
                }
                Stmt::If { then, els, .. } => {
                    prims(then, out);
                    prims(els, out);
                }
                Stmt::Do(p) => out.extend(p.iter()),
                Stmt::Apply(_) | Stmt::Call { .. } => {}
            }
        }
    }
    let mut all: Vec<&Prim> = prog.actions.iter().flat_map(|a| a.body.iter()).collect();
    prims(&prog.ingress, &mut all);
    prims(&prog.egress, &mut all);
    all.into_iter()
        .filter_map(|p| match p {
            Prim::Assign(FieldRef::Hdr(h, i), _) => Some((h.0, *i)),
            _ => None,
        })
        .collect()
}

/// One input of a checksum over the payload that ingress may rewrite.
struct Rewritten {
    field: FieldRef,
    header: HeaderId,
}

/// The inputs of `c` that ingress may rewrite, checked to sit on 16-bit
/// boundaries of the checksum (so that taking them out and adding them
/// back elsewhere in the sum changes nothing else).
fn rewritten_inputs(
    prog: &Program,
    c: &Checksum,
    rewritten: &BTreeSet<(usize, usize)>,
) -> Result<Vec<Rewritten>, String> {
    let mut offset = 0;
    let mut out = vec![];
    for i in &c.inputs {
        let width = match i {
            ChecksumInput::Field(f) => prog.field_width(*f),
            ChecksumInput::Int { width, .. } => *width,
        };
        if let ChecksumInput::Field(f @ FieldRef::Hdr(h, idx)) = i {
            if rewritten.contains(&(h.0, *idx)) {
                if offset % 16 != 0 || width % 16 != 0 {
                    return Err(format!(
                        "checksum `{}`: the rewritten field {} does not sit on 16-bit boundaries",
                        c.name,
                        crate::bmv2::p4_field_name(prog, *f)
                    ));
                }
                out.push(Rewritten {
                    field: *f,
                    header: *h,
                });
            }
        }
        offset += width;
    }
    Ok(out)
}

/// Why the program cannot be rendered for TNA, if it cannot.
pub fn check(prog: &Program) -> Result<(), CodegenError> {
    let mut problems = vec![];
    let mut ingress = Uses::default();
    ingress.block(&prog.ingress);
    for a in &prog.actions {
        a.body.iter().for_each(|p| ingress.prim(p));
    }
    for s in &ingress.std_fields {
        if std_field(*s, false).is_none() {
            problems.push(format!(
                "ingress uses standard_metadata.{}, which TNA's ingress does not have",
                s.name()
            ));
        }
    }
    let mut egress = Uses::default();
    egress.block(&prog.egress);
    for s in &egress.std_fields {
        if std_field(*s, true).is_none() {
            problems.push(format!(
                "egress uses standard_metadata.{}, which TNA's egress does not have",
                s.name()
            ));
        }
    }
    if egress.headers {
        problems.push("egress reads or writes headers; TNA's egress here parses none".into());
    }
    if !egress.tables.is_empty() || !egress.calls.is_empty() || egress.externs {
        problems.push(
            "egress applies tables, calls actions or uses externs, which live in the ingress control"
                .into(),
        );
    }
    for code in ingress.errors.iter().chain(&egress.errors) {
        if parser_error(*code).is_none() {
            problems.push(format!(
                "TNA has no parser_err flag for error.{}",
                code.name()
            ));
        }
    }
    for s in &prog.parser {
        let mut u = Uses::default();
        s.sets.iter().for_each(|(f, e)| {
            u.field(*f);
            u.expr(e);
        });
        s.select.iter().for_each(|f| u.field(*f));
        if u.std_fields.iter().any(|f| *f != StdField::IngressPort) {
            problems.push(format!(
                "parser state `{}` uses intrinsic metadata other than the ingress port",
                s.name
            ));
        }
    }
    let rewritten = rewritten_fields(prog);
    for c in &prog.checksums {
        let FieldRef::Hdr(target, _) = c.target else {
            problems.push(format!(
                "checksum `{}` does not target a header field",
                c.name
            ));
            continue;
        };
        if c.verify {
            if c.with_payload {
                problems.push(format!(
                    "checksum `{}`: Tofino's parser cannot verify a checksum over the payload",
                    c.name
                ));
            }
            let foreign = c.inputs.iter().any(|i| match i {
                ChecksumInput::Field(FieldRef::Hdr(h, _)) => *h != target,
                _ => true,
            });
            if foreign {
                problems.push(format!(
                    "checksum `{}`: a verified checksum must cover fields of its own header only",
                    c.name
                ));
            }
        } else if c.with_payload {
            if let Err(e) = rewritten_inputs(prog, c, &rewritten) {
                problems.push(e);
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CodegenError::Tna(problems.join("; ")))
    }
}

/// The metadata fields egress reads, which ingress must bridge.
fn bridged_fields(prog: &Program) -> Vec<usize> {
    let mut u = Uses::default();
    u.block(&prog.egress);
    u.meta_read.into_iter().collect()
}

/// Renders the program as P4_16 for TNA.
pub fn render(prog: &Program, title: &str) -> Result<String, CodegenError> {
    prog.validate().map_err(|e| CodegenError::Ir(e.0))?;
    check(prog)?;
    let ig = Printer::new(prog, Dialect::Tna { egress: false });
    let eg = Printer::new(prog, Dialect::Tna { egress: true });
    let hname = |h: HeaderId| prog.headers[h.0].name.clone();
    let fname = |f: FieldRef| crate::bmv2::p4_field_name(prog, f);

    // Constants: colours take TNA's numbers.
    let consts: Vec<Const> = prog
        .consts
        .iter()
        .map(|c| match c.color {
            Some(color) => Const {
                value: color_value(color),
                doc: if c.doc.is_empty() {
                    String::new()
                } else {
                    "meter colours, as TNA numbers them (MeterColor_t)".into()
                },
                ..c.clone()
            },
            None => c.clone(),
        })
        .collect();

    // Metadata: the IR's, then what TNA needs on top of it.
    let mut meta = field_views(&prog.meta);
    let mut extra_meta: Vec<(String, String, String)> = vec![]; // (type, name, doc)
    let verifies: Vec<&Checksum> = prog.checksums.iter().filter(|c| c.verify).collect();
    let updates: Vec<&Checksum> = prog.checksums.iter().filter(|c| !c.verify).collect();
    let uses_checksum_error = {
        let mut u = Uses::default();
        u.block(&prog.ingress);
        prog.actions
            .iter()
            .for_each(|a| a.body.iter().for_each(|p| u.prim(p)));
        u.std_fields.contains(&StdField::ChecksumError)
    };
    if uses_checksum_error || !verifies.is_empty() {
        extra_meta.push((
            "bit<1>".into(),
            "checksum_error".into(),
            "a verified checksum was wrong (v1model's checksum_error)".into(),
        ));
    }
    for c in &verifies {
        extra_meta.push((
            "bool".into(),
            format!("{}_err", c.name),
            format!("the parser's verdict on {}", c.name),
        ));
    }
    for c in &updates {
        extra_meta.push((
            "bool".into(),
            format!("{}_en", c.name),
            format!("the deparser recomputes {}", c.name),
        ));
        if c.with_payload {
            extra_meta.push((
                "bit<16>".into(),
                format!("{}_residual", c.name),
                format!("{} without the fields ingress may rewrite", c.name),
            ));
        }
    }
    let counted: Vec<&Counter> = prog.counters.iter().collect();
    for c in &counted {
        extra_meta.push((
            format!("bit<{}>", index_bits(c.size)),
            format!("{}_index", c.name),
            format!("the cell of {} to count at the end of ingress", c.name),
        ));
        extra_meta.push((
            "bit<1>".into(),
            format!("{}_hit", c.name),
            format!("whether to count {}", c.name),
        ));
    }
    for (ty, name, doc) in &extra_meta {
        meta.push(FieldView {
            decl: format!("{ty} {name};"),
            doc: format!("  // {doc}"),
        });
    }
    let mut init: Vec<String> = prog
        .meta
        .iter()
        .map(|f| format!("meta.{} = {}w0;", f.name, f.width))
        .collect();
    init.extend(extra_meta.iter().map(|(ty, name, _)| {
        if ty == "bool" {
            format!("meta.{name} = false;")
        } else {
            format!("meta.{name} = 0;")
        }
    }));

    // Bridged metadata.
    let bridged_idx = bridged_fields(prog);
    let bridged = if bridged_idx.is_empty() {
        None
    } else {
        let mut fields: Vec<FieldDecl> =
            bridged_idx.iter().map(|i| prog.meta[*i].clone()).collect();
        let bits: u32 = fields.iter().map(|f| f.width).sum();
        if bits % 8 != 0 {
            fields.push(FieldDecl {
                name: "_pad".into(),
                width: 8 - bits % 8,
                doc: String::new(),
            });
        }
        Some(HeaderView {
            annotation: String::new(),
            name: "bridged_md_t".into(),
            doc: "// Ingress metadata egress reads, carried in front of the packet.\n".into(),
            fields: field_views(&fields),
        })
    };
    let mut members = header_members(prog);
    if bridged.is_some() {
        members.insert(0, "bridged_md_t bridged_md;".into());
    }

    // Parser: intrinsic metadata first, then the IR's states with the
    // checksum engines' work in the states that extract their headers.
    let rewritten = rewritten_fields(prog);
    let mut parser_externs = vec![];
    for c in &verifies {
        parser_externs.push(format!("Checksum() {};", c.name));
    }
    let mut residuals: Vec<(&Checksum, Vec<Rewritten>)> = vec![];
    for c in updates.iter().filter(|c| c.with_payload) {
        parser_externs.push(format!("Checksum() {}_residual;", c.name));
        let r = rewritten_inputs(prog, c, &rewritten).map_err(CodegenError::Tna)?;
        residuals.push((c, r));
    }
    let after_extracts = |s: &ParserState| -> Vec<String> {
        let mut lines = vec![];
        for h in &s.extracts {
            for c in &verifies {
                let FieldRef::Hdr(target, ti) = c.target else {
                    continue;
                };
                if target != *h {
                    continue;
                }
                // The fields in header order, the checksum among them.
                let mut idx: Vec<usize> = c
                    .inputs
                    .iter()
                    .filter_map(|i| match i {
                        ChecksumInput::Field(FieldRef::Hdr(_, i)) => Some(*i),
                        _ => None,
                    })
                    .collect();
                idx.push(ti);
                idx.sort_unstable();
                idx.dedup();
                let whole = idx.len() == prog.header_type(target).fields.len();
                if whole {
                    // The whole header, the form Tofino's examples use.
                    lines.push(format!("{}.add(hdr.{});", c.name, hname(target)));
                } else {
                    let fields: Vec<String> = idx
                        .iter()
                        .map(|i| fname(FieldRef::Hdr(target, *i)))
                        .collect();
                    lines.push(format!("{}.add({{{}}});", c.name, fields.join(", ")));
                }
                lines.push(format!("meta.{0}_err = {0}.verify();", c.name));
            }
            for (c, r) in &residuals {
                let fields: Vec<String> = r
                    .iter()
                    .filter(|x| x.header == *h)
                    .map(|x| fname(x.field))
                    .collect();
                if !fields.is_empty() {
                    lines.push(format!(
                        "{}_residual.subtract({{{}}});",
                        c.name,
                        fields.join(", ")
                    ));
                }
                if let FieldRef::Hdr(target, _) = c.target {
                    if target == *h {
                        lines.push(format!(
                            "{}_residual.subtract({{{}}});",
                            c.name,
                            fname(c.target)
                        ));
                        lines.push(format!("meta.{0}_residual = {0}_residual.get();", c.name));
                    }
                }
            }
        }
        lines
    };
    let mut states = parser_states(&ig, &after_extracts);
    if let Some(start) = states.iter_mut().find(|s| s.name == "start") {
        let mut lines = vec![
            "packet.extract(ig_intr_md);".to_string(),
            "packet.advance(PORT_METADATA_SIZE);".to_string(),
        ];
        lines.extend(init.iter().cloned());
        lines.append(&mut start.lines);
        start.lines = lines;
    }

    // Externs of the ingress control.
    let mut externs = vec![];
    for m in &prog.meters {
        let unit = match m.unit {
            MeterUnit::Bytes => "MeterType_t.BYTES",
            MeterUnit::Packets => "MeterType_t.PACKETS",
        };
        externs.push(format!("// {}", m.doc));
        externs.push(match m.direct {
            Some(_) => format!("DirectMeter({unit}) {};", m.name),
            None => format!(
                "Meter<bit<{}>>({}, {unit}) {};",
                index_bits(m.size),
                m.size,
                m.name
            ),
        });
    }
    for c in &prog.counters {
        externs.push(format!("// {}", c.doc));
        externs.push(format!(
            "Counter<bit<64>, bit<{}>>({}, CounterType_t.PACKETS_AND_BYTES) {};",
            index_bits(c.size),
            c.size,
            c.name
        ));
    }

    // Ingress: checksum verdicts, the IR's statements, then deferred
    // counts, deparser flags and bridging.
    let mut ingress = vec![];
    let pad = "        ";
    for c in &verifies {
        ingress.push(format!(
            "{pad}if (meta.{}_err && {}) {{",
            c.name,
            ig.expr_prec(&c.cond, &[], 2)
        ));
        ingress.push(format!("{pad}    meta.checksum_error = 1w1;"));
        ingress.push(format!("{pad}}}"));
    }
    ig.block(&prog.ingress, 2, &mut ingress);
    for c in &counted {
        ingress.push(format!("{pad}if (meta.{}_hit == 1w1) {{", c.name));
        ingress.push(format!("{pad}    {0}.count(meta.{0}_index);", c.name));
        ingress.push(format!("{pad}}}"));
    }
    for c in &updates {
        ingress.push(format!("{pad}if ({}) {{", ig.expr(&c.cond, &[])));
        ingress.push(format!("{pad}    meta.{}_en = true;", c.name));
        ingress.push(format!("{pad}}}"));
    }
    if bridged.is_some() {
        ingress.push(format!("{pad}hdr.bridged_md.setValid();"));
        for i in &bridged_idx {
            let n = &prog.meta[*i].name;
            ingress.push(format!("{pad}hdr.bridged_md.{n} = meta.{n};"));
        }
    }
    if prog.egress.is_empty() && bridged.is_none() {
        ingress.push(format!("{pad}ig_tm_md.bypass_egress = 1w1;"));
    }

    // Ingress deparser: checksums, then the headers.
    let mut deparser_externs = vec![];
    let mut deparser = vec![];
    for c in &updates {
        deparser_externs.push(format!("Checksum() {};", c.name));
        let inputs: Vec<String> = if c.with_payload {
            let r = residuals
                .iter()
                .find(|(x, _)| x.name == c.name)
                .map(|(_, r)| r.iter().map(|x| fname(x.field)).collect::<Vec<_>>())
                .unwrap_or_default();
            let mut v = r;
            v.push(format!("meta.{}_residual", c.name));
            v
        } else {
            c.inputs
                .iter()
                .map(|i| match i {
                    ChecksumInput::Field(f) => fname(*f),
                    ChecksumInput::Int { value, width } => format!("{width}w{value}"),
                })
                .collect()
        };
        deparser.push(format!("if (meta.{}_en) {{", c.name));
        deparser.push(format!("    {} = {}.update({{", fname(c.target), c.name));
        for (i, x) in inputs.iter().enumerate() {
            let sep = if i + 1 == inputs.len() { "" } else { "," };
            deparser.push(format!("        {x}{sep}"));
        }
        deparser.push("    });".into());
        deparser.push("}".into());
    }
    if bridged.is_some() {
        deparser.push("packet.emit(hdr.bridged_md);".into());
    }
    for h in &prog.deparser {
        deparser.push(format!("packet.emit(hdr.{});", hname(*h)));
    }

    // Egress parser: the intrinsic metadata and the bridged header.
    let mut egress_parser = vec!["packet.extract(eg_intr_md);".to_string()];
    if !prog.egress.is_empty() {
        egress_parser.extend(init.iter().cloned());
    }
    if bridged.is_some() {
        egress_parser.push("packet.extract(hdr.bridged_md);".into());
        for i in &bridged_idx {
            let n = &prog.meta[*i].name;
            egress_parser.push(format!("meta.{n} = hdr.bridged_md.{n};"));
        }
    }
    egress_parser.push("transition accept;".into());
    let mut egress = vec![];
    eg.block(&prog.egress, 2, &mut egress);

    let t = TnaTemplate {
        title: title.into(),
        consts: const_views(&consts),
        headers: header_views(prog),
        bridged,
        header_members: members,
        meta,
        parser_externs,
        states,
        externs,
        actions: action_views(&ig),
        tables: table_views(&ig),
        ingress,
        deparser_externs,
        deparser,
        egress_parser,
        egress,
    };
    let mut s = t.render()?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}
