//! A bottle's identity and everything named after it (SPEC §6): the slug
//! `<agent>-<6 random [a-z0-9]>`, container, network and volume names, and
//! the labels every engine object carries.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

pub const LABEL_SLUG: &str = "dev.bottle.slug";
pub const LABEL_AGENT: &str = "dev.bottle.agent";
pub const LABEL_ROLE: &str = "dev.bottle.role";
pub const LABEL_BACKEND: &str = "dev.bottle.backend";
pub const LABEL_HOME: &str = "dev.bottle.home";

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slug(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a bottle slug (expected <agent>-<6 letters or digits>, like reviewer-k3x9qa)"
)]
pub struct BadSlug(pub String);

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

impl Slug {
    /// A fresh slug for `agent`, from the OS's random source.
    pub fn generate(agent: &str) -> std::io::Result<Slug> {
        let mut suffix = String::with_capacity(6);
        let mut urandom = std::fs::File::open("/dev/urandom")?;
        let mut byte = [0u8; 1];
        while suffix.len() < 6 {
            urandom.read_exact(&mut byte)?;
            // Rejection sampling keeps the 36 symbols equally likely.
            if usize::from(byte[0]) < 252 {
                suffix.push(char::from(ALPHABET[usize::from(byte[0]) % 36]));
            }
        }
        Slug::parse(&format!("{agent}-{suffix}"))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    }

    pub fn parse(text: &str) -> Result<Slug, BadSlug> {
        let bad = || BadSlug(text.to_string());
        let (agent, suffix) = text.rsplit_once('-').ok_or_else(bad)?;
        let agent_ok = agent.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && agent
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let suffix_ok = suffix.len() == 6 && suffix.bytes().all(|b| ALPHABET.contains(&b));
        if agent_ok && suffix_ok && text.len() <= 64 {
            Ok(Slug(text.to_string()))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn agent(&self) -> &str {
        self.0.rsplit_once('-').map_or(&self.0, |(a, _)| a)
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an engine object is, for the `dev.bottle.role` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Agent,
    Sidecar,
    Network,
    Volume,
    Image,
    /// A never-started container that only reads the work volume out.
    Export,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Sidecar => "sidecar",
            Role::Network => "network",
            Role::Volume => "volume",
            Role::Image => "image",
            Role::Export => "export",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub agent_container: String,
    pub sidecar_container: String,
    /// `internal`, IPv4 host side withheld: the agent's only network.
    pub internal_network: String,
    /// The sidecar's way out.
    pub egress_network: String,
    pub work_volume: String,
    pub home_volume: String,
    /// The git gate's repositories (mounted only into the sidecar).
    pub gate_volume: String,
}

impl Names {
    pub fn for_slug(slug: &Slug) -> Names {
        let n = |what: &str| format!("bottle-{slug}-{what}");
        Names {
            agent_container: n("agent"),
            sidecar_container: n("sidecar"),
            internal_network: n("internal"),
            egress_network: n("egress"),
            work_volume: n("work"),
            home_volume: n("home"),
            gate_volume: n("gitgate"),
        }
    }
}

/// The labels of one engine object of a bottle.
pub fn labels(slug: &Slug, role: Role, backend: &str, home_hash: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_SLUG.to_string(), slug.to_string()),
        (LABEL_AGENT.to_string(), slug.agent().to_string()),
        (LABEL_ROLE.to_string(), role.as_str().to_string()),
        (LABEL_BACKEND.to_string(), backend.to_string()),
        (LABEL_HOME.to_string(), home_hash.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_slugs_parse_and_name_their_agent() {
        let s = Slug::generate("code-reviewer").expect("random");
        assert_eq!(Slug::parse(s.as_str()), Ok(s.clone()));
        assert_eq!(s.agent(), "code-reviewer");
        assert_eq!(s.as_str().len(), "code-reviewer".len() + 7);
    }

    #[test]
    fn bad_slugs_are_refused() {
        for bad in [
            "reviewer",
            "reviewer-k3x9q",
            "reviewer-K3X9QA",
            "Rev-k3x9qa",
            "-k3x9qa",
            "a b-k3x9qa",
            "x-k3x9qa;rm",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_labels_derive_from_the_slug() {
        let s = Slug::parse("reviewer-k3x9qa").expect("valid");
        let n = Names::for_slug(&s);
        assert_eq!(n.work_volume, "bottle-reviewer-k3x9qa-work");
        assert_eq!(n.internal_network, "bottle-reviewer-k3x9qa-internal");
        let l = labels(&s, Role::Volume, "docker", "abc");
        assert_eq!(l[LABEL_AGENT], "reviewer");
        assert_eq!(l[LABEL_ROLE], "volume");
        assert_eq!(l[LABEL_HOME], "abc");
    }
}
