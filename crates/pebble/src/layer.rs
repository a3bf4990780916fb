//! Layers and the combined plan: services, checks and log targets, with Pebble's hyphenated
//! YAML names. Unset fields are omitted when sending and unknown fields are ignored when
//! parsing.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{protocol, Result};

/// Environment variables. `Debug` shows the names only: values may be secrets.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Environment(BTreeMap<String, String>);

impl Environment {
    /// No variables.
    pub fn new() -> Environment {
        Environment::default()
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.keys().map(|name| (name, "<redacted>"))).finish()
    }
}

impl Deref for Environment {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Environment {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<BTreeMap<String, String>> for Environment {
    fn from(variables: BTreeMap<String, String>) -> Self {
        Environment(variables)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Environment(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

/// How a layer entry combines with the same entry in lower layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Override {
    /// Merge field by field (maps merge, lists append).
    Merge,
    /// Replace the whole entry (the default here; Pebble itself requires an explicit value).
    #[default]
    Replace,
}

/// Whether a service or check starts automatically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Startup {
    /// Started by replan and autostart.
    Enabled,
    /// Started only on request.
    Disabled,
}

/// What Pebble does when a service exits or one of its checks fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceAction {
    /// Restart the service (with backoff).
    Restart,
    /// Shut Pebble down.
    Shutdown,
    /// Do nothing.
    Ignore,
    /// Shut Pebble down with a success exit code.
    SuccessShutdown,
    /// Shut Pebble down with a failure exit code.
    FailureShutdown,
}

/// A check's level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckLevel {
    /// Liveness.
    Alive,
    /// Readiness.
    Ready,
}

/// Where a log target forwards logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTargetType {
    /// Grafana Loki.
    Loki,
    /// An OpenTelemetry collector.
    Opentelemetry,
    /// A syslog server.
    Syslog,
}

/// A layer, sent with [`Client::add_layer`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Layer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Check>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub log_targets: BTreeMap<String, LogTarget>,
}

/// The combined plan of all layers, from [`Client::plan`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Plan {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Check>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub log_targets: BTreeMap<String, LogTarget>,
}

/// A service entry. Durations are Go duration strings such as `500ms` or `5s`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Service {
    #[serde(rename = "override", default)]
    pub override_: Override,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The command line, split shell-like; `[ ... ]` encloses default arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: Environment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<ServiceAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<ServiceAction>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub on_check_failure: BTreeMap<String, ServiceAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_delay: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_delay: Option<String>,
    /// The workload the service belongs to (newer Pebble).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
}

/// A health check entry: exactly one of `http`, `tcp` and `exec` must be set in the plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Check {
    #[serde(rename = "override", default)]
    pub override_: Override,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<CheckLevel>,
    /// Whether the check runs automatically (newer Pebble).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Consecutive failures before the check is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecCheck>,
}

/// An HTTP check: up when a GET of `url` answers 2xx.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// A TCP check: up when `host:port` accepts connections.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// An exec check: up when the command exits 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExecCheck {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_context: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: Environment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

/// A log forwarding target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LogTarget {
    #[serde(rename = "override", default)]
    pub override_: Override,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<LogTargetType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Services to forward: names, `all`, or `-name` to remove one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Plan {
    /// Parses the plan YAML Pebble returns.
    pub fn from_yaml(yaml: &str) -> Result<Plan> {
        if yaml.trim().is_empty() {
            return Ok(Plan::default());
        }
        serde_norway::from_str(yaml).map_err(|err| {
            // The message may quote values (e.g. environment secrets): report the position.
            let position = err
                .location()
                .map_or_else(String::new, |at| format!(" at line {} column {}", at.line(), at.column()));
            protocol("GET /v1/plan", format_args!("malformed plan YAML{position}"))
        })
    }
}

#[derive(Serialize)]
struct AddLayer<'a> {
    action: &'static str,
    combine: bool,
    label: &'a str,
    format: &'static str,
    layer: String,
}

impl Client {
    /// The combined plan.
    pub fn plan(&self) -> Result<Plan> {
        let yaml: String = self.get("/v1/plan?format=yaml")?;
        Plan::from_yaml(&yaml)
    }

