//! YAML read the way Synapse reads appservice files: PyYAML's `yaml.safe_load` (YAML 1.1).
//!
//! A YAML 1.2 reader would take `id: 1_000`, `exclusive: yes` or `2024-01-01` as strings, where
//! PyYAML makes an int, a bool and a date; accepting what Synapse then refuses would stop it
//! from starting. So plain scalars are resolved with PyYAML's own implicit rules, quoted and
//! block scalars are strings, duplicate keys keep the last value, and the constructions PyYAML
//! would fail on (invalid dates, `=`, unknown tags, several documents, non-printable
//! characters, unhashable keys) fail here too. Merge keys (`<<`) and tags other than `!!str`,
//! `!!seq` and `!!map` are refused rather than reproduced.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Tag};

/// A loaded YAML value, with only the distinctions Synapse's checks make.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Str(String),
    /// A number or timestamp (`int`, `float`, `timestamp`): never a string to Python.
    Scalar(&'static str),
    Seq(Vec<Node>),
    /// Entries in document order, string keys unique (the last duplicate wins, as in PyYAML).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Python's `dict.get(key)` for a string key.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find_map(|(k, v)| match k {
                Node::Str(k) if k == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(text) => Some(text),
            _ => None,
        }
    }

    /// The Python type name, for error messages that must not show values.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "bool",
            Node::Str(_) => "string",
            Node::Scalar(kind) => kind,
            Node::Seq(_) => "list",
            Node::Map(_) => "mapping",
        }
    }

    /// Python truthiness (`if value:`).
    pub(crate) fn is_truthy(&self) -> bool {
        match self {
            Node::Null => false,
            Node::Bool(value) => *value,
            Node::Str(text) => !text.is_empty(),
            // A zero would be falsy; callers only test truthiness of list-typed fields.
            Node::Scalar(_) => true,
            Node::Seq(items) => !items.is_empty(),
            Node::Map(entries) => !entries.is_empty(),
        }
    }

    fn size(&self) -> usize {
        match self {
            Node::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Node::Map(entries) => 1 + entries.iter().map(|(k, v)| k.size() + v.size()).sum::<usize>(),
            _ => 1,
        }
    }
}

/// Why a document is not something `yaml.safe_load` would load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("invalid YAML at line {line}, column {column}: {reason}")]
    Syntax { line: usize, column: usize, reason: String },
    #[error("the text contains a control character YAML does not allow (at byte {0})")]
    NonPrintable(usize),
    #[error("the text holds more than one YAML document")]
    SeveralDocuments,
    #[error("the YAML tag {0} is not supported")]
    UnsupportedTag(String),
    #[error("YAML merge keys (<<) are not supported")]
    MergeKey,
    #[error("the plain value `=` has no meaning in YAML 1.1")]
    ValueKey,
    #[error("a {0} cannot be a mapping key")]
    UnhashableKey(&'static str),
    #[error("an invalid {0} (PyYAML could not construct it)")]
    Unconstructible(&'static str),
    #[error("an alias refers to an unknown anchor")]
    UnknownAnchor,
    #[error("the document nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the document expands to more than {MAX_NODES} values")]
    TooLarge,
}

const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 100_000;

/// Loads one document like `yaml.safe_load` (an empty stream is `Null`).
pub(crate) fn safe_load(text: &str) -> Result<Node, YamlError> {
    if let Some((at, _)) = text.char_indices().find(|(_, c)| !is_printable(*c)) {
        return Err(YamlError::NonPrintable(at));
    }
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        let (event, _) = event.map_err(syntax_error)?;
        builder.feed(event)?;
    }
    Ok(builder.root.unwrap_or(Node::Null))
}

/// PyYAML's reader refuses everything outside this set (see `yaml.reader.Reader.NON_PRINTABLE`).
fn is_printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

fn syntax_error(error: ScanError) -> YamlError {
    YamlError::Syntax {
        line: error.marker().line(),
        column: error.marker().col() + 1,
        reason: error.info().to_string(),
    }
}

enum Frame {
    Seq { anchor: usize, items: Vec<Node> },
    Map { anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node> },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    documents: usize,
    nodes: usize,
    root: Option<Node>,
}

