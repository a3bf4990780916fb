//! `POST /v1/exec` (the websockets are routed to [`crate::exec::session::upgrade`]).

use std::sync::Arc;

use hyper::Method;

use super::{allow, Request, DECODE_BODY};
use crate::exec::ExecRequest;
use crate::response::{ApiResult, Reply};
use crate::state::Shared;

pub fn exec(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::POST])?;
    let body: ExecRequest = request.json(DECODE_BODY)?;
    let (change, result) = crate::exec::begin(shared, body)?;
    Ok(Reply::Async { change: change.to_string(), result: Some(result) })
}
