//! The DNS refuser (SPEC §4.1): the agent's only resolver. It answers the
//! sidecar's own service names (`egress`, `supervise`, `gitgate`) with the
//! sidecar's address and refuses everything else. It never forwards, so no
//! query leaves the bottle.

use std::net::IpAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const SERVICE_NAMES: &[&str] = &["egress", "supervise", "gitgate"];

const TYPE_A: u16 = 1;
const RCODE_FORMERR: u8 = 1;
const RCODE_REFUSED: u8 = 5;

#[derive(Clone)]
pub struct Refuser {
    addr: Arc<IpAddr>,
}

struct Question<'a> {
    name: String,
    qtype: u16,
    /// The raw question section (echoed back).
    raw: &'a [u8],
}

fn parse_question(msg: &[u8]) -> Option<Question<'_>> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*msg.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        // Compression pointers never appear in a well-formed question.
        if len > 63 {
            return None;
        }
        let label = msg.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]);
    msg.get(i + 2..i + 4)?;
    Some(Question {
        name: labels.join("."),
        qtype,
        raw: &msg[12..i + 4],
    })
}

impl Refuser {
    pub fn new(addr: IpAddr) -> Refuser {
        Refuser {
            addr: Arc::new(addr),
        }
    }

    /// The reply to one query message, or `None` for garbage too short to
    /// answer (no header to echo).
    pub fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        if query.len() < 12 || query[2] & 0x80 != 0 {
            return None;
        }
        let qdcount = u16::from_be_bytes([query[4], query[5]]);
        let question = (qdcount == 1).then(|| parse_question(query)).flatten();
        let mut reply = Vec::with_capacity(64);
        reply.extend_from_slice(&query[0..2]);
        // QR=1, opcode copied, RD copied; RA=0.
        let flags_hi = 0x80 | (query[2] & 0x79);
        let Some(q) = question else {
            reply.extend_from_slice(&[flags_hi, RCODE_FORMERR, 0, 0, 0, 0, 0, 0, 0, 0]);
            return Some(reply);
        };
        let ours = SERVICE_NAMES.contains(&q.name.as_str()) && query[2] & 0x78 == 0;
        let rcode = if ours { 0 } else { RCODE_REFUSED };
        let answer_a = ours && q.qtype == TYPE_A;
        let ip = match *self.addr {
            IpAddr::V4(v4) => Some(v4.octets()),
            IpAddr::V6(_) => None,
        };
        let ancount = u16::from(answer_a && ip.is_some());
        // AA=1 for our own names.
        reply.extend_from_slice(&[flags_hi | if ours { 0x04 } else { 0 }, rcode, 0, 1]);
        reply.extend_from_slice(&ancount.to_be_bytes());
        reply.extend_from_slice(&[0, 0, 0, 0]);
        reply.extend_from_slice(q.raw);
        if let (1, Some(octets)) = (ancount, ip) {
            // Name pointer to the question (offset 12), A, IN, TTL 60.
            reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            reply.extend_from_slice(&octets);
        }
        tracing::debug!(name = %crate::sanitize::inline(&q.name), qtype = q.qtype, refused = !ours, "dns");
        Some(reply)
    }
}

pub async fn serve_udp(socket: tokio::net::UdpSocket, refuser: Refuser) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = socket.recv_from(&mut buf).await?;
        if let Some(reply) = refuser.answer(&buf[..n]) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

pub async fn serve_tcp(listener: tokio::net::TcpListener, refuser: Refuser) -> std::io::Result<()> {
    loop {
        let (mut conn, _) = listener.accept().await?;
        let refuser = refuser.clone();
        tokio::spawn(async move {
            let mut len = [0u8; 2];
            while conn.read_exact(&mut len).await.is_ok() {
                let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if conn.read_exact(&mut msg).await.is_err() {
                    return;
                }
                let Some(reply) = refuser.answer(&msg) else {
                    return;
                };
                let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                if conn.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    fn refuser() -> Refuser {
        Refuser::new("10.1.2.3".parse().expect("ip"))
    }

    #[test]
    fn service_names_resolve_to_the_sidecar() {
        let r = refuser().answer(&query("Egress", 1)).expect("reply");
        assert_eq!(&r[0..2], &[0x12, 0x34], "id echoed");
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(&r[r.len() - 4..], &[10, 1, 2, 3]);
        let aaaa = refuser().answer(&query("supervise", 28)).expect("reply");
        assert_eq!((aaaa[3] & 0x0f, aaaa[7]), (0, 0), "NODATA for AAAA");
    }

    #[test]
    fn everything_else_is_refused() {
        for name in [
            "example.com",
            "egress.example.com",
            "x.invalid",
            "gitgate.local",
        ] {
            let r = refuser().answer(&query(name, 1)).expect("reply");
            assert_eq!(r[3] & 0x0f, RCODE_REFUSED, "{name}");
            assert_eq!(r[7], 0, "no answers for {name}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        assert!(refuser().answer(&[1, 2, 3]).is_none());
        let mut bad = query("egress", 1);
        bad.truncate(15);
        assert_eq!(
            refuser().answer(&bad).expect("formerr")[3] & 0x0f,
            RCODE_FORMERR
        );
        let mut pointer = query("egress", 1);
        pointer[12] = 0xc0;
        assert_eq!(
            refuser().answer(&pointer).expect("formerr")[3] & 0x0f,
            RCODE_FORMERR
        );
        let mut response = query("egress", 1);
        response[2] |= 0x80;
        assert!(
            refuser().answer(&response).is_none(),
            "responses are not answered (no loops)"
        );
        for len in 0..40 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = refuser().answer(&junk);
        }
    }
}
