//! The TNA rendering of the fairshare program: the same names as the
//! v1model program, TNA's constructs where the architectures differ, and
//! refusal of what TNA cannot express.

use fairshare_codegen::ir::*;
use fairshare_codegen::pipeline::{build, PipelineParams};
use fairshare_codegen::{p4, tna, CodegenError};
use fairshare_policy::model::Sizes;

fn program() -> Program {
    build(&PipelineParams::new(
        320,
        &Sizes {
            flows: 4096,
            routes: 1024,
            steer: 1024,
        },
    ))
}

/// The lines of the block that starts with the line `head` (trimmed),
/// up to its closing brace.
fn block<'a>(text: &'a str, head: &str) -> Vec<&'a str> {
    let mut lines = text.lines().map(str::trim).skip_while(|l| *l != head);
    let mut out = vec![];
    let mut depth = 0i32;
    let mut opened = false;
    for l in lines.by_ref() {
        depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
        opened |= depth > 0;
        out.push(l);
        if opened && depth == 0 {
            break;
        }
    }
    out
}

/// Every table has the same keys, actions, default action and size in
/// both programs, so that P4Info names and rules carry over.
#[test]
fn tables_and_actions_read_as_in_the_v1model_program() {
    let prog = program();
    let v1 = p4::render(&prog, "t").expect("v1model renders");
    let tna = tna::render(&prog, "t").expect("TNA renders");
    for t in &prog.tables {
        let head = format!("table {} {{", t.name);
        let a = block(&v1, &head);
        let b = block(&tna, &head);
        assert!(a.len() > 3, "v1model has table {}", t.name);
        assert_eq!(a, b, "table {} differs between the architectures", t.name);
    }
    for a in prog.actions.iter().filter(|a| a.name != "NoAction") {
        let sig: Vec<String> = a
            .params
            .iter()
            .map(|p| format!("bit<{}> {}", p.width, p.name))
            .collect();
        let line = format!("action {}({}) {{", a.name, sig.join(", "));
        assert!(tna.lines().any(|l| l.trim() == line), "TNA lacks `{line}`");
    }
    for m in &prog.meters {
        let ext = if m.direct.is_some() {
            "DirectMeter("
        } else {
            "Meter<"
        };
        let decl = format!(" {};", m.name);
        assert!(
            tna.lines()
                .any(|l| l.trim().starts_with(ext) && l.trim().ends_with(&decl)),
            "TNA lacks meter {}",
            m.name
        );
    }
    for h in ["packet_in", "packet_out"] {
        assert!(tna.contains(&format!("@controller_header(\"{h}\")")));
    }
}

#[test]
fn no_v1model_construct_is_left_in_the_tna_program() {
    let tna = tna::render(&program(), "t").expect("renders");
    if let Ok(dir) = std::env::var("FAIRSHARE_DUMP") {
        std::fs::write(format!("{dir}/fairshare_tna.p4"), &tna).expect("write");
    }
    for v1 in [
        "standard_metadata",
        "mark_to_drop",
        "execute_meter",
        "v1model",
        "error.",
        "update_checksum",
        "verify_checksum",
        "HashAlgorithm",
        "V1Switch",
    ] {
        // Code only: comments may name v1model to explain the mapping.
        let hit = tna
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .find(|l| l.contains(v1) && !l.trim_start().starts_with('*'));
        assert!(hit.is_none(), "`{v1}` in the TNA program: {hit:?}");
    }
    // Every brace and parenthesis closes.
    let mut depth = (0i32, 0i32);
    for c in tna.chars() {
        match c {
            '{' => depth.0 += 1,
            '}' => depth.0 -= 1,
            '(' => depth.1 += 1,
            ')' => depth.1 -= 1,
            _ => {}
        }
        assert!(
            depth.0 >= 0 && depth.1 >= 0,
            "a closing brace before its opening"
        );
    }
    assert_eq!(depth, (0, 0), "unbalanced braces or parentheses");
}

