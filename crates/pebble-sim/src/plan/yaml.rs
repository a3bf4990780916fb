//! The plan as Pebble writes it (Go's `gopkg.in/yaml.v3`): 4-space indentation, fields in
//! Pebble's order, map keys in yaml.v3's order, and strings quoted whenever a YAML 1.1
//! reader would take them for something else (`"no"`, `"1"`, `"True"`, `"2024-01-01"`), so
//! that PyYAML (ops' `Container.get_plan`) reads back the same strings.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use super::schema::{Check, ExecCheck, HttpCheck, LayerSpec, LogTarget, Service, TcpCheck};

const INDENT: usize = 4;

/// A YAML value to write.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Str(String),
    Int(i64),
    Float(f64),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// The combined plan's text (`{}` when empty).
pub fn plan(spec: &LayerSpec) -> String {
    let mut top = Fields::default();
    top.map("services", &spec.services, service);
    top.map("checks", &spec.checks, check);
    top.map("log-targets", &spec.log_targets, log_target);
    let mut out = String::new();
    write_map(&mut out, &top.0, 0);
    if out.is_empty() {
        out.push_str("{}\n");
    }
    out
}

/// The fields of one mapping, in the order they are added (unset ones skipped).
#[derive(Default)]
struct Fields(Vec<(String, Node)>);

impl Fields {
    fn push(&mut self, key: &str, node: Node) {
        self.0.push((key.to_owned(), node));
    }

    fn str(&mut self, key: &str, value: &Option<String>) {
        if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
            self.push(key, Node::Str(value.clone()));
        }
    }

    fn int(&mut self, key: &str, value: Option<impl Into<i64>>) {
        if let Some(value) = value {
            self.push(key, Node::Int(value.into()));
        }
    }

    fn duration(&mut self, key: &str, value: &Option<super::schema::GoDuration>) {
        if let Some(value) = value {
            self.push(key, Node::Str(crate::duration::format(value.0)));
        }
    }

    fn list(&mut self, key: &str, values: &[String]) {
        if !values.is_empty() {
            self.push(key, strings(values));
        }
    }

    fn strings(&mut self, key: &str, map: &BTreeMap<String, String>) {
        self.map(key, map, |value| Node::Str(value.clone()));
    }

    fn map<V>(&mut self, key: &str, map: &BTreeMap<String, V>, node: impl Fn(&V) -> Node) {
        if !map.is_empty() {
            let mut entries: Vec<(String, Node)> = map.iter().map(|(k, v)| (k.clone(), node(v))).collect();
            entries.sort_by(|(a, _), (b, _)| key_order(a, b));
            self.push(key, Node::Map(entries));
        }
    }

    fn nested(&mut self, key: &str, fields: Option<Fields>) {
        if let Some(fields) = fields {
            self.push(key, Node::Map(fields.0));
        }
    }
}

fn strings(values: &[String]) -> Node {
    Node::Seq(values.iter().cloned().map(Node::Str).collect())
}

