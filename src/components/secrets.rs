//! The application secrets as a component ([`AppSecrets`]): read by label (or, the first
//! time on a non-leader, by the ID the leader announced in the peer relation); created once
//! by the leader, which announces the ID so every unit wakes up to it. Their homeserver.yaml
//! keys and the signing key file follow.
//!
//! A leader whose earlier hook wrote secrets into the container but failed before Juju kept
//! the secret stores those again instead of generating new ones (Synapse already runs with
//! them).

use juju::effects::Value;
use juju::{
    Bag, Effect, HookTools, LogLevel, NewSecret, ReadMode, RelationId, SecretOwner, SecretRef, SecretUri,
};

use crate::app_secrets::{self, AppSecrets};
use crate::component::{ComponentPlan, Facts, PlannedFile};
use crate::data_dir::DataDir;
use crate::deployment::PEER_RELATION;
use crate::homeserver;
use crate::state::StateError;
use crate::status;
use crate::workload::{signing_key_path, ContainerFile, CONFIG_PATH, SERVICE};

pub const NAME: &str = "secrets";

/// Peer application bag key holding the application secret's URI.
pub const SECRETS_ID_KEY: &str = "app-secrets-id";

/// The application secrets, or where to announce them once created.
#[derive(Debug)]
pub enum Secrets {
    Present(AppSecrets),
    /// The leader has not created them yet. `peer_relation` is where the leader announces
    /// them (it creates them only once that relation exists, so no unit misses the news).
    Missing {
        peer_relation: Option<RelationId>,
        /// Secrets this charm already wrote into the container in an earlier hook whose
        /// secret Juju then discarded (the hook failed after Synapse started).
        in_container: Option<AppSecrets>,
    },
}

/// One `secret-get` by label; more only until this unit has read the secret once. A leader
/// that finds none looks into a data directory that is (or may be) the charm's for secrets
/// written earlier (two Pebble requests).
pub fn load(
    tools: &HookTools,
    pebble: &pebble::Client,
    app_name: &str,
    leader: bool,
    data_dir: Option<&DataDir>,
) -> Result<Secrets, StateError> {
    let label = app_secrets::LABEL.to_string();
    if let Some(secrets) = secret_content(tools, SecretRef::Label(label.clone()))? {
        return Ok(Secrets::Present(secrets));
    }
    let peer_relation = tools.relation_ids(PEER_RELATION)?.into_iter().next();
    if !leader {
        if let Some(relation) = &peer_relation {
            let announced = tools.relation_get_app(relation, app_name)?;
            if let Some(id) = announced.get(SECRETS_ID_KEY).and_then(|id| SecretUri::parse(id)) {
                if let Some(secrets) = secret_content(tools, SecretRef::IdWithLabel(id, label))? {
                    return Ok(Secrets::Present(secrets));
                }
            }
        }
    }
    let in_container = if leader && matches!(data_dir, Some(DataDir::Ours | DataDir::NotInspected)) {
        secrets_in_container(pebble)
    } else {
        None
    };
    Ok(Secrets::Missing { peer_relation, in_container })
}

