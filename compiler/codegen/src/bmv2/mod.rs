//! BMv2 JSON: lowering of the IR, and the consistency check every document
//! passes before it is written.
//!
//! Lowering follows p4c-bm2-ss's conventions so that `simple_switch` and
//! `simple_switch_grpc` load the result and P4Runtime names line up with the
//! P4Info: tables, actions, meters and counters are named
//! `<control>.<name>`; statements in a control body that are not table
//! applications become keyless tables with a constant default action
//! (`tbl_*`), hidden from P4Info as p4c hides them; arithmetic is masked to
//! its width.

/// The typed BMv2 JSON model (its own crate, shared with the switch).
pub use fairshare_bmv2_json as json;

use crate::ir::{
    ActionId, BinOp, ChecksumInput, Expr, FieldDecl, FieldRef, MatchKind, MeterUnit, Next,
    ParserErrorCode, Prim, Program, Stmt, TableId,
};
use crate::qualified;
use json::*;
use std::collections::{BTreeMap, BTreeSet};

/// The format version written in `__meta__`.
pub const FORMAT_VERSION: [u32; 2] = [2, 23];

/// Formats `value` as BMv2 hexstr with whole bytes for `width` bits.
pub fn hexstr(value: u128, width: u32) -> String {
    let digits = (width.max(1) as usize).div_ceil(8) * 2;
    format!("0x{value:0digits$x}")
}

fn mask(width: u32) -> u128 {
    if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    }
}

/// The v1model `standard_metadata` fields, in p4c's order.
const STANDARD_METADATA: [(&str, u32); 17] = [
    ("ingress_port", 9),
    ("egress_spec", 9),
    ("egress_port", 9),
    ("instance_type", 32),
    ("packet_length", 32),
    ("enq_timestamp", 32),
    ("enq_qdepth", 19),
    ("deq_timedelta", 32),
    ("deq_qdepth", 19),
    ("ingress_global_timestamp", 48),
    ("egress_global_timestamp", 48),
    ("mcast_grp", 16),
    ("egress_rid", 16),
    ("checksum_error", 1),
    ("parser_error", 32),
    ("priority", 3),
    ("_padding", 3),
];

/// Aliases simple_switch looks up to find its intrinsic metadata.
const FIELD_ALIASES: [(&str, &str); 9] = [
    ("queueing_metadata.enq_timestamp", "enq_timestamp"),
    ("queueing_metadata.enq_qdepth", "enq_qdepth"),
    ("queueing_metadata.deq_timedelta", "deq_timedelta"),
    ("queueing_metadata.deq_qdepth", "deq_qdepth"),
    (
        "intrinsic_metadata.ingress_global_timestamp",
        "ingress_global_timestamp",
    ),
    (
        "intrinsic_metadata.egress_global_timestamp",
        "egress_global_timestamp",
    ),
    ("intrinsic_metadata.mcast_grp", "mcast_grp"),
    ("intrinsic_metadata.egress_rid", "egress_rid"),
    ("intrinsic_metadata.priority", "priority"),
];

const META_HEADER: &str = "meta";

struct Lower<'a> {
    prog: &'a Program,
    actions: Vec<Action>,
    tables: Vec<Table>,
    conditionals: Vec<Conditional>,
    synthetic: usize,
    nodes: usize,
}

impl<'a> Lower<'a> {
    fn field(&self, f: FieldRef) -> (String, String) {
        match f {
            FieldRef::Hdr(h, i) => (
                self.prog.headers[h.0].name.clone(),
                self.prog.header_type(h).fields[i].name.clone(),
            ),
            FieldRef::Meta(i) => (META_HEADER.to_string(), self.prog.meta[i].name.clone()),
            FieldRef::Std(s) => ("standard_metadata".to_string(), s.name().to_string()),
        }
    }

    fn node(op: &str, left: Option<Operand>, right: Operand) -> Operand {
        Operand::Expression {
            value: ExprValue::Node(Box::new(ExprNode {
                op: op.into(),
                left,
                right: Some(right),
                cond: None,
            })),
        }
    }

