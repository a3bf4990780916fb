//! The secret tools: `secret-add`, `secret-get`, `secret-set`, `secret-grant`,
//! `secret-revoke`, `secret-remove`, `secret-ids`, `secret-info-get`.
//!
//! Owners (the owning unit, or any unit of the owning application) read the latest revision;
//! only the owning unit, or the leader for application-owned secrets, may change a secret.
//! Consumers need a grant, and are pinned to the revision they first read until `--refresh`.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::flags::Flag;
use super::format::{Format, Out};
use super::secret_content::{content_from_args, content_from_file};
use super::{check_empty, go_quote, Call, Failure, Tool, SMART, YAML_JSON};
use crate::context::HookContext;
use crate::model::{
    is_valid_app_name, is_valid_unit_name, Change, GrantTarget, Model, RotatePolicy, Secret, SecretConsumer,
    SecretOwner, SecretRevision, SecretUri,
};
use crate::time;

const NOT_LEADER: &str = "this unit is not the leader";

const UPSERT_FLAGS: &[Flag] = &[
    Flag::value(&["expire"], "either a duration or time when the secret should expire"),
    Flag::value(&["rotate"], "the secret rotation policy"),
    Flag::value(&["description"], "the secret description"),
    Flag::value(&["label"], "a label used to identify the secret in hooks"),
    Flag::value(&["file"], "a YAML file containing secret key values"),
    Flag::value(&["owner"], "the owner of the secret, either the application or unit"),
];

pub(crate) const ADD: Tool = Tool {
    name: "secret-add",
    args: "[key[#base64|#file]=value...]",
    purpose: "Add a new secret.",
    flags: UPSERT_FLAGS,
    output: None,
    run: add,
};

pub(crate) const SET: Tool = Tool {
    name: "secret-set",
    args: "<ID> [key[#base64]=value...]",
    purpose: "Update an existing secret.",
    flags: UPSERT_FLAGS,
    output: None,
    run: set,
};

pub(crate) const GET: Tool = Tool {
    name: "secret-get",
    args: "<ID> [key[#base64]]",
    purpose: "Get the content of a secret.",
    flags: &[
        Flag::value(&["label"], "a label used to identify the secret in hooks"),
        Flag::bool(&["peek"], "get the latest revision just this time"),
        Flag::bool(
            &["refresh"],
            "get the latest revision and also get this same revision for subsequent calls",
        ),
    ],
    output: Some((Format::Yaml, YAML_JSON)),
    run: get,
};

pub(crate) const GRANT: Tool = Tool {
    name: "secret-grant",
    args: "<ID>",
    purpose: "Grant access to a secret.",
    flags: &[
        Flag::value(&["unit"], "the unit to grant access"),
        Flag::value(&["r", "relation"], "the relation with which to associate the grant"),
    ],
    output: None,
    run: grant,
};

pub(crate) const REVOKE: Tool = Tool {
    name: "secret-revoke",
    args: "<ID>",
    purpose: "Revoke access to a secret.",
    flags: &[
        Flag::value(&["app", "application"], "the application to revoke access"),
        Flag::value(&["unit"], "the unit to revoke access"),
        Flag::value(&["r", "relation"], "the relation for which to revoke the grant"),
    ],
    output: None,
    run: revoke,
};

pub(crate) const REMOVE: Tool = Tool {
    name: "secret-remove",
    args: "<ID>",
    purpose: "remove a existing secret",
    flags: &[Flag::value(&["revision"], "remove the specified revision")],
    output: None,
    run: remove,
};

pub(crate) const IDS: Tool =
    Tool { name: "secret-ids", args: "", purpose: "Print secret IDs.", flags: &[], output: SMART, run: ids };

pub(crate) const INFO_GET: Tool = Tool {
    name: "secret-info-get",
    args: "<ID>",
    purpose: "Get a secret's metadata info.",
    flags: &[Flag::value(&["label"], "a label used to identify the secret")],
    output: Some((Format::Yaml, YAML_JSON)),
    run: info_get,
};

/// The parsed flags and content shared by `secret-add` and `secret-set`.
struct Upsert {
    label: Option<String>,
    description: Option<String>,
    expiry: Option<String>,
    rotate: Option<RotatePolicy>,
    owner: String,
    content: BTreeMap<String, String>,
}

