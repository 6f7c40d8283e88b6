//! The P4_16 renderer for v1model (BMv2).
//!
//! The layout of the program lives in `templates/v1model.p4`; this module
//! prepares what the template prints: declarations with their comments,
//! and statements and expressions spelled as P4.

use crate::ir::*;
use askama::Template;

/// One `const` line.
pub struct ConstView {
    pub decl: String,
    pub doc: String,
}

pub struct FieldView {
    pub decl: String,
    pub doc: String,
}

pub struct HeaderView {
    pub annotation: String,
    pub name: String,
    pub doc: String,
    pub fields: Vec<FieldView>,
}

pub struct StateView {
    pub name: String,
    pub lines: Vec<String>,
}

pub struct ActionView {
    pub doc: String,
    pub signature: String,
    pub body: Vec<String>,
}

pub struct TableView {
    pub doc: String,
    pub name: String,
    pub keys: Vec<String>,
    pub actions: Vec<String>,
    pub default_action: String,
    pub size: u32,
    pub extra: Vec<String>,
}

pub struct ChecksumView {
    pub call: String,
    pub cond: String,
    pub inputs: Vec<String>,
    pub target: String,
}

#[derive(Template)]
#[template(path = "v1model.p4", escape = "none")]
pub struct V1modelTemplate {
    pub title: String,
    pub consts: Vec<ConstView>,
    pub headers: Vec<HeaderView>,
    pub header_members: Vec<String>,
    pub meta: Vec<FieldView>,
    pub states: Vec<StateView>,
    pub verify: Vec<ChecksumView>,
    pub update: Vec<ChecksumView>,
    pub externs: Vec<String>,
    pub actions: Vec<ActionView>,
    pub tables: Vec<TableView>,
    pub ingress: Vec<String>,
    pub egress: Vec<String>,
    pub emits: Vec<String>,
}

/// How the architectures spell what differs between them: intrinsic
/// metadata, dropping, meters and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    V1model,
    /// The Tofino Native Architecture, inside the ingress or the egress
    /// half of the pipeline (each has its own intrinsic metadata).
    Tna {
        egress: bool,
    },
}

/// Prints statements and expressions of a program as P4 of one dialect.
pub(crate) struct Printer<'a> {
    pub prog: &'a Program,
    pub dialect: Dialect,
}

fn comment(doc: &str) -> String {
    if doc.is_empty() {
        String::new()
    } else {
        format!("  // {doc}")
    }
}

