//! The `matrix_auth` provider as a component: every unit turns the requirers' appservice
//! registrations into files Synapse loads, and the leader plans publishing the homeserver
//! URL with the two interface secrets (through the `matrix-auth` crate).
//!
//! A registration that cannot be used costs only its own relation: it is left out, logged as
//! a warning and reported in a Blocked status naming the application. A relation that has not
//! sent a usable registration *yet* blocks nothing.

use std::collections::BTreeMap;

use juju::{HookContext, HookToolError, HookTools, LogLevel, RelationId, Status, ToolErrorKind};
use matrix_auth::protocol::ENDPOINT;
use matrix_auth::{
    NotReady, ProviderContext, ProviderState, PublicationStore, PublishReport, RegistrationOutcome, Rejection,
};
use secrecy::{ExposeSecret, SecretString};

use crate::component::{ComponentPlan, Facts, OwnedFiles, PlannedFile};
use crate::deployment::PEER_RELATION;
use crate::workload::{versioned_path, ContainerFile, DATA_DIR, SERVICE};

pub const NAME: &str = "matrix-auth";

/// The key of the peer application bag where the leader records what it published.
pub const PUBLISHED_KEY: &str = "matrix-auth-published";

/// Every registration file the charm writes, in [`DATA_DIR`].
pub const REGISTRATION_FILES: OwnedFiles =
    OwnedFiles { dir: DATA_DIR, pattern: "appservice-registration-matrix-auth-*.yaml" };

/// Where Synapse reads the registration `text` of a relation: upstream's name, with the
/// content's hash (see [`versioned_path`]).
pub fn registration_path(relation: &RelationId, text: &str) -> String {
    let stem = format!("appservice-registration-{}-{}", relation.endpoint, relation.id);
    versioned_path(DATA_DIR, &stem, "yaml", text.as_bytes())
}

/// The interface as this hook found it.
#[derive(Debug, Default)]
pub struct MatrixAuthState {
    /// Every live relation's registration, in relation-id order.
    pub relations: Vec<RelationRegistration>,
    /// What the leader publishes through; `None` on other units.
    pub provider: Option<ProviderState>,
}

/// One relation and what became of its registration.
#[derive(Debug, Clone)]
pub struct RelationRegistration {
    pub relation: RelationId,
    /// The requirer application as this model knows it (possibly an offer alias).
    pub remote_app: Option<String>,
    pub outcome: RegistrationOutcome,
}

impl MatrixAuthState {
    /// Reads every relation once and decrypts and checks each registration (see
    /// [`ProviderState::read`] for the hook-tool calls). The leader keeps its record of what
    /// it published in the peer relation's application bag, where every unit finds each
    /// relation's requirer.
    pub fn load(tools: &HookTools, context: &HookContext, leader: bool) -> Result<Self, HookToolError> {
        let mut provider_context = ProviderContext::from_hook(context, ENDPOINT);
        if let Some(peers) = tools.relation_ids(PEER_RELATION)?.into_iter().next() {
            let store = PublicationStore { relation: peers, key: PUBLISHED_KEY.to_string() };
            provider_context = provider_context.with_store(store);
        }
        let provider = ProviderState::read(tools, provider_context)?;
        let apps: BTreeMap<&RelationId, &Option<String>> =
            provider.relations().iter().map(|relation| (&relation.id, &relation.remote_app)).collect();
        let relations = provider
            .registrations()
            .into_iter()
            .map(|(relation, outcome)| RelationRegistration {
                remote_app: apps.get(&relation).and_then(|app| (*app).clone()),
                relation,
                outcome,
            })
            .collect();
        Ok(Self { relations, provider: leader.then_some(provider) })
    }
}

/// What the registrations mean for Synapse, the status and the log.
#[derive(Debug, Default)]
pub struct RegistrationPlan {
    /// One file per accepted registration, in relation-id order.
    pub files: Vec<PlannedFile>,
    /// Blocked when a registration was rejected; Active with a message when one is not
    /// usable yet; `None` when nothing needs the operator's attention.
    pub status: Option<Status>,
    /// One line per rejected registration (with the details the status leaves out).
    pub rejected: Vec<String>,
    /// One line per registration that is not usable yet.
    pub pending: Vec<String>,
    /// The tokens of the accepted registrations, to hide from anything logged.
    pub tokens: Vec<SecretString>,
}

