//! Real `simple_switch_grpc` switches for the lab: each in a network
//! namespace of its own, its data ports veth pairs whose other ends the lab
//! holds in the host's namespace, its P4Runtime server reached over a
//! management veth pair.
//!
//! ```text
//!   host namespace                 │ namespace fs<tag>s<i>
//!   lab ── f<tag>s<i>p<N>  ═ veth ═│═ f<tag>s<i>p<N>x ── simple_switch_grpc -i N@…
//!   controller ── f<tag>s<i>m ═ veth ═│═ f<tag>s<i>mx  (P4Runtime on 169.254.B.4i+2:9559)
//! ```
//!
//! `tag` tells labs apart (see [`next_tag`]); `B` is taken from it too. The lab reads and writes frames on
//! its ends through `AF_PACKET` sockets (one per port, a reader thread
//! each); IPv6 is off on every interface made here, so the kernel adds no
//! frames of its own. Everything is removed when the [`Bmv2Switch`] is
//! dropped: the process is stopped (SIGTERM, then SIGKILL) and the
//! namespace deleted, which deletes the veth pairs in it and so their
//! other ends.
//!
//! Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for `ip netns`, CAP_NET_RAW)
//! and the `ip` command.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fairshare_policy::model::Switch;

/// What is done with a frame a switch sent out of a data port.
pub type OnFrame = Arc<dyn Fn(u32, &[u8]) + Send + Sync>;

/// One `simple_switch_grpc` and its ports.
pub struct Bmv2Switch {
    /// Where its P4Runtime server listens.
    pub addr: SocketAddr,
    namespace: String,
    child: Option<Child>,
    senders: BTreeMap<u32, Mutex<Box<dyn pnet_datalink::DataLinkSender>>>,
    stop: Arc<AtomicBool>,
    /// The interfaces made in the host's namespace.
    links: Vec<String>,
}

/// Runs `ip` with `args`; an error names the command and what it said.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running `ip {}`: {e}", args.join(" "))))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Turns IPv6 off on interface `name` (in namespace `ns`, if given), so
/// that the kernel sends no neighbour discovery out of it. A kernel
/// without IPv6 has nothing to turn off.
fn no_ipv6(ns: Option<&str>, name: &str) -> io::Result<()> {
    if !Path::new("/proc/sys/net/ipv6").exists() {
        return Ok(());
    }
    let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    let Some(ns) = ns else {
        return std::fs::write(&path, b"1")
            .map_err(|e| io::Error::new(e.kind(), format!("writing {path}: {e}")));
    };
    // The namespace's own /proc/sys, seen from a process inside it.
    ip(&["netns", "exec", ns, "sh", "-c", &format!("echo 1 > {path}")])
}

/// Why this process cannot make the network namespaces a [`Bmv2Switch`]
/// runs in, or `None` when it can. Found out once per process, by making
/// and removing one (callers may run side by side).
pub fn namespaces_unavailable() -> Option<String> {
    static ANSWER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ANSWER.get_or_init(probe_namespaces).clone()
}

fn probe_namespaces() -> Option<String> {
    let name = format!("fsprobe{}", std::process::id() % 100_000);
    match Command::new("ip").args(["netns", "add", &name]).output() {
        Ok(o) if o.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
            None
        }
        Ok(o) => Some(format!(
            "network namespaces cannot be made here (`ip netns add`: {})",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("the `ip` command cannot be run ({e})")),
    }
}

/// The names a lab gives its namespaces and interfaces: the process id
/// (modulo 1,000) and the lab's number in the process (modulo 10), so that
/// labs side by side, in one process or several, do not share them.
pub fn next_tag() -> u32 {
    static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    (std::process::id() % 1_000) * 10 + LABS.fetch_add(1, Ordering::Relaxed) % 10
}

