//! `/v1/changes`, `/v1/changes/{id}` (get, abort) and `/v1/changes/{id}/wait`.

use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::{timeout_at, Instant};

use super::{allow, Request, DECODE_DATA};
use crate::response::{ApiError, ApiResult, Reply};
use crate::state::Shared;

pub fn list(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::GET])?;
    let select = request.query.get("select").unwrap_or_default();
    let wanted: fn(bool) -> bool = match select {
        "" | "in-progress" => |ready| !ready,
        "ready" => |ready| ready,
        "all" => |_| true,
        _ => return Err(ApiError::bad_request("select should be one of: all,in-progress,ready")),
    };
    let service = request.query.get("for").filter(|s| !s.is_empty());
    let state = shared.lock();
    let changes: Vec<Value> = state
        .changes
        .all()
        .filter(|c| wanted(c.is_ready()))
        .filter(|c| service.is_none_or(|s| c.acts_on(s)))
        .map(|c| c.to_json())
        .collect();
    Ok(Reply::Sync(Value::Array(changes)))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("cannot find change with id {id:?}"))
}

fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| not_found(id))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChangeAction {
    action: String,
}

pub fn change(shared: &Arc<Shared>, request: &Request, id: &str) -> ApiResult {
    allow(&request.method, &[Method::GET, Method::POST])?;
    let change_id = parse_id(id)?;
    if request.method == Method::POST {
        let body: ChangeAction = request.json(DECODE_DATA)?;
        if body.action != "abort" {
            return Err(ApiError::bad_request(format!("change action {:?} is unsupported", body.action)));
        }
        if shared.lock().changes.get(change_id).is_none() {
            return Err(not_found(id));
        }
        shared.update_changes(|changes| changes.abort(change_id)).map_err(ApiError::bad_request)?;
    }
    let state = shared.lock();
    let change = state.changes.get(change_id).ok_or_else(|| not_found(id))?;
    Ok(Reply::Sync(change.to_json()))
}

/// Long-polls until the change is ready, or answers 504 after `timeout`.
pub async fn wait(shared: &Arc<Shared>, request: &Request, id: &str) -> ApiResult {
    allow(&request.method, &[Method::GET])?;
    let change_id = parse_id(id)?;
    let limit = match request.query.get("timeout").filter(|t| !t.is_empty()) {
        Some(text) => Some(
            crate::duration::parse(text)
                .map_err(|e| ApiError::bad_request(format!("invalid timeout: {e}")))?,
        ),
        None => None,
    };
    let deadline = limit.map(|l| Instant::now() + l);
    let mut updates = shared.watch_changes();
    loop {
        {
            let state = shared.lock();
            let change = state.changes.get(change_id).ok_or_else(|| not_found(id))?;
            if change.is_ready() {
                return Ok(Reply::Sync(change.to_json()));
            }
        }
        let changed = match deadline {
            Some(deadline) => timeout_at(deadline, updates.changed()).await,
            None => Ok(updates.changed().await),
        };
        match changed {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(ApiError::internal("simulator is shutting down")),
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "timed out waiting for change after {}",
                        crate::duration::format(limit.unwrap_or_default())
                    ),
                ))
            }
        }
    }
}
