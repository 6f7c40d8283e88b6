//! Ports around the core: a [`Port`] trait, its implementations (pcap
//! files, in-process links, the CPU port's controller channel, Linux
//! interfaces), and a [`Device`] that runs a switch with its ports.
//!
//! This is the only module that does IO; the core ([`Switch`]) is given
//! packets and times and hands packets back.
//!
//! Time: every device keeps a clock in microseconds. Ports whose packets
//! carry a time (pcap files, links between devices) announce it, and the
//! device processes the earliest packet first, so a run over files and
//! links gives the same result every time. Packets that arrive "now"
//! (packet-outs, live interfaces) take the device's clock: the time of
//! the last packet processed, or the wall clock for a live device.
//!
//! ```
//! use fairshare_switch::port::{link, Device, Network};
//! use fairshare_switch::Switch;
//! // The minimal pipeline sends what comes in on port 1 out of port 2.
//! let json = include_str!("../tests/data/minimal.json");
//! let (mut a, mut b) = (Device::new(Switch::load(json).unwrap()), Device::new(Switch::load(json).unwrap()));
//! let (mut input, a1) = link();
//! let (a2, b1) = link();
//! let (b2, mut output) = link();
//! a.attach(1, Box::new(a1));
//! a.attach(2, Box::new(a2));
//! b.attach(1, Box::new(b1));
//! b.attach(2, Box::new(b2));
//! input.push(5, vec![0u8; 20]);
//! let mut net = Network::new(vec![a, b]);
//! assert_eq!(net.run().unwrap(), 2);
//! assert_eq!(output.drain(), vec![(5, vec![0u8; 20])]);
//! ```

use crate::cpu::{CpuPort, PacketIn, PacketOut};
use crate::Switch;
use std::collections::BTreeMap;
use std::io;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// When a packet a port holds arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// At this time on the device's clock (microseconds).
    At(u64),
    /// Now, whatever the device's clock says.
    Now,
}

/// One port of a device: it receives packets for the switch and sends the
/// packets the switch emits on it.
pub trait Port: Send {
    /// When the next packet that can be received arrived; `None` when no
    /// packet is waiting.
    fn ready(&mut self) -> io::Result<Option<Arrival>>;
    /// Takes the packet [`Port::ready`] announced into `buf` (replacing its
    /// contents); `false` when there was none.
    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool>;
    /// Sends a packet the switch emitted at `now_us`. An error of kind
    /// [`io::ErrorKind::NotConnected`] means the port has nowhere to send
    /// (an input-only pcap port): the packet is counted as dropped.
    fn send(&mut self, now_us: u64, data: &[u8]) -> io::Result<()>;
    /// Writes out anything buffered.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---- pcap files ----

/// Every packet of a pcap or pcapng file with its timestamp.
pub fn read_pcap(data: &[u8]) -> io::Result<Vec<(Duration, Vec<u8>)>> {
    use pcap_file::pcap::PcapReader;
    use pcap_file::pcapng::{Block, PcapNgReader};
    let bad = |what: &str, e: pcap_file::PcapError| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
    };
    let mut out = vec![];
    if data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut r = PcapNgReader::new(data).map_err(|e| bad("not a pcapng file", e))?;
        while let Some(b) = r.next_block() {
            match b.map_err(|e| bad("a damaged pcapng block", e))? {
                Block::EnhancedPacket(p) => out.push((p.timestamp, p.data.into_owned())),
                Block::SimplePacket(p) => out.push((Duration::ZERO, p.data.into_owned())),
                _ => {}
            }
        }
    } else {
        let mut r = PcapReader::new(data).map_err(|e| bad("not a pcap file", e))?;
        while let Some(p) = r.next_packet() {
            let p = p.map_err(|e| bad("a damaged pcap record", e))?;
            out.push((p.timestamp, p.data.into_owned()));
        }
    }
    Ok(out)
}

