//! The `matrix_auth` provider: every unit turns the requirers' appservice registrations into
//! files Synapse loads, and the leader publishes the homeserver URL with the two interface
//! secrets (through the `matrix-auth` crate).
//!
//! A registration that cannot be used costs only its own relation: it is left out, logged as
//! a warning and reported in a Blocked status naming the application. A relation that has not
//! sent a usable registration *yet* blocks nothing.

use std::collections::BTreeMap;

use juju::{HookContext, HookToolError, HookTools, RelationId, Status, ToolErrorKind};
use matrix_auth::protocol::ENDPOINT;
use matrix_auth::{NotReady, ProviderContext, ProviderState, RegistrationOutcome, Rejection};
use secrecy::{ExposeSecret, SecretString};

use crate::workload::{ContainerFile, DATA_DIR};

/// The name pattern (in [`DATA_DIR`]) of every registration file the charm writes.
pub const REGISTRATION_FILES: &str = "appservice-registration-matrix-auth-*.yaml";

/// Where Synapse reads the registration of a relation (upstream's path).
pub fn registration_path(relation: &RelationId) -> String {
    format!("{DATA_DIR}/appservice-registration-{}-{}.yaml", relation.endpoint, relation.id)
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
    /// [`ProviderState::read`] for the hook-tool calls).
    pub fn load(tools: &HookTools, context: &HookContext, leader: bool) -> Result<Self, HookToolError> {
        let provider = ProviderState::read(tools, ProviderContext::from_hook(context, ENDPOINT))?;
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

/// What the leader publishes (through [`MatrixAuthState::provider`]): Synapse's URL and the
/// registration shared secret of its homeserver.yaml.
#[derive(Debug)]
pub struct Publish {
    pub homeserver: String,
    pub shared_secret: SecretString,
}

/// What the registrations mean for Synapse, the status and the log.
#[derive(Debug, Default)]
pub struct RegistrationPlan {
    /// One file per accepted registration, in relation-id order.
    pub files: Vec<ContainerFile>,
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

/// Decides which registrations Synapse loads and what to report about the others.
/// `local_app` is this application's name, as requirers grant their secrets to it.
pub fn plan(relations: &[RelationRegistration], local_app: &str) -> RegistrationPlan {
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
                plan.files.push(ContainerFile::secret(
                    registration_path(&entry.relation),
                    registration.source().expose_secret(),
                ));
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
        let plan = plan(
            &[
                entry(2, "irc", RegistrationOutcome::Accepted(registration("irc", "t1"))),
                entry(5, "maubot", RegistrationOutcome::NotReady(NotReady::NoRegistration)),
                entry(7, "tg", RegistrationOutcome::Accepted(registration("tg", "t2"))),
            ],
            "synapse",
        );
        let paths: Vec<&str> = plan.files.iter().map(|file| file.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/data/appservice-registration-matrix-auth-2.yaml",
                "/data/appservice-registration-matrix-auth-7.yaml"
            ]
        );
        assert!(plan.files.iter().all(|file| file.secret));
        assert_eq!(plan.files[0].content, registration("irc", "t1").source().expose_secret().as_bytes());
        assert_eq!(plan.status, None, "a requirer that sends nothing is fine");
        assert!(plan.rejected.is_empty() && plan.pending.is_empty());
    }

    #[test]
    fn rejections_block_with_the_application_and_reason() {
        let conflict =
            Rejection::Conflict { conflict: matrix_auth::Conflict::DuplicateAsToken, with: relation(2) };
        let plan = plan(
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
        let plan = plan(
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
        let plan = plan(
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
