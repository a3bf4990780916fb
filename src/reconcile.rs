//! Decides, from the observed [`CharmState`] alone, what this hook should make true: the
//! files and layer Synapse should run with, whether to store new application secrets, open
//! the port or publish the `matrix-auth` data, and the statuses of the charm's concerns.
//! Nothing here has side effects.

use juju::{RelationId, Status};
use pebble::ServiceStatus;

use crate::app_secrets::AppSecrets;
use crate::config::SynapseConfig;
use crate::homeserver;
use crate::layer::{synapse_layer, DesiredLayer, ProxySettings};
use crate::matrix_auth::{self, Publish, REGISTRATION_FILES};
use crate::state::{CharmState, Secrets, Workload};
use crate::status;
use crate::workload::{signing_key_path, ContainerFile, StaleFiles, CONFIG_PATH, DATA_DIR, LOG_CONFIG_PATH};

/// What the hook should do.
#[derive(Debug)]
pub struct Outcome {
    /// Statuses of the concerns other than the workload (configuration, secrets,
    /// registrations).
    pub statuses: Vec<Status>,
    /// Secrets the leader generated in this hook, to store before anything uses them.
    pub new_secrets: Option<NewSecrets>,
    /// The leader's `matrix-auth` data, published after the secrets are stored.
    pub publish: Option<Publish>,
    pub workload: WorkloadPlan,
    pub open_port: bool,
    /// Why the charm is blocked, for the operator's log.
    pub problems: Vec<String>,
    /// Inputs left out (rejected registrations), for the operator's log.
    pub warnings: Vec<String>,
    /// Inputs not usable yet (registrations still to come), for the log.
    pub notices: Vec<String>,
    /// Options that are accepted but have no effect yet.
    pub unsupported: Vec<String>,
}

/// Freshly generated application secrets and the peer relation to announce them on.
#[derive(Debug)]
pub struct NewSecrets {
    pub secrets: AppSecrets,
    pub announce_on: RelationId,
}

/// What to do with the Synapse container.
#[derive(Debug)]
pub enum WorkloadPlan {
    /// Pebble is not reachable: nothing can be done until it is.
    Unreachable,
    /// Touch nothing; report the service's state.
    Observe(Option<ServiceStatus>),
    /// The configuration is current but the service is stopped: start it.
    Start,
    /// Write the files, check the configuration, apply the layer.
    Configure(Box<DesiredWorkload>),
}

/// The container content Synapse should run with.
#[derive(Debug)]
pub struct DesiredWorkload {
    /// Files the configuration refers to (signing key, log config, appservice
    /// registrations), written before it.
    pub support_files: Vec<ContainerFile>,
    /// `homeserver.yaml`, checked at a candidate path before it replaces the running one.
    pub config: ContainerFile,
    pub layer: DesiredLayer,
    /// Files the charm wrote earlier that are no longer wanted: removed once the new
    /// configuration is in place, unless listed in `support_files`.
    pub stale: StaleFiles,
    /// The secrets inside the files, to hide them from anything logged.
    pub secrets: AppSecrets,
}