    /// Adds `layer` under `label`; with `combine`, merges it into an existing layer of that
    /// label. Starts nothing: call [`Client::replan`] afterwards.
    pub fn add_layer(&self, label: &str, layer: &Layer, combine: bool) -> Result<()> {
        // JSON is YAML, and serializing these types to JSON cannot fail.
        let yaml = serde_json::to_string(layer)
            .map_err(|err| protocol("POST /v1/layers", format_args!("cannot encode layer: {err}")))?;
        let body = AddLayer { action: "add", combine, label, format: "yaml", layer: yaml };
        self.post::<serde_json::Value>("/v1/layers", &body).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synapse_layer() -> Layer {
        Layer {
            summary: Some("Synapse layer".into()),
            services: BTreeMap::from([(
                "synapse".to_owned(),
                Service {
                    override_: Override::Replace,
                    command: Some("/start.py".into()),
                    startup: Some(Startup::Enabled),
                    environment: [("SYNAPSE_CONFIG_DIR", "/data")].into_iter().collect(),
                    user_id: Some(991),
                    on_check_failure: BTreeMap::from([("ready".to_owned(), ServiceAction::Restart)]),
                    backoff_factor: Some(2.0),
                    kill_delay: Some("5s".into()),
                    ..Service::default()
                },
            )]),
            checks: BTreeMap::from([(
                "ready".to_owned(),
                Check {
                    override_: Override::Merge,
                    level: Some(CheckLevel::Ready),
                    period: Some("10s".into()),
                    threshold: Some(3),
                    http: Some(HttpCheck {
                        url: "http://localhost:8008/health".into(),
                        headers: BTreeMap::new(),
                    }),
                    ..Check::default()
                },
            )]),
            ..Layer::default()
        }
    }

    #[test]
    fn layers_serialize_with_pebble_names_and_without_unset_fields() {
        let json: serde_json::Value = serde_json::to_value(synapse_layer()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "summary": "Synapse layer",
                "services": {"synapse": {
                    "override": "replace",
                    "command": "/start.py",
                    "startup": "enabled",
                    "environment": {"SYNAPSE_CONFIG_DIR": "/data"},
                    "user-id": 991,
                    "on-check-failure": {"ready": "restart"},
                    "backoff-factor": 2.0,
                    "kill-delay": "5s"
                }},
                "checks": {"ready": {
                    "override": "merge",
                    "level": "ready",
                    "period": "10s",
                    "threshold": 3,
                    "http": {"url": "http://localhost:8008/health"}
                }}
            })
        );
    }

    #[test]
    fn plans_parse_from_pebble_yaml_ignoring_unknown_fields() {
        let plan = Plan::from_yaml(
            "services:\n  synapse:\n    override: replace\n    command: /start.py\n    startup: enabled\n    \
             environment:\n      SYNAPSE_CONFIG_DIR: /data\n    user-id: 991\n    on-check-failure:\n      ready: restart\n    \
             backoff-factor: 2\n    kill-delay: 5s\n    future-field: 1\n\
             checks:\n  ready:\n    override: merge\n    level: ready\n    period: 10s\n    threshold: 3\n    \
             http:\n      url: http://localhost:8008/health\n\
             log-targets:\n  loki:\n    override: merge\n    type: loki\n    location: http://loki:3100\n    services: [all]\n\
             sections: {}\n",
        )
        .unwrap();
        let layer = synapse_layer();
        assert_eq!(plan.services, layer.services);
        assert_eq!(plan.checks, layer.checks);
        assert_eq!(plan.log_targets["loki"].type_, Some(LogTargetType::Loki));
        assert_eq!(plan.log_targets["loki"].services, ["all"]);
    }

    #[test]
    fn empty_plans_parse() {
        assert_eq!(Plan::from_yaml("").unwrap(), Plan::default());
        assert_eq!(Plan::from_yaml("{}\n").unwrap(), Plan::default());
    }

    #[test]
    fn malformed_plans_report_positions_not_values() {
        let err = Plan::from_yaml("services:\n  s:\n    user-id: s3cr3t\n").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("line 3"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }

    #[test]
    fn environment_debug_hides_values() {
        let env: Environment = [("TOKEN", "hunter2")].into_iter().collect();
        let debug = format!("{:?}", synapse_layer().services["synapse"].environment);
        assert!(debug.contains("SYNAPSE_CONFIG_DIR"));
        assert!(!debug.contains("/data"));
        assert_eq!(format!("{env:?}"), r#"{"TOKEN": "<redacted>"}"#);
    }
}
