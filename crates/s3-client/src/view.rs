//! The provider's side of one relation, as every requirer unit reads it.
//!
//! [`S3View::read`] makes one `relation-get` of the provider's application bag and checks it;
//! when it names a `secret-extra` secret (track 2), the keys come from that secret, read with
//! `--refresh` (its latest revision, which this unit then tracks) so that rotated keys are
//! seen in the `secret-changed` hook that announces them; otherwise from the plain
//! `access-key` and `secret-key`. Incomplete or malformed provider data, and a secret this
//! application may not read, are [`S3View::NotReady`] with the reason, never an error.

use std::fmt;

use juju::{
    Databag, HookToolError, HookTools, ReadMode, RedactedCommand, RelationId, SecretRef, SecretUri,
    ToolErrorKind,
};
use secrecy::{ExposeSecret, SecretString};

use crate::protocol::{
    UriStyle, ACCESS_KEY, BUCKET, DATA, ENDPOINT, LIB_VERSION, PATH, REGION, S3_URI_STYLE, SECRET_EXTRA,
    SECRET_KEY, TLS_CA_CHAIN,
};

/// Everything needed to reach the bucket. `Debug` shows no key.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    pub access_key: SecretString,
    pub secret_key: SecretString,
    pub region: Option<String>,
    /// The endpoint URL (`http://` or `https://`), when not AWS's default.
    pub endpoint: Option<String>,
    /// The object prefix in the bucket, as published (empty: none).
    pub path: String,
    pub s3_uri_style: UriStyle,
    /// PEM certificates the endpoint's certificate chains to; empty: the system's CAs.
    pub tls_ca_chain: Vec<String>,
    /// The `secret-extra` secret the keys came from (track 2); `None` for plain keys. Match
    /// `secret-changed` against it with [`Self::uses_secret`].
    pub credentials_secret: Option<SecretUri>,
}

impl S3Settings {
    /// Whether `id` (from `secret-changed`) is the secret the keys came from, by unique id.
    pub fn uses_secret(&self, id: &SecretUri) -> bool {
        self.credentials_secret.as_ref().is_some_and(|own| own.same_secret(id))
    }
}

/// Why the provider's data is not usable (yet). Nothing here is an error of this unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The relation is gone (read during its teardown, or an unknown id).
    RelationGone,
    /// The remote application is not known yet.
    ProviderUnknown,
    /// The provider has published nothing but, perhaps, its `lib-version`.
    NothingPublished,
    /// The provider answers without a bucket: a track-2 s3-integrator answering a request
    /// without secrets uses only its own `bucket` option, and sends none while it is unset.
    BucketMissing { provider: String },
    /// `access-key` or `secret-key` is missing: the integrator has no credentials yet.
    CredentialsMissing { key: &'static str, provider: String, track2: bool },
    /// Neither `region` nor `endpoint` is published.
    RegionOrEndpointMissing { provider: String },
    /// A key's value cannot be used.
    Malformed { key: &'static str, value: String },
    /// The `secret-extra` secret does not exist (any more).
    SecretNotFound { secret: SecretUri },
    /// The `secret-extra` secret exists but `app` may not read it (the provider has not
    /// granted it to the relation).
    SecretNotGranted { secret: SecretUri, app: String },
    /// The `secret-extra` secret lacks `key`.
    SecretKeyMissing { secret: SecretUri, key: &'static str },
}

impl NotReady {
    /// Whether only the operator can make the data usable (configure the integrator), as
    /// opposed to waiting for the provider.
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            Self::BucketMissing { .. }
                | Self::CredentialsMissing { .. }
                | Self::RegionOrEndpointMissing { .. }
                | Self::Malformed { .. }
        )
    }
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RelationGone => f.write_str("the s3 relation is gone"),
            Self::ProviderUnknown => f.write_str("no S3 provider application in the relation yet"),
            Self::NothingPublished => f.write_str("the S3 provider has published no settings yet"),
            Self::BucketMissing { provider } => write!(
                f,
                "{provider} publishes no bucket: set it on the integrator with \
                 `juju config {provider} bucket=<name>`"
            ),
            Self::CredentialsMissing { key, provider, track2: false } => write!(
                f,
                "{provider} publishes no {key}: give it the credentials with \
                 `juju run {provider}/leader sync-s3-credentials access-key=<key> secret-key=<secret>`"
            ),
            Self::CredentialsMissing { key, provider, track2: true } => write!(
                f,
                "{provider} publishes no {key}: set its credentials option to a secret with \
                 access-key and secret-key (`juju config {provider} credentials=<secret id>`)"
            ),
            Self::RegionOrEndpointMissing { provider } => write!(
                f,
                "{provider} publishes neither region nor endpoint: set one with \
                 `juju config {provider} region=<region>` or `endpoint=<url>`"
            ),
            Self::Malformed { key, value } => {
                write!(f, "the S3 provider published {key} {:?}, expected {}", excerpt(value), expected(key))
            }
            Self::SecretNotFound { secret } => {
                write!(f, "the S3 credentials secret {secret} (secret-extra) does not exist")
            }
            Self::SecretNotGranted { secret, app } => write!(
                f,
                "the S3 credentials secret {secret} (secret-extra) is not granted to {app} yet; \
                 if this lasts, remove the relation and integrate again"
            ),
            Self::SecretKeyMissing { secret, key } => {
                write!(f, "the S3 credentials secret {secret} has no {key:?} key")
            }
        }
    }
}

