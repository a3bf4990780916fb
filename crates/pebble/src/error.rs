//! The client's error type: one variant per way a Pebble call can fail.

use std::io;
use std::path::PathBuf;

use crate::changes::Change;

/// The result type of every client call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a Pebble call failed.
///
/// Errors never carry file contents, request bodies or exec standard input: those may be
/// secrets. [`Error::Exec`] keeps the tail of the command's standard error because that is
/// what a caller needs to diagnose the failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket is missing or refuses connections: the container is (re)starting.
    #[error("cannot connect to Pebble at {}: {source}", socket.display())]
    Connect {
        /// The unix socket that was dialled.
        socket: PathBuf,
        /// The error from `connect(2)`.
        #[source]
        source: io::Error,
    },
    /// The connection broke after it was established.
    #[error("connection to Pebble broke during {request}: {source}")]
    Transport {
        /// The request, as `METHOD /path?query`.
        request: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Pebble answered with an error envelope.
    #[error("Pebble API error {status_code} {status}: {message}")]
    Api {
        /// The HTTP status code, e.g. 400.
        status_code: u16,
        /// The HTTP status text, e.g. `Bad Request`.
        status: String,
        /// Pebble's message.
        message: String,
        /// Pebble's error kind, e.g. `not-found`; most errors have none.
        kind: Option<String>,
    },
    /// A file operation failed for one path.
    #[error("{path}: {message} ({kind})")]
    Path {
        /// The container path.
        path: String,
        /// Pebble's error kind: `not-found`, `permission-denied` or `generic-file-error`.
        kind: String,
        /// Pebble's message.
        message: String,
    },
    /// A change (service action or exec) finished with an error. For an exec whose output
    /// was still open [`EXEC_OUTPUT_GRACE`](crate::EXEC_OUTPUT_GRACE) after its timeout,
    /// `err` is the timeout error Pebble gives the change once the output closes, and
    /// `change` is the change as it was then (not ready yet).
    #[error("change {change_id} failed: {err}")]
    Change {
        /// The change id.
        change_id: String,
        /// The change's `err` text.
        err: String,
        /// The whole change, e.g. to inspect its tasks.
        change: Box<Change>,
    },
    /// A command run by [`Client::exec_checked`](crate::Client::exec_checked) exited non-zero.
    #[error("command {command:?} exited with code {exit_code}")]
    Exec {
        /// The command's argv.
        command: Vec<String>,
        /// The exit code (-1 when unknown).
        exit_code: i64,
        /// The tail of the command's standard error, decoded lossily.
        stderr: String,
    },
    /// A deadline passed.
    #[error("timed out waiting for {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
    },
    /// Pebble's answer could not be understood (HTTP, multipart, JSON, YAML or websocket).
    #[error("Pebble protocol error: {0}")]
    Protocol(String),
}

impl Error {
    /// Whether Pebble could not be reached at all, the case a charm reports as "waiting for
    /// Pebble" and retries on a later event.
    pub fn is_connection_error(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::Transport { .. })
    }

    /// Whether Pebble reported the error kind `not-found`.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Path { kind, .. } => kind == "not-found",
            Error::Api { kind, .. } => kind.as_deref() == Some("not-found"),
            _ => false,
        }
    }
}

/// A protocol error about the response to `request`.
pub(crate) fn protocol(request: &str, what: impl std::fmt::Display) -> Error {
    Error::Protocol(format!("{request}: {what}"))
}
