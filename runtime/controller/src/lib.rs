//! The fairshare controller (DESIGN §3, §8): one per switch, DC side or
//! edge side, over P4Runtime to the switch and RSVP through its CPU port.
//!
//! ```text
//!           policy ─ deploy ─> pipeline, initial rules, Agent
//!                                          │
//!   switch ═ P4Runtime ═ session ─ run ────┤ packet-in ─> agent ─> actions in order:
//!   (gRPC)   (connect, primary,            │   PacketOut (release, forwarded Path, Resv, PathErr)
//!            pipeline by cookie,           │   Write(change) ─ writes ─ guard ─> one WriteRequest
//!            read-back resync)             └ timers (refresh, expiry) and recalculation
//! ```
//!
//! * The decision core, here at the root: the reservation book of each
//!   route (DC d, edge e), kept alike at both ends, and the ordered steps of
//!   admission and teardown ([`Book`], [`Plan`], [`Step`]).
//! * [`agent`]: the RSVP agents of both roles, pure logic — frames and
//!   time in, ordered actions out.
//! * [`session`]: one switch over P4Runtime — primary status, the pipeline
//!   (recognised by its cookie), the model of what the switch should hold
//!   ([`desired`]) and resynchronisation by read-back and difference.
//! * [`writes`]: the agent's changes as updates of the fairshare program by
//!   name, and the account each write is checked against.
//! * [`run`]: session and agent together, with reconnection.
//! * [`deploy`], [`lab`], [`sim`], [`demo`]: a policy compiled in-process,
//!   run on fairshare switches joined by in-process links with simulated
//!   clients and servers (`fairshare demo`, the end-to-end tests).
//!
//! ```text
//! server's Path (flow, r) ─ Book::admit ─> [Release(agg), ShrinkAggregate(agg),
//!                                           InstallFlow(flow, r), ForwardPath(flow)]
//!                                      └─> Refused (PathErr, nothing changes)
//! PathTear (flow)        ─ Book::tear_down ─> [RemoveFlow(flow), GrowAggregate(agg),
//!                                              Refresh(agg)]
//! new share S            ─ Book::reoffer ─> the share offered (never below used)
//! ```
//!
//! Invariants, for every route and after every step of every plan:
//! * `aggregate + Σ flows ≤ offered`: bandwidth is never reserved twice.
//!   [`Plan::check`] replays a plan against the book it came from and
//!   reports the first step that would break it; the steps are ordered so
//!   that shrinking comes before growing (the release and the aggregate
//!   meter shrink before the flow's meter is installed; a torn-down flow's
//!   meter goes before the aggregate grows). On the switch, every write is
//!   checked again against the committed rates of the route's meters
//!   ([`session::Session::write_checked`]) and refused if it would break it.
//! * `aggregate = offered − used` once a plan has run.
//! * Two books fed the same admissions and teardowns, in the same order,
//!   are equal: the tally at the DC end and at the edge end agree.
//!
//! Rates are bits per second, as the policy gives shares.
//!
//! A restarted controller takes over what its switch holds: the session's
//! first read-back gives the agent the `flows` entries and aggregate meter
//! cells it finds ([`agent::Agent::adopt`]), each route's book is rebuilt
//! from them (offered = aggregate + flows, used = flows), and those
//! entries stay in the session's model, so that nothing is written again
//! and the tally is the one before the restart from the first moment. The
//! servers' refreshes then confirm the adopted flows; one that no refresh
//! confirms within [`agent::K`] periods expires like any soft state.

pub mod agent;
pub mod bmv2net;
pub mod demo;
pub mod deploy;
pub mod desired;
pub mod lab;
pub mod run;
pub mod session;
pub mod sim;
pub mod writes;

use std::collections::BTreeMap;
use std::fmt;

/// A flow's identity within its route (the controller derives it from the
/// RSVP session and sender template).
pub type FlowId = u64;

/// One step of a plan, in the order it must happen. Each step that writes
/// to the switch goes in a WriteRequest of its own, acknowledged before
/// the next step starts (P4Runtime does not order updates in one request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send the aggregate's Path with this rate toward the edge, ahead of
    /// the flow's Path (the release).
    Release { aggregate_bps: u64 },
    /// Set the route's aggregate meter to this rate.
    SetAggregateMeter { aggregate_bps: u64 },
    /// Install the flow's entry with its direct meter at this rate.
    InstallFlow { flow: FlowId, rate_bps: u64 },
    /// Forward the server's Path for the flow, behind the release.
    ForwardPath { flow: FlowId },
    /// Remove the flow's entry and meter.
    RemoveFlow { flow: FlowId },
    /// Send the aggregate's Path with this rate (grown back) toward the
    /// edge.
    Refresh { aggregate_bps: u64 },
}

