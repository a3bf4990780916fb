//! YAML in and out, safe for YAML 1.1 readers.
//!
//! Synapse reads its configuration with PyYAML, a YAML 1.1 reader, which turns plain scalars
//! such as `yes`, `on`, `1_000`, `0x1F`, `1:30` or `2024-01-01` into booleans, numbers and
//! dates. The emitter here writes block-style YAML in which every string value is
//! double-quoted (with escapes for anything PyYAML would refuse), every float carries a
//! decimal point, and a mapping key is written plain only when no YAML reader can mistake it.
//! Parsing uses `serde_norway`, the maintained fork of `serde_yaml`.

use std::fmt::Write as _;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot represent the value as YAML: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("invalid YAML: {0}")]
    Parse(#[from] serde_norway::Error),
}

/// Serialises `value` to block-style YAML (ends with a newline).
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let value = serde_json::to_value(value)?;
    let mut out = String::new();
    match &value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            write_scalar(&mut out, scalar);
            out.push('\n');
        }
    }
    Ok(out)
}

/// Parses YAML into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    Ok(serde_norway::from_str(text)?)
}

fn indent(out: &mut String, level: usize) {
    out.extend(std::iter::repeat_n(' ', level));
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, level: usize) {
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 {
            indent(out, level);
        }
        write_key(out, key);
        out.push(':');
        write_nested(out, value, level + 2, level);
    }
}

fn write_seq(out: &mut String, items: &[Value], level: usize) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            indent(out, level);
        }
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                out.push(' ');
                write_map(out, map, level + 2);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push(' ');
                write_seq(out, inner, level + 2);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar);
                out.push('\n');
            }
        }
    }
}

/// Writes what follows `key:`: a scalar on the same line, a collection on the next lines.
/// Sequences under a key stay at the key's indentation (`key:\n- a`), maps go one level in.
fn write_nested(out: &mut String, value: &Value, map_level: usize, key_level: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            indent(out, map_level);
            write_map(out, map, map_level);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            indent(out, key_level);
            write_seq(out, items, key_level);
        }
        scalar => {
            out.push(' ');
            write_scalar(out, scalar);
            out.push('\n');
        }
    }
}

fn write_scalar(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_quoted(out, text),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn write_number(out: &mut String, number: &serde_json::Number) {
    if number.is_f64() {
        let float = number.as_f64().unwrap_or_default();
        if float.is_finite() && float.fract() == 0.0 && float.abs() < 1e15 {
            let _ = write!(out, "{float:.1}");
        } else {
            // Display never uses an exponent, which PyYAML would not read as a float; a
            // fraction always has a '.'.
            let _ = write!(out, "{float}");
        }
    } else {
        let _ = write!(out, "{number}");
    }
}

/// Double-quoted scalar with escapes for quotes, backslashes and every character outside
/// YAML's printable set.
fn write_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_yaml_printable(c) => out.push(c),
            c if (c as u32) <= 0xFF => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
    }
    out.push('"');
}

/// YAML's printable set, less the Unicode line breaks (NEL, LS, PS) that a reader folds into
/// spaces inside quoted scalars.
fn is_yaml_printable(c: char) -> bool {
    matches!(c as u32, 0x20..=0x7E | 0xA0..=0x2027 | 0x202A..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Plain keys are limited to identifiers that no YAML 1.1 or 1.2 reader resolves to anything
/// but a string.
fn write_key(out: &mut String, key: &str) {
    const RESOLVED_WORDS: [&str; 11] =
        ["y", "yes", "n", "no", "true", "false", "on", "off", "null", "nan", "inf"];
    let mut chars = key.chars();
    let plain = chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !RESOLVED_WORDS.contains(&key.to_ascii_lowercase().as_str());
    if plain {
        out.push_str(key);
    } else {
        write_quoted(out, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_layout() {
        let value = json!({
            "server_name": "example.org",
            "listeners": [{"port": 8008, "resources": [{"names": ["client", "federation"], "compress": false}]}],
            "empty_list": [],
            "empty_map": {},
            "nested": {"a": {"b": 1.0}},
            "on": true,
            "nothing": null,
        });
        let text = to_string(&value).unwrap();
        let expected = "\
server_name: \"example.org\"
listeners:
- port: 8008
  resources:
  - names:
    - \"client\"
    - \"federation\"
    compress: false
empty_list: []
empty_map: {}
nested:
  a:
    b: 1.0
\"on\": true
nothing: null
";
        assert_eq!(text, expected);
        let back: Value = from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn strings_are_always_quoted_and_escaped() {
        let mut out = String::new();
        write_quoted(&mut out, "a\"b\\c\nd\u{7f}\u{1}é\u{fffe}");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\x7F\\x01é\\uFFFE\"");
    }

    #[test]
    fn floats_keep_a_decimal_point() {
        assert_eq!(to_string(&5.0_f64).unwrap(), "5.0\n");
        assert_eq!(to_string(&0.01_f64).unwrap(), "0.01\n");
        assert_eq!(to_string(&1e-7_f64).unwrap(), "0.0000001\n");
        assert_eq!(to_string(&42_u32).unwrap(), "42\n");
    }
}
