//! Attacks on invariant 1 and the end of 8 (issue 18, E11 and the network
//! attacks kept blocked): nothing the agent sends — unicast, broadcast or
//! multicast — reaches a host socket; the host, gateways, other bottles,
//! the sidecar's other ports, IPv6, raw and packet sockets and DNS
//! tunnels are refused. See main.rs for the naming rule.
//!
//! Datagram attacks: the host binds a UDP listener to 0.0.0.0 (joined to
//! the multicast groups on every bridge it can), the agent sends a
//! nonce, then a control sender on the host sends another nonce the same
//! way; the trial waits for the control, then asserts the agent's nonce
//! never arrived.

use crate::fixture::{self, ensure, Bottle, Outcome, Registry};
use crate::support::Engine;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const AREA: &str = "network";
/// The sidecar's service ports (DNS, health, proxy, supervise, git gate).
const SERVICE_PORTS: [u16; 5] = [53, 9098, 9099, 9100, 9420];
const WAIT: Duration = Duration::from_secs(20);

pub fn register(reg: &mut Registry) {
    reg.inside(AREA, "udp_broadcast_reaches_no_host_socket", |e| {
        datagram(e, "255.255.255.255", 1, false)
    });
    reg.inside(
        AREA,
        "udp_broadcast_bound_to_its_interface_reaches_no_host_socket",
        |e| datagram(e, "255.255.255.255", 1, true),
    );
    reg.inside(AREA, "udp_subnet_broadcast_reaches_no_host_socket", |e| {
        let b = fixture::shell(e);
        let bcast = subnet_broadcast(&b).ok_or("no IPv4 subnet on the agent network")?;
        datagram(e, &bcast.to_string(), 1, true)
    });
    reg.inside(
        AREA,
        "multicast_all_hosts_ttl1_reaches_no_host_socket",
        |e| datagram(e, "224.0.0.1", 1, true),
    );
    reg.inside(
        AREA,
        "multicast_all_hosts_ttl32_reaches_no_host_socket",
        |e| datagram(e, "224.0.0.1", 32, false),
    );
    reg.inside(AREA, "multicast_ssdp_ttl1_reaches_no_host_socket", |e| {
        datagram(e, "239.255.255.250", 1, true)
    });
    reg.inside(AREA, "multicast_ssdp_ttl32_reaches_no_host_socket", |e| {
        datagram(e, "239.255.255.250", 32, true)
    });
    reg.inside(AREA, "multicast_mdns_reaches_no_host_socket", |e| {
        datagram(e, "224.0.0.251", 255, true)
    });
    reg.inside(
        AREA,
        "udp_unicast_to_every_host_address_reaches_no_host_socket",
        udp_unicast_to_host,
    );
    reg.inside(
        AREA,
        "tcp_to_every_host_address_and_gateway_is_refused",
        tcp_to_host,
    );
    reg.inside(
        AREA,
        "tcp_bound_to_its_interface_to_every_host_address_is_refused",
        tcp_to_host_bound,
    );
    reg.inside(
        AREA,
        "tcp_and_udp_to_another_bottle_are_refused",
        another_bottle,
    );
    reg.inside(
        AREA,
        "sidecar_port_scan_finds_only_service_ports",
        port_scan,
    );
    reg.inside(AREA, "raw_socket_is_refused_eperm", |e| {
        refused_eperm(e, "raw-socket")
    });
    reg.inside(AREA, "packet_socket_is_refused_eperm", |e| {
        refused_eperm(e, "packet-socket")
    });
    reg.inside(AREA, "ipv6_to_the_host_is_unreachable", ipv6_to_host);
    reg.inside(AREA, "ipv6_multicast_reaches_nothing", ipv6_multicast);
    reg.inside(AREA, "dns_tunnel_through_the_sidecar_udp_is_refused", |e| {
        dns_tunnel(e, "udp")
    });
    reg.inside(AREA, "dns_tunnel_through_the_sidecar_tcp_is_refused", |e| {
        dns_tunnel(e, "tcp")
    });
    reg.inside(
        AREA,
        "dns_tunnel_through_the_engine_resolver_gets_no_answer",
        dns_embedded,
    );
}

