//! What a push adds, scanned with the DLP rules and the bottle's own
//! values: the output of `git log -p` over the pushed range (each new
//! commit against its first parent, binary files as text, no context
//! lines) read as commit messages, new file names and added lines. Pure:
//! the git process is the hook's.

use crate::policy::dlp::Scanner;

/// The log format the hook asks for: a NUL, a marker with a nonce the
/// agent cannot know (so no message or file can forge a commit start),
/// the commit id; the message follows up to the next NUL.
pub fn format_arg(nonce: &str) -> String {
    format!("--format=%x00bottle-commit-{nonce} %H%n%B%x00bottle-end-{nonce}")
}

/// A finding: where, and which rule (never the value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub commit: String,
    /// `file:line`, `file name`, `commit message line N` or `tag …`.
    pub place: String,
    pub rule: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = &self.commit[..self.commit.len().min(12)];
        write!(f, "{}: {} (commit {short})", self.place, self.rule)
    }
}

/// Scans `git log -p` output made with [`FORMAT`]; at most `limit`
/// findings.
pub fn scan_log(log: &[u8], nonce: &str, scanner: &Scanner, limit: usize) -> Vec<Finding> {
    let mut s = LogScan::new(scanner, nonce, limit);
    for line in log.split_inclusive(|&b| b == b'\n') {
        s.line(line.strip_suffix(b"\n").unwrap_or(line));
    }
    s.finish()
}

/// The log read line by line (a line longer than the reader's limit
/// arrives in pieces; each piece is scanned as a line), so a push of any
/// size is scanned in bounded memory.
pub struct LogScan<'a> {
    scanner: &'a Scanner,
    /// `\0bottle-commit-<nonce> `
    start: Vec<u8>,
    /// `\0bottle-end-<nonce>`
    end: Vec<u8>,
    limit: usize,
    found: Vec<Finding>,
    commit: String,
    /// Inside a commit message (`Some(lines so far)`).
    message: Option<Vec<u8>>,
    file: String,
    new_file: bool,
    /// The next added line's number in the new file (0: between files).
    line_no: usize,
    /// Consecutive added lines (joined): a value split over lines is
    /// still seen whole; its first line is named.
    block: Vec<u8>,
    block_start: usize,
    block_hit: bool,
}

/// Joined added lines are scanned whole up to this size, then restarted.
const MAX_BLOCK: usize = 1 << 20;

