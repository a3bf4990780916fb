//! The names on the wire: endpoint, secret labels, secret content keys and databag keys.
//! They must match `charms.synapse.v1.matrix_auth` (and v0 for the legacy registration path).

/// Default endpoint name on both sides.
pub const ENDPOINT: &str = "matrix-auth";
/// Interface name in `metadata.yaml`.
pub const INTERFACE: &str = "matrix_auth";

/// Provider-owned secret holding Synapse's `registration_shared_secret`.
pub const SHARED_SECRET_LABEL: &str = "shared-secret";
pub const SHARED_SECRET_CONTENT: &str = "shared-secret-content";
/// Provider-owned secret holding the Fernet key requirers encrypt their registration with.
pub const ENCRYPTION_KEY_LABEL: &str = "encryption-key-secret";
pub const ENCRYPTION_KEY_CONTENT: &str = "encryption-key-content";
/// Content key of the requirer-owned registration secret of v0 requirers.
pub const V0_REGISTRATION_CONTENT: &str = "app-registration-content";

/// Provider application bag: the homeserver URL and the two secret URIs.
pub const HOMESERVER_KEY: &str = "homeserver";
pub const SHARED_SECRET_ID_KEY: &str = "shared_secret_id";
pub const ENCRYPTION_KEY_SECRET_ID_KEY: &str = "encryption_key_secret_id";
/// Requirer application bag (v1): the Fernet token of the registration YAML.
pub const REGISTRATION_KEY: &str = "registration_secret";
/// Requirer application bag (v0): the URI of a requirer-owned secret with the YAML.
pub const V0_REGISTRATION_SECRET_ID_KEY: &str = "registration_secret_id";
