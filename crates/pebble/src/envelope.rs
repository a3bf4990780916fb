//! Pebble's JSON response envelope (`sync`, `async`, `error`), with error envelopes mapped
//! to [`Error::Api`].

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{protocol, Error, Result};
use crate::http::Response;

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    result: Value,
    change: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResult {
    #[serde(default)]
    message: String,
    kind: Option<String>,
}

/// A successful (`sync` or `async`) envelope.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub result: Value,
    /// The change id of an `async` response.
    pub change: Option<String>,
}

impl Envelope {
    /// Decodes `response`; error envelopes (and non-JSON error responses) become errors.
    pub fn decode(request: &str, response: &Response) -> Result<Envelope> {
        Envelope::decode_parts(request, response.status, &response.reason, &response.body)
    }

    /// Decodes a response given as status code, reason phrase and body.
    pub fn decode_parts(request: &str, status: u16, reason: &str, body: &[u8]) -> Result<Envelope> {
        let raw: RawEnvelope = match serde_json::from_slice(body) {
            Ok(raw) => raw,
            Err(_) if status >= 400 => {
                return Err(Error::Api {
                    status_code: status,
                    status: reason.to_owned(),
                    message: format!("non-JSON error response of {} bytes", body.len()),
                    kind: None,
                })
            }
            Err(err) => return Err(json_error(request, &err)),
        };
        // Pebble's health endpoint answers 502 with a `sync` envelope.
        if raw.kind == "error" || (status >= 400 && raw.kind != "sync") {
            let details = ErrorResult::deserialize(&raw.result)
                .unwrap_or(ErrorResult { message: String::new(), kind: None });
            return Err(Error::Api {
                status_code: status,
                status: reason.to_owned(),
                message: details.message,
                kind: details.kind.filter(|kind| !kind.is_empty()),
            });
        }
        Ok(Envelope { result: raw.result, change: raw.change })
    }

    /// The result as `T`.
    pub fn into_result<T: DeserializeOwned>(self, request: &str) -> Result<T> {
        T::deserialize(self.result).map_err(|err| json_error(request, &err))
    }

    /// The change id of an `async` response.
    pub fn into_change_id(self, request: &str) -> Result<String> {
        self.change.ok_or_else(|| protocol(request, "expected an async response with a change id"))
    }
}

/// Describes a JSON error without quoting values: serde messages can contain the offending
/// value, which may be secret.
pub(crate) fn json_error(request: &str, err: &serde_json::Error) -> Error {
    let message = err.to_string();
    let summary = message.split([':', '"']).next().unwrap_or_default().trim_end_matches(" at line").trim();
    if err.line() == 0 {
        protocol(request, format_args!("unexpected JSON ({summary})"))
    } else {
        protocol(
            request,
            format_args!("malformed JSON ({summary}) at line {} column {}", err.line(), err.column()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::read_response;

    fn response(status_line: &str, body: &str) -> Response {
        let raw = format!(
            "HTTP/1.1 {status_line}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        read_response(&mut raw.as_bytes()).unwrap()
    }

    #[test]
    fn decodes_sync_results() {
        let envelope = Envelope::decode(
            "GET /v1/system-info",
            &response(
                "200 OK",
                r#"{"type":"sync","status-code":200,"status":"OK","result":{"version":"v1.10.0"}}"#,
            ),
        )
        .unwrap();
        assert_eq!(envelope.change, None);
        let result: Value = envelope.into_result("GET /v1/system-info").unwrap();
        assert_eq!(result["version"], "v1.10.0");
    }

    #[test]
    fn decodes_async_change_ids() {
        let envelope = Envelope::decode(
            "POST /v1/services",
            &response(
                "202 Accepted",
                r#"{"type":"async","status-code":202,"status":"Accepted","change":"42"}"#,
            ),
        )
        .unwrap();
        assert_eq!(envelope.result, Value::Null);
        assert_eq!(envelope.into_change_id("POST /v1/services").unwrap(), "42");
    }

    #[test]
    fn maps_error_envelopes_with_and_without_kind() {
        let err = Envelope::decode(
            "POST /v1/services",
            &response(
                "400 Bad Request",
                r#"{"type":"error","status-code":400,"status":"Bad Request","result":{"message":"no default services","kind":"no-default-services"}}"#,
            ),
        )
        .unwrap_err();
        match err {
            Error::Api { status_code, status, message, kind } => {
                assert_eq!(status_code, 400);
                assert_eq!(status, "Bad Request");
                assert_eq!(message, "no default services");
                assert_eq!(kind.as_deref(), Some("no-default-services"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = Envelope::decode(
            "GET /v1/nope",
            &response(
                "404 Not Found",
                r#"{"type":"error","status-code":404,"status":"Not Found","result":{"message":"invalid API endpoint requested"}}"#,
            ),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Api { status_code: 404, kind: None, ref message, .. } if message == "invalid API endpoint requested")
        );
    }

    #[test]
    fn keeps_sync_envelopes_with_error_status() {
        let envelope = Envelope::decode(
            "GET /v1/health",
            &response(
                "502 Bad Gateway",
                r#"{"type":"sync","status-code":502,"status":"Bad Gateway","result":{"healthy":false}}"#,
            ),
        )
        .unwrap();
        assert_eq!(envelope.result["healthy"], false);
    }

    #[test]
    fn maps_non_json_errors_and_rejects_non_json_successes() {
        let err = Envelope::decode("GET /v1/x", &response("503 Service Unavailable", "<html>")).unwrap_err();
        assert!(matches!(err, Error::Api { status_code: 503, .. }));
        let err = Envelope::decode("GET /v1/x", &response("200 OK", "secret-value")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("GET /v1/x") && message.contains("line 1"), "{message}");
        assert!(!message.contains("secret-value"));
    }

    #[test]
    fn json_errors_do_not_quote_values() {
        let envelope = Envelope::decode(
            "GET /v1/x",
            &response("200 OK", r#"{"type":"sync","result":{"count":"hunter2"}}"#),
        )
        .unwrap();
        let message = envelope
            .into_result::<std::collections::BTreeMap<String, u32>>("GET /v1/x")
            .unwrap_err()
            .to_string();
        assert!(message.contains("invalid type"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}
