//! The packet replication engine's entities: clone sessions and multicast
//! groups, as `simple_switch_grpc` takes and answers them.
//!
//! * Multicast group ids are 1 to [`MAX_GROUP_ID`] (32,767): as in
//!   `simple_switch_grpc`, the upper half of the switch's 16-bit range
//!   belongs to clone sessions. Session ids are 1 to
//!   [`fairshare_switch::pre::MAX_SESSION_ID`]. Id 0 is the read wildcard
//!   and is refused in writes (INVALID_ARGUMENT); an id above the range is
//!   OUT_OF_RANGE.
//! * A clone session with one replica of instance 0 sends to that port. Any
//!   other set of replicas (none, several, or one with an instance) is
//!   backed by a multicast group of the switch with id
//!   `CLONE_GROUP_BASE + session id`, never visible as a
//!   `MulticastGroupEntry`, so that every copy carries its instance as
//!   `egress_rid`. A session without replicas makes no copies.
//! * `packet_length_bytes` is the session's truncation length (0: whole
//!   copies); `simple_switch_grpc` refuses it, the switch core has it.
//!   `class_of_service` other than 0 is UNIMPLEMENTED, as in
//!   `simple_switch_grpc`: the switch has no classes of service to give
//!   copies. A multicast group's `metadata` is UNIMPLEMENTED likewise.
//! * A replica's port is taken in either form (`egress_port`, or `port` as
//!   a byte string of at most 4 bytes) and read back in the form it was
//!   written (as `simple_switch_grpc` does), `port` canonical. The same
//!   (port, instance) twice in one entry is INVALID_ARGUMENT.
//! * Reads answer from the entries as written, kept beside the switch's
//!   configuration (which has no place for the port forms); the two change
//!   together, and a write that the switch refuses changes neither.

use std::collections::BTreeMap;

use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_switch::pre::MAX_SESSION_ID;
use fairshare_switch::{CloneSession, Replica};
use tonic::Code;

use crate::pipeline::{fail, from_switch, value, Fail, Pipeline};

/// The largest multicast group id a controller may use.
pub(crate) const MAX_GROUP_ID: u32 = 0x7fff;
/// Clone session `s` with replicas beyond a single port uses the switch's
/// multicast group `CLONE_GROUP_BASE + s`.
const CLONE_GROUP_BASE: u32 = 0x8000;

/// The entries as written, by id.
#[derive(Debug, Default, Clone)]
pub(crate) struct PreEntries {
    pub sessions: BTreeMap<u32, p4::CloneSessionEntry>,
    pub groups: BTreeMap<u32, p4::MulticastGroupEntry>,
}

/// The switch's replicas for P4Runtime ones, and the replicas with their
/// `port` form made canonical.
fn replicas(list: &[p4::Replica], what: &str) -> Result<(Vec<Replica>, Vec<p4::Replica>), Fail> {
    use p4::replica::PortKind;
    let mut out: Vec<Replica> = Vec::with_capacity(list.len());
    let mut kept = Vec::with_capacity(list.len());
    for r in list {
        let (port, kind) = match &r.port_kind {
            Some(PortKind::EgressPort(p)) => (*p, PortKind::EgressPort(*p)),
            Some(PortKind::Port(bytes)) => {
                let p = value(bytes, 32, &format!("{what}: replica port"))? as u32;
                (
                    p,
                    PortKind::Port(fairshare_p4rt::bytestring::encode_u128(p.into())),
                )
            }
            None => {
                return fail(
                    Code::InvalidArgument,
                    format!("{what}: expected a port in every replica, found a replica without"),
                )
            }
        };
        let replica = Replica {
            port,
            rid: r.instance,
        };
        if out.contains(&replica) {
            return fail(
                Code::InvalidArgument,
                format!(
                    "{what}: replica (port {port}, instance {}) is given twice",
                    r.instance
                ),
            );
        }
        out.push(replica);
        kept.push(p4::Replica {
            instance: r.instance,
            port_kind: Some(kind),
        });
    }
    Ok((out, kept))
}

fn check_id(id: u32, max: u32, what: &str) -> Result<(), Fail> {
    if id == 0 {
        return fail(
            Code::InvalidArgument,
            format!("expected a {what} id from 1 to {max}, found 0 (the read wildcard)"),
        );
    }
    if id > max {
        return fail(
            Code::OutOfRange,
            format!("expected a {what} id from 1 to {max}, found {id}"),
        );
    }
    Ok(())
}

