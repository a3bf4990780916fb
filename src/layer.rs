//! The Pebble services the charm runs, and the per-service digest that tells whether the
//! running plan already is what the charm wants.
//!
//! Each service's digest covers its own definition and checks and every file it reads. It
//! travels in the service's environment, so a service that carries its desired digest needs
//! nothing pushed and is not restarted, and a changed digest makes Pebble's replan restart
//! that service, and only that one, exactly once.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pebble::{Check, CheckLevel, Environment, HttpCheck, Layer, Override, Plan, Service, Startup, TcpCheck};
use sha2::{Digest as _, Sha256};

use crate::config::SynapseConfig;
use crate::workload::{ContainerFile, CONFIG_PATH, DATA_DIR, HTTP_PORT, SERVICE};

/// The environment variable holding the digest of the service's definition and files.
pub const DIGEST_VARIABLE: &str = "CHARM_CONFIG_DIGEST";
/// The digest of a service the charm no longer runs: disabled in the layer and stopped.
pub const RETIRED: &str = "retired";
/// The environment variable listing the registration files Synapse's loader rejected (paths,
/// comma-separated), so later hooks know without asking the loader again.
pub const LEFT_OUT_VARIABLE: &str = "CHARM_LEFT_OUT";
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

/// One Pebble service a component wants, with its checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePlan {
    pub name: &'static str,
    pub service: Service,
    pub checks: BTreeMap<String, Check>,
}

/// A service with the digest of its definition and of every file it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredService {
    pub plan: ServicePlan,
    pub digest: String,
}

impl DesiredService {
    /// `plan` with the digest over its definition and `files` (the files it reads).
    pub fn new<'a>(plan: ServicePlan, files: impl IntoIterator<Item = &'a ContainerFile>) -> Self {
        let digest = digest(&plan, files);
        Self { plan, digest }
    }
}

/// What the plan's service `name` was last configured with by this charm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedService {
    pub digest: Option<String>,
    /// The service's environment as applied (facts components recorded there).
    pub environment: Environment,
    /// Appservice registration files Synapse's loader rejected, left out of that
    /// configuration.
    pub left_out: Vec<String>,
}

/// The digest and left-out files recorded in the plan's service `name`.
pub fn applied(plan: &Plan, name: &str) -> AppliedService {
    let Some(service) = plan.services.get(name) else { return AppliedService::default() };
    AppliedService {
        digest: service.environment.get(DIGEST_VARIABLE).cloned(),
        environment: service.environment.clone(),
        left_out: service
            .environment
            .get(LEFT_OUT_VARIABLE)
            .map(|list| list.split(',').filter(|path| !path.is_empty()).map(str::to_string).collect())
            .unwrap_or_default(),
    }
}

/// The charm's layer: every desired service with its digest (and, for the services that
/// read homeserver.yaml, the registrations left out of it) in its environment, every check,
/// and each of the `retired` services disabled (merged over its definition, its digest
/// [`RETIRED`]).
pub fn layer(
    services: &[DesiredService],
    retired: &[String],
    left_out: &[String],
    reads_config: &[&str],
) -> Layer {
    let mut layer = Layer {
        summary: Some("Synapse".into()),
        description: Some("Synapse, configured by the synapse-k8s charm".into()),
        ..Layer::default()
    };
    for desired in services {
        let mut service = desired.plan.service.clone();
        service.environment.insert(DIGEST_VARIABLE.to_string(), desired.digest.clone());
        if !left_out.is_empty() && reads_config.contains(&desired.plan.name) {
            service.environment.insert(LEFT_OUT_VARIABLE.to_string(), left_out.join(","));
        }
        layer.services.insert(desired.plan.name.to_string(), service);
        layer.checks.extend(desired.plan.checks.clone());
    }
    for name in retired {
        let service = Service {
            override_: Override::Merge,
            startup: Some(Startup::Disabled),
            environment: [(DIGEST_VARIABLE.to_string(), RETIRED.to_string())].into_iter().collect(),
            ..Service::default()
        };
        layer.services.insert(name.clone(), service);
    }
    layer
}

/// How a Synapse process runs: the main process, or a generic worker with its worker
/// configuration (loaded on top of homeserver.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process<'a> {
    Main,
    Worker { config_path: &'a str },
}

