//! The packet replication engine: clone sessions, multicast groups,
//! resubmit and recirculate, as `simple_switch` runs them after ingress
//! and after egress.
//!
//! A received packet that asks for none of these goes through the
//! pipeline in place, with no copy and no allocation, unless the program
//! can set `intrinsic_metadata.priority` (its packets are all queued, so
//! that their priority is checked where every copy's is). Otherwise every
//! further pass is a job in a first-in first-out queue that
//! `drain` runs to its end before [`crate::Switch::process`] returns: an
//! egress job carries the whole packet header vector and the bytes its
//! headers were extracted from, an ingress job (resubmit, recirculate)
//! the bytes to parse and the fields to preserve. Jobs run in the order
//! they were made, which gives, on each port, the order `simple_switch`
//! gives (its per-port queues are first-in first-out; the order between
//! ports is not defined there and is this one here).

use crate::error::Error;
use crate::exec::{Exec, PktState, Saved};
use crate::program::{Fid, Program, Std};
use std::collections::{BTreeMap, VecDeque};

/// `standard_metadata.instance_type` values, as `simple_switch` sets them.
pub mod instance_type {
    pub const NORMAL: u32 = 0;
    pub const INGRESS_CLONE: u32 = 1;
    pub const EGRESS_CLONE: u32 = 2;
    /// Defined by `simple_switch` for coalesced clones; never set here
    /// (nor by `simple_switch` itself).
    pub const COALESCED: u32 = 3;
    pub const RECIRC: u32 = 4;
    pub const REPLICATION: u32 = 5;
    pub const RESUBMIT: u32 = 6;
}

/// The largest clone session id (BMv2 keeps 15 bits).
pub const MAX_SESSION_ID: u32 = (1 << 15) - 1;
/// The largest multicast group id (`mcast_grp` is 16 bits in v1model).
pub const MAX_GROUP_ID: u32 = 0xffff;
/// The largest replication id (`egress_rid` is 16 bits in v1model).
pub const MAX_RID: u32 = 0xffff;
/// How many resubmits, recirculations and egress-to-egress clones a
/// packet may have in its ancestry; a copy beyond is not made and is
/// counted in [`crate::Stats::dropped_loop`]. BMv2 has no such bound (a
/// program that recirculates forever keeps it busy forever).
pub const MAX_GENERATIONS: u32 = 64;
/// How many copies (clones, replicas, resubmitted and recirculated
/// packets) one received packet may give rise to; beyond, copies are not
/// made and are counted in [`crate::Stats::dropped_loop`].
pub const MAX_COPIES: u32 = 65_536;

/// One copy a multicast group makes: the egress port, and the replication
/// id egress reads in `egress_rid` (P4Runtime calls it the instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Replica {
    pub port: u32,
    pub rid: u32,
}

/// Where a clone session sends its copies: a port, a multicast group, or
/// both (the group's copies first, as `simple_switch` makes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloneSession {
    pub port: Option<u32>,
    pub group: Option<u32>,
    /// Cut the copies to this many bytes when they leave (P4Runtime's
    /// `packet_length_bytes`; `simple_switch` has no such setting).
    pub truncate: Option<u32>,
}

/// Clone, resubmit and recirculate requests of a packet: the session and
/// the field list (an index into [`Program::field_lists`]). The last
/// call of each kind wins, as in BMv2.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ops {
    pub clone: Option<(u16, u16)>,
    pub resubmit: Option<u16>,
    pub recirculate: Option<u16>,
}

/// The most priority queues a port may have: `simple_switch` serves 32
/// (each of its egress threads has that many). Given more, its check would
/// pass copies whose queue does not exist: priority `p` goes to queue
/// `n - 1 - p` of `n`, so the lowest priorities would fall past the 32.
pub const MAX_PRIORITY_QUEUES: u32 = 32;

/// Refuses a count of priority queues per port outside
/// 1..=[`MAX_PRIORITY_QUEUES`].
pub fn check_priority_queues(queues: u32) -> Result<(), Error> {
    if queues == 0 || queues > MAX_PRIORITY_QUEUES {
        return Err(Error::BadPriorityQueues(queues));
    }
    Ok(())
}

