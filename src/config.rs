//! The operator's settings, `$BOTTLE_HOME/config.yaml` (SPEC §2): `keys:`
//! (the workspace keymap, applied by `app::keymap`) and `notify:` (desktop
//! notifications through the outer terminal when a pane needs input: `off`,
//! the default, `osc9` or `osc777`). Any other top-level key is reported,
//! not ignored. `export_max_file_mib:` (default 100) is the largest file
//! `bottle diff`/`export` takes out of a bottle. `network_range:` (default
//! `172.16.0.0/16`) is the private IPv4 range bottle carves its networks'
//! subnets from (`backends::docker::subnets`).

use crate::manifest::yaml::{self, Node, Value};
use crate::manifest::{did_you_mean, Pos, Problem, Severity};
use std::path::Path;

const SECTIONS: [&str; 4] = ["keys", "notify", "export_max_file_mib", "network_range"];

/// How a pane that needs input is announced to the desktop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Notify {
    #[default]
    Off,
    /// `ESC ] 9 ; text BEL` (iTerm2, WezTerm, Windows Terminal, ConEmu).
    Osc9,
    /// `ESC ] 777 ; notify ; title ; text BEL` (rxvt-unicode, foot, VTE).
    Osc777,
}

const NOTIFY: [&str; 3] = ["off", "osc9", "osc777"];

impl Notify {
    /// The escape sequence announcing `text` (already plain: no controls).
    pub fn sequence(self, text: &str) -> Option<String> {
        let clean: String = text
            .chars()
            .filter(|c| !c.is_control() && *c != ';')
            .collect();
        match self {
            Notify::Off => None,
            Notify::Osc9 => Some(format!("\x1b]9;{clean}\x07")),
            Notify::Osc777 => Some(format!("\x1b]777;notify;bottle;{clean}\x07")),
        }
    }
}

/// `notify:` of the config file at `path` (`off` when missing or wrong;
/// its problems are reported with the rest by `Keymap::from_config`).
pub fn notify(path: &Path) -> Notify {
    std::fs::read_to_string(path)
        .map(|t| parse(&t, path).1)
        .unwrap_or_default()
}

/// The `keys:` node of a config file, and the file's problems outside it.
pub fn keys_section(text: &str, path: &Path) -> (Option<Node>, Vec<Problem>) {
    let (keys, _, problems) = parse(text, path);
    (keys, problems)
}

/// The `keys:` node, the `notify:` setting, and every problem outside
/// `keys:`.
pub fn parse(text: &str, path: &Path) -> (Option<Node>, Notify, Vec<Problem>) {
    let (keys, notify_node, mut problems) = sections(text, path);
    let mut notify = Notify::Off;
    if let Some(n) = notify_node {
        match &n.value {
            Value::Str(s) if s == "off" => {}
            Value::Bool(false) => {}
            Value::Str(s) if s == "osc9" => notify = Notify::Osc9,
            Value::Str(s) if s == "osc777" => notify = Notify::Osc777,
            other => {
                let shown = match other {
                    Value::Str(s) => format!("`{s}`"),
                    v => v.kind().to_string(),
                };
                let hint = match other {
                    Value::Str(s) => did_you_mean(s, NOTIFY)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                problems.push(Problem {
                    path: path.to_path_buf(),
                    pos: n.pos,
                    severity: Severity::Error,
                    message: format!("notify: expected off, osc9 or osc777, found {shown}{hint}"),
                });
            }
        }
    }
    (keys, notify, problems)
}

/// `export_max_file_mib:` of the config file at `path`, in bytes: the
/// largest file `bottle diff`/`export` takes out of a bottle (larger ones
/// are held back and named). The default when missing; an error when it
/// is not a positive whole number.
pub fn export_max_file(path: &Path, default: u64) -> Result<u64, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(default);
    };
    let Ok(Node {
        value: Value::Map(entries),
        ..
    }) = yaml::parse(&text, 0)
    else {
        return Ok(default);
    };
    match entries
        .into_iter()
        .find(|(k, _)| k.name == "export_max_file_mib")
    {
        None => Ok(default),
        Some((
            _,
            Node {
                value: Value::Int(n),
                ..
            },
        )) if n > 0 => Ok((n as u64).saturating_mul(1024 * 1024)),
        Some((_, n)) => Err(format!(
            "{}:{}: export_max_file_mib: expected a positive number of MiB, found {}",
            path.display(),
            n.pos.line,
            n.value.kind()
        )),
    }
}

/// The range bottle's networks take their subnets from when config.yaml
/// does not name one: private (RFC 1918), and the one /16 of
/// 172.16.0.0/12 that Docker's default address pools leave out.
pub const DEFAULT_NETWORK_RANGE: &str = "172.16.0.0/16";