/// Computes the outcome. `generate` makes fresh application secrets for a server name; it is
/// called only on the leader, only when no secrets exist yet, the configuration is valid and
/// the peer relation to announce them on exists.
pub fn reconcile(state: &CharmState, generate: impl FnOnce(&str) -> AppSecrets) -> Outcome {
    let mut outcome = Outcome {
        statuses: Vec::new(),
        new_secrets: None,
        publish: None,
        workload: WorkloadPlan::Unreachable,
        open_port: state.port_opened == Some(false),
        problems: Vec::new(),
        warnings: Vec::new(),
        notices: Vec::new(),
        unsupported: Vec::new(),
    };
    let config = match &state.config {
        Ok(config) => {
            outcome.unsupported = unsupported_options(config);
            Some(config)
        }
        Err(invalid) => {
            outcome.statuses.push(status::invalid_config(invalid));
            None
        }
    };
    let secrets = match (config, &state.secrets) {
        (Some(config), Secrets::Present(secrets)) if secrets.server_name != config.server_name => {
            outcome.statuses.push(status::server_name_changed());
            outcome.problems.push(format!(
                "server_name cannot change once Synapse has been configured: it is {:?}, the configuration asks for {:?}; set server_name back to {:?}",
                secrets.server_name, config.server_name, secrets.server_name
            ));
            None
        }
        (Some(_), Secrets::Present(secrets)) => Some(secrets.clone()),
        (Some(config), Secrets::Missing { peer_relation: Some(relation) }) if state.leader => {
            let secrets = generate(&config.server_name);
            outcome.new_secrets =
                Some(NewSecrets { secrets: secrets.clone(), announce_on: relation.clone() });
            Some(secrets)
        }
        (Some(_), Secrets::Missing { peer_relation: None }) if state.leader => {
            outcome.statuses.push(status::waiting_for_peer_relation());
            None
        }
        (Some(_), Secrets::Missing { .. }) => {
            outcome.statuses.push(status::waiting_for_secrets());
            None
        }
        (None, _) => None,
    };
    let registrations = matrix_auth::plan(&state.matrix_auth.relations);
    outcome.statuses.extend(registrations.status);
    outcome.warnings = registrations.rejected;
    outcome.notices = registrations.pending;
    outcome.publish = match (config, &secrets, &state.matrix_auth.provider) {
        (Some(config), Some(secrets), Some(_)) if state.leader => Some(Publish {
            homeserver: config.public_baseurl(),
            shared_secret: secrets.registration_shared_secret.clone(),
        }),
        _ => None,
    };
    outcome.workload = match (&state.workload, config.zip(secrets)) {
        (Workload::Unreachable, _) => WorkloadPlan::Unreachable,
        (Workload::Reachable { service, .. }, None) => WorkloadPlan::Observe(*service),
        (Workload::Reachable { applied_digest, service }, Some((config, secrets))) => {
            let desired = desired_workload(config, secrets, &state.proxy, registrations.files);
            if applied_digest.as_deref() != Some(desired.layer.digest.as_str()) {
                WorkloadPlan::Configure(Box::new(desired))
            } else if matches!(service, None | Some(ServiceStatus::Inactive | ServiceStatus::Error)) {
                WorkloadPlan::Start
            } else {
                WorkloadPlan::Observe(*service)
            }
        }
    };
    outcome
}

/// Renders every file and the layer for a valid configuration, with the accepted appservice
/// `registrations` (whose contents the layer's digest covers, so a changed registration
/// restarts Synapse).
fn desired_workload(
    config: &SynapseConfig,
    secrets: AppSecrets,
    proxy: &ProxySettings,
    registrations: Vec<ContainerFile>,
) -> DesiredWorkload {
    use secrecy::ExposeSecret as _;
    let app_service_config_files: Vec<String> = registrations.iter().map(|file| file.path.clone()).collect();
    let mut support_files = vec![
        ContainerFile::secret(
            signing_key_path(&config.server_name),
            format!("{}\n", secrets.signing_key.expose_secret()),
        ),
        ContainerFile::public(LOG_CONFIG_PATH, homeserver::log_config()),
    ];
    support_files.extend(registrations);
    let config_file = ContainerFile::secret(
        CONFIG_PATH,
        homeserver::homeserver_yaml(config, &secrets, &app_service_config_files),
    );
    let mut all_files = support_files.clone();
    all_files.push(config_file.clone());
    let layer = synapse_layer(config, proxy, &all_files);
    let stale = StaleFiles { dir: DATA_DIR, pattern: REGISTRATION_FILES };
    DesiredWorkload { support_files, config: config_file, layer, stale, secrets }
}