fn parse_upsert(call: &Call, content_args: &[String]) -> Result<Upsert, Failure> {
    let parsed = &call.parsed;
    let non_empty = |name: &str| parsed.value(name).filter(|v| !v.is_empty()).map(str::to_owned);
    let expiry = match non_empty("expire") {
        None => None,
        Some(spec) => Some(parse_expiry(&spec).map_err(Failure::Usage)?),
    };
    let rotate = match non_empty("rotate") {
        None => None,
        Some(text) => Some(
            RotatePolicy::parse(&text)
                .ok_or_else(|| Failure::Usage(format!("rotate policy {} not valid", go_quote(&text))))?,
        ),
    };
    let owner = parsed.value("owner").unwrap_or("application").to_owned();
    if owner != "application" && owner != "unit" {
        return Err(Failure::Usage(format!("secret owner {} not valid", go_quote(&owner))));
    }
    let mut content = content_from_args(content_args).map_err(Failure::Usage)?;
    if let Some(file) = non_empty("file") {
        content.extend(content_from_file(&file).map_err(Failure::Usage)?);
    }
    Ok(Upsert {
        label: non_empty("label"),
        description: non_empty("description"),
        expiry,
        rotate,
        owner,
        content,
    })
}

fn parse_expiry(spec: &str) -> Result<String, String> {
    if let Some(secs) = time::parse_timestamp(spec, true) {
        return Ok(time::format_rfc3339(secs));
    }
    let duration = time::parse_go_duration(spec)
        .ok_or_else(|| format!("expire time or duration {} not valid", go_quote(spec)))?;
    if duration <= 0.0 {
        return Err(format!("negative expire duration {} not valid", go_quote(spec)));
    }
    Ok(time::format_rfc3339(time::now_secs() + duration as i64))
}

fn next_rotation(policy: Option<RotatePolicy>) -> Option<String> {
    let interval = policy?.interval_secs()?;
    Some(time::format_rfc3339(time::now_secs() + interval))
}

fn parse_uri(text: &str) -> Result<SecretUri, Failure> {
    SecretUri::parse(text).map_err(Failure::Usage)
}

/// Secrets this unit owns (directly or through its application), including pending ones.
fn owned<'m>(ctx: &HookContext, model: &'m Model) -> impl Iterator<Item = &'m Secret> {
    let unit = ctx.unit.clone();
    model.secrets.values().filter(move |secret| secret.owner.includes(&unit))
}

/// An owned secret this unit may change.
fn owned_for_update<'m>(ctx: &HookContext, model: &'m Model, id: &str) -> Result<&'m Secret, Failure> {
    let secret = owned(ctx, model)
        .find(|secret| secret.id == id)
        .ok_or_else(|| Failure::Runtime(format!("secret {} not found", go_quote(id))))?;
    if matches!(secret.owner, SecretOwner::Application(_)) && !ctx.is_leader() {
        return Err(Failure::Runtime(NOT_LEADER.to_owned()));
    }
    Ok(secret)
}

fn check_label_unique(
    ctx: &HookContext,
    model: &Model,
    label: Option<&str>,
    except: Option<&str>,
) -> Result<(), Failure> {
    let Some(label) = label else {
        return Ok(());
    };
    let taken = owned(ctx, model)
        .any(|secret| secret.label.as_deref() == Some(label) && Some(secret.id.as_str()) != except);
    if taken {
        return Err(Failure::Runtime(format!("secret with label {} already exists", go_quote(label))));
    }
    Ok(())
}

fn add(call: &mut Call) -> Result<(), Failure> {
    if call.parsed.positional.is_empty() && call.parsed.value("file").is_none_or(str::is_empty) {
        return Err(Failure::Usage("missing secret value or filename".to_owned()));
    }
    let upsert = parse_upsert(call, &call.parsed.positional.clone())?;
    let ctx = &mut *call.ctx;
    let owner = if upsert.owner == "unit" {
        SecretOwner::Unit(ctx.unit.clone())
    } else {
        if !ctx.is_leader() {
            return Err(Failure::Runtime(NOT_LEADER.to_owned()));
        }
        SecretOwner::Application(ctx.app().to_owned())
    };
    if upsert.content.is_empty() {
        return Err(Failure::Runtime("empty secret value not valid".to_owned()));
    }
    let model = ctx.effective_model();
    check_label_unique(ctx, &model, upsert.label.as_deref(), None)?;
    let uri = SecretUri::generate();
    let secret = Secret {
        id: uri.id.clone(),
        owner,
        label: upsert.label,
        description: upsert.description,
        expiry: upsert.expiry,
        rotate: upsert.rotate,
        next_rotation: next_rotation(upsert.rotate),
        revisions: vec![SecretRevision { revision: 1, content: upsert.content.into(), obsolete: false }],
        grants: Vec::new(),
        consumers: BTreeMap::new(),
    };
    ctx.pending.push(Change::SecretCreate { secret: Box::new(secret) });
    call.stdout.extend(format!("{uri}\n").bytes());
    Ok(())
}

