//! Properties of the reservation book over random sequences of
//! admissions, teardowns and new shares.

use fairshare_controller::{Book, Configured, Step};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Admit(u64, u64),
    TearDown(u64),
    Reoffer(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..32, 1u64..400).prop_map(|(f, r)| Op::Admit(f, r)),
        2 => (0u64..32).prop_map(Op::TearDown),
        1 => (0u64..3_000).prop_map(Op::Reoffer),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every plan keeps aggregate + flows ≤ offered after every step, the
    /// switch ends as the book says, and the two ends' books agree.
    #[test]
    fn plans_never_over_reserve_and_both_ends_agree(
        share in 0u64..3_000,
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let mut dc = Book::new(share);
        let mut edge = Book::new(share);
        let mut switch = Configured::of(&dc);
        for op in ops {
            let plan = match op {
                Op::Admit(f, r) => {
                    let (a, b) = (dc.admit(f, r), edge.admit(f, r));
                    prop_assert_eq!(a.is_ok(), b.is_ok());
                    a.ok()
                }
                Op::TearDown(f) => {
                    let (a, b) = (dc.tear_down(f), edge.tear_down(f));
                    prop_assert_eq!(a.is_some(), b.is_some());
                    a
                }
                Op::Reoffer(s) => {
                    let (a, b) = (dc.reoffer(s), edge.reoffer(s));
                    prop_assert_eq!(a.0, b.0);
                    prop_assert!(a.0 >= dc.used());
                    a.1
                }
            };
            if let Some(p) = plan {
                prop_assert_eq!(p.check(&mut switch, dc.offered()), Ok(()));
                // The release always leaves ahead of the forwarded Path.
                if let Some(fwd) = p.position(|s| matches!(s, Step::ForwardPath { .. })) {
                    let rel = p.position(|s| matches!(s, Step::Release { .. }));
                    prop_assert!(rel.is_some_and(|r| r < fwd));
                }
            }
            prop_assert_eq!(&switch, &Configured::of(&dc));
            prop_assert_eq!(&dc, &edge);
            prop_assert_eq!(dc.aggregate() + dc.used(), dc.offered());
        }
    }
}
