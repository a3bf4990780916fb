//! `/v1/services`, `/v1/signals` and `/v1/logs`.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{allow, Request, DECODE_BODY, DECODE_DATA};
use crate::response::{bytes_response, ApiError, ApiResult, Reply};
use crate::services::{self as svc, Action};
use crate::state::Shared;
use crate::timefmt::rfc3339;

const DEFAULT_LOG_LINES: usize = 30;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServicesRequest {
    action: String,
    services: Vec<String>,
}

pub fn services(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::GET, Method::POST])?;
    if request.method == Method::GET {
        return Ok(Reply::Sync(list(shared, &request.query.list("names"))));
    }
    let body: ServicesRequest = request.json(DECODE_DATA)?;
    let action = Action::parse(&body.action)
        .ok_or_else(|| ApiError::bad_request(format!("invalid action {:?}", body.action)))?;
    let change = svc::begin(shared, action, &body.services)?;
    Ok(Reply::Async { change: change.to_string(), result: None })
}

fn list(shared: &Shared, names: &[String]) -> Value {
    let state = shared.lock();
    let infos: Vec<Value> = state
        .plan
        .combined()
        .services
        .iter()
        .filter(|(name, _)| names.is_empty() || names.contains(name))
        .map(|(name, service)| {
            let runtime = state.services.get(name);
            let mut info = Map::new();
            info.insert("name".into(), json!(name));
            let startup = if service.startup_enabled() { "enabled" } else { "disabled" };
            info.insert("startup".into(), json!(startup));
            let current = runtime.map(|r| r.current).unwrap_or_default();
            info.insert("current".into(), json!(current.as_str()));
            if let Some(since) = runtime.and_then(|r| r.since) {
                info.insert("current-since".into(), json!(rfc3339(since)));
            }
            Value::Object(info)
        })
        .collect();
    Value::Array(infos)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignalRequest {
    signal: String,
    services: Vec<String>,
}

pub fn signals(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::POST])?;
    let body: SignalRequest = request.json(DECODE_BODY)?;
    if body.services.is_empty() {
        return Err(ApiError::bad_request("must specify one or more services"));
    }
    svc::signal(shared, &body.services, &body.signal).map_err(ApiError::internal)?;
    Ok(Reply::Sync(Value::Bool(true)))
}

/// Buffered service output as ndjson (Process mode captures it; `follow` is not supported).
pub fn logs(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::GET])?;
    if request.query.get("follow") == Some("true") {
        return Err(ApiError::bad_request("follow is not supported by pebble-sim"));
    }
    let wanted = request.query.list("services");
    let limit = match request.query.get("n") {
        None | Some("") => Some(DEFAULT_LOG_LINES),
        Some(n) => match n.parse::<i64>() {
            Ok(n) if n < 0 => None,
            Ok(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(_) => return Err(ApiError::bad_request("n must be a valid integer")),
        },
    };
    let state = shared.lock();
    let entries: Vec<_> =
        state.logs.iter().filter(|e| wanted.is_empty() || wanted.contains(&e.service)).collect();
    let skip = limit.map_or(0, |n| entries.len().saturating_sub(n));
    let body: String = entries[skip..]
        .iter()
        .map(|e| {
            let line =
                json!({"time": rfc3339(e.time), "service": e.service, "message": format!("{}\n", e.message)});
            format!("{line}\n")
        })
        .collect();
    Ok(Reply::Raw(bytes_response(StatusCode::OK, "application/x-ndjson", Bytes::from(body))))
}