/// Configuration and the queue of pending passes.
#[derive(Debug, Default)]
pub(crate) struct Pre {
    pub sessions: BTreeMap<u32, CloneSession>,
    pub groups: BTreeMap<u32, Vec<Replica>>,
    /// The highest `intrinsic_metadata.priority` a copy may have to be
    /// queued for egress: the number of priority queues per port less one.
    pub max_priority: u32,
    queue: VecDeque<Job>,
    /// Header vectors of finished jobs, kept for the next ones.
    spare: Vec<Saved>,
    /// Copies made for the packet being processed.
    made: u32,
}

#[derive(Debug)]
enum Job {
    Egress(EgressJob),
    /// The copies of a multicast group still to make, made one at a time
    /// when the job reaches the front (and put back at the front until
    /// the last), so that a large group does not hold a header vector per
    /// replica at once.
    Multicast(MulticastJob),
    Ingress(IngressJob),
}

#[derive(Debug)]
struct MulticastJob {
    /// The packet to copy; its `port` is not used.
    packet: EgressJob,
    replicas: Vec<Replica>,
    next: usize,
    /// Whether the copies are a clone's (else a multicast's).
    clone: bool,
}

#[derive(Debug)]
struct EgressJob {
    phv: Saved,
    /// The bytes the headers were extracted from, with the payload from
    /// `cursor` on.
    data: Vec<u8>,
    cursor: usize,
    port: u32,
    /// The packet's length register (see [`PktState::length`]), set as
    /// `packet_length` when egress starts.
    length: usize,
    recirculate: Option<u16>,
    /// The packet's own `truncate`, made in ingress.
    cut: Option<usize>,
    /// The clone session's truncation length.
    truncate: Option<u32>,
    generation: u32,
}

#[derive(Debug)]
struct IngressJob {
    data: Vec<u8>,
    /// The preserved fields and their values.
    keep: Vec<(Fid, u128)>,
    instance_type: u32,
    generation: u32,
}

/// Where an egress pass sends its packet.
pub(crate) struct Egress {
    pub port: u32,
    pub generation: u32,
    pub truncate: Option<u32>,
}

impl Pre {
    fn phv(&mut self) -> Saved {
        self.spare.pop().unwrap_or_default()
    }

    /// Counts a copy against the caps; false when it must not be made.
    fn admit(&mut self, generation: u32, stats: &mut crate::Stats) -> bool {
        if generation > MAX_GENERATIONS || self.made >= MAX_COPIES {
            stats.dropped_loop += 1;
            return false;
        }
        self.made += 1;
        true
    }

    pub fn set_session(&mut self, id: u32, s: CloneSession, p: &Program) -> Result<(), Error> {
        let bad = |reason: String| Error::BadCloneSession {
            session: id,
            reason,
        };
        if id > MAX_SESSION_ID {
            return Err(bad(format!("the id must be at most {MAX_SESSION_ID}")));
        }
        if s.port.is_none() && s.group.is_none() {
            return Err(bad("it needs a port, a multicast group or both".into()));
        }
        if let Some(port) = s.port {
            check_port(p, port).map_err(bad)?;
        }
        if let Some(g) = s.group {
            if g == 0 || g > MAX_GROUP_ID {
                return Err(bad(format!(
                    "multicast group {g} is not in 1..={MAX_GROUP_ID}"
                )));
            }
        }
        if s.truncate == Some(0) {
            return Err(bad("a truncation length must be at least 1 byte".into()));
        }
        self.sessions.insert(id, s);
        Ok(())
    }

