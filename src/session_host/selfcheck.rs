//! The isolation self-check (SPEC §6 "Launch", issue 20): every time the
//! session holder starts an agent, it proves from inside the bottle that
//! the network is what the launch meant it to be, in parallel with the
//! agent's start:
//!
//! - **gateway**: no TCP connection to the agent network's gateway, nor to
//!   any default route's gateway, is answered — neither accepted nor
//!   refused (a refusal is the host's network stack answering);
//! - **sidecar ports**: the sidecar accepts nothing on a port that is not
//!   one of its services;
//! - **dns**: the only nameserver is the sidecar, and it refuses an
//!   unrouted `.invalid` name;
//! - **proxy**: the egress proxy answers `403 egress_denied` for an
//!   unrouted `.invalid` host.
//!
//! Nothing leaves the machine: every probe goes to the bottle's own
//! gateway and sidecar, and the names are in `.invalid`. The launcher asks
//! for the check (the `check` object of the environment line, with a nonce
//! it waits for) and reads the report from the holder's log line
//! `{"event":"isolation",…}`; a failure the operator did not allow stops
//! the agent here too, so the bottle fails closed even if nobody reads it.

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// What the launcher asks to be checked.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckSpec {
    /// Echoed in the report, so the launcher reads this start's report and
    /// not an earlier one from the same container's log.
    pub nonce: String,
    /// The agent network's gateway addresses.
    pub gateways: Vec<IpAddr>,
    /// The agent network's IPv4 subnet: the only route the agent may have.
    #[serde(default)]
    pub subnet: Option<String>,
    /// The sidecar's address on the agent network.
    pub sidecar: IpAddr,
    /// The sidecar's service ports (never probed as "other" ports).
    pub service_ports: Vec<u16>,
    /// The egress proxy's port on the sidecar.
    pub proxy_port: u16,
    /// The operator allowed an unverified bottle (`--allow-unverified`):
    /// a failure is reported, the agent keeps running.
    #[serde(default)]
    pub allow_unverified: bool,
}

/// One check's outcome.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// The whole check: `verified` only when every check passed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    pub nonce: String,
    pub verified: bool,
    pub checks: Vec<Check>,
}

impl Report {
    /// A report of one failure (the check could not run).
    pub fn failed(nonce: &str, why: &str) -> Report {
        Report {
            nonce: nonce.to_string(),
            verified: false,
            checks: vec![Check {
                name: "check".into(),
                ok: false,
                detail: why.to_string(),
            }],
        }
    }