// ---------------------------------------------------------------- host side

/// A UDP listener on 0.0.0.0:<free port>, joined to the groups on every
/// bridge device and eth0 (as far as the kernel's membership limit goes),
/// recording every payload.
struct Listener {
    port: u16,
    heard: Arc<Mutex<Vec<String>>>,
    _sock: UdpSocket,
}

fn host_interfaces() -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let bridge = entry.path().join("bridge").exists();
        if !(bridge || name == "eth0" || name == "lo") {
            continue;
        }
        let Ok(cname) = std::ffi::CString::new(name.clone()) else {
            continue;
        };
        // SAFETY: a valid NUL-terminated name.
        let idx = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if idx != 0 {
            out.push((name, idx));
        }
    }
    out
}

impl Listener {
    fn start(groups: &[Ipv4Addr], first: &[String]) -> Listener {
        let sock = UdpSocket::bind("0.0.0.0:0").expect("bind 0.0.0.0");
        let port = sock.local_addr().expect("addr").port();
        let mut ifs = host_interfaces();
        // This bottle's own bridges first: the membership limit is 20.
        ifs.sort_by_key(|(n, _)| !first.contains(n));
        for g in groups {
            for (_, idx) in ifs.iter().take(20 / groups.len().max(1)) {
                join(&sock, *g, *idx);
            }
        }
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let heard = Arc::new(Mutex::new(Vec::new()));
        let (s, h) = (sock.try_clone().expect("clone"), heard.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            loop {
                match s.recv_from(&mut buf) {
                    Ok((n, from)) => h
                        .lock()
                        .expect("heard")
                        .push(format!("{from} {}", String::from_utf8_lossy(&buf[..n]))),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        if Arc::strong_count(&h) == 1 {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        Listener {
            port,
            heard,
            _sock: sock,
        }
    }

    fn heard(&self, nonce: &str) -> Option<String> {
        self.heard
            .lock()
            .expect("heard")
            .iter()
            .find(|l| l.contains(nonce))
            .cloned()
    }

    /// Waits for the control nonce; then a short grace for anything sent
    /// before it on another path.
    fn wait_control(&self, nonce: &str) -> bool {
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if self.heard(nonce).is_some() {
                std::thread::sleep(Duration::from_secs(1));
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

fn join(sock: &UdpSocket, group: Ipv4Addr, ifindex: u32) {
    use std::os::fd::AsRawFd;
    let mreq = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from(group).to_be(),
        },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex as i32,
    };
    // SAFETY: a valid socket and a correctly sized ip_mreqn. A refusal
    // (limit reached, interface down) only narrows the listener.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_ADD_MEMBERSHIP,
            (&mreq as *const libc::ip_mreqn).cast(),
            std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        );
    }
}

fn nonce(what: &str) -> String {
    format!(
        "escape-{what}-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    )
}

/// The host bridge devices of this bottle's networks (listener joins them
/// first).
fn own_bridges(b: &Bottle) -> Vec<String> {
    let internal = fixture::names(&b.slug).internal_network;
    let mut out = Vec::new();
    for net in [
        format!("{internal}-carrier"),
        internal,
        fixture::names(&b.slug).egress_network,
    ] {
        let id =
            b.e.cli(&["network", "inspect", &net, "--format", "{{.Id}}"]);
        if let Some(short) = id.get(..12) {
            out.push(format!("br-{short}"));
        }
        let podman = b.e.cli(&[
            "network",
            "inspect",
            &net,
            "--format",
            "{{index .Options \"com.docker.network.bridge.name\"}}",
        ]);
        if !podman.is_empty() && !podman.contains("no value") {
            out.push(podman);
        }
    }
    out
}

/// The agent network's IPv4 subnet broadcast address.
fn subnet_broadcast(b: &Bottle) -> Option<Ipv4Addr> {
    let internal = fixture::names(&b.slug).internal_network;
    let subnet = b.e.cli(&[
        "network",
        "inspect",
        &internal,
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
    ]);
    let s = subnet.split_whitespace().find(|s| s.contains('.'))?;
    let (addr, len) = s.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    let host_bits = u32::MAX.checked_shr(len).unwrap_or(0);
    Some(Ipv4Addr::from(u32::from(addr) | host_bits))
}

/// The host's IPv4 addresses (every interface) and IPv6 ones.
fn host_addresses() -> (Vec<String>, Vec<String>) {
    let out = std::process::Command::new("ip")
        .args(["-o", "addr"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dev), Some(kind), Some(addr)) = (f.get(1), f.get(2), f.get(3)) else {
            continue;
        };
        let addr = addr.split('/').next().unwrap_or_default().to_string();
        match *kind {
            "inet" => v4.push(addr),
            // The agent would aim a link-local address through its eth0.
            "inet6" if addr.starts_with("fe80") && *dev != "lo" => v6.push(format!("{addr}%eth0")),
            "inet6" => v6.push(addr),
            _ => {}
        }
    }
    (v4, v6)
}

/// The gateways of every network on the engine (IPv4).
fn gateways(e: &Engine) -> Vec<String> {
    let ids = e.cli(&["network", "ls", "-q"]);
    let mut out = Vec::new();
    for id in ids.split_whitespace() {
        let g = e.cli(&[
            "network",
            "inspect",
            id,
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}} {{end}}",
        ]);
        out.extend(
            g.split_whitespace()
                .filter(|a| a.parse::<Ipv4Addr>().is_ok())
                .map(String::from),
        );
    }
    out
}

fn sidecar_ip(b: &Bottle) -> String {
    let internal = fixture::names(&b.slug).internal_network;
    b.e.cli(&[
        "inspect",
        &b.sidecar_container(),
        "--format",
        &format!("{{{{(index .NetworkSettings.Networks \"{internal}\").IPAddress}}}}"),
    ])
}

/// Sends one UDP datagram from the host (the control), as the agent did.
fn host_send(dst: &str, port: u16, payload: &str) {
    if let Ok(s) = UdpSocket::bind("0.0.0.0:0") {
        let _ = s.set_broadcast(true);
        let _ = s.set_multicast_ttl_v4(1);
        let _ = s.send_to(payload.as_bytes(), (dst, port));
    }
}

/// The datagram attack: the agent sends to `dst` (with `bind`: on its
/// interface explicitly, past its routing table); a listener on every
/// host address must hear nothing while the host's control arrives.
fn datagram(e: &Engine, dst: &str, ttl: u32, bind: bool) -> Outcome {
    let b = fixture::shell(e);
    let groups: Vec<Ipv4Addr> = dst
        .parse::<Ipv4Addr>()
        .ok()
        .filter(Ipv4Addr::is_multicast)
        .into_iter()
        .collect();
    let l = Listener::start(&groups, &own_bridges(&b));
    let agent = nonce("agent");
    let port = l.port.to_string();
    let ttl = ttl.to_string();
    let mut said = Vec::new();
    for _ in 0..3 {
        let mut args = vec!["udp-send", dst, &port, &ttl, &agent];
        if bind {
            args.push("bind");
        }
        said.push(b.tool(&args).1);
    }
    let control = nonce("control");
    host_send(dst, l.port, &control);
    if !l.wait_control(&control) {
        // The control path itself (e.g. 224.0.0.251 off-loop) may not loop
        // back on this host: fall back to a unicast control.
        host_send("127.0.0.1", l.port, &control);
        ensure(l.wait_control(&control), || {
            "the host listener heard not even the control: the trial proves nothing".into()
        })?;
    }
    ensure(l.heard(&agent).is_none(), || {
        format!(
            "a host socket on 0.0.0.0 received the agent's datagram to {dst}: {:?} (agent: {})",
            l.heard(&agent),
            said.join(" | ")
        )
    })?;
    // Refused the specific way: unroutable, or sent on a link the host's
    // stack never receives.
    ensure(
        said.iter()
            .all(|s| s.contains("sent") || s.contains("unreachable")),
        || format!("unexpected tool output: {}", said.join(" | ")),
    )
}

fn udp_unicast_to_host(e: &Engine) -> Outcome {
    let b = fixture::shell(e);
    let l = Listener::start(&[], &[]);
    let agent = nonce("agent");
    let port = l.port.to_string();
    let (mut targets, _) = host_addresses();
    targets.extend(gateways(e));
    let mut said = Vec::new();
    for t in &targets {
        said.push(b.tool(&["udp-send", t, &port, "1", &agent, "bind"]).1);
        said.push(b.tool(&["udp-send", t, &port, "1", &agent]).1);
    }
    let control = nonce("control");
    host_send("127.0.0.1", l.port, &control);
    ensure(l.wait_control(&control), || "control not heard".into())?;
    ensure(l.heard(&agent).is_none(), || {
        format!(
            "a host socket received the agent's unicast: {:?} ({targets:?})",
            l.heard(&agent)
        )
    })
}

/// With SO_BINDTODEVICE the kernel treats every destination as on-link:
/// the agent ARPs for a host address on its own segment, and a host
/// interface there (even without an address) would answer for it.
fn tcp_to_host_bound(e: &Engine) -> Outcome {
    tcp_to_host_as(e, "tcp-connect-bound")
}

fn tcp_to_host(e: &Engine) -> Outcome {
    tcp_to_host_as(e, "tcp-connect")
}

fn tcp_to_host_as(e: &Engine, cmd: &str) -> Outcome {
    let b = fixture::shell(e);
    let listener = std::net::TcpListener::bind("0.0.0.0:0").map_err(|x| x.to_string())?;
    let port = listener
        .local_addr()
        .map_err(|x| x.to_string())?
        .port()
        .to_string();
    let (mut targets, _) = host_addresses();
    targets.extend(gateways(e));
    targets.push("169.254.169.254".into());
    let mut args = vec![cmd, &port];
    args.extend(targets.iter().map(String::as_str));
    let (code, out) = b.tool(&args);
    ensure(code == 1 && !out.contains("CONNECTED"), || {
        format!("the agent reached a host TCP socket: {out}")
    })?;
    // Control: the sidecar's health port answers the same tool.
    let sc = sidecar_ip(&b);
    let (code, out) = b.tool(&[cmd, "9098", &sc]);
    ensure(code == 0 && out.contains("CONNECTED"), || {
        format!("control: the tool could not reach the sidecar's health port: {out}")
    })
}

fn another_bottle(e: &Engine) -> Outcome {
    let b = fixture::shell(e);
    let other = fixture::cached(&format!("network-other/{}/{:?}", e.name, e.runtime), || {
        Bottle::start(e, "shell", |_, ws| {
            std::fs::write(ws.join("README.md"), "other\n").expect("write");
        })
    });
    let mut targets = Vec::new();
    for c in [other.agent_container(), other.sidecar_container()] {
        let ips = e.cli(&[
            "inspect",
            &c,
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        ]);
        targets.extend(ips.split_whitespace().map(String::from));
    }
    ensure(!targets.is_empty(), || {
        "the other bottle has no address".into()
    })?;
    let mut said = Vec::new();
    for port in ["9098", "9099", "53"] {
        let mut args = vec!["tcp-connect", port];
        args.extend(targets.iter().map(String::as_str));
        let (code, out) = b.tool(&args);
        ensure(code == 1 && !out.contains("CONNECTED"), || {
            format!("the agent reached another bottle: {out}")
        })?;
        said.push(out);
    }
    // UDP: a DNS query to the other sidecar gets no answer.
    for t in &targets {
        let (code, out) = b.tool(&["dns", t, "udp", "egress"]);
        ensure(code == 1 && out.contains("no answer"), || {
            format!("the other bottle's DNS answered the agent: {out}")
        })?;
    }
    Ok(())
}

fn port_scan(e: &Engine) -> Outcome {
    let b = fixture::shell(e);
    let sc = sidecar_ip(&b);
    let (_, out) = b.tool(&["port-scan", &sc, "1", "10000"]);
    let open: Vec<u16> = out
        .lines()
        .filter_map(|l| l.strip_prefix("OPEN "))
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    ensure(out.contains("SCANNED"), || {
        format!("the scan did not finish: {out}")
    })?;
    ensure(open.contains(&9098), || {
        format!("control: the health port was not found open: {out}")
    })?;
    let extra: Vec<u16> = open
        .into_iter()
        .filter(|p| !SERVICE_PORTS.contains(p))
        .collect();
    ensure(extra.is_empty(), || {
        format!("the sidecar answers on non-service ports {extra:?}")
    })
}

fn refused_eperm(e: &Engine, cmd: &str) -> Outcome {
    let b = fixture::shell(e);
    let (code, out) = b.tool(&[cmd]);
    // Linux: CAP_NET_RAW is dropped (EPERM). gVisor without --net-raw has
    // no raw or packet sockets at all (EAFNOSUPPORT).
    let refused =
        out.contains("EPERM") || (e.runtime == Some("runsc") && out.contains("EAFNOSUPPORT"));
    ensure(code == 1 && refused, || {
        format!("{cmd} was not refused with EPERM: {out}")
    })
}

fn ipv6_to_host(e: &Engine) -> Outcome {
    let b = fixture::shell(e);
    let listener = std::net::TcpListener::bind("[::]:0").map_err(|x| x.to_string())?;
    let port = listener
        .local_addr()
        .map_err(|x| x.to_string())?
        .port()
        .to_string();
    let (v4, v6) = host_addresses();
    let mut targets = v6;
    targets.extend(v4.iter().map(|a| format!("::ffff:{a}")));
    targets.push("fd00::1".into());
    targets.push("fe80::1%eth0".into());
    let mut args = vec!["tcp6-connect", &port];
    args.extend(targets.iter().map(String::as_str));
    let (code, out) = b.tool(&args);
    ensure(code == 1 && !out.contains("CONNECTED"), || {
        format!("the agent reached the host over IPv6: {out}")
    })?;
    // The agent has no IPv6 address beyond (at most) loopback.
    let (_, addrs) = b.sh("cat /proc/net/if_inet6 2>/dev/null; true");
    ensure(
        addrs
            .lines()
            .all(|l| l.starts_with("00000000000000000000000000000001") || l.trim().is_empty()),
        || format!("the agent holds IPv6 addresses: {addrs}"),
    )
}

fn ipv6_multicast(e: &Engine) -> Outcome {
    let b = fixture::shell(e);
    let sock = UdpSocket::bind("[::]:0").map_err(|x| x.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|x| x.to_string())?;
    let port = sock.local_addr().map_err(|x| x.to_string())?.port();
    let agent = nonce("agent6");
    let (_, out) = b.tool(&["udp6-send", "ff02::1%eth0", &port.to_string(), &agent]);
    let start = Instant::now();
    let mut buf = [0u8; 2048];
    while start.elapsed() < Duration::from_secs(3) {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            let got = String::from_utf8_lossy(&buf[..n]).into_owned();
            if got.contains(&agent) {
                return Err(format!("a host socket on [::] received {got} from {from}"));
            }
        }
    }
    ensure(
        out.contains("unreachable")
            || out.contains("not available")
            || out.contains("No such device")
            || out.contains("Address family")
            || out.contains("sent"),
        || format!("unexpected: {out}"),
    )
}

