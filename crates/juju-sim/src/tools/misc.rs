//! The remaining tools: `config-get`, `is-leader`, `juju-log`, `goal-state`, `network-get`,
//! `unit-get`, `leader-get`, `leader-set`, `storage-get`, `storage-list`, `resource-get`,
//! `credential-get`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::flags::Flag;
use super::format::{Format, Out};
use super::relation::parse_key_values;
use super::{check_empty, go_quote, Call, Failure, Tool, SMART, YAML_JSON};
use crate::context::HookContext;
use crate::model::{app_of, LogRecord};

pub(crate) const CONFIG_GET: Tool = Tool {
    name: "config-get",
    args: "[<key>]",
    purpose: "Print application configuration.",
    flags: &[Flag::bool(&["a", "all"], "print all keys")],
    output: SMART,
    run: config_get,
};

pub(crate) const IS_LEADER: Tool = Tool {
    name: "is-leader",
    args: "",
    purpose: "Print application leadership status.",
    flags: &[],
    output: SMART,
    run: is_leader,
};

pub(crate) const JUJU_LOG: Tool = Tool {
    name: "juju-log",
    args: "<message>",
    purpose: "write a message to the juju log",
    flags: &[
        Flag::bool(&["debug"], "log at debug level"),
        Flag::value(&["l", "log-level"], "Send log message at the given level"),
        Flag::value(&["format"], "deprecated format flag"),
    ],
    output: None,
    run: juju_log,
};

pub(crate) const GOAL_STATE: Tool = Tool {
    name: "goal-state",
    args: "",
    purpose: "print the status of the charm's peers and related units",
    flags: &[],
    output: Some((Format::Yaml, YAML_JSON)),
    run: goal_state,
};

pub(crate) const NETWORK_GET: Tool = Tool {
    name: "network-get",
    args: "<binding-name> [--ingress-address] [--bind-address] [--egress-subnets]",
    purpose: "get network config",
    flags: &[
        Flag::bool(&["primary-address"], "(deprecated) get the primary address for the binding"),
        Flag::bool(&["bind-address"], "get the address for the binding on which the unit should listen"),
        Flag::bool(&["ingress-address"], "get the ingress address for the binding"),
        Flag::bool(&["egress-subnets"], "get the egress subnets for the binding"),
        Flag::value(&["r", "relation"], "specify a relation by id"),
    ],
    output: SMART,
    run: network_get,
};

pub(crate) const UNIT_GET: Tool = Tool {
    name: "unit-get",
    args: "<setting>",
    purpose: "Print public-address or private-address.",
    flags: &[],
    output: SMART,
    run: unit_get,
};

pub(crate) const LEADER_GET: Tool = Tool {
    name: "leader-get",
    args: "[<key>]",
    purpose: "print application leadership settings",
    flags: &[],
    output: SMART,
    run: leader_get,
};

pub(crate) const LEADER_SET: Tool = Tool {
    name: "leader-set",
    args: "<key>=<value> [...]",
    purpose: "Write application leadership settings.",
    flags: &[],
    output: None,
    run: leader_set,
};

pub(crate) const STORAGE_GET: Tool = Tool {
    name: "storage-get",
    args: "[<key>]",
    purpose: "Print information for the storage instance with the specified ID.",
    flags: &[Flag::value(&["s"], "specify a storage instance by id")],
    output: SMART,
    run: storage_get,
};

pub(crate) const STORAGE_LIST: Tool = Tool {
    name: "storage-list",
    args: "[<storage-name>]",
    purpose: "List storage attached to the unit.",
    flags: &[],
    output: SMART,
    run: storage_list,
};

pub(crate) const RESOURCE_GET: Tool = Tool {
    name: "resource-get",
    args: "<resource name>",
    purpose: "Get the path to the locally cached resource file.",
    flags: &[],
    output: None,
    run: resource_get,
};

pub(crate) const CREDENTIAL_GET: Tool = Tool {
    name: "credential-get",
    args: "",
    purpose: "access cloud credentials",
    flags: &[],
    output: SMART,
    run: credential_get,
};

/// A JSON value shaped as the Go value Juju would print.
fn out_of(value: Value) -> Out {
    match value {
        Value::Null => Out::Nil,
        Value::String(text) => Out::Str(text),
        Value::Bool(on) => Out::Bool(on),
        other => Out::Value(other),
    }
}