    fn expr(&self, e: &Expr, params: &[FieldDecl]) -> Operand {
        match e {
            Expr::Field(f) => Operand::Field {
                value: self.field(*f),
            },
            Expr::Int { value, width } => Operand::Hexstr {
                value: hexstr(*value, *width),
                bitwidth: None,
            },
            Expr::Const(c) => {
                let c = &self.prog.consts[*c];
                Operand::Hexstr {
                    value: hexstr(c.value, c.width),
                    bitwidth: None,
                }
            }
            Expr::Param(i) => Operand::RuntimeData { value: *i as u32 },
            Expr::Valid(h) => Self::node(
                "d2b",
                None,
                Operand::Field {
                    value: (self.prog.headers[h.0].name.clone(), "$valid$".into()),
                },
            ),
            Expr::Bool(b) => Operand::Bool { value: *b },
            Expr::Error(code) => Operand::Hexstr {
                value: hexstr(code.code().into(), 32),
                bitwidth: None,
            },
            Expr::Not(a) => Self::node("not", None, self.expr(a, params)),
            Expr::Bin(op, a, b) => {
                let sym = match op {
                    BinOp::And => "and",
                    BinOp::Or => "or",
                    other => other.symbol(),
                };
                let n = Self::node(sym, Some(self.expr(a, params)), self.expr(b, params));
                match op {
                    BinOp::Add | BinOp::Sub => {
                        let w = self.prog.expr_width(e, params).unwrap_or(32);
                        Self::node(
                            "&",
                            Some(n),
                            Operand::Hexstr {
                                value: hexstr(mask(w), w),
                                bitwidth: None,
                            },
                        )
                    }
                    _ => n,
                }
            }
        }
    }

    /// An assigned value as p4c writes it: expressions wrapped once more.
    fn value(&self, e: &Expr, params: &[FieldDecl]) -> Operand {
        match self.expr(e, params) {
            x @ Operand::Expression { .. } => Operand::Expression {
                value: ExprValue::Operand(Box::new(x)),
            },
            x => x,
        }
    }

    fn prim(&self, p: &Prim, params: &[FieldDecl]) -> Primitive {
        let (op, parameters) = match p {
            Prim::Assign(f, e) => (
                "assign",
                vec![
                    Operand::Field {
                        value: self.field(*f),
                    },
                    self.value(e, params),
                ],
            ),
            Prim::SetValid(h) => (
                "add_header",
                vec![Operand::Header {
                    value: self.prog.headers[h.0].name.clone(),
                }],
            ),
            Prim::SetInvalid(h) => (
                "remove_header",
                vec![Operand::Header {
                    value: self.prog.headers[h.0].name.clone(),
                }],
            ),
            Prim::MarkToDrop => (
                "mark_to_drop",
                vec![Operand::Header {
                    value: "standard_metadata".into(),
                }],
            ),
            Prim::Count { counter, index } => (
                "count",
                vec![
                    Operand::CounterArray {
                        value: qualified(&self.prog.counters[counter.0].name),
                    },
                    self.value(index, params),
                ],
            ),
            Prim::ExecuteMeter { meter, index, dst } => (
                "execute_meter",
                vec![
                    Operand::MeterArray {
                        value: qualified(&self.prog.meters[meter.0].name),
                    },
                    self.value(index, params),
                    Operand::Field {
                        value: self.field(*dst),
                    },
                ],
            ),
            // A direct meter's colour is written by the table itself (the
            // meter array's `result_target`); nothing to do in the action.
            Prim::ReadDirectMeter { .. } => {
                return Primitive {
                    op: String::new(),
                    parameters: vec![],
                }
            }
        };
        Primitive {
            op: op.into(),
            parameters,
        }
    }

    fn action(&self, name: String, id: u32, params: &[FieldDecl], body: &[Prim]) -> Action {
        Action {
            name,
            id,
            runtime_data: params
                .iter()
                .map(|p| RuntimeData {
                    name: p.name.clone(),
                    bitwidth: p.width,
                })
                .collect(),
            primitives: body
                .iter()
                .map(|p| self.prim(p, params))
                .filter(|p| !p.op.is_empty())
                .collect(),
        }
    }

    fn action_name(&self, a: ActionId) -> String {
        qualified(&self.prog.actions[a.0].name)
    }

    /// A keyless table whose constant default action runs `action`.
    fn synthetic_table(
        &mut self,
        action: u32,
        action_name: String,
        args: Vec<String>,
        next: Option<String>,
    ) -> String {
        self.synthetic += 1;
        let name = format!(
            "tbl_{}_{}",
            action_name.rsplit('.').next().unwrap_or("act"),
            self.synthetic
        );
        self.tables.push(Table {
            name: name.clone(),
            id: 0,
            key: vec![],
            match_type: "exact".into(),
            kind: "simple".into(),
            max_size: 1024,
            with_counters: false,
            support_timeout: false,
            direct_meters: None,
            action_ids: vec![action],
            actions: vec![action_name.clone()],
            base_default_next: next.clone(),
            next_tables: BTreeMap::from([(action_name, next)]),
            default_entry: Some(DefaultEntry {
                action_id: action,
                action_const: true,
                action_data: args,
                action_entry_const: true,
            }),
            entries: None,
        });
        name
    }

