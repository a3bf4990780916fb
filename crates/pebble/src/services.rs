//! Services: listing them, the start/stop/restart/replan/autostart actions (each waits for
//! its change), and signals.

use serde::{Deserialize, Serialize};

use crate::changes::Change;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::http::target;
use crate::layer::Startup;

/// A service's state, from [`Client::services`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ServiceInfo {
    pub name: String,
    pub startup: Startup,
    pub current: ServiceStatus,
    /// When `current` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_since: Option<String>,
}

impl ServiceInfo {
    /// Whether the service is running.
    pub fn is_running(&self) -> bool {
        self.current == ServiceStatus::Active
    }
}

/// A service's current status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceStatus {
    Active,
    Inactive,
    /// Waiting to be restarted after exiting.
    Backoff,
    Error,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

#[derive(Serialize)]
struct ServiceAction<'a> {
    action: &'static str,
    services: &'a [&'a str],
}

#[derive(Serialize)]
struct Signal<'a> {
    signal: &'a str,
    services: &'a [&'a str],
}

impl Client {
    /// The services named in `names` (all services when empty); unknown names are absent.
    pub fn services(&self, names: &[&str]) -> Result<Vec<ServiceInfo>> {
        if names.is_empty() {
            return self.get("/v1/services");
        }
        self.get(&target("/v1/services", &[("names", &names.join(","))]))
    }

    /// Starts `services` and waits for them to have started.
    pub fn start(&self, services: &[&str]) -> Result<Change> {
        self.service_action("start", services)
    }

    /// Stops `services` and waits for them to have stopped.
    pub fn stop(&self, services: &[&str]) -> Result<Change> {
        self.service_action("stop", services)
    }

    /// Restarts `services`. Old Pebble without the restart action (answering 400) gets a stop
    /// of the running ones and a start instead, as ops does.
    pub fn restart(&self, services: &[&str]) -> Result<Change> {
        match self.service_action("restart", services) {
            Err(Error::Api { status_code: 400, .. }) => {
                let running: Vec<String> = self
                    .services(services)?
                    .into_iter()
                    .filter(ServiceInfo::is_running)
                    .map(|service| service.name)
                    .collect();
                if !running.is_empty() {
                    let running: Vec<&str> = running.iter().map(String::as_str).collect();
                    self.stop(&running)?;
                }
                self.start(services)
            }
            result => result,
        }
    }

    /// Applies the plan: (re)starts services whose configuration changed and startup-enabled
    /// ones that are not running, stops ones no longer enabled.
    pub fn replan(&self) -> Result<Change> {
        self.service_action("replan", &[])
    }

    /// Starts all startup-enabled services (fails with kind `no-default-services` when there
    /// are none).
    pub fn autostart(&self) -> Result<Change> {
        self.service_action("autostart", &[])
    }

    /// Sends `signal` (e.g. `SIGHUP`) to `services`.
    pub fn send_signal(&self, signal: &str, services: &[&str]) -> Result<()> {
        self.post::<serde_json::Value>("/v1/signals", &Signal { signal, services }).map(drop)
    }

    fn service_action(&self, action: &'static str, services: &[&str]) -> Result<Change> {
        let change_id = self
            .post_envelope("/v1/services", &ServiceAction { action, services })?
            .into_change_id("POST /v1/services")?;
        self.wait_change_ok(&change_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_info_parses_and_tolerates_new_statuses() {
        let services: Vec<ServiceInfo> = serde_json::from_str(
            r#"[{"name":"synapse","startup":"enabled","current":"active","current-since":"2024-01-01T00:00:00Z"},
                {"name":"other","startup":"disabled","current":"paused"}]"#,
        )
        .unwrap();
        assert!(services[0].is_running());
        assert_eq!(services[0].current_since.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(services[1].current, ServiceStatus::Unknown);
        assert_eq!(services[1].startup, Startup::Disabled);
        assert!(!services[1].is_running());
    }
}