fn config_get(call: &mut Call) -> Result<(), Failure> {
    let args = &call.parsed.positional;
    let all = call.parsed.flag("a");
    let key = args.first().cloned().unwrap_or_default();
    if !key.is_empty() && all {
        return Err(Failure::Usage(format!(
            "cannot use argument --all together with key {}",
            go_quote(&key)
        )));
    }
    check_empty(args.get(1..).unwrap_or_default())?;
    let ctx = &*call.ctx;
    let settings = ctx.model.app(ctx.app()).map(|app| app.config_settings()).unwrap_or_default();
    let out = if key.is_empty() {
        let map: Map<String, Value> =
            settings.into_iter().filter(|(_, value)| all || !value.is_null()).collect();
        Out::Value(Value::Object(map))
    } else {
        out_of(settings.get(&key).cloned().unwrap_or(Value::Null))
    };
    call.write(out)
}

fn is_leader(call: &mut Call) -> Result<(), Failure> {
    check_empty(&call.parsed.positional)?;
    let leader = call.ctx.is_leader();
    call.write(Out::Bool(leader))
}

/// loggo's level names.
fn parse_level(text: &str) -> Option<&'static str> {
    Some(match text.to_uppercase().as_str() {
        "TRACE" => "TRACE",
        "DEBUG" => "DEBUG",
        "INFO" => "INFO",
        "WARN" | "WARNING" => "WARNING",
        "ERROR" => "ERROR",
        "CRITICAL" => "CRITICAL",
        _ => return None,
    })
}

/// The name log records carry for the running hook or action.
pub(crate) fn hook_label(ctx: &HookContext) -> String {
    match &ctx.hook.action {
        Some(action) => format!("{}-action", action.name),
        None => ctx.hook.name.clone(),
    }
}

fn juju_log(call: &mut Call) -> Result<(), Failure> {
    if call.parsed.positional.is_empty() {
        return Err(Failure::Usage("no message specified".to_owned()));
    }
    let message = call.parsed.positional.join(" ");
    if call.parsed.value("format").is_some() {
        call.stderr.extend(b"--format flag deprecated for command \"juju-log\"".iter());
    }
    let ctx = &mut *call.ctx;
    let hook = hook_label(ctx);
    let requested = call.parsed.value("l").unwrap_or("INFO");
    let level = if call.parsed.flag("debug") {
        "DEBUG"
    } else {
        match parse_level(requested) {
            Some(level) => level,
            None => {
                ctx.logs.push(LogRecord {
                    unit: ctx.unit.clone(),
                    hook: hook.clone(),
                    level: "WARNING".to_owned(),
                    message: format!("Specified log level of {} is not valid", go_quote(requested)),
                });
                "INFO"
            }
        }
    };
    let prefix = ctx
        .hook
        .relation
        .as_ref()
        .map(|relation| format!("{}:{}: ", relation.endpoint, relation.id))
        .unwrap_or_default();
    ctx.logs.push(LogRecord {
        unit: ctx.unit.clone(),
        hook,
        level: level.to_owned(),
        message: format!("{prefix}{message}"),
    });
    Ok(())
}

fn goal_state(call: &mut Call) -> Result<(), Failure> {
    check_empty(&call.parsed.positional)?;
    let ctx = &*call.ctx;
    let model = &ctx.model;
    let now = crate::time::now_rfc3339();
    let entry = |status: &str, since: &str| -> Value {
        let since = if since.is_empty() { now.as_str() } else { since };
        json!({"status": status, "since": since})
    };
    let unit_entry = |name: &str| -> Value {
        match model.unit(name) {
            Some(unit) if unit.dying => entry("dying", &unit.status.since),
            Some(unit) => entry("active", &unit.status.since),
            None => entry("waiting", ""),
        }
    };
    let units: Map<String, Value> = model
        .app(ctx.app())
        .map(|app| app.unit_names().map(|name| (name.to_owned(), unit_entry(name))).collect())
        .unwrap_or_default();
    let mut relations: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for relation in model.relations_of_unit(&ctx.unit) {
        let (Some(endpoint), Some(remote_app)) =
            (relation.endpoint_of(ctx.app()), relation.remote_app(ctx.app()))
        else {
            continue;
        };
        let entries = relations.entry(endpoint.to_owned()).or_default();
        entries.insert(remote_app.to_owned(), entry("joined", ""));
        for unit in
            relation.scope.iter().filter(|unit| app_of(unit) == remote_app && unit.as_str() != ctx.unit)
        {
            entries.insert(unit.clone(), unit_entry(unit));
        }
    }
    let relations: Map<String, Value> =
        relations.into_iter().map(|(endpoint, entries)| (endpoint, Value::Object(entries))).collect();
    call.write(Out::Value(json!({"units": units, "relations": relations})))
}