    fn block(&mut self, block: &[Stmt], next: Option<String>) -> Option<String> {
        let mut cur = next;
        for s in block.iter().rev() {
            cur = Some(self.stmt(s, cur));
        }
        cur
    }

    fn stmt(&mut self, s: &Stmt, next: Option<String>) -> String {
        match s {
            Stmt::Apply(t) => self.table(*t, None, next),
            Stmt::ApplyHit { table, hit, miss } => {
                let h = self.block(hit, next.clone());
                let m = self.block(miss, next);
                self.table(*table, Some((h, m)), None)
            }
            Stmt::If { cond, then, els } => {
                let t = self.block(then, next.clone());
                let e = self.block(els, next);
                self.nodes += 1;
                let name = format!("node_{}", self.nodes);
                let expression = self.expr(cond, &[]);
                self.conditionals.push(Conditional {
                    name: name.clone(),
                    id: self.conditionals.len() as u32,
                    expression,
                    true_next: t,
                    false_next: e,
                });
                name
            }
            Stmt::Call { action, args } => {
                let a = &self.prog.actions[action.0];
                let data = args
                    .iter()
                    .zip(&a.params)
                    .map(|(v, p)| hexstr(*v, p.width))
                    .collect();
                self.synthetic_table(action.0 as u32, self.action_name(*action), data, next)
            }
            Stmt::Do(prims) => {
                let id = self.actions.len() as u32;
                let name = format!("act_{}", id);
                let action = self.action(name.clone(), id, &[], prims);
                self.actions.push(action);
                self.synthetic_table(id, name, vec![], next)
            }
        }
    }

    fn table(
        &mut self,
        t: TableId,
        hit_miss: Option<(Option<String>, Option<String>)>,
        next: Option<String>,
    ) -> String {
        let tbl = &self.prog.tables[t.0];
        let name = qualified(&tbl.name);
        let has = |kind: MatchKind| tbl.keys.iter().any(|k| k.kind == kind);
        let match_type = if has(MatchKind::Ternary) {
            "ternary"
        } else if has(MatchKind::Lpm) {
            "lpm"
        } else {
            "exact"
        };
        let actions: Vec<String> = tbl.actions.iter().map(|a| self.action_name(*a)).collect();
        let next_tables = match &hit_miss {
            Some((h, m)) => BTreeMap::from([
                ("__HIT__".to_string(), h.clone()),
                ("__MISS__".to_string(), m.clone()),
            ]),
            None => actions.iter().map(|a| (a.clone(), next.clone())).collect(),
        };
        let (def, args) = &tbl.default_action;
        let def_params = &self.prog.actions[def.0].params;
        let table = Table {
            name: name.clone(),
            id: 0,
            key: tbl
                .keys
                .iter()
                .map(|k| {
                    let target = self.field(k.field);
                    TableKey {
                        match_type: k.kind.name().into(),
                        name: p4_field_name(self.prog, k.field),
                        target,
                        mask: None,
                    }
                })
                .collect(),
            match_type: match_type.into(),
            kind: "simple".into(),
            max_size: tbl.size,
            with_counters: false,
            support_timeout: false,
            direct_meters: tbl
                .direct_meter
                .map(|m| qualified(&self.prog.meters[m.0].name)),
            action_ids: tbl.actions.iter().map(|a| a.0 as u32).collect(),
            actions,
            base_default_next: if hit_miss.is_some() { None } else { next },
            next_tables,
            default_entry: Some(DefaultEntry {
                action_id: def.0 as u32,
                action_const: tbl.default_const,
                action_data: args
                    .iter()
                    .zip(def_params)
                    .map(|(v, p)| hexstr(*v, p.width))
                    .collect(),
                action_entry_const: false,
            }),
            entries: None,
        };
        self.tables.push(table);
        name
    }
}

