//! Cross-check with Wireshark's RSVP dissector: a capture holding every
//! message type with every object decodes without a malformed-packet or
//! warning-level expert item, and the values tshark prints are the values of
//! the models we encoded, compared field by field in wire order.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Command;

use common::*;
use fairshare_rsvp::*;

/// The tshark fields compared, in the order of the `-T fields` columns.
const FIELDS: &[&str] = &[
    "rsvp.msg",
    "rsvp.sending_ttl",
    "rsvp.session.ip",
    "rsvp.session.proto",
    "rsvp.session.port",
    "rsvp.session.destination_address",
    "rsvp.session.protocol",
    "rsvp.session.destination_port",
    "rsvp.hop.neighbor_address_ipv4",
    "rsvp.neighbor_address_ipv6",
    "rsvp.hop.logical_interface",
    "rsvp.refresh_interval",
    "rsvp.style.style",
    "rsvp.scope.ipv4_address",
    "rsvp.scope.ipv6_address",
    "rsvp.confirm.receiver_address_ipv4",
    "rsvp.confirm.receiver_address_ipv6",
    "rsvp.error.error_node_ipv4",
    "rsvp.error.error_node_ipv6",
    "rsvp.error.error_code",
    "rsvp.error_value",
    "rsvp.tspec.token_bucket_rate",
    "rsvp.tspec.token_bucket_size",
    "rsvp.tspec.peak_data_rate",
    "rsvp.flowspec.token_bucket_rate",
    "rsvp.flowspec.token_bucket_size",
    "rsvp.flowspec.peak_data_rate",
    "rsvp.flowspec.rate",
    "rsvp.flowspec.slack_term",
    "rsvp.minimum_policed_unit",
    "rsvp.maximum_packet_size",
    "rsvp.sender.ip",
    "rsvp.sender.port",
    "rsvp.template_filter.source_address_ipv6",
    "rsvp.template_filter.source_port",
    "rsvp.integrity.sequence_number",
    "ip.opt.type",
];

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Text(String),
    Float(f32),
}

#[derive(Default)]
struct Expect(BTreeMap<&'static str, Vec<Val>>);

impl Expect {
    fn text(&mut self, field: &'static str, v: impl ToString) {
        self.0
            .entry(field)
            .or_default()
            .push(Val::Text(v.to_string()));
    }
    fn float(&mut self, field: &'static str, v: f32) {
        self.0.entry(field).or_default().push(Val::Float(v));
    }
    fn session(&mut self, s: &Session) {
        match s.dest {
            IpAddr::V4(a) => {
                self.text("rsvp.session.ip", a);
                self.text("rsvp.session.proto", s.protocol);
                self.text("rsvp.session.port", s.port);
            }
            IpAddr::V6(a) => {
                self.text("rsvp.session.destination_address", a);
                self.text("rsvp.session.protocol", s.protocol);
                self.text("rsvp.session.destination_port", s.port);
            }
        }
    }
    fn hop(&mut self, h: &Hop) {
        match h.addr {
            IpAddr::V4(a) => self.text("rsvp.hop.neighbor_address_ipv4", a),
            IpAddr::V6(a) => self.text("rsvp.neighbor_address_ipv6", a),
        }
        self.text("rsvp.hop.logical_interface", h.lih);
    }
    fn error(&mut self, e: &ErrorSpec) {
        match e.node {
            IpAddr::V4(a) => self.text("rsvp.error.error_node_ipv4", a),
            IpAddr::V6(a) => self.text("rsvp.error.error_node_ipv6", a),
        }
        self.text("rsvp.error.error_code", e.code);
        self.text("rsvp.error_value", e.value);
    }
    fn scope(&mut self, s: &Option<Scope>) {
        match s {
            Some(Scope::Ipv4(a)) => a
                .iter()
                .for_each(|a| self.text("rsvp.scope.ipv4_address", a)),
            Some(Scope::Ipv6(a)) => a
                .iter()
                .for_each(|a| self.text("rsvp.scope.ipv6_address", a)),
            None => {}
        }
    }
    fn confirm(&mut self, c: &ResvConfirm) {
        match c.receiver {
            IpAddr::V4(a) => self.text("rsvp.confirm.receiver_address_ipv4", a),
            IpAddr::V6(a) => self.text("rsvp.confirm.receiver_address_ipv6", a),
        }
    }
    fn filter(&mut self, f: &FilterSpec) {
        match f {
            FilterSpec::Port {
                addr: IpAddr::V4(a),
                port,
            } => {
                self.text("rsvp.sender.ip", a);
                self.text("rsvp.sender.port", port);
            }
            FilterSpec::Port {
                addr: IpAddr::V6(a),
                port,
            } => {
                self.text("rsvp.template_filter.source_address_ipv6", a);
                self.text("rsvp.template_filter.source_port", port);
            }
            // tshark 4.0 prints the flow-label form only as bytes.
            FilterSpec::FlowLabel { .. } => {}
        }
    }
    fn mm(&mut self, t: &TokenBucket) {
        self.text("rsvp.minimum_policed_unit", t.min_policed_unit);
        self.text("rsvp.maximum_packet_size", t.max_packet_size);
    }
    fn sender(&mut self, s: &Option<SenderDescriptor>) {
        if let Some(s) = s {
            self.filter(&s.template);
            self.float("rsvp.tspec.token_bucket_rate", s.tspec.rate);
            self.float("rsvp.tspec.token_bucket_size", s.tspec.size);
            self.float("rsvp.tspec.peak_data_rate", s.tspec.peak);
            self.mm(&s.tspec);
        }
    }
    fn flowspec(&mut self, f: &FlowSpec) {
        let t = f.tspec();
        self.float("rsvp.flowspec.token_bucket_rate", t.rate);
        self.float("rsvp.flowspec.token_bucket_size", t.size);
        self.float("rsvp.flowspec.peak_data_rate", t.peak);
        self.mm(t);
        if let FlowSpec::Guaranteed { rspec, .. } = f {
            self.float("rsvp.flowspec.rate", rspec.rate);
            self.text("rsvp.flowspec.slack_term", rspec.slack);
        }
    }
    fn flows(&mut self, fl: &FlowDescriptors) {
        self.text(
            "rsvp.style.style",
            format!("{:#08x}", fl.style().option_vector()),
        );
        match fl {
            FlowDescriptors::WF { flowspec } => flowspec.iter().for_each(|f| self.flowspec(f)),
            FlowDescriptors::FF { descriptors } => {
                for d in descriptors {
                    d.flowspec.iter().for_each(|f| self.flowspec(f));
                    self.filter(&d.filter);
                }
            }
            FlowDescriptors::SE { flowspec, filters } => {
                flowspec.iter().for_each(|f| self.flowspec(f));
                filters.iter().for_each(|f| self.filter(f));
            }
        }
    }
}

/// What tshark should print for `m`, from the model we encoded.
fn expected(m: &Message) -> BTreeMap<&'static str, Vec<Val>> {
    let mut e = Expect::default();
    e.text("rsvp.msg", m.msg_type() as u8);
    e.text("rsvp.sending_ttl", m.send_ttl);
    if m.msg_type().needs_router_alert() {
        e.text("ip.opt.type", 148);
    }
    if let Some(i) = &m.integrity {
        let seq = u64::from_be_bytes(i.body[8..16].try_into().expect("8 bytes"));
        e.text("rsvp.integrity.sequence_number", seq);
    }
    e.session(m.session());
    match &m.body {
        Body::Path(p) => {
            e.hop(&p.hop);
            e.text("rsvp.refresh_interval", p.time_values.refresh_ms);
            e.sender(&p.sender);
        }
        Body::Resv(r) => {
            e.hop(&r.hop);
            e.text("rsvp.refresh_interval", r.time_values.refresh_ms);
            r.resv_confirm.iter().for_each(|c| e.confirm(c));
            e.scope(&r.scope);
            e.flows(&r.flows);
        }
        Body::PathErr(p) => {
            e.error(&p.error);
            e.sender(&p.sender);
        }
        Body::ResvErr(r) => {
            e.hop(&r.hop);
            e.error(&r.error);
            e.scope(&r.scope);
            e.flows(&r.flows);
        }
        Body::PathTear(p) => {
            e.hop(&p.hop);
            e.sender(&p.sender);
        }
        Body::ResvTear(r) => {
            e.hop(&r.hop);
            e.scope(&r.scope);
            e.flows(&r.flows);
        }
        Body::ResvConf(r) => {
            e.error(&r.error);
            e.confirm(&r.resv_confirm);
            e.flows(&r.flows);
        }
    }
    e.0
}

