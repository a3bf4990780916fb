//! The databag keys and secret content keys of `postgresql_client` (data_interfaces v0).

/// The requirer's database name; its first appearance is what makes the provider act.
pub const DATABASE: &str = "database";
/// Comma-separated roles for the provider's user. The provider refuses changes to it.
pub const EXTRA_USER_ROLES: &str = "extra-user-roles";
/// The JSON list of fields the provider must put in Juju secrets.
pub const REQUESTED_SECRETS: &str = "requested-secrets";

/// What the current Python requirer (LIBPATCH 59) requests; the provider groups them into
/// `secret-user`, `secret-tls` and `secret-entity`.
pub const REQUESTED_SECRET_FIELDS: [&str; 8] =
    ["username", "password", "tls", "tls-ca", "uris", "read-only-uris", "entity-name", "entity-password"];

/// `host:port[,host:port...]` of the primary.
pub const ENDPOINTS: &str = "endpoints";
/// `host:port[,...]` of the replicas (the primary when there are none).
pub const READ_ONLY_ENDPOINTS: &str = "read-only-endpoints";
/// The server version, e.g. `16.9`.
pub const VERSION: &str = "version";

/// Credential fields: in the `user` secret group, or plain in the provider's bag.
pub const USERNAME: &str = "username";
pub const PASSWORD: &str = "password";
pub const URIS: &str = "uris";
pub const READ_ONLY_URIS: &str = "read-only-uris";

/// TLS fields: in the `tls` secret group, or plain in the provider's bag.
pub const TLS: &str = "tls";
pub const TLS_CA: &str = "tls-ca";
