//! Protobuf text format for the messages of this crate, driven by the
//! descriptors the build compiled from `proto/` (so it knows exactly the
//! fields the binary encoding knows).
//!
//! [`parse`] and [`print`] work for any generated message; [`parse_p4info`]
//! and [`print_p4info`] are the common case, the `.p4info.txtpb` files that
//! P4 compilers write. Printing puts fields in field-number order, one per
//! line, indented by two spaces, as `protoc` and p4c do.

use std::sync::OnceLock;

use std::fmt::Write as _;

use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MapKey, MessageDescriptor, Value};

use crate::proto::p4::config::v1::P4Info;
use crate::Error;

/// The encoded `FileDescriptorSet` of every `.proto` file of this crate.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/p4runtime_descriptor.bin"));

/// The descriptors of this crate's messages, decoded once.
pub fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        // The bytes were produced by the build from the same sources; a
        // failure here is a build defect, not bad input.
        #[allow(clippy::expect_used)]
        DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("the built-in descriptor set decodes")
    })
}

fn descriptor<M: prost::Name>() -> Result<MessageDescriptor, Error> {
    let name = M::full_name();
    descriptor_pool()
        .get_message_by_name(&name)
        .ok_or(Error::UnknownMessageType(name))
}

/// Parses `text` as a text-format `M`.
///
/// # Errors
/// [`Error::TextFormat`] with the parser's message (it includes the position).
pub fn parse<M: prost::Message + prost::Name + Default>(text: &str) -> Result<M, Error> {
    let desc = descriptor::<M>()?;
    let dynamic = DynamicMessage::parse_text_format(desc, text).map_err(|e| Error::TextFormat {
        message: M::full_name(),
        detail: e.to_string(),
    })?;
    dynamic.transcode_to::<M>().map_err(|e| Error::Decode {
        message: M::full_name(),
        detail: e.to_string(),
    })
}

/// Prints `message` in text format, one field per line, ending with a newline
/// unless the message is empty.
///
/// # Errors
/// [`Error::Decode`] only if the generated type and its descriptor disagree.
pub fn print<M: prost::Message + prost::Name>(message: &M) -> Result<String, Error> {
    let desc = descriptor::<M>()?;
    let mut dynamic = DynamicMessage::new(desc);
    dynamic.transcode_from(message).map_err(|e| Error::Decode {
        message: M::full_name(),
        detail: e.to_string(),
    })?;
    let mut text = String::new();
    write_message(&mut text, &dynamic, 0);
    Ok(text)
}

/// Parses a `.p4info.txtpb` file.
///
/// # Errors
/// [`Error::TextFormat`] when the text is not a valid P4Info.
pub fn parse_p4info(text: &str) -> Result<P4Info, Error> {
    parse(text)
}

/// Prints a P4Info the way `.p4info.txtpb` files are written.
///
/// # Errors
/// See [`print`].
pub fn print_p4info(info: &P4Info) -> Result<String, Error> {
    print(info)
}

/// Writes the set fields of `message` in field-number order, one per line.
/// Repeated fields repeat the field name; map entries are written as
/// `key`/`value` messages sorted by key.
fn write_message(out: &mut String, message: &DynamicMessage, depth: usize) {
    let mut fields: Vec<_> = message.fields().collect();
    fields.sort_by_key(|(field, _)| field.number());
    for (field, value) in fields {
        let kind = field.kind();
        match value {
            Value::List(items) => {
                for item in items {
                    write_field(out, field.name(), item, &kind, depth);
                }
            }
            Value::Map(entries) => {
                let mut entries: Vec<_> = entries.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let (key_kind, value_kind) = match kind.as_message() {
                    Some(entry) => (
                        entry.map_entry_key_field().kind(),
                        entry.map_entry_value_field().kind(),
                    ),
                    None => continue,
                };
                for (key, entry_value) in entries {
                    indent(out, depth);
                    let _ = writeln!(out, "{} {{", field.name());
                    write_field(out, "key", &map_key_value(key), &key_kind, depth + 1);
                    write_field(out, "value", entry_value, &value_kind, depth + 1);
                    indent(out, depth);
                    out.push_str("}\n");
                }
            }
            single => write_field(out, field.name(), single, &kind, depth),
        }
    }
}