/// A port on pcap files: packets read from one (in memory, each arriving at
/// its timestamp minus the origin), packets sent written to another (at
/// the origin plus the time they were sent).
pub struct PcapPort {
    input: std::collections::VecDeque<(u64, Vec<u8>)>,
    output: Option<Box<dyn io::Write + Send>>,
    origin: Duration,
}

impl PcapPort {
    /// `input`: packets and their timestamps; `origin`: the timestamp that
    /// is time 0 on the device's clock (the earliest packet of all inputs,
    /// usually); `output`: where sent packets are written as pcap.
    pub fn new(
        input: Vec<(Duration, Vec<u8>)>,
        origin: Duration,
        output: Option<Box<dyn io::Write + Send>>,
    ) -> io::Result<PcapPort> {
        let output = match output {
            Some(mut w) => {
                // The classic pcap header: magic, version 2.4, UTC, no
                // accuracy figure, snap length, Ethernet.
                let mut h = vec![];
                h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
                h.extend_from_slice(&2u16.to_le_bytes());
                h.extend_from_slice(&4u16.to_le_bytes());
                h.extend_from_slice(&[0; 8]);
                h.extend_from_slice(&SNAP_LEN.to_le_bytes());
                h.extend_from_slice(&1u32.to_le_bytes());
                w.write_all(&h)?;
                Some(w)
            }
            None => None,
        };
        Ok(PcapPort {
            input: input
                .into_iter()
                .map(|(ts, d)| (ts.saturating_sub(origin).as_micros() as u64, d))
                .collect(),
            output,
            origin,
        })
    }
}

impl Port for PcapPort {
    fn ready(&mut self) -> io::Result<Option<Arrival>> {
        Ok(self.input.front().map(|(t, _)| Arrival::At(*t)))
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        Ok(match self.input.pop_front() {
            Some((_, d)) => {
                *buf = d;
                true
            }
            None => false,
        })
    }

