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

use std::collections::{BTreeMap, BTreeSet};

use juju::{Effect, Status};
use secrecy::SecretString;

use crate::app_secrets::AppSecrets;
use crate::component::{
    ComponentPlan, ContainerStep, Diagnostic, Facts, Fragment, FragmentConflict, Hold, OwnedFiles,
    PlannedFile, Reload,
};
use crate::components::scale::{Prerequisites, Role, FEDERATION_SENDER_SERVICE};
use crate::components::synapse::Workload;
use crate::components::{
    backup, configuration, custom, database, ingress, media, nginx, observability, redis, registrations,
    scale, secrets, smtp, synapse,
};
use crate::data_dir::DataDir;
use crate::health::Health;
use crate::homeserver::HomeserverConfig;
use crate::layer::{AppliedService, DesiredService, RETIRED};
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
    /// This unit's role, said in its status.
    pub role: Option<String>,
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
    /// This unit must not run Synapse now: stop these processes.
    Stop { services: Vec<String> },
    /// Write the files, check the configuration, apply the layer.
    Configure(Box<DesiredContainer>),
}

/// The container content the services should run with.
#[derive(Debug)]
pub struct DesiredContainer {
    /// Whether to write the data directory's marker first (`/data` is not marked yet).
    pub mark_data_dir: bool,
    /// The files homeserver.yaml refers to (signing key, logging configuration, appservice
    /// registrations, worker configurations), written before it is checked.
    pub files: Vec<PlannedFile>,
    /// homeserver.yaml, checked at a candidate path before it replaces the running one.
    pub config: HomeserverConfig,
    /// Worker configurations loaded on top of homeserver.yaml: the check loads the candidate
    /// with each.
    pub overlays: Vec<String>,
    pub services: Vec<DesiredService>,
    /// The services whose digest differs from the one they run with.
    pub changed: BTreeSet<&'static str>,
    /// Services of the charm's earlier plans that no component wants now: stopped, and
    /// disabled in the layer.
    pub retired: Vec<String>,
    /// Files re-read on a signal that differ from the container's.
    pub reloads: Vec<Reload>,
    /// Where the components' files live: what no plan wants there is removed after the
    /// switch.
    pub owned_files: Vec<OwnedFiles>,
    /// Steps between the check of the candidate and the switch, in component order.
    pub steps: Vec<ContainerStep>,
    /// The log targets to write (a layer of their own), when they differ from the plan's.
    pub log_targets: Option<pebble::Layer>,
    /// Synapse's health before the hook (what to report when no Synapse process changes).
    pub health: Health,
}

impl DesiredContainer {
    /// Whether a process that reads homeserver.yaml changes, so the configuration is
    /// checked and switched.
    pub fn config_changes(&self) -> bool {
        self.changed.iter().any(|name| CONFIG_READERS.contains(name))
    }

