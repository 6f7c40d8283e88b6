//! The example policies load cleanly and mean what their text says.

use std::net::Ipv4Addr;

use fairshare_policy::model::{Algorithm, NodeRef, Prefix, Protocol, Target};

fn load(name: &str) -> fairshare_policy::model::Policy {
    let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match fairshare_policy::load(&src) {
        Ok((_, policy)) => policy,
        Err(d) => panic!("{}", fairshare_policy::render(&d, name, &src)),
    }
}

#[test]
fn metro_settings() {
    let p = load("metro.fsp");
    assert_eq!(p.name, "metro");
    assert_eq!(p.algorithm, Algorithm::WeightedMaxMin);
    assert_eq!(p.recalc, 5_000_000);
    assert_eq!(
        (
            p.weights.subscribers,
            p.weights.distance,
            p.weights.response
        ),
        (1.0, 0.5, 0.3)
    );
    assert_eq!(
        (p.sizes.flows, p.sizes.routes, p.sizes.steer),
        (4096, 1024, 1024)
    );
}

#[test]
fn metro_datacenters() {
    let p = load("metro.fsp");
    let names: Vec<&str> = p.datacenters.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["east", "west"]);
    assert_eq!(
        p.datacenters.iter().map(|d| d.servers.len()).sum::<usize>(),
        5
    );

    let east = &p.datacenters[0];
    assert_eq!(east.uplink, 40_000_000_000);
    assert_eq!(east.switch.name, "dc-east");
    assert_eq!(east.switch.uplink_port, 10);
    assert_eq!(east.switch.cpu_port, 255);
    assert_eq!(east.switch.device_id, 1);
    assert_eq!(east.switch.target, Target::Bmv2);
    assert_eq!(east.servers[0].address, Ipv4Addr::new(10, 1, 0, 11));
    assert_eq!(east.servers[0].response, 2_000);
    assert_eq!(east.servers[0].load_ppm, 200_000);
    assert_eq!(east.servers[1].load_ppm, 0);
    assert_eq!(east.fixed.len(), 2);
    assert_eq!(east.fixed[1].purpose, "management");
    assert_eq!(east.fixed[1].rate, 500_000_000);
    // The comment in metro.fsp works this out: 15.5Gbps.
    assert_eq!(east.available(), Some(15_500_000_000));

    let west = &p.datacenters[1];
    // uplink-port defaults to 1 + the largest server port.
    assert_eq!(west.switch.uplink_port, 4);
    assert_eq!(west.servers[2].capacity, 2_500_000_000);
    assert_eq!(west.servers[2].load_ppm, 125_000);
    assert_eq!(west.servers[2].response, 4_000);
}

#[test]
fn metro_edges() {
    let p = load("metro.fsp");
    assert_eq!(p.edges.len(), 4);
    let north = &p.edges[0];
    assert_eq!(north.name, "north");
    assert_eq!(
        north.clients,
        [
            Prefix {
                addr: Ipv4Addr::new(198, 51, 100, 0),
                len: 25
            },
            Prefix {
                addr: Ipv4Addr::new(192, 0, 2, 0),
                len: 26
            },
        ]
    );
    assert_eq!(north.subscribers, 1200);
    assert_eq!(north.demand, Some(5_000_000_000));
    assert_eq!((north.client_port, north.switch.uplink_port), (1, 2));
    assert_eq!(p.edges[1].demand, None);
    let harbor = &p.edges[2];
    assert_eq!(
        (
            harbor.client_port,
            harbor.switch.uplink_port,
            harbor.switch.cpu_port
        ),
        (5, 3, 64)
    );
    assert_eq!(p.switches().count(), 6);
}

#[test]
fn metro_topology_and_services() {
    let p = load("metro.fsp");
    assert_eq!(p.routers, ["core1", "core2"]);
    assert_eq!(p.links.len(), 7);
    let first = &p.links[0];
    assert_eq!(
        (&first.a, &first.b),
        (&NodeRef::Edge(0), &NodeRef::Router(0))
    );
    assert_eq!(p.node_name(&first.a), "north");
    assert_eq!(first.capacity, 20_000_000_000);
    assert_eq!(first.distance, 4_000);
    let last = &p.links[6];
    assert_eq!(
        (&last.a, &last.b),
        (&NodeRef::Router(1), &NodeRef::Datacenter(1))
    );
    assert_eq!(last.distance, 1_500);

    assert_eq!(p.services.len(), 2);
    let www = &p.services[0];
    assert_eq!(
        (www.vip, www.protocol, www.port),
        (Ipv4Addr::new(203, 0, 113, 10), Protocol::Tcp, 80)
    );
    assert_eq!(www.at, [0, 1]);
    assert_eq!(www.flow_rate, 20_000_000);
    let video = &p.services[1];
    assert_eq!(
        (video.protocol, video.port, video.at.as_slice()),
        (Protocol::Udp, 5004, &[1][..])
    );
}

#[test]
fn single_uses_the_defaults() {
    let p = load("single.fsp");
    assert_eq!(p.algorithm, Algorithm::WeightedMaxMin);
    assert_eq!(p.recalc, 5_000_000);
    assert_eq!(
        (
            p.weights.subscribers,
            p.weights.distance,
            p.weights.response
        ),
        (1.0, 0.0, 0.0)
    );
    assert_eq!(
        (p.sizes.flows, p.sizes.routes, p.sizes.steer),
        (4096, 1024, 1024)
    );
    assert_eq!(p.datacenters.len(), 1);
    assert_eq!(p.datacenters[0].servers.len(), 2);
    assert_eq!(p.datacenters[0].switch.uplink_port, 3);
    assert_eq!(p.edges[0].client_port, 1);
    assert_eq!(p.edges[0].switch.uplink_port, 2);
    assert!(p.routers.is_empty());
    assert_eq!(p.links.len(), 1);
    assert_eq!(p.services[0].at, [0]);
}

#[test]
fn the_ast_keeps_spans_that_point_at_the_source() {
    let path = format!("{}/../../examples/metro.fsp", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(path).expect("metro.fsp is readable");
    let file = fairshare_policy::parse(&src)
        .unwrap_or_else(|d| panic!("{}", fairshare_policy::render(&d, "metro.fsp", &src)));
    let name = &file.network.name;
    assert_eq!(&src[name.span.start..name.span.end], "\"metro\"");
    let links: Vec<&fairshare_policy::ast::Link> = file
        .network
        .items
        .iter()
        .filter_map(|i| match &i.kind {
            fairshare_policy::ast::NetItem::Link(l) => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(&src[links[0].a.span.start..links[0].a.span.end], "north");
    assert!(src[links[0].span.start..links[0].span.end].starts_with("link north"));
    // The Debug form is what `--emit ast` prints; spans show as ranges.
    let debug = format!("{file:#?}");
    assert!(debug.contains(&format!(
        "\"north\" @ {}..{}",
        links[0].a.span.start, links[0].a.span.end
    )));
}
