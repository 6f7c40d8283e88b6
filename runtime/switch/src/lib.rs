//! A software switch for v1model BMv2 JSON pipelines: the core, with no IO.
//!
//! ```text
//! BMv2 JSON ─ parse_json ─> Bmv2Json ─ program::compile ─> Program ─┐
//!                                                                     ├─ Switch::process(port, bytes, time) ─> (port, bytes)*
//!             control plane (tables, meters, counters, registers) ──┘
//! ```
//!
//! Invariants:
//! * The JSON is compiled once, at load: every name (header, field, table,
//!   action, extern, calculation) is resolved to an index. Processing a
//!   packet does no name lookup, walks no JSON and allocates nothing on the
//!   common path (buffers are kept from packet to packet).
//! * A JSON the switch cannot run faithfully is refused at load with the
//!   JSON path of the object and the reason; nothing is silently skipped.
//!   That includes a control whose tables and conditionals lead back to
//!   one of them (p4c never writes one; a packet would never leave it), so
//!   a walk through a control always ends.
//! * No input panics: malformed packets follow P4 parser-error semantics
//!   (v1model: the parser stops, `standard_metadata.parser_error` is set and
//!   ingress runs), and control-plane requests that do not fit the program
//!   return an [`Error`].
//! * Time is given by the caller (microseconds since the switch's time
//!   origin), so that meters give the same colours on every run.
//! * The shortcuts laid out at load give the same bytes, ports and counts
//!   as the general paths they stand for (a test runs both): headers are
//!   extracted through a per-header plan of 8- or 16-byte windows (in
//!   place in the packet when it goes on far enough, else from a copy);
//!   a parser whose every state extracts a header, copies fields and
//!   selects on fields of 64 bits or fewer runs one step per state
//!   (state by state, with a trace event per state and extraction, when
//!   `tracing` is at the trace level); a header extracted from the packet is deparsed by copying its bytes,
//!   with only the fields written since (tracked per header, one bit per
//!   field) emitted on top, and when the valid headers are exactly those
//!   extracted, back to back from the packet's first byte in deparser
//!   order, the packet is copied whole and the written fields emitted on
//!   top; a `csum16` whose input headers are all valid is summed with
//!   shifts fixed at load; an update checksum over the same fields of one
//!   header as a verify checksum (p4c's IPv4 header checksum) takes on
//!   the sum the verification made, when the header was then as
//!   extracted, and corrects it for the fields written since (their old
//!   values read from the packet's bytes), falling back to summing every
//!   field when the corrected sum is a multiple of 2^16 - 1 (which only a
//!   sum from scratch tells apart from zero); a parser select on unsigned keys is matched as
//!   one packed number; a table whose exact and lpm keys add up to 128
//!   bits or fewer is looked up with the keys packed into one number as
//!   they are evaluated; the expression shapes p4c emits most
//!   (`field op constant`, the same masked with a constant,
//!   `isValid() && field op constant`, `!isValid()`) are single
//!   expression nodes, and conditions of the shape `field op constant`
//!   on fields of 64 bits or fewer compare in 64 bits (a field's value
//!   never has bits above its width), as do checksum conditions of the
//!   shape `isValid() && field op constant`; a table with no entries runs its default action
//!   without a lookup; actions read their parameters in place in the
//!   table entry.
//! * A program has at most 65,536 fields (all header instances together)
//!   and 65,536 header instances; more is refused at load. The header
//!   vector the pipeline runs on keeps a slot for every 16-bit field id
//!   (values) and header id (validity, offset in the packet, fields
//!   written), so that accesses on the hot path need no bounds check and
//!   cannot go out of bounds. The slots are allocated zeroed and only the
//!   program's are written, so the memory touched is the program's; the
//!   copies of a packet waiting in the queue keep only the program's part.
//!
//! Boundary: the core ([`Switch`]) has no ports, files, sockets or
//! threads. [`port`] wraps it: a [`port::Port`] trait with pcap files,
//! Linux interfaces (`AF_PACKET`, through `pnet_datalink`),
//! in-process links and the CPU port's controller channel ([`cpu`] holds the
//! `packet_in`/`packet_out` header layouts, as `simple_switch_grpc` uses
//! them), and a [`port::Device`] / [`port::Network`] that run switches
//! with their ports. Values are 128-bit numbers: fields over
//! 128 bits can be extracted, emitted and copied with their header and
//! enter hash and checksum inputs, not computed on (refused at load if an
//! expression, key or action reads them).
//!
//! v1model semantics, as `simple_switch` has them:
//! * `egress_spec` starts at 0; a packet whose `egress_spec` is the drop
//!   port (511 unless set with [`Switch::set_drop_port`]) after ingress, or
//!   after egress, is dropped; `mark_to_drop` sets it (and clears `mcast_grp`).
//! * Before egress, `egress_port` is set from `egress_spec`,
//!   `egress_spec` is reset to 0 and `packet_length` is set to the
//!   packet's length as BMv2 keeps it: the length it came in with, plus
//!   the headers `add_header` (`setValid`) made valid, minus those
//!   `remove_header` (`setInvalid`) made invalid.
//! * Checksum verification runs after the parser (a mismatch sets
//!   `checksum_error`), update before the deparser; the payload is what
//!   the parser did not consume.
//! * Fields of invalid headers are left out of hash and checksum inputs.
//! * Direct meters run on a table hit only and write the colour to the
//!   meter's `result_target`; direct counters count hits. Counters and byte
//!   meters count the packet's length as it arrived.
//! * `add_header` on an invalid header zeroes its fields.
//! * A failed `assert`/`assume` is counted and logged; the packet goes on
//!   (`simple_switch` would stop).
//! * `assign_header` from an invalid header only makes the destination
//!   invalid (its fields are left as they were); from a valid one it copies
//!   the fields and makes the destination valid.
//!
//! Header unions, variable-length fields and headers chosen at run time,
//! as BMv2 runs them:
//! * At most one member of a header union is valid: extracting a member,
//!   `setValid` (`add_header`) on it or assigning a valid header to it makes
//!   the other members invalid. `valid_union` is true when a member is
//!   valid; `assign_union` runs `assign_header` member by member. A union
//!   stack is extracted member by member into its next element
//!   (`union_stack` extracts), selected on through `union_stack_field`
//!   (the last extracted element), and copied by `assign_union_stack`.
//!   `push`/`pop` swap the unions along the whole stack, as BMv2 does, and
//!   (as in BMv2, whose unions ignore the validity calls that follow) the
//!   unions moved to the pushed or popped end keep their members: the stack
//!   rotates. The deparser emits the
//!   valid member where the order lists it.
//! * A `varbit` field is held as bytes (its header type's `max_length`
//!   less the fixed fields) with its current length. `extract_VL`
//!   evaluates the length in bits, then checks, in BMv2's order: a whole
//!   number of bytes (else `ParserInvalidArgument`), enough packet (else
//!   `PacketTooShort`), at most the maximum (else `HeaderTooShort`). The
//!   fields after it move by its length, in extraction and emission; it is
//!   emitted at its length, enters hash and checksum inputs at its length,
//!   is copied with its length by `assign_VL` and `assign_header`, and
//!   `==`/`!=` compare two of them as numbers (leading zero bytes do not
//!   count), as BMv2 compares them.
//! * `dereference_header_stack` with a computed index, and
//!   `dereference_union_stack` with `access_union_header`, choose a header
//!   per packet; `access_field` reads or writes its fields (the number just
//!   past its fields is `$valid$`), and `assign_header`, `add_header`,
//!   `remove_header` and `valid` take it, as well as a `?:` between two
//!   headers. An index out of range crashes `simple_switch` (an uncaught
//!   out-of-range exception); here a read gives 0 (and an invalid header),
//!   a write or validity change does nothing, and both leave the packet
//!   going on; writes are counted in [`Stats::index_errors`]. A constant
//!   index out of range is refused at load.
//! * `local` operands read the action's parameters, like `runtime_data`.
//!
//! * `truncate(n)` cuts the packet that called it to `n` bytes when it
//!   leaves the switch (a recirculated packet goes round whole); its
//!   copies (clones, replicas, resubmitted and recirculated packets) start
//!   uncut, as each is a new packet in BMv2.
//!
//! The packet replication engine ([`pre`]), as `simple_switch` has it:
//! * After ingress, in this order: a clone requested in ingress is made;
//!   then a resubmit ends the pass (nothing else happens to the packet);
//!   else a non-zero `mcast_grp` makes one copy per replica of the group
//!   (`instance_type` 5, `egress_rid` the replica's id, all other
//!   metadata kept) and the packet itself goes nowhere; else the drop port
//!   drops it; else it goes to `egress_spec` with `instance_type` 0. A
//!   group that is not configured or has no replicas drops the packet
//!   ([`Stats::dropped_multicast`]).
//! * After egress: a clone requested in egress is made (before the drop
//!   check, so a packet dropped in egress still has its clone); then the
//!   drop port drops the packet; else it is deparsed, then recirculated if
//!   asked, else sent.
//! * `clone_ingress_pkt_to_egress` and `clone_egress_pkt_to_egress` (p4c's
//!   `clone`, `clone3`, `clone_preserving_field_list`) record a session id
//!   (its low 15 bits, as BMv2 keeps them) and a field list; the last call
//!   wins, and where the packet is when its pipeline ends decides the
//!   kind, whichever of the two primitives was called. A session that is
//!   not configured makes no copy ([`Stats::clone_no_session`]).
//! * An ingress clone (`instance_type` 1) is the packet as this ingress
//!   pass received it, parsed again with its `ingress_port`; an egress
//!   clone (`instance_type` 2) has the headers as egress left them (its
//!   deparser emits what the original's would) and the original's
//!   payload. Both go to egress with every metadata field zero but the
//!   field list's, which keep their values at the end of the pipeline
//!   that asked, and `packet_length`: for an ingress clone the length its
//!   ingress pass received, for an egress clone the original's (above).
//! * A session sends to its multicast group (one copy per replica, with
//!   `egress_rid`, `instance_type` staying 1 or 2), then to its port; an
//!   optional truncation length cuts its copies when they leave (a
//!   P4Runtime setting; `simple_switch` has none).
//! * `resubmit` (`instance_type` 6) runs the parser and ingress again on
//!   the packet as this ingress pass received it; `recirculate`
//!   (`instance_type` 4) on the packet as the deparser emitted it. Either
//!   of field list 0 does nothing (`simple_switch` keeps the list id as
//!   its request flag). Every
//!   metadata field starts at zero (`ingress_port` and the timestamps
//!   included, as in BMv2) but the field list's, kept from the end of the
//!   pipeline that asked, and `packet_length`. As in BMv2, a
//!   `recirculate` called in ingress takes effect after egress (on a
//!   unicast packet; copies start with no request), and a `resubmit`
//!   called in egress does nothing.
//! * `mcast_grp` and `egress_rid` are `intrinsic_metadata.*` if the
//!   program has them (p4c aliases them to `standard_metadata`), else
//!   `standard_metadata.*` (`simple_switch` reads only the aliases: a
//!   hand-written program without them never multicasts there).
//! * Priority queues, as `simple_switch` has them: a port has
//!   [`Switch::set_priority_queues`] of them (1 unless set, as
//!   `--priority-queues` there; at most [`pre::MAX_PRIORITY_QUEUES`]),
//!   and a copy whose `intrinsic_metadata.priority` is that number or
//!   more is dropped where it would be queued for egress
//!   ([`Stats::dropped_priority`]): the packet after ingress, each
//!   multicast replica, each clone, and a resubmitted or recirculated
//!   packet after its next ingress. The field is read under that name only
//!   (p4c aliases it to `standard_metadata.priority`); in a program
//!   without it no copy is dropped for its priority. A clone, resubmit or
//!   recirculation starts with priority 0, as any metadata, unless its
//!   field list keeps it. Copies still run in the
//!   order they are made, whatever their queue (`simple_switch`'s egress
//!   threads take a waiting copy of a higher priority value first).
//! * `queueing_metadata`, when the program has all four of
//!   `enq_timestamp`, `enq_qdepth`, `deq_timedelta` and `deq_qdepth` (under
//!   those names: p4c aliases them to `standard_metadata`), is set before
//!   egress as `simple_switch` sets it, for a queue that a copy leaves at
//!   the time it entered and that holds nothing else: the switch runs all
//!   the copies of a packet at the packet's time, before the next packet.
//!   So `enq_timestamp` is the packet's time in microseconds (cut to the
//!   field), the depths and `deq_timedelta` are 0 (whatever ingress wrote
//!   there), and `qid`, if the program has it, is the copy's priority, as
//!   `simple_switch` reports it. A program without all four has none of
//!   them set, as there
//!   (`tests/queueing.rs`).
//! * A clone session with both a group and a port (only the Rust API makes
//!   one) sends to the group's replicas first, then to the port; the
//!   port's copy has the `egress_rid` of the group's last replica, as in
//!   `simple_switch`, which sets each replica's id on the packet before
//!   copying it.
//! * A chain of resubmits, recirculations and egress clones is cut at
//!   [`pre::MAX_GENERATIONS`] (BMv2 would loop forever), and one received
//!   packet makes at most [`pre::MAX_COPIES`] copies; what is cut is
//!   counted in [`Stats::dropped_loop`].
//! * Copies are processed one at a time, first made first run, before
//!   [`Switch::process`] returns; on each port packets leave in the order
//!   `simple_switch` gives them (the order between ports is not defined
//!   there, and is this one here).
//!
//! Not implemented yet (refused at load): parse value sets, action
//! profiles/selectors, extern instances, learn lists, `generate_digest`; a
//! variable-length field used as a number (arithmetic, table or select
//! keys) or extracted without a length (P4_14's `length_exp`); `==`/`!=` on
//! whole headers or unions.
//!
//! ```
//! let json = include_str!("../tests/data/minimal.json");
//! let mut sw = fairshare_switch::Switch::load(json).unwrap();
//! let mut out = vec![];
//! sw.process(1, &[0u8; 20], 0, &mut |port, bytes| out.push((port, bytes.to_vec())));
//! assert_eq!(out, vec![(2, vec![0u8; 20])]);
//! ```