    fn send(&mut self, now_us: u64, data: &[u8]) -> io::Result<()> {
        let Some(w) = &mut self.output else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        {
            let ts = self.origin + Duration::from_micros(now_us);
            let len = data.len().min(SNAP_LEN as usize);
            let mut h = [0u8; 16];
            h[0..4].copy_from_slice(&(ts.as_secs() as u32).to_le_bytes());
            h[4..8].copy_from_slice(&ts.subsec_micros().to_le_bytes());
            h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
            h[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
            w.write_all(&h)?;
            w.write_all(&data[..len])?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.output {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

use std::io::Write as _;

/// The longest packet written to a pcap file (jumbo frames fit).
const SNAP_LEN: u32 = 65_535;

// ---- in-process links ----

/// One end of an in-process link: what is sent on one end is received on
/// the other, with the time it was sent. Ends can be moved to other
/// threads.
pub struct LinkEnd {
    tx: mpsc::Sender<(u64, Vec<u8>)>,
    rx: mpsc::Receiver<(u64, Vec<u8>)>,
    peeked: Option<(u64, Vec<u8>)>,
}

/// A link between two ports (of two devices, or a device and a test).
pub fn link() -> (LinkEnd, LinkEnd) {
    let (tx_a, rx_b) = mpsc::channel();
    let (tx_b, rx_a) = mpsc::channel();
    (
        LinkEnd {
            tx: tx_a,
            rx: rx_a,
            peeked: None,
        },
        LinkEnd {
            tx: tx_b,
            rx: rx_b,
            peeked: None,
        },
    )
}

impl LinkEnd {
    /// Sends a packet to the other end, as a device would at `time_us`.
    pub fn push(&mut self, time_us: u64, data: Vec<u8>) {
        // The other end being gone is a cut cable: the packet is lost.
        let _ = self.tx.send((time_us, data));
    }

    /// The next packet from the other end, if one is waiting.
    pub fn pop(&mut self) -> Option<(u64, Vec<u8>)> {
        self.peeked.take().or_else(|| self.rx.try_recv().ok())
    }

    /// Every packet waiting.
    pub fn drain(&mut self) -> Vec<(u64, Vec<u8>)> {
        std::iter::from_fn(|| self.pop()).collect()
    }
}

impl Port for LinkEnd {
    fn ready(&mut self) -> io::Result<Option<Arrival>> {
        if self.peeked.is_none() {
            self.peeked = self.rx.try_recv().ok();
        }
        Ok(self.peeked.as_ref().map(|(t, _)| Arrival::At(*t)))
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        Ok(match self.pop() {
            Some((_, d)) => {
                *buf = d;
                true
            }
            None => false,
        })
    }

    fn send(&mut self, now_us: u64, data: &[u8]) -> io::Result<()> {
        self.push(now_us, data.to_vec());
        Ok(())
    }
}

// ---- the CPU port ----

/// The CPU port as a port: packets sent to it lose their `packet_in`
/// header and go to the controller's sink with its metadata; packet-outs
/// from the controller get their `packet_out` header and enter the switch.
pub struct ControllerPort {
    cpu: CpuPort,
    sink: Box<dyn FnMut(u64, PacketIn) + Send>,
    rx: mpsc::Receiver<PacketOut>,
    peeked: Option<Vec<u8>>,
    /// Packets sent to the CPU port too short for the `packet_in` header,
    /// and packet-outs whose metadata did not fit; both are dropped.
    pub malformed: u64,
}

/// Where the controller puts its packet-outs; cloneable and `Send`.
#[derive(Clone)]
pub struct PacketOutSender(mpsc::Sender<PacketOut>);

impl PacketOutSender {
    /// Queues a packet-out; `false` when the device is gone.
    pub fn send(&self, out: PacketOut) -> bool {
        self.0.send(out).is_ok()
    }
}

impl ControllerPort {
    /// The CPU port, handing packet-ins (with the time they were sent) to
    /// `sink`, and the sender the controller queues packet-outs on.
    pub fn new(
        cpu: CpuPort,
        sink: Box<dyn FnMut(u64, PacketIn) + Send>,
    ) -> (ControllerPort, PacketOutSender) {
        let (tx, rx) = mpsc::channel();
        (
            ControllerPort {
                cpu,
                sink,
                rx,
                peeked: None,
                malformed: 0,
            },
            PacketOutSender(tx),
        )
    }

    /// A CPU port whose packet-ins go to a channel.
    pub fn with_channel(
        cpu: CpuPort,
    ) -> (
        ControllerPort,
        PacketOutSender,
        mpsc::Receiver<(u64, PacketIn)>,
    ) {
        let (tx, rx) = mpsc::channel();
        let (port, out) = ControllerPort::new(
            cpu,
            Box::new(move |t, p| {
                let _ = tx.send((t, p));
            }),
        );
        (port, out, rx)
    }

    pub fn cpu(&self) -> &CpuPort {
        &self.cpu
    }
}

impl Port for ControllerPort {
    fn ready(&mut self) -> io::Result<Option<Arrival>> {
        while self.peeked.is_none() {
            let Ok(out) = self.rx.try_recv() else { break };
            match self.cpu.packet_out(&out) {
                Ok(bytes) => self.peeked = Some(bytes),
                Err(e) => {
                    self.malformed += 1;
                    tracing::warn!("packet-out refused: {e}");
                }
            }
        }
        Ok(self.peeked.as_ref().map(|_| Arrival::Now))
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        self.ready()?;
        Ok(match self.peeked.take() {
            Some(d) => {
                *buf = d;
                true
            }
            None => false,
        })
    }

    fn send(&mut self, now_us: u64, data: &[u8]) -> io::Result<()> {
        match self.cpu.packet_in(data) {
            Some(p) => (self.sink)(now_us, p),
            None => self.malformed += 1,
        }
        Ok(())
    }
}

// ---- Linux interfaces ----

/// A port on a Linux network interface (a veth, a tap, a NIC), through an
/// `AF_PACKET` socket: every frame the interface receives is a packet in,
/// and packets sent go out of it.
///
/// A thread reads the socket and queues frames (so [`Port::ready`] never
/// blocks); it stops when the port is dropped. Limitation: the socket also
/// sees frames the host's own stack sends out of the interface (neighbour
/// discovery, for one), so an interface given to the switch should carry
/// no addresses of the host.
#[cfg(target_os = "linux")]
pub struct LinuxIface {
    name: String,
    tx: Box<dyn pnet_datalink::DataLinkSender>,
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    peeked: Option<Vec<u8>>,
}

#[cfg(target_os = "linux")]
impl LinuxIface {
    /// Opens the interface named `name` (needs `CAP_NET_RAW`).
    pub fn open(name: &str) -> io::Result<LinuxIface> {
        let iface = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == name)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("expected a network interface named `{name}`, found none"),
                )
            })?;
        let config = pnet_datalink::Config {
            // Jumbo frames fit.
            read_buffer_size: 65_536,
            write_buffer_size: 65_536,
            // The reader wakes up this often to see whether the port is gone.
            read_timeout: Some(Duration::from_millis(100)),
            ..Default::default()
        };
        let (tx, mut rx) = match pnet_datalink::channel(&iface, config)? {
            pnet_datalink::Channel::Ethernet(tx, rx) => (tx, rx),
            _ => {
                return Err(io::Error::other(format!(
                    "`{name}`: expected an Ethernet channel"
                )))
            }
        };
        let (queue, frames) = mpsc::sync_channel(4096);
        std::thread::Builder::new()
            .name(format!("iface-{name}"))
            .spawn(move || loop {
                let item = match rx.next() {
                    Ok(frame) => Ok(frame.to_vec()),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                        ) =>
                    {
                        // Nothing arrived: stop if the port is gone.
                        match queue.try_send(Err(io::ErrorKind::WouldBlock.into())) {
                            Err(mpsc::TrySendError::Disconnected(_)) => return,
                            _ => continue,
                        }
                    }
                    Err(e) => Err(e),
                };
                match queue.try_send(item) {
                    Ok(()) => {}
                    // A full queue drops the frame, as a NIC's ring does.
                    Err(mpsc::TrySendError::Full(_)) => {}
                    Err(mpsc::TrySendError::Disconnected(_)) => return,
                }
            })?;
        Ok(LinuxIface {
            name: name.into(),
            tx,
            rx: frames,
            peeked: None,
        })
    }
}