/// Why an admission is refused: the PathErr (admission control failure)
/// the server gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The route has `available` bits per second left, fewer than asked.
    NoRoom { asked: u64, available: u64 },
    /// The flow already holds a reservation on this route.
    Duplicate(FlowId),
    /// A reservation of 0 b/s reserves nothing.
    ZeroRate,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoRoom { asked, available } => write!(
                f,
                "admission refused: {asked} b/s asked, {available} b/s left on the route"
            ),
            Refusal::Duplicate(id) => write!(f, "flow {id} already holds a reservation"),
            Refusal::ZeroRate => write!(f, "a reservation of 0 b/s"),
        }
    }
}

/// The ordered steps of one admission or teardown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
}

/// The reservation book of one route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    offered: u64,
    flows: BTreeMap<FlowId, u64>,
    used: u64,
}

impl Book {
    /// A route offered `share` b/s with nothing used yet.
    pub fn new(share: u64) -> Book {
        Book {
            offered: share,
            ..Book::default()
        }
    }

    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// The sum of the flows' reservations.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// What the aggregate reservation holds: the offer less the flows.
    pub fn aggregate(&self) -> u64 {
        self.offered - self.used
    }

    pub fn flows(&self) -> impl Iterator<Item = (FlowId, u64)> + '_ {
        self.flows.iter().map(|(f, r)| (*f, *r))
    }

    /// Admits `flow` at `rate_bps` if the route has room: the book is
    /// updated and the plan says what to send and write, in order.
    /// Otherwise nothing changes.
    pub fn admit(&mut self, flow: FlowId, rate_bps: u64) -> Result<Plan, Refusal> {
        if rate_bps == 0 {
            return Err(Refusal::ZeroRate);
        }
        if self.flows.contains_key(&flow) {
            return Err(Refusal::Duplicate(flow));
        }
        let available = self.aggregate();
        if rate_bps > available {
            return Err(Refusal::NoRoom {
                asked: rate_bps,
                available,
            });
        }
        self.flows.insert(flow, rate_bps);
        self.used += rate_bps;
        let aggregate_bps = self.aggregate();
        Ok(Plan {
            steps: vec![
                Step::Release { aggregate_bps },
                Step::SetAggregateMeter { aggregate_bps },
                Step::InstallFlow { flow, rate_bps },
                Step::ForwardPath { flow },
            ],
        })
    }

    /// Gives `flow`'s rate back to the aggregate; `None` if the flow holds
    /// nothing here (a repeated or stray teardown changes nothing).
    pub fn tear_down(&mut self, flow: FlowId) -> Option<Plan> {
        let rate = self.flows.remove(&flow)?;
        self.used -= rate;
        let aggregate_bps = self.aggregate();
        Some(Plan {
            steps: vec![
                Step::RemoveFlow { flow },
                Step::SetAggregateMeter { aggregate_bps },
                Step::Refresh { aggregate_bps },
            ],
        })
    }

    /// Offers a recomputed share: never below what the flows use. Returns
    /// the share now offered and, when it changed, the plan: the aggregate
    /// meter is set before the refresh announces the new aggregate, so a
    /// shrinking share is enforced before it is offered.
    pub fn reoffer(&mut self, share: u64) -> (u64, Option<Plan>) {
        let offered = share.max(self.used);
        if offered == self.offered {
            return (offered, None);
        }
        self.offered = offered;
        let aggregate_bps = self.aggregate();
        (
            offered,
            Some(Plan {
                steps: vec![
                    Step::SetAggregateMeter { aggregate_bps },
                    Step::Refresh { aggregate_bps },
                ],
            }),
        )
    }
}

/// What the switch holds for a route while a plan runs: the aggregate
/// meter and the flow meters installed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    pub aggregate_bps: u64,
    pub flows: BTreeMap<FlowId, u64>,
}

impl Configured {
    /// What the switch holds when `book`'s plans have all run.
    pub fn of(book: &Book) -> Configured {
        Configured {
            aggregate_bps: book.aggregate(),
            flows: book.flows.clone(),
        }
    }

