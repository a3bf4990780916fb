//! Layer YAML schema (services, checks, log targets) and the `override: merge` rules.
//!
//! Every field is optional so that a merge can tell "set" from "not set": scalars replace
//! when set, maps merge key-wise, lists append. Enumerated values (`startup`, `on-success`,
//! `level`, log target `type`, ...) are kept as text, as Pebble does, and checked by the
//! plan's validation in Pebble's words. Fields are declared in Pebble's order, which is the
//! order the plan YAML shows them in.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One layer's content, or the combined plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LayerSpec {
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

/// The default of `on-success`, `on-failure` and `on-check-failure` actions.
pub const ACTION_RESTART: &str = "restart";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Service {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `enabled` starts the service on replan/autostart; any other text (Pebble does not
    /// check it) leaves it to explicit starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub on_check_failure: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_delay: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_delay: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
}

impl Service {
    /// Applies `other` on top of `self` with `override: merge` rules (`override` itself stays
    /// that of the entry merged into).
    pub fn merge(&mut self, other: &Service) {
        merge_opt(&mut self.summary, &other.summary);
        merge_opt(&mut self.description, &other.description);
        merge_opt(&mut self.startup, &other.startup);
        merge_opt(&mut self.command, &other.command);
        self.after.extend(other.after.iter().cloned());
        self.before.extend(other.before.iter().cloned());
        self.requires.extend(other.requires.iter().cloned());
        merge_map(&mut self.environment, &other.environment);
        merge_opt(&mut self.user_id, &other.user_id);
        merge_opt(&mut self.user, &other.user);
        merge_opt(&mut self.group_id, &other.group_id);
        merge_opt(&mut self.group, &other.group);
        merge_opt(&mut self.working_dir, &other.working_dir);
        merge_opt(&mut self.on_success, &other.on_success);
        merge_opt(&mut self.on_failure, &other.on_failure);
        merge_map(&mut self.on_check_failure, &other.on_check_failure);
        merge_opt(&mut self.backoff_delay, &other.backoff_delay);
        merge_opt(&mut self.backoff_factor, &other.backoff_factor);
        merge_opt(&mut self.backoff_limit, &other.backoff_limit);
        merge_opt(&mut self.kill_delay, &other.kill_delay);
        merge_opt(&mut self.workload, &other.workload);
    }

    pub fn startup_enabled(&self) -> bool {
        self.startup.as_deref() == Some("enabled")
    }

    /// What to do when the process exits with success or failure (default `restart`).
    pub fn exit_action(&self, success: bool) -> &str {
        let action = if success { &self.on_success } else { &self.on_failure };
        action.as_deref().filter(|a| !a.is_empty()).unwrap_or(ACTION_RESTART)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Check {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecCheck>,
}

impl Check {
    pub fn merge(&mut self, other: &Check) {
        merge_opt(&mut self.level, &other.level);
        merge_opt(&mut self.startup, &other.startup);
        merge_opt(&mut self.period, &other.period);
        merge_opt(&mut self.timeout, &other.timeout);
        merge_opt(&mut self.threshold, &other.threshold);
        if let Some(http) = &other.http {
            self.http.get_or_insert_with(Default::default).merge(http);
        }
        if let Some(tcp) = &other.tcp {
            self.tcp.get_or_insert_with(Default::default).merge(tcp);
        }
        if let Some(exec) = &other.exec {
            self.exec.get_or_insert_with(Default::default).merge(exec);
        }
    }

    pub fn startup_disabled(&self) -> bool {
        self.startup.as_deref() == Some("disabled")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl HttpCheck {
    fn merge(&mut self, other: &HttpCheck) {
        merge_opt(&mut self.url, &other.url);
        merge_map(&mut self.headers, &other.headers);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TcpCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl TcpCheck {
    fn merge(&mut self, other: &TcpCheck) {
        merge_opt(&mut self.port, &other.port);
        merge_opt(&mut self.host, &other.host);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExecCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_context: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

impl ExecCheck {
    fn merge(&mut self, other: &ExecCheck) {
        merge_opt(&mut self.command, &other.command);
        merge_opt(&mut self.service_context, &other.service_context);
        merge_map(&mut self.environment, &other.environment);
        merge_opt(&mut self.user_id, &other.user_id);
        merge_opt(&mut self.user, &other.user);
        merge_opt(&mut self.group_id, &other.group_id);
        merge_opt(&mut self.group, &other.group);
        merge_opt(&mut self.working_dir, &other.working_dir);
    }
}

/// Where service logs are forwarded (`log-targets`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LogTarget {
    /// `loki` or `opentelemetry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// The push URL (Loki: `http://host:3100/loki/api/v1/push`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Service names, `all`, `-name` or `-all`; the last one that matches a service decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<String>,
    /// Labels of every stream; `$NAME` / `${NAME}` expand from the service's environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl LogTarget {
    pub fn merge(&mut self, other: &LogTarget) {
        merge_opt(&mut self.r#type, &other.r#type);
        merge_opt(&mut self.location, &other.location);
        self.services.extend(other.services.iter().cloned());
        merge_map(&mut self.labels, &other.labels);
    }

    /// Whether `service`'s logs go to this target: the last entry naming it (or `all`) wins.
    pub fn takes(&self, service: &str) -> bool {
        for entry in self.services.iter().rev() {
            match entry.strip_prefix('-') {
                Some(name) if name == service || name == "all" => return false,
                None if entry == service || entry == "all" => return true,
                _ => {}
            }
        }
        false
    }
}

/// A Go duration field: parsed from text like `500ms`, written back in Go's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&crate::duration::format(self.0))
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::duration::parse(&text).map(GoDuration).map_err(serde::de::Error::custom)
    }
}

fn merge_opt<T: Clone>(target: &mut Option<T>, other: &Option<T>) {
    if other.is_some() {
        target.clone_from(other);
    }
}

fn merge_map<V: Clone>(target: &mut BTreeMap<String, V>, other: &BTreeMap<String, V>) {
    target.extend(other.iter().map(|(k, v)| (k.clone(), v.clone())));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_targets_take_services_by_the_last_matching_entry() {
        let target = |services: &[&str]| LogTarget {
            services: services.iter().map(|s| (*s).to_owned()).collect(),
            ..LogTarget::default()
        };
        assert!(target(&["all"]).takes("a"));
        assert!(!target(&["all", "-a"]).takes("a"));
        assert!(target(&["all", "-a"]).takes("b"));
        assert!(target(&["-all", "a"]).takes("a"));
        assert!(!target(&["a", "-all"]).takes("a"));
        assert!(!target(&["b"]).takes("a"));
        assert!(!target(&[]).takes("a"));
    }
}
