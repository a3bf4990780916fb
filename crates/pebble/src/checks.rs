//! Health checks: their states, starting and stopping them, and overall health.

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{protocol, Result};
use crate::http::target;
use crate::layer::{CheckLevel, Startup};

/// A check's state, from [`Client::checks`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CheckInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<CheckLevel>,
    /// Absent from older Pebble.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    pub status: CheckStatus,
    #[serde(default)]
    pub successes: u64,
    /// Consecutive failures.
    #[serde(default)]
    pub failures: u64,
    /// Consecutive failures at which the check is down.
    #[serde(default)]
    pub threshold: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_change_id: Option<String>,
}

/// A check's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Up,
    Down,
    /// Stopped (newer Pebble).
    Inactive,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

#[derive(Serialize)]
struct CheckAction<'a> {
    action: &'static str,
    checks: &'a [&'a str],
}

/// `{"changed": [...]}`; Pebble answers `{"changed": null}` when nothing changed (and older
/// Pebble answers `null` altogether).
#[derive(Deserialize)]
struct Changed {
    #[serde(default)]
    changed: Option<Vec<String>>,
}

/// The outcome of running a check now ([`Client::refresh_check`]).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CheckRefresh {
    pub info: CheckInfo,
    /// Why this run failed; `None` when it passed.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Serialize)]
struct RefreshRequest<'a> {
    name: &'a str,
}

#[derive(Deserialize)]
struct Health {
    healthy: bool,
}

fn level_and_names(level: Option<CheckLevel>, names: &str) -> Vec<(&'static str, &str)> {
    let mut params = Vec::new();
    if let Some(level) = level {
        params.push((
            "level",
            match level {
                CheckLevel::Alive => "alive",
                CheckLevel::Ready => "ready",
            },
        ));
    }
    if !names.is_empty() {
        params.push(("names", names));
    }
    params
}

impl Client {
    /// Checks of `level` (any when `None`) named in `names` (all when empty).
    pub fn checks(&self, level: Option<CheckLevel>, names: &[&str]) -> Result<Vec<CheckInfo>> {
        let names = names.join(",");
        self.get(&target("/v1/checks", &level_and_names(level, &names)))
    }

    /// Whether every check of `level` named in `names` is up (`GET /v1/health`).
    pub fn health(&self, level: Option<CheckLevel>, names: &[&str]) -> Result<bool> {
        let names = names.join(",");
        let health = target("/v1/health", &level_and_names(level, &names));
        let result: Option<Health> = self.get(&health)?;
        result
            .map(|health| health.healthy)
            .ok_or_else(|| protocol(&format!("GET {health}"), "no health result"))
    }

    /// Starts the stopped checks among `names` (newer Pebble); returns those started.
    pub fn start_checks(&self, names: &[&str]) -> Result<Vec<String>> {
        self.check_action("start", names)
    }

    /// Stops the running checks among `names` (newer Pebble); returns those stopped.
    pub fn stop_checks(&self, names: &[&str]) -> Result<Vec<String>> {
        self.check_action("stop", names)
    }

    /// Runs the check `name` now and reports its outcome (`POST /v1/checks/refresh`, newer
    /// Pebble; older Pebble answers 404 or 405 for the route).
    pub fn refresh_check(&self, name: &str) -> Result<CheckRefresh> {
        self.post("/v1/checks/refresh", &RefreshRequest { name })
    }

    fn check_action(&self, action: &'static str, checks: &[&str]) -> Result<Vec<String>> {
        let changed: Option<Changed> = self.post("/v1/checks", &CheckAction { action, checks })?;
        Ok(changed.and_then(|changed| changed.changed).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lists_accept_null() {
        let decode = |json: &str| -> Vec<String> {
            let changed: Option<Changed> = serde_json::from_str(json).unwrap();
            changed.and_then(|changed| changed.changed).unwrap_or_default()
        };
        assert_eq!(decode(r#"{"changed": ["a"]}"#), ["a"]);
        assert!(decode(r#"{"changed": null}"#).is_empty());
        assert!(decode(r#"{}"#).is_empty());
        assert!(decode("null").is_empty());
    }
}
