//! The headers the decoder knows, as tables of fields, and the walk from
//! one header to the next.

use crate::{Decoded, Field, Layer, Show};

/// A fixed part of a header: field names, widths in bits, how to show them.
type Spec = &'static [(&'static str, usize, Show)];

const ETHERNET: Spec = &[
    ("dst_addr", 48, Show::Mac),
    ("src_addr", 48, Show::Mac),
    ("ether_type", 16, Show::Hex),
];
const VLAN: Spec = &[
    ("pcp", 3, Show::Number),
    ("dei", 1, Show::Number),
    ("vid", 12, Show::Number),
    ("ether_type", 16, Show::Hex),
];
const ARP: Spec = &[
    ("htype", 16, Show::Number),
    ("ptype", 16, Show::Hex),
    ("hlen", 8, Show::Number),
    ("plen", 8, Show::Number),
    ("oper", 16, Show::Number),
    ("sender_mac", 48, Show::Mac),
    ("sender_ip", 32, Show::Ipv4),
    ("target_mac", 48, Show::Mac),
    ("target_ip", 32, Show::Ipv4),
];
const IPV4: Spec = &[
    ("version", 4, Show::Number),
    ("ihl", 4, Show::Number),
    ("diffserv", 8, Show::Hex),
    ("total_len", 16, Show::Number),
    ("identification", 16, Show::Hex),
    ("flags", 3, Show::Number),
    ("frag_offset", 13, Show::Number),
    ("ttl", 8, Show::Number),
    ("protocol", 8, Show::Number),
    ("hdr_checksum", 16, Show::Hex),
    ("src_addr", 32, Show::Ipv4),
    ("dst_addr", 32, Show::Ipv4),
];
const IPV6: Spec = &[
    ("version", 4, Show::Number),
    ("traffic_class", 8, Show::Hex),
    ("flow_label", 20, Show::Hex),
    ("payload_len", 16, Show::Number),
    ("next_header", 8, Show::Number),
    ("hop_limit", 8, Show::Number),
    ("src_addr", 128, Show::Ipv6),
    ("dst_addr", 128, Show::Ipv6),
];
const TCP: Spec = &[
    ("src_port", 16, Show::Number),
    ("dst_port", 16, Show::Number),
    ("seq_no", 32, Show::Number),
    ("ack_no", 32, Show::Number),
    ("data_offset", 4, Show::Number),
    ("res", 4, Show::Number),
    ("flags", 8, Show::Hex),
    ("window", 16, Show::Number),
    ("checksum", 16, Show::Hex),
    ("urgent_ptr", 16, Show::Number),
];
const UDP: Spec = &[
    ("src_port", 16, Show::Number),
    ("dst_port", 16, Show::Number),
    ("length", 16, Show::Number),
    ("checksum", 16, Show::Hex),
];
const ICMP: Spec = &[
    ("type", 8, Show::Number),
    ("code", 8, Show::Number),
    ("checksum", 16, Show::Hex),
    ("rest", 32, Show::Hex),
];
const RSVP: Spec = &[
    ("version", 4, Show::Number),
    ("flags", 4, Show::Hex),
    ("msg_type", 8, Show::Number),
    ("checksum", 16, Show::Hex),
    ("send_ttl", 8, Show::Number),
    ("reserved", 8, Show::Number),
    ("length", 16, Show::Number),
];

/// RSVP object class names (RFC 2205 and RFC 2210), as field paths.
fn rsvp_class(c: u8) -> &'static str {
    match c {
        1 => "rsvp.session",
        3 => "rsvp.hop",
        4 => "rsvp.integrity",
        5 => "rsvp.time_values",
        6 => "rsvp.error_spec",
        7 => "rsvp.scope",
        8 => "rsvp.style",
        9 => "rsvp.flowspec",
        10 => "rsvp.filter_spec",
        11 => "rsvp.sender_template",
        12 => "rsvp.sender_tspec",
        13 => "rsvp.adspec",
        14 => "rsvp.policy_data",
        15 => "rsvp.resv_confirm",
        _ => "rsvp.object",
    }
}

struct Walk<'a> {
    frame: &'a [u8],
    at: usize,
    out: Decoded,
}