/// At most 60 characters of a published value, for the status line.
fn excerpt(value: &str) -> String {
    match value.char_indices().nth(57) {
        Some((end, _)) if value.chars().count() > 60 => format!("{}...", &value[..end]),
        _ => value.to_string(),
    }
}

/// What a well-formed value of `key` looks like, for [`NotReady::Malformed`].
fn expected(key: &str) -> &'static str {
    match key {
        S3_URI_STYLE => "path or host",
        ENDPOINT => "an http:// or https:// URL",
        TLS_CA_CHAIN => "a JSON list of PEM certificates",
        SECRET_EXTRA => "a secret URI",
        _ => "a valid value",
    }
}

/// The provider's side of a relation.
#[derive(Debug, Clone)]
pub enum S3View {
    Ready(Box<S3Settings>),
    NotReady(NotReady),
}

/// A hook-tool call failed for a reason that says nothing about the provider's data. The
/// source names the command, its exit code and stderr.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the application bag of {app} on relation {relation}")]
    AppBag {
        relation: RelationId,
        app: String,
        #[source]
        source: HookToolError,
    },
    #[error("cannot read the S3 credentials secret {id} on relation {relation}")]
    Secret {
        relation: RelationId,
        id: SecretUri,
        #[source]
        source: HookToolError,
    },
}

impl ReadError {
    pub fn tool_error(&self) -> &HookToolError {
        match self {
            Self::AppBag { source, .. } | Self::Secret { source, .. } => source,
        }
    }

    /// The failed command line (`None` only if the call could not even be prepared).
    pub fn command(&self) -> Option<&RedactedCommand> {
        self.tool_error().command()
    }
}

