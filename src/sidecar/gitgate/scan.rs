//! What a push adds, scanned with the DLP rules and the bottle's own
//! values: the output of `git log -p` over the pushed range (each new
//! commit against its first parent, binary files as text, no context
//! lines) read as commit messages, new file names and added lines. Pure:
//! the git process is the hook's.

use crate::policy::dlp::Scanner;

/// The log format the hook asks for: a NUL, a marker with a nonce the
/// agent cannot know (so no file can forge a commit start), the commit
/// id, an empty message up to the end marker. The message is not taken
/// from `git log` (which re-encodes it by its `encoding` header and
/// shows no other header): the hook scans each new commit's raw object
/// ([`scan_object`]).
pub fn format_arg(nonce: &str) -> String {
    format!("--format=%x00bottle-commit-{nonce} %H%n%x00bottle-end-{nonce}")
}

/// A raw commit or tag object (`what`: `commit`, `tag`) as git stores it:
/// every header (author, committer, tagger, tag name, `gpgsig`,
/// `encoding`, any other) and the message bytes as they are, whatever
/// encoding the object claims.
pub fn scan_object(id: &str, what: &str, raw: &[u8], scanner: &Scanner, found: &mut Vec<Finding>) {
    let (head, message) = match raw.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&raw[..at], &raw[at + 2..]),
        None => (raw, &raw[raw.len()..]),
    };
    scan_message(id, &format!("{what} header"), head, scanner, found);
    scan_message(id, &format!("{what} message"), message, scanner, found);
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

/// Scans `git log -p` output made with [`format_arg`]; at most `limit`
/// findings.
pub fn scan_log(log: &[u8], nonce: &str, scanner: &Scanner, limit: usize) -> Vec<Finding> {
    let mut s = LogScan::new(scanner, nonce, limit);
    for line in log.split_inclusive(|&b| b == b'\n') {
        s.piece(line);
    }
    s.finish()
}

/// What the rest of a line that arrives in pieces is.
enum Rest<'a> {
    /// The next piece starts a line.
    None,
    /// An added line (its number): scanned as a stream, the pieces
    /// overlapping, so a value across a piece boundary is seen whole.
    Added(crate::policy::dlp::StreamScan<'a>, usize),
    /// A `diff --git` line (a path longer than a piece): scanned the
    /// same way.
    Name(crate::policy::dlp::StreamScan<'a>),
    /// Message text.
    Message,
    /// Anything else (context, removed lines, headers).
    Skip,
}

/// The log read line by line in bounded pieces (a line longer than the
/// reader's limit arrives in several; each piece is read as the rest of
/// the line it belongs to, never as a line of its own), so a push of any
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
    /// The current file's name as its `diff --git` line gives it.
    diff_name: Option<String>,
    /// What the rest of the current line is when it arrives in pieces.
    rest: Rest<'a>,
    /// The next added line's number in the new file (0: between files).
    line_no: usize,
    /// Consecutive added lines (joined): a value split over lines is
    /// still seen whole; its first line is named.
    block: Vec<u8>,
    block_start: usize,
    block_hit: bool,
    /// The commits the log went through (their raw objects are scanned
    /// apart: [`scan_object`]).
    commits: Vec<String>,
}

/// Joined added lines are scanned whole up to this size, then restarted.
const MAX_BLOCK: usize = 1 << 20;

