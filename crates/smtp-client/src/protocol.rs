//! The databag keys and values of the `smtp` interface (`charms.smtp_integrator.v0.smtp`,
//! LIBPATCH 21).
//!
//! Everything is written by the provider, in its application bag; the requirer publishes
//! nothing. Keys use underscores. smtp-integrator replaces the whole bag whenever its content
//! changes, so a key that is gone was removed on purpose.

use std::fmt;

/// The interface name in `metadata.yaml`.
pub const INTERFACE: &str = "smtp";
/// The endpoint name Synapse uses.
pub const ENDPOINT: &str = "smtp";
/// smtp-integrator's endpoint delivering the password as a Juju secret (`password_id`).
pub const PROVIDER_ENDPOINT: &str = "smtp";
/// smtp-integrator's endpoint delivering the password in plain text (`password`).
pub const PROVIDER_LEGACY_ENDPOINT: &str = "smtp-legacy";

/// The relay's host name or IP address. Required.
pub const HOST: &str = "host";
/// The relay's port, decimal digits. Required.
pub const PORT: &str = "port";
/// [`AuthType`]. Required.
pub const AUTH_TYPE: &str = "auth_type";
/// [`TransportSecurity`]. Required.
pub const TRANSPORT_SECURITY: &str = "transport_security";
/// A Python boolean literal, `True` or `False`. Always written by smtp-integrator.
pub const SKIP_SSL_VERIFY: &str = "skip_ssl_verify";
/// The SMTP AUTH user. Optional.
pub const USER: &str = "user";
/// The SMTP AUTH password in plain text: only on `smtp-legacy` (or from old providers).
pub const PASSWORD: &str = "password";
/// The URI of the Juju secret holding the password (content key [`SECRET_PASSWORD`]): on
/// `smtp`. Either smtp-integrator's own secret, granted to the relation, or a user secret the
/// operator must grant to the requirer application.
pub const PASSWORD_ID: &str = "password_id";
/// The mail domain. Optional.
pub const DOMAIN: &str = "domain";
/// The sender address. Optional (newer patches only).
pub const SMTP_SENDER: &str = "smtp_sender";
/// A JSON list of e-mail addresses. Optional (newer patches only).
pub const RECIPIENTS: &str = "recipients";

/// The content key of the `password_id` secret.
pub const SECRET_PASSWORD: &str = "password";

/// How the requirer authenticates to the relay (`auth_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// `none`
    None,
    /// `not_provided`
    NotProvided,
    /// `plain`
    Plain,
}

impl AuthType {
    pub const ALL: [Self; 3] = [Self::None, Self::NotProvided, Self::Plain];

    /// The wire value (exact, lower case, as the Python enum's value).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|value| value.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::NotProvided => "not_provided",
            Self::Plain => "plain",
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the connection to the relay is secured (`transport_security`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportSecurity {
    /// `none`: plain text.
    None,
    /// `starttls`: upgrade a plain connection.
    StartTls,
    /// `tls`: TLS from the start (implicit TLS).
    Tls,
}

impl TransportSecurity {
    pub const ALL: [Self; 3] = [Self::None, Self::StartTls, Self::Tls];

    /// The wire value (exact, lower case, as the Python enum's value).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|value| value.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::StartTls => "starttls",
            Self::Tls => "tls",
        }
    }
}

impl fmt::Display for TransportSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
