//! DLP (SPEC §4.5): what the agent sends — URL, headers, bodies, WebSocket
//! client frames — is scanned before it is forwarded, for secret shapes and
//! for this bottle's own secret and `?`/`${}` values (8 characters or more;
//! raw, base64 at every alignment, URL-encoded). A hit names the rule,
//! never the value. Bodies stream: a chunk is released only after it was
//! scanned together with a held-back overlap of what came before.
//!
//! One pass: a single Aho-Corasick automaton holds every rule's literal
//! prefixes (extracted from the rule's regex, so every match of the rule
//! starts with one of them) and the bottle's own values in all their forms;
//! every position where one of them starts is visited, in order. A buffer
//! with no candidate is done after that pass; a rule's regex runs
//! only from its first candidate on, in rule order, so the finding (which
//! rule) is exactly what running each regex over the whole buffer in turn
//! gives (`Scanner::scan_per_rule`, kept as the reference for tests).

use base64::Engine as _;
use regex::bytes::Regex;
use std::sync::OnceLock;

/// The shortest value checked as a canary.
pub const MIN_CANARY: usize = 8;

/// Bytes held back between chunks, so a secret split across chunks is
/// still seen whole (longer than any rule's match; canaries raise it).
const MIN_OVERLAP: usize = 4096;

/// A finding: the rule's name (one of `manifest::route::DLP_RULES`, or
/// `canary:<NAME>` for a bottle's own value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub rule: String,
}

struct Rule {
    name: &'static str,
    re: Regex,
    /// Every match starts with one of these (non-empty) literals; `None`
    /// when the regex has no finite set of them (the rule is then run over
    /// every buffer, as it is).
    prefixes: Option<Vec<Vec<u8>>>,
}

/// The literal prefixes every match of `pattern` starts with, if the
/// regex has a finite set of non-empty ones.
fn literal_prefixes(pattern: &str) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    // As `regex::bytes::Regex` reads it: Unicode on, any bytes matched.
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let lits: Vec<Vec<u8>> = seq
        .literals()?
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    (!lits.is_empty() && lits.iter().all(|l| !l.is_empty())).then_some(lits)
}

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let r = |name, pattern: &str| Rule {
            name,
            re: Regex::new(pattern).expect("a DLP rule compiles"),
            prefixes: literal_prefixes(pattern),
        };
        vec![
            r("aws-access-key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
            r(
                "github-token",
                r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
            ),
            r("gitlab-token", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
            r("slack-token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
            r("stripe-live-key", r"\b[rs]k_live_[A-Za-z0-9]{20,}"),
            r("google-api-key", r"\bAIza[0-9A-Za-z_\-]{35}"),
            r("anthropic-key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
            // sk-ant- is matched above first; see `scan_rules`.
            r("openai-key", r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{20,}"),
            r(
                "private-key",
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
            ),
            r(
                "jwt",
                r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
            ),
        ]
    })
}

/// Query parameters that carry signatures in presigned URLs (S3, GCS,
/// CloudFront, Azure SAS): high entropy by design, not secrets of ours.
const SIGNATURE_PARAMS: &[&str] = &[
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "signature",
    "sig",
    "policy",
    "key-pair-id",
];

#[derive(Clone, Debug, Default)]
pub struct Scanner {
    /// This bottle's own values in every form checked.
    own: std::sync::Arc<OwnValues>,
    /// Rules a route turned off (`dlp_exempt`).
    exempt: Vec<String>,
    overlap: usize,
    /// The one-pass automaton over the rules' prefixes and the own values'
    /// forms (`None`: no own values, the rules-only one is used).
    matcher: Option<std::sync::Arc<Matcher>>,
    /// Scan with each regex in turn (the reference, for tests and
    /// benchmarks).
    per_rule: bool,
}

/// What a pattern of the one-pass automaton stands for.
#[derive(Clone, Debug)]
enum Found {
    /// A form of one of the bottle's own values.
    Own,
    /// A literal prefix of these rules (indices into `rules()`).
    Prefix(Vec<usize>),
}

/// One Aho-Corasick automaton over every rule's literal prefixes and the
/// own values' forms. Its `Debug` shows no pattern (forms are secrets).
struct Matcher {
    ac: aho_corasick::AhoCorasick,
    /// The patterns, by index (checked where the automaton found one).
    patterns: Vec<Vec<u8>>,
    found: Vec<Found>,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("patterns", &self.found.len())
            .finish()
    }
}

impl Matcher {
    fn new(own_forms: &[Vec<u8>]) -> Matcher {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut found: Vec<Found> = Vec::new();
        for (i, rule) in rules().iter().enumerate() {
            for p in rule.prefixes.iter().flatten() {
                match patterns.iter().position(|q| q == p) {
                    Some(k) => {
                        if let Found::Prefix(rs) = &mut found[k] {
                            rs.push(i);
                        }
                    }
                    None => {
                        patterns.push(p.clone());
                        found.push(Found::Prefix(vec![i]));
                    }
                }
            }
        }
        for f in own_forms {
            patterns.push(f.clone());
            found.push(Found::Own);
        }
        // Leftmost-first: the kind that gets the SIMD (Teddy) prefilter.
        let ac = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(&patterns)
            .expect("the DLP automaton builds");
        Matcher {
            ac,
            patterns,
            found,
        }
    }

    /// Every position where some pattern starts, in order: the automaton
    /// finds the leftmost start at or after `at`, then searches on from
    /// the byte after it (so occurrences inside others are not skipped),
    /// and `each` gets the position with every pattern that starts there.
    /// `each` returns false to stop.
    fn each_start(&self, bytes: &[u8], mut each: impl FnMut(usize, &Found) -> bool) {
        let mut at = 0;
        while at < bytes.len() {
            let input = aho_corasick::Input::new(bytes).span(at..bytes.len());
            let Some(m) = self.ac.find(input) else {
                return;
            };
            let start = m.start();
            let rest = &bytes[start..];
            for (p, found) in self.patterns.iter().zip(&self.found) {
                if rest.starts_with(p) && !each(start, found) {
                    return;
                }
            }
            at = start + 1;
        }
    }

    /// The rules-only automaton (a scanner without own values).
    fn rules_only() -> &'static std::sync::Arc<Matcher> {
        static M: OnceLock<std::sync::Arc<Matcher>> = OnceLock::new();
        M.get_or_init(|| std::sync::Arc::new(Matcher::new(&[])))
    }
}