fn set(call: &mut Call) -> Result<(), Failure> {
    let args = call.parsed.positional.clone();
    let Some(first) = args.first() else {
        return Err(Failure::Usage("missing secret URI".to_owned()));
    };
    let uri = parse_uri(first)?;
    let upsert = parse_upsert(call, &args[1..])?;
    let ctx = &mut *call.ctx;
    let model = ctx.effective_model();
    owned_for_update(ctx, &model, &uri.id)?;
    check_label_unique(ctx, &model, upsert.label.as_deref(), Some(&uri.id))?;
    ctx.pending.push(Change::SecretUpdate {
        id: uri.id,
        content: (!upsert.content.is_empty()).then(|| upsert.content.into()),
        label: upsert.label,
        description: upsert.description,
        expiry: upsert.expiry,
        rotate: upsert.rotate,
        next_rotation: next_rotation(upsert.rotate),
    });
    Ok(())
}

fn get(call: &mut Call) -> Result<(), Failure> {
    let (uri, mut args) = leading_uri(call)?;
    let label = call.parsed.value("label").filter(|label| !label.is_empty()).map(str::to_owned);
    let lookup = match (&uri, &label) {
        (Some(uri), label) => Lookup::Uri(uri, label.as_deref()),
        (None, Some(label)) => Lookup::Label(label),
        (None, None) => return Err(Failure::Usage("require either a secret URI or label".to_owned())),
    };
    let (peek, refresh) = (call.parsed.flag("peek"), call.parsed.flag("refresh"));
    if peek && refresh {
        return Err(Failure::Usage("specify one of --peek or --refresh but not both".to_owned()));
    }
    let key = if args.is_empty() {
        None
    } else {
        let key = args.remove(0);
        check_empty(&args)?;
        Some(key)
    };
    let content = read_content(call.ctx, lookup, peek, refresh)?;
    let out = match key {
        None => Out::Value(Value::Object(
            content.decoded().into_iter().map(|(key, value)| (key, Value::String(value))).collect(),
        )),
        Some(key) => {
            let (name, encoded) = match key.strip_suffix("#base64") {
                Some(name) => (name.to_owned(), true),
                None => (key.clone(), false),
            };
            let Some(value) = content.content.get(&name) else {
                return Err(Failure::Runtime(format!("key {} not found", go_quote(&name))));
            };
            if encoded {
                Out::Str(value.clone())
            } else {
                let bytes = STANDARD
                    .decode(value)
                    .map_err(|e| Failure::Runtime(format!("illegal base64 data: {e}")))?;
                Out::Str(String::from_utf8_lossy(&bytes).into_owned())
            }
        }
    };
    call.write(out)
}

/// How `secret-get` names the secret: by URI (optionally setting a label) or by label alone.
enum Lookup<'a> {
    Uri(&'a SecretUri, Option<&'a str>),
    Label(&'a str),
}

/// Resolves the secret and revision `secret-get` returns, updating consumer tracking and
/// labels immediately.
fn read_content(
    ctx: &mut HookContext,
    lookup: Lookup,
    peek: bool,
    refresh: bool,
) -> Result<SecretRevision, Failure> {
    let effective = ctx.effective_model();
    let unit = ctx.unit.clone();
    let (id, new_label) = match lookup {
        Lookup::Uri(uri, label) => (uri.id.clone(), label),
        Lookup::Label(label) => {
            let id = owned(ctx, &effective)
                .find(|secret| secret.label.as_deref() == Some(label))
                .or_else(|| {
                    effective.secrets.values().find(|secret| {
                        secret
                            .consumers
                            .get(&unit)
                            .is_some_and(|consumer| consumer.label.as_deref() == Some(label))
                    })
                })
                .map(|secret| secret.id.clone())
                .ok_or_else(|| Failure::Runtime(format!("consumer label {} not found", go_quote(label))))?;
            (id, None)
        }
    };
    let not_found = || Failure::Runtime(format!("secret {} not found", go_quote(&id)));
    let secret = effective.secrets.get(&id).ok_or_else(not_found)?;
    if secret.owner.includes(&unit) {
        let latest = secret.latest().cloned().ok_or_else(not_found)?;
        if let (Some(label), Some(committed)) = (new_label, ctx.model.secrets.get_mut(&id)) {
            committed.label = Some(label.to_owned());
        }
        return Ok(latest);
    }
    if !secret.can_view(&unit) {
        return Err(Failure::Runtime("permission denied".to_owned()));
    }
    let latest = secret.latest_revision();
    let committed = ctx.model.secrets.get_mut(&id).ok_or_else(not_found)?;
    let tracked = committed.consumers.get(&unit).map(|c| c.revision);
    let revision = match tracked {
        Some(tracked) if !peek && !refresh => tracked,
        _ => latest,
    };
    if !peek || new_label.is_some() {
        let consumer = committed.consumers.entry(unit).or_insert(SecretConsumer { revision, label: None });
        if !peek {
            consumer.revision = revision;
        }
        if let Some(label) = new_label {
            consumer.label = Some(label.to_owned());
        }
    }
    committed
        .revision(revision)
        .cloned()
        .ok_or_else(|| Failure::Runtime(format!("secret revision {revision} not found")))
}

