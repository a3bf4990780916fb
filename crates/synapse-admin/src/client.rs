//! [`AdminClient`]: the admin API calls the charm's user actions make.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::mac::{registration_mac, RegistrationClaims};
use crate::transport::{decode, Failure, Method, Request, Transport};
use crate::user_id::{encode_path_segment, UserId};

/// Where Synapse listens as seen from the charm container, which shares the pod's network.
pub const DEFAULT_BASE_URL: &str = "http://localhost:8008";
/// How long establishing a connection may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one whole request may take; registration hashes a password, which is slow.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

const REGISTER_PATH: &str = "/_synapse/admin/v1/register";

/// A user created by [`AdminClient::register`].
#[derive(Debug)]
pub struct Registered {
    /// The full user id Synapse assigned, e.g. `@alice:example.com`.
    pub user_id: String,
    /// An access token for the new user.
    pub access_token: SecretString,
}

/// What the admin API reports about a user (`GET /_synapse/admin/v2/users/<user_id>`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserInfo {
    /// The full user id.
    pub name: String,
    /// Whether the user is a server admin.
    pub admin: bool,
    /// Whether the account is deactivated.
    pub deactivated: bool,
    /// Whether the account's data was erased on deactivation.
    #[serde(default)]
    pub erased: bool,
    /// The display name, if any.
    pub displayname: Option<String>,
}

/// A blocking client for one Synapse's admin API.
#[derive(Debug)]
pub struct AdminClient {
    transport: Transport,
}

impl AdminClient {
    /// A client for the Synapse at `base_url` (`http://host[:port]`) with the default timeouts.
    pub fn new(base_url: &str) -> Result<Self> {
        Self::with_timeouts(base_url, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT)
    }