    /// The failed checks, one clause each (for errors and the screen).
    pub fn failures(&self) -> String {
        self.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// How long one connection attempt may take before it counts as
/// unanswered. A gateway that is not there (the agent network has no
/// address on the host) never answers, so this bounds the whole check.
const CONNECT_WAIT: Duration = Duration::from_millis(300);
/// How long the DNS refuser and the proxy may take to answer.
const ANSWER_WAIT: Duration = Duration::from_millis(1500);
/// Ports tried on each gateway: what a host commonly serves (ssh, DNS,
/// HTTP, the Docker API, proxies).
const GATEWAY_PORTS: &[u16] = &[22, 53, 80, 443, 2375, 2376, 3128, 8080];
/// Ports tried on the sidecar besides its services.
const SIDECAR_OTHER_PORTS: &[u16] = &[22, 80, 443, 2375, 3128, 8080];

/// Runs every check (in parallel; bounded by `ANSWER_WAIT`).
pub fn run(spec: &CheckSpec) -> Report {
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let v4 = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    run_with(spec, &resolv, &v4, &v6)
}

/// `run` with the files it reads given (tests): `/etc/resolv.conf`,
/// `/proc/net/route` and `/proc/net/ipv6_route`.
pub fn run_with(spec: &CheckSpec, resolv_conf: &str, v4: &str, v6: &str) -> Report {
    let nameservers = nameservers(resolv_conf);
    let subnet = spec
        .subnet
        .as_deref()
        .and_then(|s| s.parse::<ipnet::Ipv4Net>().ok());
    let routes = check_routes(subnet, v4, v6);
    let checks = std::thread::scope(|s| {
        let gw = on_thread(s, || check_gateways(&spec.gateways));
        let ports = on_thread(s, || check_sidecar_ports(spec));
        let dns = on_thread(s, || check_dns(spec, &nameservers));
        let proxy = on_thread(s, || check_proxy(spec));
        [
            ("gateway", gw),
            ("sidecar ports", ports),
            ("dns", dns),
            ("proxy", proxy),
        ]
        .map(|(name, h)| match h.map(|h| h.join()) {
            Some(Ok(c)) => c,
            _ => Check {
                name: name.into(),
                ok: false,
                detail: "the check could not run".into(),
            },
        })
    });
    let checks: Vec<Check> = std::iter::once(routes).chain(checks).collect();
    Report {
        nonce: spec.nonce.clone(),
        verified: checks.iter().all(|c| c.ok),
        checks,
    }
}

/// The routing table holds nothing but the agent network itself: no
/// default route (IPv4 or IPv6), no route to another network (an extra
/// interface brings its own), no gateway. A gateway that silently drops
/// the probes but forwards (a firewalled host) is caught here.
fn check_routes(subnet: Option<ipnet::Ipv4Net>, v4: &str, v6: &str) -> Check {
    let mut wrong = Vec::new();
    for line in v4.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || f[0] == "lo" {
            continue;
        }
        let hex = |i: usize| {
            u32::from_str_radix(f[i], 16)
                .ok()
                .map(|v| std::net::Ipv4Addr::from(v.to_le_bytes()))
        };
        let (Some(dest), Some(gw), Some(mask)) = (hex(1), hex(2), hex(7)) else {
            wrong.push(format!("an unreadable route on {}", f[0]));
            continue;
        };
        let prefix = u32::from(mask).count_ones() as u8;
        let net = ipnet::Ipv4Net::new(dest, prefix).ok();
        let inside = match (net, subnet) {
            (Some(n), Some(s)) => s.contains(&n),
            // Without the subnet, only a default route is known wrong.
            (Some(n), None) => n.prefix_len() > 0,
            (None, _) => false,
        };
        if !inside || !gw.is_unspecified() {
            wrong.push(format!("{dest}/{prefix} via {gw} on {}", f[0]));
        }
    }
    for line in v6.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || f[9] == "lo" {
            continue;
        }
        let flags = u32::from_str_radix(f[8], 16).unwrap_or(0);
        let dest = u128::from_str_radix(f[0], 16)
            .map(std::net::Ipv6Addr::from)
            .ok();
        let prefix = u8::from_str_radix(f[1], 16).unwrap_or(0);
        // Link-local and multicast routes come with any interface that has
        // IPv6 on; they reach only the link, which is the agent network.
        let link_only = dest.is_some_and(|d| {
            (d.segments()[0] & 0xffc0 == 0xfe80 && prefix >= 10)
                || (d.segments()[0] & 0xff00 == 0xff00 && prefix >= 8)
        });
        if flags & 0x0200 == 0 && !link_only {
            let d = dest.map_or_else(|| f[0].to_string(), |d| d.to_string());
            wrong.push(format!("{d}/{prefix} on {}", f[9]));
        }
    }
    let name = "routes".to_string();
    match subnet {
        _ if !wrong.is_empty() => Check {
            name,
            ok: false,
            detail: format!("a way out besides the agent network: {}", wrong.join(", ")),
        },
        Some(s) => Check {
            name,
            ok: true,
            detail: format!("only {s}"),
        },
        None => Check {
            name,
            ok: true,
            detail: "no default route".into(),
        },
    }
}

fn nameservers(resolv_conf: &str) -> Vec<String> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next().unwrap_or("").to_string())
        })
        .collect()
}

/// How a TCP connection attempt ended.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    Accepted,
    Refused,
    /// Timed out, or no route / no host: nobody answered.
    Unanswered,
    /// Anything else (no free port, no memory…): the probe proves nothing,
    /// so it counts against the check.
    Failed(String),
}

fn probe(addr: SocketAddr) -> Probe {
    use std::io::ErrorKind as K;
    match TcpStream::connect_timeout(&addr, CONNECT_WAIT) {
        Ok(_) => Probe::Accepted,
        Err(e) if e.kind() == K::ConnectionRefused => Probe::Refused,
        Err(e)
            if matches!(
                e.kind(),
                K::TimedOut | K::HostUnreachable | K::NetworkUnreachable
            ) =>
        {
            Probe::Unanswered
        }
        Err(e) => Probe::Failed(e.to_string()),
    }
}

/// Runs `f` on its own scoped thread; a thread that cannot start or that
/// panics is `fallback`'s check, failed (never a panic of the holder).
fn on_thread<'s, 'e, T: Send + 's>(
    s: &'s std::thread::Scope<'s, 'e>,
    f: impl FnOnce() -> T + Send + 's,
) -> Option<std::thread::ScopedJoinHandle<'s, T>> {
    std::thread::Builder::new().spawn_scoped(s, f).ok()
}

/// Probes every (address, port) at once.
fn probe_all(targets: &[SocketAddr]) -> Vec<(SocketAddr, Probe)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .map(|&a| on_thread(s, move || (a, probe(a))))
            .collect();
        handles
            .into_iter()
            .zip(targets)
            .map(|(h, &a)| match h.map(|h| h.join()) {
                Some(Ok(r)) => r,
                _ => (a, Probe::Failed("the probe could not run".into())),
            })
            .collect()
    })
}