mod bits;
mod control;
pub mod cpu;
mod error;
mod exec;
mod hash;
pub mod meter;
pub mod port;
pub mod pre;
pub mod program;
pub mod rules;
mod table;

pub use bits::to_bytes;
pub use cpu::{CpuPort, PacketIn, PacketOut};
pub use error::Error;
pub use exec::Stats;
pub use meter::{MeterConfig, MeterUnit};
pub use pre::{CloneSession, Replica};
pub use program::{MatchKind, Program};
pub use table::KeyMatch;

use exec::{Exec, PktState, Runtime, Scratch};
use fairshare_bmv2_json::Bmv2Json;
use meter::Meter;
use program::ActionCall;
use table::{InsertError, TableState};

/// The drop port of `simple_switch`.
pub const DEFAULT_DROP_PORT: u32 = 511;

/// The priority queues per port of `simple_switch` (its
/// `--priority-queues`).
pub const DEFAULT_PRIORITY_QUEUES: u32 = 1;

/// How the fields of packet headers start each packet, before the parser
/// (see [`Switch::set_header_start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderStart {
    /// All zero, on every packet.
    Zero,
    /// Values drawn from the seed, a different one per field; the same on
    /// every packet.
    Seeded(u64),
    /// The values the packet before left, as in `simple_switch` when a
    /// packet gets the header vector the one before used.
    Kept,
}

