//! The [`Client`]: which socket it talks to, its timeouts, its request counter, and the
//! request/response plumbing the endpoint modules share.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::envelope::Envelope;
use crate::error::{protocol, Error, Result};
use crate::http::{read_response, ReadError, Request, Response};
use crate::transport::{is_timeout, DeadlineStream};

/// Environment variable overriding the directory holding the containers' Pebble sockets
/// (`<dir>/<container>/pebble.socket`); tests point it at a temporary directory.
pub const CONTAINERS_DIR_ENV: &str = "CHARM_CONTAINERS_DIR";
/// Where Juju mounts the workload containers' Pebble sockets in the charm container.
pub const DEFAULT_CONTAINERS_DIR: &str = "/charm/containers";
/// Default limit for one HTTP request, as in ops.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default limit for waiting on a change (service actions), as in ops.
pub const DEFAULT_CHANGE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) const JSON: &str = "application/json";

/// A synchronous Pebble client. Every request uses a fresh connection to the unix socket.
#[derive(Debug)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
    change_timeout: Duration,
    requests: AtomicU64,
}

impl Client {
    /// A client for the Pebble listening on `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
            timeout: DEFAULT_TIMEOUT,
            change_timeout: DEFAULT_CHANGE_TIMEOUT,
            requests: AtomicU64::new(0),
        }
    }

    /// A client for the workload container `name`: its socket is
    /// `$CHARM_CONTAINERS_DIR/<name>/pebble.socket`, the directory defaulting to
    /// [`DEFAULT_CONTAINERS_DIR`].
    pub fn for_container(name: &str) -> Client {
        let dir = std::env::var_os(CONTAINERS_DIR_ENV)
            .map_or_else(|| PathBuf::from(DEFAULT_CONTAINERS_DIR), PathBuf::from);
        Client::new(dir.join(name).join("pebble.socket"))
    }

    /// Sets the limit for one HTTP request (default 5 s). Change waits ask Pebble to wait
    /// one second less than this per request.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// Sets how long service actions wait for their change (default 30 s).
    pub fn with_change_timeout(mut self, timeout: Duration) -> Client {
        self.change_timeout = timeout;
        self
    }

    /// The socket this client connects to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The limit for one HTTP request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long service actions wait for their change.
    pub fn change_timeout(&self) -> Duration {
        self.change_timeout
    }

    /// How many HTTP requests (websocket upgrades included) this client has sent.
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The error for a failed `connect(2)` to the socket.
    pub(crate) fn connect_error(&self, source: std::io::Error) -> Error {
        Error::Connect { socket: self.socket.clone(), source }
    }

    /// Sends one request and reads the whole response.
    pub(crate) fn send(&self, request: &Request<'_>) -> Result<Response> {
        self.count_request();
        let describe = || format!("{} {}", request.method, request.target);
        let mut stream = DeadlineStream::connect(&self.socket, self.timeout)
            .map_err(|source| self.connect_error(source))?;
        let written = request.write_to(&mut stream);
        let mut reader = BufReader::new(stream);
        let response = match (read_response(&mut reader), written) {
            (Ok(response), _) => response,
            // A server may answer and close before reading a whole body: report the write error
            // only when there is no answer.
            (Err(_), Err(err)) | (Err(ReadError::Io(err)), Ok(())) => {
                return Err(if is_timeout(&err) {
                    Error::Timeout { what: format!("Pebble to answer {}", describe()) }
                } else {
                    Error::Transport { request: describe(), source: err }
                })
            }
            (Err(ReadError::Malformed(what)), Ok(())) => return Err(protocol(&describe(), what)),
        };
        tracing::debug!(
            method = request.method,
            target = request.target,
            status = response.status,
            "pebble request"
        );
        Ok(response)
    }

    /// Sends a JSON request (a GET when `body` is `None`) and decodes the envelope.
    fn call(&self, method: &'static str, target: &str, body: Option<Vec<u8>>) -> Result<Envelope> {
        let request = Request {
            method,
            target,
            content_type: body.as_ref().map(|_| JSON),
            accept: JSON,
            body: &[body.as_deref().unwrap_or_default()],
        };
        let response = self.send(&request)?;
        Envelope::decode(&format!("{method} {target}"), &response)
    }

    /// GETs `target` and returns its result as `T`.
    pub(crate) fn get<T: DeserializeOwned>(&self, target: &str) -> Result<T> {
        self.call("GET", target, None)?.into_result(&format!("GET {target}"))
    }

    /// POSTs `body` as JSON to `target` and returns the envelope (sync or async).
    pub(crate) fn post_envelope(&self, target: &str, body: &impl Serialize) -> Result<Envelope> {
        let json = serde_json::to_vec(body).map_err(|err| {
            protocol(&format!("POST {target}"), format_args!("cannot encode request: {err}"))
        })?;
        self.call("POST", target, Some(json))
    }

    /// POSTs `body` as JSON to `target` and returns the result as `T`.
    pub(crate) fn post<T: DeserializeOwned>(&self, target: &str, body: &impl Serialize) -> Result<T> {
        self.post_envelope(target, body)?.into_result(&format!("POST {target}"))
    }
}
