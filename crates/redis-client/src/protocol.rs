//! The databag keys of the `redis` interface (`charms.redis_k8s.v0.redis`, LIBPATCH 7).
//!
//! Everything is written by the provider; the requirer publishes nothing.

/// The interface name in `metadata.yaml`.
pub const INTERFACE: &str = "redis";
/// The endpoint name Synapse (and redis-k8s) use.
pub const ENDPOINT: &str = "redis";

/// Provider application bag, written by the redis-k8s leader: the current master's address
/// (an IP from Sentinel, or the pod FQDN with one unit).
pub const LEADER_HOST: &str = "leader-host";
/// Provider unit bags: an IP address, the master's or the unit's own (redis-k8s writes both,
/// from different handlers), so it may point at a replica.
pub const HOSTNAME: &str = "hostname";
/// Provider unit bags: the port as decimal digits (`"6379"`).
pub const PORT: &str = "port";

/// The port a unit that published `hostname` without `port` is taken to serve on, as
/// Synapse's charm does.
pub const DEFAULT_PORT: u16 = 6379;
