//! Label matchers injected into every vector selector of a PromQL expression: what cosl has
//! `cos-tool transform --label-matcher=...` do to each rule, so that a rule evaluates only
//! this application's series even where the consumer has no cos-tool.
//!
//! A small lexer finds the selectors (a metric name, a `{...}` block, or both) and leaves
//! everything else as written: function and aggregation names, label lists after `by`,
//! `without`, `on`, `ignoring`, `group_left` and `group_right`, strings, numbers and
//! durations. A matcher whose label the selector already constrains is not added again.

use std::fmt;

/// Why an expression could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromqlError {
    UnterminatedString { at: usize },
    UnbalancedBracket { at: usize },
    UnexpectedCharacter { at: usize, character: char },
}

impl fmt::Display for PromqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnterminatedString { at } => write!(f, "unterminated string at byte {at}"),
            Self::UnbalancedBracket { at } => write!(f, "unbalanced bracket at byte {at}"),
            Self::UnexpectedCharacter { at, character } => {
                write!(f, "unexpected character {character:?} at byte {at}")
            }
        }
    }
}

impl std::error::Error for PromqlError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Number,
    Str,
    Open(u8),
    Close(u8),
    MatchOp,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Keywords after which a parenthesised list of label names follows.
const LABEL_LIST_KEYWORDS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
/// Words that are never metric names in expression position.
const KEYWORDS: [&str; 8] = ["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"];
/// Aggregation operators, which may be followed by `by`/`without` instead of `(`.
const AGGREGATIONS: [&str; 14] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

fn lex(text: &str) -> Result<Vec<Token>, PromqlError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' | b'`' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(PromqlError::UnterminatedString { at: start }),
                        Some(b'\\') if c != b'`' => i += 2,
                        Some(&b) if b == c => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                Kind::Str
            }
            b'0'..=b'9' | b'.' => {
                while i < bytes.len() {
                    let b = bytes[i];
                    let exponent_sign = matches!(b, b'+' | b'-')
                        && matches!(bytes[i - 1], b'e' | b'E')
                        && !text[start..i].starts_with("0x");
                    if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || exponent_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Kind::Number
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b':'))
                {
                    i += 1;
                }
                Kind::Ident
            }
            b'(' | b'{' | b'[' => {
                i += 1;
                Kind::Open(c)
            }
            b')' | b'}' | b']' => {
                i += 1;
                Kind::Close(c)
            }
            b'=' | b'!' => {
                i += 1;
                if matches!(bytes.get(i), Some(b'=') | Some(b'~')) {
                    i += 1;
                }
                match &text[start..i] {
                    "=" | "!=" | "=~" | "!~" => Kind::MatchOp,
                    "==" => Kind::Other,
                    _ => return Err(PromqlError::UnexpectedCharacter { at: start, character: '!' }),
                }
            }
            b'<' | b'>' => {
                i += 1;
                if bytes.get(i) == Some(&b'=') {
                    i += 1;
                }
                Kind::Other
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b',' | b'@' => {
                i += 1;
                Kind::Other
            }
            _ => {
                let character = text[start..].chars().next().unwrap_or('?');
                return Err(PromqlError::UnexpectedCharacter { at: start, character });
            }
        };
        tokens.push(Token { kind, start, end: i });
    }
    Ok(tokens)
}

/// The index of the token closing the bracket opened at `open`.
fn matching(tokens: &[Token], open: usize) -> Result<usize, PromqlError> {
    let mut depth = 0usize;
    for (index, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            Kind::Open(_) => depth += 1,
            Kind::Close(_) => {
                depth -= 1;
                if depth == 0 {
                    return Ok(index);
                }
            }
            _ => {}
        }
    }
    Err(PromqlError::UnbalancedBracket { at: tokens[open].start })
}