impl Builder {
    fn feed(&mut self, event: Event<'_>) -> Result<(), YamlError> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(YamlError::SeveralDocuments);
                }
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or(YamlError::UnknownAnchor)?;
                self.count(node.size())?;
                self.push(node)?;
            }
            Event::Scalar(value, style, anchor, tag) => {
                let node = resolve_scalar(&value, style, tag.as_deref())?;
                self.count(1)?;
                self.remember(anchor, &node);
                self.push(node)?;
            }
            Event::SequenceStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "seq")?;
                self.open(Frame::Seq { anchor, items: Vec::new() })?;
            }
            Event::MappingStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "map")?;
                self.open(Frame::Map { anchor, entries: Vec::new(), key: None })?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (anchor, node) = match self.stack.pop() {
                    Some(Frame::Seq { anchor, items }) => (anchor, Node::Seq(items)),
                    Some(Frame::Map { anchor, entries, .. }) => (anchor, Node::Map(entries)),
                    None => return Ok(()),
                };
                self.count(1)?;
                self.remember(anchor, &node);
                self.push(node)?;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::TooDeep);
        }
        self.stack.push(frame);
        Ok(())
    }

    fn count(&mut self, nodes: usize) -> Result<(), YamlError> {
        self.nodes += nodes;
        if self.nodes > MAX_NODES {
            return Err(YamlError::TooLarge);
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    fn push(&mut self, node: Node) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    if let Node::Seq(_) | Node::Map(_) = node {
                        return Err(YamlError::UnhashableKey(node.type_name()));
                    }
                    *key = Some(node);
                }
                Some(k) => {
                    let duplicate =
                        matches!(&k, Node::Str(_)).then(|| entries.iter().position(|(e, _)| *e == k));
                    match duplicate.flatten() {
                        Some(at) => entries[at].1 = node,
                        None => entries.push((k, node)),
                    }
                }
            },
        }
        Ok(())
    }
}

fn is_core(tag: &Tag, suffix: &str) -> bool {
    tag.is_yaml_core_schema() && tag.suffix == suffix
}

fn tag_name(tag: &Tag) -> String {
    if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else {
        tag.to_string()
    }
}

fn check_collection_tag(tag: Option<&Tag>, expected: &str) -> Result<(), YamlError> {
    match tag {
        Some(tag) if !is_core(tag, expected) => Err(YamlError::UnsupportedTag(tag_name(tag))),
        _ => Ok(()),
    }
}

static BOOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
        .expect("valid pattern")
});
static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    )
    .expect("valid pattern")
});
static INT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    )
    .expect("valid pattern")
});
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<year>[0-9]{4})-(?P<month>[0-9][0-9]?)-(?P<day>[0-9][0-9]?)(?:(?:[Tt]|[ \t]+)(?P<hour>[0-9][0-9]?):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+](?P<tz_hour>[0-9][0-9]?)(?::(?P<tz_minute>[0-9]{2}))?))?)?$",
    )
    .expect("valid pattern")
});
/// The implicit timestamp rule: a date alone needs exactly `YYYY-MM-DD`.
static TIMESTAMP_IMPLICIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+).*)$")
        .expect("valid pattern")
});

