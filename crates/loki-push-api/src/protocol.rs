//! The databag keys of `loki_push_api` (`charms.loki_k8s.v1.loki_push_api`, LIBPATCH 12 to
//! 30; `v0` uses the same keys).

/// The interface name in `metadata.yaml`.
pub const INTERFACE: &str = "loki_push_api";
/// The endpoint name Synapse uses.
pub const ENDPOINT: &str = "logging";

/// Loki unit bags: `{"url": "<scheme>://<host>:3100/loki/api/v1/push"}`.
pub const ENDPOINT_KEY: &str = "endpoint";
/// The member of [`ENDPOINT_KEY`] holding the push URL.
pub const URL: &str = "url";
/// Loki unit bags: the unit's FQDN, plain.
pub const PUBLIC_ADDRESS: &str = "public_address";
/// Loki application bag: where promtail can be downloaded (LogProxyConsumer only).
pub const PROMTAIL_BINARY_ZIP_URL: &str = "promtail_binary_zip_url";
/// Loki application bag: `{"errors": …}` about the consumer's rules.
pub const EVENT: &str = "event";

/// Consumer application bag: the topology object (`model`, `model_uuid`, `application`,
/// `unit`, `charm_name`).
pub const METADATA: &str = "metadata";
/// Consumer application bag: a LogQL rule file, `{"groups": [...]}` or `{}`, sorted keys.
pub const ALERT_RULES: &str = "alert_rules";

/// The placeholder a LogQL rule may carry in a stream selector; it becomes `job=~".+"`.
pub const TOPOLOGY_PLACEHOLDER: &str = "%%juju_topology%%";

/// The Pebble layer the log targets go in: `<container>-log-forwarding`, added combined.
pub fn layer_name(container: &str) -> String {
    format!("{container}-log-forwarding")
}