/// The component's plan: the registration files and their status, and on the leader the
/// publication of `homeserver` (Synapse's URL) with the `shared_secret` of homeserver.yaml,
/// once both are known. `new_key` makes the interface's encryption key if it must be created.
pub fn plan(
    state: &MatrixAuthState,
    facts: &Facts,
    publish: Option<(&str, &SecretString)>,
    new_key: impl FnOnce() -> SecretString,
) -> ComponentPlan {
    let registrations = registrations(&state.relations, facts.app);
    let mut plan = ComponentPlan::default().status(registrations.status);
    plan.files = registrations.files;
    plan.owned_files.push(REGISTRATION_FILES);
    plan.secrets = registrations.tokens;
    plan.diagnostics.extend(registrations.rejected.into_iter().map(|line| (LogLevel::Warning, line)));
    plan.diagnostics.extend(registrations.pending.into_iter().map(|line| (LogLevel::Info, line)));
    let publication = match (&state.provider, publish) {
        (Some(provider), Some((homeserver, shared_secret))) if facts.speaks_for_app() => {
            provider.plan_publish(homeserver, Some(shared_secret), new_key)
        }
        _ => None,
    };
    if let Some(publication) = publication {
        plan.diagnostics.extend(describe(&publication.report));
        plan.effects = publication.effects;
    }
    plan
}

/// What the publication does, for the log.
fn describe(report: &PublishReport) -> Vec<(LogLevel, String)> {
    let mut lines = Vec::new();
    for label in &report.created {
        lines.push((LogLevel::Info, format!("matrix-auth: creating the secret {label:?}")));
    }
    for (relation, label) in &report.granted {
        lines.push((LogLevel::Info, format!("matrix-auth: granting {label:?} to {relation}")));
    }
    for (relation, label) in &report.revoked {
        lines.push((LogLevel::Info, format!("matrix-auth: revoking {label:?} from the broken {relation}")));
    }
    for relation in &report.updated {
        lines.push((
            LogLevel::Info,
            format!("matrix-auth: publishing the homeserver and secret IDs to {relation}"),
        ));
    }
    for label in &report.removed {
        lines.push((
            LogLevel::Info,
            format!("matrix-auth: removing the secret {label:?}: no matrix-auth relation is left"),
        ));
    }
    for relation in &report.skipped {
        lines.push((LogLevel::Debug, format!("matrix-auth: {relation} has no known remote application yet")));
    }
    lines
}

