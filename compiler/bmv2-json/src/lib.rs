//! Typed serde model of BMv2's JSON format (version 2.x), as `simple_switch`
//! loads it and p4c-bm2-ss writes it.
//!
//! fairshare's code generator writes documents through this model and the
//! software switch reads them through it.
//!
//! Invariant: a document that deserialises here serialises back to an equal
//! document. Boundary: no semantics; whether references resolve is checked
//! by the users of the model.
//!
//! The model covers what v1model programs use. Parts read by name only
//! (header stacks, header unions and union stacks, register arrays) and
//! parts fairshare never reads (learn lists, extern instances, ...) are kept
//! as raw JSON values so that a document still round-trips.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bmv2Json {
    pub header_types: Vec<HeaderType>,
    pub headers: Vec<Header>,
    #[serde(default)]
    pub header_stacks: Vec<Value>,
    #[serde(default)]
    pub header_union_types: Vec<Value>,
    #[serde(default)]
    pub header_unions: Vec<Value>,
    #[serde(default)]
    pub header_union_stacks: Vec<Value>,
    #[serde(default)]
    pub field_lists: Vec<Value>,
    #[serde(default)]
    pub errors: Vec<(String, u32)>,
    #[serde(default)]
    pub enums: Vec<Value>,
    pub parsers: Vec<Parser>,
    #[serde(default)]
    pub parse_vsets: Vec<Value>,
    pub deparsers: Vec<Deparser>,
    #[serde(default)]
    pub meter_arrays: Vec<MeterArray>,
    #[serde(default)]
    pub counter_arrays: Vec<CounterArray>,
    #[serde(default)]
    pub register_arrays: Vec<Value>,
    #[serde(default)]
    pub calculations: Vec<Calculation>,
    #[serde(default)]
    pub learn_lists: Vec<Value>,
    pub actions: Vec<Action>,
    pub pipelines: Vec<Pipeline>,
    #[serde(default)]
    pub checksums: Vec<ChecksumUnit>,
    #[serde(default)]
    pub force_arith: Vec<Value>,
    #[serde(default)]
    pub extern_instances: Vec<Value>,
    #[serde(default)]
    pub field_aliases: Vec<(String, (String, String))>,
    #[serde(default)]
    pub program: String,
    #[serde(rename = "__meta__")]
    pub meta: Meta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub version: Vec<u32>,
    #[serde(default)]
    pub compiler: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeaderType {
    pub name: String,
    pub id: u32,
    pub fields: Vec<FieldDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

/// `[name, width, signed]`, or `[name, "*"]` for a variable-length field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldDef {
    Fixed(String, u32, bool),
    Varbit(String, String),
    /// `[name, width, 0 | 1]`: the signedness as a number, as p4c writes
    /// some bool-typed fields.
    FixedNumSigned(String, u32, u8),
}

