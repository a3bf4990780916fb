//! The Synapse workload as a component: what Pebble reports (the services' applied
//! digests, Synapse's health, whose server `/data` holds), the `synapse` service and the
//! homeserver.yaml keys that follow from the configuration alone, the logging
//! configuration, the client port, and the workload's status after the hook.

use std::collections::BTreeMap;

use juju::{Effect, HookTools, LogLevel, Port, Status};

use crate::component::{ComponentPlan, Facts, Hold, OwnedFiles, PlannedFile};
use crate::components::scale::{Role, FEDERATION_SENDER_SERVICE};
use crate::data_dir::DataDir;
use crate::health::Health;
use crate::homeserver;
use crate::layer::{applied, synapse_service, worker_service, AppliedService, Process, ProxySettings};
use crate::state::StateError;
use crate::status;
use crate::workload::{versioned_path, ContainerFile, DATA_DIR, HTTP_PORT, SERVICE};

pub const NAME: &str = "synapse";

/// The logging configurations the charm writes (and the unversioned one of older charms).
pub const LOG_CONFIG_FILES: OwnedFiles = OwnedFiles { dir: DATA_DIR, pattern: "log*.config" };

/// What the hook found of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynapseState {
    pub workload: Workload,
    pub proxy: ProxySettings,
    /// Whether the client port is open; only looked at by the hooks that may need it.
    pub port_opened: Option<bool>,
    /// The plan's log targets (where Pebble forwards the services' logs), by name.
    pub log_targets: BTreeMap<String, pebble::LogTarget>,
}

/// The Synapse container as Pebble reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// Pebble does not answer (the container is starting or restarting).
    Unreachable,
    Reachable {
        /// What each service of the plan was last configured with, by name.
        applied: BTreeMap<String, AppliedService>,
        health: Health,
        /// Whose server `/data` holds; inspected only while the plan is not the charm's.
        data_dir: DataDir,
    },
}

impl Workload {
    /// The data directory's state, when Pebble answered.
    pub fn data_dir(&self) -> Option<&DataDir> {
        match self {
            Self::Unreachable => None,
            Self::Reachable { data_dir, .. } => Some(data_dir),
        }
    }
}

/// The plan (one request), Synapse's health when the plan has the service (see
/// [`Health::probe`]), `/data` while the plan is not the charm's (one request), and the
/// opened ports when `ports` asks (one `opened-ports`).
pub fn load(
    tools: &HookTools,
    pebble: &pebble::Client,
    proxy: ProxySettings,
    ports: bool,
) -> Result<SynapseState, StateError> {
    let mut log_targets = BTreeMap::new();
    let mut reachable = || -> pebble::Result<Workload> {
        let plan = pebble.plan()?;
        log_targets.clone_from(&plan.log_targets);
        let applied: BTreeMap<String, AppliedService> =
            plan.services.keys().map(|name| (name.clone(), applied(&plan, name))).collect();
        let health = if plan.services.contains_key(SERVICE) {
            Health::probe(pebble)?
        } else {
            Health::NotRunning(None)
        };
        let ours = applied.values().any(|service| service.digest.is_some());
        let data_dir = if ours { DataDir::NotInspected } else { DataDir::inspect(pebble)? };
        Ok(Workload::Reachable { applied, health, data_dir })
    };
    let workload = match reachable() {
        Ok(workload) => workload,
        Err(error) if error.is_connection_error() => {
            tracing::debug!("Pebble is not reachable: {error}");
            Workload::Unreachable
        }
        Err(error) => return Err(StateError::Pebble(error)),
    };
    let port_opened = if ports { Some(tools.opened_ports()?.contains(&Port::Tcp(HTTP_PORT))) } else { None };
    Ok(SynapseState { workload, proxy, port_opened, log_targets })
}