#[cfg(target_os = "linux")]
impl Port for LinuxIface {
    fn ready(&mut self) -> io::Result<Option<Arrival>> {
        while self.peeked.is_none() {
            match self.rx.try_recv() {
                Ok(Ok(frame)) => self.peeked = Some(frame),
                Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                Ok(Err(e)) => return Err(io::Error::new(e.kind(), format!("{}: {e}", self.name))),
                Err(_) => break,
            }
        }
        Ok(self.peeked.as_ref().map(|_| Arrival::Now))
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        self.ready()?;
        Ok(match self.peeked.take() {
            Some(d) => {
                *buf = d;
                true
            }
            None => false,
        })
    }

    fn send(&mut self, _now_us: u64, data: &[u8]) -> io::Result<()> {
        match self.tx.send_to(data, None) {
            Some(r) => r.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.name))),
            None => Err(io::Error::other(format!(
                "{}: the frame was not sent",
                self.name
            ))),
        }
    }
}

// ---- devices ----

/// Where a device's clock comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The times of the packets: the clock is the time of the last packet
    /// processed (deterministic; for files and links).
    Packets,
    /// Microseconds since this instant (for live interfaces).
    Wall(Instant),
}

/// A switch with its ports.
pub struct Device {
    pub switch: Switch,
    ports: BTreeMap<u32, Box<dyn Port>>,
    clock: Clock,
    now: u64,
    buf: Vec<u8>,
}

impl Device {
    pub fn new(switch: Switch) -> Device {
        Device {
            switch,
            ports: BTreeMap::new(),
            clock: Clock::Packets,
            now: 0,
            buf: Vec::with_capacity(2048),
        }
    }

    /// Attaches a port, replacing any already there.
    pub fn attach(&mut self, port: u32, p: Box<dyn Port>) {
        self.ports.insert(port, p);
    }