/// A table entry as the control plane gives and reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// One match per key field, in the order of the table's keys.
    pub keys: Vec<KeyMatch>,
    /// The action's name as the JSON has it (e.g. `Ingress.forward`).
    pub action: String,
    /// Action parameters, in the order of the action's `runtime_data`.
    pub params: Vec<u128>,
    /// Larger wins (P4Runtime's convention); used by ternary, range and
    /// optional tables.
    pub priority: u32,
}

/// A key field of a table, as the control plane needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyField {
    pub name: String,
    pub kind: MatchKind,
    pub width: u32,
}

/// A loaded program and its state: tables, meters, counters, registers.
pub struct Switch {
    prog: Program,
    rt: Runtime,
    scratch: Scratch,
    stats: Stats,
    drop_port: u32,
    pre: pre::Pre,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch")
            .field("tables", &self.prog.tables.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Switch {
    /// Reads and compiles a BMv2 JSON text.
    pub fn load(text: &str) -> Result<Switch, Error> {
        Switch::from_json(&program::parse_json(text)?)
    }

    /// Compiles a typed BMv2 document.
    pub fn from_json(doc: &Bmv2Json) -> Result<Switch, Error> {
        let prog = program::compile(doc)?;
        let mut sw = Switch {
            rt: Runtime {
                tables: prog
                    .tables
                    .iter()
                    .map(|t| TableState::new(&t.keys, t.default.clone()))
                    .collect(),
                meters: prog
                    .meters
                    .iter()
                    .map(|m| {
                        if m.direct {
                            vec![]
                        } else {
                            vec![Meter::default(); m.size as usize]
                        }
                    })
                    .collect(),
                counters: prog
                    .counters
                    .iter()
                    .map(|c| {
                        if c.direct {
                            vec![]
                        } else {
                            vec![(0, 0); c.size as usize]
                        }
                    })
                    .collect(),
                registers: prog
                    .registers
                    .iter()
                    .map(|r| vec![0; r.size as usize])
                    .collect(),
            },
            scratch: Scratch::new(&prog),
            stats: Stats::default(),
            drop_port: DEFAULT_DROP_PORT,
            pre: pre::Pre::default(),
            prog,
        };
        for (ti, t) in sw.prog.tables.iter().enumerate() {
            for (ei, e) in t.entries.iter().enumerate() {
                let priority = e.priority.unwrap_or(u32::MAX - ei as u32);
                if let Err(err) =
                    sw.rt.tables[ti].insert(&t.keys, e.keys.clone(), e.call.clone(), priority)
                {
                    let reason = match err {
                        InsertError::Bad(r) => r,
                        InsertError::Duplicate(h) => format!("the same key as entry {h}"),
                    };
                    return Err(Error::Refused {
                        path: format!("table `{}` entries[{ei}]", t.name),
                        reason,
                    });
                }
            }
        }
        Ok(sw)
    }

    /// The port whose `egress_spec` means "drop" (511 by default).
    pub fn set_drop_port(&mut self, port: u32) {
        self.drop_port = port;
    }

    /// Sets the values the fields of packet headers start each packet with
    /// ([`HeaderStart::Zero`] by default). P4 leaves the fields of a header
    /// that was never extracted or set valid unspecified, and BMv2 leaves
    /// values from earlier packets there; a program whose output changes
    /// with this setting reads such fields, and tests use it to find those
    /// reads.
    pub fn set_header_start(&mut self, start: HeaderStart) {
        self.scratch.phv.set_start(&self.prog, start);
    }

    pub fn drop_port(&self) -> u32 {
        self.drop_port
    }

    /// Sets the number of priority queues per port
    /// ([`DEFAULT_PRIORITY_QUEUES`] unless set), as `simple_switch
    /// --priority-queues` does: a copy whose `intrinsic_metadata.priority`
    /// is this number or more is dropped when it would be queued for
    /// egress. A count outside 1..=[`pre::MAX_PRIORITY_QUEUES`] is refused.
    pub fn set_priority_queues(&mut self, queues: u32) -> Result<(), Error> {
        pre::check_priority_queues(queues)?;
        self.pre.max_priority = queues - 1;
        Ok(())
    }

    pub fn priority_queues(&self) -> u32 {
        self.pre.max_priority + 1
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Counts a packet the port layer dropped (no link on its egress port).
    pub fn count_no_port(&mut self) {
        self.stats.dropped_no_port += 1;
    }

    /// Runs one packet arriving on `port` at `now_us` (microseconds since
    /// the time origin) through the pipeline, with every copy it gives rise
    /// to; `emit` receives each packet sent, with its egress port.
    pub fn process(
        &mut self,
        port: u32,
        data: &[u8],
        now_us: u64,
        emit: &mut dyn FnMut(u32, &[u8]),
    ) {
        self.stats.received += 1;
        let Scratch {
            phv,
            key,
            key2,
            buf,
            out,
        } = &mut self.scratch;
        let p = &self.prog;
        let Runtime {
            tables,
            meters,
            counters,
            registers,
        } = &mut self.rt;
        let mut ex = Exec {
            p,
            tables,
            meters,
            counters,
            registers,
            phv: phv.view(),
            key,
            key2,
            buf,
            stats: &mut self.stats,
            drop_port: self.drop_port,
        };
        ex.reset();
        let mut pkt = PktState {
            data,
            cursor: 0,
            now_us,
            exit: false,
            truncate: None,
            ops: pre::Ops::default(),
            length: data.len(),
            kept: crate::exec::KeptSums::default(),
        };
        ex.std_set(program::Std::IngressPort, u128::from(port));
        ex.std_set(program::Std::PacketLength, data.len() as u128);
        // `instance_type` is NORMAL (0): the reset zeroed the metadata.
        ex.std_set(program::Std::IngressGlobalTimestamp, u128::from(now_us));
        let pre = &mut self.pre;
        pre::ingress(&mut ex, &mut pkt, pre, 0, out, emit);
        pre::drain(&mut ex, pre, now_us, out, emit);
    }

    /// The fields of a header instance, `(name, width)` in order; `None`
    /// when the program has no such header.
    pub fn header_fields(&self, header: &str) -> Option<Vec<(String, u32)>> {
        let h = self.prog.headers.iter().find(|h| h.name == header)?;
        Some(
            (h.first_field..h.first_field + h.n_fields)
                .map(|f| {
                    let fi = &self.prog.fields[f as usize];
                    (fi.short.clone(), fi.width)
                })
                .collect(),
        )
    }

    /// The error names of the program, by code (for decoding `parser_error`).
    pub fn error_name(&self, code: u32) -> Option<&str> {
        self.prog
            .error_names
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, n)| n.as_str())
    }

    // ---- Control plane ----

    fn table_ix(&self, table: &str) -> Result<usize, Error> {
        self.prog
            .tables
            .iter()
            .position(|t| t.name == table)
            .ok_or_else(|| Error::UnknownTable(table.into()))
    }

    /// Names of all tables.
    pub fn table_names(&self) -> Vec<&str> {
        self.prog.tables.iter().map(|t| t.name.as_str()).collect()
    }

    /// The key fields of a table, in order.
    pub fn table_keys(&self, table: &str) -> Result<Vec<KeyField>, Error> {
        let t = &self.prog.tables[self.table_ix(table)?];
        Ok(t.keys
            .iter()
            .map(|k| KeyField {
                name: k.name.clone(),
                kind: k.kind,
                width: k.width,
            })
            .collect())
    }

    /// The actions a table may run, by name.
    pub fn table_actions(&self, table: &str) -> Result<Vec<&str>, Error> {
        let t = &self.prog.tables[self.table_ix(table)?];
        Ok(t.actions
            .iter()
            .map(|a| self.prog.actions[*a as usize].name.as_str())
            .collect())
    }

    /// An action's parameters: name and width.
    pub fn action_params(&self, action: &str) -> Option<Vec<(String, u32)>> {
        self.prog
            .actions
            .iter()
            .find(|a| a.name == action)
            .map(|a| a.params.clone())
    }

    fn action_call(&self, ti: usize, action: &str, params: &[u128]) -> Result<ActionCall, Error> {
        let t = &self.prog.tables[ti];
        let Some(&a) = t
            .actions
            .iter()
            .find(|a| self.prog.actions[**a as usize].name == action)
        else {
            return Err(Error::UnknownAction {
                table: t.name.clone(),
                action: action.into(),
            });
        };
        let info = &self.prog.actions[a as usize];
        if info.params.len() != params.len() {
            return Err(Error::BadEntry {
                table: t.name.clone(),
                reason: format!(
                    "action `{action}` takes {} parameters, {} given",
                    info.params.len(),
                    params.len()
                ),
            });
        }
        for ((name, width), v) in info.params.iter().zip(params) {
            if v & !bits::mask(*width) != 0 {
                return Err(Error::BadEntry {
                    table: t.name.clone(),
                    reason: format!(
                        "parameter `{name}` of `{action}`: {v:#x} does not fit in {width} bits"
                    ),
                });
            }
        }
        Ok(ActionCall {
            action: a,
            data: params.to_vec(),
        })
    }

    /// Adds an entry; returns its handle.
    pub fn add_entry(&mut self, table: &str, entry: Entry) -> Result<u32, Error> {
        let ti = self.table_ix(table)?;
        let call = self.action_call(ti, &entry.action, &entry.params)?;
        let t = &self.prog.tables[ti];
        if self.rt.tables[ti].len >= t.max_size {
            return Err(Error::TableFull {
                table: table.into(),
                size: t.max_size,
            });
        }
        self.rt.tables[ti]
            .insert(&t.keys, entry.keys, call, entry.priority)
            .map_err(|e| match e {
                InsertError::Bad(reason) => Error::BadEntry {
                    table: table.into(),
                    reason,
                },
                InsertError::Duplicate(handle) => Error::DuplicateEntry {
                    table: table.into(),
                    handle,
                },
            })
    }

    /// The handle of the entry with this match (and priority, for tables
    /// that use priorities).
    pub fn find_entry(
        &self,
        table: &str,
        keys: &[KeyMatch],
        priority: u32,
    ) -> Result<Option<u32>, Error> {
        let ti = self.table_ix(table)?;
        self.rt.tables[ti]
            .find(&self.prog.tables[ti].keys, keys, priority)
            .map_err(|reason| Error::BadEntry {
                table: table.into(),
                reason,
            })
    }

    /// Changes the action of an entry.
    pub fn modify_entry(
        &mut self,
        table: &str,
        handle: u32,
        action: &str,
        params: &[u128],
    ) -> Result<(), Error> {
        let ti = self.table_ix(table)?;
        let call = self.action_call(ti, action, params)?;
        match self.rt.tables[ti].get_mut(handle) {
            Some(e) => {
                e.call = call;
                Ok(())
            }
            None => Err(Error::NoSuchEntry {
                table: table.into(),
                handle,
            }),
        }
    }

    pub fn delete_entry(&mut self, table: &str, handle: u32) -> Result<(), Error> {
        let ti = self.table_ix(table)?;
        self.rt.tables[ti]
            .remove(handle)
            .map(|_| ())
            .ok_or(Error::NoSuchEntry {
                table: table.into(),
                handle,
            })
    }

    /// Sets the action run on a miss. Refused if the program made the
    /// default action constant.
    pub fn set_default_action(
        &mut self,
        table: &str,
        action: &str,
        params: &[u128],
    ) -> Result<(), Error> {
        let ti = self.table_ix(table)?;
        let call = self.action_call(ti, action, params)?;
        let t = &self.prog.tables[ti];
        if t.default_const && call.action != t.default.action {
            return Err(Error::BadEntry {
                table: table.into(),
                reason: "the default action is constant".into(),
            });
        }
        self.rt.tables[ti].default = call;
        Ok(())
    }

    /// The default action and its parameters.
    pub fn default_action(&self, table: &str) -> Result<(String, Vec<u128>), Error> {
        let ti = self.table_ix(table)?;
        let d = &self.rt.tables[ti].default;
        Ok((
            self.prog.actions[d.action as usize].name.clone(),
            d.data.clone(),
        ))
    }

    /// All entries of a table with their handles, in handle order.
    pub fn entries(&self, table: &str) -> Result<Vec<(u32, Entry)>, Error> {
        let ti = self.table_ix(table)?;
        Ok(self.rt.tables[ti]
            .slots
            .iter()
            .enumerate()
            .filter_map(|(h, s)| {
                s.as_ref().map(|s| {
                    (
                        h as u32,
                        Entry {
                            keys: s.keys.clone(),
                            action: self.prog.actions[s.call.action as usize].name.clone(),
                            params: s.call.data.clone(),
                            priority: s.priority,
                        },
                    )
                })
            })
            .collect())
    }

    /// `(packets, bytes)` of an entry's direct counter.
    pub fn direct_counter(&self, table: &str, handle: u32) -> Result<(u64, u64), Error> {
        let ti = self.table_ix(table)?;
        self.rt.tables[ti]
            .get(handle)
            .map(|e| (e.packets, e.bytes))
            .ok_or(Error::NoSuchEntry {
                table: table.into(),
                handle,
            })
    }

    fn meter_ix(&self, name: &str) -> Result<usize, Error> {
        self.prog
            .meters
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| Error::UnknownObject {
                kind: "meter array",
                name: name.into(),
            })
    }