fn service(service: &Service) -> Node {
    let mut f = Fields::default();
    f.str("summary", &service.summary);
    f.str("description", &service.description);
    f.str("startup", &service.startup);
    f.str("override", &service.r#override);
    f.str("command", &service.command);
    f.list("after", &service.after);
    f.list("before", &service.before);
    f.list("requires", &service.requires);
    f.strings("environment", &service.environment);
    f.int("user-id", service.user_id);
    f.str("user", &service.user);
    f.int("group-id", service.group_id);
    f.str("group", &service.group);
    f.str("working-dir", &service.working_dir);
    f.str("on-success", &service.on_success);
    f.str("on-failure", &service.on_failure);
    f.strings("on-check-failure", &service.on_check_failure);
    f.duration("backoff-delay", &service.backoff_delay);
    if let Some(factor) = service.backoff_factor {
        f.push("backoff-factor", Node::Float(factor));
    }
    f.duration("backoff-limit", &service.backoff_limit);
    f.duration("kill-delay", &service.kill_delay);
    f.str("workload", &service.workload);
    Node::Map(f.0)
}

fn check(check: &Check) -> Node {
    let mut f = Fields::default();
    f.str("override", &check.r#override);
    f.str("level", &check.level);
    f.str("startup", &check.startup);
    f.duration("period", &check.period);
    f.duration("timeout", &check.timeout);
    // Go's `int` field with omitempty: 0 is not written.
    f.int("threshold", check.threshold.filter(|t| *t != 0));
    f.nested("http", check.http.as_ref().map(http));
    f.nested("tcp", check.tcp.as_ref().map(tcp));
    f.nested("exec", check.exec.as_ref().map(exec));
    Node::Map(f.0)
}

fn http(http: &HttpCheck) -> Fields {
    let mut f = Fields::default();
    f.str("url", &http.url);
    f.strings("headers", &http.headers);
    f
}

fn tcp(tcp: &TcpCheck) -> Fields {
    let mut f = Fields::default();
    f.int("port", tcp.port);
    f.str("host", &tcp.host);
    f
}

fn exec(exec: &ExecCheck) -> Fields {
    let mut f = Fields::default();
    f.str("command", &exec.command);
    f.str("service-context", &exec.service_context);
    f.strings("environment", &exec.environment);
    f.int("user-id", exec.user_id);
    f.str("user", &exec.user);
    f.int("group-id", exec.group_id);
    f.str("group", &exec.group);
    f.str("working-dir", &exec.working_dir);
    f
}

fn log_target(target: &LogTarget) -> Node {
    let mut f = Fields::default();
    // Pebble writes type, location and services even when empty.
    f.push("type", Node::Str(target.r#type.clone().unwrap_or_default()));
    f.push("location", Node::Str(target.location.clone().unwrap_or_default()));
    f.push("services", strings(&target.services));
    f.str("override", &target.r#override);
    f.strings("labels", &target.labels);
    Node::Map(f.0)
}

fn write_map(out: &mut String, entries: &[(String, Node)], indent: usize) {
    for (key, value) in entries {
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar(key, indent));
        out.push(':');
        write_value(out, value, indent);
    }
}

/// Writes what follows `key:` (or `-`): a scalar on the same line, or a block below.
fn write_value(out: &mut String, value: &Node, indent: usize) {
    match value {
        Node::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Node::Seq(items) if items.is_empty() => out.push_str(" []\n"),
        Node::Map(entries) => {
            out.push('\n');
            write_map(out, entries, indent + INDENT);
        }
        Node::Seq(items) => {
            out.push('\n');
            for item in items {
                out.push_str(&" ".repeat(indent + INDENT));
                out.push('-');
                match item {
                    Node::Map(entries) if !entries.is_empty() => {
                        // Not used by the plan; written in block form below the dash.
                        out.push('\n');
                        write_map(out, entries, indent + 2 * INDENT);
                    }
                    other => write_value(out, other, indent + INDENT),
                }
            }
        }
        Node::Str(text) => {
            out.push(' ');
            out.push_str(&scalar(text, indent));
            out.push('\n');
        }
        Node::Int(value) => out.push_str(&format!(" {value}\n")),
        Node::Float(value) => out.push_str(&format!(" {}\n", go_float(*value))),
    }
}

/// A string as yaml.v3 writes it: plain when that reads back as the same string (for YAML
/// 1.1 readers too), a literal block for multi-line text, else single or double quoted.
fn scalar(text: &str, indent: usize) -> String {
    let style = analyze(text);
    if text.contains('\n') {
        let literal_ok = style.block_allowed && !text.starts_with([' ', '\n']);
        return if literal_ok { literal(text, indent) } else { double_quoted(text) };
    }
    if !resolves_to_other_type(text) && style.plain_allowed {
        text.to_owned()
    } else if !resolves_to_other_type(text) && style.single_allowed {
        format!("'{}'", text.replace('\'', "''"))
    } else {
        double_quoted(text)
    }
}

/// Which styles can carry the text unchanged (libyaml's `yaml_emitter_analyze_scalar`, for
/// block context).
struct Style {
    plain_allowed: bool,
    single_allowed: bool,
    block_allowed: bool,
}

fn analyze(text: &str) -> Style {
    if text.is_empty() {
        return Style { plain_allowed: false, single_allowed: true, block_allowed: false };
    }
    let chars: Vec<char> = text.chars().collect();
    let mut block_indicators = text.starts_with("---") || text.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut special, mut line_breaks) = (false, false, false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_whitespace = next.is_none_or(|n| matches!(n, ' ' | '\t' | '\n' | '\r'));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@'
                | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        let printable = c == '\n'
            || (' '..='~').contains(&c)
            || c == '\u{85}'
            || (('\u{a0}'..='\u{d7ff}').contains(&c)
                || ('\u{e000}'..='\u{fffd}').contains(&c)
                || c >= '\u{10000}')
                && c != '\u{feff}';
        if !printable {
            special = true;
        }
        if c == '\n' {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if next.is_none() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            (previous_space, previous_break) = (true, false);
        } else if c == '\n' {
            if i == 0 {
                leading_break = true;
            }
            if next.is_none() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            (previous_space, previous_break) = (false, true);
        } else {
            (previous_space, previous_break) = (false, false);
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t' | '\n' | '\r');
    }
    let mut style = Style { plain_allowed: true, single_allowed: true, block_allowed: true };
    if leading_space || leading_break || trailing_space || trailing_break {
        style.plain_allowed = false;
    }
    if trailing_space {
        style.block_allowed = false;
    }
    if break_space {
        style.plain_allowed = false;
        style.single_allowed = false;
    }
    if space_break || special {
        style = Style { plain_allowed: false, single_allowed: false, block_allowed: false };
    }
    if line_breaks || block_indicators {
        style.plain_allowed = false;
    }
    style
}

/// A literal block, the text indented one level deeper: `|-` without a final newline, `|`
/// with one, `|+` with more.
fn literal(text: &str, indent: usize) -> String {
    let chomp = match text.len() - text.trim_end_matches('\n').len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let pad = " ".repeat(indent + INDENT);
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<String> = body
        .split('\n')
        .map(|line| if line.is_empty() { String::new() } else { format!("{pad}{line}") })
        .collect();
    format!("|{chomp}\n{}", lines.join("\n"))
}

fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02X}", c as u32)),
            '\u{feff}' => out.push_str("\\uFEFF"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

static BASE60_FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").expect("valid base 60 pattern")
});
static YAML_FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").expect("valid float pattern")
});
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2}))|(?: [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?))?$",
    )
    .expect("valid timestamp pattern")
});