fn network_get(call: &mut Call) -> Result<(), Failure> {
    let args = &call.parsed.positional;
    let Some(binding) = args.first().cloned() else {
        return Err(Failure::Usage("no arguments specified".to_owned()));
    };
    if binding.is_empty() {
        return Err(Failure::Usage("no binding name specified".to_owned()));
    }
    let keys: Vec<&str> = ["bind-address", "ingress-address", "egress-subnets"]
        .into_iter()
        .filter(|key| call.parsed.flag(key))
        .collect();
    check_empty(&args[1..])?;
    let ctx = &*call.ctx;
    let known = ctx.model.app(ctx.app()).is_some_and(|app| app.meta.has_binding(&binding));
    if !known {
        return Err(Failure::Runtime(format!("no network config found for binding {}", go_quote(&binding))));
    }
    let address = ctx.model.unit(&ctx.unit).map(|unit| unit.address.clone()).unwrap_or_default();
    let subnet = format!("{address}/32");
    let cidr = address.rsplit_once('.').map(|(prefix, _)| format!("{prefix}.0/24")).unwrap_or_default();
    if call.parsed.flag("primary-address") {
        if !keys.is_empty() {
            return Err(Failure::Runtime("--primary-address must be the only flag specified".to_owned()));
        }
        return call.write(Out::Str(address));
    }
    let out = match keys.as_slice() {
        [] => {
            let yaml = call.format() != Format::Json;
            let mut addr = json!({"hostname": "", "value": address, "cidr": cidr});
            let mut info = json!({"mac-address": "", "interface-name": "eth0", "addresses": []});
            if yaml {
                addr["address"] = Value::from(address.clone());
                info["macaddress"] = Value::from("");
                info["interfacename"] = Value::from("eth0");
            }
            info["addresses"] = Value::Array(vec![addr]);
            Out::Value(json!({
                "bind-addresses": [info],
                "egress-subnets": [subnet],
                "ingress-addresses": [address],
            }))
        }
        keys => {
            let value_of = |key: &str| match key {
                "egress-subnets" => Value::from(vec![subnet.clone()]),
                _ => Value::from(address.clone()),
            };
            if let [key] = keys {
                out_of(value_of(key))
            } else {
                Out::Value(Value::Object(keys.iter().map(|key| ((*key).to_owned(), value_of(key))).collect()))
            }
        }
    };
    call.write(out)
}

fn unit_get(call: &mut Call) -> Result<(), Failure> {
    let args = &call.parsed.positional;
    let Some(setting) = args.first().cloned() else {
        return Err(Failure::Usage("no setting specified".to_owned()));
    };
    if setting != "private-address" && setting != "public-address" {
        return Err(Failure::Usage(format!("unknown setting {}", go_quote(&setting))));
    }
    check_empty(&args[1..])?;
    let address = call.ctx.model.unit(&call.ctx.unit).map(|unit| unit.address.clone()).unwrap_or_default();
    call.write(Out::Str(address))
}

fn leader_get(call: &mut Call) -> Result<(), Failure> {
    let args = &call.parsed.positional;
    let key = match args.first() {
        None => String::new(),
        Some(key) if key == "-" => String::new(),
        Some(key) if key.contains('=') => {
            return Err(Failure::Usage(format!("invalid key {}", go_quote(key))))
        }
        Some(key) => key.clone(),
    };
    check_empty(args.get(1..).unwrap_or_default())?;
    let ctx = &*call.ctx;
    let settings = ctx.model.app(ctx.app()).map(|app| app.leader_settings.clone()).unwrap_or_default();
    let out = if key.is_empty() {
        Out::Value(Value::Object(
            settings.into_iter().map(|(key, value)| (key, Value::String(value))).collect(),
        ))
    } else {
        settings.get(&key).cloned().map_or(Out::Nil, Out::Str)
    };
    call.write(out)
}

