//! The server name of a TLS ClientHello, read before a passthrough
//! tunnel is opened.

#[derive(Debug, PartialEq, Eq)]
pub(super) enum SniParse {
    Incomplete,
    Found(String),
    None,
}

/// The server name of a TLS ClientHello (the first handshake record).
pub(super) fn client_hello_sni(b: &[u8]) -> SniParse {
    fn get(b: &[u8], at: usize, n: usize) -> Option<&[u8]> {
        b.get(at..at.checked_add(n)?)
    }
    fn u16_at(b: &[u8], at: usize) -> Option<usize> {
        get(b, at, 2).map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
    }
    if b.len() < 5 {
        return SniParse::Incomplete;
    }
    if b[0] != 0x16 {
        return SniParse::None;
    }
    let Some(rec_len) = u16_at(b, 3) else {
        return SniParse::Incomplete;
    };
    if b.len() < 5 + rec_len {
        return SniParse::Incomplete;
    }
    let h = &b[5..5 + rec_len];
    let parse = || -> Option<String> {
        if *h.first()? != 1 {
            return None;
        }
        let mut at = 4 + 2 + 32; // handshake header, version, random
        at += 1 + usize::from(*h.get(at)?); // session id
        at += 2 + u16_at(h, at)?; // cipher suites
        at += 1 + usize::from(*h.get(at)?); // compression
        let ext_end = at + 2 + u16_at(h, at)?;
        at += 2;
        while at + 4 <= ext_end {
            let ty = u16_at(h, at)?;
            let len = u16_at(h, at + 2)?;
            if ty == 0 {
                // server_name list: total len, type (0 = host_name), len, name
                let name_len = u16_at(h, at + 4 + 3)?;
                let name = get(h, at + 4 + 5, name_len)?;
                return String::from_utf8(name.to_vec()).ok();
            }
            at += 4 + len;
        }
        None
    };
    match parse() {
        Some(n) => SniParse::Found(n),
        None => SniParse::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sidecar::egress::proxy::upstream_tls;
    use std::sync::Arc;

    #[test]
    fn sni_is_read_from_a_client_hello() {
        // A ClientHello from rustls for "api.example.test".
        let config = upstream_tls(None).expect("config");
        let name = rustls_pki_types::ServerName::try_from("api.example.test").expect("name");
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("conn");
        let mut hello = Vec::new();
        conn.write_tls(&mut hello).expect("hello");
        assert_eq!(
            client_hello_sni(&hello),
            SniParse::Found("api.example.test".into())
        );
        assert_eq!(
            client_hello_sni(&hello[..hello.len() / 2]),
            SniParse::Incomplete
        );
        assert_eq!(client_hello_sni(b"GET / HTTP/1.1\r\n"), SniParse::None);
    }
}