fn dns_tunnel(e: &Engine, proto: &str) -> Outcome {
    let b = fixture::shell(e);
    let sc = sidecar_ip(&b);
    let n = nonce("tunnel");
    let name = format!("{}.exfil.invalid", n.replace('-', ""));
    let (code, out) = b.tool(&["dns", &sc, proto, &name]);
    ensure(code == 1 && out.contains("rcode 5"), || {
        format!("the sidecar did not answer REFUSED: {out}")
    })?;
    // Control: its own name is answered.
    let (code, ok) = b.tool(&["dns", &sc, proto, "egress"]);
    ensure(code == 0 && ok.contains("rcode 0"), || {
        format!("control: the sidecar did not answer its own name: {ok}")
    })?;
    if let Some(stub) = crate::support::DnsStub::get() {
        std::thread::sleep(Duration::from_secs(1));
        ensure(!stub.saw(&n.replace('-', "")), || {
            "the engine's upstream resolver heard the tunnelled name".into()
        })?;
    }
    Ok(())
}

fn dns_embedded(e: &Engine) -> Outcome {
    let b = fixture::shell(e);
    let n = nonce("embedded").replace('-', "");
    let name = format!("{n}.exfil.invalid");
    for proto in ["udp", "tcp"] {
        let (code, out) = b.tool(&["dns", "127.0.0.11", proto, &name]);
        // No answer at all, or REFUSED (dockerd's resolver forwards to the
        // bottle's configured DNS, the sidecar, which refuses).
        let refused = out.contains("no answer") || out.contains("rcode 5 answers 0");
        ensure(code == 1 && refused, || {
            format!("the engine's resolver at 127.0.0.11 answered the agent ({proto}): {out}")
        })?;
    }
    if let Some(stub) = crate::support::DnsStub::get() {
        std::thread::sleep(Duration::from_secs(1));
        ensure(!stub.saw(&n), || {
            "the engine's upstream resolver heard the agent's name".into()
        })?;
    }
    Ok(())
}