    pub fn set_group(
        &mut self,
        id: u32,
        replicas: Vec<Replica>,
        p: &Program,
        create: bool,
    ) -> Result<(), Error> {
        let bad = |reason: String| Error::BadMulticastGroup { group: id, reason };
        if id == 0 || id > MAX_GROUP_ID {
            return Err(bad(format!("the id must be in 1..={MAX_GROUP_ID}")));
        }
        for r in &replicas {
            check_port(p, r.port).map_err(bad)?;
            if r.rid > MAX_RID {
                return Err(bad(format!(
                    "replication id {} does not fit in 16 bits",
                    r.rid
                )));
            }
        }
        match (create, self.groups.contains_key(&id)) {
            (true, true) => Err(Error::MulticastGroupExists(id)),
            (false, false) => Err(Error::NoSuchMulticastGroup(id)),
            _ => {
                self.groups.insert(id, replicas);
                Ok(())
            }
        }
    }
}

/// A port must fit in the program's `egress_port` field.
fn check_port(p: &Program, port: u32) -> Result<(), String> {
    if let Some(f) = p.std.egress_port {
        let w = p.fields[f as usize].width;
        if w < 32 && port >> w != 0 {
            return Err(format!(
                "port {port} does not fit in the program's {w}-bit egress_port"
            ));
        }
    }
    Ok(())
}

/// Copies a header vector set aside into another, reusing its buffers.
fn copy_phv(dst: &mut Saved, src: &Saved) {
    dst.vals.clone_from(&src.vals);
    dst.hi.clone_from(&src.hi);
    dst.valid.clone_from(&src.valid);
    dst.stack_next.clone_from(&src.stack_next);
    dst.wide.clone_from(&src.wide);
    dst.orig.clone_from(&src.orig);
    dst.dirty.clone_from(&src.dirty);
    dst.vl_bits.clone_from(&src.vl_bits);
    dst.union_stack_next.clone_from(&src.union_stack_next);
}

/// Zeroes every field of every metadata header (BMv2's `reset_metadata`).
fn reset_metadata(p: &Program, phv: &mut Saved) {
    reset_metadata_in(p, &mut phv.vals, &mut phv.hi, &mut phv.wide);
}

/// [`reset_metadata`] on a header vector's values (low and high halves)
/// and wide values.
fn reset_metadata_in(p: &Program, vals: &mut [u64], hi: &mut [u64], wide: &mut [Vec<u8>]) {
    for h in p.headers.iter().filter(|h| h.metadata) {
        for f in h.first_field..h.first_field + h.n_fields {
            if let Some(v) = vals.get_mut(f as usize) {
                *v = 0;
            }
            if let Some(v) = hi.get_mut(f as usize) {
                *v = 0;
            }
            if let Some(w) = p.fields[f as usize].wide {
                wide[w as usize].fill(0);
            }
        }
    }
}

/// Writes a field of a header vector set aside.
fn set_in(p: &Program, phv: &mut Saved, f: Option<Fid>, v: u128) {
    if let Some(f) = f {
        let h = &p.field_hot[f as usize];
        let v = v & h.mask;
        if let Some(x) = phv.vals.get_mut(f as usize) {
            *x = v as u64;
        }
        if let Some(x) = phv.hi.get_mut(f as usize) {
            *x = (v >> 64) as u64;
        }
        if let Some(d) = phv.dirty.get_mut(h.header as usize) {
            *d |= h.dirty_bit;
        }
    }
}

/// The values of a field list's fields, now.
fn preserved(ex: &Exec<'_>, list: u16) -> Vec<(Fid, u128)> {
    ex.p.field_lists[list as usize]
        .iter()
        .map(|&f| (f, ex.phv.get(f)))
        .collect()
}

