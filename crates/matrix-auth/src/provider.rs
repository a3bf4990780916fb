//! The provider side (Synapse): read every relation once, then publish (leader) and turn the
//! requirers' registrations into outcomes (every unit).
//!
//! [`ProviderState::read`] makes every hook-tool read of the hook; [`ProviderState::plan_publish`]
//! plans writing only what differs, and [`ProviderState::registrations`] is pure. A bad remote input
//! never becomes an error: it is a [`RegistrationOutcome`] of its relation. Errors are hook-tool
//! failures that say nothing about the remote side (tool missing, unexpected refusals).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use juju::effects::Value;
use juju::{
    Bag, Databag, Effect, EffectError, Event, HookContext, HookToolError, HookTools, NewSecret, ReadMode,
    RelationHook, RelationId, SecretAccess, SecretContent, SecretHandle, SecretRef, SecretUri, ToolErrorKind,
};
use secrecy::{ExposeSecret, SecretString};

use crate::conflict::{resolve_conflicts, Conflict, ConflictWith};
use crate::crypto::{self, CryptoError};
use crate::data::changed_entries;
use crate::protocol::{
    ENCRYPTION_KEY_CONTENT, ENCRYPTION_KEY_LABEL, ENCRYPTION_KEY_SECRET_ID_KEY, HOMESERVER_KEY,
    REGISTRATION_KEY, SHARED_SECRET_CONTENT, SHARED_SECRET_ID_KEY, SHARED_SECRET_LABEL,
    V0_REGISTRATION_CONTENT, V0_REGISTRATION_SECRET_ID_KEY,
};
use crate::published::{PublicationStore, Published};
use crate::registration::{Registration, RegistrationError, MAX_REGISTRATION_BYTES};

/// Longest token worth decrypting: the token of a [`MAX_REGISTRATION_BYTES`] text.
const MAX_TOKEN_CHARS: usize = (MAX_REGISTRATION_BYTES + 16 + 57).div_ceil(3) * 4;

/// Who this unit is and which relations to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderContext {
    pub endpoint: String,
    pub local_app: String,
    pub model_uuid: String,
    /// The relation of this hook's event, when the event is on the endpoint.
    pub event: Option<EventRelation>,
    /// Where the leader keeps its record of what it published (see [`crate::published`]);
    /// without one it reads its own bag of every relation and the secrets' metadata.
    pub store: Option<PublicationStore>,
}

/// The relation a relation hook is about, as Juju's environment names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRelation {
    pub id: RelationId,
    /// `JUJU_REMOTE_APP` (absent in some relation-broken contexts).
    pub remote_app: Option<String>,
    /// A `<endpoint>-relation-broken` hook: Juju may still list the relation, but it is gone.
    pub broken: bool,
}

impl ProviderContext {
    /// From the hook context; a relation event on `endpoint` becomes [`ProviderContext::event`].
    pub fn from_hook(context: &HookContext, endpoint: &str) -> Self {
        let event = match &context.event {
            Event::Relation(event) if event.relation.endpoint == endpoint => Some(EventRelation {
                id: event.relation.clone(),
                remote_app: event.remote_app.clone(),
                broken: event.hook == RelationHook::Broken,
            }),
            _ => None,
        };
        Self {
            endpoint: endpoint.to_string(),
            local_app: context.app_name.clone(),
            model_uuid: context.model_uuid.clone(),
            event,
            store: None,
        }
    }

    /// Keeps the leader's record of what it published in `store`.
    pub fn with_store(self, store: PublicationStore) -> Self {
        Self { store: Some(store), ..self }
    }

    /// The relation being broken in this hook, if any.
    pub fn broken(&self) -> Option<&EventRelation> {
        self.event.as_ref().filter(|event| event.broken)
    }

    /// The remote application of `relation` when the environment names it (saves a
    /// `relation-list --app`, as ops does).
    fn known_remote_app(&self, relation: &RelationId) -> Option<&str> {
        self.event.as_ref().filter(|event| &event.id == relation)?.remote_app.as_deref()
    }
}

