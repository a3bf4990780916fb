//! `relation-ids`, `relation-list`, `relation-get`, `relation-set`, `relation-model-get`, with
//! Juju's databag access rules.

use std::collections::BTreeMap;

use serde_json::Value;

use super::flags::Flag;
use super::format::Out;
use super::{check_empty, go_quote, Call, Failure, Tool, SMART};
use crate::context::HookContext;
use crate::model::{app_of, is_valid_app_name, is_valid_unit_name, Bag, Change, Relation};

const RELATION_FLAGS: [Flag; 1] = [Flag::value(&["r", "relation"], "Specify a relation by id")];
const APP_FLAG: Flag = Flag::bool(&["app"], "Use the application databag or name");

pub(crate) const IDS: Tool = Tool {
    name: "relation-ids",
    args: "<name>",
    purpose: "List all relation IDs for the given endpoint.",
    flags: &[],
    output: SMART,
    run: ids,
};

pub(crate) const LIST: Tool = Tool {
    name: "relation-list",
    args: "",
    purpose: "list relation units",
    flags: &[RELATION_FLAGS[0], APP_FLAG],
    output: SMART,
    run: list,
};

pub(crate) const GET: Tool = Tool {
    name: "relation-get",
    args: "<key> <unit id>",
    purpose: "Get relation settings.",
    flags: &[RELATION_FLAGS[0], APP_FLAG],
    output: SMART,
    run: get,
};

pub(crate) const SET: Tool = Tool {
    name: "relation-set",
    args: "key=value [key=value ...]",
    purpose: "set relation settings",
    flags: &[
        RELATION_FLAGS[0],
        APP_FLAG,
        Flag::value(&["file"], "file containing key-value pairs"),
        Flag::value(&["format"], "deprecated format flag"),
    ],
    output: None,
    run: set,
};

pub(crate) const MODEL_GET: Tool = Tool {
    name: "relation-model-get",
    args: "",
    purpose: "Get details about the model hosing a related application.",
    flags: &RELATION_FLAGS,
    output: SMART,
    run: model_get,
};

/// The relation `id` if the running unit is in its scope.
pub(crate) fn visible(ctx: &HookContext, id: u32) -> Option<&Relation> {
    ctx.model.relation(id).filter(|relation| relation.scope.contains(&ctx.unit))
}

fn relation(ctx: &HookContext, id: u32) -> Result<&Relation, Failure> {
    visible(ctx, id).ok_or_else(|| Failure::Runtime("relation not found".to_owned()))
}

fn ids(call: &mut Call) -> Result<(), Failure> {
    let args = &call.parsed.positional;
    let endpoint = match args.first() {
        Some(name) => name.clone(),
        None => call
            .ctx
            .hook
            .relation
            .as_ref()
            .map(|relation| relation.endpoint.clone())
            .ok_or_else(|| Failure::Usage("no endpoint name specified".to_owned()))?,
    };
    check_empty(args.get(1..).unwrap_or_default())?;
    let ctx = &*call.ctx;
    let broken = ctx.hook.relation.as_ref().filter(|relation| relation.broken).map(|relation| relation.id);
    let mut ids: Vec<String> = ctx
        .model
        .relations_of_unit(&ctx.unit)
        .filter(|relation| relation.endpoint_of(ctx.app()) == Some(endpoint.as_str()))
        .filter(|relation| Some(relation.id) != broken)
        .filter_map(|relation| relation.fake_id(ctx.app()))
        .collect();
    ids.sort();
    call.write(Out::List(ids))
}

fn list(call: &mut Call) -> Result<(), Failure> {
    let id = call.require_relation()?;
    check_empty(&call.parsed.positional)?;
    let relation = relation(call.ctx, id)?;
    let out = if call.parsed.flag("app") {
        Out::Str(relation.remote_app(call.ctx.app()).unwrap_or_default().to_owned())
    } else {
        Out::List(relation.members_of(&call.ctx.unit))
    };
    call.write(out)
}

/// Who `relation-get` reads, after Juju's defaulting rules.
struct Target {
    name: String,
    app: bool,
}

fn get_target(call: &Call, args: &mut Vec<String>) -> Result<Target, Failure> {
    let mut app = call.parsed.flag("app");
    let hook_relation = call.ctx.hook.relation.as_ref();
    if !args.is_empty() {
        let supplied = args.remove(0);
        if app {
            let name = if is_valid_app_name(&supplied) {
                supplied
            } else if is_valid_unit_name(&supplied) {
                app_of(&supplied).to_owned()
            } else {
                String::new()
            };
            return Ok(Target { name, app });
        }
        if !is_valid_unit_name(&supplied) {
            let quoted = go_quote(&supplied);
            return Err(Failure::Usage(if is_valid_app_name(&supplied) {
                format!("expected unit name, got application name {quoted}")
            } else {
                format!("invalid unit name {quoted}")
            }));
        }
        return Ok(Target { name: supplied, app });
    }
    let remote_app = hook_relation.map(|relation| relation.remote_app.clone());
    let no_target = || Failure::Usage("no unit or application specified".to_owned());
    if app {
        return Ok(Target { name: remote_app.ok_or_else(no_target)?, app });
    }
    if let Some(unit) = hook_relation.and_then(|relation| relation.remote_unit.clone()) {
        return Ok(Target { name: unit, app });
    }
    app = true;
    Ok(Target { name: remote_app.ok_or_else(no_target)?, app })
}

