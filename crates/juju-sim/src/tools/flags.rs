//! GNU-style flag parsing with the semantics and messages of Juju's `gnuflag`: `--flag value`,
//! `--flag=value`, `-r 3`, `-r3`, combined short bools, `--bool=False`, interspersed
//! positional arguments, and `--` ending the flags.

use std::collections::HashMap;

/// Whether a flag takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    Bool,
    Value,
}

/// A flag and its aliases; the first name is the canonical one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag {
    pub names: &'static [&'static str],
    pub kind: FlagKind,
    pub help: &'static str,
}

impl Flag {
    pub const fn bool(names: &'static [&'static str], help: &'static str) -> Self {
        Flag { names, kind: FlagKind::Bool, help }
    }

    pub const fn value(names: &'static [&'static str], help: &'static str) -> Self {
        Flag { names, kind: FlagKind::Value, help }
    }
}

/// Flags and positional arguments after parsing.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    values: HashMap<&'static str, String>,
    bools: HashMap<&'static str, bool>,
    pub positional: Vec<String>,
}

impl Parsed {
    /// The last value given for the flag whose canonical name is `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }
}

/// What parsing produced.
pub(crate) enum Outcome {
    Parsed(Parsed),
    /// `-h`/`--help` was given: print usage and exit 0.
    Help,
}

/// Checks a flag value as it is parsed (Go's `flag.Value.Set`): receives the canonical name and
/// the value; an error becomes `invalid value "<v>" for flag <name>: <error>`.
pub(crate) type Validate<'a> = dyn FnMut(&'static str, &str) -> Result<(), String> + 'a;

/// Parses `argv` against `flags`. Errors are the message after `ERROR ` (exit code 2).
pub(crate) fn parse(flags: &[Flag], argv: &[String], validate: &mut Validate) -> Result<Outcome, String> {
    let mut parsed = Parsed::default();
    let mut index = 0;
    while index < argv.len() {
        let arg = &argv[index];
        index += 1;
        if arg == "--" {
            parsed.positional.extend(argv[index..].iter().cloned());
            break;
        }
        if arg == "-" || !arg.starts_with('-') {
            parsed.positional.push(arg.clone());
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some(("", _)) => return Err(format!("empty flag in argument {}", go_quote(arg))),
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            let display = format!("--{name}");
            match apply(
                flags,
                name,
                &display,
                inline.map(str::to_owned),
                argv,
                &mut index,
                &mut parsed,
                validate,
            )? {
                Step::Continue => {}
                Step::Help => return Ok(Outcome::Help),
            }
            continue;
        }
        // One or more single-character flags; a value flag takes the rest of the argument.
        let mut rest = &arg[1..];
        while let Some(ch) = rest.chars().next() {
            let name = &rest[..ch.len_utf8()];
            rest = &rest[ch.len_utf8()..];
            let display = format!("-{name}");
            let spec = lookup(flags, name);
            let takes_rest = match spec {
                Some(flag) => flag.kind == FlagKind::Value || rest.starts_with('='),
                None => false,
            };
            let inline = if takes_rest && !rest.is_empty() {
                let value = rest.to_owned();
                rest = "";
                Some(value)
            } else {
                None
            };
            match apply(flags, name, &display, inline, argv, &mut index, &mut parsed, validate)? {
                Step::Continue => {}
                Step::Help => return Ok(Outcome::Help),
            }
        }
    }
    Ok(Outcome::Parsed(parsed))
}

enum Step {
    Continue,
    Help,
}

fn lookup<'f>(flags: &'f [Flag], name: &str) -> Option<&'f Flag> {
    flags.iter().find(|flag| flag.names.contains(&name))
}