/// Why a relation has no registration to use yet (nothing is wrong with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The requirer sent no registration (a unidirectional requirer such as maubot never does).
    NoRegistration,
    /// The remote application's name is not known (yet).
    RemoteAppUnknown,
    /// The encryption key secret does not exist yet (the leader creates it).
    EncryptionKeyMissing,
    /// The encryption key secret could not be read (the hook-tool error kind).
    EncryptionKeyUnreadable(ToolErrorKind),
    /// Our own encryption key is not a Fernet key (someone changed the secret).
    EncryptionKeyMalformed,
    /// A v0 requirer's registration secret does not exist or is not granted to us yet.
    V0SecretNotVisible(ToolErrorKind),
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRegistration => f.write_str("no registration sent"),
            Self::RemoteAppUnknown => f.write_str("remote application unknown"),
            Self::EncryptionKeyMissing => f.write_str("encryption key not created yet"),
            Self::EncryptionKeyUnreadable(kind) => write!(f, "encryption key unreadable ({kind:?})"),
            Self::EncryptionKeyMalformed => f.write_str("encryption key secret is malformed"),
            Self::V0SecretNotVisible(kind) => write!(f, "registration secret not readable yet ({kind:?})"),
        }
    }
}

/// Why a relation's registration is refused (the requirer must change something).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The token does not decrypt with our key (wrong key, tampered, not a token).
    Undecryptable,
    /// The token is longer than any registration of the allowed size could make.
    TokenTooLarge,
    /// The plaintext is not UTF-8.
    NotUtf8,
    /// The v0 `registration_secret_id` is not a secret URI.
    BadV0SecretId,
    /// The v0 secret lacks the `app-registration-content` key.
    V0SecretWithoutRegistration,
    /// Synapse would not load it.
    Invalid(RegistrationError),
    /// It clashes with the registration of an earlier relation.
    Conflict { conflict: Conflict, with: RelationId },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undecryptable => f.write_str("registration does not decrypt with the provider's key"),
            Self::TokenTooLarge => f.write_str("registration token is too large"),
            Self::NotUtf8 => f.write_str("registration is not UTF-8"),
            Self::BadV0SecretId => f.write_str("registration_secret_id is not a secret URI"),
            Self::V0SecretWithoutRegistration => {
                f.write_str("registration secret has no app-registration-content")
            }
            Self::Invalid(error) => write!(f, "invalid registration: {error}"),
            Self::Conflict { conflict, with } => write!(f, "{conflict} (with relation {})", with.id),
        }
    }
}

/// What became of one relation's registration.
#[derive(Debug, Clone)]
pub enum RegistrationOutcome {
    Accepted(Registration),
    NotReady(NotReady),
    Rejected(Rejection),
}

/// What the requirer put in its application bag, with a v0 secret already fetched.
#[derive(Debug, Clone)]
enum Sent {
    Nothing,
    Token(String),
    V0(Result<SecretString, V0Problem>),
}

#[derive(Debug, Clone, Copy)]
enum V0Problem {
    BadId,
    NotVisible(ToolErrorKind),
    NoContent,
}

/// One live relation as this unit sees it.
#[derive(Debug, Clone)]
pub struct ProviderRelation {
    pub id: RelationId,
    pub remote_app: Option<String>,
    sent: Sent,
    /// This application's bag for the relation (read by the leader only).
    own_bag: Option<Databag>,
}

/// One of the two secrets the provider owns, as `secret-info-get` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedSecret {
    pub id: SecretUri,
    /// Applications the secret is granted to (from the `access` entries Juju lists).
    pub granted_to: BTreeSet<String>,
}

/// The provider-owned secrets, as the leader read them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderSecrets {
    pub shared_secret: Option<OwnedSecret>,
    pub encryption_key: Option<OwnedSecret>,
}

enum Key {
    Found(SecretString),
    Missing,
    Unreadable(ToolErrorKind),
    NotNeeded,
}

/// Everything about the interface this hook needs, read in one go.
pub struct ProviderState {
    context: ProviderContext,
    leader: bool,
    relations: Vec<ProviderRelation>,
    key: Key,
    /// Read by the leader when it has relations to serve or a broken one to clean up after.
    secrets: Option<ProviderSecrets>,
    /// The record as this unit found it in the store (`None`: no store, or no record).
    recorded: Option<String>,
}

impl fmt::Debug for ProviderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderState")
            .field("context", &self.context)
            .field("leader", &self.leader)
            .field("relations", &self.relations)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

/// A provider secret as the plan knows it: how to name it, and whom it is granted to.
type Planned = (SecretHandle, BTreeSet<String>);

/// The leader's publication as data: the effects in order and what they mean.
#[derive(Debug, Clone, Default)]
pub struct PublishPlan {
    pub effects: Vec<Effect>,
    pub report: PublishReport,
}

