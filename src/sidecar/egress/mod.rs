//! The egress proxy's parts (SPEC §4.3–4.5, §5.3): the route table
//! (`routes.json`, checked before any DNS lookup), the SSRF guard's
//! address rule and the DLP scanner. The proxy itself (CONNECT and TLS interception,
//! injection, DLP) builds on these.

pub mod ca;
pub mod proxy;
pub mod reflect;
pub mod secrets;
pub mod standin;
pub mod ws;
