//! The crate's error type: one variant per outcome a caller handles differently.
//!
//! No variant carries a shared secret, password, MAC or access token: request bodies and
//! headers are never copied into errors, and text taken from Synapse's answers has every
//! secret of the request replaced by `[REDACTED]` before it is stored.

/// The result type of every call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an admin API call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL given to [`AdminClient::new`](crate::AdminClient::new) is not a plain
    /// `http://host[:port]` URL.
    #[error("invalid Synapse URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Nothing answered: connection refused, timed out or broken. Synapse is not running (yet).
    #[error("Synapse is not running or not answering at {url}: {reason}")]
    SynapseUnavailable {
        /// The URL that was requested.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// Registration found the user id taken (`M_USER_IN_USE`).
    #[error("user {user_id} already exists")]
    UserExists {
        /// The user id.
        user_id: String,
    },
    /// The user the call is about does not exist (HTTP 404).
    #[error("user {user_id} does not exist")]
    UserNotFound {
        /// The user id.
        user_id: String,
    },
    /// The username breaks the user id grammar, checked locally or by Synapse
    /// (`M_INVALID_USERNAME`).
    #[error("invalid username {username:?}: {reason}")]
    InvalidUsername {
        /// The username (localpart) as given.
        username: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The server name breaks the spec's server name grammar.
    #[error("invalid server name {server_name:?}: {reason}")]
    InvalidServerName {
        /// The server name as given.
        server_name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// Shared-secret registration was refused because the MAC did not verify: the shared
    /// secret differs from Synapse's `registration_shared_secret`.
    #[error("Synapse rejected the registration shared secret")]
    SharedSecretRejected,
    /// The access token is unknown, expired or missing (HTTP 401, `M_UNKNOWN_TOKEN` or
    /// `M_MISSING_TOKEN`), or cannot even be sent.
    #[error("the access token is not valid: {reason}")]
    Unauthorized {
        /// Synapse's error code, or why the token could not be sent in a header.
        reason: String,
    },
    /// The token is valid but may not do this, typically because its user is not a server
    /// admin (HTTP 403).
    #[error("Synapse refused {request}: {error}")]
    Forbidden {
        /// The request, as `METHOD /path`.
        request: String,
        /// Synapse's message.
        error: String,
    },
    /// Any other error answer.
    #[error("Synapse answered {request} with HTTP {status} {errcode}: {error}")]
    Api {
        /// The request, as `METHOD /path`.
        request: String,
        /// The HTTP status code.
        status: u16,
        /// Synapse's error code, e.g. `M_UNKNOWN`; empty when the answer had none.
        errcode: String,
        /// Synapse's message, or the start of a non-JSON answer.
        error: String,
    },
    /// The answer could not be understood.
    #[error("unexpected answer from Synapse to {request}: {detail}")]
    Protocol {
        /// The request, as `METHOD /path`.
        request: String,
        /// What was wrong with the answer.
        detail: String,
    },
}
