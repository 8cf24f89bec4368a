//! The attach protocol between the session holder and its clients, over
//! the holder's Unix socket (ARCHITECTURE.md, "Attach protocol").
//!
//! Every message is a frame: one type byte, a big-endian `u32` payload
//! length (at most `MAX_PAYLOAD`), the payload. The client opens with
//! `Hello` (protocol version and its terminal size); the holder answers
//! `Welcome` carrying the current screen as escape sequences, then streams
//! `Output`; `Exit` carries the agent's status when it ends. A version the
//! holder does not speak gets `Refused` with a reason.

use std::io::{Read, Write};

pub const VERSION: u16 = 1;
pub const MAX_PAYLOAD: usize = 1 << 20;
/// The largest terminal the holder accepts: a size above it (an agent or a
/// client sending 65535×65535 to make the holder allocate until the
/// container is OOM-killed) is clamped when the frame is decoded, so every
/// size that reaches the holder's screen and PTY is bounded (issue 18, D10).
pub const MAX_ROWS: u16 = 300;
pub const MAX_COLS: u16 = 500;

/// A decoded terminal size, clamped to `MAX_ROWS` × `MAX_COLS`.
fn clamped(rows: u16, cols: u16) -> (u16, u16) {
    (rows.min(MAX_ROWS), cols.min(MAX_COLS))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientMsg {
    Hello { version: u16, rows: u16, cols: u16 },
    Input(Vec<u8>),
    Resize { rows: u16, cols: u16 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HolderMsg {
    /// The current screen, to draw before any output.
    Welcome(Vec<u8>),
    Output(Vec<u8>),
    Exit(i32),
    Refused(String),
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

impl ClientMsg {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ClientMsg::Hello {
                version,
                rows,
                cols,
            } => frame(0x01, &u16s(&[*version, *rows, *cols])),
            ClientMsg::Input(b) => frame(0x02, b),
            ClientMsg::Resize { rows, cols } => frame(0x03, &u16s(&[*rows, *cols])),
        }
    }
}

impl HolderMsg {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            HolderMsg::Welcome(b) => frame(0x81, b),
            HolderMsg::Output(b) => frame(0x82, b),
            HolderMsg::Exit(code) => frame(0x83, &code.to_be_bytes()),
            HolderMsg::Refused(why) => frame(0x84, why.as_bytes()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame: {0}")]
    Bad(String),
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
fn read_frame(r: &mut impl Read) -> Result<Option<(u8, Vec<u8>)>, ProtocolError> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head[..1]) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    r.read_exact(&mut head[1..])?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(ProtocolError::Bad(format!("payload of {len} bytes")));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((head[0], payload)))
}

fn u16_at(p: &[u8], i: usize) -> Result<u16, ProtocolError> {
    p.get(i * 2..i * 2 + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| ProtocolError::Bad("short payload".into()))
}

pub fn read_client(r: &mut impl Read) -> Result<Option<ClientMsg>, ProtocolError> {
    let Some((kind, p)) = read_frame(r)? else {
        return Ok(None);
    };
    Ok(Some(match kind {
        0x01 => {
            let (rows, cols) = clamped(u16_at(&p, 1)?, u16_at(&p, 2)?);
            ClientMsg::Hello {
                version: u16_at(&p, 0)?,
                rows,
                cols,
            }
        }
        0x02 => ClientMsg::Input(p),
        0x03 => {
            let (rows, cols) = clamped(u16_at(&p, 0)?, u16_at(&p, 1)?);
            ClientMsg::Resize { rows, cols }
        }
        other => {
            return Err(ProtocolError::Bad(format!(
                "client message type {other:#x}"
            )))
        }
    }))
}

pub fn read_holder(r: &mut impl Read) -> Result<Option<HolderMsg>, ProtocolError> {
    let Some((kind, p)) = read_frame(r)? else {
        return Ok(None);
    };
    Ok(Some(match kind {
        0x81 => HolderMsg::Welcome(p),
        0x82 => HolderMsg::Output(p),
        0x83 => {
            let b: [u8; 4] = p
                .as_slice()
                .try_into()
                .map_err(|_| ProtocolError::Bad("exit status".into()))?;
            HolderMsg::Exit(i32::from_be_bytes(b))
        }
        0x84 => HolderMsg::Refused(String::from_utf8_lossy(&p).into_owned()),
        other => {
            return Err(ProtocolError::Bad(format!(
                "holder message type {other:#x}"
            )))
        }
    }))
}

pub fn send(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_bad_frames_are_errors() {
        let client = [
            ClientMsg::Hello {
                version: VERSION,
                rows: 24,
                cols: 80,
            },
            ClientMsg::Input(b"ls\r".to_vec()),
            ClientMsg::Resize {
                rows: 50,
                cols: 200,
            },
        ];
        let bytes: Vec<u8> = client.iter().flat_map(|m| m.encode()).collect();
        let mut r = bytes.as_slice();
        for m in &client {
            assert_eq!(read_client(&mut r).expect("read").as_ref(), Some(m));
        }
        assert_eq!(read_client(&mut r).expect("end"), None);

        let holder = [
            HolderMsg::Welcome(b"\x1b[H".to_vec()),
            HolderMsg::Output(b"hi".to_vec()),
            HolderMsg::Exit(-3),
            HolderMsg::Refused("version 9".into()),
        ];
        let bytes: Vec<u8> = holder.iter().flat_map(|m| m.encode()).collect();
        let mut r = bytes.as_slice();
        for m in &holder {
            assert_eq!(read_holder(&mut r).expect("read").as_ref(), Some(m));
        }
        let huge = [0x02, 0xff, 0xff, 0xff, 0xff];
        assert!(read_client(&mut huge.as_slice()).is_err());
        assert!(read_client(&mut [0x7f, 0, 0, 0, 0].as_slice()).is_err());
        assert!(read_client(&mut [0x01, 0, 0, 0, 1, 0].as_slice()).is_err());
        assert!(read_client(&mut [0x02, 0, 0].as_slice()).is_err());
    }

    #[test]
    fn huge_sizes_are_clamped_when_decoded() {
        let huge = [
            ClientMsg::Resize {
                rows: u16::MAX,
                cols: u16::MAX,
            },
            ClientMsg::Hello {
                version: VERSION,
                rows: u16::MAX,
                cols: 40,
            },
        ];
        let bytes: Vec<u8> = huge.iter().flat_map(|m| m.encode()).collect();
        let mut r = bytes.as_slice();
        assert_eq!(
            read_client(&mut r).expect("resize"),
            Some(ClientMsg::Resize {
                rows: MAX_ROWS,
                cols: MAX_COLS
            })
        );
        assert_eq!(
            read_client(&mut r).expect("hello"),
            Some(ClientMsg::Hello {
                version: VERSION,
                rows: MAX_ROWS,
                cols: 40
            })
        );
    }
}
