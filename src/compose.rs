//! The composer: runs every component's `plan` over the loaded [`CharmState`], in the order
//! of their dependencies, and merges the plans into one [`Plan`] for [`crate::apply`].
//!
//! Dependencies are explicit arguments: the configuration and the unit's situation are the
//! [`Facts`] everybody gets; the application secrets feed the homeserver.yaml keys and the
//! `matrix-auth` publication; Synapse's URL (`public_baseurl`) becomes the `homeserver` the
//! requirers are told. The homeserver.yaml keys of all components are merged, and a key two
//! components set is an error, never a silent overwrite.
//!
//! The container is changed only where it cannot harm: not by a unit that is leaving, not
//! over a `/data` holding another server, and Synapse runs only on the unit that serves.

use juju::{Effect, Status};
use secrecy::SecretString;

use crate::app_secrets::AppSecrets;
use crate::component::{
    ComponentPlan, ContainerStep, Diagnostic, Facts, Fragment, FragmentConflict, Hold, OwnedFiles,
    PlannedFile,
};
use crate::components::synapse::Workload;
use crate::components::{configuration, database, registrations, scale, secrets, synapse};
use crate::config::SynapseConfig;
use crate::data_dir::DataDir;
use crate::health::Health;
use crate::homeserver::HomeserverConfig;
use crate::layer::DesiredService;
use crate::redact::Redactor;
use crate::state::CharmState;
use crate::workload::SERVICE;