/// What a [`PublishPlan`] changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Labels of the secrets created.
    pub created: Vec<&'static str>,
    /// New grants: relation and secret label.
    pub granted: Vec<(RelationId, &'static str)>,
    /// Grants withdrawn from the broken relation: relation and secret label.
    pub revoked: Vec<(RelationId, &'static str)>,
    /// Relations whose application bag was written.
    pub updated: Vec<RelationId>,
    /// Labels of the secrets removed because no relation is left.
    pub removed: Vec<&'static str>,
    /// Relations left alone because their remote application is unknown.
    pub skipped: Vec<RelationId>,
    /// The secrets do not exist and no shared secret value was given to create them.
    pub waiting_for_shared_secret: bool,
}

/// The result of [`ProviderState::publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Only the leader publishes; nothing was done.
    NotLeader,
    Published(PublishReport),
}

impl ProviderState {
    /// Reads the relations of the endpoint (minus a broken one), each requirer bag, a v0
    /// registration secret where one is referenced, and the encryption key by label (once,
    /// when there is a relation; used only if some relation sent a token), independent reads
    /// side by side (see [`juju::parallel`]). Every unit reads the leader's record from the
    /// store, which names the requirer of each relation it has served; the leader also reads,
    /// where the record does not tell, its own bags and (when it has relations or a broken
    /// one) the metadata of the two secrets.
    pub fn read(tools: &HookTools, context: ProviderContext) -> Result<Self, HookToolError> {
        let leader = tools.is_leader()?;
        // The record and the relations' ids side by side, then every relation's reads (and
        // the key, which a relation with a token needs) side by side.
        let (recorded, ids) = juju::parallel::join(
            || match &context.store {
                Some(store) => {
                    Ok(tolerate_gone(tools.relation_get_app(&store.relation, &context.local_app))?
                        .and_then(|mut bag| bag.remove(&store.key))
                        .filter(|text| !text.is_empty()))
                }
                None => Ok(None),
            },
            || tools.relation_ids(&context.endpoint),
        );
        let recorded: Option<String> = recorded?;
        let record = recorded.as_deref().and_then(Published::parse).unwrap_or_default();
        let ids: Vec<RelationId> =
            ids?.into_iter().filter(|id| context.broken().is_none_or(|broken| broken.id != *id)).collect();
        let read_relation = |id: &RelationId| -> Result<ProviderRelation, HookToolError> {
            // A relation's requirer never changes: the environment's or the record's name
            // saves a `relation-list --app`.
            let remote_app = match context.known_remote_app(id).or_else(|| record.app(id)) {
                Some(app) => Some(app.to_string()),
                None => tolerate_gone(tools.relation_remote_app(id))?.flatten(),
            };
            let sent = match &remote_app {
                Some(app) => read_sent(tools, id, app)?,
                None => Sent::Nothing,
            };
            let published = remote_app.as_deref().and_then(|app| record.bag(id, app));
            let own_bag = match (leader, published) {
                (false, _) => None,
                (true, Some(published)) => Some(published.clone()),
                (true, None) => {
                    Some(tolerate_gone(tools.relation_get_app(id, &context.local_app))?.unwrap_or_default())
                }
            };
            Ok(ProviderRelation { id: id.clone(), remote_app, sent, own_bag })
        };
        // The key is read with the relations when there are any (nearly always one has sent a
        // token); it is kept only if one did, and a failure to read it matters only then.
        let (key, relations) = juju::parallel::join(
            || (!ids.is_empty()).then(|| read_key(tools)),
            || juju::parallel::map(&ids, read_relation),
        );
        let relations = relations.into_iter().collect::<Result<Vec<_>, _>>()?;
        let key = match key {
            Some(key) if relations.iter().any(|r| matches!(r.sent, Sent::Token(_))) => key?,
            _ => Key::NotNeeded,
        };
        let secrets = if leader && (!relations.is_empty() || context.broken().is_some()) {
            let live = relations.iter().filter_map(|r| Some((&r.id, r.remote_app.as_deref()?)));
            match record.secrets(live) {
                Some(known) => Some(known),
                None => Some(read_secrets(tools)?),
            }
        } else {
            None
        };
        Ok(Self { context, leader, relations, key, secrets, recorded })
    }

    pub fn relations(&self) -> &[ProviderRelation] {
        &self.relations
    }

