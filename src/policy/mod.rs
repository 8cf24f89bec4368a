//! The egress contract both sides share (the host writes it, the sidecar
//! enforces it): the route table and its normalizers, the SSRF address
//! rule, the DLP scanner and the body decoder. Pure; imports no other
//! top-level module.

pub mod decode;
pub mod dlp;
pub mod gitgate;
pub mod routes;
pub mod ssrf;
