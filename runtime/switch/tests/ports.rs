//! Ports around the core: the CPU port with its controller headers, in-process
//! links between devices, and pcap files.

mod common;

use common::{single_dc_switch, tcp_frame};
use fairshare_codegen::pipeline::PUNT_RSVP;
use fairshare_switch::cpu::{canonical, PacketMetadata};
use fairshare_switch::port::{link, ControllerPort, Device, Network, PcapPort};
use fairshare_switch::{CpuPort, PacketOut, Switch};
use std::net::Ipv4Addr;
use std::time::Duration;

const CPU: u32 = 255;

/// The request of the golden test, made RSVP (IP protocol 46).
fn rsvp_frame() -> Vec<u8> {
    let mut f = tcp_frame(
        [2, 0, 0, 1, 0, 3],
        [2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee],
        Ipv4Addr::new(192, 0, 2, 5),
        Ipv4Addr::new(203, 0, 113, 1),
        40000,
        80,
        64,
    );
    f[14 + 9] = 46;
    f[24] = 0;
    f[25] = 0;
    let mut sum: u32 = f[14..34]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f
}

#[test]
fn the_cpu_port_layout_comes_from_the_program() {
    let sw = single_dc_switch();
    let cpu = CpuPort::detect(&sw, CPU).expect("layouts");
    let pin = cpu.packet_in.expect("the pipeline has packet_in");
    let names: Vec<(&str, u32, u32)> = pin
        .fields()
        .iter()
        .map(|f| (f.name.as_str(), f.id, f.width))
        .collect();
    assert_eq!(names, vec![("ingress_port", 1, 9), ("reason", 2, 7)]);
    assert_eq!(pin.len(), 2);
    let pout = cpu.packet_out.expect("the pipeline has packet_out");
    assert_eq!(pout.fields()[0].name, "egress_port");
    // A program without controller headers sends packets to the CPU whole.
    let minimal = Switch::load(include_str!("data/minimal.json")).expect("loads");
    let cpu = CpuPort::detect(&minimal, CPU).expect("no layouts");
    assert_eq!(cpu.packet_in, None);
    let pin = cpu.packet_in(&[1, 2, 3]).expect("whole");
    assert_eq!((pin.payload, pin.metadata), (vec![1, 2, 3], vec![]));
}

#[test]
fn rsvp_reaches_the_controller_with_its_packet_in_metadata() {
    let sw = single_dc_switch();
    let cpu = CpuPort::detect(&sw, CPU).expect("layouts");
    let (port, _out, packet_ins) = ControllerPort::with_channel(cpu);
    let mut dev = Device::new(sw);
    dev.attach(CPU, Box::new(port));
    let (mut uplink, dev_port) = link();
    dev.attach(3, Box::new(dev_port));
    let frame = rsvp_frame();
    uplink.push(1_000, frame.clone());
    assert_eq!(dev.run().expect("runs"), 1);
    let (time, pin) = packet_ins.try_recv().expect("a packet-in");
    assert_eq!(time, 1_000);
    assert_eq!(pin.payload, frame, "the packet_in header is stripped");
    assert_eq!(
        pin.metadata,
        vec![
            PacketMetadata {
                id: 1,
                value: canonical(3)
            },
            PacketMetadata {
                id: 2,
                value: canonical(PUNT_RSVP)
            },
        ]
    );
    assert!(uplink.drain().is_empty());
}

#[test]
fn a_packet_out_enters_on_the_cpu_port_and_leaves_where_its_metadata_says() {
    let sw = single_dc_switch();
    let cpu = CpuPort::detect(&sw, CPU).expect("layouts");
    let (port, out, packet_ins) = ControllerPort::with_channel(cpu);
    let mut dev = Device::new(sw);
    dev.attach(CPU, Box::new(port));
    let (dev_port, mut wire) = link();
    dev.attach(2, Box::new(dev_port));
    let payload = rsvp_frame();
    assert!(out.send(PacketOut {
        payload: payload.clone(),
        metadata: vec![PacketMetadata {
            id: 1,
            value: vec![0, 2]
        }],
    }));
    assert_eq!(dev.run().expect("runs"), 1);
    assert_eq!(wire.drain(), vec![(0, payload.clone())]);
    assert!(packet_ins.try_recv().is_err());
    // Metadata that does not fit its field is refused before the pipeline.
    assert!(out.send(PacketOut {
        payload,
        metadata: vec![PacketMetadata {
            id: 1,
            value: vec![2, 0]
        }],
    }));
    assert_eq!(dev.run().expect("runs"), 0);
    assert_eq!(dev.switch.stats().received, 1);
}

#[test]
fn links_deliver_in_time_order_across_devices() {
    // Two minimal switches (everything goes out of port 2): a's port 2 is
    // linked to b's port 3. Packets enter a on port 1 and b on port 1 at
    // interleaved times; the device holding the earliest packet runs first.
    let json = include_str!("data/minimal.json");
    let mut a = Device::new(Switch::load(json).expect("loads"));
    let mut b = Device::new(Switch::load(json).expect("loads"));
    let (mut in_early, a1) = link();
    let (mut in_late, b1) = link();
    let (a2, b3) = link();
    let (b2, mut out) = link();
    a.attach(1, Box::new(a1));
    a.attach(2, Box::new(a2));
    b.attach(1, Box::new(b1));
    b.attach(3, Box::new(b3));
    b.attach(2, Box::new(b2));
    for t in [10u64, 30, 50] {
        in_early.push(t, vec![t as u8; 20]);
    }
    for t in [20u64, 40] {
        in_late.push(t, vec![t as u8; 20]);
    }
    let mut net = Network::new(vec![a, b]);
    // Three packets are processed by both devices, two by b alone.
    assert_eq!(net.run().expect("runs"), 3 * 2 + 2);
    // All five leave on b's port 2, in the order they entered.
    let got: Vec<u64> = out.drain().into_iter().map(|(t, _)| t).collect();
    assert_eq!(got, vec![10, 20, 30, 40, 50]);
}

