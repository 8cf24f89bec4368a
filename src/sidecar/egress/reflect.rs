//! Responses are scanned for this bottle's own secret values (SPEC §4.4):
//! an upstream that reflects request headers (echo and debug endpoints do)
//! must never hand the injected token to the agent. Headers are checked
//! whole; bodies and WebSocket messages as they stream, in every encoded
//! form of `dlp::OwnValues` (raw, percent, hex, `\u00XX`, base64 at any
//! alignment). A hit cuts the response; the caller logs
//! `secret_reflected` with the value's name, never the value.
//!
//! Streaming keeps responses unbuffered: all of a chunk is released except
//! an end that could be the start of a value (and only when that end is at
//! least `MIN_HOLD` bytes, so ordinary text — server-sent events, say —
//! is never held up); detection runs over what was already released too,
//! so a value split across chunks is still seen whole. At most
//! `MIN_HOLD - 1` bytes of a value can have left before the cut.

use crate::policy::dlp::OwnValues;
use std::sync::Arc;

/// The shortest end of a chunk held back as a possible start of a value.
pub const MIN_HOLD: usize = 4;

pub struct ReflectScan {
    own: Arc<OwnValues>,
    /// The end of what was released (the longest form minus one byte).
    released_tail: Vec<u8>,
    /// Not yet released: the start of a value, maybe.
    held: Vec<u8>,
}

impl ReflectScan {
    pub fn new(own: Arc<OwnValues>) -> ReflectScan {
        ReflectScan {
            own,
            released_tail: Vec::new(),
            held: Vec::new(),
        }
    }

    /// What may go to the agent now, or the name of the value found.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, String> {
        if self.own.is_empty() {
            return Ok(chunk.to_vec());
        }
        let mut window =
            Vec::with_capacity(self.released_tail.len() + self.held.len() + chunk.len());
        window.extend_from_slice(&self.released_tail);
        window.extend_from_slice(&self.held);
        window.extend_from_slice(chunk);
        if let Some(name) = self.own.find(&window) {
            return Err(name.to_string());
        }
        let mut pending = std::mem::take(&mut self.held);
        pending.extend_from_slice(chunk);
        let partial = self.own.partial_suffix(&pending);
        let hold = if partial >= MIN_HOLD { partial } else { 0 };
        self.held = pending.split_off(pending.len() - hold);
        let keep = self.own.longest().saturating_sub(1);
        self.released_tail.extend_from_slice(&pending);
        let excess = self.released_tail.len().saturating_sub(keep);
        self.released_tail.drain(..excess);
        Ok(pending)
    }

    /// Checks a chunk that goes out whole (a WebSocket frame): scanned with
    /// the end of what went before.
    pub fn check_whole(&mut self, chunk: &[u8]) -> Result<(), String> {
        let out = self.push(chunk)?;
        let held = std::mem::take(&mut self.held);
        let _ = out;
        self.released_tail.extend_from_slice(&held);
        let excess = self
            .released_tail
            .len()
            .saturating_sub(self.own.longest().saturating_sub(1));
        self.released_tail.drain(..excess);
        Ok(())
    }

    pub fn own(&self) -> &OwnValues {
        &self.own
    }

    /// The rest, at the end of the stream (it was scanned already).
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

/// The name of a value found in any of these header values.
pub fn in_headers(own: &OwnValues, headers: &hyper::HeaderMap) -> Option<String> {
    let mut all = Vec::new();
    for (k, v) in headers {
        all.extend_from_slice(k.as_str().as_bytes());
        all.extend_from_slice(b": ");
        all.extend_from_slice(v.as_bytes());
        all.extend_from_slice(b"\r\n");
    }
    own.find(&all).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const TOKEN: &str = "tok-reflect-0123456789abcdef";

    fn own() -> Arc<OwnValues> {
        Arc::new(OwnValues::new(&[("t0".into(), TOKEN.into())]))
    }

    fn through(chunks: &[&[u8]]) -> Result<Vec<u8>, String> {
        let mut s = ReflectScan::new(own());
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.push(c)?);
        }
        out.extend(s.finish());
        Ok(out)
    }

    #[test]
    fn a_reflected_token_is_found_in_every_form_and_across_chunks() {
        let t = TOKEN.as_bytes();
        let hex: String = t.iter().map(|b| format!("{b:02x}")).collect();
        let pct: String = t.iter().map(|b| format!("%{b:02X}")).collect();
        let json: String = t.iter().map(|b| format!("\\u{:04x}", b)).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("Bearer {TOKEN}"));
        for form in [TOKEN.to_string(), hex, pct, json, b64] {
            let body = format!("{{\"headers\":{{\"authorization\":\"{form}\"}}}}");
            assert_eq!(through(&[body.as_bytes()]), Err("t0".into()), "{form}");
            // Split anywhere: still found, and never released whole.
            for cut in 1..body.len() {
                let (a, b) = body.as_bytes().split_at(cut);
                let mut s = ReflectScan::new(own());
                let Ok(first) = s.push(a) else {
                    continue; // the value was whole in the first part
                };
                assert!(
                    !String::from_utf8_lossy(&first).contains(&form),
                    "{form} released at cut {cut}"
                );
                assert_eq!(s.push(b).map(|_| ()), Err("t0".into()), "cut {cut}");
            }
        }
    }

    #[test]
    fn ordinary_streams_pass_whole_and_at_once() {
        let events = b"event: message\ndata: {\"text\":\"tok\"}\n\n";
        let mut s = ReflectScan::new(own());
        assert_eq!(
            s.push(events).expect("clean"),
            events.to_vec(),
            "a server-sent event is released at once"
        );
        // An end that is the start of the token (4+ bytes) waits for more.
        assert_eq!(s.push(b"data: tok-r").expect("clean"), b"data: ".to_vec());
        assert_eq!(s.push(b"ain\n").expect("clean"), b"tok-rain\n".to_vec());
        assert_eq!(
            through(&[b"hello ", b"world"]).expect("clean"),
            b"hello world"
        );
    }

    #[test]
    fn headers_are_checked() {
        let mut h = hyper::HeaderMap::new();
        h.insert("x-echo", TOKEN.parse().expect("value"));
        assert_eq!(in_headers(&own(), &h).as_deref(), Some("t0"));
        h.clear();
        h.insert("content-type", "text/plain".parse().expect("value"));
        assert_eq!(in_headers(&own(), &h), None);
    }
}
