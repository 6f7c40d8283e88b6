//! The fairshare policy language (`.fsp` files): grammar, syntax tree with
//! spans, diagnostics, and the validated [`model`].
//!
//! Text goes through two stages. [`parse`] checks syntax only (a pest
//! grammar, `src/policy.pest`) and yields an [`ast::File`] that keeps every
//! value as written, with its byte span. [`check`] turns that tree into a
//! [`model::Policy`], or returns every problem it found, each a
//! [`Diagnostic`] with the offending text's span and a hint; [`render`]
//! prints them like rustc. [`load`] does both.
//!
//! Invariants: no input makes `parse`, `check`, `load` or `render` panic; a
//! policy returned by `check` satisfies everything listed under *Checks*
//! below; output (models, diagnostics, rendering, [`gen::generate`]) depends
//! only on the input. All checks are `n log n` at worst in the size of the
//! policy.
//!
//! ```
//! let src = r#"
//! network "tiny" {
//!   datacenter dc1 {
//!     switch dc1-sw { cpu-port 255  device-id 1 }
//!     uplink 10Gbps
//!     server s1 { address 10.0.0.1  port 1  capacity 1Gbps }
//!   }
//!   edge e1 { switch e1-sw { cpu-port 255  device-id 2 }  clients 192.0.2.0/24  subscribers 100 }
//!   link e1 <-> dc1 { capacity 1Gbps  distance 2ms }
//! }"#;
//! let (_ast, policy) = fairshare_policy::load(src).expect("valid");
//! assert_eq!(policy.datacenters[0].switch.uplink_port, 2); // 1 + largest server port
//!
//! let bad = src.replace("1Gbps  distance", "1ms  distance");
//! let diags = fairshare_policy::load(&bad).unwrap_err();
//! let text = fairshare_policy::render(&diags, "tiny.fsp", &bad);
//! assert!(text.starts_with("error: unit mismatch: `capacity` needs a bandwidth"));
//! assert!(text.ends_with("error: could not compile `tiny.fsp` due to 1 previous error\n"));
//! ```
//!
//! # The language
//!
//! Whitespace and line breaks are insignificant; `#` starts a comment that
//! runs to the end of the line. A file is one block:
//!
//! ```text
//! network "NAME" { ITEM* }
//! ```
//!
//! Names are `[a-zA-Z_][a-zA-Z0-9_-]*`. Inside any block, items may come in
//! any order; a property may be given at most once (`server` and `reserve`
//! in a datacenter, and the node, link and service items of the network, may
//! repeat).
//!
//! ## Network items
//!
//! | item | meaning | default |
//! |---|---|---|
//! | `algorithm weighted-max-min` \| `proportional` \| `nearest-first` | the fair-share algorithm | `weighted-max-min` |
//! | `recalc every TIME` | period of the bandwidth calculator (> 0) | `5s` |
//! | `weights { subscribers N  distance N  response N }` | weight of each edge property; plain non-negative numbers, any subset, not all zero | `1.0`, `0.0`, `0.0` |
//! | `sizes { flows N  routes N  steer N }` | pipeline table sizes, whole numbers ≥ 1 | `4096`, `1024`, `1024` |
//! | `datacenter NAME { ... }` | a datacenter (at least one) | |
//! | `edge NAME { ... }` | a subscriber edge (at least one) | |
//! | `router NAME` | a core router: a topology node with no body | |
//! | `link NAME <-> NAME { capacity BW  distance TIME }` | a bidirectional link between two different nodes; both required, capacity > 0; `distance` is the one-way delay | |
//! | `service NAME { vip ADDR tcp\|udp/PORT  at DC, DC...  flow-rate BW }` | a service: its virtual address and port (1–65535), the datacenters serving it, and the rate each flow reserves (> 0); all required | |
//!
//! ## Datacenter items
//!
//! | item | meaning | default |
//! |---|---|---|
//! | `switch NAME { ... }` | the DC switch (required) | |
//! | `uplink BW` | capacity towards the network (required, > 0) | |
//! | `server NAME { address ADDR  port P  capacity BW  response TIME  load PCT }` | a server; `address`, `port`, `capacity` (> 0) required | `response 0us`, `load 0%` |
//! | `reserve PURPOSE BW` | bandwidth held back from fair sharing; one per purpose | |
//!
//! ## Edge items
//!
//! | item | meaning | default |
//! |---|---|---|
//! | `switch NAME { ... }` | the edge switch (required) | |
//! | `clients PREFIX, PREFIX...` | client prefixes (required) | |
//! | `subscribers N` | subscriber count, a whole number (required) | |
//! | `demand BW` | what the edge wants at most | none |
//! | `client-port P` | the switch port towards the clients | `1` |
//!
//! ## Switch items
//!
//! | item | meaning | default |
//! |---|---|---|
//! | `cpu-port P` | port to the controller (required) | |
//! | `device-id N` | P4Runtime device id (required, unique) | |
//! | `uplink-port P` | port towards the network | DC: 1 + the largest server port; edge: `2` |
//! | `target bmv2` \| `tofino` | the P4 target | `bmv2` |
//!
//! ## Values
//!
//! * Bandwidth `BW`: a number glued to `bps`, `Kbps`, `Mbps`, `Gbps` or
//!   `Tbps` (powers of 1000); decimals such as `2.5Gbps` are allowed when the
//!   result is a whole number of bits per second. Stored in bps.
//! * Time: `us`, `ms` or `s`, a whole number of microseconds. Stored in µs.
//! * Percentage `PCT`: `%`, 0 to 100, up to four decimals. Stored in parts
//!   per million.
//! * Ports `P`: plain whole numbers 0–511.
//! * `ADDR`: dotted-quad IPv4, each part 0–255 without leading zeros.
//!   `PREFIX`: `ADDR/LEN`, `LEN` 0–32, host bits zero.
//!
//! A number without a unit where one is needed, a unit of the wrong kind
//! (`capacity 4ms`), or a unit where a plain number is expected is a unit
//! mismatch.
//!
//! ## Checks
//!
//! Besides the grammar and the value rules above, [`check`] reports, all at
//! once: unknown names (link endpoints, service `at`), a service at a node
//! that is not a datacenter, duplicate properties, duplicate names
//! (datacenters, edges and routers share one namespace; switch, server and
//! service names are unique; so are server addresses, device ids, service
//! address/protocol/port triples and a datacenter's reservation purposes), a
//! port used twice on one switch (server ports, `uplink-port`, `client-port`
//! and `cpu-port`, defaults included), overlapping client prefixes (within
//! and across edges), server or service addresses inside a client prefix,
//! loads above 100%, zero capacities and rates, a link from a node to
//! itself, a datacenter whose fixed reservations exceed
//! `min(uplink, Σ capacity × (1 − load))` (see
//! [`model::Datacenter::available`]), and an edge with no path of links to
//! any datacenter. Table sizes are not checked against the policy.

pub mod ast;
mod check;
mod diag;
pub mod gen;
pub mod model;
mod parse;
mod units;

pub use diag::{render, Diagnostic, Kind, Label, Severity};

/// Parses policy text into a syntax tree. Only syntax is checked.
pub fn parse(src: &str) -> Result<ast::File, Vec<Diagnostic>> {
    parse::parse(src)
}

/// Checks a syntax tree and builds the validated model, or returns every
/// problem found, ordered by position.
pub fn check(file: &ast::File) -> Result<model::Policy, Vec<Diagnostic>> {
    check::check(file)
}

/// [`parse`] then [`check`].
pub fn load(src: &str) -> Result<(ast::File, model::Policy), Vec<Diagnostic>> {
    let file = parse(src)?;
    let policy = check(&file)?;
    Ok((file, policy))
}
