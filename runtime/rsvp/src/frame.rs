//! The Ethernet and IPv4 layers around an RSVP message: enough to build a
//! frame a capture tool or a switch accepts, and to find the message in one.
//!
//! RSVP rides directly on IP as protocol 46. Path, PathTear and ResvConf
//! carry the IPv4 Router Alert option (RFC 2113: type 148, length 4, value
//! 0) so that every RSVP router on the way intercepts them (RFC 2205 §3.13).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::message::Message;
use crate::wire::{be16, fold, internet_checksum, ones_sum};

/// IP protocol number of RSVP.
pub const IP_PROTOCOL_RSVP: u8 = 46;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// The Router Alert option as it appears in the IPv4 header.
pub const ROUTER_ALERT_OPTION: [u8; 4] = [148, 4, 0, 0];
const ETH_LEN: usize = 14;
const IPV4_LEN: usize = 20;

/// A MAC address, written `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            a[0], a[1], a[2], a[3], a[4], a[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut out {
            let part = parts.next().unwrap_or_default();
            *b = u8::from_str_radix(part, 16)
                .ok()
                .filter(|_| part.len() == 2)
                .ok_or_else(|| {
                    format!("MAC address: expected six hex pairs a:b:.., found {s:?}")
                })?;
        }
        if parts.next().is_some() {
            return Err(format!("MAC address: expected six hex pairs, found {s:?}"));
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The fields of the Ethernet and IPv4 headers that carry an RSVP message.
/// Everything else is fixed: IPv4 without options other than Router Alert,
/// protocol 46, no fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameHeader {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    #[serde(default)]
    pub tos: u8,
    #[serde(default)]
    pub ident: u16,
    #[serde(default)]
    pub dont_fragment: bool,
    /// Whether the IPv4 header carries the Router Alert option.
    pub router_alert: bool,
}

impl FrameHeader {
    /// Headers for sending `msg` from `src` to `dst`: TTL equal to the
    /// message's send_TTL, Router Alert where the message type calls for it.
    pub fn for_message(
        src_mac: MacAddr,
        dst_mac: MacAddr,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        msg: &Message,
    ) -> FrameHeader {
        FrameHeader {
            src_mac,
            dst_mac,
            src,
            dst,
            ttl: msg.send_ttl,
            tos: 0,
            ident: 0,
            dont_fragment: false,
            router_alert: msg.msg_type().needs_router_alert(),
        }
    }

    fn ip_header_len(&self) -> usize {
        IPV4_LEN + if self.router_alert { 4 } else { 0 }
    }

    /// Builds the frame around already-encoded RSVP bytes.
    pub fn build_raw(&self, rsvp: &[u8]) -> Result<Vec<u8>, Error> {
        let ihl = self.ip_header_len();
        let total = ihl + rsvp.len();
        let total16 = u16::try_from(total).map_err(|_| Error::TooLong {
            what: "IPv4 packet",
            length: total,
        })?;
        let mut f = Vec::with_capacity(ETH_LEN + total);
        f.extend_from_slice(&self.dst_mac.0);
        f.extend_from_slice(&self.src_mac.0);
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let ip = f.len();
        // The header length in words fits the 4-bit field: 5 or 6.
        f.push(0x40 | (ihl / 4) as u8);
        f.push(self.tos);
        f.extend_from_slice(&total16.to_be_bytes());
        f.extend_from_slice(&self.ident.to_be_bytes());
        f.extend_from_slice(&(if self.dont_fragment { 0x4000u16 } else { 0 }).to_be_bytes());
        f.push(self.ttl);
        f.push(IP_PROTOCOL_RSVP);
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&self.src.octets());
        f.extend_from_slice(&self.dst.octets());
        if self.router_alert {
            f.extend_from_slice(&ROUTER_ALERT_OPTION);
        }
        let sum = internet_checksum(&f[ip..ip + ihl]);
        f[ip + 10..ip + 12].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(rsvp);
        Ok(f)
    }

    /// Builds the complete Ethernet/IPv4/RSVP frame for `msg`.
    pub fn build(&self, msg: &Message) -> Result<Vec<u8>, Error> {
        self.build_raw(&msg.to_bytes()?)
    }
}