/// What ingress asked for, in `simple_switch`'s order: an ingress clone,
/// then a resubmit (which ends the packet's pass), else multicast, else
/// the drop port, else unicast to `egress_spec`. The packets to come are
/// queued for [`drain`].
pub(crate) fn end_of_ingress(
    ex: &mut Exec<'_>,
    pkt: &mut PktState<'_>,
    pre: &mut Pre,
    generation: u32,
) {
    let p = ex.p;
    if let Some((session, list)) = pkt.ops.clone.take() {
        match pre.sessions.get(&u32::from(session)).copied() {
            None => ex.stats.clone_no_session += 1,
            Some(s) => ingress_clone(ex, pkt, pre, generation, s, list),
        }
    }
    if let Some(list) = pkt.ops.resubmit.take() {
        if pre.admit(generation + 1, ex.stats) {
            ex.stats.resubmitted += 1;
            pre.queue.push_back(Job::Ingress(IngressJob {
                data: pkt.data.to_vec(),
                keep: preserved(ex, list),
                instance_type: instance_type::RESUBMIT,
                generation: generation + 1,
            }));
        }
        return;
    }
    let group = ex.std_get(p.std.mcast_grp);
    if group != 0 {
        ex.std_set(Std::InstanceType, instance_type::REPLICATION.into());
        let mut phv = pre.phv();
        ex.phv.copy_to(&mut phv);
        let origin = Origin {
            data: pkt.data,
            cursor: pkt.cursor,
            length: pkt.length,
            truncate: None,
            generation,
        };
        multicast(ex, pre, group, phv, &origin, false);
        return;
    }
    let egress_spec = ex.std_get(p.std.egress_spec);
    if egress_spec == u128::from(ex.drop_port) {
        ex.stats.dropped_ingress += 1;
        return;
    }
    ex.std_set(Std::InstanceType, instance_type::NORMAL.into());
    let mut phv = pre.phv();
    ex.phv.copy_to(&mut phv);
    pre.queue.push_back(Job::Egress(EgressJob {
        phv,
        data: pkt.data.to_vec(),
        cursor: pkt.cursor,
        port: egress_spec as u32,
        length: pkt.length,
        recirculate: pkt.ops.recirculate,
        cut: pkt.truncate,
        truncate: None,
        generation,
    }));
}

/// The packet a copy is made of.
struct Origin<'d> {
    data: &'d [u8],
    cursor: usize,
    length: usize,
    truncate: Option<u32>,
    generation: u32,
}

/// An ingress clone: the packet as this ingress pass received it, parsed
/// again (with its `ingress_port`, as `simple_switch` does), its metadata
/// reset but for the field list's values at the end of ingress.
fn ingress_clone(
    ex: &mut Exec<'_>,
    pkt: &PktState<'_>,
    pre: &mut Pre,
    generation: u32,
    s: CloneSession,
    list: u16,
) {
    let p = ex.p;
    let keep = preserved(ex, list);
    let mut saved = pre.phv();
    ex.phv.copy_to(&mut saved);
    let ingress_port = ex.std_get(p.std.ingress_port);
    ex.reset();
    ex.std_set(Std::IngressPort, ingress_port);
    let mut again = PktState {
        data: pkt.data,
        cursor: 0,
        now_us: pkt.now_us,
        exit: false,
        truncate: None,
        ops: Ops::default(),
        length: pkt.data.len(),
        kept: crate::exec::KeptSums::default(),
    };
    // A parser error is not recorded: the copy's metadata is reset below.
    let _ = ex.parse(&mut again);
    reset_metadata_in(p, &mut ex.phv.vals[..], &mut ex.phv.hi[..], ex.phv.wide);
    // A field list may name a packet header's fields: they are written
    // since the parse, for the deparser to emit.
    for (f, v) in keep {
        ex.set(f, v);
    }
    ex.std_set(Std::InstanceType, instance_type::INGRESS_CLONE.into());
    let mut phv = pre.phv();
    ex.phv.copy_to(&mut phv);
    ex.phv.copy_from(&saved);
    pre.spare.push(saved);
    let origin = Origin {
        data: pkt.data,
        cursor: again.cursor,
        length: pkt.data.len(),
        truncate: s.truncate,
        generation,
    };
    send_clone(ex, pre, s, phv, &origin);
}

