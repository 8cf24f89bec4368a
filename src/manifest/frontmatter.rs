//! Splits a definition file into YAML frontmatter and Markdown body, keeping
//! line numbers true to the file (LF or CRLF, optional UTF-8 BOM).

use super::yaml::Pos;

#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    /// The YAML between the fences, with CRLF turned into LF.
    pub yaml: String,
    /// Number of file lines before the first YAML line (the opening fence).
    pub line_offset: u32,
    /// Everything after the closing fence.
    pub body: String,
}

#[derive(Debug, PartialEq, Eq)]
pub struct SplitError {
    pub pos: Pos,
    pub message: String,
}

fn is_fence(line: &str) -> bool {
    line.trim_end_matches(['\r', '\n', ' ', '\t']) == "---"
}

pub fn split(text: &str) -> Result<Split, SplitError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if !is_fence(first) {
        return Err(SplitError {
            pos: Pos { line: 1, col: 1 },
            message: "expected YAML frontmatter: the file must start with a `---` line".into(),
        });
    }
    let mut yaml = String::new();
    let mut consumed = first.len();
    for line in lines {
        consumed += line.len();
        if is_fence(line) {
            return Ok(Split {
                yaml,
                line_offset: 1,
                body: text[consumed..].to_string(),
            });
        }
        let l = line.strip_suffix('\n').unwrap_or(line);
        yaml.push_str(l.strip_suffix('\r').unwrap_or(l));
        yaml.push('\n');
    }
    Err(SplitError {
        pos: Pos { line: 1, col: 1 },
        message: "the frontmatter opened here is never closed: add a `---` line after it".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lf_crlf_and_bom_give_the_same_split() {
        for text in [
            "---\na: 1\n---\nbody\n",
            "---\r\na: 1\r\n---\r\nbody\n",
            "\u{feff}---\na: 1\n---\nbody\n",
        ] {
            let s = split(text).expect("splits");
            assert_eq!(s.yaml, "a: 1\n");
            assert_eq!(
                split(&text.replace("a: 1", "a: 1\nb: 2"))
                    .expect("two")
                    .yaml,
                "a: 1\nb: 2\n"
            );
            assert_eq!(s.line_offset, 1);
            assert_eq!(s.body, "body\n");
        }
    }

    #[test]
    fn a_fence_inside_the_body_stays_in_the_body() {
        let s = split("---\na: 1\n---\ntext\n---\nmore\n").expect("splits");
        assert_eq!(s.body, "text\n---\nmore\n");
    }

    #[test]
    fn empty_frontmatter_and_missing_fences() {
        assert_eq!(split("---\n---\n").expect("empty").yaml, "");
        assert_eq!(
            split("no fence\n").expect_err("no start").pos,
            Pos { line: 1, col: 1 }
        );
        assert!(split("---\na: 1\n")
            .expect_err("unclosed")
            .message
            .contains("never closed"));
        assert!(split("").is_err());
    }
}