/// The agent network's gateway (a default route, through whatever
/// gateway, is the routes check's).
fn check_gateways(gateways: &[IpAddr]) -> Check {
    let name = "gateway".to_string();
    if gateways.is_empty() {
        // No gateway on the agent network (the sidecar, the only peer, is
        // checked on its own).
        return Check {
            name,
            ok: true,
            detail: "the agent network has no gateway".into(),
        };
    }
    let targets: Vec<SocketAddr> = gateways
        .iter()
        .flat_map(|&ip| GATEWAY_PORTS.iter().map(move |&p| SocketAddr::new(ip, p)))
        .collect();
    let answered: Vec<String> = probe_all(&targets)
        .into_iter()
        .filter_map(|(a, p)| match p {
            Probe::Accepted => Some(format!("{a} accepted a connection")),
            Probe::Refused => Some(format!("{a} refused (the host answers)")),
            Probe::Failed(why) => Some(format!("{a}: the probe failed ({why})")),
            Probe::Unanswered => None,
        })
        .collect();
    let list = gateways
        .iter()
        .map(|g| g.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match answered.first() {
        None => Check {
            name,
            ok: true,
            detail: format!("{list}: no answer"),
        },
        Some(first) => Check {
            name,
            ok: false,
            detail: format!("{first} ({} answer(s))", answered.len()),
        },
    }
}

fn check_sidecar_ports(spec: &CheckSpec) -> Check {
    let targets: Vec<SocketAddr> = SIDECAR_OTHER_PORTS
        .iter()
        .filter(|p| !spec.service_ports.contains(p))
        .map(|&p| SocketAddr::new(spec.sidecar, p))
        .collect();
    let open: Vec<String> = probe_all(&targets)
        .into_iter()
        .filter_map(|(a, p)| match p {
            Probe::Accepted => Some(a.to_string()),
            Probe::Failed(why) => Some(format!("{a} (the probe failed: {why})")),
            Probe::Refused | Probe::Unanswered => None,
        })
        .collect();
    Check {
        name: "sidecar ports".into(),
        ok: open.is_empty(),
        detail: if open.is_empty() {
            format!("{}: only its services", spec.sidecar)
        } else {
            format!("accepted on {}", open.join(", "))
        },
    }
}

/// The probe name: unroutable by definition (RFC 2606), unique per start.
fn probe_name(spec: &CheckSpec) -> String {
    let tag: String = spec
        .nonce
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("bottle-selfcheck-{tag}.invalid")
}

fn check_dns(spec: &CheckSpec, nameservers: &[String]) -> Check {
    let name = "dns".to_string();
    let sidecar = spec.sidecar.to_string();
    let others: Vec<&String> = nameservers.iter().filter(|n| **n != sidecar).collect();
    if nameservers.is_empty() || !others.is_empty() {
        return Check {
            name,
            ok: false,
            detail: format!(
                "/etc/resolv.conf names {:?}; the only nameserver must be the sidecar ({sidecar})",
                nameservers
            ),
        };
    }
    let qname = probe_name(spec);
    match dns_rcode(SocketAddr::new(spec.sidecar, 53), &qname) {
        Ok((rcode, 0)) if rcode == 5 || rcode == 3 => Check {
            name,
            ok: true,
            detail: format!("{qname}: refused"),
        },
        Ok((rcode, answers)) => Check {
            name,
            ok: false,
            detail: format!("{qname}: answered (rcode {rcode}, {answers} record(s))"),
        },
        Err(e) => Check {
            name,
            ok: false,
            detail: format!("{qname}: no answer from the sidecar's resolver ({e})"),
        },
    }
}

/// Sends one A query; returns (rcode, answer count).
fn dns_rcode(server: SocketAddr, qname: &str) -> std::io::Result<(u8, u16)> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("address")
    } else {
        "[::]:0".parse().expect("address")
    };
    let socket = UdpSocket::bind(bind)?;
    socket.connect(server)?;
    let id: u16 = (std::process::id() as u16) ^ 0x5a5a;
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in qname.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let deadline = Instant::now() + ANSWER_WAIT;
    let mut buf = [0u8; 512];
    // UDP may lose the first query: send again every 400 ms.
    while Instant::now() < deadline {
        socket.send(&q)?;
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(400))
            .max(Duration::from_millis(1));
        socket.set_read_timeout(Some(wait))?;
        match socket.recv(&mut buf) {
            Ok(n) if n >= 12 && buf[0..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 => {
                return Ok((buf[3] & 0x0f, u16::from_be_bytes([buf[6], buf[7]])));
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "timed out",
    ))
}

