//! The Pebble layer that runs Synapse, and the digest that tells whether the running plan
//! already is what the charm wants.
//!
//! The digest covers the layer itself and every file the charm writes into the container. It
//! travels in the service's environment, so a plan whose `synapse` service carries the
//! desired digest needs nothing pushed and nothing restarted, and a changed digest makes
//! Pebble's replan restart Synapse, exactly once.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pebble::{Check, CheckLevel, Environment, HttpCheck, Layer, Override, Plan, Service, Startup, TcpCheck};
use sha2::{Digest as _, Sha256};

use crate::config::SynapseConfig;
use crate::workload::{ContainerFile, CONFIG_PATH, DATA_DIR, HTTP_PORT, SERVICE};

/// The environment variable holding the digest of the desired layer and files.
pub const DIGEST_VARIABLE: &str = "CHARM_CONFIG_DIGEST";
/// The liveness check (TCP on the client port).
pub const ALIVE_CHECK: &str = "synapse-alive";
/// The readiness check (Synapse's `/health`).
pub const READY_CHECK: &str = "synapse-ready";

/// jemalloc, preloaded as upstream does (a missing library is only a warning of the loader).
const JEMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

/// The model's proxy settings (`JUJU_CHARM_*_PROXY`), passed on to Synapse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no_proxy: Option<String>,
}

impl ProxySettings {
    /// Reads the proxy variables Juju sets for the hook; empty ones count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let read = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        Self {
            http: read("JUJU_CHARM_HTTP_PROXY"),
            https: read("JUJU_CHARM_HTTPS_PROXY"),
            no_proxy: read("JUJU_CHARM_NO_PROXY"),
        }
    }

    /// Each setting under its upper- and lower-case name, as tools differ in which they read.
    fn variables(&self) -> impl Iterator<Item = (String, String)> + '_ {
        [("HTTP_PROXY", &self.http), ("HTTPS_PROXY", &self.https), ("NO_PROXY", &self.no_proxy)]
            .into_iter()
            .filter_map(|(name, value)| value.as_ref().map(|value| (name, value)))
            .flat_map(|(name, value)| {
                [(name.to_string(), value.clone()), (name.to_ascii_lowercase(), value.clone())]
            })
    }
}

/// The layer the charm wants, with its digest already in the service environment.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredLayer {
    pub layer: Layer,
    pub digest: String,
}

/// The digest the plan's `synapse` service was last configured with, if any.
pub fn applied_digest(plan: &Plan) -> Option<&str> {
    plan.services.get(SERVICE)?.environment.get(DIGEST_VARIABLE).map(String::as_str)
}

/// The `synapse` layer for `config`, covering `files` in its digest.
pub fn synapse_layer(config: &SynapseConfig, proxy: &ProxySettings, files: &[ContainerFile]) -> DesiredLayer {
    let mut environment: Environment = [
        ("SYNAPSE_CONFIG_DIR", DATA_DIR),
        ("SYNAPSE_CONFIG_PATH", CONFIG_PATH),
        ("SYNAPSE_DATA_DIR", DATA_DIR),
        ("SYNAPSE_REPORT_STATS", if config.report_stats { "yes" } else { "no" }),
        ("SYNAPSE_SERVER_NAME", config.server_name.as_str()),
        ("SYNAPSE_NO_TLS", "True"),
        ("LD_PRELOAD", JEMALLOC),
    ]
    .into_iter()
    .collect();
    environment.extend(proxy.variables());
    let service = Service {
        override_: Override::Replace,
        summary: Some("Synapse Matrix homeserver".into()),
        command: Some("/start.py".into()),
        startup: Some(Startup::Enabled),
        environment,
        ..Service::default()
    };
    let alive = Check {
        override_: Override::Replace,
        level: Some(CheckLevel::Alive),
        period: Some(config.alive_check.period.as_str().into()),
        threshold: Some(config.alive_check.threshold),
        timeout: Some(config.alive_check.timeout.as_str().into()),
        tcp: Some(TcpCheck { port: Some(HTTP_PORT), host: None }),
        ..Check::default()
    };
    let ready = Check {
        override_: Override::Replace,
        level: Some(CheckLevel::Ready),
        period: Some("2m".into()),
        threshold: Some(5),
        timeout: Some("20s".into()),
        http: Some(HttpCheck {
            url: format!("http://localhost:{HTTP_PORT}/health"),
            headers: BTreeMap::new(),
        }),
        ..Check::default()
    };
    let mut layer = Layer {
        summary: Some("Synapse".into()),
        description: Some("Synapse, configured by the synapse-k8s charm".into()),
        services: BTreeMap::from([(SERVICE.to_string(), service)]),
        checks: BTreeMap::from([(ALIVE_CHECK.to_string(), alive), (READY_CHECK.to_string(), ready)]),
        ..Layer::default()
    };
    let digest = digest(&layer, files);
    if let Some(service) = layer.services.get_mut(SERVICE) {
        service.environment.insert(DIGEST_VARIABLE.to_string(), digest.clone());
    }
    DesiredLayer { layer, digest }
}