#[test]
fn pcap_ports_read_and_write_with_timestamps() {
    let json = include_str!("data/minimal.json");
    let mut dev = Device::new(Switch::load(json).expect("loads"));
    let origin = Duration::from_secs(1_700_000_000);
    let input = vec![
        (origin + Duration::from_micros(250), vec![7u8; 60]),
        (origin, vec![9u8; 60]),
    ];
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("port-out.pcap");
    let file = std::fs::File::create(&path).expect("create");
    let mut sorted = input.clone();
    sorted.sort_by_key(|(t, _)| *t);
    dev.attach(
        1,
        Box::new(PcapPort::new(sorted, origin, None).expect("in")),
    );
    dev.attach(
        2,
        Box::new(
            PcapPort::new(
                vec![],
                origin,
                Some(Box::new(std::io::BufWriter::new(file))),
            )
            .expect("out"),
        ),
    );
    assert_eq!(dev.run().expect("runs"), 2);
    dev.flush().expect("flush");
    let data = std::fs::read(&path).expect("read back");
    let got = fairshare_switch::port::read_pcap(&data).expect("a pcap file");
    assert_eq!(
        got,
        vec![
            (origin, vec![9u8; 60]),
            (origin + Duration::from_micros(250), vec![7u8; 60])
        ]
    );
}

/// Two veth pairs made for the test, removed when it ends.
#[cfg(target_os = "linux")]
struct Veths(Vec<String>);

#[cfg(target_os = "linux")]
impl Drop for Veths {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", name])
                .output();
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn live_interfaces_pass_traffic_through_veth_pairs() {
    use fairshare_switch::port::{LinuxIface, Port};
    use std::process::Command;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let require = std::env::var("FAIRSHARE_REQUIRE_PEERS").as_deref() == Ok("1");
    let skip = |why: String| {
        assert!(!require, "FAIRSHARE_REQUIRE_PEERS=1 but {why}");
        println!("skipped: {why}");
    };
    let ip = |args: &[&str]| Command::new("ip").args(args).output();
    match ip(&["-V"]) {
        Ok(o) if o.status.success() => {}
        _ => return skip("the `ip` command (iproute2) is missing".into()),
    }
    let id = std::process::id() % 100_000;
    let name = |s: &str| format!("fs{id}{s}");
    let (sw_in, peer_in, sw_out, peer_out) = (name("a0"), name("b0"), name("a1"), name("b1"));
    let mut made = Veths(vec![]);
    for (a, b) in [(&sw_in, &peer_in), (&sw_out, &peer_out)] {
        let o = ip(&["link", "add", a, "type", "veth", "peer", "name", b]).expect("ip runs");
        if !o.status.success() {
            return skip(format!(
                "cannot create a veth pair (CAP_NET_ADMIN needed): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        made.0.push(a.clone());
    }
    for n in [&sw_in, &peer_in, &sw_out, &peer_out] {
        // No IPv6 on the test's interfaces: the host stays quiet on them.
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{n}/disable_ipv6"), "1");
        let o = ip(&["link", "set", n, "up"]).expect("ip runs");
        assert!(o.status.success(), "ip link set {n} up failed");
    }
    let open = |n: &str| match LinuxIface::open(n) {
        Ok(p) => Some(p),
        Err(e) => {
            skip(format!("cannot open an AF_PACKET socket on {n}: {e}"));
            None
        }
    };
    let (Some(p1), Some(p2), Some(mut tx), Some(mut rx)) =
        (open(&sw_in), open(&sw_out), open(&peer_in), open(&peer_out))
    else {
        return;
    };

    // The minimal pipeline sends everything to port 2.
    let mut dev = Device::new(Switch::load(include_str!("data/minimal.json")).expect("loads"));
    dev.set_clock(fairshare_switch::port::Clock::Wall(
        std::time::Instant::now(),
    ));
    dev.attach(1, Box::new(p1));
    dev.attach(2, Box::new(p2));
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            dev.run_until(&stop).expect("the device runs");
            dev
        })
    };

    let marker = b"fairshare live test";
    let frames: Vec<Vec<u8>> = (0..10u8)
        .map(|i| {
            let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5];
            f.extend_from_slice(marker);
            f.push(i);
            f.resize(64, i);
            f
        })
        .collect();
    // Give the runner a moment to be polling, then send.
    std::thread::sleep(Duration::from_millis(50));
    for f in &frames {
        tx.send(0, f).expect("send on the peer");
    }
    let mut got = vec![];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut buf = vec![];
    while got.len() < frames.len() && std::time::Instant::now() < deadline {
        if rx.recv(&mut buf).expect("receive on the peer") {
            if buf.windows(marker.len()).any(|w| w == marker) {
                got.push(buf.clone());
            }
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let dev = runner.join().expect("runner");
    assert_eq!(
        got, frames,
        "every frame crosses the switch intact, in order"
    );
    assert!(dev.switch.stats().sent >= frames.len() as u64);
}