impl Pipeline {
    pub fn write_pre_entry(
        &mut self,
        kind: p4::update::Type,
        entry: &p4::PacketReplicationEngineEntry,
    ) -> Result<(), Fail> {
        use p4::packet_replication_engine_entry::Type as T;
        match &entry.r#type {
            Some(T::CloneSessionEntry(s)) => self.write_clone_session(kind, s),
            Some(T::MulticastGroupEntry(g)) => self.write_multicast_group(kind, g),
            None => fail(
                Code::InvalidArgument,
                "expected a clone session or a multicast group in the replication entry, found neither",
            ),
        }
    }

    fn write_multicast_group(
        &mut self,
        kind: p4::update::Type,
        entry: &p4::MulticastGroupEntry,
    ) -> Result<(), Fail> {
        use p4::update::Type as U;
        let id = entry.multicast_group_id;
        check_id(id, MAX_GROUP_ID, "multicast group")?;
        let what = format!("multicast group {id}");
        let exists = self.pre.groups.contains_key(&id);
        match kind {
            U::Insert | U::Modify => {
                if kind == U::Insert && exists {
                    return fail(Code::AlreadyExists, format!("{what} exists already"));
                }
                if kind == U::Modify && !exists {
                    return fail(Code::NotFound, format!("{what} does not exist"));
                }
                if !entry.metadata.is_empty() {
                    return fail(
                        Code::Unimplemented,
                        format!("{what}: group metadata is not implemented; expected none"),
                    );
                }
                let (copies, kept) = replicas(&entry.replicas, &what)?;
                if kind == U::Insert {
                    self.switch.create_multicast_group(id, copies)
                } else {
                    self.switch.modify_multicast_group(id, copies)
                }
                .map_err(from_switch)?;
                self.pre.groups.insert(
                    id,
                    p4::MulticastGroupEntry {
                        multicast_group_id: id,
                        replicas: kept,
                        metadata: vec![],
                    },
                );
                Ok(())
            }
            U::Delete => {
                if !exists {
                    return fail(Code::NotFound, format!("{what} does not exist"));
                }
                self.switch
                    .delete_multicast_group(id)
                    .map_err(from_switch)?;
                self.pre.groups.remove(&id);
                Ok(())
            }
            U::Unspecified => fail(
                Code::InvalidArgument,
                "expected an update type, found UNSPECIFIED",
            ),
        }
    }

    fn write_clone_session(
        &mut self,
        kind: p4::update::Type,
        entry: &p4::CloneSessionEntry,
    ) -> Result<(), Fail> {
        use p4::update::Type as U;
        let id = entry.session_id;
        check_id(id, MAX_SESSION_ID, "clone session")?;
        let what = format!("clone session {id}");
        let exists = self.pre.sessions.contains_key(&id);
        let group = CLONE_GROUP_BASE + id;
        match kind {
            U::Insert | U::Modify => {
                if kind == U::Insert && exists {
                    return fail(Code::AlreadyExists, format!("{what} exists already"));
                }
                if kind == U::Modify && !exists {
                    return fail(Code::NotFound, format!("{what} does not exist"));
                }
                if entry.class_of_service != 0 {
                    return fail(
                        Code::Unimplemented,
                        format!(
                            "{what}: classes of service are not implemented; expected 0, found {}",
                            entry.class_of_service
                        ),
                    );
                }
                let truncate = match u32::try_from(entry.packet_length_bytes) {
                    Ok(0) => None,
                    Ok(n) => Some(n),
                    Err(_) => {
                        return fail(
                            Code::InvalidArgument,
                            format!(
                                "{what}: expected a packet length >= 0, found {}",
                                entry.packet_length_bytes
                            ),
                        )
                    }
                };
                let (copies, kept) = replicas(&entry.replicas, &what)?;
                let had_group = self.switch.multicast_group(group).ok();
                let session = match copies.as_slice() {
                    [Replica { port, rid: 0 }] => CloneSession {
                        port: Some(*port),
                        group: None,
                        truncate,
                    },
                    _ => {
                        match had_group {
                            Some(_) => self.switch.modify_multicast_group(group, copies),
                            None => self.switch.create_multicast_group(group, copies),
                        }
                        .map_err(|e| {
                            let (code, message) = from_switch(e);
                            (code, format!("{what}: {message}"))
                        })?;
                        CloneSession {
                            port: None,
                            group: Some(group),
                            truncate,
                        }
                    }
                };
                if let Err(e) = self.switch.set_clone_session(id, session) {
                    // Put the backing group back as it was.
                    let _ = match &had_group {
                        Some(old) => self.switch.modify_multicast_group(group, old.clone()),
                        None => self.switch.delete_multicast_group(group),
                    };
                    return Err(from_switch(e));
                }
                if session.group.is_none() && had_group.is_some() {
                    let _ = self.switch.delete_multicast_group(group);
                }
                self.pre.sessions.insert(
                    id,
                    p4::CloneSessionEntry {
                        session_id: id,
                        replicas: kept,
                        class_of_service: 0,
                        packet_length_bytes: entry.packet_length_bytes,
                    },
                );
                Ok(())
            }
            U::Delete => {
                if !exists {
                    return fail(Code::NotFound, format!("{what} does not exist"));
                }
                self.switch.delete_clone_session(id).map_err(from_switch)?;
                let _ = self.switch.delete_multicast_group(group);
                self.pre.sessions.remove(&id);
                Ok(())
            }
            U::Unspecified => fail(
                Code::InvalidArgument,
                "expected an update type, found UNSPECIFIED",
            ),
        }
    }

    /// Replication entries for a read: all clone sessions (or multicast
    /// groups) for id 0, else the one with the id, or NOT_FOUND.
    pub fn read_pre_entries(
        &self,
        request: &p4::PacketReplicationEngineEntry,
        out: &mut Vec<p4::Entity>,
    ) -> Result<(), Fail> {
        use p4::packet_replication_engine_entry::Type as T;
        let entity = |t: T| p4::Entity {
            entity: Some(p4::entity::Entity::PacketReplicationEngineEntry(
                p4::PacketReplicationEngineEntry { r#type: Some(t) },
            )),
        };
        match &request.r#type {
            Some(T::CloneSessionEntry(s)) if s.session_id == 0 => out.extend(
                self.pre
                    .sessions
                    .values()
                    .map(|s| entity(T::CloneSessionEntry(s.clone()))),
            ),
            Some(T::CloneSessionEntry(s)) => match self.pre.sessions.get(&s.session_id) {
                Some(s) => out.push(entity(T::CloneSessionEntry(s.clone()))),
                None => {
                    return fail(
                        Code::NotFound,
                        format!("clone session {} does not exist", s.session_id),
                    )
                }
            },
            Some(T::MulticastGroupEntry(g)) if g.multicast_group_id == 0 => out.extend(
                self.pre
                    .groups
                    .values()
                    .map(|g| entity(T::MulticastGroupEntry(g.clone()))),
            ),
            Some(T::MulticastGroupEntry(g)) => match self.pre.groups.get(&g.multicast_group_id) {
                Some(g) => out.push(entity(T::MulticastGroupEntry(g.clone()))),
                None => {
                    return fail(
                        Code::NotFound,
                        format!("multicast group {} does not exist", g.multicast_group_id),
                    )
                }
            },
            None => {
                return fail(
                    Code::InvalidArgument,
                    "expected a clone session or a multicast group in the replication entry, found neither",
                )
            }
        }
        Ok(())
    }

    /// Writes the replication entries of an earlier pipeline into this one
    /// (RECONCILE_AND_COMMIT); those the new program cannot take (a port
    /// too wide for its `egress_port`) are dropped. Returns how many were
    /// kept and dropped.
    pub fn reconcile_pre(&mut self, old: &PreEntries) -> (usize, usize) {
        use p4::packet_replication_engine_entry::Type as T;
        let (mut kept, mut dropped) = (0, 0);
        let entries = old
            .groups
            .values()
            .map(|g| T::MulticastGroupEntry(g.clone()))
            .chain(
                old.sessions
                    .values()
                    .map(|s| T::CloneSessionEntry(s.clone())),
            );
        for t in entries {
            let e = p4::PacketReplicationEngineEntry { r#type: Some(t) };
            match self.write_pre_entry(p4::update::Type::Insert, &e) {
                Ok(()) => kept += 1,
                Err(_) => dropped += 1,
            }
        }
        (kept, dropped)
    }
}