/// How P4 source spells a field (`hdr.ipv4.dst_addr`, `meta.edge`, ...): the
/// key names P4Info uses.
pub fn p4_field_name(prog: &Program, f: FieldRef) -> String {
    match f {
        FieldRef::Hdr(h, i) => format!(
            "hdr.{}.{}",
            prog.headers[h.0].name,
            prog.header_type(h).fields[i].name
        ),
        FieldRef::Meta(i) => format!("meta.{}", prog.meta[i].name),
        FieldRef::Std(s) => format!("standard_metadata.{}", s.name()),
    }
}

/// Lowers a validated program to BMv2 JSON.
pub fn lower(prog: &Program, program_name: &str) -> Bmv2Json {
    let mut lw = Lower {
        prog,
        actions: vec![],
        tables: vec![],
        conditionals: vec![],
        synthetic: 0,
        nodes: 0,
    };

    let mut header_types = vec![];
    let mut meta_fields: Vec<FieldDef> = prog
        .meta
        .iter()
        .map(|f| FieldDef::Fixed(f.name.clone(), f.width, false))
        .collect();
    let meta_width: u32 = prog.meta.iter().map(|f| f.width).sum();
    if meta_width % 8 != 0 {
        meta_fields.push(FieldDef::Fixed(
            "_padding".into(),
            8 - meta_width % 8,
            false,
        ));
    }
    header_types.push(HeaderType {
        name: "metadata_t".into(),
        id: 0,
        fields: meta_fields,
        max_length: None,
    });
    header_types.push(HeaderType {
        name: "standard_metadata".into(),
        id: 1,
        fields: STANDARD_METADATA
            .iter()
            .map(|(n, w)| FieldDef::Fixed((*n).into(), *w, false))
            .collect(),
        max_length: None,
    });
    for ht in &prog.header_types {
        header_types.push(HeaderType {
            name: ht.name.clone(),
            id: header_types.len() as u32,
            fields: ht
                .fields
                .iter()
                .map(|f| FieldDef::Fixed(f.name.clone(), f.width, false))
                .collect(),
            max_length: None,
        });
    }
    let mut headers = vec![
        Header {
            name: META_HEADER.into(),
            id: 0,
            header_type: "metadata_t".into(),
            metadata: true,
            pi_omit: true,
        },
        Header {
            name: "standard_metadata".into(),
            id: 1,
            header_type: "standard_metadata".into(),
            metadata: true,
            pi_omit: true,
        },
    ];
    for h in &prog.headers {
        headers.push(Header {
            name: h.name.clone(),
            id: headers.len() as u32,
            header_type: prog.header_types[h.ty].name.clone(),
            metadata: false,
            pi_omit: true,
        });
    }

    let parse_states = prog
        .parser
        .iter()
        .enumerate()
        .map(|(id, s)| {
            let mut ops: Vec<ParserOp> = s
                .extracts
                .iter()
                .map(|h| ParserOp {
                    op: "extract".into(),
                    parameters: vec![ParserParam::Operand(Operand::Regular {
                        value: prog.headers[h.0].name.clone(),
                    })],
                })
                .collect();
            for (f, e) in &s.sets {
                ops.push(ParserOp {
                    op: "set".into(),
                    parameters: vec![
                        ParserParam::Operand(Operand::Field {
                            value: lw.field(*f),
                        }),
                        ParserParam::Operand(lw.value(e, &[])),
                    ],
                });
            }
            let next = |n: &Next| match n {
                Next::Accept => None,
                Next::State(s) => Some(s.clone()),
            };
            let mut transitions: Vec<Transition> = s
                .cases
                .iter()
                .map(|(vals, n)| {
                    let hex: String = vals
                        .iter()
                        .zip(&s.select)
                        .map(|(v, f)| {
                            let w = prog.field_width(*f);
                            hexstr(*v, w).trim_start_matches("0x").to_string()
                        })
                        .collect();
                    Transition {
                        kind: "hexstr".into(),
                        value: Some(format!("0x{hex}")),
                        mask: None,
                        next_state: next(n),
                    }
                })
                .collect();
            transitions.push(Transition {
                kind: "default".into(),
                value: None,
                mask: None,
                next_state: next(&s.default),
            });
            ParseState {
                name: s.name.clone(),
                id: id as u32,
                parser_ops: ops,
                transitions,
                transition_key: s
                    .select
                    .iter()
                    .map(|f| Operand::Field {
                        value: lw.field(*f),
                    })
                    .collect(),
            }
        })
        .collect();

    let mut calculations = vec![];
    let mut checksums = vec![];
    for (i, c) in prog.checksums.iter().enumerate() {
        let mut input: Vec<Operand> = c
            .inputs
            .iter()
            .map(|x| match x {
                ChecksumInput::Field(f) => Operand::Field {
                    value: lw.field(*f),
                },
                ChecksumInput::Int { value, width } => Operand::Hexstr {
                    value: hexstr(*value, *width),
                    bitwidth: Some(*width),
                },
            })
            .collect();
        if c.with_payload {
            input.push(Operand::Payload { value: None });
        }
        let calc = format!("calc_{}", c.name);
        calculations.push(Calculation {
            name: calc.clone(),
            id: i as u32,
            algo: "csum16".into(),
            input,
        });
        checksums.push(ChecksumUnit {
            name: c.name.clone(),
            id: i as u32,
            target: lw.field(c.target),
            kind: "generic".into(),
            calculation: calc,
            verify: c.verify,
            update: !c.verify,
            if_cond: Some(lw.expr(&c.cond, &[])),
        });
    }

    lw.actions = prog
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| lw.action(qualified(&a.name), i as u32, &a.params, &a.body))
        .collect();

    let ingress_init = lw.block(&prog.ingress, None);
    let ingress_tables = std::mem::take(&mut lw.tables);
    let ingress_conds = std::mem::take(&mut lw.conditionals);
    let egress_init = lw.block(&prog.egress, None);
    let egress_tables = std::mem::take(&mut lw.tables);
    let egress_conds = std::mem::take(&mut lw.conditionals);
    let number = |mut ts: Vec<Table>, base: u32| {
        // Tables were created from the end of each block backwards; list
        // them in program order.
        ts.reverse();
        for (i, t) in ts.iter_mut().enumerate() {
            t.id = base + i as u32;
        }
        ts
    };
    let ingress_tables = number(ingress_tables, 0);
    let egress_tables = number(egress_tables, ingress_tables.len() as u32);
    let renumber = |mut cs: Vec<Conditional>, base: u32| {
        cs.reverse();
        for (i, c) in cs.iter_mut().enumerate() {
            c.id = base + i as u32;
        }
        cs
    };
    let ingress_conds = renumber(ingress_conds, 0);
    let egress_conds = renumber(egress_conds, ingress_conds.len() as u32);

    let mut meter_arrays = vec![];
    for m in &prog.meters {
        let (binding, result_target, size) = match m.direct {
            Some(t) => {
                let table = &prog.tables[t.0];
                let target = prog
                    .actions
                    .iter()
                    .flat_map(|a| &a.body)
                    .find_map(|p| match p {
                        Prim::ReadDirectMeter { meter, dst }
                            if prog.meters[meter.0].name == m.name =>
                        {
                            Some(lw.field(*dst))
                        }
                        _ => None,
                    });
                (Some(qualified(&table.name)), target, table.size)
            }
            None => (None, None, m.size),
        };
        meter_arrays.push(MeterArray {
            name: qualified(&m.name),
            id: meter_arrays.len() as u32,
            is_direct: m.direct.is_some(),
            rate_count: 2,
            kind: match m.unit {
                MeterUnit::Bytes => "bytes".into(),
                MeterUnit::Packets => "packets".into(),
            },
            size,
            binding,
            result_target,
        });
    }
    let counter_arrays = prog
        .counters
        .iter()
        .enumerate()
        .map(|(i, c)| CounterArray {
            name: qualified(&c.name),
            id: i as u32,
            is_direct: false,
            size: c.size,
            binding: None,
        })
        .collect();

    Bmv2Json {
        header_types,
        headers,
        header_stacks: vec![],
        header_union_types: vec![],
        header_unions: vec![],
        header_union_stacks: vec![],
        field_lists: vec![],
        errors: ParserErrorCode::ALL
            .iter()
            .map(|e| (e.name().to_string(), e.code()))
            .collect(),
        enums: vec![],
        parsers: vec![Parser {
            name: "parser".into(),
            id: 0,
            init_state: "start".into(),
            parse_states,
        }],
        parse_vsets: vec![],
        deparsers: vec![Deparser {
            name: "deparser".into(),
            id: 0,
            order: prog
                .deparser
                .iter()
                .map(|h| prog.headers[h.0].name.clone())
                .collect(),
            primitives: vec![],
        }],
        meter_arrays,
        counter_arrays,
        register_arrays: vec![],
        calculations,
        learn_lists: vec![],
        actions: lw.actions,
        pipelines: vec![
            Pipeline {
                name: "ingress".into(),
                id: 0,
                init_table: ingress_init,
                tables: ingress_tables,
                action_profiles: vec![],
                conditionals: ingress_conds,
            },
            Pipeline {
                name: "egress".into(),
                id: 1,
                init_table: egress_init,
                tables: egress_tables,
                action_profiles: vec![],
                conditionals: egress_conds,
            },
        ],
        checksums,
        force_arith: vec![],
        extern_instances: vec![],
        field_aliases: FIELD_ALIASES
            .iter()
            .map(|(a, f)| {
                (
                    (*a).to_string(),
                    ("standard_metadata".to_string(), (*f).to_string()),
                )
            })
            .collect(),
        program: program_name.into(),
        meta: Meta {
            version: FORMAT_VERSION.to_vec(),
            compiler: "fairshare".into(),
        },
    }
}