/// `network_range:` of the config file at `path` (the default when the
/// file or the setting is missing); an error with `file:line:col` when it
/// is not a private IPv4 network of /8 to /26.
pub fn network_range(path: &Path) -> Result<ipnet::Ipv4Net, String> {
    let default = || DEFAULT_NETWORK_RANGE.parse().expect("a network");
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(default());
    };
    let Ok(Node {
        value: Value::Map(entries),
        ..
    }) = yaml::parse(&text, 0)
    else {
        return Ok(default());
    };
    match entries.into_iter().find(|(k, _)| k.name == "network_range") {
        None => Ok(default()),
        Some((_, n)) => range_of(&n)
            .map_err(|m| format!("{}:{}:{}: {m}", path.display(), n.pos.line, n.pos.col)),
    }
}

fn range_of(n: &Node) -> Result<ipnet::Ipv4Net, String> {
    let Value::Str(s) = &n.value else {
        return Err(format!(
            "network_range: expected an IPv4 network such as {DEFAULT_NETWORK_RANGE}, found {}",
            n.value.kind()
        ));
    };
    let net: ipnet::Ipv4Net = s.trim().parse().map_err(|_| {
        format!("network_range: `{s}` is not an IPv4 network (such as {DEFAULT_NETWORK_RANGE})")
    })?;
    if net != net.trunc() {
        return Err(format!(
            "network_range: `{s}` has host bits set (the network is {})",
            net.trunc()
        ));
    }
    if !(8..=26).contains(&net.prefix_len()) {
        return Err(format!(
            "network_range: `{s}` must be /8 to /26 (it holds bottle's /28 subnets, three per bottle)"
        ));
    }
    if !net.network().is_private() {
        return Err(format!(
            "network_range: `{s}` is not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)"
        ));
    }
    Ok(net)
}

fn sections(text: &str, path: &Path) -> (Option<Node>, Option<Node>, Vec<Problem>) {
    let err = |pos: Pos, message: String| Problem {
        path: path.to_path_buf(),
        pos,
        severity: Severity::Error,
        message,
    };
    let node = match yaml::parse(text, 0) {
        Ok(n) => n,
        Err(e) => return (None, None, vec![err(e.pos, e.message)]),
    };
    let entries = match node.value {
        Value::Map(entries) => entries,
        Value::Null => return (None, None, Vec::new()),
        other => {
            return (
                None,
                None,
                vec![err(
                    node.pos,
                    format!("expected a mapping (keys: …), found {}", other.kind()),
                )],
            )
        }
    };
    let mut keys = None;
    let mut notify = None;
    let mut problems = Vec::new();
    for (key, value) in entries {
        if key.name == "keys" {
            keys = Some(value);
        } else if key.name == "notify" {
            notify = Some(value);
        } else if key.name == "export_max_file_mib" {
            // Read by `export_max_file`.
        } else if key.name == "network_range" {
            if let Err(message) = range_of(&value) {
                problems.push(err(value.pos, message));
            }
        } else {
            let hint = did_you_mean(&key.name, SECTIONS)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            problems.push(err(
                key.pos,
                format!(
                    "unknown setting `{}`: config.yaml knows `keys`, `notify`, `export_max_file_mib` and `network_range`{hint}",
                    key.name
                ),
            ));
        }
    }
    (keys, notify, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_is_off_unless_asked_and_its_text_is_plain() {
        let p = Path::new("/h/config.yaml");
        assert_eq!(parse("keys: {}\n", p).1, Notify::Off);
        assert_eq!(parse("notify: osc9\n", p).1, Notify::Osc9);
        assert_eq!(parse("notify: false\n", p).1, Notify::Off);
        let (_, n, problems) = parse("notify: yes please\n", p);
        assert_eq!(n, Notify::Off);
        assert_eq!(problems[0].pos, Pos { line: 1, col: 9 });
        assert_eq!(
            Notify::Osc9.sequence("a\x1b]52;x\x07b;c"),
            Some("\x1b]9;a]52xbc\x07".into()),
            "no escape or separator from the text gets through"
        );
        assert_eq!(Notify::Off.sequence("x"), None);
    }

    #[test]
    fn network_range_is_a_private_network_with_room_for_subnets() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let p = dir.path().join("config.yaml");
        assert_eq!(
            network_range(&p)
                .expect("missing file: default")
                .to_string(),
            DEFAULT_NETWORK_RANGE
        );
        std::fs::write(&p, "network_range: 10.77.0.0/16\n").expect("write");
        assert_eq!(
            network_range(&p).expect("valid").to_string(),
            "10.77.0.0/16"
        );
        for (text, says) in [
            ("network_range: 8.8.0.0/16\n", "not a private range"),
            ("network_range: 10.0.0.0/28\n", "must be /8 to /26"),
            ("network_range: 10.1.2.3/16\n", "host bits set"),
            ("network_range: nope\n", "not an IPv4 network"),
            ("network_range: 12\n", "expected an IPv4 network"),
        ] {
            std::fs::write(&p, text).expect("write");
            let e = network_range(&p).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
            assert!(e.contains("config.yaml:1:16"), "{text}: {e}");
            let (_, _, problems) = parse(text, &p);
            assert_eq!(problems.len(), 1, "{text}: reported by check too");
        }
    }
}
