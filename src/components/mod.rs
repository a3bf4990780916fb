//! The charm's components, one per concern, in the order their statuses break ties (see
//! [`juju::StatusReport`]): each has a pure `plan` (and a `load` where it reads something of
//! its own), following [`crate::component`].
//!
//! - [`scale`]: the application's shape: a leaving unit, more units than the charm can serve.
//! - [`configuration`]: invalid options, and what is set or related without effect yet.
//! - [`secrets`]: the application secrets (generated once by the leader, shared by all units).
//! - [`registrations`]: the `matrix-auth` provider: registrations in, the leader's data out.
//! - [`database`]: SQLite, or PostgreSQL through the `database` relation (and the port).
//! - [`synapse`]: the workload: its data directory, service, base configuration and health.

pub mod configuration;
pub mod database;
pub mod registrations;
pub mod scale;
pub mod secrets;
pub mod synapse;
