//! The fairshare pipeline, built as a [`Program`].
//!
//! Every switch of a policy runs this program; only the table contents
//! differ. What varies between programs is captured by [`PipelineParams`]:
//! switches with equal parameters share one program.
//!
//! What a packet goes through in ingress, in order:
//!
//! 1. From the CPU port, a `packet_out` header names the egress port; the
//!    packet leaves there untouched.
//! 2. Parser errors, non-IPv4 frames and bad IPv4 header checksums are dropped.
//! 3. RSVP (IP protocol 46) is punted to the CPU port with a `packet_in`
//!    header, through a packet-rate meter so that a flood of RSVP cannot
//!    swamp the controller (red is dropped).
//! 4. IPv4 with options (other than RSVP) and packets whose TTL would expire
//!    are dropped.
//! 5. `client_edge` finds the subscriber edge of the source, `vip` the
//!    service of the destination, `steer` rewrites a request's destination to
//!    a server (DNAT), `snat` rewrites a server's answer back to the VIP.
//! 6. A reserved flow (`flows`, direct meter) or else its route's share
//!    (`route_class` then the `route_meter` array) gives the packet a colour:
//!    red is dropped, yellow is re-marked to the scavenger class.
//! 7. `ipv4_lpm` picks the port, rewrites the MACs and decrements the TTL;
//!    no route is a drop.
//!
//! Every drop is counted in the `drops` counter, one cell per reason.

use crate::ir::*;
use fairshare_policy::model::Sizes;

/// What distinguishes one fairshare program from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineParams {
    pub cpu_port: u16,
    pub flows: u32,
    pub routes: u32,
    pub steer: u32,
}

impl PipelineParams {
    pub fn new(cpu_port: u16, sizes: &Sizes) -> PipelineParams {
        PipelineParams {
            cpu_port,
            flows: sizes.flows,
            routes: sizes.routes,
            steer: sizes.steer,
        }
    }
}

/// The reasons a packet is dropped, in the order of the `drops` counter's cells.
pub const DROP_REASONS: [(&str, &str); 9] = [
    (
        "DROP_PARSER_ERROR",
        "the parser failed (e.g. a truncated header)",
    ),
    ("DROP_NOT_IPV4", "not an IPv4 packet"),
    ("DROP_BAD_CHECKSUM", "the IPv4 header checksum is wrong"),
    ("DROP_RSVP_FLOOD", "RSVP above the punt meter's rate"),
    (
        "DROP_IP_OPTIONS",
        "IPv4 options on a packet that is not RSVP",
    ),
    ("DROP_TTL_EXPIRED", "the TTL would reach zero"),
    ("DROP_METER_RED", "red from the flow's or the route's meter"),
    ("DROP_NO_ROUTE", "no IPv4 route for the destination"),
    (
        "DROP_BAD_PACKET_OUT",
        "a packet from the CPU port without a packet_out header",
    ),
];

/// The `reason` carried in `packet_in` for punted RSVP.
pub const PUNT_RSVP: u128 = 1;
/// The DSCP yellow packets are re-marked to (CS1, the scavenger class),
/// shifted into the ToS byte.
pub const YELLOW_TOS: u128 = 8 << 2;

/// Well-known positions in the program, for the rules generator.
pub mod names {
    pub const INGRESS: &str = "Ingress";
    pub const T_CLIENT_EDGE: &str = "client_edge";
    pub const T_VIP: &str = "vip";
    pub const T_STEER: &str = "steer";
    pub const T_SNAT: &str = "snat";
    pub const T_FLOWS: &str = "flows";
    pub const T_ROUTE_CLASS: &str = "route_class";
    pub const T_IPV4_LPM: &str = "ipv4_lpm";
    pub const M_ROUTE: &str = "route_meter";
    pub const M_RSVP: &str = "rsvp_meter";
    pub const M_FLOW: &str = "flow_meter";
    pub const C_DROPS: &str = "drops";
}

fn f(name: &str, width: u32, doc: &str) -> FieldDecl {
    FieldDecl {
        name: name.into(),
        width,
        doc: doc.into(),
    }
}