/// Sends a clone to its session's group, then to its port.
fn send_clone(ex: &mut Exec<'_>, pre: &mut Pre, s: CloneSession, mut phv: Saved, o: &Origin<'_>) {
    match (s.group, s.port) {
        (Some(g), Some(port)) => {
            let mut copy = pre.phv();
            copy_phv(&mut copy, &phv);
            multicast(ex, pre, u128::from(g), copy, o, true);
            // As in simple_switch, which sets each replica's id on the
            // packet before copying it: the port's copy goes out with the
            // group's last one.
            let last = pre.groups.get(&g).and_then(|r| r.last());
            if let Some(r) = last {
                set_in(ex.p, &mut phv, ex.p.std.egress_rid, u128::from(r.rid));
            }
            to_port(ex, pre, phv, port, o);
        }
        (Some(g), None) => multicast(ex, pre, u128::from(g), phv, o, true),
        (None, Some(port)) => to_port(ex, pre, phv, port, o),
        (None, None) => pre.spare.push(phv),
    }
}

fn to_port(ex: &mut Exec<'_>, pre: &mut Pre, phv: Saved, port: u32, o: &Origin<'_>) {
    if !pre.admit(o.generation, ex.stats) {
        pre.spare.push(phv);
        return;
    }
    ex.stats.cloned += 1;
    pre.queue.push_back(Job::Egress(EgressJob {
        phv,
        data: o.data.to_vec(),
        cursor: o.cursor,
        port,
        length: o.length,
        recirculate: None,
        cut: None,
        truncate: o.truncate,
        generation: o.generation,
    }));
}

/// One copy per replica of a group, each with its `egress_rid`; a group
/// that is not configured or has no replicas drops the packet. The copies
/// of a clone count as clones, the others as replicas.
fn multicast(
    ex: &mut Exec<'_>,
    pre: &mut Pre,
    group: u128,
    phv: Saved,
    o: &Origin<'_>,
    clone: bool,
) {
    let replicas = u32::try_from(group)
        .ok()
        .and_then(|g| pre.groups.get(&g))
        .filter(|r| !r.is_empty())
        .cloned();
    let Some(replicas) = replicas else {
        ex.stats.dropped_multicast += 1;
        pre.spare.push(phv);
        return;
    };
    pre.queue.push_back(Job::Multicast(MulticastJob {
        packet: EgressJob {
            phv,
            data: o.data.to_vec(),
            cursor: o.cursor,
            port: 0,
            length: o.length,
            recirculate: None,
            cut: None,
            truncate: o.truncate,
            generation: o.generation,
        },
        replicas,
        next: 0,
        clone,
    }));
}

/// Runs egress on the packet in `ex` for port `e.port`, then
/// [`end_of_egress`].
#[inline(always)]
pub(crate) fn egress(
    ex: &mut Exec<'_>,
    pkt: &mut PktState<'_>,
    pre: &mut Pre,
    e: &Egress,
    out: &mut Vec<u8>,
    emit: &mut dyn FnMut(u32, &[u8]),
) {
    let p = ex.p;
    ex.std_set(Std::EgressPort, u128::from(e.port));
    ex.std_set(Std::EgressSpec, 0);
    ex.std_set(Std::PacketLength, pkt.length as u128);
    ex.std_set(Std::EgressGlobalTimestamp, u128::from(pkt.now_us));
    if p.std.queueing {
        queueing(ex, pkt.now_us);
    }
    ex.control(p.egress, pkt);
    end_of_egress(ex, pkt, pre, e, out, emit);
}

/// Sets `queueing_metadata` as a queue that a copy leaves at the time it
/// entered, and that nothing waits in: the switch runs every copy of a
/// packet at the packet's time, one after the other, before the next
/// packet arrives. `qid` is the copy's priority, as in `simple_switch`
/// (which queues a copy of priority `p` in its queue `n - 1 - p` and
/// reports `n - 1` less that).
#[inline(always)]
fn queueing(ex: &mut Exec<'_>, now_us: u64) {
    ex.std_set(Std::EnqTimestamp, u128::from(now_us));
    for &s in &ex.p.std.queue_zeroes {
        ex.std_set(s, 0);
    }
    if ex.p.std.qid.is_some() {
        // A copy's priority is below the number of queues here: the others
        // were dropped before egress.
        let priority = ex.p.std.priority.map_or(0, |f| ex.phv.get(f));
        ex.std_set(Std::Qid, priority);
    }
}