    /// The provider secrets as the leader read them (`None` on other units, and on a leader
    /// with neither a relation nor a broken one).
    pub fn secrets(&self) -> Option<&ProviderSecrets> {
        self.secrets.as_ref()
    }

    /// Every relation's registration, decrypted, checked, and cross-checked in relation-id
    /// order (an earlier relation wins a conflict).
    pub fn registrations(&self) -> Vec<(RelationId, RegistrationOutcome)> {
        let mut outcomes: BTreeMap<RelationId, RegistrationOutcome> = BTreeMap::new();
        let mut candidates = Vec::new();
        for relation in &self.relations {
            match self.registration_of(relation) {
                RegistrationOutcome::Accepted(registration) => {
                    candidates.push((relation.id.clone(), registration))
                }
                outcome => {
                    outcomes.insert(relation.id.clone(), outcome);
                }
            }
        }
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, result) in resolve_conflicts(candidates) {
            let outcome = match result {
                Ok(registration) => RegistrationOutcome::Accepted(registration),
                Err(ConflictWith { conflict, earlier }) => {
                    RegistrationOutcome::Rejected(Rejection::Conflict { conflict, with: earlier })
                }
            };
            outcomes.insert(id, outcome);
        }
        outcomes.into_iter().collect()
    }

    /// Decrypts and parses one relation's registration (conflicts are checked later).
    fn registration_of(&self, relation: &ProviderRelation) -> RegistrationOutcome {
        use RegistrationOutcome::{NotReady as Wait, Rejected as Reject};
        if relation.remote_app.is_none() {
            return Wait(NotReady::RemoteAppUnknown);
        }
        let text = match &relation.sent {
            Sent::Nothing => return Wait(NotReady::NoRegistration),
            Sent::V0(Ok(text)) => text.clone(),
            Sent::V0(Err(V0Problem::BadId)) => return Reject(Rejection::BadV0SecretId),
            Sent::V0(Err(V0Problem::NoContent)) => return Reject(Rejection::V0SecretWithoutRegistration),
            Sent::V0(Err(V0Problem::NotVisible(kind))) => return Wait(NotReady::V0SecretNotVisible(*kind)),
            Sent::Token(token) => {
                let key = match &self.key {
                    Key::Found(key) => key,
                    Key::Missing | Key::NotNeeded => return Wait(NotReady::EncryptionKeyMissing),
                    Key::Unreadable(kind) => return Wait(NotReady::EncryptionKeyUnreadable(*kind)),
                };
                if token.len() > MAX_TOKEN_CHARS {
                    return Reject(Rejection::TokenTooLarge);
                }
                match crypto::decrypt_string(key, token) {
                    Ok(text) => text,
                    Err(CryptoError::MalformedKey) => return Wait(NotReady::EncryptionKeyMalformed),
                    Err(CryptoError::InvalidToken) => return Reject(Rejection::Undecryptable),
                    Err(CryptoError::NotUtf8) => return Reject(Rejection::NotUtf8),
                }
            }
        };
        match Registration::parse(text.expose_secret()) {
            Ok(registration) => RegistrationOutcome::Accepted(registration),
            Err(error) => Reject(Rejection::Invalid(error)),
        }
    }

    /// Leader: plans making sure both secrets exist (creating them only when `shared_secret`
    /// is given, with a key from `new_key`, and never changing an existing one), granting
    /// them to every relation that lacks a grant, writing the changed keys of
    /// [`ProviderData`](crate::ProviderData) to every relation, and withdrawing the grants
    /// of a broken relation where Juju still lists them. With no relation left, plans removing both secrets
    /// instead. `None` on other units. Pure: [`juju::effects::execute`] carries it out.
    pub fn plan_publish(
        &self,
        homeserver: &str,
        shared_secret: Option<&SecretString>,
        new_key: impl FnOnce() -> SecretString,
    ) -> Option<PublishPlan> {
        if !self.leader {
            return None;
        }
        let mut plan = PublishPlan::default();
        let Some(secrets) = &self.secrets else {
            self.plan_record(None, &mut plan);
            return Some(plan);
        };
        if self.relations.is_empty() {
            for (label, secret) in [
                (SHARED_SECRET_LABEL, &secrets.shared_secret),
                (ENCRYPTION_KEY_LABEL, &secrets.encryption_key),
            ] {
                if let Some(secret) = secret {
                    plan.effects.push(Effect::SecretRemove { secret: secret.id.clone() });
                    plan.report.removed.push(label);
                }
            }
            self.plan_record(None, &mut plan);
            return Some(plan);
        }
        let existing = |secret: &Option<OwnedSecret>| -> Option<Planned> {
            secret.as_ref().map(|s| (SecretHandle::Existing(s.id.clone()), s.granted_to.clone()))
        };
        let mut shared = existing(&secrets.shared_secret);
        let mut key = existing(&secrets.encryption_key);
        if shared.is_none() || key.is_none() {
            match shared_secret {
                Some(value) => {
                    if shared.is_none() {
                        plan.effects.push(add(SHARED_SECRET_LABEL, SHARED_SECRET_CONTENT, value.clone()));
                        plan.report.created.push(SHARED_SECRET_LABEL);
                        shared = Some((SecretHandle::Added(SHARED_SECRET_LABEL.into()), BTreeSet::new()));
                    }
                    if key.is_none() {
                        plan.effects.push(add(ENCRYPTION_KEY_LABEL, ENCRYPTION_KEY_CONTENT, new_key()));
                        plan.report.created.push(ENCRYPTION_KEY_LABEL);
                        key = Some((SecretHandle::Added(ENCRYPTION_KEY_LABEL.into()), BTreeSet::new()));
                    }
                }
                None => plan.report.waiting_for_shared_secret = true,
            }
        }
        let model = &self.context.model_uuid;
        let id_value = |secret: &Option<Planned>| match secret {
            None => Value::Text(String::new()),
            Some((SecretHandle::Existing(id), _)) => Value::Text(id.canonical(model).to_string()),
            Some((SecretHandle::Added(label), _)) => {
                Value::AddedSecretId { label: label.clone(), model_uuid: Some(model.clone()) }
            }
        };
        let desired = BTreeMap::from([
            (HOMESERVER_KEY.to_string(), Value::Text(homeserver.to_string())),
            (SHARED_SECRET_ID_KEY.to_string(), id_value(&shared)),
            (ENCRYPTION_KEY_SECRET_ID_KEY.to_string(), id_value(&key)),
        ]);
        for relation in &self.relations {
            let Some(remote_app) = &relation.remote_app else {
                plan.report.skipped.push(relation.id.clone());
                continue;
            };
            for (label, secret) in [(SHARED_SECRET_LABEL, &shared), (ENCRYPTION_KEY_LABEL, &key)] {
                if let Some((handle, _)) =
                    secret.as_ref().filter(|(_, granted)| !granted.contains(remote_app))
                {
                    plan.effects
                        .push(Effect::SecretGrant { secret: handle.clone(), relation: relation.id.clone() });
                    plan.report.granted.push((relation.id.clone(), label));
                }
            }
            let changes = changed_entries(relation.own_bag.as_ref().unwrap_or(&Databag::new()), &desired);
            if !changes.is_empty() {
                plan.effects.push(Effect::RelationSet {
                    relation: relation.id.clone(),
                    bag: Bag::App,
                    data: changes,
                });
                plan.report.updated.push(relation.id.clone());
            }
        }
        self.plan_revokes([(SHARED_SECRET_LABEL, &shared), (ENCRYPTION_KEY_LABEL, &key)], &mut plan);
        let served = self.relations.iter().filter_map(|r| Some((&r.id, r.remote_app.as_deref()?)));
        self.plan_record(Published::of(&desired, served), &mut plan);
        Some(plan)
    }

    /// Plans keeping `record` in the store when it differs from the one found there; `None`
    /// clears it.
    fn plan_record(&self, record: Option<Published>, plan: &mut PublishPlan) {
        let Some(store) = &self.context.store else { return };
        let text = record.map(|record| record.to_text()).unwrap_or_default();
        if self.recorded.as_deref().unwrap_or_default() != text {
            plan.effects.push(Effect::RelationSet {
                relation: store.relation.clone(),
                bag: Bag::App,
                data: BTreeMap::from([(store.key.clone(), Value::Text(text))]),
            });
        }
    }

    /// [`ProviderState::plan_publish`] with a freshly generated key, executed.
    pub fn publish(
        &self,
        tools: &HookTools,
        homeserver: &str,
        shared_secret: Option<&SecretString>,
    ) -> Result<PublishOutcome, EffectError> {
        let Some(plan) = self.plan_publish(homeserver, shared_secret, crypto::generate_key) else {
            return Ok(PublishOutcome::NotLeader);
        };
        juju::effects::execute(tools, &plan.effects)?;
        Ok(PublishOutcome::Published(plan.report))
    }

    /// Plans withdrawing the secrets from the broken relation's application where
    /// `secret-info-get` still lists its grant, unless another live relation serves the same
    /// application.
    fn plan_revokes(&self, secrets: [(&'static str, &Option<Planned>); 2], plan: &mut PublishPlan) {
        let Some(broken) = self.context.broken() else { return };
        // Without the application's name the grant cannot be told apart; Juju drops it.
        let Some(app) = &broken.remote_app else { return };
        if self.relations.iter().any(|relation| relation.remote_app.as_ref() == Some(app)) {
            return;
        }
        for (label, secret) in secrets {
            if let Some((handle, _)) = secret.as_ref().filter(|(_, granted)| granted.contains(app)) {
                plan.effects
                    .push(Effect::SecretRevoke { secret: handle.clone(), relation: broken.id.clone() });
                plan.report.revoked.push((broken.id.clone(), label));
            }
        }
    }
}

/// A relation that vanished mid-hook reads as absent, as ops treats it.
fn tolerate_gone<T>(result: Result<T, HookToolError>) -> Result<Option<T>, HookToolError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_relation_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

fn is_remote_refusal(error: &HookToolError) -> bool {
    matches!(error.kind(), ToolErrorKind::SecretNotFound | ToolErrorKind::PermissionDenied)
}

fn non_empty<'a>(bag: &'a Databag, key: &str) -> Option<&'a str> {
    bag.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn read_sent(tools: &HookTools, relation: &RelationId, remote_app: &str) -> Result<Sent, HookToolError> {
    let bag = tolerate_gone(tools.relation_get_app(relation, remote_app))?.unwrap_or_default();
    if let Some(token) = non_empty(&bag, REGISTRATION_KEY) {
        return Ok(Sent::Token(token.to_string()));
    }
    let Some(id) = non_empty(&bag, V0_REGISTRATION_SECRET_ID_KEY) else { return Ok(Sent::Nothing) };
    let Some(id) = SecretUri::parse(id) else { return Ok(Sent::V0(Err(V0Problem::BadId))) };
    Ok(Sent::V0(match tools.secret_get(&SecretRef::Id(id), ReadMode::Refresh) {
        Ok(mut content) => content.remove(V0_REGISTRATION_CONTENT).ok_or(V0Problem::NoContent),
        Err(error) if is_remote_refusal(&error) => Err(V0Problem::NotVisible(error.kind())),
        Err(error) => return Err(error),
    }))
}