// ------------------------------------------------------------ in the bottle

/// This area's commands of the in-bottle tool (see tool.rs).
pub fn tool(cmd: &str, args: &[String]) -> Option<Result<String, String>> {
    let a = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    Some(match cmd {
        "udp-send" => udp_send(a(0), a(1), a(2), a(3), a(4) == "bind"),
        "udp6-send" => udp6_send(a(0), a(1), a(2)),
        "tcp-connect" => tcp_connect(a(0), &args[1.min(args.len())..], false, false),
        "tcp-connect-bound" => tcp_connect(a(0), &args[1.min(args.len())..], false, true),
        "tcp6-connect" => tcp_connect(a(0), &args[1.min(args.len())..], true, false),
        "port-scan" => port_scan_tool(a(0), a(1), a(2)),
        "raw-socket" => open_socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_UDP),
        "packet-socket" => open_socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            i32::from((libc::ETH_P_ALL as u16).to_be()),
        ),
        "dns" => dns_tool(a(0), a(1), a(2)),
        _ => return None,
    })
}

fn errno_name(e: &std::io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM",
        Some(libc::EACCES) => "EACCES",
        Some(libc::ENETUNREACH) => "ENETUNREACH",
        Some(libc::EHOSTUNREACH) => "EHOSTUNREACH",
        Some(libc::ECONNREFUSED) => "ECONNREFUSED",
        Some(libc::EADDRNOTAVAIL) => "EADDRNOTAVAIL",
        Some(libc::EAFNOSUPPORT) => "EAFNOSUPPORT",
        _ => "",
    };
    format!("{name} {e}")
}