fn secret_content(tools: &HookTools, secret: SecretRef) -> Result<Option<AppSecrets>, StateError> {
    match tools.secret_get(&secret, ReadMode::Tracked) {
        Ok(content) => Ok(Some(AppSecrets::from_content(&content)?)),
        Err(error) if error.is_secret_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The secrets of the homeserver.yaml and signing key this charm wrote earlier, if both are
/// there and complete. Anything missing or unreadable means none.
fn secrets_in_container(pebble: &pebble::Client) -> Option<AppSecrets> {
    let config = pebble.pull(CONFIG_PATH).ok()?;
    let config = String::from_utf8(config).ok()?;
    let written = homeserver::written_secrets(&config)?;
    let key = pebble.pull(&written.signing_key_path).ok()?;
    let key = String::from_utf8(key).ok()?;
    written.with_signing_key(key.trim())
}

/// The plan, and the secrets the other components may use this hook.
#[derive(Debug)]
pub struct SecretsPlan {
    pub plan: ComponentPlan,
    pub secrets: Option<AppSecrets>,
}

/// `generate` makes fresh secrets for a server name; it is called only on a leader that may
/// write, with a valid configuration, no secrets (in Juju or in the container) and the
/// peer relation to announce them on.
pub fn plan(state: &Secrets, facts: &Facts, generate: impl FnOnce(&str) -> AppSecrets) -> SecretsPlan {
    let mut plan = ComponentPlan::default();
    let Some(config) = facts.config else { return SecretsPlan { plan, secrets: None } };
    let secrets = match state {
        Secrets::Present(secrets) if secrets.server_name != config.server_name => {
            plan.statuses.push(status::server_name_changed());
            plan.log(
                LogLevel::Error,
                format!(
                    "server_name cannot change once Synapse has been configured: it is {:?}, the configuration asks \
                     for {:?}; set server_name back to {:?}",
                    secrets.server_name, config.server_name, secrets.server_name
                ),
            );
            None
        }
        Secrets::Present(secrets) => Some(secrets.clone()),
        Secrets::Missing { peer_relation: Some(relation), in_container }
            if facts.leader && facts.may_write =>
        {
            let secrets = match in_container {
                Some(found) if found.server_name == config.server_name => {
                    plan.log(
                        LogLevel::Warning,
                        format!(
                            "storing the application secrets Synapse already runs with for server_name {:?}: an \
                             earlier hook wrote them into the container but failed before Juju kept its secret",
                            found.server_name
                        ),
                    );
                    found.clone()
                }
                _ => {
                    plan.log(
                        LogLevel::Info,
                        format!(
                            "generating the application secrets for server_name {:?}",
                            config.server_name
                        ),
                    );
                    generate(&config.server_name)
                }
            };
            plan.effects.extend(store(&secrets, relation));
            Some(secrets)
        }
        Secrets::Missing { .. } if facts.leader && !facts.may_write => None,
        Secrets::Missing { peer_relation: None, .. } if facts.leader => {
            plan.statuses.push(status::waiting_for_peer_relation());
            None
        }
        Secrets::Missing { .. } => {
            plan.statuses.push(status::waiting_for_secrets());
            None
        }
    };
    if let Some(secrets) = &secrets {
        use secrecy::ExposeSecret as _;
        plan.homeserver = homeserver::secrets_fragment(secrets);
        plan.files.push(PlannedFile {
            file: ContainerFile::secret(
                signing_key_path(&secrets.server_name),
                format!("{}\n", secrets.signing_key.expose_secret()),
            ),
            services: &[SERVICE],
            appservice_of: None,
        });
        plan.secrets = secrets.values();
    }
    SecretsPlan { plan, secrets }
}

/// Stores the secrets as one application secret, then announces its ID in the peer
/// relation, which wakes the other units up with a relation-changed event.
fn store(secrets: &AppSecrets, peer_relation: &RelationId) -> [Effect; 2] {
    let add = Effect::SecretAdd(NewSecret {
        content: secrets.to_content(),
        label: Some(app_secrets::LABEL.to_string()),
        description: Some("Synapse application secrets (shared by all units)".to_string()),
        owner: SecretOwner::Application,
        ..NewSecret::default()
    });
    let announce = Effect::RelationSet {
        relation: peer_relation.clone(),
        bag: Bag::App,
        data: [(
            SECRETS_ID_KEY.to_string(),
            Value::AddedSecretId { label: app_secrets::LABEL.to_string(), model_uuid: None },
        )]
        .into(),
    };
    [add, announce]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::tests::facts;
    use crate::deployment::Deployment;
    use secrecy::ExposeSecret as _;

    fn peers() -> RelationId {
        RelationId::new(PEER_RELATION, 0)
    }

    fn missing(in_container: Option<AppSecrets>) -> Secrets {
        Secrets::Missing { peer_relation: Some(peers()), in_container }
    }

    fn never(_: &str) -> AppSecrets {
        panic!("secrets must not be generated here")
    }

    #[test]
    fn the_leader_generates_stores_and_announces_them() {
        let deployment = Deployment::single();
        let SecretsPlan { plan, secrets } =
            plan(&missing(None), &facts(&deployment, "synapse/0", true), AppSecrets::generate);
        let secrets = secrets.expect("generated");
        assert_eq!(secrets.server_name, "example.com");
        assert!(
            matches!(&plan.effects[0], Effect::SecretAdd(new) if new.label.as_deref() == Some(app_secrets::LABEL)
            && new.owner == SecretOwner::Application)
        );
        assert!(matches!(&plan.effects[1], Effect::RelationSet { relation, bag: Bag::App, data }
            if *relation == peers() && data[SECRETS_ID_KEY] == Value::AddedSecretId { label: app_secrets::LABEL.into(), model_uuid: None }));
        assert_eq!(
            plan.homeserver.0["registration_shared_secret"],
            secrets.registration_shared_secret.expose_secret()
        );
        assert_eq!(plan.files[0].file.path, "/data/example.com.signing.key");
        assert!(plan.files[0].file.secret);
        assert!(plan.secrets.len() >= 4);
    }

    #[test]
    fn other_units_wait_and_a_leader_without_the_peer_relation_waits_for_it() {
        let deployment = Deployment::single();
        let follower = plan(&missing(None), &facts(&deployment, "synapse/1", false), never);
        assert_eq!(follower.plan.statuses, [status::waiting_for_secrets()]);
        assert!(follower.secrets.is_none() && follower.plan.effects.is_empty());
        let alone = Secrets::Missing { peer_relation: None, in_container: None };
        let leader = plan(&alone, &facts(&deployment, "synapse/0", true), never);
        assert_eq!(leader.plan.statuses, [status::waiting_for_peer_relation()]);
    }

    #[test]
    fn a_changed_server_name_blocks() {
        let deployment = Deployment::single();
        let old = Secrets::Present(AppSecrets::generate("old.example.com"));
        let SecretsPlan { plan, secrets } = plan(&old, &facts(&deployment, "synapse/0", true), never);
        assert_eq!(plan.statuses, [status::server_name_changed()]);
        assert!(plan.diagnostics[0].1.contains("old.example.com"));
        assert!(secrets.is_none() && plan.files.is_empty() && plan.effects.is_empty());
    }

    #[test]
    fn the_leader_stores_what_the_container_holds_for_the_same_server_name() {
        let deployment = Deployment::single();
        let earlier = AppSecrets::generate("example.com");
        let reused = plan(&missing(Some(earlier.clone())), &facts(&deployment, "synapse/0", true), never);
        assert_eq!(reused.secrets.unwrap().signing_key.expose_secret(), earlier.signing_key.expose_secret());
        assert_eq!(reused.plan.effects.len(), 2);
        assert_eq!(reused.plan.diagnostics[0].0, LogLevel::Warning);
        let other = missing(Some(AppSecrets::generate("other.example.com")));
        let fresh = plan(&other, &facts(&deployment, "synapse/0", true), AppSecrets::generate);
        assert_ne!(fresh.secrets.unwrap().signing_key.expose_secret(), earlier.signing_key.expose_secret());
    }

    #[test]
    fn nothing_is_created_where_the_unit_may_not_write() {
        let mut deployment = Deployment::single();
        deployment.departing = true;
        let leaving = plan(&missing(None), &facts(&deployment, "synapse/0", true), never);
        assert!(
            leaving.secrets.is_none() && leaving.plan.effects.is_empty() && leaving.plan.statuses.is_empty()
        );
    }
}
