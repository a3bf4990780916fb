//! The contract every concern of the charm follows.
//!
//! A component has a `load` that reads only what it needs from the hook tools and Pebble,
//! with no side effect, and a pure `plan` from its loaded state and the [`Facts`] shared by
//! all into a [`ComponentPlan`]: its status, its keys of homeserver.yaml, the files it wants
//! in the container, and its Juju effects and log lines, all as data. The composer
//! ([`crate::compose`]) merges the plans; [`crate::apply`] carries them out.

use juju::{Effect, LogLevel, Status};
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::config::SynapseConfig;
use crate::deployment::Deployment;
use crate::layer::ServicePlan;
use crate::workload::ContainerFile;

/// What every component may know: who this unit is and what the hook allows.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub unit: &'a str,
    pub app: &'a str,
    pub leader: bool,
    pub deployment: &'a Deployment,
    /// The valid configuration; `None` when an option is invalid.
    pub config: Option<&'a SynapseConfig>,
    /// The URL clients use (the option, else the ingress URL, else `https://<server_name>`);
    /// `None` when an option is invalid.
    pub public_baseurl: Option<&'a str>,
    /// Whether this unit may write anything for the application: not while it is leaving,
    /// not over a data directory that holds another server.
    pub may_write: bool,
}

impl Facts<'_> {
    /// Whether this hook speaks for the application (the leader, unless it is leaving).
    pub fn speaks_for_app(&self) -> bool {
        self.leader && !self.deployment.departing
    }
}

/// One log line: its level and text (redacted when logged).
pub type Diagnostic = (LogLevel, String);

/// A component's keys of homeserver.yaml, in order. Two components setting the same key is
/// a [`FragmentConflict`], found when the plans are composed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fragment(pub Map<String, Value>);

/// Two components set the same homeserver.yaml key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("homeserver.yaml key {key:?} is set by both the {first} and the {second} component")]
pub struct FragmentConflict {
    pub key: String,
    pub first: &'static str,
    pub second: &'static str,
}

/// A file for the workload container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub file: ContainerFile,
    /// The Pebble services that read it: a change restarts these, and only these.
    pub services: &'static [&'static str],
    /// For an appservice registration, the application it comes from: Synapse loads it
    /// through `app_service_config_files`, and if Synapse's loader rejects it the charm
    /// leaves it out and names this application.
    pub appservice_of: Option<String>,
}

/// Files a component writes under names matching `pattern` in `dir` (a prefix, one `*`, a
/// suffix): those no plan wants any more are removed once the new configuration is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnedFiles {
    pub dir: &'static str,
    pub pattern: &'static str,
}

impl OwnedFiles {
    /// Whether the file `name` (in [`OwnedFiles::dir`]) matches the pattern.
    pub fn matches(&self, name: &str) -> bool {
        match self.pattern.split_once('*') {
            Some((prefix, suffix)) => {
                name.len() >= prefix.len() + suffix.len()
                    && name.starts_with(prefix)
                    && name.ends_with(suffix)
            }
            None => name == self.pattern,
        }
    }
}

/// A file a running service re-reads on a signal rather than a restart (nginx's
/// configuration): written at `<path>.candidate`, checked with `check` (the candidate's path
/// appended), then put in place, and the service signalled if it was running. A rejected
/// file is not used and the running one stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reload {
    pub service: &'static str,
    pub file: ContainerFile,
    pub check: Vec<String>,
    pub signal: &'static str,
    /// No earlier version is in place: if this one is rejected, the service cannot run and
    /// is left out of the layer.
    pub first: bool,
}

impl Reload {
    /// Where the file is checked before it is put in place.
    pub fn candidate_path(&self) -> String {
        format!("{}.candidate", self.file.path)
    }
}

/// A component's veto on the container, whatever the others want.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Keep the running configuration and services as they are.
    Keep,
    /// Stop the services (serving would be wrong, say on an empty database).
    Stop,
}

/// A step on the container before the switch to a new configuration (which has passed
/// Synapse's loader and sits at the candidate path).
#[derive(Clone, PartialEq, Eq)]
pub enum ContainerStep {
    /// Runs `python3 -c <script>` as the synapse user with `input` on stdin (connection
    /// settings: secret); the step fails unless it prints JSON with `"collate": "C"`.
    FixDatabaseLocale { script: &'static str, input: Vec<u8> },
    /// Stops the services and copies the SQLite database `sqlite` into the PostgreSQL
    /// database of the candidate configuration with Synapse's `synapse_port_db`, showing its
    /// progress in the status. On failure `failure_marker` gets `failure_note` and the
    /// reason, the running configuration is kept and started again.
    PortSqlite { sqlite: &'static str, failure_marker: &'static str, failure_note: String },
}

impl ContainerStep {
    /// What the step does, for the log and the status.
    pub fn describe(&self) -> String {
        match self {
            Self::FixDatabaseLocale { .. } => {
                "setting the PostgreSQL database's collation and ctype to C".into()
            }
            Self::PortSqlite { .. } => "porting the SQLite database to PostgreSQL".into(),
        }
    }
}

impl std::fmt::Debug for ContainerStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FixDatabaseLocale { .. } => f.write_str("FixDatabaseLocale"),
            Self::PortSqlite { sqlite, .. } => write!(f, "PortSqlite({sqlite})"),
        }
    }
}

