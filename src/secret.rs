//! `Secret`: a value that must never reach logs, crash files, metadata or
//! the agent (SPEC §4.2). Debug, Display and Serialize all redact; the
//! value is reachable only through `expose()`, which is easy to grep for.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

pub const REDACTED: &str = "[redacted]";

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rendering_redacts() {
        let s = Secret::new("ghp_canary_value");
        let rendered = [
            format!("{s}"),
            format!("{s:?}"),
            format!("{:#?}", vec![s.clone()]),
            serde_json::to_string(&s).expect("json"),
        ];
        for r in rendered {
            assert!(!r.contains("canary"), "{r}");
            assert!(r.contains(REDACTED));
        }
        assert_eq!(s.expose(), "ghp_canary_value");
    }
}