/// A set of values to find in any of their encoded forms (see
/// `canary_forms`), with one Aho-Corasick automaton over all forms. Its
/// `Debug` names the values, never their forms (they are the secrets).
#[derive(Clone, Default)]
pub struct OwnValues {
    /// Pattern index → the value's name.
    names: Vec<String>,
    matcher: Option<std::sync::Arc<aho_corasick::AhoCorasick>>,
    /// Every form, by pattern index (for the streaming hold-back).
    forms: Vec<Vec<u8>>,
    longest: usize,
}

impl std::fmt::Debug for OwnValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnValues")
            .field("names", &self.names)
            .field("forms", &format_args!("[{} redacted]", self.forms.len()))
            .finish()
    }
}

impl OwnValues {
    /// (name, value) pairs; values shorter than `MIN_CANARY` are skipped
    /// (too many false hits).
    pub fn new(values: &[(String, String)]) -> OwnValues {
        let mut names = Vec::new();
        let mut forms = Vec::new();
        for (name, value) in values {
            if value.len() < MIN_CANARY {
                continue;
            }
            for f in canary_forms(value.as_bytes()) {
                names.push(name.clone());
                forms.push(f);
            }
        }
        let longest = forms.iter().map(Vec::len).max().unwrap_or(0);
        let matcher = if forms.is_empty() {
            None
        } else {
            aho_corasick::AhoCorasick::new(&forms)
                .ok()
                .map(std::sync::Arc::new)
        };
        OwnValues {
            names,
            matcher,
            forms,
            longest,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// The longest form, in bytes.
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// The name of the first value found in `bytes`, in any form.
    pub fn find(&self, bytes: &[u8]) -> Option<&str> {
        let m = self.matcher.as_ref()?.find(bytes)?;
        self.names.get(m.pattern().as_usize()).map(String::as_str)
    }

    /// The length of the longest end of `bytes` that is the start of some
    /// form (a value that what comes next may complete).
    pub fn partial_suffix(&self, bytes: &[u8]) -> usize {
        let mut best = 0;
        let Some(&last) = bytes.last() else {
            return 0;
        };
        for f in &self.forms {
            let max = (f.len() - 1).min(bytes.len());
            for k in (best + 1..=max).rev() {
                if f[k - 1] == last && bytes.ends_with(&f[..k]) {
                    best = k;
                    break;
                }
            }
        }
        best
    }
}

impl Scanner {
    /// `canaries`: (name, value) of the bottle's secrets and `?`/`${}`
    /// values; shorter than `MIN_CANARY` ones are not checked (too many
    /// false hits).
    pub fn new(canaries: &[(String, String)], exempt: &[String]) -> Scanner {
        let own = std::sync::Arc::new(OwnValues::new(canaries));
        let overlap = MIN_OVERLAP.max(own.longest() * 2);
        let matcher = (!own.is_empty()).then(|| std::sync::Arc::new(Matcher::new(&own.forms)));
        Scanner {
            own,
            exempt: exempt.to_vec(),
            overlap,
            matcher,
            per_rule: false,
        }
    }

    /// This bottle's own values (for scanning responses).
    pub fn own_values(&self) -> std::sync::Arc<OwnValues> {
        self.own.clone()
    }

    /// The same scanner, scanning with each rule's regex in turn over the
    /// whole buffer (as before the one pass): the reference the one pass
    /// is tested and measured against.
    pub fn per_rule_reference(&self) -> Scanner {
        Scanner {
            per_rule: true,
            ..self.clone()
        }
    }

    /// A scanner with the same canaries and these route exemptions.
    pub fn for_route(&self, exempt: &[String]) -> Scanner {
        Scanner {
            exempt: exempt.to_vec(),
            ..self.clone()
        }
    }

    fn exempted(&self, rule: &str) -> bool {
        self.exempt.iter().any(|e| e == rule)
    }

    /// Scans one whole buffer (headers, a frame, the end of a body): as it
    /// is, and — when it holds escapes — with `%XX`, `\uXXXX` and `\xXX`
    /// escapes decoded, so a value written in a mix of encodings is still
    /// seen whole.
    pub fn scan(&self, bytes: &[u8]) -> Option<Hit> {
        self.scan_plain(bytes).or_else(|| {
            let decoded = unescape(bytes)?;
            self.scan_plain(&decoded)
        })
    }

    fn scan_plain(&self, bytes: &[u8]) -> Option<Hit> {
        if self.per_rule {
            return self.scan_per_rule(bytes);
        }
        self.scan_one_pass(bytes)
    }

    /// One pass of the automaton over `bytes`: an own value's form ends
    /// it (the value is named as `OwnValues::find` names it); otherwise
    /// each rule with a candidate runs, in rule order, from its first
    /// candidate on (no match can start before it).
    fn scan_one_pass(&self, bytes: &[u8]) -> Option<Hit> {
        let matcher: &Matcher = match &self.matcher {
            Some(m) => m,
            None => Matcher::rules_only(),
        };
        let all = rules();
        // The first candidate of each rule.
        let mut first: Vec<Option<usize>> = vec![None; all.len()];
        let mut own = false;
        matcher.each_start(bytes, |at, found| match found {
            Found::Own => {
                own = true;
                false
            }
            Found::Prefix(rs) => {
                for &r in rs {
                    // Positions come in order: the first is the least.
                    first[r].get_or_insert(at);
                }
                true
            }
        });
        if own {
            if let Some(name) = self.own.find(bytes) {
                return Some(Hit {
                    rule: format!("canary:{name}"),
                });
            }
        }
        for (rule, first) in all.iter().zip(first) {
            if self.exempted(rule.name) {
                continue;
            }
            let from = match (&rule.prefixes, first) {
                (None, _) => 0,
                (Some(_), Some(at)) => at,
                (Some(_), None) => continue,
            };
            if rule_matches_from(rule, bytes, from) {
                return Some(Hit {
                    rule: rule.name.to_string(),
                });
            }
        }
        None
    }

    /// The reference: the own values, then each rule's regex over the
    /// whole buffer, in turn.
    fn scan_per_rule(&self, bytes: &[u8]) -> Option<Hit> {
        if let Some(name) = self.own.find(bytes) {
            return Some(Hit {
                rule: format!("canary:{name}"),
            });
        }
        for rule in rules() {
            if self.exempted(rule.name) {
                continue;
            }
            let found = rule.re.find_iter(bytes).any(|m| counts(rule, m.as_bytes()));
            if found {
                return Some(Hit {
                    rule: rule.name.to_string(),
                });
            }
        }
        None
    }

    /// Scans a request target: the whole of it (decoded too), and each
    /// query value for high entropy.
    pub fn scan_target(&self, target: &str) -> Option<Hit> {
        if let Some(hit) = self.scan(target.as_bytes()) {
            return Some(hit);
        }
        let decoded = percent_decode(target.as_bytes());
        if let Some(hit) = self.scan(&decoded) {
            return Some(hit);
        }
        if self.exempted("high-entropy-query") {
            return None;
        }
        let query = target.split_once('?').map(|(_, q)| q)?;
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = String::from_utf8_lossy(&percent_decode(name.as_bytes())).to_lowercase();
            if SIGNATURE_PARAMS.contains(&name.as_str()) {
                continue;
            }
            let value = percent_decode(value.as_bytes());
            if high_entropy(&value) {
                return Some(Hit {
                    rule: "high-entropy-query".into(),
                });
            }
        }
        None
    }

    /// A body or stream being forwarded chunk by chunk.
    pub fn stream(&self) -> StreamScan<'_> {
        StreamScan {
            scanner: self,
            held: Vec::new(),
        }
    }
}

