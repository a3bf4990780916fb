//! The provider's side of one relation, as every requirer unit reads it.
//!
//! [`DatabaseView::read`] makes one `relation-get` of the provider's application bag, checks
//! it, then reads `secret-user` and `secret-tls` (when published) with `--refresh`, so a
//! rotated password is seen as soon as it exists. A field without its group's secret is
//! read from the bag: that is how providers answer requirers that requested no secrets.
//! Incomplete or malformed provider data is [`DatabaseView::NotReady`], never an error.

use std::fmt;

use juju::{
    Databag, HookToolError, HookTools, ReadMode, RelationId, SecretContent, SecretRef, SecretUri,
    ToolErrorKind,
};
use secrecy::{ExposeSecret, SecretString};

use crate::endpoint::{Endpoint, EndpointError};
use crate::protocol::{
    DATABASE, ENDPOINTS, PASSWORD, READ_ONLY_ENDPOINTS, READ_ONLY_URIS, TLS, TLS_CA, URIS, USERNAME, VERSION,
};

/// The provider secrets this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretGroup {
    /// `secret-user`: `username`, `password`, `uris`, `read-only-uris`.
    User,
    /// `secret-tls`: `tls`, `tls-ca`.
    Tls,
}

impl SecretGroup {
    /// The provider's databag key holding the secret's URI.
    pub fn key(self) -> &'static str {
        match self {
            Self::User => "secret-user",
            Self::Tls => "secret-tls",
        }
    }

    /// The fields of the group.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Self::User => &[USERNAME, PASSWORD, URIS, READ_ONLY_URIS],
            Self::Tls => &[TLS, TLS_CA],
        }
    }
}

impl fmt::Display for SecretGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Where a field was looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldSource {
    /// The provider's application bag (no secret for the field's group).
    Databag,
    Secret(SecretGroup),
}

impl fmt::Display for FieldSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Databag => f.write_str("the provider's databag"),
            Self::Secret(group) => group.fmt(f),
        }
    }
}

/// Why the provider's data is not usable (yet). Nothing here is an error of this unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The relation is gone (read during its teardown).
    RelationGone,
    /// No `endpoints` yet.
    EndpointsMissing,
    /// `endpoints` or `read-only-endpoints` (the `key`) cannot be parsed.
    EndpointsMalformed { key: &'static str, error: EndpointError },
    /// Endpoints but neither `secret-user` nor `username`/`password`: the provider has not
    /// answered the request yet.
    CredentialsMissing,
    /// No `database` yet.
    DatabaseMissing,
    /// The group's databag value is not a secret URI.
    SecretIdMalformed { group: SecretGroup, value: String },
    /// The secret does not exist (any more).
    SecretNotFound { group: SecretGroup },
    /// The secret exists but is not granted to this application (yet).
    SecretNotGranted { group: SecretGroup },
    /// A required field is missing or empty.
    FieldMissing { field: &'static str, source: FieldSource },
    /// `tls` is neither `True` nor `False`.
    TlsFlagMalformed { value: String, source: FieldSource },
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RelationGone => f.write_str("the relation is gone"),
            Self::EndpointsMissing => f.write_str("no endpoints published yet"),
            Self::EndpointsMalformed { key, error } => write!(f, "malformed {key}: {error}"),
            Self::CredentialsMissing => f.write_str("no credentials published yet"),
            Self::DatabaseMissing => f.write_str("no database published yet"),
            Self::SecretIdMalformed { group, value } => write!(f, "{group} is not a secret URI: {value:?}"),
            Self::SecretNotFound { group } => write!(f, "{group} not found"),
            Self::SecretNotGranted { group } => write!(f, "{group} not granted yet"),
            Self::FieldMissing { field, source } => write!(f, "no {field} in {source}"),
            Self::TlsFlagMalformed { value, source } => {
                write!(f, "tls in {source} is {value:?}, not True or False")
            }
        }
    }
}

/// TLS is on; clients should verify the server with `ca`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// PEM; `None` when the provider sent none.
    pub ca: Option<String>,
}

/// Everything needed to connect. `Debug` shows no secret value.
#[derive(Debug, Clone)]
pub struct DatabaseCredentials {
    /// The first of `endpoints`.
    pub primary: Endpoint,
    /// Never empty.
    pub endpoints: Vec<Endpoint>,
    /// Empty when the provider published none.
    pub read_only_endpoints: Vec<Endpoint>,
    /// The database the provider created (for a prefix request, the first match).
    pub database: String,
    pub username: String,
    pub password: SecretString,
    /// `postgresql://<user>:<password>@<primary>/<database>`, when the provider sent it.
    pub uris: Option<SecretString>,
    /// As sent; postgresql-k8s 16 builds it with the port twice, so do not parse it.
    pub read_only_uris: Option<SecretString>,
    /// `None` when TLS is off.
    pub tls: Option<Tls>,
    pub version: Option<String>,
    /// `secret-user`; `None` when the credentials came in the databag (plain mode).
    pub user_secret: Option<SecretUri>,
    /// `secret-tls`, when published.
    pub tls_secret: Option<SecretUri>,
}