impl Printer<'_> {
    pub fn new(prog: &Program, dialect: Dialect) -> Printer<'_> {
        Printer { prog, dialect }
    }

    pub fn field(&self, f: FieldRef) -> String {
        match (self.dialect, f) {
            (Dialect::Tna { egress }, FieldRef::Std(s)) => crate::tna::std_field(s, egress)
                .unwrap_or("/* not in TNA */")
                .to_string(),
            _ => crate::bmv2::p4_field_name(self.prog, f),
        }
    }

    pub fn expr(&self, e: &Expr, params: &[FieldDecl]) -> String {
        self.expr_prec(e, params, 0)
    }

    /// An expression cast to `bit<width>`, unless it already has that width.
    fn cast(&self, e: &Expr, params: &[FieldDecl], width: u32) -> String {
        match e {
            Expr::Int { value, .. } => format!("{width}w{value}"),
            _ if self.prog.expr_width(e, params) == Some(width) => self.expr(e, params),
            _ => format!("(bit<{width}>) {}", self.expr_prec(e, params, 10)),
        }
    }

    pub fn expr_prec(&self, e: &Expr, params: &[FieldDecl], outer: u8) -> String {
        match e {
            Expr::Field(f) => self.field(*f),
            Expr::Int { value, width } => {
                if *value > 255 && (*value + 1).is_power_of_two() {
                    format!("{width}w0x{value:x}")
                } else {
                    format!("{width}w{value}")
                }
            }
            Expr::Const(c) => self.prog.consts[*c].name.clone(),
            Expr::Param(i) => params.get(*i).map(|p| p.name.clone()).unwrap_or_default(),
            Expr::Valid(h) => format!("hdr.{}.isValid()", self.prog.headers[h.0].name),
            Expr::Bool(b) => b.to_string(),
            Expr::Error(code) => match self.dialect {
                Dialect::V1model => format!("error.{}", code.name()),
                Dialect::Tna { .. } => crate::tna::parser_error(*code)
                    .unwrap_or("/* not in TNA */")
                    .to_string(),
            },
            Expr::Not(a) => format!("!{}", self.expr_prec(a, params, 9)),
            Expr::Bin(op, a, b) => {
                let prec = match op {
                    BinOp::Or => 1,
                    BinOp::And => 2,
                    BinOp::Eq | BinOp::Ne => 3,
                    BinOp::Le | BinOp::Gt => 4,
                    BinOp::BitAnd => 5,
                    BinOp::Add | BinOp::Sub => 6,
                };
                let s = format!(
                    "{} {} {}",
                    self.expr_prec(a, params, prec),
                    op.symbol(),
                    self.expr_prec(b, params, prec + 1)
                );
                if prec < outer {
                    format!("({s})")
                } else {
                    s
                }
            }
        }
    }

    /// The lines of one primitive.
    pub fn prim(&self, p: &Prim, params: &[FieldDecl]) -> Vec<String> {
        if let Dialect::Tna { egress } = self.dialect {
            return self.tna_prim(p, params, egress);
        }
        vec![match p {
            Prim::Assign(f, e) => format!("{} = {};", self.field(*f), self.expr(e, params)),
            Prim::SetValid(h) => format!("hdr.{}.setValid();", self.prog.headers[h.0].name),
            Prim::SetInvalid(h) => format!("hdr.{}.setInvalid();", self.prog.headers[h.0].name),
            Prim::MarkToDrop => "mark_to_drop(standard_metadata);".into(),
            Prim::Count { counter, index } => {
                format!(
                    "{}.count({});",
                    self.prog.counters[counter.0].name,
                    self.expr(index, params)
                )
            }
            Prim::ExecuteMeter { meter, index, dst } => format!(
                "{}.execute_meter({}, {});",
                self.prog.meters[meter.0].name,
                self.expr(index, params),
                self.field(*dst)
            ),
            Prim::ReadDirectMeter { meter, dst } => {
                format!(
                    "{}.read({});",
                    self.prog.meters[meter.0].name,
                    self.field(*dst)
                )
            }
        }]
    }

    /// TNA's spelling of a primitive: drops through the deparser's
    /// `drop_ctl`, meters that return their colour, counts deferred to one
    /// place at the end of ingress (see [`crate::tna`]).
    fn tna_prim(&self, p: &Prim, params: &[FieldDecl], egress: bool) -> Vec<String> {
        let prog = self.prog;
        match p {
            Prim::MarkToDrop => vec![format!(
                "{}.drop_ctl = 3w1;",
                if egress { "eg_dprsr_md" } else { "ig_dprsr_md" }
            )],
            Prim::Count { counter, index } => {
                let c = &prog.counters[counter.0];
                vec![
                    format!(
                        "meta.{}_index = {};",
                        c.name,
                        self.cast(index, params, crate::tna::index_bits(c.size))
                    ),
                    format!("meta.{}_hit = 1w1;", c.name),
                ]
            }
            Prim::ExecuteMeter { meter, index, dst } => {
                let m = &prog.meters[meter.0];
                vec![format!(
                    "{} = (bit<{}>) {}.execute({});",
                    self.field(*dst),
                    prog.field_width(*dst),
                    m.name,
                    self.cast(index, params, crate::tna::index_bits(m.size))
                )]
            }
            Prim::ReadDirectMeter { meter, dst } => vec![format!(
                "{} = (bit<{}>) {}.execute();",
                self.field(*dst),
                prog.field_width(*dst),
                prog.meters[meter.0].name
            )],
            _ => {
                let v1 = Printer {
                    prog,
                    dialect: Dialect::V1model,
                };
                // Assignments and validity are spelled alike; only the
                // fields differ, so print with this printer's fields.
                match p {
                    Prim::Assign(f, e) => {
                        vec![format!("{} = {};", self.field(*f), self.expr(e, params))]
                    }
                    _ => v1.prim(p, params),
                }
            }
        }
    }

    pub fn block(&self, block: &[Stmt], indent: usize, out: &mut Vec<String>) {
        let pad = "    ".repeat(indent);
        for s in block {
            match s {
                Stmt::Apply(t) => out.push(format!("{pad}{}.apply();", self.prog.tables[t.0].name)),
                Stmt::ApplyHit { table, hit, miss } => {
                    let name = &self.prog.tables[table.0].name;
                    if hit.is_empty() {
                        out.push(format!("{pad}if ({name}.apply().miss) {{"));
                        self.block(miss, indent + 1, out);
                    } else {
                        out.push(format!("{pad}if ({name}.apply().hit) {{"));
                        self.block(hit, indent + 1, out);
                        if !miss.is_empty() {
                            out.push(format!("{pad}}} else {{"));
                            self.block(miss, indent + 1, out);
                        }
                    }
                    out.push(format!("{pad}}}"));
                }
                Stmt::If { .. } => self.if_chain(s, indent, out, false),
                Stmt::Call { action, args } => {
                    let a = &self.prog.actions[action.0];
                    let args: Vec<String> = args
                        .iter()
                        .zip(&a.params)
                        .map(|(v, p)| {
                            // Name the argument when a constant of that value
                            // and width exists: drop_packet(DROP_NO_ROUTE).
                            self.prog
                                .consts
                                .iter()
                                .find(|c| {
                                    c.value == *v
                                        && c.width == p.width
                                        && c.name.starts_with("DROP_")
                                })
                                .map(|c| c.name.clone())
                                .unwrap_or_else(|| format!("{}w{v}", p.width))
                        })
                        .collect();
                    out.push(format!("{pad}{}({});", a.name, args.join(", ")));
                }
                Stmt::Do(prims) => {
                    for p in prims {
                        for line in self.prim(p, &[]) {
                            out.push(format!("{pad}{line}"));
                        }
                    }
                }
            }
        }
    }

    /// Prints `if / else if / else` chains flat rather than nested.
    fn if_chain(&self, s: &Stmt, indent: usize, out: &mut Vec<String>, continued: bool) {
        let pad = "    ".repeat(indent);
        let Stmt::If { cond, then, els } = s else {
            return;
        };
        let head = if continued {
            format!("{pad}}} else if (")
        } else {
            format!("{pad}if (")
        };
        out.push(format!("{head}{}) {{", self.expr(cond, &[])));
        self.block(then, indent + 1, out);
        match els.as_slice() {
            [] => out.push(format!("{pad}}}")),
            [inner @ Stmt::If { .. }] => self.if_chain(inner, indent, out, true),
            _ => {
                out.push(format!("{pad}}} else {{"));
                self.block(els, indent + 1, out);
                out.push(format!("{pad}}}"));
            }
        }
    }
}

