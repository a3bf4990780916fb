//! The databag keys of `prometheus_scrape` (`charms.prometheus_k8s.v0.prometheus_scrape`,
//! LIBPATCH 47 to 61).
//!
//! The provider's application bag holds JSON documents; its unit bags hold plain strings.

/// The interface name in `metadata.yaml`.
pub const INTERFACE: &str = "prometheus_scrape";
/// The endpoint name Synapse uses.
pub const ENDPOINT: &str = "metrics-endpoint";

/// Provider application bag: the topology object (`model`, `model_uuid`, `application`, `unit`,
/// `charm_name`) from which the consumer builds job names and labels.
pub const SCRAPE_METADATA: &str = "scrape_metadata";
/// Provider application bag: a JSON list of Prometheus `scrape_config` objects.
pub const SCRAPE_JOBS: &str = "scrape_jobs";
/// Provider application bag: a Prometheus rule file, `{"groups": [...]}`, or `{}`.
pub const ALERT_RULES: &str = "alert_rules";

/// Provider unit bags: the address the consumer puts in place of `*` in targets.
pub const UNIT_ADDRESS: &str = "prometheus_scrape_unit_address";
/// Provider unit bags: the unit name (`synapse/0`).
pub const UNIT_NAME: &str = "prometheus_scrape_unit_name";
/// Provider unit bags: a path prefix for every job's `metrics_path` (external URLs only).
pub const UNIT_PATH: &str = "prometheus_scrape_unit_path";
/// Provider unit bags: the pod FQDN (LIBPATCH 57 on; older consumers ignore it).
pub const UNIT_FQDN: &str = "prometheus_scrape_unit_fqdn";

/// Consumer application bag: a JSON object reporting what the consumer refused:
/// `valid` (boolean) and `errors` for the alert rules, `scrape_job_errors` for the jobs.
pub const EVENT: &str = "event";

/// The `scrape_config` keys the provider library lets through; every other key of a job is
/// dropped before it is published.
pub const ALLOWED_JOB_KEYS: [&str; 17] = [
    "job_name",
    "metrics_path",
    "static_configs",
    "scrape_interval",
    "scrape_timeout",
    "proxy_url",
    "relabel_configs",
    "metric_relabel_configs",
    "sample_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "scheme",
    "basic_auth",
    "tls_config",
    "authorization",
    "params",
];

/// The path a job without `metrics_path` is scraped on.
pub const DEFAULT_METRICS_PATH: &str = "/metrics";
/// The port of the job the library publishes when the charm gives none (`*:80`).
pub const DEFAULT_PORT: u16 = 80;

/// The placeholder a rule expression may carry where the topology matchers go.
pub const TOPOLOGY_PLACEHOLDER: &str = "%%juju_topology%%";
