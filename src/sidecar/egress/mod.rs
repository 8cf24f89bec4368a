//! The sidecar's egress proxy (SPEC §4.3–4.5, §5.3): the bottle's CA,
//! the proxy (`proxy/`: CONNECT and TLS interception, the pure per-request
//! decision, injection, DLP on the way out), what answers are checked for
//! (`reflect`), the secrets tmpfs, WebSocket framing, and the test
//! stand-in. The rules it enforces (routes, SSRF, DLP, decoding) are the
//! shared contract in `policy/`.

pub mod ca;
pub mod proxy;
pub mod reflect;
pub mod secrets;
pub mod standin;
pub mod ws;