/// Whether a plain `text` would not read back as a string: yaml.v3's resolver (null, bool,
/// int, float, timestamp, merge key) plus the YAML 1.1 booleans (`yes`, `no`, `on`, `off`,
/// `y`, `n`) and base 60 numbers that yaml.v3 quotes for older readers.
fn resolves_to_other_type(text: &str) -> bool {
    const SPECIAL: [&str; 24] = [
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", ".nan", ".NaN",
        ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
    ];
    const OLD_BOOLS: [&str; 16] =
        ["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF"];
    if SPECIAL.contains(&text) || OLD_BOOLS.contains(&text) || BASE60_FLOAT.is_match(text) {
        return true;
    }
    match text.chars().next() {
        Some('0'..='9' | '+' | '-') => {
            let plain = text.replace('_', "");
            TIMESTAMP.is_match(text)
                || go_int(&plain)
                || (YAML_FLOAT.is_match(&plain) && plain.parse::<f64>().is_ok())
        }
        Some('.') => text.parse::<f64>().is_ok(),
        _ => false,
    }
}

/// Whether Go's `strconv.ParseInt(text, 0, 64)` (or `ParseUint`) accepts `text`.
fn go_int(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (digits, radix) = match unsigned.get(..2) {
        Some("0x" | "0X") => (&unsigned[2..], 16),
        Some("0o" | "0O") => (&unsigned[2..], 8),
        Some("0b" | "0B") => (&unsigned[2..], 2),
        _ if unsigned.len() > 1 && unsigned.starts_with('0') => (&unsigned[1..], 8),
        _ => (unsigned, 10),
    };
    !digits.is_empty() && u64::from_str_radix(digits, radix).is_ok()
}

