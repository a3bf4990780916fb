//! Routing of `/v1/...` requests to the endpoint handlers, request recording, and the
//! request helpers they share (query parameters, JSON bodies).

mod changes;
mod checks;
mod exec;
mod files;
mod notices;
mod services;
mod sim;
mod system;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{HeaderMap, Method};
use serde::de::DeserializeOwned;

use crate::response::{into_response, ApiError, ApiResult, HttpResponse};
use crate::state::{RequestRecord, Shared};

/// A request with its body read.
pub struct Request {
    pub method: Method,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    /// Decodes a JSON body; `prefix` is the endpoint's wording of the decode error.
    pub fn json<T: DeserializeOwned>(&self, prefix: &str) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::bad_request(format!("{prefix}: {e}")))
    }

    pub fn header(&self, name: hyper::header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Most endpoints' decode error wording.
pub const DECODE_BODY: &str = "cannot decode request body";
/// The wording of services, changes and checks.
pub const DECODE_DATA: &str = "cannot decode data from request body";

/// Decoded query parameters, in order, repeats kept.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = query
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key), percent_decode(value))
            })
            .collect();
        Query(pairs)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// Comma-separated values of every `name` parameter, empty items dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.all(name)
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Fails with 405 unless the method is one of `allowed`.
pub fn allow(method: &Method, allowed: &[Method]) -> Result<(), ApiError> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(method))
    }
}

/// Serves one HTTP request and records it.
pub async fn handle(shared: Arc<Shared>, request: hyper::Request<Incoming>) -> HttpResponse {
    let method = request.method().clone();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let response = match segments.as_slice() {
        ["v1", "tasks", task, "websocket", channel] => match allow(&method, &[Method::GET]) {
            Ok(()) => crate::exec::session::upgrade(&shared, request, task, channel)
                .unwrap_or_else(|e| into_response(Err(e))),
            Err(e) => into_response(Err(e)),
        },
        _ => {
            let query = Query::parse(request.uri().query());
            let (parts, body) = request.into_parts();
            let outcome = match body.collect().await {
                Ok(body) => {
                    let request = Request {
                        method: parts.method,
                        query,
                        headers: parts.headers,
                        body: body.to_bytes(),
                    };
                    dispatch(&shared, &segments, &request).await
                }
                Err(e) => Err(ApiError::bad_request(format!("cannot read request body: {e}"))),
            };
            into_response(outcome)
        }
    };
    shared.lock().requests.push(RequestRecord {
        method: method.to_string(),
        path: target,
        status: response.status().as_u16(),
    });
    response
}

async fn dispatch(shared: &Arc<Shared>, segments: &[&str], request: &Request) -> ApiResult {
    match segments {
        ["v1", "system-info"] => system::system_info(shared, request),
        ["v1", "plan"] => system::plan(shared, request),
        ["v1", "layers"] => system::layers(shared, request),
        ["v1", "services"] => services::services(shared, request),
        ["v1", "signals"] => services::signals(shared, request),
        ["v1", "logs"] => services::logs(shared, request),
        ["v1", "changes"] => changes::list(shared, request),
        ["v1", "changes", id] => changes::change(shared, request, id),
        ["v1", "changes", id, "wait"] => changes::wait(shared, request, id).await,
        ["v1", "files"] => files::files(shared, request),
        ["v1", "exec"] => exec::exec(shared, request),
        ["v1", "checks"] => checks::checks(shared, request),
        ["v1", "checks", "refresh"] => checks::refresh(shared, request).await,
        ["v1", "health"] => checks::health(shared, request),
        ["v1", "notices"] => notices::notices(shared, request).await,
        ["v1", "notices", id] => notices::notice(shared, request, id),
        ["v1", "x-sim", "requests"] => sim::requests(shared, request),
        _ => Err(ApiError::unknown_endpoint()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_parameters() {
        let query = Query::parse(Some("path=%2Fdata%2Fa+b&names=a,b&names=c&x"));
        assert_eq!(query.get("path"), Some("/data/a b"));
        assert_eq!(query.list("names"), ["a", "b", "c"]);
        assert_eq!(query.get("x"), Some(""));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