/// Tofino numbers red 3 (`MeterColor_t.RED`), BMv2 numbers it 2; the
/// colour the meter returns is compared with the TNA number.
#[test]
fn meter_colours_take_each_architectures_numbers() {
    let prog = program();
    let v1 = p4::render(&prog, "t").expect("v1model renders");
    let tna = tna::render(&prog, "t").expect("TNA renders");
    assert!(v1.contains("const bit<2> COLOR_RED = 2;"));
    assert!(tna.contains("const bit<2> COLOR_RED = 3;"));
    assert!(tna.contains("const bit<2> COLOR_YELLOW = 1;"));
    assert!(tna.contains("meta.color = (bit<2>) route_meter.execute((bit<10>) meta.route);"));
    assert!(tna.contains("meta.color = (bit<2>) flow_meter.execute();"));
    assert!(tna.contains("Meter<bit<10>>(1024, MeterType_t.BYTES) route_meter;"));
}

#[test]
fn drops_ports_and_cpu_port_use_tna_metadata() {
    let tna = tna::render(&program(), "t").expect("renders");
    assert!(tna.contains("const bit<9> CPU_PORT = 320;"));
    assert!(tna.contains("ig_tm_md.ucast_egress_port = port;"));
    assert!(tna.contains("ig_tm_md.ucast_egress_port = CPU_PORT;"));
    assert!(tna.contains("hdr.packet_in.ingress_port = ig_intr_md.ingress_port;"));
    assert!(tna.contains("transition select(ig_intr_md.ingress_port) {"));
    let drop = block(&tna, "action drop_packet(bit<32> reason) {");
    assert_eq!(
        drop,
        [
            "action drop_packet(bit<32> reason) {",
            "ig_dprsr_md.drop_ctl = 3w1;",
            "meta.drops_index = (bit<4>) reason;",
            "meta.drops_hit = 1w1;",
            "}"
        ]
    );
    // The one place the counter counts.
    assert_eq!(tna.matches("drops.count(").count(), 1);
    // Egress does nothing, so ingress skips it.
    assert!(tna.contains("ig_tm_md.bypass_egress = 1w1;"));
}

/// The checksum over the payload is updated from a residual: the parser
/// takes out exactly the fields some action rewrites (the addresses) and
/// the old checksum, the deparser adds the new addresses back.
#[test]
fn layer4_checksums_are_updated_from_a_residual() {
    let tna = tna::render(&program(), "t").expect("renders");
    let ipv4 = block(&tna, "state parse_ipv4 {");
    assert!(ipv4.contains(&"tcp_update_residual.subtract({hdr.ipv4.src_addr, hdr.ipv4.dst_addr});"));
    let tcp = block(&tna, "state parse_tcp {");
    assert!(tcp.contains(&"tcp_update_residual.subtract({hdr.tcp.checksum});"));
    assert!(tcp.contains(&"meta.tcp_update_residual = tcp_update_residual.get();"));
    let dep = block(&tna, "if (meta.tcp_update_en) {");
    assert_eq!(
        dep[1..dep.len() - 1],
        [
            "hdr.tcp.checksum = tcp_update.update({",
            "hdr.ipv4.src_addr,",
            "hdr.ipv4.dst_addr,",
            "meta.tcp_update_residual",
            "});"
        ]
    );
}

/// An egress that reads ingress metadata gets it through a bridged header.
#[test]
fn egress_reading_metadata_gets_a_bridged_header() {
    let mut prog = program();
    let color = prog
        .meta
        .iter()
        .position(|f| f.name == "color")
        .expect("color");
    let red = prog
        .consts
        .iter()
        .position(|c| c.name == "COLOR_RED")
        .expect("red");
    prog.egress = vec![Stmt::If {
        cond: Expr::eq(Expr::field(FieldRef::Meta(color)), Expr::Const(red)),
        then: vec![Stmt::Do(vec![Prim::MarkToDrop])],
        els: vec![],
    }];
    let tna = tna::render(&prog, "t").expect("renders");
    let bridged = block(&tna, "header bridged_md_t {");
    assert_eq!(
        bridged,
        [
            "header bridged_md_t {",
            "bit<2> color;  // the packet's meter colour (COLOR_*)",
            "bit<6> _pad;",
            "}"
        ]
    );
    assert!(tna.contains("hdr.bridged_md.color = meta.color;"));
    let dep = block(&tna, "control IngressDeparser(packet_out packet,");
    let first_emit = dep.iter().find(|l| l.starts_with("packet.emit("));
    assert_eq!(first_emit, Some(&"packet.emit(hdr.bridged_md);"));
    let eg = block(&tna, "state start {");
    assert!(!eg.is_empty());
    assert!(tna.contains("meta.color = hdr.bridged_md.color;"));
    assert!(tna.contains("eg_dprsr_md.drop_ctl = 3w1;"));
    assert!(!tna.contains("bypass_egress"), "egress has work to do");
}