    fn meter_cell(&mut self, name: &str, index: u32) -> Result<&mut Meter, Error> {
        let mi = self.meter_ix(name)?;
        let size = self.prog.meters[mi].size;
        if self.prog.meters[mi].direct {
            return Err(Error::BadMeter {
                name: name.into(),
                reason: "a direct meter is configured per table entry".into(),
            });
        }
        self.rt.meters[mi]
            .get_mut(index as usize)
            .ok_or(Error::BadIndex {
                name: name.into(),
                index: index.into(),
                size,
            })
    }

    /// Configures a cell of an indirect meter array (P4Runtime units).
    pub fn set_meter(&mut self, name: &str, index: u32, config: MeterConfig) -> Result<(), Error> {
        self.meter_cell(name, index)?
            .set_config(config)
            .map_err(|reason| Error::BadMeter {
                name: name.into(),
                reason,
            })
    }

    /// Back to unconfigured (every packet green).
    pub fn reset_meter(&mut self, name: &str, index: u32) -> Result<(), Error> {
        self.meter_cell(name, index)?.reset();
        Ok(())
    }

    /// A cell's configuration; `None` when unconfigured.
    pub fn meter(&mut self, name: &str, index: u32) -> Result<Option<MeterConfig>, Error> {
        Ok(self.meter_cell(name, index)?.config())
    }