fn matches(expect: &Val, found: &str) -> bool {
    match expect {
        Val::Text(t) => t == found,
        // tshark prints floats with %g, six significant digits.
        Val::Float(v) => found.parse::<f64>().is_ok_and(|f| {
            let v = f64::from(*v);
            f == v || (f - v).abs() <= v.abs() * 1e-6
        }),
    }
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_tshark(pcap: &std::path::Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(pcap)
        .args(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("tshark prints UTF-8")
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn tshark_decodes_every_message_with_our_values() {
    if !tshark_available() {
        return skip("tshark is not on PATH");
    }
    let samples = samples();
    let frames: Vec<Vec<u8>> = samples
        .iter()
        .map(|(name, m)| frame_header(m).build(m).expect(name))
        .collect();
    let dir = std::env::temp_dir().join(format!("fairshare-rsvp-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pcap_path = dir.join("all-messages.pcap");
    std::fs::write(&pcap_path, pcap(&frames)).expect("write pcap");

    // No malformed packet, no expert item at warning level or above.
    let health = run_tshark(
        &pcap_path,
        &["frame.number", "_ws.malformed", "_ws.expert.severity"],
    );
    assert_eq!(health.len(), samples.len(), "one line per frame");
    for (line, (name, _)) in health.iter().zip(&samples) {
        assert!(
            line[1].is_empty(),
            "{name}: tshark marks the frame malformed"
        );
        for sev in line[2].split('|').filter(|s| !s.is_empty()) {
            let sev: u32 = sev.parse().expect("severity is a number");
            assert!(
                sev < 0x0060_0000,
                "{name}: tshark expert item of severity {sev:#x}"
            );
        }
    }

    let rows = run_tshark(&pcap_path, FIELDS);
    assert_eq!(rows.len(), samples.len());
    let mut compared = 0;
    for (row, (name, m)) in rows.iter().zip(&samples) {
        let expect = expected(m);
        for (col, field) in FIELDS.iter().enumerate() {
            let found: Vec<&str> = row
                .get(col)
                .map(|c| c.split('|').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            let want = expect.get(field).cloned().unwrap_or_default();
            assert_eq!(
                found.len(),
                want.len(),
                "{name}: {field}: tshark printed {found:?}, we encoded {want:?}"
            );
            for (w, f) in want.iter().zip(&found) {
                assert!(
                    matches(w, f),
                    "{name}: {field}: tshark printed {f}, we encoded {w:?}"
                );
                compared += 1;
            }
        }
    }
    println!("compared {compared} field values with tshark");
    assert!(compared >= 180, "only {compared} values compared");
    let _ = std::fs::remove_dir_all(&dir);
}