fn grant(call: &mut Call) -> Result<(), Failure> {
    let args = call.parsed.positional.clone();
    let Some(first) = args.first() else {
        return Err(Failure::Usage("missing secret URI".to_owned()));
    };
    let uri = parse_uri(first)?;
    let relation_id = call.require_relation()?;
    let ctx = &*call.ctx;
    let relation = super::relation::visible(ctx, relation_id)
        .ok_or_else(|| Failure::Usage("relation not found".to_owned()))?;
    let remote_app = relation.remote_app(ctx.app()).unwrap_or_default().to_owned();
    let target = match call.parsed.value("unit").filter(|unit| !unit.is_empty()) {
        Some(unit) => {
            if !is_valid_unit_name(unit) {
                return Err(Failure::Usage(format!("unit {} not valid", go_quote(unit))));
            }
            if crate::model::app_of(unit) != remote_app {
                return Err(Failure::Usage(format!(
                    "cannot specify unit {} in relation to application {}",
                    go_quote(unit),
                    go_quote(&remote_app)
                )));
            }
            GrantTarget::Unit(unit.to_owned())
        }
        None => GrantTarget::Application(remote_app.clone()),
    };
    check_empty(&args[1..])?;
    let model = ctx.effective_model();
    let secret = owned_for_update(ctx, &model, &uri.id)?;
    if matches!(target, GrantTarget::Application(_))
        && secret.grants.iter().any(|grant| {
            matches!(&grant.target, GrantTarget::Unit(unit) if crate::model::app_of(unit) == remote_app)
        })
    {
        return Err(Failure::Runtime(
            "any unit level grants need to be revoked before granting access to the corresponding application"
                .to_owned(),
        ));
    }
    call.ctx.pending.push(Change::SecretGrant { id: uri.id, relation: relation_id, target });
    Ok(())
}

fn revoke(call: &mut Call) -> Result<(), Failure> {
    let args = call.parsed.positional.clone();
    let Some(first) = args.first() else {
        return Err(Failure::Usage("missing secret URI".to_owned()));
    };
    let uri = parse_uri(first)?;
    let mut app = call.parsed.value("app").unwrap_or_default().to_owned();
    let unit = call.parsed.value("unit").unwrap_or_default().to_owned();
    if !app.is_empty() && !is_valid_app_name(&app) {
        return Err(Failure::Usage(format!("application {} not valid", go_quote(&app))));
    }
    if !unit.is_empty() && !is_valid_unit_name(&unit) {
        return Err(Failure::Usage(format!("unit {} not valid", go_quote(&unit))));
    }
    if !app.is_empty() && !unit.is_empty() {
        return Err(Failure::Usage("specify only one of application or unit".to_owned()));
    }
    if let Some(relation_id) = call.relation_id() {
        let relation = super::relation::visible(call.ctx, relation_id)
            .ok_or_else(|| Failure::Usage("relation not found".to_owned()))?;
        if !app.is_empty() {
            return Err(Failure::Usage("do not specify both relation and app".to_owned()));
        }
        app = relation.remote_app(call.ctx.app()).unwrap_or_default().to_owned();
    }
    if app.is_empty() && unit.is_empty() {
        return Err(Failure::Usage("missing relation or application or unit".to_owned()));
    }
    check_empty(&args[1..])?;
    let ctx = &mut *call.ctx;
    let model = ctx.effective_model();
    owned_for_update(ctx, &model, &uri.id)?;
    let target = if unit.is_empty() { GrantTarget::Application(app) } else { GrantTarget::Unit(unit) };
    ctx.pending.push(Change::SecretRevoke { id: uri.id, target });
    Ok(())
}

