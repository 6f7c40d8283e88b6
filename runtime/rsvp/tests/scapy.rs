//! Cross-check with scapy (`scapy.contrib.rsvp`): messages and a frame that
//! scapy builds parse here with the values scapy was given and reads back,
//! and re-emit to scapy's exact bytes; our messages and frames read in scapy
//! with our values, and scapy computes the same checksums.

mod common;

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use common::*;
use fairshare_rsvp::frame::parse_frame;
use fairshare_rsvp::*;
use serde_json::{json, Value};

fn scapy_available(python: &std::path::Path) -> Result<(), String> {
    match Command::new(python)
        .args(["-c", "import scapy.contrib.rsvp"])
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{} cannot import scapy.contrib.rsvp: {}",
            python.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run {}: {e}", python.display())),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn run_peer(python: &std::path::Path, request: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scapy_peer.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the scapy peer");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write request");
    let out = child.wait_with_output().expect("scapy peer output");
    assert!(
        out.status.success(),
        "scapy peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("scapy peer prints JSON")
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("expected an integer, found {v}"))
}

fn ip(v: &Value) -> IpAddr {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("expected an address, found {v}"))
}

fn bucket_of(v: &Value) -> TokenBucket {
    let f = |i: usize| v[i].as_f64().expect("float") as f32;
    TokenBucket {
        rate: f(0),
        size: f(1),
        peak: f(2),
        min_policed_unit: u(&v[3]) as u32,
        max_packet_size: u(&v[4]) as u32,
    }
}

fn check_session(s: &Session, given: &Value) {
    assert_eq!(s.dest, ip(&given[0]));
    assert_eq!(u64::from(s.protocol), u(&given[1]));
    assert_eq!(u64::from(s.port), u(&given[2]));
}

fn check_filter(f: &FilterSpec, given: &Value) {
    assert_eq!(
        *f,
        FilterSpec::Port {
            addr: ip(&given[0]),
            port: u(&given[1]) as u16
        }
    );
}

fn check_hop(h: &Hop, scapy: &Value) {
    assert_eq!(h.addr, ip(&scapy["hop"]["neighbor"]));
    assert_eq!(u64::from(h.lih), u(&scapy["hop"]["inface"]));
}

/// Messages scapy built: our parse sees what scapy was given and what it
/// reads back, and our emit reproduces scapy's bytes (checksum included).
fn check_built(built: &Value) {
    let name = built["name"].as_str().expect("name");
    let bytes = parse_hex(built["hex"].as_str().expect("hex")).expect("hex");
    let scapy = &built["scapy"];
    let given = &built["given"];
    let m = Message::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(u64::from(m.flags), u(&scapy["flags"]), "{name}");
    assert_eq!(m.msg_type() as u64, u(&scapy["type"]), "{name}");
    assert_eq!(u64::from(m.send_ttl), u(&scapy["ttl"]), "{name}");
    assert_eq!(bytes.len() as u64, u(&scapy["length"]), "{name}");
    let view = MessageView::new_checked(&bytes).expect("view");
    assert_eq!(u64::from(view.checksum()), u(&scapy["chksum"]), "{name}");
    check_session(m.session(), &given["session"]);
    match &m.body {
        Body::Path(p) => {
            check_hop(&p.hop, scapy);
            assert_eq!(u64::from(p.time_values.refresh_ms), u(&scapy["refresh"]));
            let s = p.sender.as_ref().expect("sender descriptor");
            check_filter(&s.template, &given["template"]);
            assert_eq!(s.tspec, bucket_of(&given["tspec"]));
        }
        Body::PathTear(p) => {
            check_hop(&p.hop, scapy);
            let s = p.sender.as_ref().expect("sender descriptor");
            check_filter(&s.template, &given["template"]);
            assert_eq!(s.tspec, bucket_of(&given["tspec"]));
        }
        Body::PathErr(p) => {
            assert_eq!(p.error.node, ip(&given["error"][0]));
            assert_eq!(u64::from(p.error.code), u(&given["error"][1]));
            assert_eq!(u64::from(p.error.value), u(&given["error"][2]));
            let s = p.sender.as_ref().expect("sender descriptor");
            check_filter(&s.template, &given["template"]);
        }
        Body::Resv(r) => {
            check_hop(&r.hop, scapy);
            assert_eq!(u64::from(r.time_values.refresh_ms), u(&scapy["refresh"]));
            assert_eq!(
                u64::from(r.flows.style().option_vector()),
                u(&given["style"])
            );
            let FlowDescriptors::FF { descriptors } = &r.flows else {
                panic!("{name}: expected FF, found {:?}", r.flows.style())
            };
            assert_eq!(descriptors.len(), 1);
            assert_eq!(
                descriptors[0].flowspec,
                Some(FlowSpec::ControlledLoad {
                    tspec: bucket_of(&given["flowspec"])
                })
            );
            check_filter(&descriptors[0].filter, &given["filter"]);
        }
        other => panic!("{name}: unexpected message {other:?}"),
    }
    assert_eq!(m.to_bytes().expect("emit"), bytes, "{name}: re-emit");
}