impl S3View {
    /// Reads `provider_app`'s side of `relation` (any unit may). `provider_app` is what
    /// [`HookTools::relation_remote_app`] answers (`None`: [`NotReady::ProviderUnknown`]);
    /// `requirer_app` is this application's name, for [`NotReady::SecretNotGranted`].
    pub fn read(
        tools: &HookTools,
        relation: &RelationId,
        provider_app: Option<&str>,
        requirer_app: &str,
    ) -> Result<Self, ReadError> {
        let Some(provider_app) = provider_app.filter(|app| !app.is_empty()) else {
            return Ok(Self::NotReady(NotReady::ProviderUnknown));
        };
        let bag = match tools.relation_get_app(relation, provider_app) {
            Ok(bag) => bag,
            Err(error) if error.is_relation_not_found() => return Ok(Self::NotReady(NotReady::RelationGone)),
            Err(source) => {
                return Err(ReadError::AppBag {
                    relation: relation.clone(),
                    app: provider_app.to_string(),
                    source,
                })
            }
        };
        let published = match Published::parse(&bag, provider_app) {
            Ok(published) => published,
            Err(reason) => return Ok(Self::NotReady(reason)),
        };
        let (access_key, secret_key, secret) = match published.credentials {
            Credentials::Plain { access_key, secret_key } => (access_key, secret_key, None),
            Credentials::Secret(id) => {
                match tools.secret_get(&SecretRef::Id(id.clone()), ReadMode::Refresh) {
                    Ok(mut content) => {
                        let mut take = |key: &'static str| match content.remove(key) {
                            Some(value) if !value.expose_secret().is_empty() => Ok(value),
                            _ => Err(NotReady::SecretKeyMissing { secret: id.clone(), key }),
                        };
                        match (take(ACCESS_KEY), take(SECRET_KEY)) {
                            (Ok(access_key), Ok(secret_key)) => (access_key, secret_key, Some(id)),
                            (Err(reason), _) | (_, Err(reason)) => return Ok(Self::NotReady(reason)),
                        }
                    }
                    Err(error) => {
                        let reason = match error.kind() {
                            ToolErrorKind::SecretNotFound => NotReady::SecretNotFound { secret: id },
                            ToolErrorKind::PermissionDenied => {
                                NotReady::SecretNotGranted { secret: id, app: requirer_app.to_string() }
                            }
                            _ => {
                                return Err(ReadError::Secret {
                                    relation: relation.clone(),
                                    id,
                                    source: error,
                                })
                            }
                        };
                        return Ok(Self::NotReady(reason));
                    }
                }
            }
        };
        Ok(Self::Ready(Box::new(S3Settings {
            bucket: published.bucket,
            access_key,
            secret_key,
            region: published.region,
            endpoint: published.endpoint,
            path: published.path,
            s3_uri_style: published.s3_uri_style,
            tls_ca_chain: published.tls_ca_chain,
            credentials_secret: secret,
        })))
    }
}

/// Where the keys are.
#[derive(Debug)]
enum Credentials {
    Plain { access_key: SecretString, secret_key: SecretString },
    Secret(SecretUri),
}

/// The provider's bag, checked before any secret is read.
#[derive(Debug)]
struct Published {
    bucket: String,
    credentials: Credentials,
    region: Option<String>,
    endpoint: Option<String>,
    path: String,
    s3_uri_style: UriStyle,
    tls_ca_chain: Vec<String>,
}

impl Published {
    fn parse(bag: &Databag, provider: &str) -> Result<Self, NotReady> {
        // Juju deletes a key set to "", so blank and absent are the same.
        let raw = |key: &str| bag.get(key).map(String::as_str).filter(|value| !value.trim().is_empty());
        let get = |key: &str| raw(key).map(str::trim);
        let malformed =
            |key: &'static str, value: &str| NotReady::Malformed { key, value: value.to_string() };
        let track2 = get(LIB_VERSION).is_some();
        // A track-2 provider writes its lib-version before anything else; track 1 keeps a
        // snapshot of the requirer's bag in `data`.
        if bag.keys().all(|key| [LIB_VERSION, DATA].contains(&key.as_str()) || raw(key).is_none()) {
            return Err(NotReady::NothingPublished);
        }
        let provider = || provider.to_string();

        let bucket = get(BUCKET).ok_or_else(|| NotReady::BucketMissing { provider: provider() })?.to_string();
        let s3_uri_style = match get(S3_URI_STYLE) {
            None => UriStyle::default(),
            Some(style) => UriStyle::parse(style).ok_or_else(|| malformed(S3_URI_STYLE, style))?,
        };
        let endpoint = match get(ENDPOINT) {
            None => None,
            Some(url) if is_endpoint_url(url) => Some(url.to_string()),
            Some(url) => return Err(malformed(ENDPOINT, url)),
        };
        let tls_ca_chain = match get(TLS_CA_CHAIN) {
            None => Vec::new(),
            Some(list) => parse_ca_chain(list).ok_or_else(|| malformed(TLS_CA_CHAIN, list))?,
        };
        let region = get(REGION).map(str::to_string);
        if region.is_none() && endpoint.is_none() {
            return Err(NotReady::RegionOrEndpointMissing { provider: provider() });
        }
        let credentials = match get(SECRET_EXTRA) {
            Some(id) => Credentials::Secret(SecretUri::parse(id).ok_or_else(|| malformed(SECRET_EXTRA, id))?),
            None => {
                // Keys are taken as sent.
                let key = |key: &'static str| {
                    raw(key)
                        .map(|value| SecretString::from(value.to_string()))
                        .ok_or_else(|| NotReady::CredentialsMissing { key, provider: provider(), track2 })
                };
                Credentials::Plain { access_key: key(ACCESS_KEY)?, secret_key: key(SECRET_KEY)? }
            }
        };
        Ok(Self {
            bucket,
            credentials,
            region,
            endpoint,
            // The object prefix is used as sent, as the Python charm does (object names
            // depend on it).
            path: bag.get(PATH).cloned().unwrap_or_default(),
            s3_uri_style,
            tls_ca_chain,
        })
    }
}