fn resolve_scalar(value: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Node, YamlError> {
    if let Some(tag) = tag {
        return if is_core(tag, "str") {
            Ok(Node::Str(value.to_string()))
        } else {
            Err(YamlError::UnsupportedTag(tag_name(tag)))
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Node::Str(value.to_string()));
    }
    Ok(match value {
        "" | "~" | "null" | "Null" | "NULL" => Node::Null,
        "<<" => return Err(YamlError::MergeKey),
        "=" => return Err(YamlError::ValueKey),
        _ if BOOL.is_match(value) => {
            Node::Bool(matches!(value, "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON"))
        }
        _ if FLOAT.is_match(value) => Node::Scalar("float"),
        _ if INT.is_match(value) => {
            check_int(value)?;
            Node::Scalar("int")
        }
        _ if TIMESTAMP_IMPLICIT.is_match(value) && TIMESTAMP.is_match(value) => {
            check_timestamp(value)?;
            Node::Scalar("timestamp")
        }
        _ => Node::Str(value.to_string()),
    })
}

/// PyYAML fails on `0b_`, `0x_` and the like: nothing left once underscores go.
fn check_int(value: &str) -> Result<(), YamlError> {
    let digits: String = value.trim_start_matches(['-', '+']).chars().filter(|c| *c != '_').collect();
    let body = digits.strip_prefix("0b").or_else(|| digits.strip_prefix("0x")).unwrap_or(&digits);
    if body.is_empty() {
        return Err(YamlError::Unconstructible("int"));
    }
    Ok(())
}

/// Python's `datetime` refuses out-of-range fields and offsets of a day or more.
fn check_timestamp(value: &str) -> Result<(), YamlError> {
    let invalid = || YamlError::Unconstructible("timestamp");
    let captures = TIMESTAMP.captures(value).ok_or_else(invalid)?;
    let number = |name: &str| captures.name(name).map(|m| m.as_str().parse::<u32>().unwrap_or(u32::MAX));
    let (year, month, day) =
        (number("year").unwrap_or(0), number("month").unwrap_or(0), number("day").unwrap_or(0));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(invalid()),
    };
    let time_ok = number("hour").is_none_or(|hour| hour < 24)
        && number("minute").is_none_or(|minute| minute < 60)
        && number("second").is_none_or(|second| second < 60);
    let offset_minutes = number("tz_hour").unwrap_or(0) * 60 + number("tz_minute").unwrap_or(0);
    if year == 0 || day == 0 || day > month_days || !time_ok || offset_minutes >= 24 * 60 {
        return Err(invalid());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Node, YamlError> {
        safe_load(text)
    }

    #[test]
    fn plain_scalars_resolve_like_pyyaml() {
        let doc = load(
            "a: yes\nb: Off\nc: 1_000\nd: 0x1F\ne: 1:30\nf: 2024-01-01\ng: 1.5\nh: ~\ni: hello\nj: '1_000'\nk: \"yes\"\nl: .inf\nm: 1e5\nn: 0o17\n",
        )
        .unwrap();
        let kind = |key: &str| doc.get(key).unwrap().clone();
        assert_eq!(kind("a"), Node::Bool(true));
        assert_eq!(kind("b"), Node::Bool(false));
        assert_eq!(kind("c"), Node::Scalar("int"));
        assert_eq!(kind("d"), Node::Scalar("int"));
        assert_eq!(kind("e"), Node::Scalar("int"));
        assert_eq!(kind("f"), Node::Scalar("timestamp"));
        assert_eq!(kind("g"), Node::Scalar("float"));
        assert_eq!(kind("h"), Node::Null);
        assert_eq!(kind("i"), Node::Str("hello".into()));
        assert_eq!(kind("j"), Node::Str("1_000".into()));
        assert_eq!(kind("k"), Node::Str("yes".into()));
        assert_eq!(kind("l"), Node::Scalar("float"));
        // YAML 1.1 has no exponent-only floats and no 0o octal: both stay strings.
        assert_eq!(kind("m"), Node::Str("1e5".into()));
        assert_eq!(kind("n"), Node::Str("0o17".into()));
    }

    #[test]
    fn booleans_cover_every_spelling() {
        for (text, value) in
            [("on", true), ("ON", true), ("True", true), ("no", false), ("FALSE", false), ("off", false)]
        {
            assert_eq!(load(&format!("v: {text}")).unwrap().get("v"), Some(&Node::Bool(value)), "{text}");
        }
        assert_eq!(load("v: y").unwrap().get("v"), Some(&Node::Str("y".into())));
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_and_aliases_expand() {
        let doc = load("a: 1\na: two\nbase: &b [x, y]\ncopy: *b\n").unwrap();
        assert_eq!(doc.get("a"), Some(&Node::Str("two".into())));
        assert_eq!(doc.get("copy"), doc.get("base"));
        assert!(matches!(doc, Node::Map(ref entries) if entries.len() == 3));
    }

    #[test]
    fn what_pyyaml_cannot_construct_is_refused() {
        assert_eq!(load("v: 2024-02-30").unwrap_err(), YamlError::Unconstructible("timestamp"));
        assert_eq!(load("v: 2024-01-01 25:00:00").unwrap_err(), YamlError::Unconstructible("timestamp"));
        assert_eq!(
            load("v: 2024-01-01T10:00:00+24:00").unwrap_err(),
            YamlError::Unconstructible("timestamp")
        );
        assert!(load("v: 2024-02-29").is_ok());
        assert_eq!(load("v: 0b_").unwrap_err(), YamlError::Unconstructible("int"));
        assert_eq!(load("v: =").unwrap_err(), YamlError::ValueKey);
        assert_eq!(load("<<: {a: 1}").unwrap_err(), YamlError::MergeKey);
        assert_eq!(load("v: !!int 3").unwrap_err(), YamlError::UnsupportedTag("!!int".into()));
        assert!(matches!(load("v: !custom x").unwrap_err(), YamlError::UnsupportedTag(_)));
        assert_eq!(load("? [a]\n: b").unwrap_err(), YamlError::UnhashableKey("list"));
        assert_eq!(load("a: 1\n---\nb: 2\n").unwrap_err(), YamlError::SeveralDocuments);
        assert_eq!(load("a: \"x\u{1}\"").unwrap_err(), YamlError::NonPrintable(5));
        assert!(matches!(load("a: [").unwrap_err(), YamlError::Syntax { .. }));
        assert_eq!(load(&"[".repeat(100)).unwrap_err(), YamlError::TooDeep);
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let previous = format!("*a{}", level - 1);
            text.push_str(&format!("a{level}: &a{level} [{}]\n", vec![previous; 10].join(", ")));
        }
        assert_eq!(load(&text).unwrap_err(), YamlError::TooLarge);
    }

    #[test]
    fn explicit_str_tags_and_empty_documents() {
        assert_eq!(load("v: !!str 123").unwrap().get("v"), Some(&Node::Str("123".into())));
        assert_eq!(load("").unwrap(), Node::Null);
        assert_eq!(load("# only a comment\n").unwrap(), Node::Null);
    }
}