/// The `const` declarations.
pub(crate) fn const_views(consts: &[Const]) -> Vec<ConstView> {
    consts
        .iter()
        .map(|c| {
            let value = if c.name == "YELLOW_TOS" {
                format!("0x{:02x}", c.value)
            } else {
                c.value.to_string()
            };
            ConstView {
                decl: format!("const bit<{}> {} = {};", c.width, c.name, value),
                doc: comment(&c.doc),
            }
        })
        .collect()
}

pub(crate) fn field_views(fs: &[FieldDecl]) -> Vec<FieldView> {
    fs.iter()
        .map(|f| FieldView {
            decl: format!("bit<{}> {};", f.width, f.name),
            doc: comment(&f.doc),
        })
        .collect()
}

/// The header types, with their controller-header annotations.
pub(crate) fn header_views(prog: &Program) -> Vec<HeaderView> {
    prog.header_types
        .iter()
        .map(|h| HeaderView {
            annotation: h
                .controller_header
                .as_ref()
                .map(|c| format!("@controller_header(\"{c}\")\n"))
                .unwrap_or_default(),
            name: h.name.clone(),
            doc: if h.doc.is_empty() {
                String::new()
            } else {
                format!("// {}\n", h.doc)
            },
            fields: field_views(&h.fields),
        })
        .collect()
}

/// The members of the `headers_t` struct.
pub(crate) fn header_members(prog: &Program) -> Vec<String> {
    prog.headers
        .iter()
        .map(|h| format!("{} {};", prog.header_types[h.ty].name, h.name))
        .collect()
}

/// The parser states; `after_extracts` adds lines between a state's
/// extracts and its assignments.
pub(crate) fn parser_states(
    pr: &Printer<'_>,
    after_extracts: &dyn Fn(&ParserState) -> Vec<String>,
) -> Vec<StateView> {
    let prog = pr.prog;
    prog.parser
        .iter()
        .map(|s| {
            let mut lines: Vec<String> = s
                .extracts
                .iter()
                .map(|h| format!("packet.extract(hdr.{});", prog.headers[h.0].name))
                .collect();
            lines.extend(after_extracts(s));
            for (f, e) in &s.sets {
                lines.push(format!("{} = {};", pr.field(*f), pr.expr(e, &[])));
            }
            let next = |n: &Next| match n {
                Next::Accept => "accept".to_string(),
                Next::State(s) => s.clone(),
            };
            if s.cases.is_empty() {
                lines.push(format!("transition {};", next(&s.default)));
            } else {
                let keys: Vec<String> = s.select.iter().map(|f| pr.field(*f)).collect();
                lines.push(format!("transition select({}) {{", keys.join(", ")));
                for (vals, n) in &s.cases {
                    let vs: Vec<String> = vals
                        .iter()
                        .zip(&s.select)
                        .map(|(v, f)| {
                            if matches!(f, FieldRef::Std(StdField::IngressPort))
                                && *v == prog.consts[0].value
                            {
                                prog.consts[0].name.clone()
                            } else if prog.field_width(*f) == 16 {
                                format!("0x{v:04x}")
                            } else {
                                v.to_string()
                            }
                        })
                        .collect();
                    let label = if vs.len() == 1 {
                        vs[0].clone()
                    } else {
                        format!("({})", vs.join(", "))
                    };
                    lines.push(format!("    {label}: {};", next(n)));
                }
                lines.push(format!("    default: {};", next(&s.default)));
                lines.push("}".into());
            }
            StateView {
                name: s.name.clone(),
                lines,
            }
        })
        .collect()
}

