//! `state-get`, `state-set`, `state-delete`: the unit's controller-side key-value store.
//! Writes are buffered; reads see this hook's pending writes.

use serde_json::Value;

use super::flags::Flag;
use super::format::Out;
use super::relation::{parse_key_values, parse_settings_file};
use super::{check_empty, go_quote, Call, Failure, Tool, SMART};
use crate::model::Change;

const MAX_KEY_BYTES: usize = 256;
const MAX_VALUE_BYTES: usize = 64 * 1024;

pub(crate) const GET: Tool = Tool {
    name: "state-get",
    args: "[<key>]",
    purpose: "print server-side-state value",
    flags: &[Flag::bool(&["strict"], "Return an error if the requested key does not exist")],
    output: SMART,
    run: get,
};

pub(crate) const SET: Tool = Tool {
    name: "state-set",
    args: "key=value [key=value ...]",
    purpose: "set server-side-state values",
    flags: &[Flag::value(&["file"], "file containing key-value pairs")],
    output: None,
    run: set,
};

pub(crate) const DELETE: Tool = Tool {
    name: "state-delete",
    args: "<key>",
    purpose: "delete server-side-state key value pair",
    flags: &[],
    output: None,
    run: delete,
};

fn current_state(call: &Call) -> std::collections::BTreeMap<String, String> {
    call.ctx.effective_model().unit(&call.ctx.unit).map(|unit| unit.state.clone()).unwrap_or_default()
}

fn get(call: &mut Call) -> Result<(), Failure> {
    let args = &call.parsed.positional;
    let key = match args.first() {
        Some(key) if key != "-" => key.clone(),
        _ => String::new(),
    };
    check_empty(args.get(1..).unwrap_or_default())?;
    let state = current_state(call);
    let out = if key.is_empty() {
        if state.is_empty() {
            Out::Nil
        } else {
            Out::Value(Value::Object(
                state.into_iter().map(|(key, value)| (key, Value::String(value))).collect(),
            ))
        }
    } else {
        match state.get(&key) {
            Some(value) => Out::Str(value.clone()),
            None if call.parsed.flag("strict") => {
                return Err(Failure::Runtime(format!("{} not found", go_quote(&key))))
            }
            None => Out::Nil,
        }
    };
    call.write(out)
}

fn set(call: &mut Call) -> Result<(), Failure> {
    let overrides = parse_key_values(&call.parsed.positional)?;
    let mut values = match call.parsed.value("file").map(str::to_owned) {
        Some(path) => {
            let bytes = call.read_file(&path)?;
            parse_settings_file(&bytes)?
        }
        None => Default::default(),
    };
    values.extend(overrides);
    let mut state = current_state(call);
    for (key, value) in values {
        if key.len() > MAX_KEY_BYTES {
            return Err(Failure::Runtime(format!("max allowed key length ({MAX_KEY_BYTES}) exceeded")));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(Failure::Runtime(format!("max allowed value length ({MAX_VALUE_BYTES}) exceeded")));
        }
        if state.get(&key) == Some(&value) {
            continue;
        }
        state.insert(key.clone(), value.clone());
        call.ctx.pending.push(Change::StateSet { key, value });
    }
    Ok(())
}

fn delete(call: &mut Call) -> Result<(), Failure> {
    let args = &call.parsed.positional;
    let Some(key) = args.first().cloned() else {
        return Ok(());
    };
    check_empty(&args[1..])?;
    if !key.is_empty() {
        call.ctx.pending.push(Change::StateDelete { key });
    }
    Ok(())
}
