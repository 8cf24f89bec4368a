//! WebSocket framing (RFC 6455) for the proxy: client frames are parsed,
//! unmasked and scanned (DLP) before they are forwarded whole; and the bits
//! the stand-in upstream and the test client need.

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The largest frame the proxy holds to scan; a bigger one closes the
/// connection.
pub const MAX_FRAME: usize = 16 << 20;

#[derive(Debug, PartialEq, Eq)]
pub struct WsFrame {
    pub fin: bool,
    pub opcode: u8,
    /// Unmasked.
    pub payload: Vec<u8>,
    /// Bytes the frame took on the wire.
    pub len: usize,
}

/// One frame from the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<WsFrame>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0f;
    if buf[0] & 0x70 != 0 {
        // RSV1 is permessage-deflate's "compressed" bit: no extension is
        // ever negotiated through the proxy, so no frame may carry one.
        return Err("a frame with reserved bits set (no extension was negotiated)".into());
    }
    let masked = buf[1] & 0x80 != 0;
    let mut at = 2;
    let len = match buf[1] & 0x7f {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(None);
            };
            at = 4;
            usize::from(u16::from_be_bytes([b[0], b[1]]))
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            at = 10;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            usize::try_from(u64::from_be_bytes(a)).map_err(|_| "frame too large")?
        }
        n => usize::from(n),
    };
    if len > MAX_FRAME {
        return Err(format!("a frame of {len} bytes is larger than {MAX_FRAME}"));
    }
    let mask = if masked {
        let Some(m) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    let Some(data) = buf.get(at..at + len) else {
        return Ok(None);
    };
    let payload = match mask {
        Some(m) => data.iter().enumerate().map(|(i, b)| b ^ m[i % 4]).collect(),
        None => data.to_vec(),
    };
    Ok(Some(WsFrame {
        fin,
        opcode,
        payload,
        len: at + len,
    }))
}

