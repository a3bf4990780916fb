//! The databag keys of `ingress` v2 (`charms.traefik_k8s.v2.ingress`, LIBPATCH 14 to 21).
//!
//! Every value in both bags is a JSON document: `name` holds `"synapse"` with the quotes,
//! `port` the bare digits, booleans `true`/`false`. Keys whose value is the default are
//! omitted.

/// The interface name in `metadata.yaml`.
pub const INTERFACE: &str = "ingress";
/// The endpoint name Synapse uses.
pub const ENDPOINT: &str = "ingress";

/// Requirer application bag: the model name (JSON string).
pub const MODEL: &str = "model";
/// Requirer application bag: the application name (JSON string).
pub const NAME: &str = "name";
/// Requirer application bag: the port to expose (JSON integer, 1–65534).
pub const PORT: &str = "port";
/// Requirer application bag: strip the `/<model>-<app>` prefix (JSON boolean, default false).
pub const STRIP_PREFIX: &str = "strip-prefix";
/// Requirer application bag: redirect HTTP to HTTPS (JSON boolean, default false).
pub const REDIRECT_HTTPS: &str = "redirect-https";
/// Requirer application bag: `"http"` (default), `"https"` or `"h2c"`.
pub const SCHEME: &str = "scheme";
/// Requirer application bag: a JSON object of health-check parameters (LIBPATCH 15 on).
pub const HEALTHCHECK_PARAMS: &str = "healthcheck_params";

/// Requirer unit bags: the host the provider routes to (JSON string).
pub const HOST: &str = "host";
/// Requirer unit bags: the unit's IP address (JSON string), omitted when unknown.
pub const IP: &str = "ip";

/// Provider application bag: `{"url": "<url>"}`; removed when the ingress is revoked.
pub const INGRESS: &str = "ingress";
/// The field of [`INGRESS`] holding the URL.
pub const URL: &str = "url";

/// What Juju itself writes in every unit bag; the requirer never deletes these.
pub const JUJU_UNIT_KEYS: [&str; 3] = ["egress-subnets", "ingress-address", "private-address"];

/// The ports the provider accepts: it checks `0 < port < 65535`.
pub const PORTS: std::ops::RangeInclusive<u16> = 1..=65534;
/// The default health-check interval, omitted from the bag.
pub const DEFAULT_HEALTHCHECK_INTERVAL: &str = "30s";
/// The default health-check timeout, omitted from the bag.
pub const DEFAULT_HEALTHCHECK_TIMEOUT: &str = "5s";
