//! Text → [`ast::File`]: the pest parser, the tree builder, and the
//! translation of pest's errors into diagnostics.

use pest::iterators::{Pair, Pairs};
use pest::Parser as _;

use crate::ast::{self, Prop, Span};
use crate::diag::{Diagnostic, Kind};

#[derive(pest_derive::Parser)]
#[grammar = "policy.pest"]
struct FspParser;

/// Parses a whole policy file.
pub(crate) fn parse(src: &str) -> Result<ast::File, Vec<Diagnostic>> {
    let mut pairs = FspParser::parse(Rule::file, src).map_err(|e| vec![syntax_error(src, &e)])?;
    let Some(file) = pairs.next() else {
        return Err(vec![shape_error(Span::default())]);
    };
    let span = span_of(&file);
    build_file(file).map_err(|Shape(at)| vec![shape_error(at.to(span))])
}

/// The pest tree did not have the shape the grammar promises. This cannot
/// happen for any input; it exists so that a grammar change that forgets the
/// builder reports an error instead of panicking.
struct Shape(Span);

type Built<T> = Result<T, Shape>;

fn shape_error(at: Span) -> Diagnostic {
    Diagnostic::error(
        Kind::Syntax,
        "internal error: the parse tree has an unexpected shape",
        at,
        "while reading this",
    )
    .with_help("this is a bug in fairshare-policy; please report it with the policy file")
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

/// The children of a pair, without punctuation.
struct Children<'i> {
    inner: Pairs<'i, Rule>,
    /// Where to point if a child is missing.
    at: Span,
}

impl<'i> Children<'i> {
    fn of(pair: Pair<'i, Rule>) -> Children<'i> {
        let at = span_of(&pair);
        Children {
            inner: pair.into_inner(),
            at,
        }
    }

    fn next(&mut self) -> Option<Pair<'i, Rule>> {
        self.inner.by_ref().find(|p| {
            !matches!(
                p.as_rule(),
                Rule::lbrace | Rule::rbrace | Rule::comma | Rule::slash | Rule::arrow | Rule::EOI
            )
        })
    }

    /// The next child, which must exist.
    fn take(&mut self) -> Built<Pair<'i, Rule>> {
        self.next().ok_or(Shape(self.at))
    }

    /// The next child, which must be of the given rule.
    fn take_rule(&mut self, rule: Rule) -> Built<Pair<'i, Rule>> {
        let p = self.take()?;
        if p.as_rule() == rule {
            Ok(p)
        } else {
            Err(Shape(span_of(&p)))
        }
    }
}

fn build_file(file: Pair<'_, Rule>) -> Built<ast::File> {
    let mut c = Children::of(file);
    let network = build_network(c.take_rule(Rule::network)?)?;
    Ok(ast::File { network })
}

fn name(pair: Pair<'_, Rule>) -> ast::Name {
    ast::Name {
        text: pair.as_str().to_string(),
        span: span_of(&pair),
    }
}

fn ident(c: &mut Children<'_>) -> Built<ast::Name> {
    Ok(name(c.take_rule(Rule::ident)?))
}

fn quantity(c: &mut Children<'_>) -> Built<ast::Quantity> {
    let q = c.take_rule(Rule::quantity)?;
    let span = span_of(&q);
    let mut inner = Children::of(q);
    let number = inner.take_rule(Rule::number)?.as_str().to_string();
    let unit = inner.next().map(|u| u.as_str().to_string());
    Ok(ast::Quantity { number, unit, span })
}

fn address(c: &mut Children<'_>) -> Built<ast::Address> {
    let a = c.take_rule(Rule::ipv4)?;
    Ok(ast::Address {
        text: a.as_str().to_string(),
        span: span_of(&a),
    })
}

fn prefix(pair: Pair<'_, Rule>) -> Built<ast::Prefix> {
    let span = span_of(&pair);
    let mut c = Children::of(pair);
    let addr = address(&mut c)?;
    let len = c.take_rule(Rule::prefix_len)?.as_str().to_string();
    Ok(ast::Prefix { addr, len, span })
}

