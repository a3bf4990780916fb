//! The databag keys and values of the `s3` interface, as both s3-integrator tracks speak it
//! (`shared/specs/integrations.md` §3).
//!
//! - Track 1 (canonical/s3-integrator, `charms.data_platform_libs.v0.s3`): the requirer's
//!   leader writes `bucket`; the provider answers in its application bag, credentials in
//!   plain text.
//! - Track 2 (canonical/object-storage-integrators `s3/`, the s3 lib LIBAPI 1): the provider
//!   writes `lib-version` first and nothing else until the requirer wrote `lib-version` or
//!   `bucket`. A requirer that lists `requested-secrets` gets `access-key` and `secret-key`
//!   in one Juju secret whose URI is `secret-extra`; one that does not gets them in plain
//!   text, and then only the integrator's own `bucket` option (possibly none).
//!
//! Values are plain strings except `tls-ca-chain` (and track 1's `attributes`), which are JSON
//! lists inside the string: only those are parsed as JSON.

use std::fmt;

/// The interface name in `metadata.yaml`.
pub const INTERFACE: &str = "s3";
/// s3-integrator's endpoint (both tracks).
pub const PROVIDER_ENDPOINT: &str = "s3-credentials";

// The requirer's application bag (and, for `requested-secrets`, the leader's unit bag).

/// The bucket the requirer asks for. The v0 library generates `relation-<id>` when the
/// charm names none, which is what the Python Synapse charm sends.
pub const BUCKET: &str = "bucket";
/// The path (object prefix) the requirer asks for (track 2; optional).
pub const PATH: &str = "path";
/// The library version, `"1.0"` (track 2).
pub const LIB_VERSION: &str = "lib-version";
/// A JSON list of the fields the requirer wants in a secret (track 2).
pub const REQUESTED_SECRETS: &str = "requested-secrets";
/// The value of [`LIB_VERSION`] the track-2 library writes.
pub const LIB_VERSION_VALUE: &str = "1.0";
/// The fields a track-2 requirer asks to get in a secret.
pub const REQUESTED_SECRET_FIELDS: [&str; 2] = [ACCESS_KEY, SECRET_KEY];

// The provider's application bag.

/// The access key, in plain text (track 1; track 2 to a requirer without
/// `requested-secrets`), or a content key of the [`SECRET_EXTRA`] secret.
pub const ACCESS_KEY: &str = "access-key";
/// The secret key; like [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "secret-key";
/// The URI of the secret holding [`ACCESS_KEY`] and [`SECRET_KEY`] (track 2, to a requirer
/// that listed `requested-secrets`).
pub const SECRET_EXTRA: &str = "secret-extra";
/// The S3 endpoint URL (optional for AWS).
pub const ENDPOINT: &str = "endpoint";
/// The region (optional when an endpoint is given).
pub const REGION: &str = "region";
/// [`UriStyle`]; `host` when absent.
pub const S3_URI_STYLE: &str = "s3-uri-style";
/// A JSON list of PEM certificates the endpoint's certificate chains to.
pub const TLS_CA_CHAIN: &str = "tls-ca-chain";
/// Other keys the providers send, not used here: `storage-class`, `s3-api-version`,
/// `attributes`, `delete-older-than-days`, and `data` (track 1's snapshot of the requirer's
/// bag).
pub const STORAGE_CLASS: &str = "storage-class";
pub const S3_API_VERSION: &str = "s3-api-version";
pub const ATTRIBUTES: &str = "attributes";
pub const DELETE_OLDER_THAN_DAYS: &str = "delete-older-than-days";
pub const DATA: &str = "data";

/// How a bucket is addressed (`s3-uri-style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UriStyle {
    /// `path`: `https://<endpoint>/<bucket>/<key>` (most S3-compatible servers).
    Path,
    /// `host`: `https://<bucket>.<endpoint>/<key>`, the default (AWS).
    #[default]
    VirtualHost,
}

impl UriStyle {
    pub const ALL: [Self; 2] = [Self::Path, Self::VirtualHost];

    /// The wire value (exact, lower case).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|style| style.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::VirtualHost => "host",
        }
    }

    /// botocore's name for it (`s3.addressing_style`): `path` or `virtual`.
    pub fn addressing_style(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::VirtualHost => "virtual",
        }
    }
}

impl fmt::Display for UriStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
