//! A small blocking client for Synapse's admin API, as the charm's user actions use it:
//! shared-secret registration, `whoami`, promoting, looking up and deactivating users.
//!
//! ```no_run
//! use synapse_admin::{generate_password, AdminClient, UserId, DEFAULT_BASE_URL};
//! # fn run(shared_secret: synapse_admin::SecretString) -> synapse_admin::Result<()> {
//! let client = AdminClient::new(DEFAULT_BASE_URL)?;
//! let user = UserId::new("alice", "example.com")?;
//! let password = generate_password();
//! let admin = client.register(&shared_secret, &user, &password, true)?;
//! assert!(client.is_admin_token_valid(&admin.access_token)?);
//! # Ok(()) }
//! ```
//!
//! Errors never contain the shared secret, passwords, MACs or access tokens.

mod client;
mod error;
mod mac;
mod password;
mod transport;
mod user_id;

pub use client::{
    AdminClient, Registered, UserInfo, DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
};
pub use error::{Error, Result};
pub use password::{generate_password, PASSWORD_LENGTH};
pub use secrecy::SecretString;
pub use user_id::{validate_localpart, UserId, MAX_USER_ID_LENGTH};