/// Everything a component wants, as data.
#[derive(Debug, Default)]
pub struct ComponentPlan {
    /// Its statuses, most important first (most components have at most one).
    pub statuses: Vec<Status>,
    pub homeserver: Fragment,
    pub files: Vec<PlannedFile>,
    pub owned_files: Vec<OwnedFiles>,
    /// Pebble services it runs.
    pub services: Vec<ServicePlan>,
    /// Files to change under a running service that re-reads them on a signal (only those
    /// that differ from the container's).
    pub reloads: Vec<Reload>,
    /// Environment variables it adds to other components' services (service, name, value),
    /// covered by their digests: non-secret facts about what a service runs with, which the
    /// component reads back from the plan in later hooks.
    pub service_environment: Vec<(&'static str, String, String)>,
    /// Steps on the container between the check of the new configuration and the switch
    /// to it.
    pub steps: Vec<ContainerStep>,
    /// Whether the container may change at all this hook.
    pub hold: Option<Hold>,
    /// Juju changes, carried out in order after the plans of the components before it.
    pub effects: Vec<Effect>,
    pub diagnostics: Vec<Diagnostic>,
    /// Secret values the component knows, hidden from everything logged or shown.
    pub secrets: Vec<SecretString>,
}

impl ComponentPlan {
    pub fn status(mut self, status: impl Into<Option<Status>>) -> Self {
        self.statuses.extend(status.into());
        self
    }

    pub fn log(&mut self, level: LogLevel, line: impl Into<String>) {
        self.diagnostics.push((level, line.into()));
    }
}

impl Fragment {
    pub fn set(&mut self, key: &str, value: Value) {
        self.0.insert(key.to_string(), value);
    }

    /// Adds `other`'s keys (of component `second`) after this fragment's; a key both set is
    /// a conflict. `owners` records which component set each key so far.
    pub fn merge(
        &mut self,
        other: Fragment,
        second: &'static str,
        owners: &mut Vec<(String, &'static str)>,
    ) -> Result<(), FragmentConflict> {
        for (key, value) in other.0 {
            if let Some((_, first)) = owners.iter().find(|(owned, _)| *owned == key) {
                return Err(FragmentConflict { key, first, second });
            }
            owners.push((key.clone(), second));
            self.0.insert(key, value);
        }
        Ok(())
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Facts of a unit with a valid default configuration (`server_name: example.com`).
    pub fn facts<'a>(deployment: &'a Deployment, unit: &'a str, leader: bool) -> Facts<'a> {
        use std::sync::OnceLock;
        static CONFIG: OnceLock<SynapseConfig> = OnceLock::new();
        let config = CONFIG.get_or_init(|| crate::config::for_tests(serde_json::json!({})));
        Facts {
            unit,
            app: "synapse",
            leader,
            deployment,
            config: Some(config),
            public_baseurl: Some("https://example.com"),
            may_write: !deployment.departing,
        }
    }

    #[test]
    fn owned_files_match_their_pattern_only() {
        let logs = OwnedFiles { dir: "/data", pattern: "log*.config" };
        assert!(logs.matches("log.config") && logs.matches("log-0123456789abcdef.config"));
        assert!(
            !logs.matches("homeserver.yaml") && !logs.matches("log.config.bak") && !logs.matches("lo.config")
        );
        assert!(OwnedFiles { dir: "/data", pattern: "exact.yaml" }.matches("exact.yaml"));
    }

    #[test]
    fn fragments_merge_in_order_and_a_key_set_twice_is_a_conflict() {
        let mut owners = Vec::new();
        let mut merged = Fragment::default();
        let mut first = Fragment::default();
        first.set("server_name", serde_json::json!("example.com"));
        merged.merge(first, "synapse", &mut owners).unwrap();
        let mut second = Fragment::default();
        second.set("form_secret", serde_json::json!("x"));
        merged.merge(second, "secrets", &mut owners).unwrap();
        assert_eq!(merged.0.keys().collect::<Vec<_>>(), ["server_name", "form_secret"]);
        let mut clash = Fragment::default();
        clash.set("server_name", serde_json::json!("other"));
        assert_eq!(
            merged.merge(clash, "ingress", &mut owners),
            Err(FragmentConflict { key: "server_name".into(), first: "synapse", second: "ingress" })
        );
        assert_eq!(
            FragmentConflict { key: "k".into(), first: "a", second: "b" }.to_string(),
            "homeserver.yaml key \"k\" is set by both the a and the b component"
        );
    }
}