impl Bmv2Switch {
    /// Starts switch number `index` of the lab tagged `tag` (see
    /// [`next_tag`]): its namespace, a veth pair
    /// per port of `ports` and one for management, and `bin`
    /// (`simple_switch_grpc`) on them; frames it sends out of a data port
    /// go to `on_frame`. Returns once its P4Runtime server accepts
    /// connections (or after 10 s, when it is reported as not starting).
    ///
    /// # Errors
    /// When an interface, the namespace or the process cannot be made;
    /// whatever was made is removed again.
    pub fn start(
        bin: &Path,
        tag: u32,
        index: usize,
        sw: &Switch,
        ports: &[u32],
        on_frame: OnFrame,
    ) -> io::Result<Bmv2Switch> {
        let namespace = format!("fs{tag}s{index}");
        ip(&["netns", "add", &namespace])?;
        let mut made = Bmv2Switch {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            namespace: namespace.clone(),
            child: None,
            senders: BTreeMap::new(),
            stop: Arc::new(AtomicBool::new(false)),
            links: vec![],
        };
        // From here on, dropping `made` removes the namespace and all in it.
        let ns = namespace.as_str();
        ip(&["netns", "exec", ns, "ip", "link", "set", "lo", "up"])?;
        // Management: 169.254.B.4i+1 here, .4i+2 in the namespace.
        let b = tag % 250 + 1;
        let (here, there) = (4 * index + 1, 4 * index + 2);
        if there > 254 {
            return Err(io::Error::other("at most 63 BMv2 switches in one lab"));
        }
        let m = format!("f{tag}s{index}m");
        let mx = format!("{m}x");
        made.links.push(m.clone());
        ip(&["link", "add", &m, "type", "veth", "peer", "name", &mx])?;
        ip(&["link", "set", &mx, "netns", ns])?;
        no_ipv6(None, &m)?;
        no_ipv6(Some(ns), &mx)?;
        ip(&["addr", "add", &format!("169.254.{b}.{here}/30"), "dev", &m])?;
        ip(&["link", "set", &m, "up"])?;
        ip(&[
            "netns",
            "exec",
            ns,
            "ip",
            "addr",
            "add",
            &format!("169.254.{b}.{there}/30"),
            "dev",
            &mx,
        ])?;
        ip(&["netns", "exec", ns, "ip", "link", "set", &mx, "up"])?;
        made.addr = format!("169.254.{b}.{there}:9559")
            .parse()
            .map_err(io::Error::other)?;

        let mut iface_args = vec![];
        for &port in ports {
            let lab = format!("f{tag}s{index}p{port}");
            let sw_end = format!("{lab}x");
            made.links.push(lab.clone());
            ip(&["link", "add", &lab, "type", "veth", "peer", "name", &sw_end])?;
            ip(&["link", "set", &sw_end, "netns", ns])?;
            no_ipv6(None, &lab)?;
            no_ipv6(Some(ns), &sw_end)?;
            ip(&["link", "set", &lab, "up"])?;
            ip(&["netns", "exec", ns, "ip", "link", "set", &sw_end, "up"])?;
            iface_args.push("-i".to_owned());
            iface_args.push(format!("{port}@{sw_end}"));
            let (tx, rx) = open(&lab)?;
            made.senders.insert(port, Mutex::new(tx));
            let stop = made.stop.clone();
            let on_frame = on_frame.clone();
            std::thread::Builder::new()
                .name(format!("bmv2-{}-p{port}", sw.name))
                .spawn(move || read_port(rx, port, &stop, &*on_frame))?;
        }

        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(bin)
            .args(["--no-p4", "--device-id", &sw.device_id.to_string()])
            .args(&iface_args)
            .args(["--", "--grpc-server-addr", &made.addr.to_string()])
            .args(["--cpu-port", &sw.cpu_port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting {}: {e}", bin.display())))?;
        made.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect_timeout(&made.addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(made);
            }
            if let Some(Ok(Some(status))) = made.child.as_mut().map(Child::try_wait) {
                return Err(io::Error::other(format!(
                    "{} for {} exited at start ({status})",
                    bin.display(),
                    sw.name
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{} for {}: no P4Runtime server on {} after 10 s",
                    bin.display(),
                    sw.name,
                    made.addr
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `frame` into the switch on `port`; false when it has no such
    /// port or the send failed.
    pub fn inject(&self, port: u32, frame: &[u8]) -> bool {
        let Some(tx) = self.senders.get(&port) else {
            return false;
        };
        let mut tx = tx.lock().unwrap_or_else(|e| e.into_inner());
        matches!(tx.send_to(frame, None), Some(Ok(())))
    }
}

impl Drop for Bmv2Switch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut child) = self.child.take() {
            // `ip netns exec` execs the switch: the child is the switch.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting the namespace deletes the veth ends in it, and with them
        // their peers here.
        if let Err(e) = ip(&["netns", "del", &self.namespace]) {
            tracing::warn!("removing namespace {}: {e}", self.namespace);
        }
        // Any left here (a pair made but not yet moved) goes too.
        for l in &self.links {
            if Path::new("/sys/class/net").join(l).exists() {
                let _ = ip(&["link", "del", l]);
            }
        }
    }
}

type Receiver = Box<dyn pnet_datalink::DataLinkReceiver>;

/// An `AF_PACKET` socket on interface `name`.
fn open(name: &str) -> io::Result<(Box<dyn pnet_datalink::DataLinkSender>, Receiver)> {
    let iface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| io::Error::other(format!("no interface {name} after making it")))?;
    let config = pnet_datalink::Config {
        read_buffer_size: 65_536,
        write_buffer_size: 65_536,
        read_timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    match pnet_datalink::channel(&iface, config)? {
        pnet_datalink::Channel::Ethernet(tx, rx) => Ok((tx, rx)),
        _ => Err(io::Error::other(format!("{name}: not an Ethernet channel"))),
    }
}

/// Hands every frame `rx` reads to `on_frame` until `stop`.
fn read_port(
    mut rx: Receiver,
    port: u32,
    stop: &AtomicBool,
    on_frame: &(dyn Fn(u32, &[u8]) + Send + Sync),
) {
    while !stop.load(Ordering::Relaxed) {
        match rx.next() {
            Ok(frame) => on_frame(port, frame),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) => {}
            Err(e) => {
                // The interface goes with the namespace when the switch
                // stops: only an error before that is worth a word.
                if !stop.load(Ordering::Relaxed) {
                    tracing::warn!("reading port {port}: {e}");
                }
                return;
            }
        }
    }
}