fn check_proxy(spec: &CheckSpec) -> Check {
    let name = "proxy".to_string();
    let host = probe_name(spec);
    match proxy_answer(SocketAddr::new(spec.sidecar, spec.proxy_port), &host) {
        Ok((status, body)) if status == 403 && body.contains("\"egress_denied\"") => Check {
            name,
            ok: true,
            detail: format!("{host}: egress_denied"),
        },
        Ok((status, _)) => Check {
            name,
            ok: false,
            detail: format!("{host}: the proxy answered {status}, not 403 egress_denied"),
        },
        Err(e) => Check {
            name,
            ok: false,
            detail: format!("{host}: no answer from the proxy ({e})"),
        },
    }
}

/// One plain-HTTP request through the proxy; (status, body start).
fn proxy_answer(proxy: SocketAddr, host: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&proxy, ANSWER_WAIT)?;
    s.set_read_timeout(Some(ANSWER_WAIT))?;
    s.set_write_timeout(Some(ANSWER_WAIT))?;
    write!(
        s,
        "GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bottle-selfcheck\r\nConnection: close\r\n\r\n"
    )?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + ANSWER_WAIT;
    while got.len() < 16 * 1024 && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if got.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    Ok((status, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};

    const HEADER: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n";

    #[test]
    fn only_the_agent_network_may_be_routed() {
        let subnet: Option<ipnet::Ipv4Net> = "172.16.100.16/28".parse().ok();
        // 172.16.100.16/28 on eth0, as a macvlan agent network has it.
        let own = "eth0\t106410AC\t00000000\t0001\t0\t0\t0\tF0FFFFFF\t0\t0\t0\n";
        let ok = check_routes(subnet, &format!("{HEADER}{own}"), "");
        assert!(ok.ok, "{ok:?}");
        // A default route (even through a gateway that answers nothing).
        let default = "eth1\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        let bad = check_routes(subnet, &format!("{HEADER}{own}{default}"), "");
        assert!(
            !bad.ok && bad.detail.contains("0.0.0.0/0 via 172.17.0.1"),
            "{bad:?}"
        );
        // Another network on another interface (an extra internal network).
        let extra = "eth1\t004DD50A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let bad = check_routes(subnet, &format!("{HEADER}{own}{extra}"), "");
        assert!(!bad.ok && bad.detail.contains("10.213.77.0/24"), "{bad:?}");
        // IPv6: link-local and multicast stay on the link; a ULA does not.
        let ll = "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n\
                  ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n";
        assert!(check_routes(subnet, &format!("{HEADER}{own}"), ll).ok);
        let ula = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n";
        let bad = check_routes(subnet, &format!("{HEADER}{own}"), ula);
        assert!(!bad.ok && bad.detail.contains("fd00::/64"), "{bad:?}");
        // An IPv6 default route; loopback's reject route is no way out.
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n";
        let bad = check_routes(subnet, &format!("{HEADER}{own}"), v6);
        assert!(!bad.ok && bad.detail.contains("::/0 on eth0"), "{bad:?}");
    }

    #[test]
    fn the_probe_name_is_an_invalid_name_whatever_the_nonce() {
        let spec = CheckSpec {
            nonce: "AB.c/../evil.example.com".into(),
            ..CheckSpec::default_for_test()
        };
        let n = probe_name(&spec);
        assert!(n.ends_with(".invalid"), "{n}");
        assert_eq!(n.matches('.').count(), 1, "{n}");
    }

    impl CheckSpec {
        fn default_for_test() -> CheckSpec {
            CheckSpec {
                nonce: "n1".into(),
                gateways: vec![],
                sidecar: IpAddr::V4(Ipv4Addr::LOCALHOST),
                subnet: None,
                service_ports: vec![],
                proxy_port: 9,
                allow_unverified: false,
            }
        }
    }

    /// On a host whose loopback answers, every check must fail: an
    /// answering gateway, an open "other" port, a resolver that is not the
    /// sidecar, no proxy.
    #[test]
    fn an_answering_gateway_and_open_ports_fail_the_check() {
        let open = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = open.local_addr().expect("addr").port();
        let answering = check_gateways(&[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        assert!(!answering.ok, "{answering:?}");
        let none = check_gateways(&[]);
        assert!(none.ok, "{none:?}");
        assert!(!answering.ok, "{answering:?}");
        let mut spec = CheckSpec::default_for_test();
        spec.proxy_port = port;
        let dns = check_dns(&spec, &["10.0.0.53".into()]);
        assert!(!dns.ok && dns.detail.contains("only nameserver"), "{dns:?}");
        spec.gateways = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let report = run_with(&spec, "nameserver 127.0.0.1\n", "", "");
        assert!(!report.verified, "{report:?}");
        assert!(report.failures().contains("proxy"), "{}", report.failures());
        assert!(
            report.failures().contains("gateway"),
            "{}",
            report.failures()
        );
    }
}
