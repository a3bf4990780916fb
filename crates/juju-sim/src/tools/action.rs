//! `action-get`, `action-set`, `action-fail` and `action-log`; outside an action they fail
//! with `not running an action`.

use serde_json::{Map, Value};

use super::format::Out;
use super::{check_empty, go_quote, Call, Failure, Tool, SMART};
use crate::context::ActionRun;

const RESERVED: [&str; 4] = ["stdout", "stdout-encoding", "stderr", "stderr-encoding"];

pub(crate) const GET: Tool = Tool {
    name: "action-get",
    args: "[<key>[.<key>.<key>...]]",
    purpose: "Get action parameters.",
    flags: &[],
    output: SMART,
    run: get,
};

pub(crate) const SET: Tool = Tool {
    name: "action-set",
    args: "<key>=<value> [<key>=<value> ...]",
    purpose: "Set action results.",
    flags: &[],
    output: None,
    run: set,
};

pub(crate) const FAIL: Tool = Tool {
    name: "action-fail",
    args: "[\"<failure message>\"]",
    purpose: "Set action fail status with message.",
    flags: &[],
    output: None,
    run: fail,
};

pub(crate) const LOG: Tool = Tool {
    name: "action-log",
    args: "<message>",
    purpose: "record a progress message for the current action",
    flags: &[],
    output: None,
    run: log,
};

fn running<'c>(call: &'c mut Call) -> Result<&'c mut ActionRun, Failure> {
    call.ctx.hook.action.as_mut().ok_or_else(|| Failure::Runtime("not running an action".to_owned()))
}

fn get(call: &mut Call) -> Result<(), Failure> {
    let args = call.parsed.positional.clone();
    let keys: Vec<String> = match args.first() {
        Some(key) => {
            check_empty(&args[1..])?;
            key.split('.').map(str::to_owned).collect()
        }
        None => Vec::new(),
    };
    let params = Value::Object(running(call)?.params.clone());
    let out = if keys.is_empty() {
        Out::Value(params)
    } else {
        let mut current = Some(&params);
        for key in &keys {
            current = current.and_then(|value| value.as_object()).and_then(|map| map.get(key));
        }
        current.cloned().map_or(Out::Nil, Out::Value)
    };
    call.write(out)
}

/// Juju's action key rule: lowercase alphanumerics and hyphens, starting and ending with an
/// alphanumeric.
fn valid_key(key: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = key.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            alnum(first) && alnum(last) && bytes.iter().all(|&b| alnum(b) || b == b'-')
        }
        _ => false,
    }
}

fn set(call: &mut Call) -> Result<(), Failure> {
    let mut entries = Vec::new();
    for arg in &call.parsed.positional {
        let Some((path, value)) = arg.split_once('=') else {
            return Err(Failure::Usage(format!(
                "argument {} must be of the form key...=value",
                go_quote(arg)
            )));
        };
        let keys: Vec<String> = path.split('.').map(str::to_owned).collect();
        for key in &keys {
            if !valid_key(key) {
                return Err(Failure::Usage(format!(
                    "key {} must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods",
                    go_quote(key)
                )));
            }
            if RESERVED.contains(&key.as_str()) {
                return Err(Failure::Usage(format!("cannot set reserved action key {}", go_quote(key))));
            }
        }
        entries.push((keys, value.to_owned()));
    }
    let action = running(call)?;
    for (keys, value) in entries {
        insert_nested(&mut action.results, &keys, value);
    }
    Ok(())
}

fn insert_nested(map: &mut Map<String, Value>, keys: &[String], value: String) {
    match keys {
        [] => {}
        [last] => {
            map.insert(last.clone(), Value::String(value));
        }
        [first, rest @ ..] => {
            let entry = map.entry(first.clone()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(child) = entry {
                insert_nested(child, rest, value);
            }
        }
    }
}

fn fail(call: &mut Call) -> Result<(), Failure> {
    let args = call.parsed.positional.clone();
    let message = match args.first() {
        Some(message) => {
            check_empty(&args[1..])?;
            message.clone()
        }
        None => "action failed without reason given, check action for errors".to_owned(),
    };
    let action = running(call)?;
    action.failed = true;
    action.message = Some(message);
    Ok(())
}

fn log(call: &mut Call) -> Result<(), Failure> {
    if call.parsed.positional.is_empty() {
        return Err(Failure::Usage("no message specified".to_owned()));
    }
    let message = call.parsed.positional.join(" ");
    running(call)?.logs.push(message);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rule_matches_juju() {
        assert!(valid_key("result"));
        assert!(valid_key("out-file2"));
        assert!(!valid_key("Result"));
        assert!(!valid_key("-x"));
        assert!(!valid_key("x-"));
        assert!(!valid_key(""));
        assert!(!valid_key("a_b"));
    }

    #[test]
    fn dotted_keys_build_nested_maps() {
        let mut map = Map::new();
        insert_nested(&mut map, &["a".into(), "b".into()], "1".into());
        insert_nested(&mut map, &["a".into(), "c".into()], "2".into());
        insert_nested(&mut map, &["d".into()], "3".into());
        assert_eq!(Value::Object(map), serde_json::json!({"a": {"b": "1", "c": "2"}, "d": "3"}));
    }
}
