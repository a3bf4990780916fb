//! The requirer side: read what the provider published (both kinds of requirer) and, for
//! bridges, send the appservice registration encrypted with the provider's key.
//!
//! Unlike both Python requirers, incomplete provider data is a [`ProviderView::NotReady`],
//! never an error; errors are hook-tool failures unrelated to the remote side.

use std::fmt;

use juju::{
    Bag, Databag, Event, HookToolError, HookTools, ReadMode, RelationHook, RelationId, SecretRef, SecretUri,
    ToolErrorKind,
};
use secrecy::{ExposeSecret, SecretString};

use crate::crypto;
use crate::data::{ProviderData, ProviderDataError};
use crate::protocol::{ENCRYPTION_KEY_CONTENT, REGISTRATION_KEY, SHARED_SECRET_CONTENT};
use crate::registration::{Registration, RegistrationError};

/// Why the provider's data is not usable yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderNotReady {
    /// The provider wrote nothing yet.
    EmptyBag,
    /// The relation is gone (read during its teardown).
    RelationGone,
    /// The provider application's name is not known.
    ProviderAppUnknown,
    /// `homeserver` missing, or a secret id that is not a URI.
    Incomplete(ProviderDataError),
    /// No `shared_secret_id` yet.
    NoSharedSecretId,
    /// The shared secret is not visible yet (not found, or not granted).
    SharedSecretNotVisible(ToolErrorKind),
    /// The shared secret has no `shared-secret-content`, or it is empty.
    SharedSecretEmpty,
}

impl fmt::Display for ProviderNotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyBag => f.write_str("provider has published nothing yet"),
            Self::RelationGone => f.write_str("relation is gone"),
            Self::ProviderAppUnknown => f.write_str("provider application unknown"),
            Self::Incomplete(error) => error.fmt(f),
            Self::NoSharedSecretId => f.write_str("provider has not shared its secret yet"),
            Self::SharedSecretNotVisible(kind) => write!(f, "shared secret not readable yet ({kind:?})"),
            Self::SharedSecretEmpty => f.write_str("shared secret is empty"),
        }
    }
}

/// Complete provider data: what both kinds of requirer need.
#[derive(Debug, Clone)]
pub struct ProviderInfo {
    pub homeserver: String,
    /// Synapse's `registration_shared_secret` (shared-secret registration API).
    pub shared_secret: SecretString,
    /// The Fernet key's secret; `None` from a v0 provider, which takes no registration.
    pub encryption_key_secret_id: Option<SecretUri>,
}

/// The provider's side of one relation.
#[derive(Debug, Clone)]
pub enum ProviderView {
    NotReady(ProviderNotReady),
    Ready(ProviderInfo),
}

impl ProviderView {
    /// Reads the provider's application bag and its shared secret (one `relation-get`, and
    /// one `secret-get --refresh` once an id is there).
    pub fn read(tools: &HookTools, relation: &RelationId, provider_app: &str) -> Result<Self, HookToolError> {
        let not_ready = |reason| Ok(Self::NotReady(reason));
        let bag = match tools.relation_get_app(relation, provider_app) {
            Ok(bag) => bag,
            Err(error) if error.is_relation_not_found() => return not_ready(ProviderNotReady::RelationGone),
            Err(error) => return Err(error),
        };
        if bag.values().all(|value| value.is_empty()) {
            return not_ready(ProviderNotReady::EmptyBag);
        }
        let data = match ProviderData::from_databag(&bag) {
            Ok(data) => data,
            Err(error) => return not_ready(ProviderNotReady::Incomplete(error)),
        };
        let Some(shared_secret_id) = data.shared_secret_id else {
            return not_ready(ProviderNotReady::NoSharedSecretId);
        };
        let mut content = match tools.secret_get(&SecretRef::Id(shared_secret_id), ReadMode::Refresh) {
            Ok(content) => content,
            Err(error) if is_not_visible(&error) => {
                return not_ready(ProviderNotReady::SharedSecretNotVisible(error.kind()))
            }
            Err(error) => return Err(error),
        };
        match content.remove(SHARED_SECRET_CONTENT).filter(|value| !value.expose_secret().is_empty()) {
            Some(shared_secret) => Ok(Self::Ready(ProviderInfo {
                homeserver: data.homeserver,
                shared_secret,
                encryption_key_secret_id: data.encryption_key_secret_id,
            })),
            None => not_ready(ProviderNotReady::SharedSecretEmpty),
        }
    }
}