/// A float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes it (`2`, `1.5`, `1e+06`).
pub fn go_float(value: f64) -> String {
    if value.is_nan() {
        return ".nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    // Go's shortest `%g` switches to an exponent below 1e-4 and from 1e+06.
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{value}")
    }
}

/// yaml.v3's order of map keys: byte order, except that digit runs compare as numbers and a
/// letter sorts after a non-letter (`A_B` before `AB`).
fn key_order(a: &str, b: &str) -> Ordering {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut digits = false;
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            digits = ar[i].is_ascii_digit();
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            let a_first = if digits { al } else { bl };
            return if a_first { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn): (u64, u64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    (an, bn) = (1, 1);
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(u64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(u64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_yaml_1_1_would_read_as_another_type() {
        for text in [
            "no",
            "yes",
            "On",
            "True",
            "false",
            "null",
            "~",
            "",
            "1",
            "-2",
            "0x1f",
            "1.5",
            "1e3",
            "2024-01-01",
            "1:30",
            ".5",
        ] {
            assert!(scalar(text, 0).starts_with('"'), "{text} -> {}", scalar(text, 0));
        }
        for text in
            ["example.com", "/start.py run", "http://localhost:8008/health", "1.2.3", "v1", "-x", "a b"]
        {
            assert_eq!(scalar(text, 0), text);
        }
        assert_eq!(scalar("a: b", 0), "'a: b'");
        assert_eq!(scalar("#x", 0), "'#x'");
        assert_eq!(scalar(" x", 0), "' x'");
        assert_eq!(scalar("it's: ok", 0), "'it''s: ok'");
        assert_eq!(scalar("tab\there", 0), "\"tab\\there\"");
        assert_eq!(scalar("a\nb", 4), "|-\n        a\n        b");
    }

    #[test]
    fn formats_floats_like_go() {
        assert_eq!(go_float(2.0), "2");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(1e21), "1e+21");
    }

    #[test]
    fn orders_keys_like_yaml_v3() {
        let mut keys = vec!["b", "a10", "a2", "AB", "A_B", "a"];
        keys.sort_by(|a, b| key_order(a, b));
        assert_eq!(keys, ["A_B", "AB", "a", "a2", "a10", "b"]);
    }

    #[test]
    fn writes_nested_blocks_with_four_spaces() {
        let spec: LayerSpec = serde_norway::from_str(
            "services:\n  s:\n    override: replace\n    command: /bin/s\n    after: [a]\n    environment: {REPORT: 'no', PORT: '8008', 'y': x}\n    backoff-factor: 1.5\n    user-id: 991\nlog-targets:\n  t: {override: merge, type: loki, location: 'http://l/p'}\n",
        )
        .unwrap();
        assert_eq!(
            plan(&spec),
            "services:\n    s:\n        override: replace\n        command: /bin/s\n        after:\n            - a\n        environment:\n            PORT: \"8008\"\n            REPORT: \"no\"\n            \"y\": x\n        user-id: 991\n        backoff-factor: 1.5\nlog-targets:\n    t:\n        type: loki\n        location: http://l/p\n        services: []\n        override: merge\n"
        );
        assert_eq!(plan(&LayerSpec::default()), "{}\n");
    }
}
