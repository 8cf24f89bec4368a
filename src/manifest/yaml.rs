//! A YAML tree where every node and every mapping key carries its source
//! position. Parsed through serde (serde-saphyr's `Spanned<T>`), so the
//! schema code can report `line:col` for semantic errors too, and can report
//! every problem of a file instead of stopping at serde's first error.
//! Imports nothing of the crate.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// 1-based line and column in the file the node came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

impl Value {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a number",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A syntax error: where, and what the parser said.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Parses one YAML document. `line_offset` is added to every line so that
/// positions refer to the whole file, not the frontmatter slice.
pub fn parse(text: &str, line_offset: u32) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    };
    match serde_saphyr::from_str_with_options::<Option<Spanned<Value>>>(text, options) {
        Ok(Some(spanned)) => {
            let mut node = Node::from(spanned);
            shift(&mut node, line_offset);
            Ok(node)
        }
        Ok(None) => Ok(Node {
            value: Value::Null,
            pos: Pos {
                line: line_offset + 1,
                col: 1,
            },
        }),
        Err(err) => {
            let pos = err
                .location()
                .map(|l| pos_of(&l, line_offset))
                .unwrap_or(Pos {
                    line: line_offset + 1,
                    col: 1,
                });
            Err(SyntaxError {
                pos,
                message: clean_message(&err),
            })
        }
    }
}

fn pos_of(loc: &serde_saphyr::Location, line_offset: u32) -> Pos {
    let line = u32::try_from(loc.line()).unwrap_or(u32::MAX).max(1);
    let col = u32::try_from(loc.column()).unwrap_or(u32::MAX).max(1);
    Pos {
        line: line.saturating_add(line_offset),
        col,
    }
}

fn shift(node: &mut Node, by: u32) {
    node.pos.line = node.pos.line.saturating_add(by);
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| shift(n, by)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            k.pos.line = k.pos.line.saturating_add(by);
            shift(v, by);
        }),
        _ => {}
    }
}

/// serde-saphyr's messages may end with its own "at line X column Y"; we
/// print positions ourselves, in `path:line:col` form.
fn clean_message(err: &serde_saphyr::Error) -> String {
    let text = err.to_string();
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    let first = match first.find(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    if let Some(rest) = first.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return format!("duplicate key `{key}`");
    }
    format!("invalid YAML: {first}")
}

impl From<Spanned<Value>> for Node {
    fn from(s: Spanned<Value>) -> Self {
        Node {
            value: s.value,
            pos: pos_of(&s.referenced, 0),
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .or(Ok(Value::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            items.push(Node::from(item));
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Value>>()? {
            let name = match key.value {
                Value::Str(s) => s,
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Float(f) => f.to_string(),
                Value::Null => "null".to_string(),
                Value::Seq(_) | Value::Map(_) => {
                    return Err(de::Error::custom("mapping keys must be plain strings"))
                }
            };
            let pos = pos_of(&key.referenced, 0);
            let value = map.next_value::<Spanned<Value>>()?;
            entries.push((Key { name, pos }, Node::from(value)));
        }
        Ok(Value::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_carry_positions_shifted_by_the_offset() {
        let node = parse("env:\n  A: \"x\"\nlist: [1, 2]\n", 1).expect("parses");
        let Value::Map(entries) = node.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.pos, Pos { line: 2, col: 1 });
        let Value::Map(env) = &entries[0].1.value else {
            panic!("env not a map")
        };
        assert_eq!(env[0].0.pos, Pos { line: 3, col: 3 });
        assert_eq!(env[0].1.pos, Pos { line: 3, col: 6 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!("not a list")
        };
        assert_eq!(items[1].pos, Pos { line: 4, col: 11 });
    }

    #[test]
    fn syntax_errors_and_duplicates_are_located() {
        let err = parse("a: [1,\n", 1).expect_err("unclosed");
        assert_eq!(err.pos.line, 2);
        let err = parse("a: 1\na: 2\n", 1).expect_err("duplicate");
        assert_eq!(
            err,
            SyntaxError {
                pos: Pos { line: 3, col: 1 },
                message: "duplicate key `a`".into()
            }
        );
    }

    #[test]
    fn yes_is_a_string_not_a_boolean() {
        let node = parse("a: yes\n", 0).expect("parses");
        let Value::Map(entries) = node.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].1.value, Value::Str("yes".into()));
    }
}