    /// A client with explicit connect and whole-request timeouts.
    pub fn with_timeouts(
        base_url: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Self> {
        Ok(AdminClient { transport: Transport::new(base_url, connect_timeout, request_timeout)? })
    }

    /// The base URL, normalised to `http://host[:port]`.
    pub fn base_url(&self) -> &str {
        self.transport.base_url()
    }

    /// Synapse's version (`GET /_synapse/admin/v1/server_version`, no token needed).
    pub fn server_version(&self) -> Result<String> {
        #[derive(Deserialize)]
        struct Answer {
            server_version: String,
        }
        let request = Request::new(Method::Get, "/_synapse/admin/v1/server_version".to_owned());
        let answer: Answer = decode(&request, &self.transport.send(&request)?)?;
        Ok(answer.server_version)
    }

    /// Registers `user` with shared-secret registration: fetches a nonce, then posts the
    /// registration with its HMAC.
    ///
    /// Fails with [`Error::UserExists`] if the id is taken, [`Error::InvalidUsername`] if
    /// Synapse refuses the localpart, and [`Error::SharedSecretRejected`] if `shared_secret` is
    /// not Synapse's `registration_shared_secret`.
    pub fn register(
        &self,
        shared_secret: &SecretString,
        user: &UserId,
        password: &SecretString,
        admin: bool,
    ) -> Result<Registered> {
        #[derive(Deserialize)]
        struct Nonce {
            nonce: String,
        }
        #[derive(Deserialize)]
        struct Answer {
            user_id: String,
            access_token: SecretString,
        }

        let nonce_request = Request::new(Method::Get, REGISTER_PATH.to_owned());
        let Nonce { nonce } = decode(&nonce_request, &self.transport.send(&nonce_request)?)?;

        let claims = RegistrationClaims { nonce: &nonce, username: user.localpart(), password, admin };
        let mac = registration_mac(shared_secret, &claims);
        let mut request = Request::new(Method::Post, REGISTER_PATH.to_owned());
        request.body = Some(json!({
            "nonce": nonce,
            "username": user.localpart(),
            "password": password.expose_secret(),
            "admin": admin,
            "mac": mac.expose_secret(),
        }));
        request.secrets = vec![shared_secret.expose_secret(), password.expose_secret(), mac.expose_secret()];

        match self.transport.send(&request) {
            Ok(body) => {
                let Answer { user_id, access_token } = decode(&request, &body)?;
                Ok(Registered { user_id, access_token })
            }
            Err(Failure::Refused(refusal)) => Err(match refusal.errcode.as_str() {
                "M_USER_IN_USE" => Error::UserExists { user_id: user.to_string() },
                "M_INVALID_USERNAME" => {
                    Error::InvalidUsername { username: user.localpart().to_owned(), reason: refusal.error }
                }
                _ if refusal.status == 403 => Error::SharedSecretRejected,
                _ => refusal.into(),
            }),
            Err(Failure::Failed(error)) => Err(error),
        }
    }

    /// The user id that owns `token` (`GET /_matrix/client/v3/account/whoami`).
    pub fn whoami(&self, token: &SecretString) -> Result<String> {
        #[derive(Deserialize)]
        struct Answer {
            user_id: String,
        }
        let mut request = Request::new(Method::Get, "/_matrix/client/v3/account/whoami".to_owned());
        request.token = Some(token);
        let answer: Answer = decode(&request, &self.transport.send(&request)?)?;
        Ok(answer.user_id)
    }

    /// Whether `token` belongs to a server admin: `Ok(false)` when Synapse rejects the token
    /// or its user is not an admin, so the caller should register a new admin; an error only
    /// when the question could not be answered (e.g. Synapse is down).
    pub fn is_admin_token_valid(&self, token: &SecretString) -> Result<bool> {
        #[derive(Deserialize)]
        struct Answer {
            admin: bool,
        }
        let user_id = match self.whoami(token) {
            Ok(user_id) => user_id,
            Err(Error::Unauthorized { .. }) => return Ok(false),
            Err(error) => return Err(error),
        };
        // Reading the admin flag is itself an admin-only call.
        let mut request = Request::new(
            Method::Get,
            format!("/_synapse/admin/v1/users/{}/admin", encode_path_segment(&user_id)),
        );
        request.token = Some(token);
        match self.transport.send(&request).map_err(Error::from) {
            Ok(body) => Ok(decode::<Answer>(&request, &body)?.admin),
            Err(Error::Unauthorized { .. } | Error::Forbidden { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// What the admin API knows about `user`; [`Error::UserNotFound`] if there is no such user.
    pub fn get_user(&self, admin_token: &SecretString, user: &UserId) -> Result<UserInfo> {
        let mut request =
            Request::new(Method::Get, format!("/_synapse/admin/v2/users/{}", user.path_segment()));
        request.token = Some(admin_token);
        let body = self.transport.send(&request).map_err(|failure| user_failure(failure, user))?;
        decode(&request, &body)
    }

    /// Grants or revokes server admin rights (`PUT /_synapse/admin/v1/users/<user_id>/admin`).
    pub fn set_admin(&self, admin_token: &SecretString, user: &UserId, admin: bool) -> Result<()> {
        let mut request =
            Request::new(Method::Put, format!("/_synapse/admin/v1/users/{}/admin", user.path_segment()));
        request.token = Some(admin_token);
        request.body = Some(json!({ "admin": admin }));
        self.transport.send(&request).map_err(|failure| user_failure(failure, user))?;
        Ok(())
    }

    /// Deactivates `user`, also erasing their data (messages hidden from new room members,
    /// profile removed) when `erase` is set (`POST /_synapse/admin/v1/deactivate/<user_id>`).
    pub fn deactivate(&self, admin_token: &SecretString, user: &UserId, erase: bool) -> Result<()> {
        let mut request =
            Request::new(Method::Post, format!("/_synapse/admin/v1/deactivate/{}", user.path_segment()));
        request.token = Some(admin_token);
        request.body = Some(json!({ "erase": erase }));
        self.transport.send(&request).map_err(|failure| user_failure(failure, user))?;
        Ok(())
    }
}

/// Maps a failure of a call about `user`: a 404 means the user does not exist.
fn user_failure(failure: Failure, user: &UserId) -> Error {
    match failure {
        Failure::Refused(refusal) if refusal.is_not_found() => {
            Error::UserNotFound { user_id: user.to_string() }
        }
        other => other.into(),
    }
}