fn get(call: &mut Call) -> Result<(), Failure> {
    let id = call.require_relation()?;
    let mut args = call.parsed.positional.clone();
    let key = if args.is_empty() {
        String::new()
    } else {
        let key = args.remove(0);
        if key == "-" {
            String::new()
        } else {
            key
        }
    };
    let target = get_target(call, &mut args)?;
    check_empty(&args)?;
    let ctx = &*call.ctx;
    relation(ctx, id)?;
    let local = target.name == ctx.unit || (target.name == ctx.app() && ctx.is_leader());
    let settings = if local {
        let model = ctx.effective_model();
        let bag = if target.app { Bag::App(ctx.app().to_owned()) } else { Bag::Unit(ctx.unit.clone()) };
        model.relation(id).and_then(|relation| relation.bag(&bag).cloned()).unwrap_or_default()
    } else {
        read_remote(ctx, id, &target)?
    };
    let out = if key.is_empty() {
        Out::Value(Value::Object(
            settings.into_iter().map(|(key, value)| (key, Value::String(value))).collect(),
        ))
    } else {
        settings.get(&key).cloned().map_or(Out::Nil, Out::Str)
    };
    call.write(out)
}

/// Reads another unit's or application's bag as the controller would, enforcing the ACL.
fn read_remote(ctx: &HookContext, id: u32, target: &Target) -> Result<BTreeMap<String, String>, Failure> {
    let denied = || Failure::Runtime("permission denied".to_owned());
    let relation = relation(ctx, id)?;
    let remote_app = relation.remote_app(ctx.app()).ok_or_else(denied)?;
    let bag = if target.app {
        let readable = target.name == remote_app || (target.name == ctx.app() && relation.is_peer());
        if !readable {
            return Err(denied());
        }
        relation.bag(&Bag::App(target.name.clone()))
    } else {
        if app_of(&target.name) != remote_app {
            return Err(denied());
        }
        Some(relation.bag(&Bag::Unit(target.name.clone())).ok_or_else(denied)?)
    };
    Ok(bag.cloned().unwrap_or_default())
}

/// `keyvalues.Parse(args, allowEmptyValues=true)`.
pub(crate) fn parse_key_values(args: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut settings = BTreeMap::new();
    for arg in args {
        let malformed = || Failure::Usage(format!("expected \"key=value\", got {}", go_quote(arg)));
        let (key, value) = arg.split_once('=').ok_or_else(malformed)?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(malformed());
        }
        if settings.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(Failure::Usage(format!("key {} specified more than once", go_quote(key))));
        }
    }
    Ok(settings)
}

/// A YAML (or JSON) map of settings as `yaml.Unmarshal` into `map[string]string` reads it.
pub(crate) fn parse_settings_file(bytes: &[u8]) -> Result<BTreeMap<String, String>, Failure> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(BTreeMap::new());
    }
    let raw: BTreeMap<String, serde_norway::Value> =
        serde_norway::from_slice(bytes).map_err(|e| Failure::Runtime(format!("yaml: {e}")))?;
    raw.into_iter()
        .map(|(key, value)| {
            let text = match value {
                serde_norway::Value::Null => String::new(),
                serde_norway::Value::Bool(on) => on.to_string(),
                serde_norway::Value::Number(number) => number.to_string(),
                serde_norway::Value::String(text) => text,
                _ => {
                    return Err(Failure::Runtime(format!(
                        "yaml: unmarshal errors:\n  cannot unmarshal a collection into string for key {}",
                        go_quote(&key)
                    )))
                }
            };
            Ok((key, text))
        })
        .collect()
}

fn set(call: &mut Call) -> Result<(), Failure> {
    let id = call.require_relation()?;
    let overrides = parse_key_values(&call.parsed.positional)?;
    if call.parsed.value("format").is_some() {
        call.stderr.extend(b"--format flag deprecated for command \"relation-set\"".iter());
    }
    let mut settings = match call.parsed.value("file").map(str::to_owned) {
        Some(path) => {
            let bytes = call.read_file(&path)?;
            parse_settings_file(&bytes)?
        }
        None => BTreeMap::new(),
    };
    settings.extend(overrides);
    let ctx = &mut *call.ctx;
    relation(ctx, id)?;
    let bag = if call.parsed.flag("app") {
        if !ctx.is_leader() {
            return Err(Failure::Runtime("cannot write relation settings".to_owned()));
        }
        Bag::App(ctx.app().to_owned())
    } else {
        Bag::Unit(ctx.unit.clone())
    };
    if settings.is_empty() {
        return Ok(());
    }
    ctx.pending.push(Change::RelationSet {
        relation: id,
        bag,
        settings: settings
            .into_iter()
            .map(|(key, value)| (key, (!value.is_empty()).then_some(value)))
            .collect(),
    });
    Ok(())
}

fn model_get(call: &mut Call) -> Result<(), Failure> {
    let id = call.require_relation()?;
    check_empty(&call.parsed.positional)?;
    relation(call.ctx, id)?;
    let uuid = call.ctx.model.uuid.clone();
    call.write(Out::Value(serde_json::json!({ "uuid": uuid })))
}