/// What the hook should do.
#[derive(Debug, Default)]
pub struct Plan {
    /// Every component's statuses, in component order (the tie-break among equals). The
    /// workload's status follows once [`crate::apply`] has acted on the container.
    pub statuses: Vec<(&'static str, Status)>,
    /// Juju changes, in order.
    pub effects: Vec<Effect>,
    pub container: ContainerPlan,
    /// What the operator's log should say, in order.
    pub diagnostics: Vec<Diagnostic>,
    /// Hides every secret value the components know from anything logged or shown.
    pub redactor: Redactor,
    /// Whether this hook sets the application status (the leader, unless it is leaving).
    pub speaks_for_app: bool,
}

/// What to do with the Synapse container.
#[derive(Debug, Default)]
pub enum ContainerPlan {
    /// Pebble is not reachable: nothing can be done until it is.
    #[default]
    Unreachable,
    /// Touch nothing; report Synapse's health and the applications whose registrations the
    /// running configuration leaves out.
    Observe { health: Health, left_out: Vec<String> },
    /// The configuration is current but Synapse is stopped: start it.
    Start { left_out: Vec<String> },
    /// This unit must not serve: stop Synapse.
    Stop,
    /// Write the files, check the configuration, apply the layer.
    Configure(Box<DesiredContainer>),
}

/// The container content the services should run with.
#[derive(Debug)]
pub struct DesiredContainer {
    /// Whether to write the data directory's marker first (`/data` is not marked yet).
    pub mark_data_dir: bool,
    /// The files homeserver.yaml refers to (signing key, logging configuration, appservice
    /// registrations), written before it is checked.
    pub files: Vec<PlannedFile>,
    /// homeserver.yaml, checked at a candidate path before it replaces the running one.
    pub config: HomeserverConfig,
    pub services: Vec<DesiredService>,
    /// Where the components' files live: what no plan wants there is removed after the
    /// switch.
    pub owned_files: Vec<OwnedFiles>,
    /// Steps between the check of the candidate and the switch, in component order.
    pub steps: Vec<ContainerStep>,
}

/// The services that read homeserver.yaml.
pub const CONFIG_READERS: &[&str] = &[SERVICE];

/// Plans the hook. `generate_secrets` and `new_key` make fresh secrets, called only when a
/// component must create them.
pub fn compose(
    state: &CharmState,
    generate_secrets: impl FnOnce(&str) -> AppSecrets,
    new_key: impl FnOnce() -> SecretString,
) -> Result<Plan, FragmentConflict> {
    let config = state.config.as_ref().ok();
    let foreign = matches!(state.synapse.workload.data_dir(), Some(DataDir::Foreign(_)));
    let facts = Facts {
        unit: &state.unit,
        app: &state.app,
        leader: state.leader,
        deployment: &state.deployment,
        config,
        may_write: !state.deployment.departing && !foreign,
    };
    let secrets = secrets::plan(&state.secrets, &facts, generate_secrets);
    let homeserver_url = config.map(SynapseConfig::public_baseurl);
    let publish = homeserver_url
        .as_deref()
        .zip(secrets.secrets.as_ref().map(|secrets| &secrets.registration_shared_secret));
    let plans = [
        (configuration::NAME, configuration::plan(&state.config, &state.deployment.related_endpoints)),
        (synapse::NAME, synapse::plan(&state.synapse, &facts)),
        (scale::NAME, scale::plan(&facts)),
        (secrets::NAME, secrets.plan),
        (registrations::NAME, registrations::plan(&state.matrix_auth, &facts, publish, new_key)),
        (database::NAME, database::plan(&state.database, &facts)),
    ];
    let mut plan = Plan { speaks_for_app: facts.speaks_for_app(), ..Plan::default() };
    let mut merged = Merged::default();
    for (name, part) in plans {
        merged.add(name, part, &mut plan)?;
    }
    let hold = merged.hold;
    let desired = (secrets.secrets.is_some() && !merged.services.is_empty())
        .then(|| merged.desired(&state.synapse.workload));
    plan.container = container(&state.synapse.workload, &facts, hold, desired);
    Ok(plan)
}

/// The container parts of every plan, merged.
#[derive(Default)]
struct Merged {
    keys: Fragment,
    owners: Vec<(String, &'static str)>,
    files: Vec<PlannedFile>,
    owned_files: Vec<OwnedFiles>,
    services: Vec<crate::layer::ServicePlan>,
    service_environment: Vec<(&'static str, String, String)>,
    steps: Vec<ContainerStep>,
    /// The strongest hold any component asked for.
    hold: Option<Hold>,
}

impl Merged {
    fn add(
        &mut self,
        name: &'static str,
        part: ComponentPlan,
        plan: &mut Plan,
    ) -> Result<(), FragmentConflict> {
        plan.statuses.extend(part.statuses.into_iter().map(|status| (name, status)));
        plan.effects.extend(part.effects);
        plan.diagnostics.extend(part.diagnostics);
        for secret in &part.secrets {
            plan.redactor.add(secret);
        }
        self.keys.merge(part.homeserver, name, &mut self.owners)?;
        self.files.extend(part.files);
        self.owned_files.extend(part.owned_files);
        self.services.extend(part.services);
        self.service_environment.extend(part.service_environment);
        self.steps.extend(part.steps);
        self.hold = match (self.hold, part.hold) {
            (Some(Hold::Stop), _) | (_, Some(Hold::Stop)) => Some(Hold::Stop),
            (Some(Hold::Keep), _) | (_, Some(Hold::Keep)) => Some(Hold::Keep),
            _ => None,
        };
        Ok(())
    }

    /// The container content, each service with the digest of its definition and of the
    /// files it reads (homeserver.yaml included for [`CONFIG_READERS`]).
    fn desired(self, workload: &Workload) -> DesiredContainer {
        let appservices = self
            .files
            .iter()
            .filter_map(|planned| Some((planned.file.path.clone(), planned.appservice_of.clone()?)))
            .collect();
        let config = HomeserverConfig { keys: self.keys, appservices };
        let homeserver_yaml = config.render(&Default::default());
        let environment = self.service_environment;
        let services = self
            .services
            .into_iter()
            .map(|mut service| {
                let name = service.name;
                for (_, key, value) in environment.iter().filter(|(target, _, _)| *target == name) {
                    service.service.environment.insert(key.clone(), value.clone());
                }
                let files =
                    self.files.iter().filter(|planned| planned.services.contains(&name)).map(|p| &p.file);
                let reads_config = CONFIG_READERS.contains(&name).then_some(&homeserver_yaml);
                DesiredService::new(service, files.chain(reads_config))
            })
            .collect();
        let mark_data_dir = matches!(workload.data_dir(), Some(DataDir::Fresh | DataDir::NotInspected));
        DesiredContainer {
            mark_data_dir,
            files: self.files,
            config,
            services,
            owned_files: self.owned_files,
            steps: self.steps,
        }
    }
}

/// Decides what happens to the container: nothing without Pebble; a unit that must not serve
/// (or a component's [`Hold::Stop`]) stops Synapse; one that may not write, lacks the
/// configuration, or is held by a component's [`Hold::Keep`], only observes; if any
/// service's digest differs from the one it runs with, the container is configured (and
/// Pebble's replan restarts only the services whose definition changed); a current Synapse
/// that is not running is started.
fn container(
    workload: &Workload,
    facts: &Facts,
    hold: Option<Hold>,
    desired: Option<DesiredContainer>,
) -> ContainerPlan {
    let Workload::Reachable { applied, health, .. } = workload else { return ContainerPlan::Unreachable };
    let running = !matches!(health, Health::NotRunning(_));
    if !facts.serves() || hold == Some(Hold::Stop) {
        let health = health.clone();
        return if running {
            ContainerPlan::Stop
        } else {
            ContainerPlan::Observe { health, left_out: Vec::new() }
        };
    }
    let left_out: Vec<String> = match (&desired, applied.get(SERVICE)) {
        (Some(desired), Some(synapse)) => {
            desired.config.owners(&synapse.left_out).map(str::to_string).collect()
        }
        _ => Vec::new(),
    };
    match desired {
        Some(desired) if facts.may_write && hold.is_none() => {
            let changed = desired.services.iter().any(|service| {
                applied.get(service.plan.name).and_then(|applied| applied.digest.as_ref())
                    != Some(&service.digest)
            });
            if changed {
                ContainerPlan::Configure(Box::new(desired))
            } else if !running {
                ContainerPlan::Start { left_out }
            } else {
                ContainerPlan::Observe { health: health.clone(), left_out }
            }
        }
        _ => ContainerPlan::Observe { health: health.clone(), left_out },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::app_status::PeerStatuses;
    use crate::components::database::DatabaseState;
    use crate::components::registrations::{MatrixAuthState, RelationRegistration};
    use crate::components::secrets::Secrets;
    use crate::components::synapse::SynapseState;
    use crate::deployment::{Deployment, PEER_RELATION};
    use crate::layer::{AppliedService, ProxySettings};
    use crate::status;
    use ::matrix_auth::{Registration, RegistrationOutcome, Rejection};
    use juju::{RelationId, StatusKind};
    use pebble::ServiceStatus;
    use secrecy::ExposeSecret as _;
    use serde_json::json;

    fn state(leader: bool, secrets: Option<AppSecrets>, workload: Workload) -> CharmState {
        CharmState {
            unit: "synapse/0".into(),
            app: "synapse".into(),
            leader,
            config: Ok(crate::config::for_tests(json!({}))),
            deployment: Deployment::single(),
            synapse: SynapseState { workload, proxy: ProxySettings::default(), port_opened: None },
            secrets: match secrets {
                Some(secrets) => Secrets::Present(secrets),
                None => Secrets::Missing {
                    peer_relation: Some(RelationId::new(PEER_RELATION, 0)),
                    in_container: None,
                },
            },
            matrix_auth: MatrixAuthState::default(),
            database: DatabaseState::default(),
            peers: PeerStatuses::Alone,
        }
    }

    /// A reachable container whose `synapse` service runs with `digest` (none: no plan yet).
    fn reachable(digest: Option<&str>, health: Health) -> Workload {
        let applied = digest
            .map(|digest| {
                let service =
                    AppliedService { digest: Some(digest.to_string()), ..AppliedService::default() };
                BTreeMap::from([(SERVICE.to_string(), service)])
            })
            .unwrap_or_default();
        let data_dir = if digest.is_some() { DataDir::NotInspected } else { DataDir::Fresh };
        Workload::Reachable { applied, health, data_dir }
    }

    fn never(_: &str) -> AppSecrets {
        panic!("secrets must not be generated here")
    }

    fn no_key() -> SecretString {
        panic!("no encryption key must be made here")
    }

    fn plan(state: &CharmState) -> Plan {
        compose(state, never, no_key).expect("no conflicting keys")
    }

    fn configured(plan: Plan) -> Box<DesiredContainer> {
        match plan.container {
            ContainerPlan::Configure(desired) => desired,
            other => panic!("not configuring: {other:?}"),
        }
    }

    fn digest(desired: &DesiredContainer) -> String {
        desired.services[0].digest.clone()
    }

    fn homeserver_yaml(desired: &DesiredContainer) -> serde_json::Value {
        let file = desired.config.render(&Default::default());
        safe_yaml::from_str(std::str::from_utf8(&file.content).unwrap()).unwrap()
    }

    #[test]
    fn a_new_leader_generates_stores_and_configures_with_the_same_secrets() {
        let plan = compose(
            &state(true, None, reachable(None, Health::NotRunning(None))),
            AppSecrets::generate,
            no_key,
        )
        .unwrap();
        assert!(
            matches!(&plan.effects[..], [Effect::SecretAdd(_), Effect::RelationSet { .. }]),
            "{:?}",
            plan.effects
        );
        let Effect::SecretAdd(stored) = plan.effects[0].clone() else { unreachable!() };
        assert!(plan.statuses.is_empty(), "{:?}", plan.statuses);
        let desired = configured(plan);
        assert!(desired.mark_data_dir);
        let document = homeserver_yaml(&desired);
        let stored = &stored.content["registration-shared-secret"];
        assert_eq!(document["registration_shared_secret"], stored.expose_secret());
        assert_eq!(document["server_name"], "example.com");
        assert_eq!(desired.files[0].file.path.as_str(), document["log_config"].as_str().unwrap());
        assert_eq!(desired.files[1].file.path, "/data/example.com.signing.key");
    }

    #[test]
    fn without_secrets_nothing_is_written() {
        let mut early = state(true, None, reachable(None, Health::NotRunning(None)));
        early.secrets = Secrets::Missing { peer_relation: None, in_container: None };
        let plan = plan(&early);
        assert_eq!(plan.statuses, [(secrets::NAME, status::waiting_for_peer_relation())]);
        assert!(matches!(plan.container, ContainerPlan::Observe { health: Health::NotRunning(None), .. }));
        let follower = super::tests::plan(&state(false, None, reachable(None, Health::NotRunning(None))));
        assert_eq!(follower.statuses, [(secrets::NAME, status::waiting_for_secrets())]);
        assert!(follower.effects.is_empty());
    }

    #[test]
    fn a_current_digest_means_nothing_to_do_unless_stopped() {
        let secrets = AppSecrets::generate("example.com");
        let desired =
            configured(plan(&state(false, Some(secrets.clone()), reachable(None, Health::NotRunning(None)))));
        let current = Some(digest(&desired));
        let running =
            plan(&state(false, Some(secrets.clone()), reachable(current.as_deref(), Health::Answering)));
        assert!(matches!(running.container, ContainerPlan::Observe { health: Health::Answering, .. }));
        assert!(running.effects.is_empty() && running.statuses.is_empty(), "a no-op hook plans no change");
        let stopped = Health::NotRunning(Some(ServiceStatus::Inactive));
        assert!(matches!(
            plan(&state(false, Some(secrets.clone()), reachable(current.as_deref(), stopped))).container,
            ContainerPlan::Start { .. }
        ));
        let restarting = Health::Restarting { last_error: None };
        assert!(matches!(
            plan(&state(false, Some(secrets), reachable(current.as_deref(), restarting))).container,
            ContainerPlan::Observe { health: Health::Restarting { .. }, .. }
        ));
    }

    #[test]
    fn an_invalid_configuration_blocks_and_nothing_is_generated_or_written() {
        let mut invalid = state(true, None, reachable(None, Health::NotRunning(None)));
        invalid.config = crate::config::SynapseConfig::from_options(json!({}).as_object().unwrap());
        let plan = plan(&invalid);
        assert_eq!(plan.statuses[0].0, configuration::NAME);
        assert_eq!(plan.statuses[0].1.kind, StatusKind::Blocked);
        assert!(plan.effects.is_empty());
        assert!(matches!(plan.container, ContainerPlan::Observe { .. }));
    }

    fn registration(id: &str, as_token: &str) -> RegistrationOutcome {
        RegistrationOutcome::Accepted(
            Registration::parse(&format!(
                "id: {id}\nas_token: {as_token}\nhs_token: hs-{id}\nurl: null\nsender_localpart: {id}\nnamespaces: {{}}\n"
            ))
            .unwrap(),
        )
    }

    fn with_registrations(
        secrets: &AppSecrets,
        outcomes: Vec<(u32, &str, RegistrationOutcome)>,
    ) -> CharmState {
        let mut state = state(true, Some(secrets.clone()), reachable(None, Health::NotRunning(None)));
        state.matrix_auth.relations = outcomes
            .into_iter()
            .map(|(id, app, outcome)| RelationRegistration {
                relation: RelationId::new("matrix-auth", id),
                remote_app: Some(app.to_string()),
                outcome,
            })
            .collect();
        state
    }

    #[test]
    fn accepted_registrations_are_written_listed_and_covered_by_the_digest() {
        let secrets = AppSecrets::generate("example.com");
        let desired =
            configured(plan(&with_registrations(&secrets, vec![(4, "irc", registration("irc", "t1"))])));
        let file =
            desired.files.iter().find(|planned| planned.appservice_of.is_some()).expect("registration");
        assert!(file.file.path.starts_with("/data/appservice-registration-matrix-auth-4-"));
        assert!(file.file.secret);
        assert_eq!(homeserver_yaml(&desired)["app_service_config_files"], json!([file.file.path]));
        assert_eq!(desired.config.appservices, [(file.file.path.clone(), "irc".to_string())]);
        assert!(desired
            .owned_files
            .iter()
            .any(|owned| owned.pattern == "appservice-registration-matrix-auth-*.yaml"));

        let same =
            configured(plan(&with_registrations(&secrets, vec![(4, "irc", registration("irc", "t1"))])));
        assert_eq!(digest(&same), digest(&desired), "same text, same digest");
        let rotated =
            configured(plan(&with_registrations(&secrets, vec![(4, "irc", registration("irc", "t2"))])));
        assert_ne!(digest(&rotated), digest(&desired), "new tokens, new digest: a restart");
    }

    #[test]
    fn a_rejected_registration_blocks_naming_the_application_and_is_left_out() {
        let secrets = AppSecrets::generate("example.com");
        let rejected = RegistrationOutcome::Rejected(Rejection::Undecryptable);
        let state =
            with_registrations(&secrets, vec![(4, "irc", registration("irc", "t1")), (6, "tg", rejected)]);
        let plan = plan(&state);
        let blocked: Vec<_> =
            plan.statuses.iter().filter(|(_, status)| status.kind == StatusKind::Blocked).collect();
        assert_eq!(blocked.len(), 1);
        assert_eq!(blocked[0].0, registrations::NAME);
        assert!(blocked[0].1.message.starts_with("matrix-auth: registration from tg rejected"));
        let desired = configured(plan);
        assert_eq!(desired.config.appservices.len(), 1);
        assert_eq!(desired.config.appservices[0].1, "irc");
    }

    #[test]
    fn registrations_the_loader_left_out_are_reported_while_the_digest_is_current() {
        let secrets = AppSecrets::generate("example.com");
        let state = with_registrations(&secrets, vec![(4, "irc", registration("irc", "t1"))]);
        let desired = configured(plan(&state));
        let path = desired.config.appservices[0].0.clone();
        let mut applied = state;
        let service = AppliedService {
            digest: Some(digest(&desired)),
            left_out: vec![path],
            ..AppliedService::default()
        };
        applied.synapse.workload = Workload::Reachable {
            applied: BTreeMap::from([(SERVICE.to_string(), service)]),
            health: Health::Answering,
            data_dir: DataDir::NotInspected,
        };
        let ContainerPlan::Observe { left_out, .. } = plan(&applied).container else {
            panic!("not observing")
        };
        assert_eq!(left_out, ["irc"]);
    }

    #[test]
    fn every_component_keeps_to_its_own_homeserver_keys_with_every_option_set() {
        let secrets = AppSecrets::generate("example.com");
        let mut everything = with_registrations(&secrets, vec![(4, "irc", registration("irc", "t1"))]);
        everything.config = crate::config::SynapseConfig::from_options(
            json!({
                "server_name": "example.com",
                "public_baseurl": "https://matrix.example.com",
                "federation_domain_whitelist": "a.example.com",
                "ip_range_whitelist": "10.0.0.0/8",
                "limit_remote_rooms_complexity": 1.5,
                "publish_rooms_allowlist": "alice:example.com",
                "invite_checker_policy_rooms": "!room:example.com",
                "trusted_key_servers": "matrix.org",
            })
            .as_object()
            .unwrap(),
        );
        assert!(everything.config.is_ok(), "{:?}", everything.config);
        let desired = configured(plan(&everything));
        let document = homeserver_yaml(&desired);
        for key in ["server_name", "form_secret", "signing_key_path", "app_service_config_files", "modules"] {
            assert!(document.get(key).is_some(), "{key} missing");
        }
    }

    #[test]
    fn guards_a_leaving_leader_a_foreign_data_dir_and_a_unit_that_must_not_serve() {
        let secrets = AppSecrets::generate("example.com");
        let mut leaving = state(true, Some(secrets.clone()), reachable(Some("old"), Health::Answering));
        leaving.deployment.departing = true;
        leaving.synapse.port_opened = Some(false);
        let plan = plan(&leaving);
        assert!(plan.effects.is_empty() && !plan.speaks_for_app);
        assert!(matches!(plan.container, ContainerPlan::Observe { .. }), "no file written or removed");

        let mut foreign = state(true, None, reachable(None, Health::NotRunning(None)));
        foreign.synapse.workload = Workload::Reachable {
            applied: BTreeMap::new(),
            health: Health::NotRunning(None),
            data_dir: DataDir::Foreign(vec!["homeserver.db".into()]),
        };
        let plan = super::tests::plan(&foreign);
        assert!(plan.effects.is_empty(), "no secret generated over another server's data");
        assert!(matches!(plan.container, ContainerPlan::Observe { .. }));

        let mut follower = state(false, Some(secrets.clone()), reachable(Some("old"), Health::Answering));
        follower.unit = "synapse/1".into();
        follower.deployment.planned_units = 2;
        assert!(matches!(super::tests::plan(&follower).container, ContainerPlan::Stop));
        let mut server = state(true, Some(secrets), reachable(None, Health::NotRunning(None)));
        server.deployment.planned_units = 2;
        assert!(
            matches!(super::tests::plan(&server).container, ContainerPlan::Configure(_)),
            "the first unit serves"
        );
    }
}