fn is_not_visible(error: &HookToolError) -> bool {
    matches!(error.kind(), ToolErrorKind::SecretNotFound | ToolErrorKind::PermissionDenied)
}

/// The Python library's requirer events, for a charm to match on.
#[derive(Debug, Clone)]
pub enum RequirerEvent {
    /// `matrix_auth_request_processed`: the provider data is complete and the shared secret
    /// readable.
    RequestProcessed { relation: RelationId, provider: ProviderInfo },
    /// The provider's data changed but is not usable yet (Python emits nothing here).
    NotReady { relation: RelationId, reason: ProviderNotReady },
}

impl RequirerEvent {
    /// For a `<endpoint>-relation-changed` event: reads the provider's side. Any other event
    /// is `None`.
    pub fn from_event(
        tools: &HookTools,
        event: &Event,
        endpoint: &str,
    ) -> Result<Option<Self>, HookToolError> {
        let Event::Relation(event) = event else { return Ok(None) };
        if event.hook != RelationHook::Changed || event.relation.endpoint != endpoint {
            return Ok(None);
        }
        let relation = event.relation.clone();
        let provider_app = match &event.remote_app {
            Some(app) => Some(app.clone()),
            None => tools.relation_remote_app(&relation)?,
        };
        let Some(provider_app) = provider_app else {
            return Ok(Some(Self::NotReady { relation, reason: ProviderNotReady::ProviderAppUnknown }));
        };
        Ok(Some(match ProviderView::read(tools, &relation, &provider_app)? {
            ProviderView::Ready(provider) => Self::RequestProcessed { relation, provider },
            ProviderView::NotReady(reason) => Self::NotReady { relation, reason },
        }))
    }
}

/// What [`publish_registration`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationPublish {
    /// Written: the text differs from the one published (or none was).
    Written,
    /// The published token already decrypts to this exact text; nothing written.
    Unchanged,
    /// Only the leader writes the application bag; nothing done.
    NotLeader,
    /// The provider offers no encryption key (a v0 provider).
    NoEncryptionKey,
    /// The provider's key is not readable yet (not found or not granted).
    EncryptionKeyNotVisible(ToolErrorKind),
    /// The provider's key secret holds no valid Fernet key.
    EncryptionKeyMalformed,
}

/// Why [`publish_registration`] refused: a problem on this side, not the provider's.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the registration to publish is invalid: {0}")]
    InvalidRegistration(#[from] RegistrationError),
    #[error(transparent)]
    Tool(#[from] HookToolError),
}

/// Leader: sends `registration_yaml` encrypted with the provider's key as
/// `registration_secret`, unless the token already published decrypts to the same text
/// (Fernet tokens differ every time, so tokens are never compared).
pub fn publish_registration(
    tools: &HookTools,
    relation: &RelationId,
    local_app: &str,
    provider: &ProviderInfo,
    registration_yaml: &SecretString,
) -> Result<RegistrationPublish, PublishError> {
    Registration::parse(registration_yaml.expose_secret())?;
    if !tools.is_leader()? {
        return Ok(RegistrationPublish::NotLeader);
    }
    let Some(key_id) = &provider.encryption_key_secret_id else {
        return Ok(RegistrationPublish::NoEncryptionKey);
    };
    // Refresh: a provider of LIBPATCH 5 replaced its key on every run.
    let key = match tools.secret_get(&SecretRef::Id(key_id.clone()), ReadMode::Refresh) {
        Ok(mut content) => content.remove(ENCRYPTION_KEY_CONTENT),
        Err(error) if is_not_visible(&error) => {
            return Ok(RegistrationPublish::EncryptionKeyNotVisible(error.kind()))
        }
        Err(error) => return Err(error.into()),
    };
    let Some(key) = key else { return Ok(RegistrationPublish::EncryptionKeyMalformed) };
    let own: Databag = tools.relation_get_app(relation, local_app)?;
    if let Some(token) = own.get(REGISTRATION_KEY).filter(|token| !token.is_empty()) {
        if crypto::decrypt_string(&key, token)
            .is_ok_and(|current| current.expose_secret() == registration_yaml.expose_secret())
        {
            return Ok(RegistrationPublish::Unchanged);
        }
    }
    let Ok(token) = crypto::encrypt_string(&key, registration_yaml.expose_secret()) else {
        return Ok(RegistrationPublish::EncryptionKeyMalformed);
    };
    tools.relation_set(relation, Bag::App, &Databag::from([(REGISTRATION_KEY.to_string(), token)]))?;
    Ok(RegistrationPublish::Written)
}
