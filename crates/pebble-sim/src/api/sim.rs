//! `GET /v1/x-sim/requests`: NOT part of Pebble. Lists the requests answered so far
//! (`[{"method","path","status"}]`, oldest first) so out-of-process users can count them.

use std::sync::Arc;

use hyper::Method;
use serde_json::{json, Value};

use super::{allow, Request};
use crate::response::{ApiResult, Reply};
use crate::state::Shared;

pub fn requests(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::GET])?;
    let records: Vec<Value> = shared
        .lock()
        .requests
        .iter()
        .map(|r| json!({"method": r.method, "path": r.path, "status": r.status}))
        .collect();
    Ok(Reply::Sync(Value::Array(records)))
}