/// Builds the program for the given parameters.
pub fn build(params: &PipelineParams) -> Program {
    let consts = {
        let mut c = vec![
            Const {
                name: "CPU_PORT".into(),
                width: 9,
                value: params.cpu_port.into(),
                doc: "the port that carries packet_in/packet_out to the controller".into(),
                color: None,
            },
            Const {
                name: "COLOR_GREEN".into(),
                width: 2,
                value: 0,
                doc: "meter colours, as BMv2 numbers them".into(),
                color: Some(MeterColor::Green),
            },
            Const {
                name: "COLOR_YELLOW".into(),
                width: 2,
                value: 1,
                doc: String::new(),
                color: Some(MeterColor::Yellow),
            },
            Const {
                name: "COLOR_RED".into(),
                width: 2,
                value: 2,
                doc: String::new(),
                color: Some(MeterColor::Red),
            },
            Const {
                name: "IP_PROTO_RSVP".into(),
                width: 8,
                value: 46,
                doc: "RSVP (RFC 2205)".into(),
                color: None,
            },
            Const {
                name: "PUNT_RSVP".into(),
                width: 7,
                value: PUNT_RSVP,
                doc: "packet_in.reason for punted RSVP".into(),
                color: None,
            },
            Const {
                name: "YELLOW_TOS".into(),
                width: 8,
                value: YELLOW_TOS,
                doc: "DSCP CS1 (scavenger) in the ToS byte, for yellow packets".into(),
                color: None,
            },
        ];
        for (i, (name, doc)) in DROP_REASONS.iter().enumerate() {
            c.push(Const {
                name: (*name).into(),
                width: 32,
                value: i as u128,
                doc: (*doc).into(),
                color: None,
            });
        }
        c
    };
    let cidx = |name: &str| {
        consts
            .iter()
            .position(|c| c.name == name)
            .map(Expr::Const)
            .unwrap_or(Expr::Bool(false))
    };

    let header_types = vec![
        HeaderType {
            name: "packet_out_t".into(),
            fields: vec![
                f(
                    "egress_port",
                    9,
                    "the port the controller sends the packet out of",
                ),
                f("_pad", 7, ""),
            ],
            controller_header: Some("packet_out".into()),
            doc: "Prepended by the controller to packets it sends through the CPU port.".into(),
        },
        HeaderType {
            name: "packet_in_t".into(),
            fields: vec![
                f("ingress_port", 9, "the port the packet came in on"),
                f("reason", 7, "why it was punted (PUNT_RSVP)"),
            ],
            controller_header: Some("packet_in".into()),
            doc: "Prepended to packets punted to the controller.".into(),
        },
        HeaderType {
            name: "ethernet_t".into(),
            fields: vec![
                f("dst_addr", 48, ""),
                f("src_addr", 48, ""),
                f("ether_type", 16, ""),
            ],
            controller_header: None,
            doc: String::new(),
        },
        HeaderType {
            name: "ipv4_t".into(),
            fields: vec![
                f("version", 4, ""),
                f("ihl", 4, ""),
                f("diffserv", 8, "DSCP and ECN"),
                f("total_len", 16, ""),
                f("identification", 16, ""),
                f("flags", 3, ""),
                f("frag_offset", 13, ""),
                f("ttl", 8, ""),
                f("protocol", 8, ""),
                f("hdr_checksum", 16, ""),
                f("src_addr", 32, ""),
                f("dst_addr", 32, ""),
            ],
            controller_header: None,
            doc: "IPv4 without options; packets with options are RSVP (punted whole) or dropped."
                .into(),
        },
        HeaderType {
            name: "tcp_t".into(),
            fields: vec![
                f("src_port", 16, ""),
                f("dst_port", 16, ""),
                f("seq_no", 32, ""),
                f("ack_no", 32, ""),
                f("data_offset", 4, ""),
                f("res", 4, ""),
                f("flags", 8, ""),
                f("window", 16, ""),
                f("checksum", 16, ""),
                f("urgent_ptr", 16, ""),
            ],
            controller_header: None,
            doc: "TCP; options, if any, are left in the payload.".into(),
        },
        HeaderType {
            name: "udp_t".into(),
            fields: vec![
                f("src_port", 16, ""),
                f("dst_port", 16, ""),
                f("length", 16, ""),
                f("checksum", 16, ""),
            ],
            controller_header: None,
            doc: String::new(),
        },
    ];
    let headers: Vec<Header> = ["packet_out", "packet_in", "ethernet", "ipv4", "tcp", "udp"]
        .iter()
        .enumerate()
        .map(|(ty, name)| Header {
            name: (*name).into(),
            ty,
        })
        .collect();
    let (h_out, h_in, h_eth, h_ip, h_tcp, h_udp) = (
        HeaderId(0),
        HeaderId(1),
        HeaderId(2),
        HeaderId(3),
        HeaderId(4),
        HeaderId(5),
    );
    let fld = |h: HeaderId, name: &str| -> FieldRef {
        let i = header_types[headers[h.0].ty]
            .fields
            .iter()
            .position(|f| f.name == name)
            .unwrap_or(usize::MAX);
        FieldRef::Hdr(h, i)
    };

    let meta = vec![
        f("color", 2, "the packet's meter colour (COLOR_*)"),
        f(
            "route",
            32,
            "the route (DC, edge) the packet belongs to: a cell of route_meter",
        ),
        f(
            "route_valid",
            1,
            "whether route_class or flows set meta.route",
        ),
        f(
            "edge",
            16,
            "the subscriber edge of the source address (0: none)",
        ),
        f(
            "service",
            16,
            "the service of the destination VIP (0: none)",
        ),
        f("l4_src", 16, "TCP/UDP source port (0 if neither)"),
        f("l4_dst", 16, "TCP/UDP destination port (0 if neither)"),
        f(
            "l4_len",
            16,
            "TCP/UDP length, for the pseudo-header checksum",
        ),
        f(
            "nat",
            1,
            "addresses were rewritten: the TCP/UDP checksum needs updating",
        ),
    ];
    let m = |name: &str| {
        FieldRef::Meta(
            meta.iter()
                .position(|f| f.name == name)
                .unwrap_or(usize::MAX),
        )
    };

    let parser = vec![
        ParserState {
            name: "start".into(),
            extracts: vec![],
            sets: vec![],
            select: vec![FieldRef::Std(StdField::IngressPort)],
            cases: vec![(
                vec![params.cpu_port.into()],
                Next::State("parse_packet_out".into()),
            )],
            default: Next::State("parse_ethernet".into()),
        },
        ParserState {
            name: "parse_packet_out".into(),
            extracts: vec![h_out],
            sets: vec![],
            select: vec![],
            cases: vec![],
            default: Next::State("parse_ethernet".into()),
        },
        ParserState {
            name: "parse_ethernet".into(),
            extracts: vec![h_eth],
            sets: vec![],
            select: vec![fld(h_eth, "ether_type")],
            cases: vec![(vec![0x0800], Next::State("parse_ipv4".into()))],
            default: Next::Accept,
        },
        ParserState {
            name: "parse_ipv4".into(),
            extracts: vec![h_ip],
            sets: vec![],
            select: vec![
                fld(h_ip, "ihl"),
                fld(h_ip, "frag_offset"),
                fld(h_ip, "protocol"),
            ],
            cases: vec![
                (vec![5, 0, 6], Next::State("parse_tcp".into())),
                (vec![5, 0, 17], Next::State("parse_udp".into())),
            ],
            default: Next::Accept,
        },
        ParserState {
            name: "parse_tcp".into(),
            extracts: vec![h_tcp],
            sets: vec![
                (m("l4_src"), Expr::field(fld(h_tcp, "src_port"))),
                (m("l4_dst"), Expr::field(fld(h_tcp, "dst_port"))),
            ],
            select: vec![],
            cases: vec![],
            default: Next::Accept,
        },
        ParserState {
            name: "parse_udp".into(),
            extracts: vec![h_udp],
            sets: vec![
                (m("l4_src"), Expr::field(fld(h_udp, "src_port"))),
                (m("l4_dst"), Expr::field(fld(h_udp, "dst_port"))),
            ],
            select: vec![],
            cases: vec![],
            default: Next::Accept,
        },
    ];

    let ipv4_plain = Expr::bin(
        BinOp::And,
        Expr::Valid(h_ip),
        Expr::eq(Expr::field(fld(h_ip, "ihl")), Expr::int(5, 4)),
    );
    let ipv4_sum_fields: Vec<ChecksumInput> = [
        "version",
        "ihl",
        "diffserv",
        "total_len",
        "identification",
        "flags",
        "frag_offset",
        "ttl",
        "protocol",
        "src_addr",
        "dst_addr",
    ]
    .iter()
    .map(|n| ChecksumInput::Field(fld(h_ip, n)))
    .collect();
    let pseudo = |h: HeaderId, fields: &[&str]| -> Vec<ChecksumInput> {
        let mut v = vec![
            ChecksumInput::Field(fld(h_ip, "src_addr")),
            ChecksumInput::Field(fld(h_ip, "dst_addr")),
            ChecksumInput::Int { value: 0, width: 8 },
            ChecksumInput::Field(fld(h_ip, "protocol")),
            ChecksumInput::Field(m("l4_len")),
        ];
        v.extend(fields.iter().map(|n| ChecksumInput::Field(fld(h, n))));
        v
    };
    let nat_set = Expr::eq(Expr::field(m("nat")), Expr::int(1, 1));
    let checksums = vec![
        Checksum {
            name: "ipv4_verify".into(),
            verify: true,
            cond: ipv4_plain.clone(),
            inputs: ipv4_sum_fields.clone(),
            with_payload: false,
            target: fld(h_ip, "hdr_checksum"),
        },
        Checksum {
            name: "ipv4_update".into(),
            verify: false,
            cond: ipv4_plain.clone(),
            inputs: ipv4_sum_fields,
            with_payload: false,
            target: fld(h_ip, "hdr_checksum"),
        },
        Checksum {
            name: "tcp_update".into(),
            verify: false,
            cond: Expr::bin(BinOp::And, Expr::Valid(h_tcp), nat_set.clone()),
            inputs: pseudo(
                h_tcp,
                &[
                    "src_port",
                    "dst_port",
                    "seq_no",
                    "ack_no",
                    "data_offset",
                    "res",
                    "flags",
                    "window",
                    "urgent_ptr",
                ],
            ),
            with_payload: true,
            target: fld(h_tcp, "checksum"),
        },
        Checksum {
            name: "udp_update".into(),
            verify: false,
            cond: Expr::bin(
                BinOp::And,
                Expr::bin(BinOp::And, Expr::Valid(h_udp), nat_set),
                Expr::bin(
                    BinOp::Ne,
                    Expr::field(fld(h_udp, "checksum")),
                    Expr::int(0, 16),
                ),
            ),
            inputs: pseudo(h_udp, &["src_port", "dst_port", "length"]),
            with_payload: true,
            target: fld(h_udp, "checksum"),
        },
    ];

    let (m_rsvp, m_route, m_flow) = (MeterId(0), MeterId(1), MeterId(2));
    let c_drops = CounterId(0);
    let meters = vec![
        Meter {
            name: names::M_RSVP.into(),
            unit: MeterUnit::Packets,
            size: 1,
            direct: None,
            doc: "Rate limit of RSVP punted to the controller.".into(),
        },
        Meter {
            name: names::M_ROUTE.into(),
            unit: MeterUnit::Bytes,
            size: params.routes,
            direct: None,
            doc: "One cell per route (DC, edge): the unreserved remainder of its fair share."
                .into(),
        },
        Meter {
            name: names::M_FLOW.into(),
            unit: MeterUnit::Bytes,
            size: params.flows,
            direct: None, // bound below, once the table id is known
            doc: "The reservation of each reserved flow.".into(),
        },
    ];
    let counters = vec![Counter {
        name: names::C_DROPS.into(),
        size: DROP_REASONS.len() as u32,
        cells: DROP_REASONS
            .iter()
            .map(|(n, d)| ((*n).to_string(), (*d).to_string()))
            .collect(),
        doc: "Dropped packets, one cell per reason (DROP_*).".into(),
    }];

    let p = |i: usize| Expr::Param(i);
    let actions = vec![
        Action {
            name: "NoAction".into(),
            params: vec![],
            body: vec![],
            doc: String::new(),
        },
        Action {
            name: "drop_packet".into(),
            params: vec![f("reason", 32, "a DROP_* cell of the drops counter")],
            body: vec![
                Prim::MarkToDrop,
                Prim::Count {
                    counter: c_drops,
                    index: p(0),
                },
            ],
            doc: "Drops the packet and counts why.".into(),
        },
        Action {
            name: "from_cpu".into(),
            params: vec![],
            body: vec![
                Prim::Assign(
                    FieldRef::Std(StdField::EgressSpec),
                    Expr::field(fld(h_out, "egress_port")),
                ),
                Prim::SetInvalid(h_out),
            ],
            doc: "Sends a packet from the controller out of the port its packet_out header names."
                .into(),
        },
        Action {
            name: "send_to_cpu".into(),
            params: vec![],
            body: vec![
                Prim::Assign(FieldRef::Std(StdField::EgressSpec), cidx("CPU_PORT")),
                Prim::SetValid(h_in),
                Prim::Assign(
                    fld(h_in, "ingress_port"),
                    Expr::field(FieldRef::Std(StdField::IngressPort)),
                ),
                Prim::Assign(fld(h_in, "reason"), cidx("PUNT_RSVP")),
            ],
            doc: "Punts the packet to the controller with a packet_in header.".into(),
        },
        Action {
            name: "set_edge".into(),
            params: vec![f("edge", 16, "")],
            body: vec![Prim::Assign(m("edge"), p(0))],
            doc: "Records the subscriber edge of the source address.".into(),
        },
        Action {
            name: "set_service".into(),
            params: vec![f("service", 16, "")],
            body: vec![Prim::Assign(m("service"), p(0))],
            doc: "Records the service of the destination VIP.".into(),
        },
        Action {
            name: "dnat".into(),
            params: vec![f("server", 32, "the server's address")],
            body: vec![
                Prim::Assign(fld(h_ip, "dst_addr"), p(0)),
                Prim::Assign(m("nat"), Expr::int(1, 1)),
            ],
            doc: "Steers a request to a server: rewrites the destination.".into(),
        },
        Action {
            name: "snat_to_vip".into(),
            params: vec![f("vip", 32, "the service's address")],
            body: vec![
                Prim::Assign(fld(h_ip, "src_addr"), p(0)),
                Prim::Assign(m("nat"), Expr::int(1, 1)),
            ],
            doc: "Rewrites a server's answer so that it comes from the VIP.".into(),
        },
        Action {
            name: "reserved_flow".into(),
            params: vec![f(
                "route",
                32,
                "the route the flow's reservation was carved from",
            )],
            body: vec![
                Prim::Assign(m("route"), p(0)),
                Prim::Assign(m("route_valid"), Expr::int(1, 1)),
                Prim::ReadDirectMeter {
                    meter: m_flow,
                    dst: m("color"),
                },
            ],
            doc: "A flow with its own reservation: its direct meter colours it.".into(),
        },
        Action {
            name: "set_route".into(),
            params: vec![f("route", 32, "a cell of route_meter")],
            body: vec![
                Prim::Assign(m("route"), p(0)),
                Prim::Assign(m("route_valid"), Expr::int(1, 1)),
            ],
            doc: "Classifies the packet into a route (DC, edge).".into(),
        },
        Action {
            name: "forward".into(),
            params: vec![
                f("port", 9, "the egress port"),
                f("src_mac", 48, "this switch's MAC on that port"),
                f("dst_mac", 48, "the next hop's MAC"),
            ],
            body: vec![
                Prim::Assign(FieldRef::Std(StdField::EgressSpec), p(0)),
                Prim::Assign(fld(h_eth, "src_addr"), p(1)),
                Prim::Assign(fld(h_eth, "dst_addr"), p(2)),
                Prim::Assign(
                    fld(h_ip, "ttl"),
                    Expr::bin(BinOp::Sub, Expr::field(fld(h_ip, "ttl")), Expr::int(1, 8)),
                ),
            ],
            doc: "Routes the packet: port, MACs, TTL.".into(),
        },
        Action {
            name: "no_route".into(),
            params: vec![],
            body: vec![
                Prim::MarkToDrop,
                Prim::Count {
                    counter: c_drops,
                    index: cidx("DROP_NO_ROUTE"),
                },
            ],
            doc: "Drops a packet no route matches.".into(),
        },
        Action {
            name: "remark_yellow".into(),
            params: vec![],
            body: vec![Prim::Assign(
                fld(h_ip, "diffserv"),
                Expr::bin(
                    BinOp::Add,
                    Expr::bin(
                        BinOp::BitAnd,
                        Expr::field(fld(h_ip, "diffserv")),
                        Expr::int(3, 8),
                    ),
                    cidx("YELLOW_TOS"),
                ),
            )],
            doc: "Re-marks a yellow packet to the scavenger class, keeping its ECN bits.".into(),
        },
    ];
    let a = |name: &str| {
        ActionId(
            actions
                .iter()
                .position(|a| a.name == name)
                .unwrap_or(usize::MAX),
        )
    };
    let no_action = a("NoAction");
    let key = |field: FieldRef, kind: MatchKind| Key { field, kind };

    let tables = vec![
        Table {
            name: names::T_CLIENT_EDGE.into(),
            keys: vec![key(fld(h_ip, "src_addr"), MatchKind::Lpm)],
            actions: vec![a("set_edge"), no_action],
            default_action: (no_action, vec![]),
            default_const: false,
            size: params.routes,
            direct_meter: None,
            doc: "Client prefix → subscriber edge.".into(),
        },
        Table {
            name: names::T_VIP.into(),
            keys: vec![
                key(fld(h_ip, "dst_addr"), MatchKind::Exact),
                key(fld(h_ip, "protocol"), MatchKind::Exact),
                key(m("l4_dst"), MatchKind::Exact),
            ],
            actions: vec![a("set_service"), no_action],
            default_action: (no_action, vec![]),
            default_const: false,
            size: params.steer,
            direct_meter: None,
            doc: "Service VIPs: (address, protocol, port) → service.".into(),
        },
        Table {
            name: names::T_STEER.into(),
            keys: vec![key(m("service"), MatchKind::Exact), key(m("edge"), MatchKind::Ternary)],
            actions: vec![a("dnat"), no_action],
            default_action: (no_action, vec![]),
            default_const: false,
            size: params.steer,
            direct_meter: None,
            doc: "(service, edge) → a server with share left for that edge: one entry per service for any edge, and entries for single edges above it as the controller moves them.".into(),
        },
        Table {
            name: names::T_SNAT.into(),
            keys: vec![
                key(fld(h_ip, "src_addr"), MatchKind::Exact),
                key(fld(h_ip, "protocol"), MatchKind::Exact),
                key(m("l4_src"), MatchKind::Exact),
            ],
            actions: vec![a("snat_to_vip"), no_action],
            default_action: (no_action, vec![]),
            default_const: false,
            size: params.steer,
            direct_meter: None,
            doc: "A server's answers on a service port leave from the VIP.".into(),
        },
        Table {
            name: names::T_FLOWS.into(),
            keys: vec![
                key(fld(h_ip, "src_addr"), MatchKind::Exact),
                key(fld(h_ip, "dst_addr"), MatchKind::Exact),
                key(fld(h_ip, "protocol"), MatchKind::Exact),
                key(m("l4_src"), MatchKind::Exact),
                key(m("l4_dst"), MatchKind::Exact),
            ],
            actions: vec![a("reserved_flow"), no_action],
            default_action: (no_action, vec![]),
            default_const: true,
            size: params.flows,
            direct_meter: Some(m_flow),
            doc: "Reserved flows (after NAT), each metered at its own reservation.".into(),
        },
        Table {
            name: names::T_ROUTE_CLASS.into(),
            keys: vec![
                key(fld(h_ip, "src_addr"), MatchKind::Ternary),
                key(fld(h_ip, "dst_addr"), MatchKind::Ternary),
            ],
            actions: vec![a("set_route"), no_action],
            default_action: (no_action, vec![]),
            default_const: false,
            size: params.routes,
            direct_meter: None,
            doc: "Traffic that is not a reserved flow → its route, metered against the route's share.".into(),
        },
        Table {
            name: names::T_IPV4_LPM.into(),
            keys: vec![key(fld(h_ip, "dst_addr"), MatchKind::Lpm)],
            actions: vec![a("forward"), a("no_route")],
            default_action: (a("no_route"), vec![]),
            default_const: true,
            size: params.routes,
            direct_meter: None,
            doc: "IPv4 forwarding.".into(),
        },
    ];
    let t = |name: &str| {
        TableId(
            tables
                .iter()
                .position(|t| t.name == name)
                .unwrap_or(usize::MAX),
        )
    };
    let t_flows = t(names::T_FLOWS);
    let mut meters = meters;
    meters[m_flow.0].direct = Some(t_flows);

    let drop = |reason: &str| Stmt::Call {
        action: a("drop_packet"),
        args: vec![consts
            .iter()
            .find(|c| c.name == reason)
            .map(|c| c.value)
            .unwrap_or(0)],
    };
    let color_is = |c: &str| Expr::eq(Expr::field(m("color")), cidx(c));
    let ifelse = |cond: Expr, then: Block, els: Block| Stmt::If { cond, then, els };

    let forwarding: Block = vec![
        Stmt::Apply(t(names::T_CLIENT_EDGE)),
        Stmt::Apply(t(names::T_VIP)),
        Stmt::Apply(t(names::T_STEER)),
        Stmt::Apply(t(names::T_SNAT)),
        Stmt::Do(vec![Prim::Assign(
            m("l4_len"),
            Expr::bin(
                BinOp::Sub,
                Expr::field(fld(h_ip, "total_len")),
                Expr::int(20, 16),
            ),
        )]),
        Stmt::ApplyHit {
            table: t_flows,
            hit: vec![],
            miss: vec![
                Stmt::Apply(t(names::T_ROUTE_CLASS)),
                ifelse(
                    Expr::eq(Expr::field(m("route_valid")), Expr::int(1, 1)),
                    vec![Stmt::Do(vec![Prim::ExecuteMeter {
                        meter: m_route,
                        index: Expr::field(m("route")),
                        dst: m("color"),
                    }])],
                    vec![],
                ),
            ],
        },
        ifelse(
            color_is("COLOR_RED"),
            vec![drop("DROP_METER_RED")],
            vec![
                ifelse(
                    color_is("COLOR_YELLOW"),
                    vec![Stmt::Call {
                        action: a("remark_yellow"),
                        args: vec![],
                    }],
                    vec![],
                ),
                Stmt::Apply(t(names::T_IPV4_LPM)),
            ],
        ),
    ];

    let rsvp: Block = vec![
        Stmt::Do(vec![Prim::ExecuteMeter {
            meter: m_rsvp,
            index: Expr::int(0, 32),
            dst: m("color"),
        }]),
        ifelse(
            color_is("COLOR_RED"),
            vec![drop("DROP_RSVP_FLOOD")],
            vec![Stmt::Call {
                action: a("send_to_cpu"),
                args: vec![],
            }],
        ),
    ];

    let ingress: Block = vec![ifelse(
        Expr::Valid(h_out),
        vec![Stmt::Call {
            action: a("from_cpu"),
            args: vec![],
        }],
        vec![ifelse(
            Expr::eq(
                Expr::field(FieldRef::Std(StdField::IngressPort)),
                cidx("CPU_PORT"),
            ),
            vec![drop("DROP_BAD_PACKET_OUT")],
            vec![ifelse(
                Expr::bin(
                    BinOp::Ne,
                    Expr::field(FieldRef::Std(StdField::ParserError)),
                    Expr::Error(ParserErrorCode::NoError),
                ),
                vec![drop("DROP_PARSER_ERROR")],
                vec![ifelse(
                    Expr::not(Expr::Valid(h_ip)),
                    vec![drop("DROP_NOT_IPV4")],
                    vec![ifelse(
                        Expr::eq(
                            Expr::field(FieldRef::Std(StdField::ChecksumError)),
                            Expr::int(1, 1),
                        ),
                        vec![drop("DROP_BAD_CHECKSUM")],
                        vec![ifelse(
                            Expr::eq(Expr::field(fld(h_ip, "protocol")), cidx("IP_PROTO_RSVP")),
                            rsvp,
                            vec![ifelse(
                                Expr::bin(
                                    BinOp::Ne,
                                    Expr::field(fld(h_ip, "ihl")),
                                    Expr::int(5, 4),
                                ),
                                vec![drop("DROP_IP_OPTIONS")],
                                vec![ifelse(
                                    Expr::bin(
                                        BinOp::Le,
                                        Expr::field(fld(h_ip, "ttl")),
                                        Expr::int(1, 8),
                                    ),
                                    vec![drop("DROP_TTL_EXPIRED")],
                                    forwarding,
                                )],
                            )],
                        )],
                    )],
                )],
            )],
        )],
    )];

    Program {
        consts,
        header_types,
        headers,
        meta,
        parser,
        deparser: vec![h_in, h_eth, h_ip, h_tcp, h_udp],
        checksums,
        actions,
        tables,
        meters,
        counters,
        ingress,
        egress: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_consistent() {
        let sizes = Sizes {
            flows: 4096,
            routes: 1024,
            steer: 1024,
        };
        let prog = build(&PipelineParams::new(255, &sizes));
        prog.validate().expect("the fairshare program validates");
        assert_eq!(prog.meters[1].size, 1024);
        assert_eq!(
            prog.tables[prog.table_id("flows").expect("flows table").0].size,
            4096
        );
    }
}