/// Whether the copy's priority (field `f`) is beyond the port's queues;
/// such a copy is counted in [`crate::Stats::dropped_priority`].
#[inline(never)]
fn no_queue(ex: &mut Exec<'_>, pre: &Pre, f: Fid) -> bool {
    let beyond = ex.phv.get(f) > u128::from(pre.max_priority);
    if beyond {
        ex.stats.dropped_priority += 1;
    }
    beyond
}

/// What egress asked for, in `simple_switch`'s order: an egress clone
/// (of the headers as egress left them, with the metadata reset but for
/// the field list), then the drop port, else the deparser and then
/// recirculation or output.
#[inline(always)]
pub(crate) fn end_of_egress(
    ex: &mut Exec<'_>,
    pkt: &mut PktState<'_>,
    pre: &mut Pre,
    e: &Egress,
    out: &mut Vec<u8>,
    emit: &mut dyn FnMut(u32, &[u8]),
) {
    let p = ex.p;
    if let Some((session, list)) = pkt.ops.clone.take() {
        match pre.sessions.get(&u32::from(session)).copied() {
            None => ex.stats.clone_no_session += 1,
            Some(s) => {
                let mut phv = pre.phv();
                ex.phv.copy_to(&mut phv);
                reset_metadata(p, &mut phv);
                for &f in &p.field_lists[list as usize] {
                    set_in(p, &mut phv, Some(f), ex.phv.get(f));
                }
                set_in(
                    p,
                    &mut phv,
                    p.std.instance_type,
                    instance_type::EGRESS_CLONE.into(),
                );
                let origin = Origin {
                    data: pkt.data,
                    cursor: pkt.cursor,
                    length: pkt.length,
                    truncate: s.truncate,
                    generation: e.generation + 1,
                };
                send_clone(ex, pre, s, phv, &origin);
            }
        }
    }
    if ex.std_get(p.std.egress_spec) == u128::from(ex.drop_port) {
        ex.stats.dropped_egress += 1;
        return;
    }
    ex.update_checksums(pkt);
    // `truncate` cuts the packet when it leaves the switch: a recirculated
    // packet goes round whole, as in BMv2.
    let cut = pkt.truncate.take();
    ex.deparse(pkt, out);
    if let Some(list) = pkt.ops.recirculate.take() {
        if pre.admit(e.generation + 1, ex.stats) {
            ex.stats.recirculated += 1;
            pre.queue.push_back(Job::Ingress(IngressJob {
                data: out.clone(),
                keep: preserved(ex, list),
                instance_type: instance_type::RECIRC,
                generation: e.generation + 1,
            }));
        }
        return;
    }
    if let Some(n) = cut {
        out.truncate(n);
    }
    if let Some(n) = e.truncate {
        out.truncate(n as usize);
    }
    ex.stats.sent += 1;
    emit(e.port, out);
}

/// Runs the queued passes, and those they make, to the end.
#[inline]
pub(crate) fn drain(
    ex: &mut Exec<'_>,
    pre: &mut Pre,
    now_us: u64,
    out: &mut Vec<u8>,
    emit: &mut dyn FnMut(u32, &[u8]),
) {
    if !pre.queue.is_empty() {
        drain_queue(ex, pre, now_us, out, emit);
    }
}

