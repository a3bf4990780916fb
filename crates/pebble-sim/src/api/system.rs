//! `/v1/system-info`, `/v1/plan` and `/v1/layers`.

use std::sync::Arc;

use hyper::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{allow, Request, DECODE_BODY};
use crate::response::{ApiError, ApiResult, Reply};
use crate::state::Shared;

pub fn system_info(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::GET])?;
    let boot_id = shared.lock().boot_id.clone();
    Ok(Reply::Sync(json!({"boot-id": boot_id, "version": crate::PEBBLE_VERSION})))
}

pub fn plan(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::GET])?;
    let format = request.query.get("format").unwrap_or_default();
    if format != "yaml" {
        return Err(ApiError::bad_request(format!("invalid format {format:?}")));
    }
    let yaml = shared.lock().plan.to_yaml();
    Ok(Reply::Sync(Value::String(yaml)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LayerRequest {
    action: String,
    combine: bool,
    label: String,
    format: String,
    layer: String,
}

pub fn layers(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::POST])?;
    let body: LayerRequest = request.json(DECODE_BODY)?;
    if body.action != "add" {
        return Err(ApiError::bad_request(format!("invalid action {:?}", body.action)));
    }
    if body.label.is_empty() {
        return Err(ApiError::bad_request("label must be set"));
    }
    if body.format != "yaml" {
        return Err(ApiError::bad_request(format!("invalid format {:?}", body.format)));
    }
    shared.lock().plan.add_layer(&body.label, &body.layer, body.combine).map_err(ApiError::bad_request)?;
    crate::checks::sync(shared);
    crate::logs::plan_changed(shared);
    Ok(Reply::Sync(Value::Bool(true)))
}
