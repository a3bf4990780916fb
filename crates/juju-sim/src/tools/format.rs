//! Tool output as Juju's `cmd` package writes it: `--format smart|yaml|json` and `-o <file>`.

use serde_json::Value;

use super::flags::go_quote;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Smart,
    Yaml,
    Json,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Smart => "smart",
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }

    /// Parses `--format`, accepting only `allowed`.
    pub fn parse(text: &str, allowed: &[Format]) -> Result<Self, String> {
        allowed
            .iter()
            .copied()
            .find(|format| format.name() == text)
            .ok_or_else(|| format!("unknown format {}", go_quote(text)))
    }
}

/// A value to print, shaped like the Go value Juju would print.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out {
    /// Go `nil`.
    Nil,
    Str(String),
    /// A Go `[]string`.
    List(Vec<String>),
    Bool(bool),
    /// Anything else (maps, numbers, nested values).
    Value(Value),
}

impl Out {
    fn to_value(&self) -> Value {
        match self {
            Out::Nil => Value::Null,
            Out::Str(text) => Value::String(text.clone()),
            Out::List(items) => Value::from(items.clone()),
            Out::Bool(on) => Value::Bool(*on),
            Out::Value(value) => value.clone(),
        }
    }

    /// Renders the value; empty output means nothing is written.
    pub fn render(&self, format: Format) -> Vec<u8> {
        match format {
            Format::Json => {
                let mut text = go_json(&self.to_value());
                text.push('\n');
                text.into_bytes()
            }
            Format::Yaml => yaml(&self.to_value()),
            Format::Smart => match self {
                Out::Nil => Vec::new(),
                Out::Str(text) if text.is_empty() => Vec::new(),
                Out::Str(text) => format!("{text}\n").into_bytes(),
                Out::List(items) if items.is_empty() => Vec::new(),
                Out::List(items) => format!("{}\n", items.join("\n")).into_bytes(),
                Out::Bool(true) => b"True\n".to_vec(),
                Out::Bool(false) => b"False\n".to_vec(),
                Out::Value(value) => yaml(value),
            },
        }
    }
}

fn yaml(value: &Value) -> Vec<u8> {
    if value.is_null() {
        return Vec::new();
    }
    let text = serde_norway::to_string(&normalise_numbers(value)).unwrap_or_default();
    let trimmed = text.trim_end_matches('\n');
    if trimmed.is_empty() {
        return Vec::new();
    }
    format!("{trimmed}\n").into_bytes()
}

/// JSON as Go's `encoding/json` writes it: compact, map keys sorted, `<`, `>`, `&`, U+2028 and
/// U+2029 escaped, and whole floats without a fraction.
pub(crate) fn go_json(value: &Value) -> String {
    let text = serde_json::to_string(&normalise_numbers(value)).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Shapes a value as Go would marshal it: sorted map keys, whole floats as integers.
fn normalise_numbers(value: &Value) -> Value {
    match value {
        Value::Number(number) if number.is_f64() => match number.as_f64() {
            Some(float) if float.fract() == 0.0 && float.abs() < 1e15 => Value::from(float as i64),
            _ => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(normalise_numbers).collect()),
        Value::Object(map) => {
            // Go sorts map keys; serde_json may preserve insertion order.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries.into_iter().map(|(key, value)| (key.clone(), normalise_numbers(value))).collect(),
            )
        }
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn smart_follows_juju_rules() {
        assert_eq!(Out::Nil.render(Format::Smart), b"");
        assert_eq!(Out::Str(String::new()).render(Format::Smart), b"");
        assert_eq!(Out::Str("x".into()).render(Format::Smart), b"x\n");
        assert_eq!(Out::Bool(true).render(Format::Smart), b"True\n");
        assert_eq!(Out::List(vec!["a".into(), "b".into()]).render(Format::Smart), b"a\nb\n");
        assert_eq!(Out::Value(json!({"k": "v"})).render(Format::Smart), b"k: v\n");
    }

    #[test]
    fn json_is_go_flavoured() {
        assert_eq!(Out::Nil.render(Format::Json), b"null\n");
        assert_eq!(
            Out::Value(json!({"b": "<&>", "a": 1.0})).render(Format::Json),
            br#"{"a":1,"b":"\u003c\u0026\u003e"}"#.iter().chain(b"\n").copied().collect::<Vec<u8>>()
        );
    }

    #[test]
    fn unknown_formats_are_rejected() {
        assert_eq!(
            Format::parse("xml", &[Format::Yaml, Format::Json]).unwrap_err(),
            "unknown format \"xml\""
        );
        assert_eq!(Format::parse("json", &[Format::Json]).unwrap(), Format::Json);
    }
}