#[allow(clippy::too_many_arguments)]
fn apply(
    flags: &[Flag],
    name: &str,
    display: &str,
    inline: Option<String>,
    argv: &[String],
    index: &mut usize,
    parsed: &mut Parsed,
    validate: &mut Validate,
) -> Result<Step, String> {
    let Some(flag) = lookup(flags, name) else {
        if name == "help" || name == "h" {
            return Ok(Step::Help);
        }
        return Err(format!("flag provided but not defined: {display}"));
    };
    let canonical = flag.names[0];
    match flag.kind {
        FlagKind::Bool => {
            // For short flags Go keeps the '=' in the value, which then fails to parse.
            let value = match inline {
                Some(value) => value,
                None => {
                    parsed.bools.insert(canonical, true);
                    return Ok(Step::Continue);
                }
            };
            let on = parse_go_bool(&value).ok_or_else(|| {
                let value = go_quote(&value);
                format!(
                    "invalid value {value} for flag {display}: strconv.ParseBool: parsing {value}: invalid syntax"
                )
            })?;
            parsed.bools.insert(canonical, on);
        }
        FlagKind::Value => {
            let value = match inline {
                Some(value) => value,
                None if *index < argv.len() => {
                    *index += 1;
                    argv[*index - 1].clone()
                }
                None => return Err(format!("flag needs an argument: {display}")),
            };
            validate(canonical, &value)
                .map_err(|error| format!("invalid value {} for flag {display}: {error}", go_quote(&value)))?;
            parsed.values.insert(canonical, value);
        }
    }
    Ok(Step::Continue)
}

/// `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `%q` for a slice of strings (`["a" "b"]`), as in `unrecognized args: ...`.
pub(crate) fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| go_quote(item)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `%q` for one string.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        Flag::value(&["r", "relation"], ""),
        Flag::bool(&["app"], ""),
        Flag::bool(&["a", "all"], ""),
        Flag::value(&["format"], ""),
    ];

    fn args(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn ok(items: &[&str]) -> Parsed {
        match parse(FLAGS, &args(items), &mut |_, _| Ok(())).unwrap() {
            Outcome::Parsed(parsed) => parsed,
            Outcome::Help => panic!("unexpected help"),
        }
    }

    fn err(items: &[&str]) -> String {
        match parse(FLAGS, &args(items), &mut |_, _| Ok(())) {
            Err(message) => message,
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn accepts_every_gnu_form() {
        for form in [&["-r", "3"][..], &["-r3"], &["--relation", "3"], &["--relation=3"]] {
            assert_eq!(ok(form).value("r"), Some("3"), "{form:?}");
        }
        assert_eq!(ok(&["-r", "db:3"]).value("r"), Some("db:3"));
    }

    #[test]
    fn bools_take_optional_go_values() {
        assert!(ok(&["--app"]).flag("app"));
        assert!(ok(&["--app=True"]).flag("app"));
        assert!(!ok(&["--app=False"]).flag("app"));
        assert!(ok(&["-a"]).flag("a"));
        assert_eq!(
            err(&["--app=yes"]),
            "invalid value \"yes\" for flag --app: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
    }

    #[test]
    fn intersperses_and_stops_at_double_dash() {
        let parsed = ok(&["key", "--format=json", "unit/0", "--", "--app"]);
        assert_eq!(parsed.positional, args(&["key", "unit/0", "--app"]));
        assert_eq!(parsed.value("format"), Some("json"));
        assert!(!parsed.flag("app"));
        assert_eq!(ok(&["-"]).positional, args(&["-"]));
    }

    #[test]
    fn reports_errors_like_gnuflag() {
        assert_eq!(err(&["--foo"]), "flag provided but not defined: --foo");
        assert_eq!(err(&["-x"]), "flag provided but not defined: -x");
        assert_eq!(err(&["--format"]), "flag needs an argument: --format");
        assert_eq!(err(&["-r"]), "flag needs an argument: -r");
        assert_eq!(err(&["--=x"]), "empty flag in argument \"--=x\"");
    }

    #[test]
    fn validation_errors_name_the_flag_as_given() {
        let result = parse(FLAGS, &args(&["-r", "db:99"]), &mut |_, _| Err("relation not found".to_owned()));
        assert_eq!(result.err().unwrap(), "invalid value \"db:99\" for flag -r: relation not found");
    }

    #[test]
    fn help_is_recognised() {
        assert!(matches!(parse(FLAGS, &args(&["--help"]), &mut |_, _| Ok(())), Ok(Outcome::Help)));
        assert!(matches!(parse(FLAGS, &args(&["-h"]), &mut |_, _| Ok(())), Ok(Outcome::Help)));
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote_list(&args(&["x", "y \"z\""])), r#"["x" "y \"z\""]"#);
    }
}