/// Notes on options this charm accepts but cannot act on yet.
fn unsupported_options(config: &SynapseConfig) -> Vec<String> {
    let mut notes = Vec::new();
    if config.enable_mjolnir {
        notes.push(
            "enable_mjolnir is set, but this charm does not run Mjolnir yet: the option has no effect".into(),
        );
    }
    if config.enable_email_notifs {
        notes.push(
            "enable_email_notifs is set, but e-mail needs the smtp integration, which this charm does not support yet: notifications stay off"
                .into(),
        );
    }
    if !config.workers_ignore_list.is_empty() {
        notes.push(
            "workers_ignore_list is set, but this charm does not run workers yet: the option has no effect"
                .into(),
        );
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InvalidConfig;
    use crate::matrix_auth::{MatrixAuthState, RelationRegistration};
    use ::matrix_auth::{Registration, RegistrationOutcome, Rejection};
    use juju::StatusKind;
    use serde_json::json;

    fn config(server_name: &str) -> SynapseConfig {
        SynapseConfig::from_options(json!({"server_name": server_name}).as_object().unwrap()).unwrap()
    }

    fn peers() -> RelationId {
        RelationId::new("synapse-peers", 0)
    }

    fn state(leader: bool, secrets: Option<AppSecrets>, workload: Workload) -> CharmState {
        CharmState {
            leader,
            config: Ok(config("example.com")),
            secrets: match secrets {
                Some(secrets) => Secrets::Present(secrets),
                None => Secrets::Missing { peer_relation: Some(peers()) },
            },
            matrix_auth: MatrixAuthState::default(),
            proxy: ProxySettings::default(),
            workload,
            port_opened: None,
        }
    }

    fn reachable(applied_digest: Option<String>, service: Option<ServiceStatus>) -> Workload {
        Workload::Reachable { applied_digest, service }
    }

    fn no_generation(_: &str) -> AppSecrets {
        panic!("secrets must not be generated here")
    }

    #[test]
    fn leader_without_secrets_generates_them_and_configures() {
        let outcome = reconcile(&state(true, None, reachable(None, None)), AppSecrets::generate);
        let NewSecrets { secrets: new, announce_on } = outcome.new_secrets.expect("secrets generated");
        assert_eq!(new.server_name, "example.com");
        assert_eq!(announce_on, peers());
        let WorkloadPlan::Configure(desired) = outcome.workload else { panic!("not configuring") };
        let text = String::from_utf8(desired.config.content.clone()).unwrap();
        use secrecy::ExposeSecret as _;
        assert!(text.contains(new.registration_shared_secret.expose_secret()));
        assert_eq!(desired.support_files[0].path, "/data/example.com.signing.key");
        assert!(outcome.statuses.is_empty());
    }

    #[test]
    fn leader_generates_secrets_only_once_the_peer_relation_exists() {
        let mut early = state(true, None, reachable(None, None));
        early.secrets = Secrets::Missing { peer_relation: None };
        let outcome = reconcile(&early, no_generation);
        assert_eq!(outcome.statuses, [status::waiting_for_peer_relation()]);
        assert!(matches!(outcome.workload, WorkloadPlan::Observe(None)));
    }

    #[test]
    fn non_leader_waits_for_secrets_and_leaves_the_container() {
        let outcome =
            reconcile(&state(false, None, reachable(None, Some(ServiceStatus::Inactive))), no_generation);
        assert_eq!(outcome.statuses, [status::waiting_for_secrets()]);
        assert!(matches!(outcome.workload, WorkloadPlan::Observe(Some(ServiceStatus::Inactive))));
    }

    #[test]
    fn applied_digest_means_nothing_to_do_unless_stopped() {
        let secrets = AppSecrets::generate("example.com");
        let first = reconcile(&state(false, Some(secrets.clone()), reachable(None, None)), no_generation);
        let WorkloadPlan::Configure(desired) = first.workload else { panic!("not configuring") };
        let digest = Some(desired.layer.digest.clone());
        let running = reconcile(
            &state(false, Some(secrets.clone()), reachable(digest.clone(), Some(ServiceStatus::Active))),
            no_generation,
        );
        assert!(matches!(running.workload, WorkloadPlan::Observe(Some(ServiceStatus::Active))));
        let stopped = reconcile(
            &state(false, Some(secrets.clone()), reachable(digest.clone(), Some(ServiceStatus::Inactive))),
            no_generation,
        );
        assert!(matches!(stopped.workload, WorkloadPlan::Start));
        let restarting = reconcile(
            &state(false, Some(secrets), reachable(digest, Some(ServiceStatus::Backoff))),
            no_generation,
        );
        assert!(matches!(restarting.workload, WorkloadPlan::Observe(Some(ServiceStatus::Backoff))));
    }

    #[test]
    fn changed_server_name_blocks_and_touches_nothing() {
        let secrets = AppSecrets::generate("old.example.com");
        let outcome = reconcile(&state(true, Some(secrets), reachable(None, None)), no_generation);
        assert_eq!(outcome.statuses, [status::server_name_changed()]);
        assert!(outcome.problems[0].contains("old.example.com"));
        assert!(matches!(outcome.workload, WorkloadPlan::Observe(None)));
        assert!(outcome.new_secrets.is_none());
    }

    #[test]
    fn invalid_config_blocks_without_generating_secrets() {
        let mut invalid = state(true, None, Workload::Unreachable);
        invalid.config = Err(InvalidConfig { options: vec!["server_name"] });
        let outcome = reconcile(&invalid, no_generation);
        assert_eq!(outcome.statuses[0].kind, StatusKind::Blocked);
        assert_eq!(outcome.statuses[0].message, "invalid configuration: server_name");
        assert!(matches!(outcome.workload, WorkloadPlan::Unreachable));
    }

    #[test]
    fn port_is_opened_only_when_observed_closed() {
        let mut observed = state(false, None, Workload::Unreachable);
        assert!(!reconcile(&observed, no_generation).open_port);
        observed.port_opened = Some(false);
        assert!(reconcile(&observed, no_generation).open_port);
        observed.port_opened = Some(true);
        assert!(!reconcile(&observed, no_generation).open_port);
    }

    #[test]
    fn unsupported_options_are_noted() {
        let mut with_options = state(false, None, Workload::Unreachable);
        with_options.config = SynapseConfig::from_options(
            json!({"server_name": "example.com", "enable_mjolnir": true, "workers_ignore_list": "worker1"})
                .as_object()
                .unwrap(),
        );
        let notes = reconcile(&with_options, no_generation).unsupported;
        assert_eq!(notes.len(), 2);
        assert!(notes[0].contains("Mjolnir") && notes[1].contains("workers"));
    }

    fn with_registrations(
        secrets: &AppSecrets,
        outcomes: Vec<(u32, &str, RegistrationOutcome)>,
    ) -> CharmState {
        let mut state = state(true, Some(secrets.clone()), reachable(None, None));
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

    fn accepted(id: &str, as_token: &str) -> RegistrationOutcome {
        RegistrationOutcome::Accepted(
            Registration::parse(&format!(
                "id: {id}\nas_token: {as_token}\nhs_token: hs\nurl: null\nsender_localpart: {id}\nnamespaces: {{}}\n"
            ))
            .unwrap(),
        )
    }

    fn desired_of(state: &CharmState) -> Box<DesiredWorkload> {
        desired(reconcile(state, no_generation))
    }

    fn desired(outcome: Outcome) -> Box<DesiredWorkload> {
        match outcome.workload {
            WorkloadPlan::Configure(desired) => desired,
            other => panic!("not configuring: {other:?}"),
        }
    }

    #[test]
    fn accepted_registrations_are_written_listed_and_covered_by_the_digest() {
        let secrets = AppSecrets::generate("example.com");
        let state = with_registrations(&secrets, vec![(4, "irc", accepted("irc", "t1"))]);
        let desired = desired(reconcile(&state, no_generation));
        let path = "/data/appservice-registration-matrix-auth-4.yaml";
        let file = desired.support_files.iter().find(|file| file.path == path).expect("registration file");
        assert!(file.secret);
        assert!(String::from_utf8_lossy(&file.content).starts_with("id: irc\n"));
        let config: serde_json::Value =
            safe_yaml::from_str(std::str::from_utf8(&desired.config.content).unwrap()).unwrap();
        assert_eq!(config["app_service_config_files"], json!([path]));
        assert_eq!(
            desired.stale,
            StaleFiles { dir: "/data", pattern: "appservice-registration-matrix-auth-*.yaml" }
        );

        let same = with_registrations(&secrets, vec![(4, "irc", accepted("irc", "t1"))]);
        assert_eq!(desired_of(&same).layer.digest, desired.layer.digest, "same text, same digest");
        let rotated = with_registrations(&secrets, vec![(4, "irc", accepted("irc", "t2"))]);
        assert_ne!(
            desired_of(&rotated).layer.digest,
            desired.layer.digest,
            "new tokens, new digest: a restart"
        );
    }

    #[test]
    fn a_rejected_registration_blocks_and_is_left_out() {
        let rejected = RegistrationOutcome::Rejected(Rejection::Undecryptable);
        let secrets = AppSecrets::generate("example.com");
        let state =
            with_registrations(&secrets, vec![(4, "irc", accepted("irc", "t1")), (6, "tg", rejected)]);
        let outcome = reconcile(&state, no_generation);
        assert_eq!(outcome.statuses.len(), 1);
        assert_eq!(outcome.statuses[0].kind, StatusKind::Blocked);
        assert!(outcome.statuses[0].message.starts_with("matrix-auth: registration from tg rejected"));
        assert_eq!(outcome.warnings.len(), 1);
        assert!(outcome.publish.is_none(), "without the provider's view there is nothing to publish");
        let desired = desired(outcome);
        let registrations: Vec<&str> = desired
            .support_files
            .iter()
            .map(|file| file.path.as_str())
            .filter(|path| path.contains("appservice"))
            .collect();
        assert_eq!(registrations, ["/data/appservice-registration-matrix-auth-4.yaml"]);
    }
}
