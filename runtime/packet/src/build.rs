//! Frames for tests and benchmarks, built with correct checksums.

use std::net::Ipv4Addr;

/// The Internet checksum (RFC 1071) of `data`: the ones' complement of the
/// ones' complement sum of its 16-bit words, an odd last byte padded.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        s += u32::from(w);
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A TCP SYN frame carrying `fairshare` as payload, checksums correct.
pub fn tcp_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    ttl: u8,
) -> Vec<u8> {
    l4_frame(
        [dst_mac, src_mac],
        [src, dst],
        6,
        [sport, dport],
        ttl,
        b"fairshare",
    )
}

/// An Ethernet/IPv4 frame with a TCP (protocol 6: a SYN) or UDP (17)
/// header and `payload`, every checksum correct; `macs` is `[dst, src]`,
/// `addrs` and `ports` are `[src, dst]`. Other protocols get `payload`
/// right after the IPv4 header.
pub fn l4_frame(
    macs: [[u8; 6]; 2],
    addrs: [Ipv4Addr; 2],
    protocol: u8,
    ports: [u16; 2],
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let [src, dst] = addrs;
    let mut l4 = match protocol {
        6 => {
            let mut tcp = vec![0u8; 20];
            tcp[4..8].copy_from_slice(&7u32.to_be_bytes());
            tcp[12] = 5 << 4;
            tcp[13] = 0x02;
            tcp[14..16].copy_from_slice(&8192u16.to_be_bytes());
            tcp
        }
        17 => vec![0u8; 8],
        _ => Vec::new(),
    };
    if !l4.is_empty() {
        l4[0..2].copy_from_slice(&ports[0].to_be_bytes());
        l4[2..4].copy_from_slice(&ports[1].to_be_bytes());
    }
    l4.extend_from_slice(payload);
    let len = l4.len() as u16;
    if protocol == 17 {
        l4[4..6].copy_from_slice(&len.to_be_bytes());
    }
    if protocol == 6 || protocol == 17 {
        let mut pseudo = vec![];
        pseudo.extend_from_slice(&src.octets());
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&[0, protocol]);
        pseudo.extend_from_slice(&len.to_be_bytes());
        pseudo.extend_from_slice(&l4);
        let c = internet_checksum(&pseudo);
        let at = if protocol == 6 { 16 } else { 6 };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, ttl, protocol, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = vec![];
    f.extend_from_slice(&macs[0]);
    f.extend_from_slice(&macs[1]);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(
            internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[test]
    fn a_frame_checks_out() {
        let f = tcp_frame(
            [2, 0, 0, 0, 0, 2],
            [2, 0, 0, 0, 0, 1],
            Ipv4Addr::new(192, 0, 2, 5),
            Ipv4Addr::new(203, 0, 113, 1),
            40000,
            80,
            64,
        );
        // A header with its checksum in sums to zero.
        assert_eq!(internet_checksum(&f[14..34]), 0);
        let d = crate::decode(&f);
        let names: Vec<_> = d.layers.iter().map(|l| l.name).collect();
        assert_eq!(names, ["ethernet", "ipv4", "tcp"]);
        assert_eq!(f.len() - d.payload, 9);
    }
}
