//! The application secrets as a component ([`AppSecrets`]): read by label (or, the first
//! time on a non-leader, by the ID the leader announced in the peer relation); created once
//! by the leader, which announces the ID so every unit wakes up to it. Their homeserver.yaml
//! keys and the signing key file follow.
//!
//! A leader whose earlier hook wrote secrets into the container but failed before Juju kept
//! the secret stores those again instead of generating new ones (Synapse already runs with
//! them). A leader that finds a server it did not set up in `/data` (the upstream charm's,
//! after `juju refresh`) adopts its secrets instead ([`Adoption`]): the signing key from the
//! upstream charm's secret (by the peer data's URI, then by label) or its file, the other
//! secrets from the upstream secrets, homeserver.yaml or their key files. The leader
//! generates nothing before it has seen `/data`.

use juju::effects::Value;
use juju::{
    Bag, Databag, Effect, HookToolError, HookTools, LogLevel, NewSecret, ReadMode, RelationId, SecretOwner,
    SecretRef, SecretUri,
};

use crate::app_secrets::{self, Adoption, AppSecrets, Found};
use crate::component::{ComponentPlan, Facts, Hold, PlannedFile};
use crate::data_dir::DataDir;
use crate::deployment::PEER_RELATION;
use crate::homeserver::{self, ExistingHomeserver, ExistingSecret};
use crate::state::StateError;
use crate::status;
use crate::workload::{signing_key_path, ContainerFile, CONFIG_PATH, DATA_DIR, SERVICE};

pub const NAME: &str = "secrets";

/// Peer application bag key holding the application secret's URI.
pub const SECRETS_ID_KEY: &str = "app-secrets-id";

/// The upstream charm's peer application bag keys naming its secrets, their labels and
/// content keys.
pub const UPSTREAM_SIGNING_ID_KEY: &str = "secret-signing-id";
pub const UPSTREAM_SIGNING_LABEL: &str = "synapse-signing-key";
pub const UPSTREAM_SIGNING_CONTENT: &str = "secret-signing-key";
pub const UPSTREAM_MACAROON_ID_KEY: &str = "secret-macaroon-id";
pub const UPSTREAM_MACAROON_LABEL: &str = "synapse-macaroon-key";
pub const UPSTREAM_MACAROON_CONTENT: &str = "secret-macaroon-key";

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
    /// The leader has no secrets and `/data` holds a server this charm did not set up: what
    /// it found of that server's secrets.
    Adopt {
        peer_relation: Option<RelationId>,
        found: Box<Adoption>,
        /// Whether `/data` already carries this charm's marker (an earlier adoption stopped
        /// before Juju kept the secret).
        marked: bool,
    },
    /// The leader has no secrets and cannot see `/data` (Pebble does not answer): it must
    /// not generate any, as `/data` may hold a server to adopt.
    DataDirUnseen,
}

/// One `secret-get` by label; more only until this unit has read the secret once. A leader
/// that finds none looks into a data directory that is (or may be) the charm's for secrets
/// written earlier (two Pebble requests), and into one that holds another server for its
/// secrets (see [`adoption`]).
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
        return Ok(Secrets::Missing { peer_relation, in_container: None });
    }
    let (existing, marked) = match data_dir {
        None => return Ok(Secrets::DataDirUnseen),
        Some(DataDir::Upstream(upstream)) => (upstream.homeserver.clone(), false),
        Some(DataDir::Ours | DataDir::NotInspected) => match in_container(pebble) {
            InContainer::Written(secrets) => {
                return Ok(Secrets::Missing { peer_relation, in_container: Some(*secrets) })
            }
            InContainer::Foreign(existing) => (*existing, true),
            InContainer::Nothing => return Ok(Secrets::Missing { peer_relation, in_container: None }),
        },
        Some(DataDir::Fresh | DataDir::Foreign(_)) => {
            return Ok(Secrets::Missing { peer_relation, in_container: None })
        }
    };
    let found = adoption(tools, pebble, app_name, peer_relation.as_ref(), &existing)?;
    Ok(Secrets::Adopt { peer_relation, found: Box::new(found), marked })
}