    /// Takes a port off (e.g. to read what a test port collected).
    pub fn detach(&mut self, port: u32) -> Option<Box<dyn Port>> {
        self.ports.remove(&port)
    }

    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// The device's clock now, in microseconds.
    pub fn now(&self) -> u64 {
        match self.clock {
            Clock::Packets => self.now,
            Clock::Wall(origin) => origin.elapsed().as_micros() as u64,
        }
    }

    /// The port whose waiting packet arrived first, and its time (ties go
    /// to the lower port number).
    pub fn next_ready(&mut self) -> io::Result<Option<(u64, u32)>> {
        let now = self.now();
        let mut best: Option<(u64, u32)> = None;
        for (n, p) in &mut self.ports {
            if let Some(a) = p.ready()? {
                let t = match a {
                    Arrival::At(t) => t,
                    Arrival::Now => now,
                };
                if best.is_none_or(|(bt, _)| t < bt) {
                    best = Some((t, *n));
                }
            }
        }
        Ok(best)
    }

    /// Processes the packet of `port` (which must be ready) at `time`.
    fn process_from(&mut self, time: u64, port: u32) -> io::Result<()> {
        let Some(p) = self.ports.get_mut(&port) else {
            return Ok(());
        };
        if !p.recv(&mut self.buf)? {
            return Ok(());
        }
        // The clock never runs backwards: a late packet is processed now.
        let now = time.max(self.now);
        if matches!(self.clock, Clock::Packets) {
            self.now = now;
        }
        let ports = &mut self.ports;
        let mut no_port = 0u64;
        let mut failure = None;
        self.switch.process(
            port,
            &self.buf,
            now,
            &mut |out, bytes| match ports.get_mut(&out) {
                Some(p) => match p.send(now, bytes) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => no_port += 1,
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                },
                None => no_port += 1,
            },
        );
        for _ in 0..no_port {
            self.switch.count_no_port();
        }
        failure.map_or(Ok(()), Err)
    }

    /// Processes the earliest waiting packet; `false` when none was waiting.
    pub fn step(&mut self) -> io::Result<bool> {
        match self.next_ready()? {
            Some((t, port)) => {
                self.process_from(t, port)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Processes packets until no port has one waiting; returns how many.
    pub fn run(&mut self) -> io::Result<u64> {
        let mut n = 0;
        while self.step()? {
            n += 1;
        }
        Ok(n)
    }

    /// Runs until `stop` is set, waiting for packets (live interfaces,
    /// links from other threads).
    pub fn run_until(&mut self, stop: &std::sync::atomic::AtomicBool) -> io::Result<()> {
        let mut idle = 0u32;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if self.step()? {
                idle = 0;
            } else {
                idle = idle.saturating_add(1);
                if idle > 64 {
                    std::thread::sleep(Duration::from_micros(200));
                } else {
                    std::thread::yield_now();
                }
            }
        }
        self.flush()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        for p in self.ports.values_mut() {
            p.flush()?;
        }
        Ok(())
    }
}

/// Several devices in one process, run together: the packet that arrived
/// first anywhere is processed first, so runs over links are deterministic.
pub struct Network {
    pub devices: Vec<Device>,
}

impl Network {
    pub fn new(devices: Vec<Device>) -> Network {
        Network { devices }
    }

    /// Runs until no device has a packet waiting; returns how many packets
    /// were processed.
    pub fn run(&mut self) -> io::Result<u64> {
        let mut n = 0;
        loop {
            let mut best: Option<(u64, usize, u32)> = None;
            for (i, d) in self.devices.iter_mut().enumerate() {
                if let Some((t, p)) = d.next_ready()? {
                    if best.is_none_or(|(bt, _, _)| t < bt) {
                        best = Some((t, i, p));
                    }
                }
            }
            let Some((t, i, p)) = best else {
                return Ok(n);
            };
            self.devices[i].process_from(t, p)?;
            n += 1;
        }
    }
}
