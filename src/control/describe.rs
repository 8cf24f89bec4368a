//! What a decision will change, as plain lines for the workspace's prompt
//! and `bottle queue`. Built from the same functions that apply it, so the
//! operator approves exactly what becomes live. Every piece of agent text
//! is sanitized; hosts are shown in punycode with the Unicode form beside.

use crate::policy::routes::RouteEntry;
use crate::queue::{Payload, Request};
use crate::sanitize::inline;
use crate::state::Home;

/// A host as ASCII (punycode `xn--…` labels) with its Unicode form beside
/// it when the two differ, whichever form the agent sent: a homoglyph name
/// never shows as the name it imitates.
pub fn host(name: &str) -> String {
    let (wild, bare) = match name.strip_prefix("*.") {
        Some(b) => ("*.", b),
        None => ("", name),
    };
    let Ok(ascii) = idna::domain_to_ascii(bare) else {
        return format!("{wild}{}", inline(bare));
    };
    if ascii.is_empty() || !ascii.is_ascii() {
        return format!("{wild}{}", inline(bare));
    }
    let (unicode, res) = idna::domain_to_unicode(&ascii);
    if res.is_ok() && unicode != ascii {
        format!("{wild}{} ({wild}{})", inline(&ascii), inline(&unicode))
    } else {
        format!("{wild}{}", inline(&ascii))
    }
}

/// One route as a line: host, ports, paths, methods.
pub fn route_line(r: &RouteEntry) -> String {
    let list = |v: &[String], none: &str| {
        if v.is_empty() {
            none.to_string()
        } else {
            inline(&v.join(","))
        }
    };
    let ports = r.ports_text();
    format!(
        "{}:{ports}  paths {}  methods {}",
        host(&r.host),
        list(&r.path_allowlist, "any"),
        list(&r.methods, "any")
    )
}

/// The change an approval of `req` makes, line by line.
pub fn describe(home: &Home, req: &Request) -> Vec<String> {
    match &req.payload {
        Payload::Egress(ask) => {
            let dir = crate::backends::egress::egress_dir(&home.state_dir(&req.slug));
            match crate::backends::egress::approved_route(&dir, &req.id.to_string(), ask) {
                Ok(route) => {
                    let mut out = vec![format!("+ route {}", route_line(&route))];
                    let on = format!(
                        "{}{}",
                        host(&route.host),
                        route.path_allowlist.first().map_or("", String::as_str)
                    );
                    out.push(match &route.auth {
                        Some(a) => format!(
                            "{} will be injected on {on} ({} scheme)",
                            a.token_ref.as_deref().unwrap_or("the bottle's credential"),
                            inline(&a.scheme)
                        ),
                        None => format!("no credential is injected on {on}"),
                    });
                    if !route.ssrf_ip_allowlist.is_empty() {
                        out.push(format!(
                            "private addresses allowed (from the bottle's route): {}",
                            route.ssrf_ip_allowlist.join(", ")
                        ));
                    }
                    out
                }
                Err(e) => vec![format!("cannot be applied: {}", inline(&format!("{e:#}")))],
            }
        }
        Payload::Question(q) => q.question.lines().map(inline).collect(),
        Payload::Capability(c) => super::capability::describe(home, &req.slug, c),
    }
}

#[cfg(test)]
mod tests {
    use super::host;

    #[test]
    fn hosts_show_punycode_first_whichever_form_was_sent() {
        // Cyrillic і in a look-alike of github.com.
        assert_eq!(host("gіthub.com"), "xn--gthub-n2e.com (gіthub.com)");
        assert_eq!(host("xn--gthub-n2e.com"), "xn--gthub-n2e.com (gіthub.com)");
        assert_eq!(
            host("*.bücher.test"),
            "*.xn--bcher-kva.test (*.bücher.test)"
        );
        assert_eq!(host("API.github.com"), "api.github.com");
        assert_eq!(host("a\u{1b}b"), "a\\u{1b}b");
    }
}