    /// The unit (bytes or packets) of a meter array.
    pub fn meter_unit(&self, name: &str) -> Result<MeterUnit, Error> {
        Ok(self.prog.meters[self.meter_ix(name)?].unit)
    }

    /// Configures the direct meter of a table entry.
    pub fn set_direct_meter(
        &mut self,
        table: &str,
        handle: u32,
        config: MeterConfig,
    ) -> Result<(), Error> {
        let ti = self.table_ix(table)?;
        if self.prog.tables[ti].direct_meter.is_none() {
            return Err(Error::BadMeter {
                name: table.into(),
                reason: "the table has no direct meter".into(),
            });
        }
        let e = self.rt.tables[ti]
            .get_mut(handle)
            .ok_or(Error::NoSuchEntry {
                table: table.into(),
                handle,
            })?;
        e.meter
            .set_config(config)
            .map_err(|reason| Error::BadMeter {
                name: table.into(),
                reason,
            })
    }

    pub fn direct_meter(&self, table: &str, handle: u32) -> Result<Option<MeterConfig>, Error> {
        let ti = self.table_ix(table)?;
        let e = self.rt.tables[ti].get(handle).ok_or(Error::NoSuchEntry {
            table: table.into(),
            handle,
        })?;
        Ok(e.meter.config())
    }