/// The `synapse` service (the main process or a worker, see [`Process`]) and its two
/// checks for `config`.
pub fn synapse_service(config: &SynapseConfig, proxy: &ProxySettings, process: Process) -> ServicePlan {
    let (summary, command) = match process {
        Process::Main => ("Synapse Matrix homeserver", "/start.py".to_string()),
        Process::Worker { config_path } => ("Synapse generic worker", worker_command(config_path)),
    };
    let service = Service {
        override_: Override::Replace,
        summary: Some(summary.into()),
        command: Some(command),
        startup: Some(Startup::Enabled),
        environment: synapse_environment(config, proxy),
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
    ServicePlan {
        name: SERVICE,
        service,
        checks: BTreeMap::from([(ALIVE_CHECK.to_string(), alive), (READY_CHECK.to_string(), ready)]),
    }
}

/// A second Synapse process of the unit, a generic worker without checks of its own (the
/// federation sender of the main unit).
pub fn worker_service(
    name: &'static str,
    summary: &str,
    config: &SynapseConfig,
    proxy: &ProxySettings,
    config_path: &str,
) -> ServicePlan {
    let service = Service {
        override_: Override::Replace,
        summary: Some(summary.into()),
        command: Some(worker_command(config_path)),
        startup: Some(Startup::Enabled),
        environment: synapse_environment(config, proxy),
        ..Service::default()
    };
    ServicePlan { name, service, checks: BTreeMap::new() }
}

/// The image's `start.py` running `synapse.app.generic_worker` on homeserver.yaml and the
/// worker configuration at `config_path`.
fn worker_command(config_path: &str) -> String {
    format!(
        "/start.py run -m synapse.app.generic_worker --config-path {CONFIG_PATH} --config-path {config_path}"
    )
}

/// What `start.py` and Synapse read from the environment, as upstream sets it.
fn synapse_environment(config: &SynapseConfig, proxy: &ProxySettings) -> Environment {
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
    environment
}

/// SHA-256 over the service and its checks (as JSON, whose maps are ordered) and each
/// file's path and bytes, as 32 hex digits.
fn digest<'a>(plan: &ServicePlan, files: impl IntoIterator<Item = &'a ContainerFile>) -> String {
    let mut hasher = Sha256::new();
    let definition = serde_json::to_vec(&(&plan.service, &plan.checks))
        .expect("a service and its checks always serialise");
    for part in std::iter::once(("service", definition.as_slice()))
        .chain(files.into_iter().map(|file| (file.path.as_str(), file.content.as_slice())))
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

    fn desired(options: Value, files: &[ContainerFile]) -> DesiredService {
        DesiredService::new(
            synapse_service(&config(options), &ProxySettings::default(), Process::Main),
            files,
        )
    }

    #[test]
    fn the_service_runs_start_py_with_upstream_environment_and_checks() {
        let proxy = ProxySettings {
            http: Some("http://proxy:3128".into()),
            https: None,
            no_proxy: Some("localhost".into()),
        };
        let desired = DesiredService::new(
            synapse_service(&config(json!({"report_stats": true})), &proxy, Process::Main),
            &files(),
        );
        let layer =
            serde_json::to_value(layer(std::slice::from_ref(&desired), &[], &[], &[SERVICE])).unwrap();
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
        assert!(environment.get(LEFT_OUT_VARIABLE).is_none());
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
        let plan = synapse_service(
            &config(json!({"experimental_alive_check": "1m,3,10s"})),
            &ProxySettings::default(),
            Process::Main,
        );
        let alive = &plan.checks[ALIVE_CHECK];
        assert_eq!(
            (alive.period.as_deref(), alive.threshold, alive.timeout.as_deref()),
            (Some("1m"), Some(3), Some("10s"))
        );
    }

    #[test]
    fn digest_changes_with_the_files_and_the_definition_only() {
        let first = desired(json!({}), &files());
        assert_eq!(first, desired(json!({}), &files()));
        let other_file = vec![ContainerFile::public("/data/log.config", "version: 2\n")];
        assert_ne!(first.digest, desired(json!({}), &other_file).digest);
        assert_ne!(first.digest, desired(json!({"experimental_alive_check": "1m,5,20s"}), &files()).digest);
        assert_eq!(first.digest.len(), 32);
    }

    #[test]
    fn the_applied_digest_and_left_out_files_are_read_from_the_plan() {
        let desired = desired(json!({}), &files());
        let mut plan = Plan::default();
        assert_eq!(applied(&plan, SERVICE), AppliedService::default());
        let left_out = ["/data/a.yaml".to_string(), "/data/b.yaml".to_string()];
        plan.services = layer(std::slice::from_ref(&desired), &[], &left_out, &[SERVICE]).services;
        assert_eq!(
            applied(&plan, SERVICE),
            AppliedService {
                digest: Some(desired.digest.clone()),
                environment: plan.services[SERVICE].environment.clone(),
                left_out: left_out.to_vec()
            }
        );
        assert!(layer(&[desired], &[], &left_out, &[]).services[SERVICE]
            .environment
            .get(LEFT_OUT_VARIABLE)
            .is_none());
    }
}
