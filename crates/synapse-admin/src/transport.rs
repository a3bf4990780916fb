//! One JSON request to Synapse over plain HTTP: sending it, sorting transport failures from
//! refusals, reading Synapse's error envelope, and redacting the request's secrets from any
//! text kept for an error.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use ureq::http::{self, Uri};

use crate::error::{Error, Result};

/// Largest accepted response body; Synapse's admin answers are a few kilobytes.
const MAX_BODY: u64 = 1 << 20;
/// Most characters of a non-JSON error body kept in an error.
const MAX_ERROR_TEXT: usize = 200;
/// What replaces a secret in error text.
const REDACTED: &str = "[REDACTED]";

/// The HTTP methods the admin API needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// A request to send.
pub(crate) struct Request<'a> {
    pub method: Method,
    /// Path and query, already percent-encoded.
    pub path: String,
    /// Sent as `Authorization: Bearer`.
    pub token: Option<&'a SecretString>,
    /// A JSON body.
    pub body: Option<serde_json::Value>,
    /// Secret values carried by the body, redacted from error text like the token.
    pub secrets: Vec<&'a str>,
}

impl Request<'_> {
    pub fn new(method: Method, path: String) -> Self {
        Request { method, path, token: None, body: None, secrets: Vec::new() }
    }

    /// `METHOD /path`, as errors name the request.
    pub fn label(&self) -> String {
        format!("{} {}", self.method.as_str(), self.path)
    }

    fn redact(&self, text: &str) -> String {
        let token = self.token.map(|token| token.expose_secret());
        self.secrets
            .iter()
            .copied()
            .chain(token)
            .filter(|secret| !secret.is_empty())
            .fold(text.to_owned(), |text, secret| text.replace(secret, REDACTED))
    }
}

/// Synapse answered with an error status.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub request: String,
    pub status: u16,
    /// Synapse's `errcode`, empty if the answer had none.
    pub errcode: String,
    /// Synapse's `error`, redacted.
    pub error: String,
}

impl Refusal {
    /// Whether the thing addressed does not exist: HTTP 404, except `M_UNRECOGNIZED`, which
    /// means the endpoint itself is unknown. (Synapse answers `M_NOT_FOUND` from most user
    /// endpoints, but `M_UNKNOWN` "No row found" from `PUT .../admin`.)
    pub fn is_not_found(&self) -> bool {
        self.status == 404 && self.errcode != "M_UNRECOGNIZED"
    }
}

impl From<Refusal> for Error {
    /// The mapping for refusals that no endpoint treats specially.
    fn from(refusal: Refusal) -> Self {
        let Refusal { request, status, errcode, error } = refusal;
        if status == 401 || matches!(errcode.as_str(), "M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN") {
            let reason = if errcode.is_empty() { format!("HTTP {status}") } else { errcode };
            Error::Unauthorized { reason }
        } else if status == 403 {
            Error::Forbidden { request, error }
        } else {
            Error::Api { request, status, errcode, error }
        }
    }
}

/// Why a request did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Synapse answered with an error status.
    Refused(Refusal),
    /// Synapse did not answer usefully, or the request could not be sent.
    Failed(Error),
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Refused(refusal) => refusal.into(),
            Failure::Failed(error) => error,
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Failed(error)
    }
}

/// An HTTP agent bound to one Synapse.
#[derive(Debug)]
pub(crate) struct Transport {
    agent: ureq::Agent,
    base_url: String,
}

impl Transport {
    pub fn new(base_url: &str, connect_timeout: Duration, request_timeout: Duration) -> Result<Self> {
        let base_url = validate_base_url(base_url)?;
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(request_timeout))
            .http_status_as_error(false)
            // Synapse is local: never route through a proxy taken from the environment.
            .proxy(None)
            .max_redirects(0)
            .user_agent(concat!("synapse-admin-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Transport { agent, base_url })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends `request` and returns the body of a 2xx answer.
    pub fn send(&self, request: &Request<'_>) -> std::result::Result<Vec<u8>, Failure> {
        let url = format!("{}{}", self.base_url, request.path);
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(&url)
            .header("Accept", "application/json");
        if let Some(token) = request.token {
            builder = builder.header("Authorization", bearer(token)?);
        }
        let sent = match &request.body {
            Some(json) => {
                let bytes = serde_json::to_vec(json).expect("a JSON value always serializes");
                builder.header("Content-Type", "application/json").body(bytes).map(|req| self.agent.run(req))
            }
            None => builder.body(()).map(|req| self.agent.run(req)),
        };
        let protocol =
            |detail: String| Error::Protocol { request: request.label(), detail: request.redact(&detail) };
        let mut response = sent
            .map_err(|err| protocol(format!("cannot build the request: {err}")))?
            .map_err(|err| self.transport_error(request, &url, err))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|err| self.transport_error(request, &url, err))?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Failure::Refused(refusal(request, status, &body)))
        }
    }

    fn transport_error(&self, request: &Request<'_>, url: &str, err: ureq::Error) -> Error {
        let reason = request.redact(&err.to_string());
        match err {
            ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::BodyStalled => Error::SynapseUnavailable { url: url.to_owned(), reason },
            _ => Error::Protocol { request: request.label(), detail: reason },
        }
    }
}