fn read_key(tools: &HookTools) -> Result<Key, HookToolError> {
    match tools.secret_get(&SecretRef::Label(ENCRYPTION_KEY_LABEL.into()), ReadMode::Tracked) {
        Ok(mut content) => Ok(content
            .remove(ENCRYPTION_KEY_CONTENT)
            .map_or(Key::Unreadable(ToolErrorKind::Other), Key::Found)),
        Err(error) if error.is_secret_not_found() => Ok(Key::Missing),
        Err(error) if error.is_permission_denied() => Ok(Key::Unreadable(error.kind())),
        Err(error) => Err(error),
    }
}

fn read_secrets(tools: &HookTools) -> Result<ProviderSecrets, HookToolError> {
    let (shared_secret, encryption_key) = juju::parallel::join(
        || secret_info(tools, SHARED_SECRET_LABEL),
        || secret_info(tools, ENCRYPTION_KEY_LABEL),
    );
    Ok(ProviderSecrets { shared_secret: shared_secret?, encryption_key: encryption_key? })
}

/// `secret-info-get --label`: the secret's URI and the applications its grants name.
fn secret_info(tools: &HookTools, label: &str) -> Result<Option<OwnedSecret>, HookToolError> {
    match tools.secret_info_get(&SecretRef::Label(label.to_string())) {
        Ok(info) => Ok(Some(OwnedSecret {
            id: info.id,
            granted_to: info
                .access
                .iter()
                .filter_map(SecretAccess::granted_application)
                .map(str::to_string)
                .collect(),
        })),
        Err(error) if error.is_secret_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

/// The `secret-add` of one provider secret, found later by its label.
fn add(label: &str, content_key: &str, value: SecretString) -> Effect {
    Effect::SecretAdd(NewSecret {
        content: SecretContent::from([(content_key.to_string(), value)]),
        label: Some(label.to_string()),
        ..NewSecret::default()
    })
}