/// The actions of the ingress control (without `NoAction`, which the core
/// library declares).
pub(crate) fn action_views(pr: &Printer<'_>) -> Vec<ActionView> {
    pr.prog
        .actions
        .iter()
        .filter(|a| a.name != "NoAction")
        .map(|a| {
            let params: Vec<String> = a
                .params
                .iter()
                .map(|p| format!("bit<{}> {}", p.width, p.name))
                .collect();
            ActionView {
                doc: a.doc.clone(),
                signature: format!("action {}({})", a.name, params.join(", ")),
                body: a.body.iter().flat_map(|p| pr.prim(p, &a.params)).collect(),
            }
        })
        .collect()
}

/// The tables; both architectures bind a direct meter with `meters =`.
pub(crate) fn table_views(pr: &Printer<'_>) -> Vec<TableView> {
    let prog = pr.prog;
    prog.tables
        .iter()
        .map(|t| {
            let (def, args) = &t.default_action;
            let def_name = &prog.actions[def.0].name;
            let default_action = format!(
                "{}default_action = {}({});",
                if t.default_const { "const " } else { "" },
                def_name,
                args.iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut extra = vec![];
            if let Some(m) = t.direct_meter {
                extra.push(format!("meters = {};", prog.meters[m.0].name));
            }
            TableView {
                doc: t.doc.clone(),
                name: t.name.clone(),
                keys: t
                    .keys
                    .iter()
                    .map(|k| format!("{}: {};", pr.field(k.field), k.kind.name()))
                    .collect(),
                actions: t
                    .actions
                    .iter()
                    .map(|a| format!("{};", prog.actions[a.0].name))
                    .collect(),
                default_action,
                size: t.size,
                extra,
            }
        })
        .collect()
}

/// Renders the program as P4_16 for v1model.
pub fn render(prog: &Program, title: &str) -> Result<String, askama::Error> {
    let pr = Printer::new(prog, Dialect::V1model);
    let checksum = |c: &Checksum| ChecksumView {
        call: match (c.verify, c.with_payload) {
            (true, false) => "verify_checksum",
            (true, true) => "verify_checksum_with_payload",
            (false, false) => "update_checksum",
            (false, true) => "update_checksum_with_payload",
        }
        .into(),
        cond: pr.expr(&c.cond, &[]),
        inputs: c
            .inputs
            .iter()
            .map(|i| match i {
                ChecksumInput::Field(f) => pr.field(*f),
                ChecksumInput::Int { value, width } => format!("{width}w{value}"),
            })
            .collect(),
        target: pr.field(c.target),
    };
    let verify = prog
        .checksums
        .iter()
        .filter(|c| c.verify)
        .map(checksum)
        .collect();
    let update = prog
        .checksums
        .iter()
        .filter(|c| !c.verify)
        .map(checksum)
        .collect();

    let mut externs = vec![];
    for m in &prog.meters {
        let unit = match m.unit {
            MeterUnit::Bytes => "MeterType.bytes",
            MeterUnit::Packets => "MeterType.packets",
        };
        externs.push(format!("// {}", m.doc));
        externs.push(match m.direct {
            Some(_) => format!("direct_meter<bit<2>>({unit}) {};", m.name),
            None => format!("meter(32w{}, {unit}) {};", m.size, m.name),
        });
    }
    for c in &prog.counters {
        externs.push(format!("// {}", c.doc));
        externs.push(format!(
            "counter(32w{}, CounterType.packets_and_bytes) {};",
            c.size, c.name
        ));
    }

    let mut ingress = vec![];
    pr.block(&prog.ingress, 2, &mut ingress);
    let mut egress = vec![];
    pr.block(&prog.egress, 2, &mut egress);
    let emits = prog
        .deparser
        .iter()
        .map(|h| format!("packet.emit(hdr.{});", prog.headers[h.0].name))
        .collect();

    let t = V1modelTemplate {
        title: title.into(),
        consts: const_views(&prog.consts),
        headers: header_views(prog),
        header_members: header_members(prog),
        meta: field_views(&prog.meta),
        states: parser_states(&pr, &|_| vec![]),
        verify,
        update,
        externs,
        actions: action_views(&pr),
        tables: table_views(&pr),
        ingress,
        egress,
        emits,
    };
    let mut s = t.render()?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}