/// Serialises a document the way fairshare writes it: pretty, two-space
/// indentation, a final newline.
pub fn to_text(doc: &Bmv2Json) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(doc)?;
    s.push('\n');
    Ok(s)
}

/// Something a BMv2 JSON document references that it does not define, or a
/// width that does not agree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("BMv2 JSON {place}: {problem}")]
pub struct CheckError {
    /// Where in the document, as a JSON path.
    pub place: String,
    pub problem: String,
}

/// Checks that `text` round-trips through the typed model and that every
/// reference inside it resolves with consistent widths.
pub fn check_text(text: &str) -> Result<Bmv2Json, CheckError> {
    let doc: Bmv2Json = serde_json::from_str(text).map_err(|e| CheckError {
        place: format!("line {}", e.line()),
        problem: e.to_string(),
    })?;
    let again = to_text(&doc).map_err(|e| CheckError {
        place: "$".into(),
        problem: e.to_string(),
    })?;
    let back: Bmv2Json = serde_json::from_str(&again).map_err(|e| CheckError {
        place: format!("re-read line {}", e.line()),
        problem: e.to_string(),
    })?;
    if back != doc {
        return Err(CheckError {
            place: "$".into(),
            problem: "does not round-trip through the typed model".into(),
        });
    }
    check(&doc)?;
    Ok(doc)
}