/// `http://` or `https://`, then a host, without white space.
fn is_endpoint_url(text: &str) -> bool {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !host.starts_with(':') && !text.chars().any(char::is_whitespace)
    })
}

/// A JSON list of PEM certificates (each holding a `BEGIN CERTIFICATE` block).
fn parse_ca_chain(text: &str) -> Option<Vec<String>> {
    let list: Vec<String> = serde_json::from_str(text).ok()?;
    list.iter().all(|pem| pem.contains("-----BEGIN CERTIFICATE-----")).then_some(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// What track-1 s3-integrator publishes for a MinIO-style endpoint.
    const BASE: [(&str, &str); 6] = [
        ("access-key", "AKIAEXAMPLE"),
        ("secret-key", "s3cr3t/key+value"),
        ("bucket", "synapse-media"),
        ("endpoint", "http://10.1.2.3:9000"),
        ("path", "synapse/"),
        ("s3-uri-style", "path"),
    ];

    fn parse(changes: &[(&str, &str)]) -> Result<Published, NotReady> {
        let mut bag = bag(&BASE);
        for (key, value) in changes {
            if value.is_empty() {
                bag.remove(*key);
            } else {
                bag.insert(key.to_string(), value.to_string());
            }
        }
        Published::parse(&bag, "s3-integrator")
    }

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn a_track_1_bag_makes_settings() {
        let published = parse(&[]).unwrap();
        assert_eq!(published.bucket, "synapse-media");
        assert_eq!(published.endpoint.as_deref(), Some("http://10.1.2.3:9000"));
        assert_eq!(published.region, None);
        assert_eq!(published.path, "synapse/");
        assert_eq!(published.s3_uri_style, UriStyle::Path);
        assert!(published.tls_ca_chain.is_empty());
        let Credentials::Plain { access_key, secret_key } = &published.credentials else { panic!() };
        assert_eq!(
            (access_key.expose_secret(), secret_key.expose_secret()),
            ("AKIAEXAMPLE", "s3cr3t/key+value")
        );
        assert!(!format!("{published:?}").contains("s3cr3t"), "Debug shows no key");

        // AWS: a region, virtual-host style by default, no path; a CA chain as a JSON list.
        let chain = serde_json::to_string(&[PEM, PEM]).unwrap();
        let aws = parse(&[
            ("endpoint", ""),
            ("region", " eu-west-1 "),
            ("s3-uri-style", ""),
            ("path", ""),
            ("tls-ca-chain", &chain),
        ])
        .unwrap();
        assert_eq!(aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!((aws.s3_uri_style, aws.path.as_str()), (UriStyle::VirtualHost, ""));
        assert_eq!(aws.tls_ca_chain, [PEM, PEM]);
    }

    #[test]
    fn track_2_keys_come_from_secret_extra() {
        let id = "secret:cq9ig0fmp25c77ni4a2g";
        let published =
            parse(&[("access-key", ""), ("secret-key", ""), ("lib-version", "1.0"), ("secret-extra", id)])
                .unwrap();
        assert!(matches!(&published.credentials, Credentials::Secret(uri) if uri.as_str() == id));
        assert!(matches!(
            parse(&[("secret-extra", "not a uri")]),
            Err(NotReady::Malformed { key: "secret-extra", .. })
        ));
    }

    #[test]
    fn what_is_missing_is_named_with_what_to_do() {
        assert!(matches!(Published::parse(&Databag::new(), "s3"), Err(NotReady::NothingPublished)));
        assert!(matches!(
            Published::parse(&bag(&[("lib-version", "1.0")]), "s3"),
            Err(NotReady::NothingPublished)
        ));
        assert!(matches!(
            Published::parse(&bag(&[("data", "{\"bucket\": \"relation-3\"}")]), "s3"),
            Err(NotReady::NothingPublished)
        ));
        let no_bucket = parse(&[("bucket", ""), ("lib-version", "1.0")]).unwrap_err();
        assert_eq!(no_bucket, NotReady::BucketMissing { provider: "s3-integrator".into() });
        assert_eq!(
            no_bucket.to_string(),
            "s3-integrator publishes no bucket: set it on the integrator with `juju config s3-integrator bucket=<name>`"
        );
        assert!(no_bucket.needs_operator());
        let missing = parse(&[("secret-key", "")]).unwrap_err();
        assert_eq!(
            missing,
            NotReady::CredentialsMissing {
                key: "secret-key",
                provider: "s3-integrator".into(),
                track2: false
            }
        );
        assert!(missing.to_string().contains("sync-s3-credentials"), "{missing}");
        let missing = parse(&[("access-key", ""), ("lib-version", "1.0")]).unwrap_err();
        assert!(missing.to_string().contains("credentials=<secret id>"), "{missing}");
        let nowhere = parse(&[("endpoint", "")]).unwrap_err();
        assert_eq!(nowhere, NotReady::RegionOrEndpointMissing { provider: "s3-integrator".into() });
        assert_eq!(
            nowhere.to_string(),
            "s3-integrator publishes neither region nor endpoint: set one with \
             `juju config s3-integrator region=<region>` or `endpoint=<url>`"
        );
        assert!(!NotReady::NothingPublished.needs_operator());
        assert!(!NotReady::SecretNotFound { secret: SecretUri::parse("secret:x1").unwrap() }.needs_operator());
    }

    #[test]
    fn malformed_values_are_named() {
        for (key, value) in [
            ("s3-uri-style", "virtual"),
            ("s3-uri-style", "PATH"),
            ("endpoint", "10.1.2.3:9000"),
            ("endpoint", "https://"),
            ("endpoint", "ftp://host"),
            ("endpoint", "http://host name"),
            ("tls-ca-chain", PEM),
            ("tls-ca-chain", "[\"not a certificate\"]"),
            ("tls-ca-chain", "[1]"),
        ] {
            let reason = parse(&[(key, value)]).unwrap_err();
            assert!(
                matches!(&reason, NotReady::Malformed { key: k, .. } if *k == key),
                "{key}={value}: {reason:?}"
            );
            assert!(reason.needs_operator());
        }
        assert_eq!(
            NotReady::Malformed { key: S3_URI_STYLE, value: "virtual".into() }.to_string(),
            "the S3 provider published s3-uri-style \"virtual\", expected path or host"
        );
        let long = NotReady::Malformed { key: TLS_CA_CHAIN, value: "x".repeat(200) }.to_string();
        assert!(long.contains(&format!("\"{}...\"", "x".repeat(57))), "{long}");
        for url in ["https://s3.amazonaws.com", "http://10.1.2.3:9000/", "https://minio.example.com:9443/s3"]
        {
            assert!(is_endpoint_url(url), "{url}");
        }
        assert_eq!(parse(&[("tls-ca-chain", "[]")]).unwrap().tls_ca_chain, Vec::<String>::new());
    }

    #[test]
    fn uri_styles_parse_and_name_botocores_addressing() {
        assert_eq!(UriStyle::parse("path"), Some(UriStyle::Path));
        assert_eq!(UriStyle::parse("host"), Some(UriStyle::VirtualHost));
        assert_eq!(UriStyle::Path.addressing_style(), "path");
        assert_eq!(UriStyle::VirtualHost.addressing_style(), "virtual");
        assert_eq!(UriStyle::VirtualHost.to_string(), "host");
    }
}