impl DatabaseCredentials {
    /// Every secret value (password and the URIs holding it), for redaction.
    pub fn secrets(&self) -> Vec<SecretString> {
        std::iter::once(&self.password).chain(&self.uris).chain(&self.read_only_uris).cloned().collect()
    }

    /// Whether `id` (from `secret-changed`) is one of the secrets these credentials came
    /// from; URIs are compared by their unique id, whatever their form.
    pub fn uses_secret(&self, id: &SecretUri) -> bool {
        [&self.user_secret, &self.tls_secret].into_iter().flatten().any(|own| own.same_secret(id))
    }
}

/// The provider's side of a relation.
#[derive(Debug, Clone)]
pub enum DatabaseView {
    Ready(Box<DatabaseCredentials>),
    NotReady(NotReady),
}

/// A hook-tool call failed for a reason that says nothing about the provider's data.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the application bag of {app} on relation {relation}")]
    Databag {
        relation: RelationId,
        app: String,
        #[source]
        source: HookToolError,
    },
    #[error("cannot read {group} ({id}) on relation {relation}")]
    Secret {
        relation: RelationId,
        group: SecretGroup,
        id: SecretUri,
        #[source]
        source: HookToolError,
    },
}

/// Where a group's fields are: a secret, or the bag itself.
#[derive(Debug)]
enum Source {
    Databag,
    Secret(SecretUri),
}

/// The provider's bag, checked before any secret is read.
#[derive(Debug)]
struct Published {
    endpoints: Vec<Endpoint>,
    read_only_endpoints: Vec<Endpoint>,
    database: String,
    version: Option<String>,
    user: Source,
    tls: Source,
}

impl Published {
    fn parse(bag: &Databag) -> Result<Self, NotReady> {
        let get = |key: &str| bag.get(key).map(String::as_str).filter(|value| !value.trim().is_empty());
        let endpoints = |key: &'static str| {
            get(key)
                .map(Endpoint::parse_list)
                .transpose()
                .map_err(|error| NotReady::EndpointsMalformed { key, error })
        };
        let endpoints_rw = endpoints(ENDPOINTS)?.ok_or(NotReady::EndpointsMissing)?;
        let read_only_endpoints = endpoints(READ_ONLY_ENDPOINTS)?.unwrap_or_default();
        let source = |group: SecretGroup| match get(group.key()) {
            None => Ok(Source::Databag),
            Some(value) => SecretUri::parse(value)
                .map(Source::Secret)
                .ok_or_else(|| NotReady::SecretIdMalformed { group, value: value.to_string() }),
        };
        let user = source(SecretGroup::User)?;
        if matches!(user, Source::Databag) && get(USERNAME).is_none() && get(PASSWORD).is_none() {
            return Err(NotReady::CredentialsMissing);
        }
        let database = get(DATABASE).ok_or(NotReady::DatabaseMissing)?.to_string();
        Ok(Self {
            endpoints: endpoints_rw,
            read_only_endpoints,
            database,
            version: get(VERSION).map(str::to_string),
            user,
            tls: source(SecretGroup::Tls)?,
        })
    }
}

impl DatabaseView {
    /// Reads `provider_app`'s side of `relation` (any unit may: remote application bags and
    /// granted secrets are readable by every unit).
    pub fn read(tools: &HookTools, relation: &RelationId, provider_app: &str) -> Result<Self, ReadError> {
        let bag = match tools.relation_get_app(relation, provider_app) {
            Ok(bag) => bag,
            Err(error) if error.is_relation_not_found() => return Ok(Self::NotReady(NotReady::RelationGone)),
            Err(source) => {
                return Err(ReadError::Databag {
                    relation: relation.clone(),
                    app: provider_app.to_string(),
                    source,
                })
            }
        };
        let published = match Published::parse(&bag) {
            Ok(published) => published,
            Err(reason) => return Ok(Self::NotReady(reason)),
        };
        let fields = |group: SecretGroup, source: &Source| -> Result<Result<Fields, NotReady>, ReadError> {
            let id = match source {
                Source::Databag => return Ok(Ok(Fields::from_bag(&bag, group))),
                Source::Secret(id) => id,
            };
            match tools.secret_get(&SecretRef::Id(id.clone()), ReadMode::Refresh) {
                Ok(content) => Ok(Ok(Fields { content, source: FieldSource::Secret(group) })),
                Err(error) => match error.kind() {
                    ToolErrorKind::SecretNotFound => Ok(Err(NotReady::SecretNotFound { group })),
                    ToolErrorKind::PermissionDenied => Ok(Err(NotReady::SecretNotGranted { group })),
                    _ => Err(ReadError::Secret {
                        relation: relation.clone(),
                        group,
                        id: id.clone(),
                        source: error,
                    }),
                },
            }
        };
        let user = match fields(SecretGroup::User, &published.user)? {
            Ok(user) => user,
            Err(reason) => return Ok(Self::NotReady(reason)),
        };
        let tls = match fields(SecretGroup::Tls, &published.tls)? {
            Ok(tls) => tls,
            Err(reason) => return Ok(Self::NotReady(reason)),
        };
        Ok(match assemble(published, user, tls) {
            Ok(credentials) => Self::Ready(Box::new(credentials)),
            Err(reason) => Self::NotReady(reason),
        })
    }
}