/// Builds a property whose first child is its keyword.
fn prop<T>(
    pair: Pair<'_, Rule>,
    body: impl FnOnce(Rule, &mut Children<'_>) -> Built<T>,
) -> Built<Prop<T>> {
    let span = span_of(&pair);
    let mut c = Children::of(pair);
    let kw = c.take()?;
    let key = span_of(&kw);
    let kind = body(kw.as_rule(), &mut c)?;
    Ok(Prop { kind, key, span })
}

fn build_network(pair: Pair<'_, Rule>) -> Built<ast::Network> {
    let span = span_of(&pair);
    let mut c = Children::of(pair);
    c.take_rule(Rule::kw_network)?;
    let s = c.take_rule(Rule::string)?;
    let s_span = span_of(&s);
    let text = Children::of(s)
        .take_rule(Rule::string_text)?
        .as_str()
        .to_string();
    let name = ast::Name { text, span: s_span };
    let mut items = Vec::new();
    while let Some(item) = c.next() {
        items.push(build_net_item(item)?);
    }
    Ok(ast::Network { name, items, span })
}

fn build_net_item(pair: Pair<'_, Rule>) -> Built<Prop<ast::NetItem>> {
    use ast::NetItem as N;
    let rule = pair.as_rule();
    prop(pair, |_, c| {
        Ok(match rule {
            Rule::algorithm => N::Algorithm(ident(c)?),
            Rule::recalc => {
                c.take_rule(Rule::kw_every)?;
                N::Recalc(quantity(c)?)
            }
            Rule::weights => N::Weights(props(c, |kw, c| {
                let q = quantity(c)?;
                Ok(match kw {
                    Rule::kw_subscribers => ast::WeightProp::Subscribers(q),
                    Rule::kw_distance => ast::WeightProp::Distance(q),
                    _ => ast::WeightProp::Response(q),
                })
            })?),
            Rule::sizes => N::Sizes(props(c, |kw, c| {
                let q = quantity(c)?;
                Ok(match kw {
                    Rule::kw_flows => ast::SizeProp::Flows(q),
                    Rule::kw_routes => ast::SizeProp::Routes(q),
                    _ => ast::SizeProp::Steer(q),
                })
            })?),
            Rule::datacenter => {
                let name = ident(c)?;
                let mut items = Vec::new();
                while let Some(p) = c.next() {
                    items.push(build_dc_item(p)?);
                }
                N::Datacenter(ast::Datacenter { name, items })
            }
            Rule::edge => {
                let name = ident(c)?;
                let mut items = Vec::new();
                while let Some(p) = c.next() {
                    items.push(build_edge_item(p)?);
                }
                N::Edge(ast::Edge { name, items })
            }
            Rule::router => N::Router(ident(c)?),
            Rule::link => {
                let a = ident(c)?;
                let b = ident(c)?;
                let props = props(c, |kw, c| {
                    let q = quantity(c)?;
                    Ok(match kw {
                        Rule::kw_capacity => ast::LinkProp::Capacity(q),
                        _ => ast::LinkProp::Distance(q),
                    })
                })?;
                N::Link(ast::Link {
                    a,
                    b,
                    props,
                    span: c.at,
                })
            }
            Rule::service => {
                let service_name = ident(c)?;
                let props = props(c, |kw, c| {
                    Ok(match kw {
                        Rule::kw_vip => ast::ServiceProp::Vip {
                            addr: address(c)?,
                            protocol: ident(c)?,
                            port: quantity(c)?,
                        },
                        Rule::kw_at => {
                            let mut names = Vec::new();
                            while let Some(n) = c.next() {
                                names.push(name(n));
                            }
                            ast::ServiceProp::At(names)
                        }
                        _ => ast::ServiceProp::FlowRate(quantity(c)?),
                    })
                })?;
                N::Service(ast::Service {
                    name: service_name,
                    props,
                })
            }
            _ => return Err(Shape(c.at)),
        })
    })
}

/// Builds the remaining children of `c` as keyword-led properties.
fn props<T>(
    c: &mut Children<'_>,
    mut body: impl FnMut(Rule, &mut Children<'_>) -> Built<T>,
) -> Built<Vec<Prop<T>>> {
    let mut out = Vec::new();
    while let Some(p) = c.next() {
        out.push(prop(p, &mut body)?);
    }
    Ok(out)
}

fn build_switch(c: &mut Children<'_>) -> Built<ast::Switch> {
    let name = ident(c)?;
    let props = props(c, |kw, c| {
        Ok(match kw {
            Rule::kw_target => ast::SwitchProp::Target(ident(c)?),
            Rule::kw_cpu_port => ast::SwitchProp::CpuPort(quantity(c)?),
            Rule::kw_device_id => ast::SwitchProp::DeviceId(quantity(c)?),
            _ => ast::SwitchProp::UplinkPort(quantity(c)?),
        })
    })?;
    Ok(ast::Switch { name, props })
}

fn build_dc_item(pair: Pair<'_, Rule>) -> Built<Prop<ast::DcItem>> {
    use ast::DcItem as D;
    let rule = pair.as_rule();
    prop(pair, |_, c| {
        Ok(match rule {
            Rule::switch => D::Switch(build_switch(c)?),
            Rule::uplink => D::Uplink(quantity(c)?),
            Rule::server => {
                let name = ident(c)?;
                let props = props(c, |kw, c| {
                    Ok(match kw {
                        Rule::kw_address => ast::ServerProp::Address(address(c)?),
                        Rule::kw_port => ast::ServerProp::Port(quantity(c)?),
                        Rule::kw_capacity => ast::ServerProp::Capacity(quantity(c)?),
                        Rule::kw_response => ast::ServerProp::Response(quantity(c)?),
                        _ => ast::ServerProp::Load(quantity(c)?),
                    })
                })?;
                D::Server(ast::Server { name, props })
            }
            Rule::reserve => {
                let purpose = ident(c)?;
                D::Reserve(purpose, quantity(c)?)
            }
            _ => return Err(Shape(c.at)),
        })
    })
}

fn build_edge_item(pair: Pair<'_, Rule>) -> Built<Prop<ast::EdgeItem>> {
    use ast::EdgeItem as E;
    let rule = pair.as_rule();
    if rule == Rule::edge_prop {
        return prop(pair, |kw, c| {
            let q = quantity(c)?;
            Ok(match kw {
                Rule::kw_subscribers => E::Subscribers(q),
                Rule::kw_demand => E::Demand(q),
                _ => E::ClientPort(q),
            })
        });
    }
    prop(pair, |_, c| {
        Ok(match rule {
            Rule::switch => E::Switch(build_switch(c)?),
            Rule::clients => {
                let mut list = Vec::new();
                while let Some(p) = c.next() {
                    list.push(prefix(p)?);
                }
                E::Clients(list)
            }
            _ => return Err(Shape(c.at)),
        })
    })
}

// --- Syntax errors -------------------------------------------------------

/// What a rule means to someone reading the error, as one or more tokens.
fn describe(rule: Rule) -> &'static [&'static str] {
    use Rule as R;
    match rule {
        R::EOI => &["end of file"],
        R::network | R::kw_network => &["`network`"],
        R::ident => &["a name"],
        R::string | R::string_text => &["a quoted name such as `\"metro\"`"],
        R::number | R::quantity | R::prefix_len => &["a number"],
        R::unit => &["a unit"],
        R::ipv4 => &["an IPv4 address"],
        R::prefix => &["an IPv4 prefix such as `198.51.100.0/24`"],
        R::lbrace => &["`{`"],
        R::rbrace => &["`}`"],
        R::comma => &["`,`"],
        R::slash => &["`/`"],
        R::arrow => &["`<->`"],
        R::algorithm | R::kw_algorithm => &["`algorithm`"],
        R::recalc | R::kw_recalc => &["`recalc`"],
        R::kw_every => &["`every`"],
        R::weights | R::kw_weights => &["`weights`"],
        R::sizes | R::kw_sizes => &["`sizes`"],
        R::datacenter | R::kw_datacenter => &["`datacenter`"],
        R::edge | R::kw_edge => &["`edge`"],
        R::router | R::kw_router => &["`router`"],
        R::link | R::kw_link => &["`link`"],
        R::service | R::kw_service => &["`service`"],
        R::switch | R::kw_switch => &["`switch`"],
        R::uplink | R::kw_uplink => &["`uplink`"],
        R::server | R::kw_server => &["`server`"],
        R::reserve | R::kw_reserve => &["`reserve`"],
        R::clients | R::kw_clients => &["`clients`"],
        R::kw_address => &["`address`"],
        R::kw_port => &["`port`"],
        R::kw_capacity => &["`capacity`"],
        R::kw_response => &["`response`"],
        R::kw_load => &["`load`"],
        R::kw_cpu_port => &["`cpu-port`"],
        R::kw_device_id => &["`device-id`"],
        R::kw_uplink_port => &["`uplink-port`"],
        R::kw_target => &["`target`"],
        R::kw_subscribers => &["`subscribers`"],
        R::kw_demand => &["`demand`"],
        R::kw_client_port => &["`client-port`"],
        R::kw_distance => &["`distance`"],
        R::kw_vip => &["`vip`"],
        R::kw_at => &["`at`"],
        R::kw_flow_rate => &["`flow-rate`"],
        R::kw_flows => &["`flows`"],
        R::kw_routes => &["`routes`"],
        R::kw_steer => &["`steer`"],
        R::weight_prop => &["`subscribers`", "`distance`", "`response`"],
        R::size_prop => &["`flows`", "`routes`", "`steer`"],
        R::server_prop => &["`address`", "`port`", "`capacity`", "`response`", "`load`"],
        R::switch_prop => &["`cpu-port`", "`device-id`", "`uplink-port`", "`target`"],
        R::edge_prop => &["`subscribers`", "`demand`", "`client-port`"],
        R::link_prop => &["`capacity`", "`distance`"],
        R::service_prop => &["`vip`", "`at`", "`flow-rate`"],
        R::file => &["a policy file"],
        _ => &["something else"],
    }
}

/// Joins alternatives the way people write them: `a`, `a or b`,
/// `one of a, b or c`.
fn one_of(words: &[&str]) -> String {
    match words {
        [] => "something else".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("one of {} or {}", init.join(", "), last),
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The token that starts at `pos`, for "found ..." in messages.
fn token_at(src: &str, pos: usize) -> (Span, Option<&str>) {
    let rest = src.get(pos..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return (Span::new(pos, pos), None);
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' || first == '.' {
        rest.find(|c: char| !(is_ident_char(c) || c == '.' || c == '%'))
            .unwrap_or(rest.len())
    } else if matches!(first, '<' | '-' | '>') {
        rest.find(|c: char| !matches!(c, '<' | '-' | '>'))
            .unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    (Span::new(pos, pos + len), Some(&rest[..len]))
}

/// Where each block's properties belong, for "`x` is not a ... property".
fn home_of(word: &str) -> Option<&'static str> {
    Some(match word {
        "address" | "load" => "a `server` block",
        "port" => "a `server` block (a switch has `cpu-port` and `uplink-port`)",
        "capacity" => "a `server` or a `link` block",
        "response" => "a `server` block or `weights`",
        "cpu-port" | "device-id" | "uplink-port" | "target" => "a `switch` block",
        "clients" | "demand" | "client-port" => "an `edge` block",
        "subscribers" => "an `edge` block or `weights`",
        "distance" => "a `link` block or `weights`",
        "vip" | "at" | "flow-rate" => "a `service` block",
        "flows" | "routes" | "steer" => "the `sizes` block",
        "uplink" | "server" | "reserve" => "a `datacenter` block",
        "switch" => "a `datacenter` or an `edge` block",
        "algorithm" | "recalc" | "weights" | "sizes" | "datacenter" | "edge" | "router"
        | "link" | "service" => "the `network` block",
        _ => return None,
    })
}

const UNITS: [&str; 9] = ["bps", "Kbps", "Mbps", "Gbps", "Tbps", "us", "ms", "s", "%"];

fn syntax_help(src: &str, pos: usize, found: Option<&str>, expected: &[Rule]) -> String {
    let before = src.get(..pos).unwrap_or("").trim_end();
    match found {
        None if expected.contains(&Rule::rbrace) => {
            return "the file ends inside a block; close it with `}`".to_string()
        }
        None => return "the file ends too early".to_string(),
        Some(word) => {
            if UNITS.contains(&word) && before.ends_with(|c: char| c.is_ascii_digit()) {
                return format!(
                    "write the unit right after the number, without a space: `{}{}`",
                    before
                        .rsplit(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .next()
                        .unwrap_or(""),
                    word
                );
            }
            let is_prop = expected.iter().any(|r| {
                matches!(
                    r,
                    Rule::server_prop
                        | Rule::switch_prop
                        | Rule::edge_prop
                        | Rule::link_prop
                        | Rule::service_prop
                        | Rule::weight_prop
                        | Rule::size_prop
                        | Rule::uplink
                        | Rule::algorithm
                )
            });
            if is_prop {
                if let Some(home) = home_of(word) {
                    return format!("`{word}` is not allowed here; it belongs in {home}");
                }
            }
        }
    }
    if expected.contains(&Rule::string) {
        "the network's name is quoted: `network \"metro\" { ... }`".to_string()
    } else if expected.contains(&Rule::arrow) {
        "a link is written `link A <-> B { capacity 10Gbps distance 1ms }`".to_string()
    } else if expected.contains(&Rule::prefix) {
        "client prefixes are written `address/length` and separated by commas, e.g. `198.51.100.0/24, 192.0.2.0/25`".to_string()
    } else if expected.contains(&Rule::ipv4) {
        "an IPv4 address is four numbers from 0 to 255 separated by dots, e.g. `10.1.0.11`"
            .to_string()
    } else if expected.contains(&Rule::quantity) {
        "write a number, with its unit glued to it where one is needed: `10Gbps`, `2ms`, `20%`"
            .to_string()
    } else if expected.contains(&Rule::ident) {
        "names start with a letter or `_` and continue with letters, digits, `_` or `-`".to_string()
    } else if expected.contains(&Rule::slash) {
        "a service address is written `vip 203.0.113.10 tcp/80`".to_string()
    } else if expected.contains(&Rule::lbrace) {
        "the block's contents go between `{` and `}`".to_string()
    } else {
        "the policy language is described in the fairshare-policy crate documentation".to_string()
    }
}

fn syntax_error(src: &str, e: &pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let (span, found) = token_at(src, pos);
    let found_text = match found {
        Some(t) => format!("`{t}`"),
        None => "end of file".to_string(),
    };
    match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut words: Vec<&str> = Vec::new();
            // Closing tokens read best at the end of the list.
            let (closing, others): (Vec<Rule>, Vec<Rule>) = positives
                .iter()
                .partition(|r| matches!(r, Rule::rbrace | Rule::EOI));
            for r in others.iter().chain(&closing) {
                for w in describe(*r) {
                    if !words.contains(w) {
                        words.push(w);
                    }
                }
            }
            let expected = one_of(&words);
            let label = match found {
                Some(_) => "unexpected here".to_string(),
                None => "the file ends here".to_string(),
            };
            Diagnostic::error(
                Kind::Syntax,
                format!("expected {expected}, found {found_text}"),
                span,
                label,
            )
            .with_help(syntax_help(src, pos, found, positives))
        }
        ErrorVariant::CustomError { message } => {
            Diagnostic::error(Kind::Syntax, message.clone(), span, "here").with_help(
                "the policy language is described in the fairshare-policy crate documentation",
            )
        }
    }
}