#[test]
fn what_tna_cannot_express_is_refused_with_the_reason() {
    // Egress touching a header.
    let mut prog = program();
    prog.egress = vec![Stmt::Do(vec![Prim::SetInvalid(HeaderId(2))])];
    match tna::render(&prog, "t") {
        Err(CodegenError::Tna(m)) => assert!(m.contains("egress reads or writes headers"), "{m}"),
        other => panic!("expected a TNA refusal, got {other:?}"),
    }
    // A rewritten byte that straddles the 16-bit words of the TCP checksum.
    let mut prog = program();
    let ip = HeaderId(3);
    let proto = prog.header_types[3]
        .fields
        .iter()
        .position(|f| f.name == "protocol")
        .expect("protocol");
    prog.ingress.push(Stmt::Do(vec![Prim::Assign(
        FieldRef::Hdr(ip, proto),
        Expr::int(17, 8),
    )]));
    match tna::render(&prog, "t") {
        Err(CodegenError::Tna(m)) => {
            assert!(
                m.contains("hdr.ipv4.protocol") && m.contains("16-bit"),
                "{m}"
            )
        }
        other => panic!("expected a TNA refusal, got {other:?}"),
    }
    // The ingress has no packet length in TNA.
    let mut prog = program();
    let len = prog
        .meta
        .iter()
        .position(|f| f.name == "l4_len")
        .expect("l4_len");
    prog.ingress.push(Stmt::Do(vec![Prim::Assign(
        FieldRef::Meta(len),
        Expr::field(FieldRef::Std(StdField::PacketLength)),
    )]));
    match tna::render(&prog, "t") {
        Err(CodegenError::Tna(m)) => assert!(m.contains("packet_length"), "{m}"),
        other => panic!("expected a TNA refusal, got {other:?}"),
    }
}

#[test]
fn index_widths_cover_the_cells() {
    let bits: Vec<u32> = [1, 2, 3, 9, 1024, 1025, 4096]
        .iter()
        .map(|n| tna::index_bits(*n))
        .collect();
    assert_eq!(bits, [1, 1, 2, 4, 10, 11, 12]);
}

/// The parser verifies the whole IPv4 header; ingress counts the verdict
/// only where v1model verifies (IPv4 without options), before anything
/// reads `checksum_error`.
#[test]
fn the_ipv4_checksum_is_verified_in_the_parser_and_judged_in_ingress() {
    let tna = tna::render(&program(), "t").expect("renders");
    let ipv4 = block(&tna, "state parse_ipv4 {");
    let add = ipv4.iter().position(|l| *l == "ipv4_verify.add(hdr.ipv4);");
    let verify = ipv4
        .iter()
        .position(|l| *l == "meta.ipv4_verify_err = ipv4_verify.verify();");
    assert!(add.is_some() && add < verify, "{ipv4:#?}");
    let apply = block(&tna, "apply {");
    assert_eq!(
        apply[1..4],
        [
            "if (meta.ipv4_verify_err && hdr.ipv4.isValid() && hdr.ipv4.ihl == 4w5) {",
            "meta.checksum_error = 1w1;",
            "}"
        ]
    );
    let read = apply
        .iter()
        .position(|l| l.contains("meta.checksum_error == 1w1"))
        .expect("ingress reads the verdict");
    assert!(read > 3);
}
