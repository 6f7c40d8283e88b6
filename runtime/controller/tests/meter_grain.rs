//! Byte-meter values fitted to a target that keeps whole kilobits (Tofino
//! through Stratum), on the metro example's P4Info and rules.

mod common;

use anyhow::{Context, Result};
use common::{metro_pipeline, metro_rules};
use fairshare_controller::writes::{meter_config, FlowKey, MeterGrain, Program};
use fairshare_p4rt::entity;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::{EntityKind, P4InfoIndex};
use std::net::Ipv4Addr;

fn values(c: &p4::MeterConfig) -> [i64; 5] {
    [c.cir, c.cburst, c.pir, c.pburst, c.eburst]
}

#[test]
fn kilobits_round_every_value_down_to_125_bytes_and_bytes_keep_them() {
    for v in [
        0i64,
        1,
        124,
        125,
        126,
        249,
        250,
        999_999,
        1_000_000,
        315_562_613,
    ] {
        let c = entity::meter_config(v, v + 7, v * 2 + 1, v / 3);
        assert_eq!(MeterGrain::Byte.fit(c), c);
        let k = MeterGrain::Kbit.fit(c);
        // Rates (cir, pir) down, bursts (cburst, pburst, eburst) up.
        for (i, (got, was)) in values(&k).into_iter().zip(values(&c)).enumerate() {
            assert_eq!(got % 125, 0, "{got} from {was}");
            if i == 0 || i == 2 {
                assert!(got <= was && was - got < 125, "rate {got} from {was}");
            } else {
                assert!(got >= was && got - was < 125, "burst {got} from {was}");
            }
        }
        assert_eq!(MeterGrain::Kbit.fit(k), k, "fitting twice changes nothing");
    }
}

#[test]
fn the_initial_rules_fit_byte_meters_and_leave_the_packet_meter() -> Result<()> {
    let pipeline = metro_pipeline()?;
    let index = P4InfoIndex::new(pipeline.p4info.clone())?;
    let route = index
        .id(EntityKind::Meter, "Ingress.route_meter")
        .context("route_meter")?;
    let punt = index
        .id(EntityKind::Meter, "Ingress.rsvp_meter")
        .context("rsvp_meter")?;
    let before = metro_rules("dc-east", &pipeline)?;
    let mut after = before.clone();
    MeterGrain::Kbit.fit_updates(&pipeline.p4info, &mut after);
    let meter = |u: &p4::Update| match u.entity.as_ref().and_then(|e| e.entity.as_ref()) {
        Some(p4::entity::Entity::MeterEntry(m)) => Some((m.meter_id, m.config)),
        _ => None,
    };
    let (mut routes, mut punts, mut rounded) = (0, 0, 0);
    for (b, a) in before.iter().zip(&after) {
        match (meter(b), meter(a)) {
            (Some((id, Some(was))), Some((_, Some(got)))) if id == route => {
                routes += 1;
                assert_eq!(got, MeterGrain::Kbit.fit(was));
                rounded += usize::from(got != was);
            }
            (Some((id, was)), Some((_, got))) if id == punt => {
                punts += 1;
                assert_eq!(got, was, "the punt meter counts packets");
            }
            _ => assert_eq!(a, b, "only meters change"),
        }
    }
    assert!(
        routes > 0 && punts == 1,
        "{routes} route cells, {punts} punt"
    );
    assert!(rounded > 0, "the metro shares are not whole kilobits");
    let mut same = before.clone();
    MeterGrain::Byte.fit_updates(&pipeline.p4info, &mut same);
    assert_eq!(same, before);
    Ok(())
}

#[test]
fn the_controllers_writes_follow_the_grain() -> Result<()> {
    let pipeline = metro_pipeline()?;
    let index = P4InfoIndex::new(pipeline.p4info.clone())?;
    let key = FlowKey {
        src: Ipv4Addr::new(10, 1, 0, 11),
        dst: Ipv4Addr::new(198, 51, 100, 7),
        protocol: 6,
        src_port: 80,
        dst_port: 40_000,
    };
    // 250,001 bytes/s.
    let rate = 2_000_008u64;
    let exact = meter_config(rate);
    let flow_meter = |u: p4::Update| match u.entity.and_then(|e| e.entity) {
        Some(p4::entity::Entity::TableEntry(t)) => t.meter_config,
        Some(p4::entity::Entity::MeterEntry(m)) => m.config,
        _ => None,
    };
    let byte = Program::new(index.clone())?;
    let kbit = Program::new(index)?.with_grain(MeterGrain::Kbit);
    assert_eq!(flow_meter(byte.install_flow(&key, 1, rate)?), Some(exact));
    assert_eq!(flow_meter(byte.route_meter(1, rate)?), Some(exact));
    let fitted = MeterGrain::Kbit.fit(exact);
    assert_ne!(fitted, exact, "{exact:?} is already whole kilobits");
    assert_eq!(flow_meter(kbit.install_flow(&key, 1, rate)?), Some(fitted));
    assert_eq!(flow_meter(kbit.route_meter(1, rate)?), Some(fitted));
    Ok(())
}