/// The Synapse processes of this unit's `role` (the main process, or a worker; the
/// federation sender beside a scaled main), the base configuration and logging
/// configuration (with a valid configuration), the port to open, and the refusal of a
/// `/data` that holds another server.
pub fn plan(state: &SynapseState, facts: &Facts, role: &Role) -> ComponentPlan {
    let mut plan = ComponentPlan::default();
    match state.workload.data_dir() {
        Some(DataDir::Foreign(found)) => {
            plan.statuses.push(status::foreign_data_dir(found));
            plan.log(
                LogLevel::Error,
                format!(
                    "/data holds a Synapse server this charm did not set up ({}) but no homeserver.yaml it can read, \
                     so it cannot adopt that server and writes nothing there. Deploy on fresh storage, or restore \
                     the server's homeserver.yaml",
                    found.join(", ")
                ),
            );
        }
        Some(DataDir::Upstream(upstream)) => match facts.config {
            Some(config) if upstream.homeserver.server_name != config.server_name => {
                let found = &upstream.homeserver.server_name;
                plan.statuses.push(status::adoption_server_name_differs(found, &config.server_name));
                plan.log(
                    LogLevel::Error,
                    format!(
                        "/data holds a Synapse server this charm did not set up, for server_name {found:?}, while \
                         the configuration asks for {:?}: the charm adopts a server only under its own name and \
                         writes nothing there. Set server_name to {found:?}",
                        config.server_name
                    ),
                );
                plan.hold = Some(Hold::Keep);
            }
            Some(_) => plan.log(
                LogLevel::Info,
                format!(
                    "/data holds a Synapse server this charm did not set up ({}): adopting it with the \
                     application's secrets, its homeserver.yaml is replaced by the charm's",
                    upstream.found.join(", ")
                ),
            ),
            None => {}
        },
        _ => {}
    }
    if state.port_opened == Some(false) && !facts.deployment.departing {
        plan.effects.push(Effect::OpenPort(Port::Tcp(HTTP_PORT)));
    }
    if let Some(config) = facts.config {
        let (log_config_path, log_config) = log_config_file();
        let public_baseurl = facts.public_baseurl.expect("known with a valid configuration");
        plan.homeserver = homeserver::base_fragment(config, public_baseurl, &log_config_path);
        let process = match role {
            Role::Worker { config_path, .. } => Some(Process::Worker { config_path }),
            Role::Main { .. } => Some(Process::Main),
            Role::Idle => None,
        };
        let federation_sender = match role {
            Role::Main { federation_sender: Some(path) } => Some(path),
            _ => None,
        };
        let readers: &'static [&'static str] =
            if federation_sender.is_some() { &[SERVICE, FEDERATION_SENDER_SERVICE] } else { &[SERVICE] };
        plan.files.push(PlannedFile {
            file: ContainerFile::public(log_config_path, log_config),
            services: readers,
            appservice_of: None,
        });
        plan.owned_files.push(LOG_CONFIG_FILES);
        plan.services.extend(process.map(|process| synapse_service(config, &state.proxy, process)));
        plan.services.extend(federation_sender.map(|path| {
            worker_service(FEDERATION_SENDER_SERVICE, "Synapse federation sender", config, &state.proxy, path)
        }));
    }
    plan
}

/// The logging configuration every Synapse process reads: its versioned path and content.
pub fn log_config_file() -> (String, String) {
    let log_config = homeserver::log_config();
    (versioned_path(DATA_DIR, "log", "config", log_config.as_bytes()), log_config)
}

/// What became of Synapse in this hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Pebble does not answer; the next hook resumes.
    Unreachable,
    /// Nothing was changed; Synapse's health as observed.
    Unchanged(Health),
    /// Synapse was (re)started and then observed.
    Started(Health),
    /// Pebble could not start it (redacted error).
    StartFailed(String),
    /// This unit must not serve, and Synapse was stopped.
    Stopped,
    /// No Synapse process runs on this unit, by its role.
    Idle,
    /// Synapse's loader rejected the new configuration (redacted reason); the running one is
    /// kept.
    Rejected(String),
    /// A step before the switch failed (redacted reason); the running configuration is
    /// kept and started again.
    StepFailed { step: String, reason: String },
}

/// The workload's status for `outcome`; `left_out` are the applications whose registrations
/// Synapse's loader rejected (left out of the running configuration); `role` is what an
/// active unit of a scaled application says ("main", "worker 2").
pub fn statuses(outcome: &Outcome, left_out: &[String], role: Option<&str>) -> Vec<Status> {
    let health = match outcome {
        Outcome::Idle => return Vec::new(),
        Outcome::Unreachable => status::waiting_for_pebble(),
        Outcome::Unchanged(health) => health_status(health, false),
        Outcome::Started(health) => health_status(health, true),
        Outcome::StartFailed(error) => status::synapse_start_failed(error),
        Outcome::Stopped => status::waiting_for_synapse(),
        Outcome::Rejected(reason) => status::config_rejected(reason),
        Outcome::StepFailed { step, reason } => status::step_failed(step, reason),
    };
    let health = match (health.kind, role) {
        (juju::StatusKind::Active, Some(role)) => Status::active(role),
        _ => health,
    };
    let mut statuses = vec![health];
    if !left_out.is_empty() {
        statuses.push(status::registrations_left_out(left_out));
    }
    statuses
}

/// `just_started` when this hook (re)started Synapse.
fn health_status(health: &Health, just_started: bool) -> Status {
    match health {
        Health::Answering => status::synapse_running(),
        Health::NotRunning(_) => status::waiting_for_synapse(),
        Health::NotAnswering(_) if just_started => status::synapse_starting(),
        Health::NotAnswering(_) => status::synapse_not_answering(),
        Health::Restarting { last_error } => status::synapse_restarting(last_error.as_deref()),
    }
}