/// A final frame; masked (as a client must) when `mask` is given.
pub fn encode(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![0x80 | (opcode & 0x0f)];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Copies client frames to the upstream, a message only after all of it
/// was scanned: the frames of a fragmented message are held until its last
/// one (at most `MAX_FRAME` bytes in all); control frames (whose payloads
/// are scanned too) pass at once. On a hit nothing of that message has been
/// sent, and the hit is returned (the caller closes both sides).
pub async fn relay_scanned<R, W>(
    mut from_client: R,
    mut to_upstream: W,
    scanner: &crate::policy::dlp::Scanner,
) -> Result<Option<crate::policy::dlp::Hit>, String>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf: Vec<u8> = Vec::new();
    // The held frames of the message under way, and its payload.
    let mut held: Vec<u8> = Vec::new();
    let mut message: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 65536];
    loop {
        while let Some(frame) = parse(&buf)? {
            let raw = buf[..frame.len].to_vec();
            buf.drain(..frame.len);
            if frame.opcode >= 8 {
                if let Some(hit) = scanner.scan(&frame.payload) {
                    return Ok(Some(hit));
                }
                to_upstream
                    .write_all(&raw)
                    .await
                    .map_err(|e| e.to_string())?;
                continue;
            }
            held.extend_from_slice(&raw);
            message.extend_from_slice(&frame.payload);
            if message.len() > MAX_FRAME {
                return Err(format!("a message larger than {MAX_FRAME} bytes"));
            }
            if !frame.fin {
                continue;
            }
            if let Some(hit) = scanner.scan(&message) {
                return Ok(Some(hit));
            }
            to_upstream
                .write_all(&held)
                .await
                .map_err(|e| e.to_string())?;
            held.clear();
            message.clear();
        }
        let n = from_client
            .read(&mut chunk)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            let _ = to_upstream.shutdown().await;
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Copies upstream frames to the agent as they come, scanning the
/// payloads of each message (with the end of the previous frames, so a
/// value split across frames is still seen) for this bottle's own secret
/// values. On a hit the frame is not sent and the value's name returned
/// (the caller closes both sides).
pub async fn relay_reflected<R, W>(
    mut from_upstream: R,
    mut to_client: W,
    own: std::sync::Arc<crate::policy::dlp::OwnValues>,
) -> Result<Option<String>, String>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut scan = super::reflect::ReflectScan::new(own);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 65536];
    loop {
        while let Some(frame) = parse(&buf)? {
            if let Err(name) = scan.check_whole(&frame.payload) {
                return Ok(Some(name));
            }
            to_client
                .write_all(&buf[..frame.len])
                .await
                .map_err(|e| e.to_string())?;
            buf.drain(..frame.len);
        }
        let n = from_upstream
            .read(&mut chunk)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            let _ = to_client.shutdown().await;
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `bottle debug ws URL MESSAGE`: a WebSocket client for tests, run inside
/// a bottle. Through `HTTPS_PROXY` (CONNECT), trusting `SSL_CERT_FILE`, it
/// sends MESSAGE as one text message and prints the first text message it
/// gets back; exit 3 when the connection closes first.
pub async fn client(url: &str, message: &str) -> anyhow::Result<i32> {
    use anyhow::{bail, Context};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("https://")
        .context("wss through the proxy: give an https:// URL")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse::<u16>()?),
        None => (authority.to_string(), 443),
    };
    let proxy = std::env::var("HTTPS_PROXY").context("HTTPS_PROXY is not set")?;
    let proxy = proxy
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut tcp = tokio::net::TcpStream::connect(&proxy).await?;
    tcp.write_all(
        format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").as_bytes(),
    )
    .await?;
    let head = read_head(&mut tcp).await?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("CONNECT: {head}");
    }
    let mut roots = rustls::RootCertStore::empty();
    let bundle = std::fs::read(std::env::var("SSL_CERT_FILE").context("SSL_CERT_FILE")?)?;
    for c in <rustls_pki_types::CertificateDer as rustls_pki_types::pem::PemObject>::pem_slice_iter(
        &bundle,
    )
    .flatten()
    {
        let _ = roots.add(c);
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(host.clone())?;
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await?;
    tls.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let head = read_head(&mut tls).await?;
    eprintln!("{}", head.lines().next().unwrap_or_default());
    if !head.starts_with("HTTP/1.1 101") {
        println!("{head}");
        return Ok(2);
    }
    tls.write_all(&encode(
        1,
        message.as_bytes(),
        Some([0x12, 0x34, 0x56, 0x78]),
    ))
    .await?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 65536];
    loop {
        if let Some(f) = parse(&buf).map_err(anyhow::Error::msg)? {
            if f.opcode == 8 {
                println!("closed");
                return Ok(3);
            }
            println!("{}", String::from_utf8_lossy(&f.payload));
            return Ok(0);
        }
        let read = tokio::time::timeout(std::time::Duration::from_secs(20), tls.read(&mut chunk))
            .await
            .context("no answer in 20 s")?;
        // A connection cut without a TLS close is closed all the same.
        let n = match read {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            other => other?,
        };
        if n == 0 {
            println!("closed");
            return Ok(3);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> anyhow::Result<String> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if s.read(&mut b).await? == 0 {
            anyhow::bail!("closed during the response head");
        }
        head.push(b[0]);
        if head.len() > 65536 {
            anyhow::bail!("response head too long");
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_masked_and_in_pieces() {
        for n in [0usize, 5, 125, 126, 70_000] {
            let payload: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let wire = encode(1, &payload, Some([1, 2, 3, 4]));
            assert_eq!(parse(&wire[..wire.len() - 1]), Ok(None), "incomplete");
            let f = parse(&wire).expect("ok").expect("frame");
            assert_eq!((f.fin, f.opcode, f.len), (true, 1, wire.len()));
            assert_eq!(f.payload, payload);
        }
        // RFC 6455's example.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_secret_split_across_client_frames_is_stopped() {
        let scanner = crate::policy::dlp::Scanner::new(
            &[("T".into(), "split-canary-0123456789".into())],
            &[],
        );
        let mut wire = Vec::new();
        let mut first = encode(1, b"hello split-canary-01", Some([9, 9, 9, 9]));
        first[0] &= 0x7f; // not final: the message goes on
        wire.extend(first);
        wire.extend(encode(0, b"23456789 world", Some([7, 7, 7, 7])));
        let mut out = Vec::new();
        let hit = relay_scanned(wire.as_slice(), &mut out, &scanner)
            .await
            .expect("relay");
        assert_eq!(hit.map(|h| h.rule).as_deref(), Some("canary:T"));
        assert!(out.is_empty(), "no part of the message was sent");
        let clean = encode(1, b"just text", Some([1, 1, 1, 1]));
        let mut out = Vec::new();
        let hit = relay_scanned(clean.as_slice(), &mut out, &scanner)
            .await
            .expect("relay");
        assert_eq!((hit, out), (None, clean));
    }
}
