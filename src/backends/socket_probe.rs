//! The in-container half of the runtime probe: what a candidate runtime
//! must do for an agent (a loopback TCP round trip), run as
//! `bottle debug probe-socket` inside it.

/// `bottle debug probe-socket`: a TCP round trip on loopback (run by the
/// probe inside the runtime under test).
pub fn socket_round_trip() -> std::io::Result<()> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        let mut c = std::net::TcpStream::connect(addr)?;
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        c.write_all(b"ping")?;
        let mut back = [0u8; 4];
        c.read_exact(&mut back)?;
        Ok(back.to_vec())
    });
    let (mut s, _) = listener.accept()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut got = [0u8; 4];
    s.read_exact(&mut got)?;
    s.write_all(&got)?;
    let back = client
        .join()
        .map_err(|_| std::io::Error::other("the client thread panicked"))??;
    if back == b"ping" {
        Ok(())
    } else {
        Err(std::io::Error::other("the bytes came back changed"))
    }
}