/// SHA-256 over the layer (as JSON, whose maps are ordered) and each file's path and bytes,
/// as 32 hex digits.
fn digest(layer: &Layer, files: &[ContainerFile]) -> String {
    let mut hasher = Sha256::new();
    let layer_json = serde_json::to_vec(layer).expect("a layer always serialises");
    for part in std::iter::once(("layer", layer_json.as_slice()))
        .chain(files.iter().map(|file| (file.path.as_str(), file.content.as_slice())))
    {
        hasher.update((part.0.len() as u64).to_be_bytes());
        hasher.update(part.0.as_bytes());
        hasher.update((part.1.len() as u64).to_be_bytes());
        hasher.update(part.1);
    }
    hasher.finalize()[..16].iter().fold(String::with_capacity(32), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn config(options: Value) -> SynapseConfig {
        crate::config::for_tests(options)
    }

    fn files() -> Vec<ContainerFile> {
        vec![ContainerFile::public("/data/log.config", "version: 1\n")]
    }

    #[test]
    fn layer_runs_start_py_with_upstream_environment_and_checks() {
        let proxy = ProxySettings {
            http: Some("http://proxy:3128".into()),
            https: None,
            no_proxy: Some("localhost".into()),
        };
        let desired = synapse_layer(&config(json!({"report_stats": true})), &proxy, &files());
        let layer = serde_json::to_value(&desired.layer).unwrap();
        let service = &layer["services"]["synapse"];
        assert_eq!(service["override"], "replace");
        assert_eq!(service["command"], "/start.py");
        assert_eq!(service["startup"], "enabled");
        let environment = &service["environment"];
        for (name, value) in [
            ("SYNAPSE_CONFIG_DIR", "/data"),
            ("SYNAPSE_CONFIG_PATH", "/data/homeserver.yaml"),
            ("SYNAPSE_DATA_DIR", "/data"),
            ("SYNAPSE_REPORT_STATS", "yes"),
            ("SYNAPSE_SERVER_NAME", "example.com"),
            ("SYNAPSE_NO_TLS", "True"),
            ("LD_PRELOAD", JEMALLOC),
            ("HTTP_PROXY", "http://proxy:3128"),
            ("http_proxy", "http://proxy:3128"),
            ("NO_PROXY", "localhost"),
            ("no_proxy", "localhost"),
        ] {
            assert_eq!(environment[name], value, "{name}");
        }
        assert!(environment.get("HTTPS_PROXY").is_none());
        assert_eq!(environment[DIGEST_VARIABLE], desired.digest.as_str());
        assert_eq!(
            layer["checks"]["synapse-alive"],
            json!({"override": "replace", "level": "alive", "period": "2m", "timeout": "20s", "threshold": 5, "tcp": {"port": 8008}})
        );
        assert_eq!(
            layer["checks"]["synapse-ready"],
            json!({"override": "replace", "level": "ready", "period": "2m", "timeout": "20s", "threshold": 5, "http": {"url": "http://localhost:8008/health"}})
        );
    }

    #[test]
    fn alive_check_follows_the_option() {
        let desired = synapse_layer(
            &config(json!({"experimental_alive_check": "1m,3,10s"})),
            &ProxySettings::default(),
            &[],
        );
        let alive = &desired.layer.checks[ALIVE_CHECK];
        assert_eq!(
            (alive.period.as_deref(), alive.threshold, alive.timeout.as_deref()),
            (Some("1m"), Some(3), Some("10s"))
        );
    }

    #[test]
    fn digest_changes_with_files_and_layer_only() {
        let base = config(json!({}));
        let proxy = ProxySettings::default();
        let first = synapse_layer(&base, &proxy, &files());
        assert_eq!(first, synapse_layer(&base, &proxy, &files()));
        let other_file = vec![ContainerFile::public("/data/log.config", "version: 2\n")];
        assert_ne!(first.digest, synapse_layer(&base, &proxy, &other_file).digest);
        let other_layer = config(json!({"experimental_alive_check": "1m,5,20s"}));
        assert_ne!(first.digest, synapse_layer(&other_layer, &proxy, &files()).digest);
        assert_eq!(first.digest.len(), 32);
    }

    #[test]
    fn applied_digest_is_read_from_the_plan() {
        let desired = synapse_layer(&config(json!({})), &ProxySettings::default(), &files());
        let mut plan = Plan::default();
        assert_eq!(applied_digest(&plan), None);
        plan.services = desired.layer.services.clone();
        assert_eq!(applied_digest(&plan), Some(desired.digest.as_str()));
    }
}