#[test]
fn scapy_agrees_both_ways() {
    let python = python();
    if let Err(reason) = scapy_available(&python) {
        return skip(&reason);
    }
    let samples = samples();
    let messages: Vec<Vec<u8>> = samples
        .iter()
        .map(|(n, m)| m.to_bytes().expect(n))
        .collect();
    let frames: Vec<Vec<u8>> = samples
        .iter()
        .map(|(n, m)| frame_header(m).build(m).expect(n))
        .collect();
    let reply = run_peer(
        &python,
        &json!({
            "messages": messages.iter().map(|m| hex(m)).collect::<Vec<_>>(),
            "frames": frames.iter().map(|f| hex(f)).collect::<Vec<_>>(),
        }),
    );

    let built = reply["built"].as_array().expect("built");
    assert_eq!(built.len(), 4);
    built.iter().for_each(check_built);

    // A whole frame built by scapy, Router Alert included.
    let bf = &reply["built_frame"];
    let fbytes = parse_hex(bf["hex"].as_str().expect("hex")).expect("hex");
    let f = parse_frame(&fbytes).expect("scapy's frame parses");
    assert_eq!(IpAddr::V4(f.header.src), ip(&bf["src"]));
    assert_eq!(IpAddr::V4(f.header.dst), ip(&bf["dst"]));
    assert_eq!(u64::from(f.header.ttl), u(&bf["ttl"]));
    assert!(f.header.router_alert);
    assert_eq!(
        Message::parse(f.rsvp).expect("rsvp").msg_type(),
        MsgType::Path
    );
    assert_eq!(f.header.build_raw(f.rsvp).expect("rebuild"), fbytes);

    // Our messages as scapy reads them.
    let dissected = reply["dissected"].as_array().expect("dissected");
    assert_eq!(dissected.len(), samples.len());
    for ((name, m), (bytes, d)) in samples.iter().zip(messages.iter().zip(dissected)) {
        let view = MessageView::new_checked(bytes).expect("view");
        assert_eq!(u(&d["version"]), 1, "{name}");
        assert_eq!(u(&d["type"]), m.msg_type() as u64, "{name}");
        assert_eq!(u(&d["ttl"]), u64::from(m.send_ttl), "{name}");
        assert_eq!(u(&d["length"]), bytes.len() as u64, "{name}");
        assert_eq!(u(&d["chksum"]), u64::from(view.checksum()), "{name}");
        assert_eq!(
            u(&d["scapy_chksum"]),
            u64::from(view.checksum()),
            "{name}: scapy's checksum"
        );
        let ours: Vec<[u64; 3]> = view
            .objects()
            .map(|o| {
                let o = o.expect("object");
                [
                    u64::from(o.class_num().0),
                    u64::from(o.c_type()),
                    o.length() as u64,
                ]
            })
            .collect();
        let theirs: Vec<[u64; 3]> = d["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .map(|o| [u(&o[0]), u(&o[1]), u(&o[2])])
            .collect();
        assert_eq!(theirs, ours, "{name}: objects");
        let (hop, refresh) = match &m.body {
            Body::Path(p) => (Some(p.hop), Some(p.time_values.refresh_ms)),
            Body::Resv(r) => (Some(r.hop), Some(r.time_values.refresh_ms)),
            Body::ResvErr(r) => (Some(r.hop), None),
            Body::PathTear(p) => (Some(p.hop), None),
            Body::ResvTear(r) => (Some(r.hop), None),
            Body::PathErr(_) | Body::ResvConf(_) => (None, None),
        };
        // scapy's RSVP_HOP reads only the IPv4 form.
        if let Some(
            h @ Hop {
                addr: IpAddr::V4(_),
                ..
            },
        ) = hop
        {
            check_hop(&h, d);
        }
        if let Some(r) = refresh {
            assert_eq!(u(&d["refresh"]), u64::from(r), "{name}");
        }
        if d.get("tspec_header").is_some() {
            let t: Vec<u64> = d["tspec_header"]
                .as_array()
                .expect("tspec")
                .iter()
                .map(u)
                .collect();
            assert_eq!(t, [0, 7, 1, 6], "{name}: TSpec header words");
        }
    }

    // Our frames as scapy reads them.
    let sframes = reply["frames"].as_array().expect("frames");
    for ((name, m), d) in samples.iter().zip(sframes) {
        let h = frame_header(m);
        assert_eq!(ip(&d["src"]), IpAddr::V4(h.src), "{name}");
        assert_eq!(ip(&d["dst"]), IpAddr::V4(h.dst), "{name}");
        assert_eq!(u(&d["ttl"]), u64::from(h.ttl), "{name}");
        assert_eq!(u(&d["proto"]), 46, "{name}");
        assert_eq!(
            u(&d["chksum"]),
            u(&d["scapy_chksum"]),
            "{name}: IPv4 checksum"
        );
        assert_eq!(d["router_alert"].as_bool(), Some(h.router_alert), "{name}");
        assert_eq!(u(&d["rsvp_type"]), m.msg_type() as u64, "{name}");
    }
}
