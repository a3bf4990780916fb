//! The databag keys of `grafana_dashboard` (`charms.grafana_k8s.v0.grafana_dashboard`,
//! LIBPATCH 36 to 48).

/// The interface name in `metadata.yaml`.
pub const INTERFACE: &str = "grafana_dashboard";
/// The endpoint name Synapse uses.
pub const ENDPOINT: &str = "grafana-dashboard";

/// Provider application bag: `{"templates": {<id>: {...}}, "uuid": "<uuid4>"}`.
pub const DASHBOARDS: &str = "dashboards";
/// The member of [`DASHBOARDS`] holding the dashboards by id.
pub const TEMPLATES: &str = "templates";
/// The member of [`DASHBOARDS`] that changes on every write.
pub const UUID: &str = "uuid";

/// Consumer application bag: `{"errors": [{"dashboard_id": …, "error": …}], "valid": …}`.
pub const EVENT: &str = "event";

/// The prefix of the ids of dashboards loaded from files (`file:<stem>`).
pub const FILE_ID_PREFIX: &str = "file:";
/// The tag the library adds to every dashboard (`charm: <charm name>`), LIBPATCH 42 on.
pub const CHARM_TAG_PREFIX: &str = "charm: ";
/// The length of the "Path40" dashboard uid the library sets, LIBPATCH 41 on.
pub const PATH40_UID_LENGTH: usize = 40;