    fn counter_ix(&self, name: &str, index: u32) -> Result<usize, Error> {
        let ci = self
            .prog
            .counters
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| Error::UnknownObject {
                kind: "counter array",
                name: name.into(),
            })?;
        if index as usize >= self.rt.counters[ci].len() {
            return Err(Error::BadIndex {
                name: name.into(),
                index: index.into(),
                size: self.rt.counters[ci].len() as u32,
            });
        }
        Ok(ci)
    }

    /// `(packets, bytes)` of a cell of an indirect counter array.
    pub fn counter(&self, name: &str, index: u32) -> Result<(u64, u64), Error> {
        let ci = self.counter_ix(name, index)?;
        Ok(self.rt.counters[ci][index as usize])
    }

    pub fn set_counter(
        &mut self,
        name: &str,
        index: u32,
        packets: u64,
        bytes: u64,
    ) -> Result<(), Error> {
        let ci = self.counter_ix(name, index)?;
        self.rt.counters[ci][index as usize] = (packets, bytes);
        Ok(())
    }

    fn register_ix(&self, name: &str, index: u32) -> Result<usize, Error> {
        let ri = self
            .prog
            .registers
            .iter()
            .position(|r| r.name == name)
            .ok_or_else(|| Error::UnknownObject {
                kind: "register array",
                name: name.into(),
            })?;
        let size = self.prog.registers[ri].size;
        if index >= size {
            return Err(Error::BadIndex {
                name: name.into(),
                index: index.into(),
                size,
            });
        }
        Ok(ri)
    }

    pub fn register(&self, name: &str, index: u32) -> Result<u128, Error> {
        let ri = self.register_ix(name, index)?;
        Ok(self.rt.registers[ri][index as usize])
    }

    /// Writes a register cell; the value is cut to the register's width.
    pub fn set_register(&mut self, name: &str, index: u32, value: u128) -> Result<(), Error> {
        let ri = self.register_ix(name, index)?;
        self.rt.registers[ri][index as usize] = value & bits::mask(self.prog.registers[ri].width);
        Ok(())
    }

    // ---- Packet replication engine ----

    /// Adds or replaces a clone session (`simple_switch_CLI`'s
    /// `mirroring_add`, P4Runtime's `CloneSessionEntry`). Ids go up to
    /// [`pre::MAX_SESSION_ID`]; a session needs a port or a group.
    pub fn set_clone_session(&mut self, id: u32, session: CloneSession) -> Result<(), Error> {
        self.pre.set_session(id, session, &self.prog)
    }

    pub fn clone_session(&self, id: u32) -> Result<CloneSession, Error> {
        self.pre
            .sessions
            .get(&id)
            .copied()
            .ok_or(Error::NoSuchCloneSession(id))
    }

    pub fn delete_clone_session(&mut self, id: u32) -> Result<(), Error> {
        self.pre
            .sessions
            .remove(&id)
            .map(|_| ())
            .ok_or(Error::NoSuchCloneSession(id))
    }

    /// All clone sessions, by id.
    pub fn clone_sessions(&self) -> Vec<(u32, CloneSession)> {
        self.pre.sessions.iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Creates a multicast group (P4Runtime's `MulticastGroupEntry`): its
    /// copies go out in the order of `replicas`. Ids are 1 to
    /// [`pre::MAX_GROUP_ID`]; replication ids fit in 16 bits.
    pub fn create_multicast_group(&mut self, id: u32, replicas: Vec<Replica>) -> Result<(), Error> {
        self.pre.set_group(id, replicas, &self.prog, true)
    }

    /// Replaces the replicas of an existing group.
    pub fn modify_multicast_group(&mut self, id: u32, replicas: Vec<Replica>) -> Result<(), Error> {
        self.pre.set_group(id, replicas, &self.prog, false)
    }

    pub fn delete_multicast_group(&mut self, id: u32) -> Result<(), Error> {
        self.pre
            .groups
            .remove(&id)
            .map(|_| ())
            .ok_or(Error::NoSuchMulticastGroup(id))
    }

    pub fn multicast_group(&self, id: u32) -> Result<Vec<Replica>, Error> {
        self.pre
            .groups
            .get(&id)
            .cloned()
            .ok_or(Error::NoSuchMulticastGroup(id))
    }

    /// All multicast groups, by id.
    pub fn multicast_groups(&self) -> Vec<(u32, Vec<Replica>)> {
        self.pre
            .groups
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet/IPv4 frame with a TCP (6) or UDP (17) header and a
    /// payload, with correct IPv4 and layer-4 checksums.
    fn frame(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> Vec<u8> {
        let payload = b"fairshare!";
        let mut l4 = vec![];
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&dport.to_be_bytes());
        if proto == 6 {
            l4.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0]);
        } else {
            l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
        }
        l4.extend_from_slice(payload);
        let mut pseudo = vec![];
        pseudo.extend_from_slice(&src);
        pseudo.extend_from_slice(&dst);
        pseudo.extend_from_slice(&[0, proto]);
        pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(&l4);
        let c = hash::csum16(&pseudo).to_be_bytes();
        let at = if proto == 6 { 16 } else { 6 };
        l4[at..at + 2].copy_from_slice(&c);
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let c = hash::csum16(&ip).to_be_bytes();
        ip[10..12].copy_from_slice(&c);
        let mut f = vec![2, 0, 0, 1, 0, 3, 2, 0xaa, 0, 0, 0, 1, 8, 0];
        f.extend_from_slice(&ip);
        f.extend_from_slice(&l4);
        f
    }

    /// The layouts made at load (extraction plans, checksum layouts,
    /// copies of extracted headers, expressions fused into single nodes,
    /// parser states run in one step)
    /// give the same packets, ports and counts as the general paths, on the fairshare pipeline with its
    /// rules: every truncation and many single-byte mutations of frames
    /// that take the NAT, routing and CPU paths.
    /// The fairshare pipeline with its rules, loaded twice: with the
    /// layouts made at load, and with the general paths only.
    fn fast_and_general() -> (Switch, Switch) {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/expected/single"
        );
        let json = std::fs::read_to_string(format!("{root}/pipelines/bmv2-cpu255/fairshare.json"))
            .expect("pipeline");
        let rules = rules::Rules::parse(
            &std::fs::read_to_string(format!("{root}/switches/dc1-sw.rules.json")).expect("rules"),
        )
        .expect("rules read");
        let mut fast = Switch::load(&json).expect("loads");
        rules::apply(&mut fast, &rules).expect("rules apply");
        // The general paths: expressions compiled as trees, no layouts.
        program::UNSIMPLIFIED.with(|u| u.set(true));
        let general = Switch::load(&json);
        program::UNSIMPLIFIED.with(|u| u.set(false));
        let mut general = general.expect("loads");
        rules::apply(&mut general, &rules).expect("rules apply");
        general.prog.without_fast_paths();
        let fused = |s: &Switch| {
            s.prog
                .conds
                .iter()
                .filter(|c| !matches!(c.expr, program::Expr::Bin(..) | program::Expr::Un(..)))
                .count()
        };
        assert_eq!(fused(&general), 0, "the general program has no fused nodes");
        assert!(fused(&fast) > 0, "the fast program has fused nodes");
        assert!(
            !fast.prog.fast_parse.is_empty() && general.prog.fast_parse.is_empty(),
            "only the fast program parses one step per state"
        );
        assert!(
            fast.prog.update.iter().any(|u| u.reuse.is_some())
                && general.prog.update.iter().all(|u| u.reuse.is_none()),
            "only the fast program corrects the verified IPv4 sum"
        );
        let steps = |s: &Switch| {
            s.prog
                .actions
                .iter()
                .flat_map(|a| &a.ops)
                .filter(|op| !matches!(op, program::ActOp::Prim(_)))
                .count()
        };
        assert!(
            fast.prog
                .actions
                .iter()
                .flat_map(|a| &a.ops)
                .any(|op| matches!(op, program::ActOp::AddConst { .. }))
                && steps(&general) == 0,
            "only the fast program has action steps of its own (TTL and lengths in 64 bits)"
        );
        assert!(
            fast.prog.tables.iter().any(|t| t.key64.is_some())
                && fast.prog.tables.iter().any(|t| t.key128.is_some())
                && general
                    .prog
                    .tables
                    .iter()
                    .all(|t| t.key64.is_none() && t.key128.is_none()),
            "only the fast program packs keys from their plans"
        );
        (fast, general)
    }

    /// Reserved flows (five keys, 104 bits: a packed key over 64 bits) for
    /// the client's request after DNAT, whose meter makes every packet
    /// red, and for the server's answer after SNAT.
    fn add_flows(sw: &mut Switch) {
        let flow = |src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16| Entry {
            keys: vec![
                KeyMatch::Exact(u128::from(u32::from_be_bytes(src))),
                KeyMatch::Exact(u128::from(u32::from_be_bytes(dst))),
                KeyMatch::Exact(6),
                KeyMatch::Exact(u128::from(sport)),
                KeyMatch::Exact(u128::from(dport)),
            ],
            action: "Ingress.reserved_flow".into(),
            params: vec![0],
            priority: 0,
        };
        let red = sw
            .add_entry(
                "Ingress.flows",
                flow([192, 0, 2, 5], [10, 0, 0, 1], 40000, 80),
            )
            .expect("flow");
        let tiny = MeterConfig {
            cir: 1,
            cburst: 1,
            pir: 1,
            pburst: 1,
        };
        sw.set_direct_meter("Ingress.flows", red, tiny)
            .expect("meter");
        sw.add_entry(
            "Ingress.flows",
            flow([203, 0, 113, 1], [192, 0, 2, 5], 80, 40000),
        )
        .expect("flow");
    }

    #[test]
    fn fast_paths_match_the_general_paths() {
        let (mut fast, mut general) = fast_and_general();
        add_flows(&mut fast);
        add_flows(&mut general);

        let frames = [
            frame([192, 0, 2, 5], [203, 0, 113, 1], 6, 40000, 80),
            frame([192, 0, 2, 5], [203, 0, 113, 1], 17, 40000, 80),
            frame([10, 0, 0, 1], [192, 0, 2, 5], 6, 80, 40000),
            frame([10, 0, 0, 9], [10, 0, 0, 2], 17, 5000, 53),
        ];
        let mut inputs: Vec<(u32, Vec<u8>)> = vec![];
        for f in &frames {
            for port in [3u32, 255] {
                for len in 0..=f.len() {
                    inputs.push((port, f[..len].to_vec()));
                }
                let mut cpu = vec![0, 0x80];
                cpu.extend_from_slice(f);
                inputs.push((255, cpu));
            }
            for i in 0..f.len() {
                for v in [0u8, 1, 0x11, 0x45, 0x46, 0x7f, 0x80, 0xff] {
                    let mut m = f.clone();
                    m[i] = v;
                    inputs.push((3, m));
                }
            }
        }
        let mut sent = 0;
        for (n, (port, data)) in inputs.iter().enumerate() {
            let (mut a, mut b) = (vec![], vec![]);
            fast.process(*port, data, n as u64, &mut |p, d| a.push((p, d.to_vec())));
            general.process(*port, data, n as u64, &mut |p, d| b.push((p, d.to_vec())));
            assert_eq!(a, b, "input {n} on port {port}: {data:02x?}");
            sent += a.len();
        }
        assert_eq!(fast.stats(), general.stats());
        assert!(sent > 1000, "most inputs must go through ({sent} sent)");
        // Drop reason 6: red from a flow's meter, so the flows table hit.
        let red = |s: &Switch| s.counter("Ingress.drops", 6).expect("counter");
        assert_eq!(red(&fast), red(&general));
        assert!(red(&fast).0 > 0, "the reserved flow's packets are red");
        assert!(fast.stats().checksum_errors > 0 && fast.stats().parser_errors > 0);
    }

    /// The IPv4 checksum corrected from the verified sum (DNAT and the TTL
    /// write two of its fields) is the one summed from scratch for every
    /// identification value, so for every sum, the multiples of 2^16 - 1
    /// among them.
    #[test]
    fn corrected_ipv4_checksums_match_sums_from_scratch() {
        let (mut fast, mut general) = fast_and_general();
        let base = frame([192, 0, 2, 5], [203, 0, 113, 1], 6, 40000, 80);
        let mut zero = 0;
        for id in 0..=u16::MAX {
            let mut f = base.clone();
            f[18..20].copy_from_slice(&id.to_be_bytes());
            f[24..26].fill(0);
            let c = hash::csum16(&f[14..34]).to_be_bytes();
            f[24..26].copy_from_slice(&c);
            let (mut a, mut b) = (vec![], vec![]);
            fast.process(3, &f, 0, &mut |p, d| a.push((p, d.to_vec())));
            general.process(3, &f, 0, &mut |p, d| b.push((p, d.to_vec())));
            assert_eq!(a, b, "identification {id:#06x}");
            let [(_, out)] = &a[..] else {
                panic!("identification {id:#06x}: one packet out, not {}", a.len());
            };
            assert_ne!(out[30..34], f[30..34], "the destination is translated");
            zero += usize::from(out[24..26] == [0, 0]);
        }
        assert!(zero > 0, "some sums are multiples of 2^16 - 1");
        assert_eq!(fast.stats().checksum_errors, 0);
    }
}
