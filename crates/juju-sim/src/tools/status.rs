//! `status-set`, `status-get` and `application-version-set` (all immediate).

use serde_json::{Map, Value};

use super::flags::Flag;
use super::format::{Format, Out};
use super::{check_empty, go_quote, Call, Failure, Tool, SMART};
use crate::model::StatusInfo;

const SETTABLE: [&str; 4] = ["maintenance", "blocked", "waiting", "active"];
const NOT_LEADER: &str = "this unit is not the leader";

pub(crate) const SET: Tool = Tool {
    name: "status-set",
    args: "<maintenance | blocked | waiting | active> [message]",
    purpose: "set status information",
    flags: &[Flag::bool(
        &["application"],
        "set this status for the application to which the unit belongs if the unit is the leader",
    )],
    output: None,
    run: set,
};

pub(crate) const GET: Tool = Tool {
    name: "status-get",
    args: "[--include-data] [--application]",
    purpose: "Print status information.",
    flags: &[
        Flag::bool(&["include-data"], "print all status data"),
        Flag::bool(
            &["application"],
            "print status for all units of this application if this unit is the leader",
        ),
    ],
    output: SMART,
    run: get,
};

pub(crate) const APPLICATION_VERSION_SET: Tool = Tool {
    name: "application-version-set",
    args: "<new-version>",
    purpose: "specify which version of the application is deployed",
    flags: &[],
    output: None,
    run: application_version_set,
};

fn set(call: &mut Call) -> Result<(), Failure> {
    let args = &call.parsed.positional;
    let Some(status) = args.first() else {
        return Err(Failure::Usage("invalid args, require <status> [message]".to_owned()));
    };
    if !SETTABLE.contains(&status.as_str()) {
        return Err(Failure::Usage(format!(
            "invalid status {}, expected one of [{}]",
            go_quote(status),
            SETTABLE.join(" ")
        )));
    }
    let message = args.get(1).cloned().unwrap_or_default();
    check_empty(args.get(2..).unwrap_or_default())?;
    let info = StatusInfo::new(status, &message);
    let ctx = &mut *call.ctx;
    if call.parsed.flag("application") {
        if !ctx.is_leader() {
            return Err(Failure::Runtime(NOT_LEADER.to_owned()));
        }
        let app = ctx.app().to_owned();
        if let Some(app) = ctx.model.app_mut(&app) {
            app.set_status(info);
        }
    } else {
        let unit = ctx.unit.clone();
        if let Some(unit) = ctx.model.unit_mut(&unit) {
            unit.set_status(info);
        }
    }
    Ok(())
}

fn details(info: &StatusInfo, include_data: bool) -> Map<String, Value> {
    let mut details = Map::new();
    details.insert("status".into(), Value::String(info.status.clone()));
    if include_data {
        details.insert("status-data".into(), Value::Object(info.data.clone().into_iter().collect()));
        details.insert("message".into(), Value::String(info.message.clone()));
    }
    details
}

fn get(call: &mut Call) -> Result<(), Failure> {
    check_empty(&call.parsed.positional)?;
    let include_data = call.parsed.flag("include-data");
    let smart_only_status = !include_data && call.format() == Format::Smart;
    let ctx = &*call.ctx;
    let out = if call.parsed.flag("application") {
        if !ctx.is_leader() {
            return Err(Failure::Runtime(format!("finding application status: {NOT_LEADER}")));
        }
        let app =
            ctx.model.app(ctx.app()).ok_or_else(|| Failure::Runtime("application not found".to_owned()))?;
        if smart_only_status {
            Out::Str(app.status.status.clone())
        } else {
            // hook-tools.md: `{"application-status": {...}, "units": {"app/0": {...}}}`.
            let units: Map<String, Value> = app
                .units
                .iter()
                .map(|unit| (unit.name.clone(), Value::Object(details(&unit.status, include_data))))
                .collect();
            let mut top = Map::new();
            top.insert("application-status".into(), Value::Object(details(&app.status, include_data)));
            top.insert("units".into(), Value::Object(units));
            Out::Value(Value::Object(top))
        }
    } else {
        let unit = ctx.model.unit(&ctx.unit).ok_or_else(|| Failure::Runtime("unit not found".to_owned()))?;
        if smart_only_status {
            Out::Str(unit.status.status.clone())
        } else {
            Out::Value(Value::Object(details(&unit.status, include_data)))
        }
    };
    call.write(out)
}

fn application_version_set(call: &mut Call) -> Result<(), Failure> {
    let args = &call.parsed.positional;
    let Some(version) = args.first().cloned() else {
        return Err(Failure::Usage("no version specified".to_owned()));
    };
    check_empty(&args[1..])?;
    let unit = call.ctx.unit.clone();
    if let Some(unit) = call.ctx.model.unit_mut(&unit) {
        unit.workload_version = version;
    }
    Ok(())
}