    /// Reserved in all: the aggregate and every flow.
    pub fn reserved(&self) -> u64 {
        self.aggregate_bps + self.flows.values().sum::<u64>()
    }
}

impl Plan {
    /// Runs the plan's switch writes on `state` step by step and checks
    /// after each that no more than `offered` is reserved; the index of
    /// the first step that breaks it, with what would be reserved.
    pub fn check(&self, state: &mut Configured, offered: u64) -> Result<(), (usize, u64)> {
        for (i, s) in self.steps.iter().enumerate() {
            match s {
                Step::SetAggregateMeter { aggregate_bps } => state.aggregate_bps = *aggregate_bps,
                Step::InstallFlow { flow, rate_bps } => {
                    state.flows.insert(*flow, *rate_bps);
                }
                Step::RemoveFlow { flow } => {
                    state.flows.remove(flow);
                }
                Step::Release { .. } | Step::ForwardPath { .. } | Step::Refresh { .. } => {}
            }
            let reserved = state.reserved();
            if reserved > offered {
                return Err((i, reserved));
            }
        }
        Ok(())
    }

    /// The position of the first step matching `pred`.
    pub fn position(&self, pred: impl Fn(&Step) -> bool) -> Option<usize> {
        self.steps.iter().position(pred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_releases_ahead_and_forwards_behind() {
        let mut b = Book::new(1_000);
        let before = Configured::of(&b);
        let plan = b.admit(7, 300).expect("room");
        assert_eq!(
            plan.steps,
            vec![
                Step::Release { aggregate_bps: 700 },
                Step::SetAggregateMeter { aggregate_bps: 700 },
                Step::InstallFlow {
                    flow: 7,
                    rate_bps: 300
                },
                Step::ForwardPath { flow: 7 },
            ]
        );
        let mut state = before;
        assert_eq!(plan.check(&mut state, b.offered()), Ok(()));
        assert_eq!(state, Configured::of(&b));
    }

    #[test]
    fn a_flow_that_does_not_fit_changes_nothing() {
        let mut b = Book::new(1_000);
        b.admit(1, 800).expect("room");
        let before = b.clone();
        assert_eq!(
            b.admit(2, 201),
            Err(Refusal::NoRoom {
                asked: 201,
                available: 200
            })
        );
        assert_eq!(b, before);
        assert!(b.admit(2, 200).is_ok(), "exactly the rest fits");
        assert_eq!(b.aggregate(), 0);
    }

    #[test]
    fn the_wrong_order_is_caught() {
        // Installing the flow before the aggregate shrinks would reserve
        // the flow's rate twice.
        let b = Book::new(1_000);
        let wrong = Plan {
            steps: vec![
                Step::InstallFlow {
                    flow: 1,
                    rate_bps: 300,
                },
                Step::SetAggregateMeter { aggregate_bps: 700 },
            ],
        };
        assert_eq!(wrong.check(&mut Configured::of(&b), 1_000), Err((0, 1_300)));
    }

    #[test]
    fn teardown_gives_the_rate_back_after_removing_the_flow() {
        let mut b = Book::new(1_000);
        b.admit(1, 400).expect("room");
        let mut state = Configured::of(&b);
        let plan = b.tear_down(1).expect("held");
        assert_eq!(plan.steps[0], Step::RemoveFlow { flow: 1 });
        assert_eq!(plan.check(&mut state, 1_000), Ok(()));
        assert_eq!(b.aggregate(), 1_000);
        assert_eq!(b.tear_down(1), None, "a repeated teardown changes nothing");
    }

    #[test]
    fn a_share_is_never_cut_below_what_is_used() {
        let mut b = Book::new(1_000);
        b.admit(1, 600).expect("room");
        let (offered, plan) = b.reoffer(500);
        assert_eq!(offered, 600);
        assert_eq!(b.aggregate(), 0);
        assert!(plan.is_some());
        assert_eq!(b.reoffer(600), (600, None));
    }

    #[test]
    fn refusals_say_why() {
        let mut b = Book::new(10);
        assert_eq!(b.admit(1, 0), Err(Refusal::ZeroRate));
        b.admit(1, 5).expect("room");
        assert_eq!(b.admit(1, 1), Err(Refusal::Duplicate(1)));
        assert_eq!(
            b.admit(2, 6).map_err(|r| r.to_string()),
            Err("admission refused: 6 b/s asked, 5 b/s left on the route".to_string())
        );
    }
}
