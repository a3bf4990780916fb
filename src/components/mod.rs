//! The charm's components, one per concern, in the order their statuses break ties (see
//! [`juju::StatusReport`]): each has a pure `plan` (and a `load` where it reads something of
//! its own), following [`crate::component`].
//!
//! - [`scale`]: the application's shape and each unit's role: the main unit, workers, a
//!   leaving unit, and what scale-out lacks.
//! - [`configuration`]: invalid options, and what is set or related without effect yet.
//! - [`secrets`]: the application secrets (generated once by the leader, shared by all units).
//! - [`registrations`]: the `matrix-auth` provider: registrations in, the leader's data out.
//! - [`database`]: SQLite, or PostgreSQL through the `database` relation (and the port).
//! - [`synapse`]: the workload: its data directory, Synapse processes, base configuration
//!   and health.
//! - [`redis`]: Redis through the `redis` relation, which the processes replicate through.
//! - [`nginx`]: the pod's entry point, routing worker paths to the local process.
//! - [`smtp`]: mail through the `smtp` relation (homeserver.yaml `email:`), checked first.
//! - [`media`]: media in S3 through the `media` relation (`media_storage_providers`).
//! - [`backup`]: backups to S3 through the `backup` relation (the actions make them).
//! - [`ingress`]: `ingress` and `nginx-route`; the ingress URL is the default public_baseurl.
//! - [`observability`]: COS: metrics and alert rules, dashboards, logs to Loki.
//! - [`custom`]: `additional_homeserver_config`, merged last; keys the charm manages refused.

pub mod backup;
pub mod configuration;
pub mod custom;
pub mod database;
pub mod ingress;
pub mod media;
pub mod nginx;
pub mod observability;
pub mod redis;
pub mod registrations;
pub mod scale;
pub mod secrets;
pub mod smtp;
pub mod synapse;
