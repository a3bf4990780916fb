//! The simulated model: applications, units, relations, secrets and records of what the charms
//! did. It is plain serde data so hook-tool processes and the driver can share it as JSON.

mod commit;
mod ports;
mod relation;
mod secret;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::charm::CharmMeta;
use crate::time;

pub use commit::Change;
pub use ports::{PortRange, Protocol};
pub use relation::{Bag, Relation, RelationEnd, Role};
pub use secret::{
    GrantTarget, RotatePolicy, Secret, SecretConsumer, SecretContent, SecretGrant, SecretOwner,
    SecretRevision, SecretUri,
};

/// The Juju version reported to charms unless a test chooses another.
pub const DEFAULT_JUJU_VERSION: &str = "3.6.4";

/// Everything a Juju controller would know about one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    pub uuid: String,
    pub juju_version: String,
    #[serde(default)]
    pub applications: BTreeMap<String, Application>,
    #[serde(default)]
    pub relations: BTreeMap<u32, Relation>,
    /// Secrets keyed by their 20-character id.
    #[serde(default)]
    pub secrets: BTreeMap<String, Secret>,
    /// `juju-log` records (and the simulator's own warnings), oldest first.
    #[serde(default)]
    pub logs: Vec<LogRecord>,
    /// Finished actions, oldest first.
    #[serde(default)]
    pub actions: Vec<ActionRecord>,
    #[serde(default)]
    pub next_relation_id: u32,
    #[serde(default)]
    pub next_action_id: u64,
    /// What `credential-get` returns to trusted applications.
    #[serde(default)]
    pub cloud_spec: Option<Value>,
}

impl Model {
    /// An empty model with a fresh random UUID.
    pub fn new(name: impl Into<String>) -> Self {
        Model {
            name: name.into(),
            uuid: random_uuid(),
            juju_version: DEFAULT_JUJU_VERSION.to_owned(),
            applications: BTreeMap::new(),
            relations: BTreeMap::new(),
            secrets: BTreeMap::new(),
            logs: Vec::new(),
            actions: Vec::new(),
            next_relation_id: 0,
            next_action_id: 1,
            cloud_spec: None,
        }
    }

    pub fn app(&self, name: &str) -> Option<&Application> {
        self.applications.get(name)
    }

    pub fn app_mut(&mut self, name: &str) -> Option<&mut Application> {
        self.applications.get_mut(name)
    }

    pub fn unit(&self, unit: &str) -> Option<&Unit> {
        self.app(app_of(unit))?.unit(unit)
    }

    pub fn unit_mut(&mut self, unit: &str) -> Option<&mut Unit> {
        self.app_mut(app_of(unit))?.unit_mut(unit)
    }

    /// Whether `unit` is its application's leader.
    pub fn is_leader(&self, unit: &str) -> bool {
        self.app(app_of(unit)).is_some_and(|app| app.leader.as_deref() == Some(unit))
    }

    pub fn relation(&self, id: u32) -> Option<&Relation> {
        self.relations.get(&id)
    }

    pub fn relation_mut(&mut self, id: u32) -> Option<&mut Relation> {
        self.relations.get_mut(&id)
    }

    /// Relations `unit` currently takes part in (it has entered their scope), by id.
    pub fn relations_of_unit<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a Relation> {
        self.relations.values().filter(move |relation| relation.scope.contains(unit))
    }

    /// Looks a secret up by URI (any accepted form) or bare id.
    pub fn secret(&self, id: &str) -> Option<&Secret> {
        self.secrets.get(id)
    }

    pub(crate) fn log(&mut self, unit: &str, hook: &str, level: &str, message: String) {
        self.logs.push(LogRecord {
            unit: unit.to_owned(),
            hook: hook.to_owned(),
            level: level.to_owned(),
            message,
        });
    }
}

/// The application part of a unit name (`pg/0` → `pg`).
pub fn app_of(unit: &str) -> &str {
    unit.split_once('/').map_or(unit, |(app, _)| app)
}

