//! `/v1/notices` (add, list with long-poll) and `/v1/notices/{id}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::{timeout_at, Instant};

use super::{allow, Request, DECODE_BODY};
use crate::notices::{Filter, NewNotice};
use crate::response::{ApiError, ApiResult, Reply};
use crate::state::Shared;

/// Requests come from root over the socket.
const REQUEST_UID: u32 = 0;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct AddRequest {
    action: String,
    r#type: String,
    key: String,
    repeat_after: String,
    data: BTreeMap<String, String>,
}

pub async fn notices(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::GET, Method::POST])?;
    if request.method == Method::POST {
        return add(shared, request);
    }
    let filter = filter(request)?;
    let limit = match request.query.get("timeout").filter(|t| !t.is_empty()) {
        Some(text) => Some(
            crate::duration::parse(text)
                .map_err(|e| ApiError::bad_request(format!("invalid timeout: {e}")))?,
        ),
        None => None,
    };
    let deadline = limit.map(|l| Instant::now() + l);
    let mut updates = shared.watch_notices();
    loop {
        let found: Vec<Value> = {
            let mut state = shared.lock();
            state.record_change_notices();
            state.notices.list(&filter).iter().map(|n| n.to_json()).collect()
        };
        let Some(deadline) = deadline.filter(|_| found.is_empty()) else {
            return Ok(Reply::Sync(Value::Array(found)));
        };
        match timeout_at(deadline, updates.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return Ok(Reply::Sync(Value::Array(Vec::new()))),
        }
    }
}

fn filter(request: &Request) -> Result<Filter, ApiError> {
    let after = match request.query.get("after").filter(|a| !a.is_empty()) {
        Some(text) => Some(
            crate::timefmt::parse_rfc3339(text)
                .ok_or_else(|| ApiError::bad_request(format!("invalid \"after\" timestamp {text:?}")))?,
        ),
        None => None,
    };
    let user_id = match (request.query.get("users"), request.query.get("user-id")) {
        (Some("all"), _) => None,
        (Some(other), _) if !other.is_empty() => {
            return Err(ApiError::bad_request(format!("invalid users parameter {other:?} (must be \"all\")")))
        }
        (_, Some(uid)) if !uid.is_empty() => Some(
            uid.parse().map_err(|_| ApiError::bad_request(format!("invalid user-id parameter {uid:?}")))?,
        ),
        _ => Some(REQUEST_UID),
    };
    Ok(Filter { types: request.query.list("types"), keys: request.query.list("keys"), after, user_id })
}

fn add(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    let body: AddRequest = request.json(DECODE_BODY)?;
    if body.action != "add" {
        return Err(ApiError::bad_request(format!("invalid action {:?}", body.action)));
    }
    let repeat_after = match body.repeat_after.as_str() {
        "" => None,
        text => Some(
            crate::duration::parse(text)
                .map_err(|e| ApiError::bad_request(format!("invalid repeat-after {text:?}: {e}")))?,
        ),
    };
    let id = shared
        .lock()
        .notices
        .add(NewNotice {
            kind: body.r#type,
            key: body.key,
            data: body.data,
            repeat_after,
            user_id: Some(REQUEST_UID),
        })
        .map_err(ApiError::bad_request)?;
    shared.notices_changed();
    Ok(Reply::Sync(json!({"id": id.to_string()})))
}

pub fn notice(shared: &Arc<Shared>, request: &Request, id: &str) -> ApiResult {
    allow(&request.method, &[Method::GET])?;
    let not_found = || ApiError::not_found(format!("cannot find notice with ID {id:?}"));
    let id: u64 = id.parse().map_err(|_| not_found())?;
    let mut state = shared.lock();
    state.record_change_notices();
    let notice = state.notices.get(id).ok_or_else(not_found)?;
    Ok(Reply::Sync(notice.to_json()))
}
