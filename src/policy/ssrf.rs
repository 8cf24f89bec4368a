//! The SSRF guard's address rule (SPEC §4.3): after resolution, every
//! address that is not globally routable is dropped unless the route's
//! `ssrf_ip_allowlist` covers it. IPv6 forms that carry an IPv4 address
//! (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) are judged by the
//! IPv4 address they reach.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is globally routable (and so may be connected to without
/// an allowlist entry).
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // 0.0.0.0/8 ("this network", 0.0.0.0 itself)
        || a == 10
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || a == 127
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224) // multicast 224/4, reserved 240/4, broadcast
}

/// The IPv4 address an IPv6 address stands for, where it embeds one.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(tail),
        // 64:ff9b::/96 (NAT64, well-known prefix).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        // 2002:AABB:CCDD::/48 (6to4).
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        // 2001:0000::/32 (Teredo): the client's address, inverted.
        [0x2001, 0, ..] => {
            let v = !u32::from(tail);
            Some(Ipv4Addr::from(v))
        }
        _ => None,
    }
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        // `::` and `::1` are not IPv4 forms.
        if ip.is_unspecified() || ip.is_loopback() {
            return false;
        }
        return is_global_v4(v4);
    }
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // ULA fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard 100::/64
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] == 0x2001 && s[1] < 0x200)) // IETF protocol assignments 2001::/23
}

static AGENT_NETWORK: std::sync::OnceLock<IpNet> = std::sync::OnceLock::new();

/// The agent network (where the agent has its address): never an
/// upstream, whatever a route's allowlist covers. An operator's
/// `ssrf_ip_allowlist: [172.16.0.0/12]` for company hosts would otherwise
/// let a routed name that resolves into it carry the route's credential to
/// the agent's own segment. Set once, at the sidecar's start.
pub fn set_agent_network(net: IpNet) {
    let _ = AGENT_NETWORK.set(net);
}

/// Whether the proxy may connect to `ip` for a route with this allowlist.
pub fn allowed(ip: IpAddr, allowlist: &[IpNet]) -> bool {
    if AGENT_NETWORK.get().is_some_and(|n| n.contains(&ip)) {
        return false;
    }
    is_global(ip) || allowlist.iter().any(|n| n.contains(&ip))
}

/// The addresses of a resolver answer the proxy may connect to, in order;
/// the others are dropped (SPEC §4.3: from multi-address answers too).
pub fn filter(addrs: &[IpAddr], allowlist: &[IpNet]) -> Vec<IpAddr> {
    addrs
        .iter()
        .copied()
        .filter(|ip| allowed(*ip, allowlist))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn the_agent_network_is_never_an_upstream_even_when_allowlisted() {
        set_agent_network("172.16.9.0/28".parse().expect("net"));
        let company: Vec<IpNet> = vec!["172.16.0.0/12".parse().expect("net")];
        assert!(!allowed(ip("172.16.9.5"), &company));
        assert!(!allowed(ip("172.16.9.5"), &[]));
        assert!(allowed(ip("172.16.10.5"), &company));
        assert!(allowed(ip("1.1.1.1"), &[]));
    }

    #[test]
    fn private_and_special_addresses_are_not_global() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.53.53",
            "198.19.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:0101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
        ] {
            assert!(!is_global(ip(s)), "{s} must not count as global");
        }
    }

    #[test]
    fn public_addresses_are_global_in_every_form() {
        for s in [
            "1.1.1.1",
            "140.82.112.3",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
            "::ffff:140.82.112.3",
            "64:ff9b::8c52:7003",
            "2002:8c52:7003::1",
            "2606:4700::1111",
            "2a00:1450:4001:80b::200e",
        ] {
            assert!(is_global(ip(s)), "{s} is global");
        }
    }

    #[test]
    fn the_allowlist_admits_exactly_what_it_covers_and_answers_are_filtered() {
        let allow: Vec<IpNet> = vec!["100.64.0.7/32".parse().expect("net")];
        assert!(allowed(ip("100.64.0.7"), &allow));
        assert!(!allowed(ip("100.64.0.8"), &allow));
        assert_eq!(
            filter(
                &[
                    ip("10.0.0.1"),
                    ip("140.82.112.3"),
                    ip("100.64.0.7"),
                    ip("::1")
                ],
                &allow
            ),
            vec![ip("140.82.112.3"), ip("100.64.0.7")]
        );
    }
}
