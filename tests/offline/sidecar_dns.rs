//! `bottle sidecar` as a real process: its DNS refuser answers the service
//! names over UDP and TCP, refuses everything else, and its health
//! listener answers.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, (qtype >> 8) as u8, qtype as u8, 0, 1]);
    q
}

struct Sidecar(Child);

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dns_refuser_and_health_over_the_network() {
    let (dns, health) = (free_port(), free_port());
    let child = Command::new(crate::support::bottle_bin())
        .args([
            "sidecar",
            "--dns",
            &format!("127.0.0.1:{dns}"),
            "--health",
            &format!("127.0.0.1:{health}"),
            "--address",
            "172.30.0.2",
        ])
        .env_remove("HOME")
        .env_remove("BOTTLE_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sidecar");
    let mut sidecar = Sidecar(child);
    let mut ready = String::new();
    let mut stdout = sidecar.0.stdout.take().expect("stdout");
    let mut byte = [0u8; 1];
    while !ready.ends_with('\n') && stdout.read(&mut byte).expect("read") == 1 {
        ready.push(char::from(byte[0]));
    }
    assert!(ready.contains("\"event\":\"ready\""), "{ready}");

    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    udp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let ask = |name: &str| {
        udp.send_to(&query(name, 1), ("127.0.0.1", dns))
            .expect("send");
        let mut buf = [0u8; 512];
        let n = udp.recv(&mut buf).expect("reply");
        buf[..n].to_vec()
    };
    let r = ask("egress");
    assert_eq!((r[3] & 0x0f, r[7]), (0, 1), "egress resolves");
    assert_eq!(&r[r.len() - 4..], &[172, 30, 0, 2]);
    let nonce = ulid::Ulid::new().to_string().to_lowercase();
    let r = ask(&format!("{nonce}.invalid"));
    assert_eq!((r[3] & 0x0f, r[7]), (5, 0), "an unknown name is REFUSED");

    let mut tcp = TcpStream::connect(("127.0.0.1", dns)).expect("dns over tcp");
    let q = query("api.anthropic.com", 1);
    tcp.write_all(&(q.len() as u16).to_be_bytes()).expect("len");
    tcp.write_all(&q).expect("query");
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len).expect("reply len");
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    tcp.read_exact(&mut reply).expect("reply");
    assert_eq!(reply[3] & 0x0f, 5, "REFUSED over TCP too");

    let start = Instant::now();
    let mut body = String::new();
    while start.elapsed() < Duration::from_secs(10) && body.is_empty() {
        if let Ok(mut h) = TcpStream::connect(("127.0.0.1", health)) {
            let _ = h.read_to_string(&mut body);
        }
    }
    assert!(
        body.starts_with("HTTP/1.1 200") && body.ends_with("ok\n"),
        "{body}"
    );
}