/// A match of `rule` that counts: `sk-…` matches that are Anthropic's
/// `sk-ant-…` do not count for the OpenAI rule (even where the Anthropic
/// rule is exempt).
fn counts(rule: &Rule, matched: &[u8]) -> bool {
    !(rule.name == "openai-key" && matched.starts_with(b"sk-ant-"))
}

/// Whether `rule` has a match that counts in `bytes`, searching as
/// `find_iter` does (leftmost, non-overlapping) from `from` on, where no
/// match can start earlier (the context before `from` still counts for
/// `\b`).
fn rule_matches_from(rule: &Rule, bytes: &[u8], from: usize) -> bool {
    let mut at = from;
    while at <= bytes.len() {
        let Some(m) = rule.re.find_at(bytes, at) else {
            return false;
        };
        if counts(rule, m.as_bytes()) {
            return true;
        }
        // No rule matches the empty string; never loop in place.
        at = m.end().max(at + 1);
    }
    false
}

/// Streaming scan: `push` returns the bytes that may be forwarded now;
/// `finish` the rest.
pub struct StreamScan<'a> {
    scanner: &'a Scanner,
    held: Vec<u8>,
}

impl StreamScan<'_> {
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Hit> {
        self.held.extend_from_slice(chunk);
        if let Some(hit) = self.scanner.scan(&self.held) {
            return Err(hit);
        }
        let keep = self.scanner.overlap.min(self.held.len());
        let release = self.held.len() - keep;
        Ok(self.held.drain(..release).collect())
    }

    pub fn finish(&mut self) -> Result<Vec<u8>, Hit> {
        if let Some(hit) = self.scanner.scan(&self.held) {
            return Err(hit);
        }
        Ok(std::mem::take(&mut self.held))
    }
}

