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

struct Printer<'a> {
    prog: &'a Program,
}

fn comment(doc: &str) -> String {
    if doc.is_empty() {
        String::new()
    } else {
        format!("  // {doc}")
    }
}

impl Printer<'_> {
    fn field(&self, f: FieldRef) -> String {
        crate::bmv2::p4_field_name(self.prog, f)
    }

    fn expr(&self, e: &Expr, params: &[FieldDecl]) -> String {
        self.expr_prec(e, params, 0)
    }

    fn expr_prec(&self, e: &Expr, params: &[FieldDecl], outer: u8) -> String {
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
            Expr::Error(code) => format!("error.{}", code.name()),
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

    fn prim(&self, p: &Prim, params: &[FieldDecl]) -> Option<String> {
        Some(match p {
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
        })
    }

    fn block(&self, block: &[Stmt], indent: usize, out: &mut Vec<String>) {
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
                        if let Some(line) = self.prim(p, &[]) {
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

/// Renders the program as P4_16 for v1model.
pub fn render(prog: &Program, title: &str) -> Result<String, askama::Error> {
    let pr = Printer { prog };
    let consts = prog
        .consts
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
        .collect();
    let fields = |fs: &[FieldDecl]| -> Vec<FieldView> {
        fs.iter()
            .map(|f| FieldView {
                decl: format!("bit<{}> {};", f.width, f.name),
                doc: comment(&f.doc),
            })
            .collect()
    };
    let headers = prog
        .header_types
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
            fields: fields(&h.fields),
        })
        .collect();
    let header_members = prog
        .headers
        .iter()
        .map(|h| format!("{} {};", prog.header_types[h.ty].name, h.name))
        .collect();
    let states = prog
        .parser
        .iter()
        .map(|s| {
            let mut lines: Vec<String> = s
                .extracts
                .iter()
                .map(|h| format!("packet.extract(hdr.{});", prog.headers[h.0].name))
                .collect();
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
        .collect();
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

    let actions = prog
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
                body: a
                    .body
                    .iter()
                    .filter_map(|p| pr.prim(p, &a.params))
                    .collect(),
            }
        })
        .collect();
    let tables = prog
        .tables
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
        .collect();
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
        consts,
        headers,
        header_members,
        meta: fields(&prog.meta),
        states,
        verify,
        update,
        externs,
        actions,
        tables,
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