impl FieldDef {
    pub fn name(&self) -> &str {
        match self {
            FieldDef::Fixed(n, ..) | FieldDef::Varbit(n, _) | FieldDef::FixedNumSigned(n, ..) => n,
        }
    }
    pub fn width(&self) -> Option<u32> {
        match self {
            FieldDef::Fixed(_, w, _) | FieldDef::FixedNumSigned(_, w, _) => Some(*w),
            FieldDef::Varbit(..) => None,
        }
    }
    pub fn signed(&self) -> bool {
        match self {
            FieldDef::Fixed(_, _, s) => *s,
            FieldDef::FixedNumSigned(_, _, s) => *s != 0,
            FieldDef::Varbit(..) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub id: u32,
    pub header_type: String,
    pub metadata: bool,
    #[serde(default)]
    pub pi_omit: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parser {
    pub name: String,
    pub id: u32,
    pub init_state: String,
    pub parse_states: Vec<ParseState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParseState {
    pub name: String,
    pub id: u32,
    pub parser_ops: Vec<ParserOp>,
    pub transitions: Vec<Transition>,
    pub transition_key: Vec<Operand>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParserOp {
    pub parameters: Vec<ParserParam>,
    pub op: String,
}

/// A parser op's parameter: an operand, or (for op `primitive`) a nested
/// action primitive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParserParam {
    Operand(Operand),
    Primitive(Primitive),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: Option<String>,
    pub mask: Option<String>,
    pub next_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deparser {
    pub name: String,
    pub id: u32,
    pub order: Vec<String>,
    #[serde(default)]
    pub primitives: Vec<Primitive>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterArray {
    pub name: String,
    pub id: u32,
    pub is_direct: bool,
    pub rate_count: u32,
    #[serde(rename = "type")]
    pub kind: String,
    pub size: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_target: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterArray {
    pub name: String,
    pub id: u32,
    pub is_direct: bool,
    pub size: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calculation {
    pub name: String,
    pub id: u32,
    pub algo: String,
    pub input: Vec<Operand>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub name: String,
    pub id: u32,
    pub runtime_data: Vec<RuntimeData>,
    pub primitives: Vec<Primitive>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeData {
    pub name: String,
    pub bitwidth: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Primitive {
    pub op: String,
    pub parameters: Vec<Operand>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub name: String,
    pub id: u32,
    pub init_table: Option<String>,
    pub tables: Vec<Table>,
    #[serde(default)]
    pub action_profiles: Vec<Value>,
    #[serde(default)]
    pub conditionals: Vec<Conditional>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub id: u32,
    pub key: Vec<TableKey>,
    pub match_type: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub max_size: u32,
    pub with_counters: bool,
    pub support_timeout: bool,
    pub direct_meters: Option<String>,
    pub action_ids: Vec<u32>,
    pub actions: Vec<String>,
    pub base_default_next: Option<String>,
    pub next_tables: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_entry: Option<DefaultEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableKey {
    pub match_type: String,
    pub name: String,
    pub target: (String, String),
    pub mask: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultEntry {
    pub action_id: u32,
    pub action_const: bool,
    pub action_data: Vec<String>,
    pub action_entry_const: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conditional {
    pub name: String,
    pub id: u32,
    pub expression: Operand,
    pub true_next: Option<String>,
    pub false_next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecksumUnit {
    pub name: String,
    pub id: u32,
    pub target: (String, String),
    #[serde(rename = "type")]
    pub kind: String,
    pub calculation: String,
    pub verify: bool,
    pub update: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_cond: Option<Operand>,
}

/// An operand: `{"type": ..., "value": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Operand {
    #[serde(rename = "field")]
    Field { value: (String, String) },
    #[serde(rename = "hexstr")]
    Hexstr {
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bitwidth: Option<u32>,
    },
    #[serde(rename = "bool")]
    Bool { value: bool },
    #[serde(rename = "header")]
    Header { value: String },
    #[serde(rename = "regular")]
    Regular { value: String },
    #[serde(rename = "runtime_data")]
    RuntimeData { value: u32 },
    #[serde(rename = "expression")]
    Expression { value: ExprValue },
    #[serde(rename = "meter_array")]
    MeterArray { value: String },
    #[serde(rename = "counter_array")]
    CounterArray { value: String },
    #[serde(rename = "register_array")]
    RegisterArray { value: String },
    #[serde(rename = "calculation")]
    Calculation { value: String },
    #[serde(rename = "lookahead")]
    Lookahead { value: (i64, u32) },
    #[serde(rename = "payload")]
    Payload { value: Option<Value> },
    #[serde(rename = "string")]
    String { value: String },
    #[serde(rename = "header_stack")]
    HeaderStack { value: String },
    #[serde(rename = "stack_field")]
    StackField { value: (String, String) },
    #[serde(rename = "local")]
    Local { value: u32 },
    /// The next element of a header stack (parser `extract`).
    #[serde(rename = "stack")]
    Stack { value: String },
    #[serde(rename = "header_union")]
    HeaderUnion { value: String },
    #[serde(rename = "header_union_stack")]
    HeaderUnionStack { value: String },
    /// The next element of a header union stack and the union member to
    /// extract into it (parser `extract`).
    #[serde(rename = "union_stack")]
    UnionStack { value: (String, String) },
    #[serde(rename = "union_stack_field")]
    UnionStackField { value: Value },
    #[serde(rename = "extern")]
    Extern { value: String },
    #[serde(rename = "parse_vset")]
    ParseVset { value: String },
    /// A position: the plain JSON integer on the right of `access_field`
    /// (a field's number in its header) and `access_union_header` (a
    /// member's number in its union). It is written back as the integer;
    /// the tagged form exists only for the serde derive.
    #[serde(rename = "offset")]
    Offset { value: u32 },
}

/// (De)serialises the right side of an expression node: an [`Operand`],
/// or a plain integer held as [`Operand::Offset`].
mod operand_or_offset {
    use super::Operand;
    use serde::de::{self, MapAccess, Unexpected, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::fmt;

    struct OperandOrOffset;

    impl<'de> Visitor<'de> for OperandOrOffset {
        type Value = Option<Operand>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an operand, a field or member number, or null")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            u32::try_from(v)
                .map(|value| Some(Operand::Offset { value }))
                .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Operand::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Operand>, D::Error> {
        d.deserialize_any(OperandOrOffset)
    }

    pub fn serialize<S: Serializer>(o: &Option<Operand>, s: S) -> Result<S::Ok, S::Error> {
        match o {
            Some(Operand::Offset { value }) => s.serialize_u32(*value),
            other => other.serialize(s),
        }
    }
}

/// The value of an `expression` operand: an operator node, or (as p4c writes
/// action parameters) another operand wrapping one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExprValue {
    Node(Box<ExprNode>),
    Operand(Box<Operand>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExprNode {
    pub op: String,
    pub left: Option<Operand>,
    /// An operand, or a plain JSON integer (read as [`Operand::Offset`])
    /// for `access_field` and `access_union_header`.
    #[serde(default, with = "operand_or_offset")]
    pub right: Option<Operand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cond: Option<Operand>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integer on the right of `access_field` reads as an offset and
    /// is written back as the integer.
    #[test]
    fn access_field_offsets_round_trip() {
        let text = r#"{"type":"expression","value":{"op":"access_field","left":{"type":"expression","value":{"op":"dereference_header_stack","left":{"type":"header_stack","value":"h"},"right":{"type":"field","value":["m","i"]}}},"right":4}}"#;
        let o: Operand = serde_json::from_str(text).expect("the text reads");
        let Operand::Expression {
            value: ExprValue::Node(n),
        } = &o
        else {
            panic!("not a node: {o:?}");
        };
        assert_eq!(n.right, Some(Operand::Offset { value: 4 }));
        let back: serde_json::Value = serde_json::to_value(&o).expect("the operand writes");
        let orig: serde_json::Value = serde_json::from_str(text).expect("the text reads");
        assert_eq!(back, orig);
        let missing: ExprNode =
            serde_json::from_str(r#"{"op":"not","left":null}"#).expect("the node reads");
        assert_eq!(missing.right, None);
    }
}