/// What of a long message is kept to be scanned with what follows.
const MAX_OVERLAP: usize = 64 << 10;

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
            diff_name: None,
            rest: Rest::None,
            line_no: 0,
            block: Vec::new(),
            block_start: 0,
            block_hit: false,
            commits: Vec::new(),
        }
    }

    pub fn full(&self) -> bool {
        self.found.len() >= self.limit
    }

    /// The commits seen so far (taken).
    pub fn take_commits(&mut self) -> Vec<String> {
        std::mem::take(&mut self.commits)
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

    /// One piece of the log as the reader gives it: a whole line with its
    /// newline, or (a line longer than the reader's limit) a part of one,
    /// the last part with the newline.
    pub fn piece(&mut self, piece: &[u8]) {
        if self.full() {
            return;
        }
        let (bytes, ends) = match piece.strip_suffix(b"\n") {
            Some(b) => (b, true),
            None => (piece, false),
        };
        match std::mem::replace(&mut self.rest, Rest::None) {
            Rest::None => self.line(bytes, ends),
            Rest::Added(mut stream, line_no) => {
                self.extend_block(bytes);
                let hit = match stream.push(bytes) {
                    Err(h) => Some(h),
                    Ok(_) if ends => stream.finish().err(),
                    Ok(_) => None,
                };
                match hit {
                    Some(h) => {
                        let place = format!("{}:{line_no}", crate::sanitize::inline(&self.file));
                        self.push(place, h.rule);
                        self.block_hit = true;
                        self.rest = if ends { Rest::None } else { Rest::Skip };
                    }
                    None if !ends => self.rest = Rest::Added(stream, line_no),
                    None => {}
                }
            }
            Rest::Name(mut stream) => {
                let hit = match stream.push(bytes) {
                    Err(h) => Some(h),
                    Ok(_) if ends => stream.finish().err(),
                    Ok(_) => None,
                };
                match hit {
                    Some(h) => {
                        self.push("file name (a very long path)".into(), h.rule);
                        self.rest = if ends { Rest::None } else { Rest::Skip };
                    }
                    None if !ends => self.rest = Rest::Name(stream),
                    None => {}
                }
            }
            Rest::Message => {
                if let Some(message) = self.message.as_mut() {
                    message.extend_from_slice(bytes);
                    if ends {
                        message.push(b'\n');
                    }
                }
                if !ends {
                    self.rest = Rest::Message;
                }
            }
            Rest::Skip => {
                if !ends {
                    self.rest = Rest::Skip;
                }
            }
        }
    }

    /// An added line's bytes onto the joined block, which keeps at most
    /// its last overlap past [`MAX_BLOCK`] (what is dropped was scanned
    /// as the line went by).
    fn extend_block(&mut self, bytes: &[u8]) {
        self.block.extend_from_slice(bytes);
        if self.block.len() > 2 * MAX_BLOCK {
            let keep = self.block.len() - MAX_BLOCK;
            self.block.drain(..keep);
        }
    }

    /// The start of a line (`ends`: the whole of it), without its newline.
    fn line(&mut self, line: &[u8], ends: bool) {
        if let Some(rest) = line.strip_prefix(self.start.as_slice()) {
            self.flush();
            self.commit = String::from_utf8_lossy(rest).into_owned();
            self.commits.push(self.commit.clone());
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
                        self.line(rest, ends);
                    }
                }
                None => {
                    message.extend_from_slice(line);
                    if ends {
                        message.push(b'\n');
                    } else {
                        self.rest = Rest::Message;
                    }
                    if message.len() > MAX_BLOCK {
                        let commit = self.commit.clone();
                        scan_message(
                            &commit,
                            "commit message",
                            &message,
                            self.scanner,
                            &mut self.found,
                        );
                        // What follows is scanned with the end of this.
                        let keep = message.len() - MAX_OVERLAP.min(message.len());
                        message.drain(..keep);
                    }
                    self.message = Some(message);
                }
            }
            return;
        }
        self.patch_line(line, ends);
        if !ends && matches!(self.rest, Rest::None) {
            self.rest = Rest::Skip;
        }
    }

    fn patch_line(&mut self, line: &[u8], ends: bool) {
        if let Some(paths) = line.strip_prefix(b"diff --git ") {
            self.flush();
            self.file.clear();
            self.line_no = 0;
            self.diff_name = None;
            if ends {
                self.diff_name = diff_git_name(paths);
                self.file = self.diff_name.clone().unwrap_or_default();
            } else {
                // A path longer than a piece: scanned whole, new or not.
                let mut stream = self.scanner.stream();
                match stream.push(paths) {
                    Err(h) => self.push("file name (a very long path)".into(), h.rule),
                    Ok(_) => self.rest = Rest::Name(stream),
                }
            }
            return;
        }
        if self.line_no == 0 {
            // A new file (empty ones have no `---`/`+++` lines): its name.
            if line.starts_with(b"new file mode ") {
                if let Some(name) = self.diff_name.take() {
                    if let Some(h) = self.scanner.scan(name.as_bytes()) {
                        let place = format!("file name {}", crate::sanitize::inline(&name));
                        self.push(place, h.rule);
                    }
                }
                return;
            }
            if line.starts_with(b"--- ") {
                return;
            }
            if let Some(path) = line.strip_prefix(b"+++ ") {
                self.file = unquote(path.strip_prefix(b"b/").unwrap_or(path));
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
            self.extend_block(added);
            if ends {
                if let Some(h) = self.scanner.scan(added) {
                    let place = format!("{}:{}", crate::sanitize::inline(&self.file), self.line_no);
                    self.push(place, h.rule);
                    self.block_hit = true;
                }
            } else {
                // The line goes on in the next piece: scanned as a stream.
                let mut stream = self.scanner.stream();
                match stream.push(added) {
                    Err(h) => {
                        let place =
                            format!("{}:{}", crate::sanitize::inline(&self.file), self.line_no);
                        self.push(place, h.rule);
                        self.block_hit = true;
                        self.rest = Rest::Skip;
                    }
                    Ok(_) => self.rest = Rest::Added(stream, self.line_no),
                }
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

/// The path of `diff --git a/<p> b/<p>` (the same path twice: renames
/// are off), each side C-quoted or not; `None` when it does not parse.
fn diff_git_name(paths: &[u8]) -> Option<String> {
    if paths.first() == Some(&b'"') {
        // The first quoted token, up to its closing quote.
        let mut i = 1;
        while i < paths.len() {
            match paths[i] {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        let token = paths.get(..=i)?;
        let name = unquote(token);
        return Some(name.strip_prefix("a/").unwrap_or(&name).to_string());
    }
    // `a/P b/P`: P is half of what is left.
    let n = paths.len().checked_sub(5)?;
    if n % 2 != 0 || !paths.starts_with(b"a/") {
        return None;
    }
    let p = &paths[2..2 + n / 2];
    (paths[2 + n / 2..].strip_prefix(b" b/") == Some(p))
        .then(|| String::from_utf8_lossy(p).into_owned())
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

    #[test]
    fn a_value_across_the_pieces_of_a_long_line_is_found() {
        // The reader gives a long line in pieces (the last with its
        // newline); the key spans two of them.
        let sc = scanner();
        let mut s = LogScan::new(&sc, "n0", 10);
        for p in [
            &b"\0bottle-commit-n0 c1\n"[..],
            b"\0bottle-end-n0\n",
            b"diff --git a/long.txt b/long.txt\n",
            b"--- a/long.txt\n",
            b"+++ b/long.txt\n",
            b"@@ -1 +1 @@\n",
            b"-old\n",
            b"+xxxxxxxx AKIAZ7QWE",
            b"RTYUIOPASDF",
            b" yyyy\n",
            // A piece that looks like a header is still the line's rest.
            b"+zzzz",
            b"diff --git a/x b/x\n",
            b"+own-secret-value-123\n",
        ] {
            s.piece(p);
        }
        let f = s.finish();
        let places: Vec<(&str, &str)> = f
            .iter()
            .map(|f| (f.place.as_str(), f.rule.as_str()))
            .collect();
        assert_eq!(
            places,
            [
                ("long.txt:1", "aws-access-key"),
                ("long.txt:3", "canary:canary-X")
            ],
            "{f:?}"
        );
    }

    #[test]
    fn an_empty_new_file_is_named_from_its_diff_line() {
        let patch = format!(
            "\ndiff --git a/k-{KEY} b/k-{KEY}\nnew file mode 100644\nindex 0000000..e69de29\n\
             diff --git \"a/caf\\303\\251-{KEY}\" \"b/caf\\303\\251-{KEY}\"\nnew file mode 100644\nindex 0000000..e69de29\n\
             diff --git a/old-{KEY} b/old-{KEY}\nindex 1..2 100644\n--- a/old-{KEY}\n+++ b/old-{KEY}\n@@ -1 +1 @@\n-a\n+b\n"
        );
        let f = scan_log(&log(&[("c", "m\n", &patch)]), "n0", &scanner(), 10);
        let places: Vec<&str> = f.iter().map(|f| f.place.as_str()).collect();
        assert_eq!(
            places,
            [
                format!("file name k-{KEY}"),
                format!("file name caf\u{e9}-{KEY}")
            ],
            "{f:?}"
        );
        assert_eq!(diff_git_name(b"a/a b/c b/a b/c").as_deref(), Some("a b/c"));
        assert_eq!(diff_git_name(b"a/x b/y"), None);
    }

    #[test]
    fn a_raw_object_is_scanned_headers_and_all() {
        let raw = format!(
            "tree 1\nauthor {KEY} <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\nencoding UTF-16LE\n\nsubject\n\nown-secret-value-123\n"
        );
        let mut f = Vec::new();
        scan_object("c", "commit", raw.as_bytes(), &scanner(), &mut f);
        let places: Vec<&str> = f.iter().map(|f| f.place.as_str()).collect();
        assert_eq!(
            places,
            ["commit header line 2", "commit message line 3"],
            "{f:?}"
        );
    }
}