fn remove(call: &mut Call) -> Result<(), Failure> {
    let args = call.parsed.positional.clone();
    let Some(first) = args.first() else {
        return Err(Failure::Usage("missing secret URI".to_owned()));
    };
    let uri = parse_uri(first)?;
    check_empty(&args[1..])?;
    let revision = call
        .parsed
        .value("revision")
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|revision| *revision > 0)
        .and_then(|revision| u32::try_from(revision).ok());
    let ctx = &mut *call.ctx;
    let model = ctx.effective_model();
    owned_for_update(ctx, &model, &uri.id)?;
    ctx.pending.push(Change::SecretRemove { id: uri.id, revision });
    Ok(())
}

fn ids(call: &mut Call) -> Result<(), Failure> {
    check_empty(&call.parsed.positional)?;
    let model = call.ctx.effective_model();
    let ids: Vec<String> = owned(call.ctx, &model).map(|secret| secret.id.clone()).collect();
    call.write(if ids.is_empty() { Out::Nil } else { Out::List(ids) })
}

fn info_get(call: &mut Call) -> Result<(), Failure> {
    let (uri, args) = leading_uri(call)?;
    let label = call.parsed.value("label").filter(|label| !label.is_empty()).map(str::to_owned);
    match (&uri, &label) {
        (None, None) => return Err(Failure::Usage("require either a secret URI or label".to_owned())),
        (Some(_), Some(_)) => {
            return Err(Failure::Usage("specify either a secret URI or label but not both".to_owned()))
        }
        _ => {}
    }
    check_empty(&args)?;
    let model = call.ctx.effective_model();
    let wanted = uri.as_ref().map_or_else(|| label.clone().unwrap_or_default(), |uri| uri.id.clone());
    let secret = owned(call.ctx, &model)
        .find(|secret| match &uri {
            Some(uri) => secret.id == uri.id,
            None => secret.label == label,
        })
        .ok_or_else(|| Failure::Runtime(format!("secret {} not found", go_quote(&wanted))))?;
    let mut info = Map::new();
    info.insert("revision".into(), Value::from(secret.latest_revision()));
    info.insert("label".into(), Value::String(secret.label.clone().unwrap_or_default()));
    info.insert("owner".into(), Value::String(secret.owner.kind().to_owned()));
    if let Some(description) = &secret.description {
        info.insert("description".into(), Value::String(description.clone()));
    }
    if let Some(rotate) = secret.rotate {
        info.insert("rotation".into(), Value::String(rotate.as_str().to_owned()));
    }
    if let Some(expiry) = &secret.expiry {
        info.insert("expiry".into(), Value::String(expiry.clone()));
    }
    if let Some(next) = &secret.next_rotation {
        info.insert("rotates".into(), Value::String(next.clone()));
    }
    let access: Vec<Value> = secret
        .grants
        .iter()
        .map(|grant| {
            let scope = model
                .relation(grant.relation_id)
                .map(|relation| format!("relation-{}", relation.key().replace(':', ".").replace(' ', "#")))
                .unwrap_or_default();
            serde_json::json!({"target": grant.target.tag(), "scope": scope, "role": "view"})
        })
        .collect();
    if !access.is_empty() {
        info.insert("access".into(), Value::Array(access));
    }
    let mut out = Map::new();
    out.insert(secret.id.clone(), Value::Object(info));
    call.write(Out::Value(Value::Object(out)))
}

/// The optional secret URI that leads the positional arguments, and the arguments after it.
fn leading_uri(call: &Call) -> Result<(Option<SecretUri>, Vec<String>), Failure> {
    let mut args = call.parsed.positional.clone();
    if args.is_empty() {
        return Ok((None, args));
    }
    let text = args.remove(0);
    let uri = SecretUri::parse(&text)
        .map_err(|_| Failure::Usage(format!("secret URI {} not valid", go_quote(&text))))?;
    Ok((Some(uri), args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_accepts_times_and_durations() {
        assert_eq!(parse_expiry("2030-01-01T00:00:00Z").unwrap(), "2030-01-01T00:00:00Z");
        assert_eq!(parse_expiry("2030-01-01T00:00:00").unwrap(), "2030-01-01T00:00:00Z");
        assert!(parse_expiry("24h").unwrap().ends_with('Z'));
        assert_eq!(parse_expiry("-1h").unwrap_err(), "negative expire duration \"-1h\" not valid");
        assert_eq!(parse_expiry("soon").unwrap_err(), "expire time or duration \"soon\" not valid");
    }
}