/// The `Authorization` value for `token`, refusing tokens a header cannot carry.
fn bearer(token: &SecretString) -> Result<String> {
    let token = token.expose_secret();
    if token.is_empty() {
        return Err(Error::Unauthorized { reason: "the access token is empty".to_owned() });
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Unauthorized {
            reason: "the access token has characters an HTTP header cannot carry".to_owned(),
        });
    }
    Ok(format!("Bearer {token}"))
}

/// Reads Synapse's `{"errcode", "error"}` envelope, or keeps the start of any other body.
fn refusal(request: &Request<'_>, status: u16, body: &[u8]) -> Refusal {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        errcode: String,
        #[serde(default)]
        error: String,
    }
    let (errcode, error) = match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) => (envelope.errcode, envelope.error),
        Err(_) => (String::new(), String::from_utf8_lossy(body).chars().take(MAX_ERROR_TEXT).collect()),
    };
    Refusal {
        request: request.label(),
        status,
        errcode: request.redact(&errcode),
        error: request.redact(&error),
    }
}

/// Decodes a success body. The error names the missing field or the position, never a value:
/// answers such as registration's carry tokens.
pub(crate) fn decode<T: DeserializeOwned>(request: &Request<'_>, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|err| {
        let message = err.to_string();
        let detail = if message.starts_with("missing field") {
            message
        } else {
            format!(
                "invalid JSON ({:?} error at line {} column {})",
                err.classify(),
                err.line(),
                err.column()
            )
        };
        Error::Protocol { request: request.label(), detail }
    })
}

/// Accepts `http://host[:port]` with an optional trailing `/`, and returns it without the `/`.
fn validate_base_url(url: &str) -> Result<String> {
    let invalid = |reason: &'static str| Error::InvalidBaseUrl { url: url.to_owned(), reason };
    let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid("only plain http:// URLs are supported"));
    }
    let authority = uri.authority().ok_or(invalid("no host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("credentials in the URL are not supported"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(invalid("the URL must not have a path or query"));
    }
    Ok(format!("http://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_plain_http_origins() {
        assert_eq!(validate_base_url("http://localhost:8008").unwrap(), "http://localhost:8008");
        assert_eq!(validate_base_url("http://127.0.0.1:8008/").unwrap(), "http://127.0.0.1:8008");
        assert_eq!(validate_base_url("http://[::1]:8008").unwrap(), "http://[::1]:8008");
        for (url, reason) in [
            ("https://localhost:8008", "only plain http://"),
            ("localhost:8008", "only plain http://"),
            ("http://user:pw@localhost", "credentials"),
            ("http://localhost/_synapse", "path"),
            ("http://localhost/?a=b", "path or query"),
            ("http://local host", "not a URL"),
        ] {
            match validate_base_url(url) {
                Err(Error::InvalidBaseUrl { reason: got, .. }) => {
                    assert!(got.contains(reason), "{url}: {got}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn redaction_covers_the_token_and_body_secrets() {
        let token = SecretString::from("tok3n");
        let mut request = Request::new(Method::Post, "/x".to_owned());
        request.token = Some(&token);
        request.secrets = vec!["pa55", ""];
        assert_eq!(request.redact("a tok3n b pa55 c"), "a [REDACTED] b [REDACTED] c");
    }

    #[test]
    fn refusals_map_by_status_and_errcode() {
        let request = Request::new(Method::Get, "/x".to_owned());
        let error = |status, body: &str| Error::from(refusal(&request, status, body.as_bytes()));
        assert!(matches!(
            error(401, r#"{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid"}"#),
            Error::Unauthorized { reason } if reason == "M_UNKNOWN_TOKEN"
        ));
        assert!(matches!(error(401, "nope"), Error::Unauthorized { reason } if reason == "HTTP 401"));
        assert!(matches!(
            error(403, r#"{"errcode":"M_FORBIDDEN","error":"You are not a server admin"}"#),
            Error::Forbidden { error, .. } if error == "You are not a server admin"
        ));
        assert!(matches!(
            error(502, "<html>bad gateway</html>"),
            Error::Api { status: 502, errcode, error, .. } if errcode.is_empty() && error == "<html>bad gateway</html>"
        ));
    }

    #[test]
    fn a_404_is_not_found_unless_the_endpoint_is_unknown() {
        let request = Request::new(Method::Get, "/x".to_owned());
        let not_found = |status, body: &str| refusal(&request, status, body.as_bytes()).is_not_found();
        assert!(not_found(404, r#"{"errcode":"M_NOT_FOUND","error":"User not found"}"#));
        assert!(not_found(404, r#"{"errcode":"M_UNKNOWN","error":"No row found (users)"}"#));
        assert!(!not_found(404, r#"{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}"#));
        assert!(!not_found(400, r#"{"errcode":"M_NOT_FOUND","error":"x"}"#));
    }

    #[test]
    fn decode_errors_never_quote_values() {
        #[derive(Debug, Deserialize)]
        struct Answer {
            #[serde(rename = "count")]
            _count: u32,
        }
        let request = Request::new(Method::Get, "/x".to_owned());
        let wrong_type = decode::<Answer>(&request, br#"{"count":"s3cret-value"}"#).unwrap_err().to_string();
        assert!(!wrong_type.contains("s3cret"), "{wrong_type}");
        assert!(wrong_type.contains("line 1 column"), "{wrong_type}");
        let missing = decode::<Answer>(&request, b"{}").unwrap_err().to_string();
        assert!(missing.contains("missing field `count`"), "{missing}");
    }
}