/// `expression` with `matchers` (label, value) added to every vector selector.
pub fn inject_matchers(expression: &str, matchers: &[(&str, &str)]) -> Result<String, PromqlError> {
    let tokens = lex(expression)?;
    let text = |token: &Token| &expression[token.start..token.end];
    let mut inserts: Vec<(usize, String)> = Vec::new();
    let mut depth_check: Vec<u8> = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        let token = tokens[index];
        let next = tokens.get(index + 1);
        match token.kind {
            Kind::Open(b'[') => {
                // Range or subquery durations: nothing to inject.
                index = matching(&tokens, index)? + 1;
                continue;
            }
            Kind::Open(b'{') => {
                let close = matching(&tokens, index)?;
                inserts.push(braces_insert(expression, &tokens[index..=close], matchers));
                index = close + 1;
                continue;
            }
            Kind::Open(open) => depth_check.push(open),
            Kind::Close(close) => {
                let expected = match close {
                    b')' => b'(',
                    b']' => b'[',
                    _ => b'{',
                };
                if depth_check.pop() != Some(expected) {
                    return Err(PromqlError::UnbalancedBracket { at: token.start });
                }
            }
            Kind::Ident => {
                let word = text(&token);
                let lower = word.to_ascii_lowercase();
                let next_is = |kind: Kind| next.is_some_and(|next| next.kind == kind);
                if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                    if next_is(Kind::Open(b'(')) {
                        index = matching(&tokens, index + 1)? + 1;
                        continue;
                    }
                } else if KEYWORDS.contains(&lower.as_str()) || next_is(Kind::Open(b'(')) {
                    // An operator, a function or an aggregation followed by its arguments.
                } else if AGGREGATIONS.contains(&lower.as_str())
                    && next.is_some_and(|next| {
                        matches!(text(next).to_ascii_lowercase().as_str(), "by" | "without")
                    })
                {
                    // `sum by (label) (...)`.
                } else if index > 0 && text(&tokens[index - 1]) == "@" {
                    // `@ start()` is a call; anything else after `@` is not a selector.
                } else if next_is(Kind::Open(b'{')) {
                    let close = matching(&tokens, index + 1)?;
                    inserts.push(braces_insert(expression, &tokens[index + 1..=close], matchers));
                    index = close + 1;
                    continue;
                } else {
                    let all: Vec<String> =
                        matchers.iter().map(|(label, value)| matcher(label, value)).collect();
                    if !all.is_empty() {
                        inserts.push((token.end, format!("{{{}}}", all.join(","))));
                    }
                }
            }
            _ => {}
        }
        index += 1;
    }
    if let Some(open) = depth_check.pop() {
        let at =
            tokens.iter().rev().find(|token| token.kind == Kind::Open(open)).map_or(0, |token| token.start);
        return Err(PromqlError::UnbalancedBracket { at });
    }
    let mut out = expression.to_string();
    for (at, insert) in inserts.into_iter().rev() {
        out.insert_str(at, &insert);
    }
    Ok(out)
}

/// The text to add inside a `{...}` block (given as its tokens, braces included): the
/// matchers whose labels the block does not mention yet.
fn braces_insert(expression: &str, block: &[Token], matchers: &[(&str, &str)]) -> (usize, String) {
    let inner = &block[1..block.len() - 1];
    let present: Vec<&str> = inner
        .windows(2)
        .filter(|pair| matches!(pair[0].kind, Kind::Ident | Kind::Str) && pair[1].kind == Kind::MatchOp)
        .map(|pair| expression[pair[0].start..pair[0].end].trim_matches('"'))
        .collect();
    let added: Vec<String> = matchers
        .iter()
        .filter(|(label, _)| !present.contains(label))
        .map(|(label, value)| matcher(label, value))
        .collect();
    let open = block[0].end;
    match (added.is_empty(), inner.is_empty()) {
        (true, _) => (open, String::new()),
        (false, true) => (open, added.join(",")),
        (false, false) => (open, format!("{},", added.join(","))),
    }
}