fn setopt(fd: i32, level: i32, opt: i32, val: &[u8]) -> Result<(), String> {
    // SAFETY: a valid socket and a buffer of the given length.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            val.as_ptr().cast(),
            val.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(errno_name(&std::io::Error::last_os_error()))
    }
}

fn eth0_index() -> i32 {
    // SAFETY: a NUL-terminated name.
    unsafe { libc::if_nametoindex(c"eth0".as_ptr()) as i32 }
}

fn udp_send(dst: &str, port: &str, ttl: &str, payload: &str, bind: bool) -> Result<String, String> {
    use std::os::fd::AsRawFd;
    let port: u16 = port.parse().map_err(|_| "bad port".to_string())?;
    let ttl: i32 = ttl.parse().unwrap_or(1);
    let s = UdpSocket::bind("0.0.0.0:0").map_err(|e| errno_name(&e))?;
    s.set_broadcast(true).map_err(|e| errno_name(&e))?;
    let fd = s.as_raw_fd();
    setopt(
        fd,
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_TTL,
        &ttl.to_ne_bytes(),
    )?;
    setopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &ttl.to_ne_bytes())?;
    let mut notes = String::new();
    if bind {
        let mreq = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr { s_addr: 0 },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: eth0_index(),
        };
        // SAFETY: plain-old-data viewed as bytes for setsockopt.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&mreq as *const libc::ip_mreqn).cast::<u8>(),
                std::mem::size_of::<libc::ip_mreqn>(),
            )
        };
        if let Err(e) = setopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, bytes) {
            notes.push_str(&format!(" (IP_MULTICAST_IF: {e})"));
        }
        if let Err(e) = setopt(fd, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, b"eth0\0") {
            notes.push_str(&format!(" (SO_BINDTODEVICE: {e})"));
        }
    }
    match s.send_to(payload.as_bytes(), (dst, port)) {
        Ok(n) => Ok(format!("sent {n} to {dst}{notes}")),
        Err(e) => Err(format!("{dst}: {} unreachable{notes}", errno_name(&e))),
    }
}