/// `bytes` with `%XX`, `\uXXXX` (as UTF-8) and `\xXX` escapes decoded, or
/// `None` when it holds none of them (nothing new to scan).
fn unescape(bytes: &[u8]) -> Option<Vec<u8>> {
    // Nothing escaped: nothing new to scan.
    memchr::memchr2(b'%', b'\\', bytes)?;
    let hex = |s: &[u8]| -> Option<u32> {
        let text = std::str::from_utf8(s).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(text, 16).ok()
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escaped = match (b, bytes.get(i + 1)) {
            (b'%', _) => bytes
                .get(i + 1..i + 3)
                .and_then(hex)
                .map(|v| (vec![v as u8], 3)),
            (b'\\', Some(b'u')) => bytes
                .get(i + 2..i + 6)
                .and_then(hex)
                .and_then(char::from_u32)
                .map(|c| (c.to_string().into_bytes(), 6)),
            (b'\\', Some(b'x')) => bytes
                .get(i + 2..i + 4)
                .and_then(hex)
                .map(|v| (vec![v as u8], 4)),
            _ => None,
        };
        match escaped {
            Some((decoded, len)) => {
                out.extend_from_slice(&decoded);
                i += len;
                changed = true;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

/// The value raw, percent-encoded (reserved bytes only, and every byte;
/// upper and lower hex), hex, JSON `\u00XX` escapes of every byte, and
/// base64 (standard and URL-safe) at each of the three alignments it can
/// have inside a longer encoded stream — without the characters that
/// depend on neighbouring bytes. (`Scanner::scan` also decodes mixed
/// escapes; these forms are what a response is searched for as it is.)
fn canary_forms(value: &[u8]) -> Vec<Vec<u8>> {
    let mut forms = vec![value.to_vec()];
    let every = |fmt: &dyn Fn(u8) -> String| -> Vec<u8> {
        value
            .iter()
            .map(|b| fmt(*b))
            .collect::<String>()
            .into_bytes()
    };
    forms.push(every(&|b| format!("%{b:02X}")));
    forms.push(every(&|b| format!("%{b:02x}")));
    forms.push(every(&|b| format!("{b:02x}")));
    forms.push(every(&|b| format!("{b:02X}")));
    forms.push(every(&|b| format!("\\u{:04x}", u32::from(b))));
    forms.push(every(&|b| format!("\\u{:04X}", u32::from(b))));
    let enc: String = value
        .iter()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(b) {
                (*b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if enc.as_bytes() != value {
        forms.push(enc.clone().into_bytes());
        forms.push(enc.to_lowercase().into_bytes());
    }
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for k in 0..3usize {
            let mut padded = vec![0u8; k];
            padded.extend_from_slice(value);
            let text = engine.encode(&padded);
            // Leading chars touched by the k pad bytes; trailing chars
            // that depend on what follows the value.
            let skip = [0, 2, 3][k];
            let total_bits = (k + value.len()) * 8;
            let stable_end = total_bits / 6;
            if stable_end > skip + MIN_CANARY {
                forms.push(text.as_bytes()[skip..stable_end].to_vec());
            }
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Percent-decodes text (invalid escapes are kept as they are).
pub fn percent_decode_str(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode(s.as_bytes())).into_owned()
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    out
}

/// A query value that looks like a random secret: long, several character
/// classes, high Shannon entropy; hex strings and UUIDs are not (they top
/// out at 4 bits per character and are everywhere in ordinary URLs).
fn high_entropy(value: &[u8]) -> bool {
    if value.len() < 24 || value.len() > 4096 {
        return false;
    }
    if value.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-') {
        return false;
    }
    let classes = [
        value.iter().any(u8::is_ascii_lowercase),
        value.iter().any(u8::is_ascii_uppercase),
        value.iter().any(u8::is_ascii_digit),
    ]
    .iter()
    .filter(|c| **c)
    .count();
    if classes < 3 {
        return false;
    }
    let mut counts = [0usize; 256];
    for b in value {
        counts[*b as usize] += 1;
    }
    let n = value.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum();
    entropy >= 4.3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner() -> Scanner {
        Scanner::new(
            &[
                ("GH_PAT".into(), "canary-Value-1234567890".into()),
                ("SHORT".into(), "abc".into()),
            ],
            &[],
        )
    }

    fn rule(s: &Scanner, text: &str) -> Option<String> {
        s.scan(text.as_bytes()).map(|h| h.rule)
    }

    #[test]
    fn every_minimum_rule_fires_on_its_shape() {
        let s = Scanner::new(&[], &[]);
        // Test tokens are split so this file itself holds none whole.
        let cases = [
            (
                "aws-access-key",
                format!("key={}{}", "AKIA", "IOSFODNN7EXAMPLE"),
            ),
            (
                "aws-access-key",
                format!("{}{}", "ASIA", "ABCDEFGHIJKLMNOP"),
            ),
            (
                "github-token",
                format!("token {}_{}", "ghp", "a".repeat(36)),
            ),
            (
                "github-token",
                format!("{}_{}", "github_pat", "11ABCDEFG0123456789_abcdefghij"),
            ),
            (
                "gitlab-token",
                format!("{}-{}", "glpat", "abcdefghij0123456789"),
            ),
            ("slack-token", format!("{}-{}", "xoxb", "1234567890-abcdef")),
            (
                "stripe-live-key",
                format!("{}_{}", "sk_live", "a1b2c3d4e5f6g7h8i9j0k1"),
            ),
            (
                "google-api-key",
                format!("{}{}", "AIza", "SyA-1234567890abcdefghijklmnopqrstu"),
            ),
            (
                "openai-key",
                format!("{}-{}", "sk-proj", "abcdefghijklmnopqrstuvwx"),
            ),
            (
                "openai-key",
                format!("{}-{}", "sk", "abcdefghijklmnopqrstuvwx"),
            ),
            (
                "anthropic-key",
                format!("{}-{}", "sk-ant-api03", "abcdefghijklmnopqrstuvwx"),
            ),
            (
                "private-key",
                format!("-----BEGIN {} PRIVATE KEY-----", "RSA"),
            ),
            ("private-key", format!("-----BEGIN {}-----", "PRIVATE KEY")),
            (
                "jwt",
                format!(
                    "{}.{}.{}",
                    "eyJhbGciOiJIUzI1NiJ9",
                    "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
                    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
                ),
            ),
        ];
        for (want, text) in cases {
            assert_eq!(rule(&s, &text).as_deref(), Some(want), "{text}");
        }
        // An exempt rule is skipped; sk-ant- never reads as OpenAI's.
        let ex = Scanner::new(&[], &["anthropic-key".into()]);
        assert_eq!(
            rule(
                &ex,
                &format!("{}-{}", "sk-ant-api03", "abcdefghijklmnopqrstuvwx")
            ),
            None
        );
    }

    #[test]
    fn own_values_are_found_raw_encoded_and_in_base64_at_any_alignment() {
        let s = scanner();
        let v = "canary-Value-1234567890";
        assert_eq!(
            rule(&s, &format!("x {v} y")).as_deref(),
            Some("canary:GH_PAT")
        );
        assert_eq!(
            rule(&s, "abc abc").as_deref(),
            None,
            "short values are not canaries"
        );
        for prefix in ["", "a", "ab", "abc"] {
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{v}!!"));
            assert_eq!(
                rule(&s, &b64).as_deref(),
                Some("canary:GH_PAT"),
                "{prefix:?}: {b64}"
            );
            let url =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{prefix}{v}"));
            assert_eq!(
                rule(&s, &url).as_deref(),
                Some("canary:GH_PAT"),
                "{prefix:?}: {url}"
            );
        }
        let weird = Scanner::new(&[("P".into(), "p@ss w/rd:2024!".into())], &[]);
        assert_eq!(
            weird
                .scan_target("/login?pw=p%40ss%20w%2Frd%3A2024%21")
                .map(|h| h.rule)
                .as_deref(),
            Some("canary:P")
        );
        assert_eq!(
            weird
                .scan(b"pw=p%40ss%20w%2frd%3a2024%21")
                .map(|h| h.rule)
                .as_deref(),
            Some("canary:P"),
            "lower-case percent-encoding"
        );
    }

    #[test]
    fn own_values_are_found_fully_encoded_in_hex_and_json_escapes_and_mixed() {
        let s = scanner();
        let v = "canary-Value-1234567890";
        let every = |f: &dyn Fn(u8) -> String| v.bytes().map(f).collect::<String>();
        let forms = [
            every(&|b| format!("%{b:02X}")),
            every(&|b| format!("%{b:02x}")),
            every(&|b| format!("{b:02x}")),
            every(&|b| format!("{b:02X}")),
            every(&|b| format!("\\u{:04x}", b)),
            every(&|b| format!("\\u{:04X}", b)),
            every(&|b| format!("\\x{b:02x}")),
            // Mixed: every other byte escaped, in two different ways.
            v.bytes()
                .enumerate()
                .map(|(i, b)| match i % 3 {
                    0 => format!("%{b:02x}"),
                    1 => format!("\\u{:04x}", b),
                    _ => (b as char).to_string(),
                })
                .collect(),
        ];
        for f in forms {
            let body = format!("{{\"note\":\"{f}\"}}");
            assert_eq!(rule(&s, &body).as_deref(), Some("canary:GH_PAT"), "{body}");
        }
        // Escapes alone are not a hit.
        assert_eq!(rule(&s, "a%20b \\u0041 \\x41 %zz \\u12"), None);
    }

    #[test]
    fn a_secret_split_across_chunks_is_caught_before_any_of_it_leaves() {
        let s = scanner();
        let mut st = s.stream();
        let mut released = Vec::new();
        released.extend(st.push(&vec![b'x'; 10_000]).expect("clean"));
        released.extend(
            st.push(b"....canary-Val")
                .expect("half a canary is not a hit"),
        );
        assert!(
            !String::from_utf8_lossy(&released).contains("canary"),
            "the first half was held back"
        );
        assert_eq!(
            st.push(b"ue-1234567890 tail").map(|_| ()),
            Err(Hit {
                rule: "canary:GH_PAT".into()
            })
        );
        // A clean stream comes out whole.
        let mut st = s.stream();
        let mut out = st.push(b"hello ").expect("clean");
        out.extend(st.push(b"world").expect("clean"));
        out.extend(st.finish().expect("clean"));
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn ordinary_traffic_does_not_hit() {
        let s = scanner();
        let targets = [
            "/repos/acme/app/pulls?state=open&per_page=100&page=2",
            "/search/code?q=addClass+in:file+language:js+repo:jquery/jquery",
            "/-/registry.npmjs.org/@types%2fnode/-/node-20.11.5.tgz",
            "/simple/requests/",
            "/packages/3b/00/2ff74bd9c3c6b8f7c6b4b8a4c5d27f9b1e5b4f2c8e7d6a1b0c9d8e7f6a5b4c3d/requests-2.31.0-py3-none-any.whl",
            "/crates/serde/1.0.197/download",
            "/bucket/object.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
            "/b/bucket/o/file?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sa%40p.iam.gserviceaccount.com%2F20240101%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20240101T000000Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature=2d2a1b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",
            "/container/blob.bin?sv=2022-11-02&ss=b&srt=o&sp=r&se=2024-01-02T00:00:00Z&st=2024-01-01T00:00:00Z&spr=https&sig=Zm9vYmFyYmF6cXV4UXVVeFl6MTIzNDU2Nzg5MEFCQ0RFRg%3D%3D",
            "/v1/messages?beta=true",
            "/api/v4/projects/42/merge_requests?id=7f3c2e1a-9b8d-4c6e-a5f4-3b2a1c0d9e8f",
            "/repos/acme/app/commits/9fceb02d0ae598e95dc970b74767f19372d61af8",
        ];
        for t in targets {
            assert_eq!(s.scan_target(t), None, "{t}");
        }
        let bodies = [
            r#"{"model":"claude-sonnet-4","max_tokens":1024,"messages":[{"role":"user","content":"Refactor the sk-learn pipeline; keep AKIA-style names out."}]}"#,
            r#"{"title":"Fix the flaky test","body":"The job at https://ci.example.com/runs/123 fails","head":"fix-flaky","base":"main"}"#,
            "diff --git a/src/lib.rs b/src/lib.rs\n+    let token = std::env::var(\"GITHUB_TOKEN\")?;\n",
        ];
        for b in bodies {
            assert_eq!(s.scan(b.as_bytes()), None, "{b}");
        }
        // A random-looking query value is caught.
        assert_eq!(
            s.scan_target("/x?session=Qm9Lx7Tz2pR8vN4kW1cY6hJ3dF5gS0aE")
                .map(|h| h.rule)
                .as_deref(),
            Some("high-entropy-query")
        );
    }

    // The one-pass scanner against the reference (each regex in turn).

    fn reference(s: &Scanner) -> Scanner {
        s.per_rule_reference()
    }

    #[test]
    fn every_rule_is_found_by_its_literal_prefixes() {
        // A rule without literal prefixes would be run over every buffer:
        // correct, but the one pass would no longer be one.
        for rule in rules() {
            let p = rule
                .prefixes
                .as_ref()
                .unwrap_or_else(|| panic!("{}", rule.name));
            assert!(
                !p.is_empty() && p.iter().all(|l| !l.is_empty()),
                "{}",
                rule.name
            );
        }
    }

    /// Pieces a corpus is made of: token shapes and near misses for every
    /// rule, the canaries' forms, escapes, non-ASCII text and word
    /// characters that make or break `\b`.
    fn fragments() -> Vec<Vec<u8>> {
        let v = "canary-Value-1234567890";
        let mut f: Vec<Vec<u8>> = [
            "AKIA",
            "ASIA",
            "IOSFODNN7EXAMPLE",
            "ABCDEFGHIJKLMNOP",
            "ghp_",
            "gho_",
            "ghs_",
            "github_pat_",
            "glpat-",
            "xoxb-",
            "xoxp-",
            "sk_live_",
            "rk_live_",
            "AIza",
            "sk-",
            "sk-ant-",
            "sk-proj-",
            "api03-",
            "-----BEGIN ",
            "RSA ",
            "PRIVATE KEY",
            "-----",
            " BLOCK",
            "eyJ",
            ".",
            "eyJhbGciOiJIUzI1NiJ9",
            "abcdefghijklmnopqrstuvwxyz",
            "0123456789",
            "ABCDEFGHIJ",
            "_",
            "-",
            " ",
            "\n",
            "\"",
            "{",
            "}",
            ":",
            "=",
            "&",
            "%41",
            "%2D",
            "%2d",
            "%",
            "\\u0041",
            "\\x41",
            "\\u12",
            "\\",
            "é",
            "日本",
            "ǅ",
            "x",
            "Z",
            "9",
            "canary-",
            "Value-",
            "1234567890",
            v,
            "abc",
            INNER,
            "s",
            "inner-",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        f.push(vec![0xff, 0xfe]);
        f.push(vec![0xc3]);
        for form in canary_forms(v.as_bytes())
            .into_iter()
            .chain(canary_forms(INNER.as_bytes()))
        {
            f.push(form);
        }
        f
    }

    /// A canary that starts inside a rule's prefix (`sk-` + `k-inner…`):
    /// occurrences that overlap must all be seen.
    const INNER: &str = "k-inner-canary-77";

    fn canaries() -> Vec<(String, String)> {
        vec![
            ("GH_PAT".into(), "canary-Value-1234567890".into()),
            ("INNER".into(), INNER.into()),
        ]
    }

    fn corpus() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::strategy::Strategy;
        let pieces = fragments();
        let n = pieces.len();
        proptest::collection::vec((0..n, 1usize..40), 0..60).prop_map(move |picks| {
            let mut out = Vec::new();
            for (i, reps) in picks {
                // Mostly one copy; runs make long tokens (`{36,}` and the like).
                let reps = if reps > 30 { reps - 29 } else { 1 };
                for _ in 0..reps {
                    out.extend_from_slice(&pieces[i]);
                }
            }
            out
        })
    }

    fn exemptions() -> impl proptest::strategy::Strategy<Value = Vec<String>> {
        let names: Vec<String> = rules()
            .iter()
            .map(|r| r.name.to_string())
            .chain(["high-entropy-query".to_string()])
            .collect();
        proptest::sample::subsequence(names.clone(), 0..=3)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        #[test]
        fn one_pass_finds_what_each_regex_in_turn_finds(
            text in corpus(),
            exempt in exemptions(),
            own in proptest::prelude::any::<bool>(),
        ) {
            let canaries: Vec<(String, String)> = if own { canaries() } else { Vec::new() };
            let s = Scanner::new(&canaries, &exempt);
            let r = reference(&s);
            proptest::prop_assert_eq!(s.scan(&text), r.scan(&text));
            let target = String::from_utf8_lossy(&text).into_owned();
            proptest::prop_assert_eq!(s.scan_target(&target), r.scan_target(&target));
        }

    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        #[test]
        fn one_pass_streams_like_the_reference_across_chunk_boundaries(
            text in corpus(),
            cuts in proptest::collection::vec(0usize..5000, 0..8),
            pad in 0usize..9000,
            exempt in exemptions(),
        ) {
            // Padding puts the interesting bytes at the held-back window's
            // edges; the cuts split them anywhere.
            let mut stream = vec![b'.'; pad];
            stream.extend_from_slice(&text);
            let s = Scanner::new(&canaries(), &exempt);
            let r = reference(&s);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            cuts.push(stream.len());
            let run = |sc: &Scanner| -> Vec<Result<Vec<u8>, Hit>> {
                let mut st = sc.stream();
                let mut out = Vec::new();
                let mut at = 0;
                for &c in &cuts {
                    let got = st.push(&stream[at..c]);
                    let stop = got.is_err();
                    out.push(got);
                    if stop {
                        return out;
                    }
                    at = c;
                }
                out.push(st.finish());
                out
            };
            proptest::prop_assert_eq!(run(&s), run(&r));
        }
    }

    #[test]
    fn a_token_straddling_a_chunk_boundary_is_found_by_the_one_pass() {
        let s = Scanner::new(&[("GH_PAT".into(), "canary-Value-1234567890".into())], &[]);
        let tokens = [
            ("github-token", format!("{}_{}", "ghp", "b".repeat(40))),
            (
                "aws-access-key",
                format!("{}{}", "AKIA", "IOSFODNN7EXAMPLE"),
            ),
            (
                "anthropic-key",
                format!("{}-{}", "sk-ant-api03", "x".repeat(30)),
            ),
            (
                "private-key",
                format!("-----BEGIN {} PRIVATE KEY-----", "EC"),
            ),
            ("canary:GH_PAT", "canary-Value-1234567890".to_string()),
        ];
        for (rule, token) in tokens {
            for split in 1..token.len() {
                // The first part alone must be no token yet.
                if s.scan(&token.as_bytes()[..split]).is_some() {
                    continue;
                }
                for lead in [10usize, 4095, 4096, 70_000] {
                    let mut st = s.stream();
                    let mut pre = vec![b' '; lead];
                    pre.extend_from_slice(&token.as_bytes()[..split]);
                    let first = st.push(&pre).expect("half a token is no hit");
                    assert!(
                        first.iter().all(|b| *b == b' '),
                        "part of the token was released before it was whole"
                    );
                    let mut rest = token.as_bytes()[split..].to_vec();
                    rest.extend_from_slice(b" tail");
                    assert_eq!(
                        st.push(&rest).map(|_| ()),
                        Err(Hit { rule: rule.into() }),
                        "{rule} split at {split} after {lead}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_one_pass_keeps_rule_order_and_the_anthropic_exception() {
        // Two rules in one buffer: the earlier rule in the list wins,
        // wherever its match is.
        let s = Scanner::new(&[], &[]);
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w";
        let text = format!("{jwt} then {}{}", "AKIA", "IOSFODNN7EXAMPLE");
        assert_eq!(rule(&s, &text).as_deref(), Some("aws-access-key"));
        // `sk-ant-…` swallowing a later `sk-…` (find_iter does not
        // overlap): neither the Anthropic rule (exempt) nor OpenAI's hits.
        let ex = Scanner::new(&[], &["anthropic-key".into()]);
        let text = format!(
            "{}-{}-sk-{}",
            "sk-ant-api03",
            "a".repeat(22),
            "b".repeat(22)
        );
        assert_eq!(rule(&ex, &text), None);
        assert_eq!(rule(&reference(&ex), &text), None);
        // A separate `sk-…` after it does.
        let text = format!(
            "{}-{} sk-{}",
            "sk-ant-api03",
            "a".repeat(22),
            "b".repeat(22)
        );
        assert_eq!(rule(&ex, &text).as_deref(), Some("openai-key"));
        // `\b` sees the byte before the candidate: a word character (ASCII
        // or not) before the prefix is no boundary.
        for before in ["x", "é", "_", "9"] {
            let text = format!("{before}{}{}", "AKIA", "IOSFODNN7EXAMPLE");
            assert_eq!(rule(&s, &text), None, "{before}");
        }
        let text = format!("-{}{}", "AKIA", "IOSFODNN7EXAMPLE");
        assert_eq!(rule(&s, &text).as_deref(), Some("aws-access-key"));
        // An own value starting inside a rule's prefix (`s` + `k-inner…`
        // holds `sk-` at 0 and the value at 1): both are seen.
        let c = Scanner::new(&canaries(), &[]);
        let text = format!("x s{INNER} y");
        assert_eq!(rule(&c, &text).as_deref(), Some("canary:INNER"));
        assert_eq!(rule(&reference(&c), &text).as_deref(), Some("canary:INNER"));
    }

    /// Strings each rule's own regex generates (its `\b`s dropped: the
    /// generator has no look-arounds; the context supplies boundaries).
    fn rule_matches() -> impl proptest::strategy::Strategy<Value = (usize, Vec<u8>)> {
        use proptest::strategy::Strategy;
        let gens: Vec<_> = rules()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let pattern = r.re.as_str().replace(r"\b", "");
                proptest::string::bytes_regex(&pattern)
                    .unwrap_or_else(|e| panic!("{}: {e}", r.name))
                    .prop_map(move |m| (i, m))
                    .boxed()
            })
            .collect();
        proptest::strategy::Union::new(gens)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

        /// Attack on the prefix extraction: any string a rule's regex
        /// matches (not just the hand-picked fragments: every class
        /// member, every alternative, optional and repeated parts), in
        /// separating context, whole or split across chunks anywhere, is
        /// found by the one pass exactly as each regex in turn finds it,
        /// and is found at all (by its rule, or one earlier in the list).
        #[test]
        fn every_string_a_rule_matches_is_found_by_the_one_pass(
            (i, m) in rule_matches(),
            before in proptest::sample::select(vec![" ", "\n", "\"", "=", "&q=", "("]),
            pad in 0usize..6000,
            cut in 0usize..200,
            own in proptest::prelude::any::<bool>(),
        ) {
            let canaries: Vec<(String, String)> = if own { canaries() } else { Vec::new() };
            let s = Scanner::new(&canaries, &[]);
            let r = reference(&s);
            let mut text = vec![b'.'; pad];
            text.extend_from_slice(before.as_bytes());
            text.extend_from_slice(&m);
            text.extend_from_slice(b" ");
            let got = s.scan(&text);
            proptest::prop_assert_eq!(&got, &r.scan(&text));
            let found = got.expect("a rule's own match is found");
            let at = rules().iter().position(|x| x.name == found.rule);
            proptest::prop_assert!(
                at.is_some_and(|k| k <= i),
                "{} matched, {} found", rules()[i].name, found.rule
            );
            // Streamed, cut anywhere inside the match.
            let cut = (pad + before.len() + cut % (m.len() + 1)).min(text.len());
            let run = |sc: &Scanner| {
                let mut st = sc.stream();
                st.push(&text[..cut]).and_then(|_| st.push(&text[cut..])).and_then(|_| st.finish())
            };
            let streamed = run(&s);
            proptest::prop_assert_eq!(&streamed, &run(&r));
            proptest::prop_assert!(streamed.is_err());
        }
    }
}