/// Decides which registrations Synapse loads and what to report about the others.
/// `local_app` is this application's name, as requirers grant their secrets to it.
pub fn registrations(relations: &[RelationRegistration], local_app: &str) -> RegistrationPlan {
    let app_of = |relation: &RelationId| {
        relations
            .iter()
            .find(|candidate| &candidate.relation == relation)
            .and_then(|candidate| candidate.remote_app.clone())
            .unwrap_or_else(|| format!("relation {relation}"))
    };
    let mut plan = RegistrationPlan::default();
    let (mut rejected, mut pending) = (Vec::new(), Vec::new());
    for entry in relations {
        let app = app_of(&entry.relation);
        match &entry.outcome {
            RegistrationOutcome::Accepted(registration) => {
                let text = registration.source().expose_secret();
                plan.files.push(PlannedFile {
                    file: ContainerFile::secret(registration_path(&entry.relation, text), text),
                    services: &[SERVICE],
                    appservice_of: Some(app.clone()),
                });
                plan.tokens.extend([registration.as_token().clone(), registration.hs_token().clone()]);
            }
            RegistrationOutcome::Rejected(rejection) => {
                plan.rejected.push(format!(
                    "matrix-auth: the registration from {app} ({}) is not given to Synapse: {rejection}",
                    entry.relation
                ));
                let reason = match rejection {
                    Rejection::Conflict { conflict, with } => {
                        format!("{conflict} (already used by {})", app_of(with))
                    }
                    other => other.to_string(),
                };
                rejected.push(format!("registration from {app} rejected: {reason}"));
            }
            RegistrationOutcome::NotReady(NotReady::NoRegistration | NotReady::RemoteAppUnknown) => {}
            RegistrationOutcome::NotReady(NotReady::V0SecretNotVisible(ToolErrorKind::PermissionDenied)) => {
                // A v0 requirer re-related without granting its secret again: it stays cut
                // off until it grants it, so the operator must hear of it.
                plan.rejected.push(format!(
                    "matrix-auth: the registration secret of {app} ({}) is not granted to {local_app}: \
                     Juju answers \"permission denied\"; {app} must grant it again (re-integrate it if it does not)",
                    entry.relation
                ));
                rejected.push(format!(
                    "the registration secret of {app} is not granted to {local_app}; re-grant it from {app} or re-integrate"
                ));
            }
            RegistrationOutcome::NotReady(reason) => {
                plan.pending.push(format!(
                    "matrix-auth: the registration from {app} ({}) is not usable yet: {reason}",
                    entry.relation
                ));
                pending.push(format!("registration from {app} not usable yet: {reason}"));
            }
        }
    }
    plan.status = if !rejected.is_empty() {
        Some(Status::blocked(format!("matrix-auth: {}", rejected.join("; "))))
    } else if !pending.is_empty() {
        Some(Status::active(format!("matrix-auth: {}", pending.join("; "))))
    } else {
        None
    };
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use juju::StatusKind;
    use matrix_auth::Registration;

    fn relation(id: u32) -> RelationId {
        RelationId::new(ENDPOINT, id)
    }

    fn registration(id: &str, as_token: &str) -> Registration {
        Registration::parse(&format!(
            "id: {id}\nas_token: {as_token}\nhs_token: hs-{id}\nurl: null\nsender_localpart: {id}-bot\n\
             namespaces:\n  users:\n    - exclusive: true\n      regex: '@{id}_.*'\n"
        ))
        .unwrap()
    }

    fn entry(id: u32, app: &str, outcome: RegistrationOutcome) -> RelationRegistration {
        RelationRegistration { relation: relation(id), remote_app: Some(app.into()), outcome }
    }

    #[test]
    fn accepted_registrations_become_private_files_in_relation_order() {
        let plan = registrations(
            &[
                entry(2, "irc", RegistrationOutcome::Accepted(registration("irc", "t1"))),
                entry(5, "maubot", RegistrationOutcome::NotReady(NotReady::NoRegistration)),
                entry(7, "tg", RegistrationOutcome::Accepted(registration("tg", "t2"))),
            ],
            "synapse",
        );
        let paths: Vec<&str> = plan.files.iter().map(|planned| planned.file.path.as_str()).collect();
        assert_eq!(paths.len(), 2);
        assert!(paths[0].starts_with("/data/appservice-registration-matrix-auth-2-"), "{}", paths[0]);
        assert!(paths[1].starts_with("/data/appservice-registration-matrix-auth-7-"), "{}", paths[1]);
        assert!(plan.files.iter().all(|planned| planned.file.secret && planned.services == [SERVICE]));
        assert_eq!(plan.files[0].appservice_of.as_deref(), Some("irc"));
        assert_eq!(plan.files[0].file.content, registration("irc", "t1").source().expose_secret().as_bytes());
        let rotated = registration("irc", "t9");
        assert_ne!(
            registration_path(&relation(2), rotated.source().expose_secret()),
            paths[0],
            "a new version never overwrites the file the running configuration names"
        );
        assert_eq!(plan.status, None, "a requirer that sends nothing is fine");
        assert!(plan.rejected.is_empty() && plan.pending.is_empty());
    }

    #[test]
    fn rejections_block_with_the_application_and_reason() {
        let conflict =
            Rejection::Conflict { conflict: matrix_auth::Conflict::DuplicateAsToken, with: relation(2) };
        let plan = registrations(
            &[
                entry(2, "irc", RegistrationOutcome::Accepted(registration("irc", "t1"))),
                entry(4, "tg", RegistrationOutcome::Rejected(conflict)),
                entry(6, "slack", RegistrationOutcome::Rejected(Rejection::Undecryptable)),
                entry(8, "wa", RegistrationOutcome::NotReady(NotReady::EncryptionKeyMissing)),
            ],
            "synapse",
        );
        assert_eq!(plan.files.len(), 1);
        let status = plan.status.unwrap();
        assert_eq!(status.kind, StatusKind::Blocked);
        assert_eq!(
            status.message,
            "matrix-auth: registration from tg rejected: duplicate as_token (already used by irc); \
             registration from slack rejected: registration does not decrypt with the provider's key"
        );
        assert_eq!(plan.rejected.len(), 2);
        assert!(plan.rejected[0].contains("tg (matrix-auth:4)"), "{}", plan.rejected[0]);
        assert_eq!(plan.pending.len(), 1);
    }

    #[test]
    fn an_ungranted_v0_secret_blocks_naming_the_requirer_and_spares_the_others() {
        let denied = NotReady::V0SecretNotVisible(ToolErrorKind::PermissionDenied);
        let plan = registrations(
            &[
                entry(2, "irc", RegistrationOutcome::Accepted(registration("irc", "t1"))),
                entry(5, "legacy-bridge", RegistrationOutcome::NotReady(denied)),
            ],
            "synapse",
        );
        assert_eq!(plan.files.len(), 1, "the other registration stays loaded");
        assert_eq!(
            plan.status,
            Some(Status::blocked(
                "matrix-auth: the registration secret of legacy-bridge is not granted to synapse; \
                 re-grant it from legacy-bridge or re-integrate"
            ))
        );
        assert!(plan.rejected[0].contains("permission denied"), "{}", plan.rejected[0]);
        assert!(plan.pending.is_empty());
    }

    #[test]
    fn registrations_not_usable_yet_show_without_blocking() {
        let plan = registrations(
            &[entry(3, "legacy", RegistrationOutcome::NotReady(NotReady::EncryptionKeyMissing))],
            "synapse",
        );
        assert!(plan.files.is_empty());
        assert_eq!(
            plan.status,
            Some(Status::active(
                "matrix-auth: registration from legacy not usable yet: encryption key not created yet"
            ))
        );
    }
}