fn write_field(out: &mut String, name: &str, value: &Value, kind: &Kind, depth: usize) {
    indent(out, depth);
    match value {
        Value::Message(inner) => {
            let _ = writeln!(out, "{name} {{");
            write_message(out, inner, depth + 1);
            indent(out, depth);
            out.push_str("}\n");
        }
        Value::Bool(v) => {
            let _ = writeln!(out, "{name}: {v}");
        }
        Value::I32(v) => {
            let _ = writeln!(out, "{name}: {v}");
        }
        Value::I64(v) => {
            let _ = writeln!(out, "{name}: {v}");
        }
        Value::U32(v) => {
            let _ = writeln!(out, "{name}: {v}");
        }
        Value::U64(v) => {
            let _ = writeln!(out, "{name}: {v}");
        }
        Value::F32(v) => {
            let _ = writeln!(out, "{name}: {v}");
        }
        Value::F64(v) => {
            let _ = writeln!(out, "{name}: {v}");
        }
        Value::String(v) => {
            let _ = writeln!(out, "{name}: \"{}\"", escape(v.as_bytes()));
        }
        Value::Bytes(v) => {
            let _ = writeln!(out, "{name}: \"{}\"", escape(v));
        }
        Value::EnumNumber(number) => {
            let symbol = kind.as_enum().and_then(|e| e.get_value(*number));
            match symbol {
                Some(symbol) => {
                    let _ = writeln!(out, "{name}: {}", symbol.name());
                }
                None => {
                    let _ = writeln!(out, "{name}: {number}");
                }
            }
        }
        // Lists and maps are unrolled by `write_message`; nested ones do not
        // occur in protobuf.
        Value::List(_) | Value::Map(_) => {
            let _ = writeln!(out, "{name}: []");
        }
    }
}

fn map_key_value(key: &MapKey) -> Value {
    match key {
        MapKey::Bool(v) => Value::Bool(*v),
        MapKey::I32(v) => Value::I32(*v),
        MapKey::I64(v) => Value::I64(*v),
        MapKey::U32(v) => Value::U32(*v),
        MapKey::U64(v) => Value::U64(*v),
        MapKey::String(v) => Value::String(v.clone()),
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// C-style escaping as protobuf text format uses it: printable ASCII stays,
/// quotes and backslashes get a backslash, everything else is a three-digit
/// octal escape.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        match byte {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'"' => out.push_str("\\\""),
            b'\'' => out.push_str("\\'"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\{byte:03o}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::p4::config::v1 as cfg;
    use crate::proto::p4::v1;

    #[test]
    fn bytes_maps_and_enums_survive_printing() {
        let mut types = cfg::P4TypeInfo::default();
        for name in ["zeta_t", "alpha_t"] {
            let bits = cfg::P4BitstringLikeTypeSpec {
                type_spec: Some(cfg::p4_bitstring_like_type_spec::TypeSpec::Bit(
                    cfg::P4BitTypeSpec { bitwidth: 9 },
                )),
                ..Default::default()
            };
            let member = cfg::p4_header_type_spec::Member {
                name: "port".into(),
                type_spec: Some(bits),
            };
            types.headers.insert(
                name.into(),
                cfg::P4HeaderTypeSpec {
                    members: vec![member],
                    ..Default::default()
                },
            );
        }
        let info = cfg::P4Info {
            type_info: Some(types),
            ..Default::default()
        };
        let text = print(&info).expect("prints");
        // Map entries come out sorted by key.
        let alpha = text.find("alpha_t").expect("alpha_t printed");
        let zeta = text.find("zeta_t").expect("zeta_t printed");
        assert!(alpha < zeta, "{text}");
        assert_eq!(parse::<cfg::P4Info>(&text).expect("parses"), info);

        let entry = v1::TableEntry {
            table_id: 7,
            r#match: vec![v1::FieldMatch {
                field_id: 1,
                field_match_type: Some(v1::field_match::FieldMatchType::Exact(
                    v1::field_match::Exact {
                        value: vec![0, b'"', b'\\', b'\'', b'\n', 0xff, b'a'],
                    },
                )),
            }],
            ..Default::default()
        };
        let text = print(&entry).expect("prints");
        assert!(text.contains(r#"value: "\000\"\\\'\n\377a""#), "{text}");
        assert_eq!(parse::<v1::TableEntry>(&text).expect("parses"), entry);

        let update = v1::Update {
            r#type: v1::update::Type::Modify as i32,
            entity: None,
        };
        assert_eq!(print(&update).expect("prints"), "type: MODIFY\n");
    }

    #[test]
    fn bad_text_is_a_typed_error() {
        let error = parse::<cfg::P4Info>("tables { preamble { id: \"x\" } }")
            .expect_err("a string is not an id");
        assert!(
            matches!(error, Error::TextFormat { ref message, .. } if message == "p4.config.v1.P4Info"),
            "{error}"
        );
        assert!(matches!(
            parse::<cfg::P4Info>("no_such_field: 1"),
            Err(Error::TextFormat { .. })
        ));
    }
}