/// Whether `name` is a valid Juju application name.
pub fn is_valid_app_name(name: &str) -> bool {
    // Lowercase letters, digits and single hyphens; starts with a letter; no segment after a
    // hyphen made only of digits.
    let mut segments = name.split('-');
    let Some(first) = segments.next() else {
        return false;
    };
    if !first.starts_with(|c: char| c.is_ascii_lowercase()) {
        return false;
    }
    let valid_segment =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    valid_segment(first) && segments.all(|s| valid_segment(s) && !s.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `name` is a valid unit name (`<app>/<n>`).
pub fn is_valid_unit_name(name: &str) -> bool {
    name.split_once('/').is_some_and(|(app, number)| {
        is_valid_app_name(app)
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
            && (number == "0" || !number.starts_with('0'))
    })
}

/// One deployed application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub name: String,
    /// The charm directory hooks run from; `None` for a passive application whose data tests
    /// drive directly.
    pub charm_dir: Option<PathBuf>,
    pub meta: CharmMeta,
    /// Explicitly set configuration values (defaults come from `meta.config`).
    #[serde(default)]
    pub config: BTreeMap<String, Value>,
    #[serde(default)]
    pub units: Vec<Unit>,
    pub leader: Option<String>,
    pub status: StatusInfo,
    #[serde(default)]
    pub status_history: Vec<StatusInfo>,
    #[serde(default)]
    pub leader_settings: BTreeMap<String, String>,
    #[serde(default)]
    pub next_unit: u32,
    /// Whether `juju trust` was given (enables `credential-get`).
    #[serde(default)]
    pub trusted: bool,
    /// Files returned by `resource-get`, by resource name.
    #[serde(default)]
    pub resources: BTreeMap<String, PathBuf>,
    /// Index used to derive unit addresses.
    #[serde(default)]
    pub index: u32,
    /// Environment every new unit's hooks get.
    #[serde(default)]
    pub unit_env: BTreeMap<String, String>,
}

impl Application {
    pub fn unit(&self, name: &str) -> Option<&Unit> {
        self.units.iter().find(|unit| unit.name == name)
    }

    pub fn unit_mut(&mut self, name: &str) -> Option<&mut Unit> {
        self.units.iter_mut().find(|unit| unit.name == name)
    }

    pub fn unit_names(&self) -> impl Iterator<Item = &str> {
        self.units.iter().map(|unit| unit.name.as_str())
    }

    /// Every option with its effective value: the set value, else the default, else null.
    pub fn config_settings(&self) -> BTreeMap<String, Value> {
        let mut settings: BTreeMap<String, Value> = self
            .meta
            .config
            .iter()
            .map(|(name, option)| (name.clone(), option.default.clone().unwrap_or(Value::Null)))
            .collect();
        for (name, value) in &self.config {
            settings.insert(name.clone(), value.clone());
        }
        settings
    }

    pub(crate) fn set_status(&mut self, status: StatusInfo) {
        self.status_history.push(status.clone());
        self.status = status;
    }
}

/// One unit of an application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub name: String,
    pub status: StatusInfo,
    #[serde(default)]
    pub status_history: Vec<StatusInfo>,
    #[serde(default)]
    pub workload_version: String,
    /// The controller-side key-value store of `state-get`/`state-set`.
    #[serde(default)]
    pub state: BTreeMap<String, String>,
    /// Opened ports grouped by endpoint; the empty endpoint means all endpoints.
    #[serde(default)]
    pub opened_ports: BTreeMap<String, BTreeSet<PortRange>>,
    pub address: String,
    /// Extra environment for this unit's hooks (for example a Pebble socket directory).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Attached storage by id (`data/0`).
    #[serde(default)]
    pub storage: BTreeMap<String, StorageAttachment>,
    #[serde(default)]
    pub dying: bool,
}

impl Unit {
    pub(crate) fn set_status(&mut self, status: StatusInfo) {
        self.status_history.push(status.clone());
        self.status = status;
    }

    /// Opened port ranges across all endpoints, sorted as Juju sorts them.
    pub fn ports(&self) -> Vec<PortRange> {
        let unique: BTreeSet<PortRange> = self.opened_ports.values().flatten().copied().collect();
        unique.into_iter().collect()
    }
}

/// A storage instance attached to a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageAttachment {
    pub kind: String,
    pub location: String,
}

/// A workload status with its message, optional data and when it was set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusInfo {
    pub status: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub data: BTreeMap<String, Value>,
    #[serde(default)]
    pub since: String,
}

impl StatusInfo {
    pub fn new(status: &str, message: &str) -> Self {
        StatusInfo {
            status: status.to_owned(),
            message: message.to_owned(),
            data: BTreeMap::new(),
            since: time::now_rfc3339(),
        }
    }
}

/// One `juju-log` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    pub unit: String,
    /// Hook name, or `<action>-action` for actions.
    pub hook: String,
    pub level: String,
    pub message: String,
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionStatus {
    Completed,
    Failed,
}

/// A finished action: its parameters, results (including `return-code`, `stdout`, `stderr`),
/// status, failure message and progress log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub id: u64,
    pub unit: String,
    pub name: String,
    pub params: serde_json::Map<String, Value>,
    pub results: serde_json::Map<String, Value>,
    pub status: ActionStatus,
    pub message: Option<String>,
    pub logs: Vec<String>,
}

/// A random RFC 4122 version-4 UUID.
pub(crate) fn random_uuid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_and_app_names_follow_juju_rules() {
        assert!(is_valid_app_name("synapse-k8s"));
        assert!(is_valid_app_name("pg"));
        assert!(!is_valid_app_name("pg-1"));
        assert!(!is_valid_app_name("Pg"));
        assert!(!is_valid_app_name("1pg"));
        assert!(is_valid_unit_name("pg/0"));
        assert!(is_valid_unit_name("pg/12"));
        assert!(!is_valid_unit_name("pg/01"));
        assert!(!is_valid_unit_name("pg"));
        assert!(!is_valid_unit_name("pg/x"));
    }

    #[test]
    fn random_uuid_has_the_canonical_shape() {
        let uuid = random_uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert_ne!(random_uuid(), uuid);
    }
}