impl Walk<'_> {
    /// Lays out `spec` (plus `extra` trailing bytes shown as one field)
    /// at the cursor; false, with `cut` set, when it does not fit.
    fn push(&mut self, name: &'static str, spec: Spec, extra: Option<(&str, usize)>) -> bool {
        let fixed: usize = spec.iter().map(|s| s.1).sum::<usize>() / 8;
        let len = fixed + extra.map_or(0, |e| e.1);
        if self.at + len > self.frame.len() {
            self.out.cut = Some((name, self.at + len));
            return false;
        }
        let mut bit = self.at * 8;
        let mut fields = Vec::with_capacity(spec.len() + 1);
        for (f, w, show) in spec {
            fields.push(Field {
                name: format!("{name}.{f}"),
                bit_offset: bit,
                width: *w,
                show: *show,
            });
            bit += w;
        }
        if let Some((f, n)) = extra.filter(|e| e.1 > 0) {
            fields.push(Field {
                name: format!("{name}.{f}"),
                bit_offset: bit,
                width: n * 8,
                show: Show::Bytes,
            });
        }
        self.out.layers.push(Layer {
            name,
            offset: self.at,
            len,
            fields,
        });
        self.at += len;
        true
    }

    fn byte(&self, off: usize) -> u8 {
        self.frame.get(self.at + off).copied().unwrap_or(0)
    }

    fn u16(&self, off: usize) -> u16 {
        u16::from_be_bytes([self.byte(off), self.byte(off + 1)])
    }

    fn ether(&mut self, mut ether_type: u16) {
        // At most two VLAN tags (802.1ad outer, 802.1Q inner).
        for _ in 0..2 {
            if ether_type != 0x8100 && ether_type != 0x88a8 {
                break;
            }
            if !self.push("vlan", VLAN, None) {
                return;
            }
            ether_type = u16::from_be_bytes([self.frame[self.at - 2], self.frame[self.at - 1]]);
        }
        match ether_type {
            0x0800 => self.ipv4(),
            0x86dd => self.ipv6(),
            0x0806 => {
                self.push("arp", ARP, None);
            }
            _ => {}
        }
    }

    fn ipv4(&mut self) {
        if self.at >= self.frame.len() {
            self.out.cut = Some(("ipv4", self.at + 20));
            return;
        }
        let ihl = usize::from(self.byte(0) & 0xf);
        let options = (ihl * 4).saturating_sub(20);
        let protocol = self.byte(9);
        let first_fragment = self.u16(6) & 0x1fff == 0;
        if !self.push("ipv4", IPV4, Some(("options", options))) {
            return;
        }
        if ihl >= 5 && first_fragment {
            self.l4(protocol);
        }
    }

    fn ipv6(&mut self) {
        let next = self.byte(6);
        if self.push("ipv6", IPV6, None) {
            self.l4(next);
        }
    }

    fn l4(&mut self, protocol: u8) {
        match protocol {
            6 => {
                let offset = usize::from(self.byte(12) >> 4);
                let options = (offset * 4).saturating_sub(20);
                self.push("tcp", TCP, Some(("options", options)));
            }
            17 => {
                self.push("udp", UDP, None);
            }
            1 => {
                self.push("icmp", ICMP, None);
            }
            58 => {
                self.push("icmpv6", ICMP, None);
            }
            46 => self.rsvp(),
            _ => {}
        }
    }

    fn rsvp(&mut self) {
        let length = usize::from(self.u16(6));
        if !self.push("rsvp", RSVP, None) {
            return;
        }
        let end = (self.at - 8 + length).min(self.frame.len());
        // Objects: 16-bit length (a multiple of 4, at least 4), class, type.
        while self.at + 4 <= end {
            let len = usize::from(self.u16(0));
            if len < 4 || self.at + len > end {
                return;
            }
            let name = rsvp_class(self.byte(2));
            const OBJECT: Spec = &[
                ("length", 16, Show::Number),
                ("class_num", 8, Show::Number),
                ("c_type", 8, Show::Number),
            ];
            if !self.push(name, OBJECT, Some(("body", len - 4))) {
                return;
            }
        }
    }
}

/// Decodes a frame that starts with Ethernet. Never panics; a header that
/// does not fit ends the decode (see [`Decoded::cut`]).
pub fn decode(frame: &[u8]) -> Decoded {
    let mut w = Walk {
        frame,
        at: 0,
        out: Decoded {
            layers: vec![],
            payload: 0,
            cut: None,
        },
    };
    if w.push("ethernet", ETHERNET, None) {
        let t = u16::from_be_bytes([frame[12], frame[13]]);
        w.ether(t);
    }
    w.out.payload = w.at;
    w.out
}