fn udp6_send(dst: &str, port: &str, payload: &str) -> Result<String, String> {
    let port: u16 = port.parse().map_err(|_| "bad port".to_string())?;
    let (addr, scope) = match dst.split_once('%') {
        Some((a, dev)) => {
            let Ok(c) = std::ffi::CString::new(dev) else {
                return Err("bad device".into());
            };
            // SAFETY: a NUL-terminated name.
            (a, unsafe { libc::if_nametoindex(c.as_ptr()) })
        }
        None => (dst, 0),
    };
    let ip: std::net::Ipv6Addr = addr.parse().map_err(|_| "bad address".to_string())?;
    let s = UdpSocket::bind("[::]:0").map_err(|e| format!("{} not available", errno_name(&e)))?;
    let to = std::net::SocketAddrV6::new(ip, port, 0, scope);
    match s.send_to(payload.as_bytes(), to) {
        Ok(n) => Ok(format!("sent {n} to {dst}")),
        Err(e) => Err(format!("{dst}: {} unreachable", errno_name(&e))),
    }
}

fn connect_one(target: &str, port: u16, v6: bool, bound: bool) -> Result<(), String> {
    let addr: std::net::SocketAddr = if v6 {
        let (a, scope) = match target.split_once('%') {
            Some((a, dev)) => {
                let c = std::ffi::CString::new(dev).map_err(|_| "bad device".to_string())?;
                // SAFETY: a NUL-terminated name.
                (a, unsafe { libc::if_nametoindex(c.as_ptr()) })
            }
            None => (target, 0),
        };
        let ip: std::net::Ipv6Addr = a.parse().map_err(|_| format!("bad address {a}"))?;
        std::net::SocketAddrV6::new(ip, port, 0, scope).into()
    } else {
        let ip: Ipv4Addr = target
            .parse()
            .map_err(|_| format!("bad address {target}"))?;
        (ip, port).into()
    };
    if bound {
        return connect_bound(&addr);
    }
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map(|_| ())
        .map_err(|e| errno_name(&e))
}