impl<'a> LogScan<'a> {
    pub fn new(scanner: &'a Scanner, nonce: &str, limit: usize) -> LogScan<'a> {
        LogScan {
            scanner,
            start: format!("\0bottle-commit-{nonce} ").into_bytes(),
            end: format!("\0bottle-end-{nonce}").into_bytes(),
            limit,
            found: Vec::new(),
            commit: String::new(),
            message: None,
            file: String::new(),
            new_file: false,
            line_no: 0,
            block: Vec::new(),
            block_start: 0,
            block_hit: false,
        }
    }

    pub fn full(&self) -> bool {
        self.found.len() >= self.limit
    }

    pub fn finish(mut self) -> Vec<Finding> {
        self.flush();
        self.found.truncate(self.limit);
        self.found
    }

    fn push(&mut self, place: String, rule: String) {
        self.found.push(Finding {
            commit: self.commit.clone(),
            place,
            rule,
        });
    }

    fn flush(&mut self) {
        if !self.block_hit && !self.block.is_empty() {
            if let Some(h) = self.scanner.scan(&self.block) {
                let place = format!(
                    "{}:{}",
                    crate::sanitize::inline(&self.file),
                    self.block_start
                );
                self.push(place, h.rule);
            }
        }
        self.block.clear();
        self.block_hit = false;
    }

    /// One line of the log, without its newline.
    pub fn line(&mut self, line: &[u8]) {
        if self.full() {
            return;
        }
        if let Some(rest) = line.strip_prefix(self.start.as_slice()) {
            self.flush();
            self.commit = String::from_utf8_lossy(rest).into_owned();
            self.message = Some(Vec::new());
            self.file.clear();
            self.line_no = 0;
            return;
        }
        if let Some(mut message) = self.message.take() {
            let end = line
                .windows(self.end.len())
                .position(|w| w == self.end.as_slice());
            match end {
                Some(end) => {
                    message.extend_from_slice(&line[..end]);
                    let commit = self.commit.clone();
                    scan_message(
                        &commit,
                        "commit message",
                        &message,
                        self.scanner,
                        &mut self.found,
                    );
                    // An entry without a patch: the next one may follow
                    // on the same line.
                    let rest = &line[end + self.end.len()..];
                    if !rest.is_empty() {
                        self.line(rest);
                    }
                }
                None => {
                    message.extend_from_slice(line);
                    message.push(b'\n');
                    if message.len() > MAX_BLOCK {
                        let commit = self.commit.clone();
                        scan_message(
                            &commit,
                            "commit message",
                            &message,
                            self.scanner,
                            &mut self.found,
                        );
                        message.clear();
                    }
                    self.message = Some(message);
                }
            }
            return;
        }
        self.patch_line(line);
    }

    fn patch_line(&mut self, line: &[u8]) {
        if line.starts_with(b"diff --git ") {
            self.flush();
            self.new_file = false;
            self.file.clear();
            self.line_no = 0;
            return;
        }
        if self.line_no == 0 {
            if line.starts_with(b"--- ") {
                self.new_file = line == b"--- /dev/null";
                return;
            }
            if let Some(path) = line.strip_prefix(b"+++ ") {
                self.file = unquote(path.strip_prefix(b"b/").unwrap_or(path));
                if self.new_file {
                    if let Some(h) = self.scanner.scan(self.file.as_bytes()) {
                        let place = format!("file name {}", crate::sanitize::inline(&self.file));
                        self.push(place, h.rule);
                    }
                }
                return;
            }
        }
        if line.starts_with(b"@@ ") {
            self.flush();
            self.line_no = hunk_start(line).unwrap_or(1).max(1);
            return;
        }
        if self.line_no == 0 {
            // Section headers (`index`, `new file mode`, `Binary files`).
            return;
        }
        if let Some(added) = line.strip_prefix(b"+") {
            if self.block.len() > MAX_BLOCK {
                self.flush();
            }
            if self.block.is_empty() {
                self.block_start = self.line_no;
            } else {
                self.block.push(b'\n');
            }
            self.block.extend_from_slice(added);
            if let Some(h) = self.scanner.scan(added) {
                let place = format!("{}:{}", crate::sanitize::inline(&self.file), self.line_no);
                self.push(place, h.rule);
                self.block_hit = true;
            }
            self.line_no += 1;
            return;
        }
        if line.starts_with(b"\\") {
            // `\ No newline at end of file`
            return;
        }
        self.flush();
        if line.starts_with(b" ") {
            self.line_no += 1;
        }
    }
}

/// A commit or tag message, line by line and (when no line hits) whole.
pub fn scan_message(
    commit: &str,
    what: &str,
    message: &[u8],
    scanner: &Scanner,
    found: &mut Vec<Finding>,
) {
    let mut hit_line = false;
    for (n, line) in message.split(|&b| b == b'\n').enumerate() {
        if let Some(hit) = scanner.scan(line) {
            found.push(Finding {
                commit: commit.into(),
                place: format!("{what} line {}", n + 1),
                rule: hit.rule,
            });
            hit_line = true;
        }
    }
    if !hit_line {
        if let Some(hit) = scanner.scan(message) {
            found.push(Finding {
                commit: commit.into(),
                place: what.into(),
                rule: hit.rule,
            });
        }
    }
}

/// `@@ -a,b +c,d @@` → c.
fn hunk_start(line: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(line).ok()?;
    let plus = text.split_whitespace().find(|w| w.starts_with('+'))?;
    plus[1..].split(',').next()?.parse().ok()
}

/// A path as git prints it: as is, or C-quoted (`"a\tb\303\251"`).
fn unquote(path: &[u8]) -> String {
    let Some(inner) = path.strip_prefix(b"\"").and_then(|p| p.strip_suffix(b"\"")) else {
        return String::from_utf8_lossy(path).into_owned();
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        if b != b'\\' || i + 1 >= inner.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let e = inner[i + 1];
        let simple = match e {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'a' => Some(7),
            b'b' => Some(8),
            b'f' => Some(12),
            b'v' => Some(11),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
            continue;
        }
        let octal = inner
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AKIAZ7QWERTYUIOPASDF";

    fn log(parts: &[(&str, &str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (id, msg, patch) in parts {
            out.extend_from_slice(
                format!("\0bottle-commit-n0 {id}\n{msg}\0bottle-end-n0{patch}").as_bytes(),
            );
        }
        out
    }

    fn scanner() -> Scanner {
        Scanner::new(&[("canary-X".into(), "own-secret-value-123".into())], &[])
    }

    #[test]
    fn an_added_line_is_named_by_file_and_line() {
        let patch = format!("\ndiff --git a/src/a.rs b/src/a.rs\nindex 1..2 100644\n--- a/src/a.rs\n+++ b/src/a.rs\n@@ -3,0 +4,2 @@ fn x\n+let a = 1;\n+let k = \"{KEY}\";\n@@ -9 +11 @@\n-old\n+new\n");
        let f = scan_log(&log(&[("c1", "fine\n", &patch)]), "n0", &scanner(), 10);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].place, "src/a.rs:5");
        assert_eq!(f[0].rule, "aws-access-key");
        assert_eq!(f[0].commit, "c1");
    }

    #[test]
    fn removed_and_context_lines_are_not_findings() {
        let patch =
            format!("\ndiff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1 +1 @@\n-{KEY}\n+clean\n");
        assert!(scan_log(&log(&[("c", "m\n", &patch)]), "n0", &scanner(), 10).is_empty());
    }

    #[test]
    fn a_new_file_name_and_a_message_are_scanned() {
        let patch = format!(
            "\ndiff --git a/{KEY}.txt b/{KEY}.txt\nnew file mode 100644\n--- /dev/null\n+++ b/{KEY}.txt\n@@ -0,0 +1 @@\n+x\n"
        );
        let f = scan_log(
            &log(&[("c", "subject\n\nbody own-secret-value-123\n", &patch)]),
            "n0",
            &scanner(),
            10,
        );
        let places: Vec<&str> = f.iter().map(|f| f.place.as_str()).collect();
        assert_eq!(
            places,
            ["commit message line 3", &format!("file name {KEY}.txt")],
            "{f:?}"
        );
        assert_eq!(f[0].rule, "canary:canary-X");
    }

    #[test]
    fn a_value_split_over_added_lines_is_found_at_its_first_line() {
        let patch = "\ndiff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -0,0 +7,3 @@\n+x\n+own-secret-\n+value-123\n";
        let s = Scanner::new(&[("canary-X".into(), "own-secret-\nvalue-123".into())], &[]);
        let f = scan_log(&log(&[("c", "m\n", patch)]), "n0", &s, 10);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].place, "a:7");
    }

    #[test]
    fn a_forged_commit_start_without_the_nonce_is_message_text() {
        let msg = "subject\n\0bottle-commit fake\nown-secret-value-123\n";
        let f = scan_log(&log(&[("c", msg, "")]), "n0", &scanner(), 10);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].place, "commit message line 3");
    }

    #[test]
    fn quoted_paths_are_unquoted() {
        assert_eq!(unquote(b"\"a\\tb\\303\\251\""), "a\tb\u{e9}");
        assert_eq!(unquote(b"plain/path"), "plain/path");
    }

    #[test]
    fn findings_are_bounded() {
        let lines: String = (0..50).map(|_| format!("+{KEY}\n")).collect();
        let patch = format!("\ndiff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -0,0 +1,50 @@\n{lines}");
        assert_eq!(
            scan_log(&log(&[("c", "m\n", &patch)]), "n0", &scanner(), 5).len(),
            5
        );
    }
}