/// The fields of one group and where they came from.
struct Fields {
    content: SecretContent,
    source: FieldSource,
}

impl Fields {
    fn from_bag(bag: &Databag, group: SecretGroup) -> Self {
        let content = group
            .fields()
            .iter()
            .filter_map(|field| {
                bag.get(*field).map(|value| (field.to_string(), SecretString::from(value.as_str())))
            })
            .collect();
        Self { content, source: FieldSource::Databag }
    }

    /// A non-empty field.
    fn optional(&mut self, field: &str) -> Option<SecretString> {
        self.content.remove(field).filter(|value| !value.expose_secret().is_empty())
    }

    fn required(&mut self, field: &'static str) -> Result<SecretString, NotReady> {
        self.optional(field).ok_or(NotReady::FieldMissing { field, source: self.source })
    }
}

fn assemble(
    published: Published,
    mut user: Fields,
    mut tls: Fields,
) -> Result<DatabaseCredentials, NotReady> {
    let username = user.required(USERNAME)?.expose_secret().to_string();
    let password = user.required(PASSWORD)?;
    let tls_on = match tls.optional(TLS) {
        None => false,
        Some(flag) => parse_flag(flag.expose_secret()).ok_or_else(|| NotReady::TlsFlagMalformed {
            value: flag.expose_secret().to_string(),
            source: tls.source,
        })?,
    };
    let ca = tls.optional(TLS_CA).map(|ca| ca.expose_secret().to_string());
    let secret_id = |source: Source| match source {
        Source::Secret(id) => Some(id),
        Source::Databag => None,
    };
    Ok(DatabaseCredentials {
        primary: published.endpoints[0].clone(),
        endpoints: published.endpoints,
        read_only_endpoints: published.read_only_endpoints,
        database: published.database,
        username,
        password,
        uris: user.optional(URIS),
        read_only_uris: user.optional(READ_ONLY_URIS),
        tls: tls_on.then_some(Tls { ca }),
        version: published.version,
        user_secret: secret_id(published.user),
        tls_secret: secret_id(published.tls),
    })
}

/// `True`/`False` as Python writes them (any case).
fn parse_flag(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const PRIMARY: &str = "pg-primary.dev.svc.cluster.local:5432";

    #[test]
    fn the_bag_is_checked_in_the_order_the_provider_fills_it() {
        let parse = |entries: &[(&str, &str)]| Published::parse(&bag(entries)).unwrap_err();
        // The provider's own `data` snapshot is not an answer.
        assert_eq!(parse(&[("data", "{}")]), NotReady::EndpointsMissing);
        assert_eq!(parse(&[(ENDPOINTS, " ")]), NotReady::EndpointsMissing);
        assert_eq!(
            parse(&[(ENDPOINTS, "pg-primary")]),
            NotReady::EndpointsMalformed {
                key: ENDPOINTS,
                error: EndpointError::MissingPort("pg-primary".into())
            }
        );
        assert!(matches!(
            parse(&[(ENDPOINTS, PRIMARY), (READ_ONLY_ENDPOINTS, "replicas:x")]),
            NotReady::EndpointsMalformed { key: READ_ONLY_ENDPOINTS, .. }
        ));
        assert_eq!(parse(&[(ENDPOINTS, PRIMARY)]), NotReady::CredentialsMissing);
        assert_eq!(
            parse(&[(ENDPOINTS, PRIMARY), ("secret-user", "not a uri")]),
            NotReady::SecretIdMalformed { group: SecretGroup::User, value: "not a uri".into() }
        );
        assert_eq!(
            parse(&[(ENDPOINTS, PRIMARY), ("secret-user", "secret:coj8mulh8b41e8nv6p90")]),
            NotReady::DatabaseMissing
        );
        assert_eq!(parse(&[(ENDPOINTS, PRIMARY), (USERNAME, "u")]), NotReady::DatabaseMissing);
    }

    #[test]
    fn plain_fields_and_tls_flags() {
        let published =
            Published::parse(&bag(&[(ENDPOINTS, PRIMARY), (DATABASE, "app"), (USERNAME, "u")])).unwrap();
        let plain = bag(&[(USERNAME, "u"), (TLS, "False"), (TLS_CA, "")]);
        let user = Fields::from_bag(&plain, SecretGroup::User);
        let tls = Fields::from_bag(&plain, SecretGroup::Tls);
        assert_eq!(
            assemble(published, user, tls).unwrap_err(),
            NotReady::FieldMissing { field: PASSWORD, source: FieldSource::Databag }
        );
        for (text, flag) in [("True", Some(true)), ("false", Some(false)), ("yes", None), ("", None)] {
            assert_eq!(parse_flag(text), flag, "{text}");
        }
    }
}