fn leader_set(call: &mut Call) -> Result<(), Failure> {
    let settings = parse_key_values(&call.parsed.positional)?;
    let ctx = &mut *call.ctx;
    if !ctx.is_leader() {
        return Err(Failure::Runtime(
            "cannot write leadership settings: cannot write settings: not the leader".to_owned(),
        ));
    }
    let app = ctx.app().to_owned();
    if let Some(app) = ctx.model.app_mut(&app) {
        for (key, value) in settings {
            if value.is_empty() {
                app.leader_settings.remove(&key);
            } else {
                app.leader_settings.insert(key, value);
            }
        }
    }
    Ok(())
}

/// Validates `-s`: a well-formed storage id attached to the unit.
pub(crate) fn validate_storage_id(ctx: &HookContext, id: &str) -> Result<(), String> {
    let well_formed = id.split_once('/').is_some_and(|(name, number)| {
        !name.is_empty() && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
    });
    if !well_formed {
        return Err(format!("invalid storage ID {}", go_quote(id)));
    }
    let attached = ctx.model.unit(&ctx.unit).is_some_and(|unit| unit.storage.contains_key(id));
    if attached {
        Ok(())
    } else {
        Err(format!("storage instance {} not found", go_quote(id)))
    }
}

fn zero_or_one(args: &[String]) -> Result<Option<String>, Failure> {
    check_empty(args.get(1..).unwrap_or_default())?;
    Ok(args.first().cloned())
}

fn storage_get(call: &mut Call) -> Result<(), Failure> {
    let id = call
        .parsed
        .value("s")
        .map(str::to_owned)
        .or_else(|| call.ctx.hook.storage.clone())
        .ok_or_else(|| Failure::Usage("no storage instance specified".to_owned()))?;
    let key = zero_or_one(&call.parsed.positional)?;
    let attachment = call
        .ctx
        .model
        .unit(&call.ctx.unit)
        .and_then(|unit| unit.storage.get(&id).cloned())
        .ok_or_else(|| Failure::Runtime(format!("storage instance {} not found", go_quote(&id))))?;
    let values = json!({"kind": attachment.kind, "location": attachment.location});
    let out = match key.filter(|key| !key.is_empty()) {
        None => Out::Value(values),
        Some(key) => match values.get(&key) {
            Some(value) => out_of(value.clone()),
            None => return Err(Failure::Runtime(format!("invalid storage attribute {}", go_quote(&key)))),
        },
    };
    call.write(out)
}

fn storage_list(call: &mut Call) -> Result<(), Failure> {
    let name = zero_or_one(&call.parsed.positional)?.unwrap_or_default();
    let ids: Vec<String> = call
        .ctx
        .model
        .unit(&call.ctx.unit)
        .map(|unit| {
            unit.storage
                .keys()
                .filter(|id| name.is_empty() || id.split('/').next() == Some(name.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    call.write(Out::List(ids))
}

fn resource_get(call: &mut Call) -> Result<(), Failure> {
    let args = &call.parsed.positional;
    let Some(name) = args.first().cloned() else {
        return Err(Failure::Usage("missing required resource name".to_owned()));
    };
    check_empty(&args[1..])?;
    let ctx = &*call.ctx;
    let path =
        ctx.model.app(ctx.app()).and_then(|app| app.resources.get(&name).cloned()).ok_or_else(|| {
            Failure::Runtime(format!("could not download resource: resource {} not found", go_quote(&name)))
        })?;
    call.stdout.extend(path.display().to_string().bytes());
    Ok(())
}

fn credential_get(call: &mut Call) -> Result<(), Failure> {
    check_empty(&call.parsed.positional)?;
    let ctx = &*call.ctx;
    let trusted = ctx.model.app(ctx.app()).is_some_and(|app| app.trusted);
    if !trusted {
        return Err(Failure::Runtime("cannot access cloud credentials: permission denied".to_owned()));
    }
    let spec = ctx.model.cloud_spec.clone().unwrap_or_else(|| {
        json!({
            "type": "kubernetes",
            "name": "microk8s",
            "region": "localhost",
            "endpoint": "https://127.0.0.1:16443",
            "credential": {"auth-type": "certificate", "attrs": {}, "redacted": []},
            "cacertificates": [],
            "skip-tls-verify": false,
            "is-controller-cloud": false,
        })
    });
    call.write(Out::Value(spec))
}