/// A blocking TCP connect on a socket bound to eth0 (SO_BINDTODEVICE),
/// bounded by SO_SNDTIMEO.
fn connect_bound(addr: &std::net::SocketAddr) -> Result<(), String> {
    let std::net::SocketAddr::V4(v4) = addr else {
        return Err("IPv4 only".into());
    };
    // SAFETY: plain socket(2); closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        return Err(errno_name(&std::io::Error::last_os_error()));
    }
    let result = (|| {
        setopt(fd, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, b"eth0\0")?;
        let tv = libc::timeval {
            tv_sec: 3,
            tv_usec: 0,
        };
        // SAFETY: plain-old-data viewed as bytes for setsockopt.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&tv as *const libc::timeval).cast::<u8>(),
                std::mem::size_of::<libc::timeval>(),
            )
        };
        setopt(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, bytes)?;
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: a valid socket and sockaddr_in of the given size.
        let r = unsafe {
            libc::connect(
                fd,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(errno_name(&std::io::Error::last_os_error()))
        }
    })();
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(fd) };
    result
}

fn tcp_connect(port: &str, targets: &[String], v6: bool, bound: bool) -> Result<String, String> {
    let port: u16 = port.parse().map_err(|_| "bad port".to_string())?;
    let results: Vec<(String, Result<(), String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .map(|t| s.spawn(move || (t.clone(), connect_one(t, port, v6, bound))))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut text = String::new();
    let mut any = false;
    for (t, r) in results {
        match r {
            Ok(()) => {
                any = true;
                text.push_str(&format!("CONNECTED {t}:{port}\n"));
            }
            Err(e) => text.push_str(&format!("refused {t}:{port}: {e}\n")),
        }
    }
    if any {
        Ok(text)
    } else {
        Err(text)
    }
}

fn port_scan_tool(target: &str, from: &str, to: &str) -> Result<String, String> {
    let ip: Ipv4Addr = target.parse().map_err(|_| "bad address".to_string())?;
    let (from, to): (u16, u16) = (from.parse().unwrap_or(1), to.parse().unwrap_or(1024));
    let ports: Vec<u16> = (from..=to).collect();
    let open = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for chunk in ports.chunks(ports.len().div_ceil(32).max(1)) {
            let open = &open;
            s.spawn(move || {
                for &p in chunk {
                    let addr = std::net::SocketAddr::from((ip, p));
                    if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                        .is_ok()
                    {
                        open.lock().expect("open").push(p);
                    }
                }
            });
        }
    });
    let mut open = open.into_inner().unwrap_or_default();
    open.sort_unstable();
    let mut text: String = open.iter().map(|p| format!("OPEN {p}\n")).collect();
    text.push_str(&format!("SCANNED {from}-{to}"));
    Ok(text)
}