/// A parsed frame: its headers and the RSVP bytes it carries (bounded by
/// the IPv4 total length, so Ethernet padding is left out).
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    pub header: FrameHeader,
    pub rsvp: &'a [u8],
}

/// Finds the RSVP message in an Ethernet frame, checking the IPv4 header
/// (version, lengths, checksum, protocol 46, not a fragment) and its options.
pub fn parse_frame(frame: &[u8]) -> Result<FrameView<'_>, Error> {
    if frame.len() < ETH_LEN + IPV4_LEN {
        return Err(Error::Truncated {
            what: "Ethernet and IPv4 headers",
            offset: 0,
            need: ETH_LEN + IPV4_LEN,
            have: frame.len(),
        });
    }
    let ethertype = be16(frame, 12);
    if ethertype != ETHERTYPE_IPV4 {
        return Err(Error::FrameEtherType { found: ethertype });
    }
    let ip = &frame[ETH_LEN..];
    if ip[0] >> 4 != 4 {
        return Err(Error::FrameIpv4 {
            expected: "version 4",
            found: usize::from(ip[0] >> 4),
        });
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ihl < IPV4_LEN {
        return Err(Error::FrameIpv4 {
            expected: "a header length of at least 20 bytes",
            found: ihl,
        });
    }
    let total = usize::from(be16(ip, 2));
    if total < ihl || total > ip.len() {
        return Err(Error::FrameIpv4 {
            expected: "a total length between the header length and the captured bytes",
            found: total,
        });
    }
    let sum = fold(ones_sum(&ip[..ihl]));
    if sum != 0xffff {
        return Err(Error::FrameIpv4Checksum { computed: sum });
    }
    let frag = be16(ip, 6);
    if frag & 0x3fff != 0 {
        return Err(Error::FrameIpv4 {
            expected: "an unfragmented packet (MF clear, offset 0)",
            found: usize::from(frag & 0x3fff),
        });
    }
    if ip[9] != IP_PROTOCOL_RSVP {
        return Err(Error::FrameNotRsvp { found: ip[9] });
    }
    let router_alert = scan_options(&ip[IPV4_LEN..ihl])?;
    let addr = |at: usize| Ipv4Addr::new(ip[at], ip[at + 1], ip[at + 2], ip[at + 3]);
    let mac = |at: usize| {
        let mut m = [0u8; 6];
        m.copy_from_slice(&frame[at..at + 6]);
        MacAddr(m)
    };
    Ok(FrameView {
        header: FrameHeader {
            dst_mac: mac(0),
            src_mac: mac(6),
            src: addr(12),
            dst: addr(16),
            ttl: ip[8],
            tos: ip[1],
            ident: be16(ip, 4),
            dont_fragment: frag & 0x4000 != 0,
            router_alert,
        },
        rsvp: &ip[ihl..total],
    })
}

/// Walks IPv4 options and reports whether Router Alert is among them.
fn scan_options(mut opts: &[u8]) -> Result<bool, Error> {
    let mut router_alert = false;
    while let Some(&kind) = opts.first() {
        match kind {
            0 => break,
            1 => opts = &opts[1..],
            _ => {
                let len = opts.get(1).map_or(0, |l| usize::from(*l));
                if len < 2 || len > opts.len() {
                    return Err(Error::FrameIpv4 {
                        expected: "an option length between 2 and the bytes left",
                        found: len,
                    });
                }
                if kind == ROUTER_ALERT_OPTION[0] {
                    router_alert = true;
                }
                opts = &opts[len..];
            }
        }
    }
    Ok(router_alert)
}