fn secret_content(tools: &HookTools, secret: SecretRef) -> Result<Option<AppSecrets>, StateError> {
    match tools.secret_get(&secret, ReadMode::Tracked) {
        Ok(content) => Ok(Some(AppSecrets::from_content(&content)?)),
        Err(error) if error.is_secret_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// What homeserver.yaml says in a data directory marked as the charm's.
enum InContainer {
    /// The secrets of the homeserver.yaml and signing key this charm wrote earlier.
    Written(Box<AppSecrets>),
    /// A homeserver.yaml this charm did not write: an adoption stopped half-way.
    Foreign(Box<ExistingHomeserver>),
    /// Nothing complete or readable.
    Nothing,
}

/// Reads homeserver.yaml and, when this charm wrote it, the signing key it names.
fn in_container(pebble: &pebble::Client) -> InContainer {
    let Some(config) = pebble.pull(CONFIG_PATH).ok().and_then(|bytes| String::from_utf8(bytes).ok()) else {
        return InContainer::Nothing;
    };
    if !config.starts_with(homeserver::HEADER) {
        return match homeserver::existing_homeserver(&config) {
            Some(existing) => InContainer::Foreign(Box::new(existing)),
            None => InContainer::Nothing,
        };
    }
    let written = || {
        let written = homeserver::written_secrets(&config)?;
        let key = pebble.pull(&written.signing_key_path).ok()?;
        let key = String::from_utf8(key).ok()?;
        written.with_signing_key(key.trim())
    };
    written().map_or(InContainer::Nothing, |secrets| InContainer::Written(Box::new(secrets)))
}

/// Everything the leader finds of the secrets of the server `existing` describes, each in
/// the order of its authority:
///
/// - signing key: the secret the peer relation's `secret-signing-id` names (content
///   `secret-signing-key`), the secret labelled `synapse-signing-key`, the key file;
/// - macaroon secret key: the secret of `secret-macaroon-id`, the one labelled
///   `synapse-macaroon-key` (content `secret-macaroon-key`), homeserver.yaml,
///   `/data/<server_name>.macaroon.key`;
/// - registration shared secret: homeserver.yaml, `/data/<server_name>.registration.key`;
/// - form secret: homeserver.yaml.
///
/// One `relation-get` of the peer relation's application bag, up to four `secret-get`s, and
/// up to four Pebble pulls.
fn adoption(
    tools: &HookTools,
    pebble: &pebble::Client,
    app_name: &str,
    peer_relation: Option<&RelationId>,
    existing: &ExistingHomeserver,
) -> Result<Adoption, StateError> {
    let server_name = &existing.server_name;
    let bag = match peer_relation {
        Some(relation) => tools.relation_get_app(relation, app_name)?,
        None => Databag::new(),
    };
    let mut adoption = Adoption { server_name: server_name.clone(), ..Adoption::default() };
    let problems = &mut adoption.problems;
    let key_file = existing.signing_key_path.clone().unwrap_or_else(|| signing_key_path(server_name));
    adoption.signing_key_places = vec![
        format!("{UPSTREAM_SIGNING_ID_KEY} (peer data)"),
        format!("secret {UPSTREAM_SIGNING_LABEL}"),
        key_file.clone(),
    ];
    let upstream = UpstreamSecret {
        id_key: UPSTREAM_SIGNING_ID_KEY,
        label: UPSTREAM_SIGNING_LABEL,
        content_key: UPSTREAM_SIGNING_CONTENT,
    };
    adoption.signing_keys.extend(upstream.read(tools, &bag, problems)?);
    adoption.signing_keys.extend(file(pebble, &key_file, &key_file, problems)?);
    let upstream = UpstreamSecret {
        id_key: UPSTREAM_MACAROON_ID_KEY,
        label: UPSTREAM_MACAROON_LABEL,
        content_key: UPSTREAM_MACAROON_CONTENT,
    };
    adoption.macaroon_secret_keys.extend(upstream.read(tools, &bag, problems)?);
    let key_files = [
        (
            &existing.macaroon_secret_key,
            "macaroon_secret_key",
            "macaroon",
            &mut adoption.macaroon_secret_keys,
        ),
        (
            &existing.registration_shared_secret,
            "registration_shared_secret",
            "registration",
            &mut adoption.registration_shared_secrets,
        ),
    ];
    for (in_config, key, name, found) in key_files {
        found.extend(from_config(pebble, in_config.as_ref(), key, problems)?);
        if found.is_empty() {
            let path = format!("{DATA_DIR}/{server_name}.{name}.key");
            found.extend(file(pebble, &path, &path, problems)?);
        }
    }
    adoption.form_secrets.extend(from_config(
        pebble,
        existing.form_secret.as_ref(),
        "form_secret",
        problems,
    )?);
    Ok(adoption)
}

/// One of the upstream charm's application secrets: named by a key of the peer relation's
/// application bag (older deployments have no label), else found by its label.
struct UpstreamSecret {
    id_key: &'static str,
    label: &'static str,
    content_key: &'static str,
}

impl UpstreamSecret {
    /// The value of the secret the peer data names, then that of the labelled one.
    fn read(
        &self,
        tools: &HookTools,
        bag: &Databag,
        problems: &mut Vec<String>,
    ) -> Result<Vec<Found>, StateError> {
        let mut found = Vec::new();
        if let Some(id) = bag.get(self.id_key).filter(|id| !id.is_empty()) {
            let source = format!("the secret {id} named by {} in the {PEER_RELATION} relation", self.id_key);
            match SecretUri::parse(id) {
                Some(uri) => found.extend(self.content(tools, SecretRef::Id(uri), &source, problems)?),
                None => problems
                    .push(format!("{} in the {PEER_RELATION} relation is not a secret URI", self.id_key)),
            }
        }
        let source = format!("the secret labelled {}", self.label);
        found.extend(self.content(tools, SecretRef::Label(self.label.to_string()), &source, problems)?);
        Ok(found)
    }

    fn content(
        &self,
        tools: &HookTools,
        secret: SecretRef,
        source: &str,
        problems: &mut Vec<String>,
    ) -> Result<Option<Found>, HookToolError> {
        match tools.secret_get(&secret, ReadMode::Tracked) {
            Ok(content) => match content.get(self.content_key) {
                Some(value) => {
                    use secrecy::ExposeSecret as _;
                    Ok(Some(Found::new(value.expose_secret(), source)))
                }
                None => {
                    problems.push(format!("{source} has no {:?} key", self.content_key));
                    Ok(None)
                }
            },
            Err(error) if error.is_secret_not_found() && matches!(secret, SecretRef::Label(_)) => Ok(None),
            Err(error) if error.is_secret_not_found() || error.is_permission_denied() => {
                problems.push(format!("{source} cannot be read: {error}"));
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }
}

/// A secret of homeserver.yaml: its value, or the content of the file its `<key>_path`
/// names.
fn from_config(
    pebble: &pebble::Client,
    secret: Option<&ExistingSecret>,
    key: &str,
    problems: &mut Vec<String>,
) -> Result<Option<Found>, StateError> {
    match secret {
        None => Ok(None),
        Some(ExistingSecret::Inline(value)) => {
            use secrecy::ExposeSecret as _;
            Ok(Some(Found::new(value.expose_secret(), format!("homeserver.yaml ({key})"))))
        }
        Some(ExistingSecret::File(path)) => {
            let source = format!("{path} (homeserver.yaml's {key}_path)");
            let found = file(pebble, path, &source, problems)?;
            if found.is_none() {
                problems.push(format!("homeserver.yaml's {key}_path names {path}, which cannot be read"));
            }
            Ok(found)
        }
    }
}

/// The content of a file of the container; `None` when it is missing or empty.
fn file(
    pebble: &pebble::Client,
    path: &str,
    source: &str,
    problems: &mut Vec<String>,
) -> Result<Option<Found>, StateError> {
    match pebble.pull(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) if !text.trim().is_empty() => Ok(Some(Found::new(&text, source))),
            Ok(_) => Ok(None),
            Err(_) => {
                problems.push(format!("{path} is not text"));
                Ok(None)
            }
        },
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) if error.is_connection_error() => Err(StateError::Pebble(error)),
        Err(error) => {
            problems.push(format!("{path} cannot be read: {error}"));
            Ok(None)
        }
    }
}

/// The plan, and the secrets the other components may use this hook.
#[derive(Debug)]
pub struct SecretsPlan {
    pub plan: ComponentPlan,
    pub secrets: Option<AppSecrets>,
}

/// `generate` makes fresh secrets for a server name; it is called only on a leader that may
/// write, with a valid configuration, no secrets (in Juju or in the container) and the
/// peer relation to announce them on: for all of them when `/data` holds no server, for
/// what is not the server's identity and was not found (a form secret) when it adopts one.
/// A server of another `server_name`, or without its signing key, is neither adopted nor
/// replaced: the container is held as it is.
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
        Secrets::Adopt { .. } | Secrets::DataDirUnseen if !facts.leader || !facts.may_write => None,
        Secrets::Adopt { found, marked, .. } if found.server_name != config.server_name => {
            // Over a data directory not marked yet, the workload component says so.
            if *marked {
                plan.statuses
                    .push(status::adoption_server_name_differs(&found.server_name, &config.server_name));
                plan.log(
                    LogLevel::Error,
                    format!(
                        "/data holds the Synapse of server_name {:?}, the configuration asks for {:?}: nothing is \
                         adopted or generated",
                        found.server_name, config.server_name
                    ),
                );
            }
            plan.secrets = found.values();
            plan.hold = Some(Hold::Keep);
            None
        }
        Secrets::Adopt { peer_relation: Some(relation), found, .. } => {
            plan.secrets = found.values();
            match found.adopt(generate) {
                Ok(adopted) => {
                    plan.diagnostics.extend(adopted.report);
                    plan.effects.extend(store(&adopted.secrets, relation));
                    Some(adopted.secrets)
                }
                Err(missing) => {
                    plan.statuses
                        .push(status::adoption_without_signing_key(&missing.server_name, &missing.places));
                    for problem in found.problems.iter().chain(&missing.problems) {
                        plan.log(LogLevel::Warning, problem.clone());
                    }
                    plan.log(
                        LogLevel::Error,
                        format!(
                            "cannot adopt the Synapse server of /data: {missing}. Continuing would change the \
                             server's identity (its signing key), so nothing is adopted, generated or written; put \
                             the server's signing key back at {}",
                            missing.places.last().map_or("its key file", String::as_str)
                        ),
                    );
                    plan.hold = Some(Hold::Keep);
                    None
                }
            }
        }
        Secrets::Adopt { peer_relation: None, .. } => {
            plan.statuses.push(status::waiting_for_peer_relation());
            None
        }
        Secrets::DataDirUnseen => None,
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
        let adopted = std::mem::take(&mut plan.secrets);
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
        plan.secrets.extend(adopted);
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

    fn adopt(server_name: &str, key: Option<&str>, marked: bool) -> Secrets {
        let found = Adoption {
            server_name: server_name.into(),
            signing_keys: key.map(|key| Found::new(key, "the key file")).into_iter().collect(),
            macaroon_secret_keys: vec![Found::new("macaroon-of-upstream", "homeserver.yaml")],
            registration_shared_secrets: vec![Found::new("registration-of-upstream", "homeserver.yaml")],
            form_secrets: vec![Found::new("form-of-upstream", "homeserver.yaml")],
            signing_key_places: vec!["/data/example.com.signing.key".into()],
            problems: vec!["the secret secret:abc named by secret-signing-id cannot be read".into()],
        };
        Secrets::Adopt { peer_relation: Some(peers()), found: Box::new(found), marked }
    }

    #[test]
    fn the_leader_adopts_stores_and_announces_the_secrets_of_an_upstream_server() {
        let deployment = Deployment::single();
        let key = AppSecrets::generate("example.com").signing_key.expose_secret().to_string();
        let SecretsPlan { plan, secrets } =
            plan(&adopt("example.com", Some(&key), false), &facts(&deployment, "synapse/0", true), never);
        let secrets = secrets.expect("adopted");
        assert_eq!(secrets.signing_key.expose_secret(), &key);
        assert_eq!(secrets.registration_shared_secret.expose_secret(), "registration-of-upstream");
        assert!(
            matches!(&plan.effects[0], Effect::SecretAdd(new) if new.label.as_deref() == Some(app_secrets::LABEL)
            && new.content["signing-key"].expose_secret() == key)
        );
        assert!(matches!(&plan.effects[1], Effect::RelationSet { bag: Bag::App, .. }));
        assert_eq!(plan.homeserver.0["macaroon_secret_key"], "macaroon-of-upstream");
        assert_eq!(plan.files[0].file.content, format!("{key}\n").into_bytes());
        assert!(plan.statuses.is_empty() && plan.hold.is_none());
        assert_eq!(plan.diagnostics[0].0, LogLevel::Info);
        assert!(
            plan.diagnostics[0].1.starts_with("adopting the Synapse server of /data"),
            "{:?}",
            plan.diagnostics
        );
        assert!(plan.diagnostics[1..]
            .iter()
            .any(|(level, line)| *level == LogLevel::Warning && line.contains("cannot be read")));
        let hidden: Vec<&str> = plan.secrets.iter().map(|secret| secret.expose_secret()).collect();
        assert!(hidden.contains(&"macaroon-of-upstream") && hidden.contains(&key.as_str()));
    }

    #[test]
    fn without_a_signing_key_the_leader_blocks_and_keeps_everything() {
        let deployment = Deployment::single();
        let SecretsPlan { plan, secrets } =
            plan(&adopt("example.com", None, false), &facts(&deployment, "synapse/0", true), never);
        assert!(secrets.is_none() && plan.effects.is_empty() && plan.files.is_empty());
        assert_eq!(
            plan.statuses,
            [status::adoption_without_signing_key("example.com", &["/data/example.com.signing.key".into()])]
        );
        assert_eq!(plan.hold, Some(Hold::Keep));
        assert!(plan
            .diagnostics
            .iter()
            .any(|(level, line)| *level == LogLevel::Error
                && line.contains("would change the server's identity")));
    }

    #[test]
    fn another_server_name_adopts_nothing() {
        let deployment = Deployment::single();
        let key = AppSecrets::generate("old.example.org").signing_key.expose_secret().to_string();
        let unmarked =
            plan(&adopt("old.example.org", Some(&key), false), &facts(&deployment, "synapse/0", true), never);
        assert!(unmarked.secrets.is_none() && unmarked.plan.effects.is_empty());
        assert!(
            unmarked.plan.statuses.is_empty(),
            "the workload component names both over an unmarked /data"
        );
        assert_eq!(unmarked.plan.hold, Some(Hold::Keep));
        let marked =
            plan(&adopt("old.example.org", Some(&key), true), &facts(&deployment, "synapse/0", true), never);
        assert_eq!(
            marked.plan.statuses,
            [status::adoption_server_name_differs("old.example.org", "example.com")]
        );
        assert!(marked.plan.effects.is_empty());
    }

    #[test]
    fn a_leader_that_has_not_seen_the_data_dir_generates_nothing() {
        let deployment = Deployment::single();
        let SecretsPlan { plan, secrets } =
            plan(&Secrets::DataDirUnseen, &facts(&deployment, "synapse/0", true), never);
        assert!(secrets.is_none() && plan.effects.is_empty() && plan.statuses.is_empty());
    }

    #[test]
    fn nothing_is_created_where_the_unit_may_not_write() {
        let mut deployment = Deployment::single();
        deployment.departing = true;
        let leaving = plan(&missing(None), &facts(&deployment, "synapse/0", true), never);
        assert!(
            leaving.secrets.is_none() && leaving.plan.effects.is_empty() && leaving.plan.statuses.is_empty()
        );
        let key = AppSecrets::generate("example.com").signing_key.expose_secret().to_string();
        let adopting =
            plan(&adopt("example.com", Some(&key), false), &facts(&deployment, "synapse/0", true), never);
        assert!(adopting.secrets.is_none() && adopting.plan.effects.is_empty());
    }
}