fn open_socket(domain: i32, ty: i32, proto: i32) -> Result<String, String> {
    // SAFETY: plain socket(2); the descriptor is closed below.
    let fd = unsafe { libc::socket(domain, ty, proto) };
    if fd < 0 {
        return Err(errno_name(&std::io::Error::last_os_error()));
    }
    // SAFETY: closing the descriptor just opened.
    unsafe { libc::close(fd) };
    Ok("OPENED a socket the agent must not have".into())
}

/// One A query for `name` to `server` over `proto`; prints the rcode, or
/// "no answer".
fn dns_tool(server: &str, proto: &str, name: &str) -> Result<String, String> {
    let ip: Ipv4Addr = server.parse().map_err(|_| "bad address".to_string())?;
    let mut q = vec![0x4a, 0x11, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let answer = if proto == "tcp" {
        use std::io::{Read, Write};
        let addr = std::net::SocketAddr::from((ip, 53));
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))
            .map_err(|e| format!("no answer: {}", errno_name(&e)))?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
        let mut msg = (q.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(&q);
        s.write_all(&msg)
            .map_err(|e| format!("no answer: {}", errno_name(&e)))?;
        let mut buf = vec![0u8; 2048];
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("no answer: {}", errno_name(&e)))?;
        buf.get(2..n).map(<[u8]>::to_vec).unwrap_or_default()
    } else {
        let s = UdpSocket::bind("0.0.0.0:0").map_err(|e| errno_name(&e))?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
        s.send_to(&q, (ip, 53))
            .map_err(|e| format!("no answer: {}", errno_name(&e)))?;
        let mut buf = [0u8; 2048];
        let (n, _) = s
            .recv_from(&mut buf)
            .map_err(|e| format!("no answer: {}", errno_name(&e)))?;
        buf[..n].to_vec()
    };
    let Some(&flags) = answer.get(3) else {
        return Err("no answer (empty)".into());
    };
    let rcode = flags & 0x0f;
    let count = answer
        .get(6..8)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .unwrap_or(0);
    let text = format!("rcode {rcode} answers {count}");
    if rcode == 0 && count > 0 {
        Ok(text)
    } else {
        Err(text)
    }
}