    /// What the loader's verdict depends on: the digests of the services that read
    /// homeserver.yaml (each covers homeserver.yaml and the files it reads).
    pub fn candidate_digest(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let mut hasher = Sha256::new();
        for service in self.services.iter().filter(|service| CONFIG_READERS.contains(&service.plan.name)) {
            hasher.update(service.plan.name.as_bytes());
            hasher.update(b"=");
            hasher.update(service.digest.as_bytes());
            hasher.update(b"\n");
        }
        hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Whether this unit runs the `synapse` service.
    pub fn runs_synapse(&self) -> bool {
        self.services.iter().any(|service| service.plan.name == SERVICE)
    }
}

/// The services that read homeserver.yaml.
pub const CONFIG_READERS: &[&str] = &[SERVICE, FEDERATION_SENDER_SERVICE];

/// Plans the hook. `generate_secrets` and `new_key` make fresh secrets, called only when a
/// component must create them.
pub fn compose(
    state: &CharmState,
    generate_secrets: impl FnOnce(&str) -> AppSecrets,
    new_key: impl FnOnce() -> SecretString,
) -> Result<Plan, FragmentConflict> {
    let config = state.config.as_ref().ok();
    let foreign = matches!(state.synapse.workload.data_dir(), Some(DataDir::Foreign(_)));
    // The ingress URL is the default public_baseurl: everything that names it follows it.
    let ingress_url = ingress::url(&state.ingress);
    let public_baseurl = config.map(|config| config.public_baseurl(ingress_url.as_deref()));
    let facts = Facts {
        unit: &state.unit,
        app: &state.app,
        leader: state.leader,
        deployment: &state.deployment,
        config,
        public_baseurl: public_baseurl.as_deref(),
        may_write: !state.deployment.departing && !foreign,
    };
    let secrets = secrets::plan(&state.secrets, &facts, generate_secrets);
    let publish =
        facts.public_baseurl.zip(secrets.secrets.as_ref().map(|secrets| &secrets.registration_shared_secret));
    // Scale-out needs Redis and PostgreSQL; the role decides which Synapse process runs here.
    let redis = redis::plan(&state.redis);
    let database = database::plan(&state.database, &facts);
    let prerequisites =
        Prerequisites { redis: redis.ready, postgresql: database::uses_postgresql(&database) };
    let (log_config, _) = synapse::log_config_file();
    let roles = scale::plan(&state.roles, &facts, prerequisites, &log_config);
    let role = roles.role;
    let observability = observability::plan(&state.observability, &facts);
    let log_targets = observability.log_targets.as_ref().map(observability::layer);

    let plans = [
        (configuration::NAME, configuration::plan(&state.config)),
        (synapse::NAME, synapse::plan(&state.synapse, &facts, &role)),
        (scale::NAME, roles.plan),
        (secrets::NAME, secrets.plan),
        (registrations::NAME, registrations::plan(&state.matrix_auth, &facts, publish, new_key)),
        (database::NAME, database),
        (redis::NAME, redis.plan),
        (nginx::NAME, nginx::plan(&state.nginx, &facts, &role, roles.main.as_deref())),
        (smtp::NAME, smtp::plan(&state.smtp, &facts)),
        (media::NAME, media::plan(&state.media, &facts)),
        (backup::NAME, backup::plan(&state.backup, &facts)),
        (ingress::NAME, ingress::plan(&state.ingress, &facts)),
        (observability::NAME, observability.plan),
    ];
    let mut plan = Plan { speaks_for_app: facts.speaks_for_app(), role: role.label(), ..Plan::default() };
    let mut merged = Merged::default();
    for (name, part) in plans {
        merged.add(name, part, &mut plan)?;
    }
    // The operator's own keys come last, and may not touch what the components set.
    let extra = config.and_then(|config| config.additional_homeserver_config.as_ref());
    let custom = custom::plan(extra, merged.owners.iter().map(|(key, _)| key.as_str()));
    merged.add(custom::NAME, custom.plan, &mut plan)?;
    for key in &custom.overridden {
        merged.keys.0.remove(key);
    }
    merged.extra = custom.text;
    let hold = merged.hold;
    let desired = (secrets.secrets.is_some() && !merged.services.is_empty())
        .then(|| merged.desired(&state.synapse.workload, log_targets));
    plan.container = container(&state.synapse.workload, &facts, hold, desired, &role);
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
    reloads: Vec<Reload>,
    service_environment: Vec<(&'static str, String, String)>,
    steps: Vec<ContainerStep>,
    /// The strongest hold any component asked for.
    hold: Option<Hold>,
    /// The operator's own homeserver.yaml text.
    extra: Option<String>,
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
        self.reloads.extend(part.reloads);
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
    /// files it reads (homeserver.yaml included for [`CONFIG_READERS`]), compared with what
    /// each runs with.
    fn desired(self, workload: &Workload, log_targets: Option<pebble::Layer>) -> DesiredContainer {
        let appservices = self
            .files
            .iter()
            .filter_map(|planned| Some((planned.file.path.clone(), planned.appservice_of.clone()?)))
            .collect();
        let config = HomeserverConfig { keys: self.keys, appservices, extra: self.extra };
        let homeserver_yaml = config.render(&Default::default());
        let environment = self.service_environment;
        let services: Vec<DesiredService> = self
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
        let empty = BTreeMap::new();
        let (applied, health) = match workload {
            Workload::Reachable { applied, health, .. } => (applied, health.clone()),
            Workload::Unreachable => (&empty, Health::NotRunning(None)),
        };
        let changed = services
            .iter()
            .filter(|service| {
                applied.get(service.plan.name).and_then(|applied| applied.digest.as_ref())
                    != Some(&service.digest)
            })
            .map(|service| service.plan.name)
            .collect();
        let retired = retired(applied, &services);
        let overlays = self
            .files
            .iter()
            .filter(|planned| {
                [scale::WORKER_FILES, scale::FEDERATION_SENDER_FILES].iter().any(|owned| {
                    planned
                        .file
                        .path
                        .strip_prefix(owned.dir)
                        .and_then(|name| name.strip_prefix('/'))
                        .is_some_and(|name| owned.matches(name))
                })
            })
            .map(|planned| planned.file.path.clone())
            .collect();
        let mark_data_dir = matches!(
            workload.data_dir(),
            Some(DataDir::Fresh | DataDir::NotInspected | DataDir::Upstream(_))
        );
        DesiredContainer {
            mark_data_dir,
            files: self.files,
            config,
            overlays,
            services,
            changed,
            retired,
            reloads: self.reloads,
            owned_files: self.owned_files,
            steps: self.steps,
            log_targets,
            health,
        }
    }
}

/// The services the charm configured earlier (they carry a digest) that no plan wants and
/// that are not retired yet.
fn retired(applied: &BTreeMap<String, AppliedService>, services: &[DesiredService]) -> Vec<String> {
    applied
        .iter()
        .filter(|(name, service)| {
            service.digest.as_deref().is_some_and(|digest| digest != RETIRED)
                && !services.iter().any(|desired| desired.plan.name == name.as_str())
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Decides what happens to the container: nothing without Pebble; a component's
/// [`Hold::Stop`], or a unit without a Synapse role that may not write (it is leaving),
/// stops the Synapse processes; one that may not write, lacks the configuration, or is held
/// by a component's [`Hold::Keep`], only observes; if any service's digest differs from the
/// one it runs with, a service is retired or a reloaded file changes, the container is
/// configured (and Pebble's replan restarts only the services whose definition changed); a
/// current Synapse that is not running is started.
fn container(
    workload: &Workload,
    facts: &Facts,
    hold: Option<Hold>,
    desired: Option<DesiredContainer>,
    role: &Role,
) -> ContainerPlan {
    let Workload::Reachable { applied, health, .. } = workload else { return ContainerPlan::Unreachable };
    let running = !matches!(health, Health::NotRunning(_));
    let idle_and_leaving = *role == Role::Idle && !facts.may_write;
    if hold == Some(Hold::Stop) || idle_and_leaving {
        let services: Vec<String> = CONFIG_READERS
            .iter()
            .filter(|name| {
                applied.get(**name).is_some_and(|service| service.digest.as_deref() != Some(RETIRED))
            })
            .map(|name| name.to_string())
            .collect();
        let health = health.clone();
        return if running && !services.is_empty() {
            ContainerPlan::Stop { services }
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
            let changed = !desired.changed.is_empty()
                || !desired.retired.is_empty()
                || !desired.reloads.is_empty()
                || desired.log_targets.is_some();
            if changed {
                ContainerPlan::Configure(Box::new(desired))
            } else if !running && desired.runs_synapse() {
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
    use crate::components::ingress::IngressState;
    use crate::components::nginx::NginxState;
    use crate::components::redis::RedisState;
    use crate::components::registrations::{MatrixAuthState, RelationRegistration};
    use crate::components::scale::RolesState;
    use crate::components::secrets::Secrets;
    use crate::components::smtp::SmtpState;
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
            synapse: SynapseState {
                workload,
                proxy: ProxySettings::default(),
                port_opened: None,
                log_targets: BTreeMap::new(),
            },
            secrets: match secrets {
                Some(secrets) => Secrets::Present(secrets),
                None => Secrets::Missing {
                    peer_relation: Some(RelationId::new(PEER_RELATION, 0)),
                    in_container: None,
                },
            },
            matrix_auth: MatrixAuthState::default(),
            database: DatabaseState::default(),
            redis: RedisState::default(),
            roles: RolesState {
                peer_relation: Some(RelationId::new(PEER_RELATION, 0)),
                recorded_main: Some("synapse/0".into()),
                leaving_main_serving: false,
            },
            nginx: NginxState::default(),
            smtp: SmtpState::default(),
            media: Default::default(),
            backup: Default::default(),
            ingress: IngressState::default(),
            observability: Default::default(),
            peers: PeerStatuses::Alone,
        }
    }

    /// `state` once `desired` is applied: every service runs with its digest, every reloaded
    /// file is in place.
    fn applied_as(mut state: CharmState, desired: &DesiredContainer, health: Health) -> CharmState {
        let applied = desired
            .services
            .iter()
            .map(|service| {
                let applied =
                    AppliedService { digest: Some(service.digest.clone()), ..AppliedService::default() };
                (service.plan.name.to_string(), applied)
            })
            .collect();
        state.synapse.workload = Workload::Reachable { applied, health, data_dir: DataDir::NotInspected };
        if let Some(reload) = desired.reloads.first() {
            state.nginx.config = Some(reload.file.content.clone());
        }
        state
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
        let fresh = || state(false, Some(secrets.clone()), reachable(None, Health::NotRunning(None)));
        let desired = configured(plan(&fresh()));
        let running = plan(&applied_as(fresh(), &desired, Health::Answering));
        assert!(matches!(running.container, ContainerPlan::Observe { health: Health::Answering, .. }));
        assert!(running.effects.is_empty() && running.statuses.is_empty(), "a no-op hook plans no change");
        let stopped = Health::NotRunning(Some(ServiceStatus::Inactive));
        assert!(matches!(
            plan(&applied_as(fresh(), &desired, stopped)).container,
            ContainerPlan::Start { .. }
        ));
        let restarting = Health::Restarting { last_error: None };
        assert!(matches!(
            plan(&applied_as(fresh(), &desired, restarting)).container,
            ContainerPlan::Observe { health: Health::Restarting { .. }, .. }
        ));
    }

    #[test]
    fn a_changed_nginx_file_reloads_without_touching_synapse() {
        let secrets = AppSecrets::generate("example.com");
        let fresh = || state(true, Some(secrets.clone()), reachable(None, Health::NotRunning(None)));
        let desired = configured(plan(&fresh()));
        assert_eq!(
            desired.services.iter().map(|service| service.plan.name).collect::<Vec<_>>(),
            [SERVICE, nginx::SERVICE]
        );
        let mut stale = applied_as(fresh(), &desired, Health::Answering);
        stale.nginx.config = Some(b"# an older configuration\n".to_vec());
        let reload = configured(plan(&stale));
        assert!(reload.changed.is_empty() && !reload.config_changes(), "no service changes");
        assert_eq!(reload.reloads.len(), 1);
        assert_eq!(reload.reloads[0].service, nginx::SERVICE);
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
        let mut applied = applied_as(state, &desired, Health::Answering);
        if let Workload::Reachable { applied, .. } = &mut applied.synapse.workload {
            applied.get_mut(SERVICE).unwrap().left_out = vec![path];
        }
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

        // Two units without Redis or PostgreSQL: the main serves alone, the other runs
        // only nginx (which sends everything to the main) and retires its Synapse.
        let mut follower = state(false, Some(secrets.clone()), reachable(Some("old"), Health::Answering));
        follower.unit = "synapse/1".into();
        follower.deployment.planned_units = 2;
        follower.deployment.other_units = vec!["synapse/0".into()];
        let plan = super::tests::plan(&follower);
        assert_eq!(plan.statuses[0].1.kind, StatusKind::Blocked);
        assert_eq!(
            plan.statuses[0].1.message,
            "2 units planned: scale-out needs Redis (juju integrate synapse redis-k8s) and PostgreSQL (juju \
             integrate synapse postgresql-k8s); only synapse/0 serves"
        );
        let desired = configured(plan);
        assert_eq!(desired.retired, [SERVICE]);
        assert_eq!(
            desired.services.iter().map(|service| service.plan.name).collect::<Vec<_>>(),
            [nginx::SERVICE]
        );
        let mut server = state(true, Some(secrets), reachable(None, Health::NotRunning(None)));
        server.deployment.planned_units = 2;
        server.deployment.other_units = vec!["synapse/1".into()];
        let desired = configured(super::tests::plan(&server));
        assert!(desired.runs_synapse(), "the main serves");
        assert!(homeserver_yaml(&desired).get("instance_map").is_none(), "not scaled without Redis");
    }

    /// Three units with Redis and PostgreSQL, as `unit` sees them.
    fn scaled(unit: &str, leader: bool) -> CharmState {
        static SECRETS: std::sync::OnceLock<AppSecrets> = std::sync::OnceLock::new();
        let secrets = SECRETS.get_or_init(|| AppSecrets::generate("example.com")).clone();
        let mut state = state(leader, Some(secrets), reachable(None, Health::NotRunning(None)));
        state.unit = unit.into();
        state.deployment.planned_units = 3;
        state.deployment.other_units = ["synapse/0", "synapse/1", "synapse/2"]
            .into_iter()
            .filter(|u| *u != unit)
            .map(str::to_string)
            .collect();
        state.redis = RedisState::Related {
            relation: "redis:5".into(),
            view: redis_client::RedisView::Ready(redis_client::RedisEndpoint {
                host: "10.0.0.9".into(),
                port: 6379,
            }),
            reachable: Ok(()),
        };
        state.database = crate::components::database::tests::postgresql_in_use();
        state
    }

    #[test]
    fn scaled_units_share_the_instance_map_and_each_runs_its_role() {
        let main = configured(plan(&scaled("synapse/0", true)));
        let worker = configured(plan(&scaled("synapse/2", false)));
        let shared = homeserver_yaml(&main);
        assert_eq!(shared["instance_map"], homeserver_yaml(&worker)["instance_map"], "one map for all");
        assert_eq!(
            shared["instance_map"],
            json!({
                "main": {"host": "synapse-0.synapse-endpoints", "port": 8035},
                "federationsender1": {"host": "synapse-0.synapse-endpoints", "port": 8034},
            })
        );
        assert!(shared.get("stream_writers").is_none(), "the main persists events");
        assert_eq!(shared["federation_sender_instances"], json!(["federationsender1"]));
        assert_eq!(shared["redis"], json!({"enabled": true, "host": "10.0.0.9", "port": 6379}));
        let names =
            |desired: &DesiredContainer| desired.services.iter().map(|s| s.plan.name).collect::<Vec<_>>();
        assert_eq!(names(&main), [SERVICE, FEDERATION_SENDER_SERVICE, nginx::SERVICE]);
        assert_eq!(names(&worker), [SERVICE, nginx::SERVICE]);
        let command = worker.services[0].plan.service.command.clone().unwrap();
        assert!(command.starts_with("/start.py run -m synapse.app.generic_worker --config-path /data/homeserver.yaml --config-path /data/worker-"), "{command}");
        assert_eq!(main.services[0].plan.service.command.as_deref(), Some("/start.py"));
        assert_eq!(worker.overlays.len(), 1);
        assert!(worker.overlays[0].starts_with("/data/worker-"));
        assert!(main.overlays[0].starts_with("/data/federation-sender-"));
        let worker_config = worker.files.iter().find(|f| f.file.path == worker.overlays[0]).unwrap();
        let worker_config: serde_json::Value =
            safe_yaml::from_str(std::str::from_utf8(&worker_config.file.content).unwrap()).unwrap();
        assert_eq!(worker_config["worker_name"], "worker2");
        assert_eq!(worker_config["worker_app"], "synapse.app.generic_worker");
        assert_eq!(
            worker_config["worker_listeners"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["port"].clone())
                .collect::<Vec<_>>(),
            [json!(8008), json!(9000)]
        );
        assert_eq!(plan(&scaled("synapse/2", false)).role.as_deref(), Some("worker 2"));
        assert_eq!(plan(&scaled("synapse/0", true)).role.as_deref(), Some("main"));
    }

    #[test]
    fn adding_or_removing_a_worker_changes_nothing_on_the_other_units() {
        let main = configured(plan(&scaled("synapse/0", true)));
        let running = applied_as(scaled("synapse/0", true), &main, Health::Answering);
        let settled = plan(&running).container;
        assert!(matches!(settled, ContainerPlan::Observe { .. }), "{settled:?}");
        let mut bigger = running;
        bigger.deployment.planned_units = 4;
        bigger.deployment.other_units.push("synapse/3".into());
        assert!(matches!(plan(&bigger).container, ContainerPlan::Observe { .. }), "the main is untouched");
        let worker = configured(plan(&scaled("synapse/2", false)));
        let mut smaller = applied_as(scaled("synapse/2", false), &worker, Health::Answering);
        smaller.deployment.planned_units = 2;
        smaller.deployment.other_units.retain(|unit| unit != "synapse/1");
        assert!(matches!(plan(&smaller).container, ContainerPlan::Observe { .. }), "a worker is untouched");
    }

    #[test]
    fn a_worker_in_workers_ignore_list_is_out_of_service() {
        let mut state = scaled("synapse/1", false);
        state.config = crate::config::SynapseConfig::from_options(
            json!({"server_name": "example.com", "workers_ignore_list": "worker1"}).as_object().unwrap(),
        );
        let plan = plan(&state);
        assert!(plan
            .statuses
            .iter()
            .any(|(_, status)| status.message.starts_with("worker1 is in workers_ignore_list")));
        let desired = configured(plan);
        assert!(!desired.runs_synapse());
        assert_eq!(desired.services.iter().map(|s| s.plan.name).collect::<Vec<_>>(), [nginx::SERVICE]);
        let nginx = String::from_utf8(desired.reloads[0].file.content.clone()).unwrap();
        assert!(!nginx.contains("location ~"), "everything goes to the main");
    }
}