/// Checks every reference of a document.
pub fn check(doc: &Bmv2Json) -> Result<(), CheckError> {
    let fail = |place: String, problem: String| Err(CheckError { place, problem });
    let types: BTreeMap<&str, &HeaderType> = doc
        .header_types
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut headers: BTreeMap<&str, &HeaderType> = BTreeMap::new();
    for (i, h) in doc.headers.iter().enumerate() {
        match types.get(h.header_type.as_str()) {
            Some(t) => {
                headers.insert(&h.name, t);
            }
            None => {
                return fail(
                    format!("$.headers[{i}]"),
                    format!("unknown header type `{}`", h.header_type),
                )
            }
        }
    }
    for (i, t) in doc.header_types.iter().enumerate() {
        let w: u32 = t.fields.iter().filter_map(|f| f.width()).sum();
        if w % 8 != 0 {
            return fail(
                format!("$.header_types[{i}]"),
                format!("`{}` is {w} bits, not whole bytes", t.name),
            );
        }
    }
    let field_width = |place: &str, (h, f): &(String, String)| -> Result<Option<u32>, CheckError> {
        let Some(t) = headers.get(h.as_str()) else {
            return Err(CheckError {
                place: place.into(),
                problem: format!("unknown header `{h}`"),
            });
        };
        if f == "$valid$" {
            return Ok(Some(1));
        }
        match t.fields.iter().find(|x| x.name() == f) {
            Some(x) => Ok(x.width()),
            None => Err(CheckError {
                place: place.into(),
                problem: format!("header `{h}` has no field `{f}`"),
            }),
        }
    };
    let meters: BTreeMap<&str, &MeterArray> = doc
        .meter_arrays
        .iter()
        .map(|m| (m.name.as_str(), m))
        .collect();
    let counters: BTreeSet<&str> = doc.counter_arrays.iter().map(|c| c.name.as_str()).collect();
    let calcs: BTreeSet<&str> = doc.calculations.iter().map(|c| c.name.as_str()).collect();

    fn operands<'x>(o: &'x Operand, out: &mut Vec<&'x Operand>) {
        out.push(o);
        if let Operand::Expression { value } = o {
            match value {
                ExprValue::Operand(inner) => operands(inner, out),
                ExprValue::Node(n) => {
                    for x in [&n.left, &n.right, &n.cond].into_iter().flatten() {
                        operands(x, out);
                    }
                }
            }
        }
    }
    let check_operand = |place: &str, o: &Operand, runtime: usize| -> Result<(), CheckError> {
        let mut all = vec![];
        operands(o, &mut all);
        for x in all {
            match x {
                Operand::Field { value } => {
                    field_width(place, value)?;
                }
                Operand::Header { value } | Operand::Regular { value }
                    if !headers.contains_key(value.as_str()) =>
                {
                    return Err(CheckError {
                        place: place.into(),
                        problem: format!("unknown header `{value}`"),
                    })
                }
                Operand::RuntimeData { value } if *value as usize >= runtime => {
                    return Err(CheckError {
                        place: place.into(),
                        problem: format!(
                            "runtime_data {value} but the action has {runtime} parameters"
                        ),
                    })
                }
                Operand::MeterArray { value } if !meters.contains_key(value.as_str()) => {
                    return Err(CheckError {
                        place: place.into(),
                        problem: format!("unknown meter array `{value}`"),
                    })
                }
                Operand::CounterArray { value } if !counters.contains(value.as_str()) => {
                    return Err(CheckError {
                        place: place.into(),
                        problem: format!("unknown counter array `{value}`"),
                    })
                }
                _ => {}
            }
        }
        Ok(())
    };

    for (ai, a) in doc.actions.iter().enumerate() {
        if a.id as usize != ai {
            return fail(
                format!("$.actions[{ai}]"),
                format!("id {} is not its position", a.id),
            );
        }
        for (pi, p) in a.primitives.iter().enumerate() {
            let place = format!("$.actions[{ai}].primitives[{pi}]");
            for o in &p.parameters {
                check_operand(&place, o, a.runtime_data.len())?;
            }
            if p.op == "assign" {
                if let [Operand::Field { value: dst }, src] = p.parameters.as_slice() {
                    let dw = field_width(&place, dst)?;
                    let sw = match src {
                        Operand::Field { value } => field_width(&place, value)?,
                        Operand::RuntimeData { value } => {
                            a.runtime_data.get(*value as usize).map(|r| r.bitwidth)
                        }
                        _ => dw,
                    };
                    if dw != sw {
                        return fail(
                            place,
                            format!(
                                "assigns {sw:?} bits to {dw:?}-bit field {}.{}",
                                dst.0, dst.1
                            ),
                        );
                    }
                }
            }
            if p.op == "execute_meter" {
                if let [Operand::MeterArray { value }, ..] = p.parameters.as_slice() {
                    if meters.get(value.as_str()).is_some_and(|m| m.is_direct) {
                        return fail(place, format!("execute_meter on direct meter `{value}`"));
                    }
                }
            }
        }
    }

    for (pi, p) in doc.parsers.iter().enumerate() {
        let states: BTreeSet<&str> = p.parse_states.iter().map(|s| s.name.as_str()).collect();
        if !states.contains(p.init_state.as_str()) {
            return fail(
                format!("$.parsers[{pi}]"),
                format!("no init state `{}`", p.init_state),
            );
        }
        for (si, s) in p.parse_states.iter().enumerate() {
            let place = format!("$.parsers[{pi}].parse_states[{si}]");
            for op in &s.parser_ops {
                for param in &op.parameters {
                    if let ParserParam::Operand(o) = param {
                        check_operand(&place, o, 0)?;
                    }
                }
            }
            let mut key_bytes = 0;
            for k in &s.transition_key {
                check_operand(&place, k, 0)?;
                if let Operand::Field { value } = k {
                    key_bytes += field_width(&place, value)?.unwrap_or(0).div_ceil(8);
                }
            }
            for t in &s.transitions {
                if let Some(n) = &t.next_state {
                    if !states.contains(n.as_str()) {
                        return fail(place, format!("transition to unknown state `{n}`"));
                    }
                }
                if t.kind == "hexstr" {
                    let digits = t
                        .value
                        .as_deref()
                        .unwrap_or("")
                        .trim_start_matches("0x")
                        .len() as u32;
                    if digits != key_bytes * 2 {
                        return fail(
                            place,
                            format!(
                                "select value of {digits} hex digits for a {key_bytes}-byte key"
                            ),
                        );
                    }
                }
            }
        }
    }

    for (di, d) in doc.deparsers.iter().enumerate() {
        for h in &d.order {
            if !headers.contains_key(h.as_str()) {
                return fail(
                    format!("$.deparsers[{di}]"),
                    format!("unknown header `{h}`"),
                );
            }
        }
    }

    for (ci, c) in doc.calculations.iter().enumerate() {
        for o in &c.input {
            check_operand(&format!("$.calculations[{ci}]"), o, 0)?;
        }
    }
    for (ci, c) in doc.checksums.iter().enumerate() {
        let place = format!("$.checksums[{ci}]");
        if !calcs.contains(c.calculation.as_str()) {
            return fail(place, format!("unknown calculation `{}`", c.calculation));
        }
        if field_width(&place, &c.target)? != Some(16) {
            return fail(place, "checksum target is not 16 bits".into());
        }
        if let Some(cond) = &c.if_cond {
            check_operand(&place, cond, 0)?;
        }
    }

    let all_tables: BTreeSet<&str> = doc
        .pipelines
        .iter()
        .flat_map(|p| p.tables.iter().map(|t| t.name.as_str()))
        .collect();
    for (mi, m) in doc.meter_arrays.iter().enumerate() {
        let place = format!("$.meter_arrays[{mi}]");
        if m.is_direct {
            match &m.binding {
                Some(b) if all_tables.contains(b.as_str()) => {}
                other => {
                    return fail(
                        place,
                        format!("direct meter bound to {other:?}, not a table"),
                    )
                }
            }
            if let Some(t) = &m.result_target {
                if field_width(&place, t)? != Some(2) {
                    return fail(place, "result_target is not 2 bits wide".into());
                }
            }
        }
    }
    for (pi, p) in doc.pipelines.iter().enumerate() {
        let nodes: BTreeSet<&str> = p
            .tables
            .iter()
            .map(|t| t.name.as_str())
            .chain(p.conditionals.iter().map(|c| c.name.as_str()))
            .collect();
        let check_next = |place: &str, n: &Option<String>| -> Result<(), CheckError> {
            match n {
                Some(n) if !nodes.contains(n.as_str()) => Err(CheckError {
                    place: place.into(),
                    problem: format!("next node `{n}` does not exist"),
                }),
                _ => Ok(()),
            }
        };
        check_next(&format!("$.pipelines[{pi}].init_table"), &p.init_table)?;
        for (ti, t) in p.tables.iter().enumerate() {
            let place = format!("$.pipelines[{pi}].tables[{ti}]");
            for k in &t.key {
                field_width(&place, &k.target)?;
            }
            if t.action_ids.len() != t.actions.len() {
                return fail(place, "action_ids and actions differ in length".into());
            }
            for (id, name) in t.action_ids.iter().zip(&t.actions) {
                match doc.actions.get(*id as usize) {
                    Some(a) if &a.name == name => {}
                    _ => return fail(place, format!("action id {id} is not `{name}`")),
                }
            }
            for (k, n) in &t.next_tables {
                if k != "__HIT__" && k != "__MISS__" && !t.actions.contains(k) {
                    return fail(
                        place,
                        format!("next_tables names `{k}`, not an action of the table"),
                    );
                }
                check_next(&place, n)?;
            }
            check_next(&place, &t.base_default_next)?;
            if let Some(m) = &t.direct_meters {
                match meters.get(m.as_str()) {
                    Some(x) if x.is_direct && x.binding.as_deref() == Some(t.name.as_str()) => {}
                    _ => {
                        return fail(
                            place,
                            format!("direct meter `{m}` is not bound to this table"),
                        )
                    }
                }
            }
            if let Some(d) = &t.default_entry {
                match doc.actions.get(d.action_id as usize) {
                    Some(a) if t.action_ids.contains(&d.action_id) => {
                        if a.runtime_data.len() != d.action_data.len() {
                            return fail(
                                place,
                                format!(
                                    "default action `{}` given {} arguments",
                                    a.name,
                                    d.action_data.len()
                                ),
                            );
                        }
                    }
                    _ => {
                        return fail(
                            place,
                            format!(
                                "default action id {} is not an action of the table",
                                d.action_id
                            ),
                        )
                    }
                }
            }
        }
        for (ci, c) in p.conditionals.iter().enumerate() {
            let place = format!("$.pipelines[{pi}].conditionals[{ci}]");
            check_operand(&place, &c.expression, 0)?;
            check_next(&place, &c.true_next)?;
            check_next(&place, &c.false_next)?;
        }
    }
    Ok(())
}