#[inline(never)]
fn drain_queue(
    ex: &mut Exec<'_>,
    pre: &mut Pre,
    now_us: u64,
    out: &mut Vec<u8>,
    emit: &mut dyn FnMut(u32, &[u8]),
) {
    while let Some(job) = pre.queue.pop_front() {
        match job {
            Job::Egress(j) => {
                ex.phv.copy_from(&j.phv);
                egress_job(ex, pre, &j, j.port, now_us, out, emit);
                pre.spare.push(j.phv);
            }
            Job::Multicast(mut m) => {
                let r = m.replicas[m.next];
                m.next += 1;
                if pre.admit(m.packet.generation, ex.stats) {
                    if m.clone {
                        ex.stats.cloned += 1;
                    } else {
                        ex.stats.replicated += 1;
                    }
                    ex.phv.copy_from(&m.packet.phv);
                    ex.std_set(Std::EgressRid, u128::from(r.rid));
                    egress_job(ex, pre, &m.packet, r.port, now_us, out, emit);
                }
                if m.next < m.replicas.len() {
                    pre.queue.push_front(Job::Multicast(m));
                } else {
                    pre.spare.push(m.packet.phv);
                }
            }
            Job::Ingress(j) => {
                ex.reset();
                for &(f, v) in &j.keep {
                    ex.set(f, v);
                }
                ex.std_set(Std::InstanceType, j.instance_type.into());
                ex.std_set(Std::PacketLength, j.data.len() as u128);
                let mut pkt = PktState {
                    data: &j.data,
                    cursor: 0,
                    now_us,
                    exit: false,
                    truncate: None,
                    ops: Ops::default(),
                    length: j.data.len(),
                    kept: crate::exec::KeptSums::default(),
                };
                ingress(ex, &mut pkt, pre, j.generation, out, emit);
            }
        }
    }
    pre.made = 0;
}

/// Egress for a queued packet whose header vector is in `ex`. Here a copy
/// is where `simple_switch` queues it for egress: one whose priority has
/// no queue is dropped (a program that can set priorities queues every
/// packet, see [`ingress`]).
fn egress_job(
    ex: &mut Exec<'_>,
    pre: &mut Pre,
    j: &EgressJob,
    port: u32,
    now_us: u64,
    out: &mut Vec<u8>,
    emit: &mut dyn FnMut(u32, &[u8]),
) {
    if let Some(f) = ex.p.std.priority {
        if no_queue(ex, pre, f) {
            return;
        }
    }
    let mut pkt = PktState {
        data: &j.data,
        cursor: j.cursor,
        now_us,
        exit: false,
        truncate: j.cut,
        ops: Ops {
            recirculate: j.recirculate,
            ..Ops::default()
        },
        length: j.length,
        kept: crate::exec::KeptSums::default(),
    };
    let e = Egress {
        port,
        generation: j.generation,
        truncate: j.truncate,
    };
    egress(ex, &mut pkt, pre, &e, out, emit);
}

/// Parser, checksum verification and ingress for a packet whose metadata
/// is set, then what ingress asked for. A packet that only goes to one
/// port runs egress at once; the others are queued, as is every packet
/// of a program that can set `intrinsic_metadata.priority` (its queue is
/// checked in [`egress_job`]), so that a packet of any other program pays
/// one branch for priorities.
#[inline(always)]
pub(crate) fn ingress(
    ex: &mut Exec<'_>,
    pkt: &mut PktState<'_>,
    pre: &mut Pre,
    generation: u32,
    out: &mut Vec<u8>,
    emit: &mut dyn FnMut(u32, &[u8]),
) {
    let p = ex.p;
    if let Some(code) = ex.parse(pkt) {
        ex.stats.parser_errors += 1;
        ex.std_set(Std::ParserError, u128::from(code));
    }
    ex.verify_checksums(pkt);
    ex.control(p.ingress, pkt);
    if pkt.ops.clone.is_some()
        || pkt.ops.resubmit.is_some()
        || ex.std_get(p.std.mcast_grp) != 0
        || p.std.priority.is_some()
    {
        end_of_ingress(ex, pkt, pre, generation);
        return;
    }
    let egress_spec = ex.std_get(p.std.egress_spec);
    if egress_spec == u128::from(ex.drop_port) {
        ex.stats.dropped_ingress += 1;
        return;
    }
    ex.std_set(Std::InstanceType, instance_type::NORMAL.into());
    let e = Egress {
        port: egress_spec as u32,
        generation,
        truncate: None,
    };
    egress(ex, pkt, pre, &e, out, emit);
}
