//! `/v1/checks`, `/v1/checks/refresh` and `/v1/health`.

use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{allow, Request, DECODE_DATA};
use crate::checks::{self as chk, CheckStatus};
use crate::response::{ApiError, ApiResult, Reply};
use crate::state::Shared;

fn level(request: &Request) -> Result<Option<&str>, ApiError> {
    match request.query.get("level") {
        None | Some("") => Ok(None),
        Some(level @ ("alive" | "ready")) => Ok(Some(level)),
        Some(_) => Err(ApiError::bad_request("level must be \"alive\" or \"ready\"")),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChecksRequest {
    action: String,
    checks: Vec<String>,
}

pub fn checks(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::GET, Method::POST])?;
    if request.method == Method::GET {
        let level = level(request)?;
        let names = request.query.list("names");
        let state = shared.lock();
        let infos: Vec<Value> = chk::names(&state, level)
            .iter()
            .filter(|n| names.is_empty() || names.contains(n))
            .filter_map(|n| chk::to_json(&state, n))
            .collect();
        return Ok(Reply::Sync(Value::Array(infos)));
    }
    let body: ChecksRequest = request.json(DECODE_DATA)?;
    let active = match body.action.as_str() {
        "start" => true,
        "stop" => false,
        other => return Err(ApiError::bad_request(format!("invalid action {other:?}"))),
    };
    if body.checks.is_empty() {
        return Err(ApiError::bad_request(format!("must specify checks for {} action", body.action)));
    }
    let changed = chk::set_active(shared, &body.checks, active)
        .map_err(|e| ApiError::bad_request(format!("cannot {} checks: {e}", body.action)))?;
    // Pebble's list of changed checks is a Go slice: nil, so `null`, when nothing changed.
    let changed = if changed.is_empty() { Value::Null } else { json!(changed) };
    Ok(Reply::Sync(json!({"changed": changed})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RefreshRequest {
    name: String,
}

pub async fn refresh(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::POST])?;
    let body: RefreshRequest = request.json(DECODE_DATA)?;
    if body.name.is_empty() {
        return Err(ApiError::bad_request("must specify check name"));
    }
    let (info, error) = chk::refresh(shared, &body.name)
        .await
        .ok_or_else(|| ApiError::not_found(format!("cannot find check {:?}", body.name)))?;
    let mut result = json!({"info": info});
    if let (Some(error), Some(object)) = (error, result.as_object_mut()) {
        object.insert("error".into(), json!(error));
    }
    Ok(Reply::Sync(result))
}

/// Healthy unless a matching check is down; `level=alive` looks at alive checks only,
/// `level=ready` at every check (a dead service is not ready either).
pub fn health(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::GET])?;
    let level = level(request)?;
    let names = request.query.list("names");
    let state = shared.lock();
    let alive_only = level == Some("alive");
    let healthy = chk::names(&state, alive_only.then_some("alive"))
        .iter()
        .filter(|n| names.is_empty() || names.contains(n))
        .all(|n| chk::status(&state, n) != Some(CheckStatus::Down));
    let status = if healthy { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
    Ok(Reply::SyncStatus(status, json!({"healthy": healthy})))
}
