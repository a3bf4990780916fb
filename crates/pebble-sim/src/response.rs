//! Pebble's JSON response envelopes (`sync`, `async`, `error`) and the API error type.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::StatusCode;
use serde_json::{json, Map, Value};

pub type HttpResponse = hyper::Response<Full<Bytes>>;

/// An error answered as an `error` envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: Option<&'static str>,
    pub value: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), kind: None, value: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn with_kind(mut self, kind: &'static str) -> Self {
        self.kind = Some(kind);
        self
    }

    /// 404 for a path no endpoint serves.
    pub fn unknown_endpoint() -> Self {
        Self::not_found("invalid API endpoint requested")
    }

    /// 405 for a method an endpoint does not serve.
    pub fn method_not_allowed(method: &hyper::Method) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, format!("method {:?} not allowed", method.as_str()))
    }

    fn result(&self) -> Value {
        let mut result = Map::new();
        result.insert("message".into(), Value::String(self.message.clone()));
        if let Some(kind) = self.kind {
            result.insert("kind".into(), Value::String(kind.into()));
        }
        if let Some(value) = &self.value {
            result.insert("value".into(), value.clone());
        }
        Value::Object(result)
    }
}

/// A successful (or deliberately non-JSON) answer of an endpoint.
#[derive(Debug)]
pub enum Reply {
    /// `sync` envelope with HTTP 200.
    Sync(Value),
    /// `sync` envelope with another status (health answers 502 this way).
    SyncStatus(StatusCode, Value),
    /// `async` envelope (202) naming the change that carries out the request.
    Async { change: String, result: Option<Value> },
    /// A response built by the endpoint itself (multipart, websocket upgrade, ndjson).
    Raw(HttpResponse),
}

pub type ApiResult = Result<Reply, ApiError>;

/// Turns an endpoint outcome into the HTTP response.
pub fn into_response(outcome: ApiResult) -> HttpResponse {
    match outcome {
        Ok(Reply::Sync(result)) => envelope("sync", StatusCode::OK, Some(result), None),
        Ok(Reply::SyncStatus(status, result)) => envelope("sync", status, Some(result), None),
        // Pebble's async results are typed maps: a missing one still shows as `"result": null`.
        Ok(Reply::Async { change, result }) => {
            envelope("async", StatusCode::ACCEPTED, Some(result.unwrap_or(Value::Null)), Some(change))
        }
        Ok(Reply::Raw(response)) => response,
        Err(error) => envelope("error", error.status, Some(error.result()), None),
    }
}

/// The JSON text of a `sync` envelope (also used as the `response` part of a multipart read).
pub fn sync_json(result: Value) -> Value {
    envelope_value("sync", StatusCode::OK, Some(result), None)
}

fn envelope_value(kind: &str, status: StatusCode, result: Option<Value>, change: Option<String>) -> Value {
    let mut body = Map::new();
    body.insert("type".into(), json!(kind));
    body.insert("status-code".into(), json!(status.as_u16()));
    body.insert("status".into(), json!(status.canonical_reason().unwrap_or_default()));
    if let Some(change) = change {
        body.insert("change".into(), json!(change));
    }
    // A sync result of null is omitted; an async one is kept (see `into_response`).
    match result {
        Some(Value::Null) if kind != "async" => {}
        Some(result) => {
            body.insert("result".into(), result);
        }
        None => {}
    }
    Value::Object(body)
}

fn envelope(kind: &str, status: StatusCode, result: Option<Value>, change: Option<String>) -> HttpResponse {
    let body = envelope_value(kind, status, result, change).to_string();
    bytes_response(status, "application/json", Bytes::from(body))
}

/// A response with a body and its content type.
pub fn bytes_response(status: StatusCode, content_type: &str, body: Bytes) -> HttpResponse {
    let mut response = hyper::Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}