/// What the log says of `health` (already redacted).
pub fn health_diagnostic(health: &Health) -> Option<(LogLevel, String)> {
    match health {
        Health::NotAnswering(reason) => {
            Some((LogLevel::Info, format!("Synapse does not answer its health check: {reason}")))
        }
        Health::Restarting { last_error } => Some((
            LogLevel::Error,
            format!(
                "Pebble keeps restarting Synapse; its last error: {}",
                last_error.as_deref().unwrap_or("(no output)")
            ),
        )),
        Health::Answering | Health::NotRunning(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::tests::facts;
    use crate::deployment::Deployment;
    use juju::StatusKind;

    const MAIN: Role = Role::Main { federation_sender: None };

    fn state(workload: Workload, port_opened: Option<bool>) -> SynapseState {
        SynapseState { workload, proxy: ProxySettings::default(), port_opened, log_targets: BTreeMap::new() }
    }

    fn reachable(data_dir: DataDir) -> Workload {
        Workload::Reachable { applied: BTreeMap::new(), health: Health::NotRunning(None), data_dir }
    }

    #[test]
    fn a_valid_configuration_gives_the_service_base_keys_and_a_versioned_log_config() {
        let deployment = Deployment::single();
        let plan =
            plan(&state(reachable(DataDir::Fresh), None), &facts(&deployment, "synapse/0", true), &MAIN);
        assert_eq!(plan.services.len(), 1);
        assert_eq!(plan.services[0].name, SERVICE);
        let log_config = &plan.files[0].file.path;
        assert!(log_config.starts_with("/data/log-") && log_config.ends_with(".config"), "{log_config}");
        assert_eq!(plan.homeserver.0["log_config"], log_config.as_str());
        assert_eq!(plan.homeserver.0["server_name"], "example.com");
        assert!(plan.homeserver.0.get("form_secret").is_none(), "the secrets are another component's keys");
        assert!(plan.effects.is_empty() && plan.statuses.is_empty());
    }

    #[test]
    fn the_port_is_opened_only_when_observed_closed() {
        let deployment = Deployment::single();
        let facts = facts(&deployment, "synapse/0", false);
        let opens =
            |port_opened| plan(&state(Workload::Unreachable, port_opened), &facts, &MAIN).effects.len();
        assert_eq!((opens(None), opens(Some(true)), opens(Some(false))), (0, 0, 1));
    }

    #[test]
    fn a_foreign_data_dir_blocks_naming_what_was_found() {
        let deployment = Deployment::single();
        let found = vec!["homeserver.yaml".to_string(), "example.com.signing.key".to_string()];
        let plan = plan(
            &state(reachable(DataDir::Foreign(found)), None),
            &facts(&deployment, "synapse/0", true),
            &MAIN,
        );
        assert_eq!(plan.statuses.len(), 1);
        assert_eq!(plan.statuses[0].kind, StatusKind::Blocked);
        assert!(plan.statuses[0].message.contains("homeserver.yaml, example.com.signing.key"));
    }

    #[test]
    fn an_upstream_server_of_another_server_name_blocks_and_holds_the_container() {
        let deployment = Deployment::single();
        let found = vec!["homeserver.yaml".to_string()];
        let upstream = |server_name: &str| {
            let text = format!("server_name: {server_name}\n");
            state(reachable(DataDir::with_homeserver(found.clone(), Some(&text))), None)
        };
        let facts = facts(&deployment, "synapse/1", false);
        let other = plan(&upstream("old.example.org"), &facts, &MAIN);
        assert_eq!(other.statuses, [status::adoption_server_name_differs("old.example.org", "example.com")]);
        assert_eq!(other.hold, Some(Hold::Keep));
        let same = plan(&upstream("example.com"), &facts, &MAIN);
        assert!(same.statuses.is_empty() && same.hold.is_none());
        assert_eq!(same.services.len(), 1);
        assert!(same.diagnostics[0].1.contains("adopting it"), "{:?}", same.diagnostics);
    }

    #[test]
    fn statuses_follow_the_outcome_and_name_left_out_registrations() {
        assert_eq!(statuses(&Outcome::Unchanged(Health::Answering), &[], None), [status::synapse_running()]);
        assert_eq!(
            statuses(&Outcome::Started(Health::NotAnswering("503".into())), &[], None),
            [status::synapse_starting()]
        );
        assert_eq!(
            statuses(&Outcome::Unchanged(Health::NotAnswering("503".into())), &[], None),
            [status::synapse_not_answering()]
        );
        let left_out = statuses(&Outcome::Started(Health::Answering), &["irc".to_string()], None);
        assert_eq!(left_out.len(), 2);
        assert_eq!(left_out[1].kind, StatusKind::Blocked);
        assert!(left_out[1].message.contains("irc"), "{}", left_out[1].message);
        assert_eq!(statuses(&Outcome::Rejected("bad".into()), &[], None)[0].kind, StatusKind::Blocked);
    }
}