fn matcher(label: &str, value: &str) -> String {
    format!("{label}=\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPOLOGY: [(&str, &str); 2] = [("juju_model", "prod"), ("juju_application", "synapse")];
    const M: &str = r#"juju_model="prod",juju_application="synapse""#;

    fn inject(expression: &str) -> String {
        inject_matchers(expression, &TOPOLOGY).unwrap()
    }

    #[test]
    fn bare_and_braced_selectors_get_the_matchers() {
        assert_eq!(inject("up == 0"), format!("up{{{M}}} == 0"));
        assert_eq!(inject("up{} < 1"), format!("up{{{M}}} < 1"));
        assert_eq!(inject(r#"up{job="x"}"#), format!(r#"up{{{M},job="x"}}"#));
        assert_eq!(inject(r#"{__name__=~"synapse_.+"}"#), format!(r#"{{{M},__name__=~"synapse_.+"}}"#));
        assert_eq!(
            inject(r#"up{juju_model="other"}"#),
            r#"up{juju_application="synapse",juju_model="other"}"#,
            "a label already constrained is left alone"
        );
        assert_eq!(inject("job:request:rate5m > 1"), format!("job:request:rate5m{{{M}}} > 1"));
    }

    #[test]
    fn functions_aggregations_and_label_lists_are_not_selectors() {
        assert_eq!(
            inject("sum by (juju_unit) (rate(process_cpu_seconds_total[5m])) > 0.9"),
            format!("sum by (juju_unit) (rate(process_cpu_seconds_total{{{M}}}[5m])) > 0.9")
        );
        assert_eq!(
            inject("sum(rate(a_total[5m])) without (instance, job) / on(x) group_left(y) b"),
            format!("sum(rate(a_total{{{M}}}[5m])) without (instance, job) / on(x) group_left(y) b{{{M}}}")
        );
        assert_eq!(
            inject(r#"changes(count_values("juju_unit", up) by (juju_model)[5m:1m]) > 0"#),
            format!(r#"changes(count_values("juju_unit", up{{{M}}}) by (juju_model)[5m:1m]) > 0"#)
        );
        assert_eq!(
            inject("histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m]))) > 1e+3"),
            format!("histogram_quantile(0.95, sum by (le) (rate(x_bucket{{{M}}}[5m]))) > 1e+3")
        );
        assert_eq!(inject("absent(up)"), format!("absent(up{{{M}}})"));
        assert_eq!(inject("a and b unless c"), format!("a{{{M}}} and b{{{M}}} unless c{{{M}}}"));
        assert_eq!(inject("a > bool 1"), format!("a{{{M}}} > bool 1"));
        assert_eq!(inject("a offset 5m"), format!("a{{{M}}} offset 5m"));
        assert_eq!(inject("a @ start()"), format!("a{{{M}}} @ start()"));
        assert_eq!(inject("vector(1) + time()"), "vector(1) + time()");
        assert_eq!(inject("max(x) - min(x) > inf"), format!("max(x{{{M}}}) - min(x{{{M}}}) > inf"));
    }

    #[test]
    fn values_are_escaped_and_no_matchers_change_nothing() {
        assert_eq!(inject_matchers("up", &[("l", r#"a"b\c"#)]).unwrap(), r#"up{l="a\"b\\c"}"#);
        assert_eq!(inject_matchers("up{x=\"1\"}", &[]).unwrap(), "up{x=\"1\"}");
        assert_eq!(inject_matchers("up", &[]).unwrap(), "up");
    }

    #[test]
    fn malformed_expressions_are_errors() {
        assert_eq!(inject_matchers("up{job=\"x", &TOPOLOGY), Err(PromqlError::UnterminatedString { at: 7 }));
        assert!(matches!(inject_matchers("sum(up", &TOPOLOGY), Err(PromqlError::UnbalancedBracket { .. })));
        assert!(matches!(inject_matchers("sum(up]", &TOPOLOGY), Err(PromqlError::UnbalancedBracket { .. })));
        assert!(matches!(
            inject_matchers("up ; 1", &TOPOLOGY),
            Err(PromqlError::UnexpectedCharacter { character: ';', .. })
        ));
    }
}
