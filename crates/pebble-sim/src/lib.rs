//! A simulated Pebble: the Pebble REST API (as documented in the team's `pebble-api.md`)
//! served on a unix socket from a background thread, for charm tests and benchmarks. It
//! answers as Pebble [`PEBBLE_VERSION`] does (messages, envelopes, plan YAML), see the README
//! for what it simulates rather than does.
//!
//! Container paths map under a root directory; services are simulated or run as host
//! processes ([`ServiceMode`]); exec commands answer from scripted rules or run on the host
//! ([`ExecMode`]); checks are probed or follow their services ([`CheckMode`]); the logs of
//! host-process services are forwarded to the plan's Loki `log-targets`. Tests start a
//! [`PebbleSim`], talk to its socket like to Pebble, and inspect what happened.
//!
//! `GET /v1/x-sim/requests` is a simulator-only endpoint (not part of Pebble) listing the
//! requests answered so far.
//!
//! Host processes (Process-mode services, host exec, exec checks) run with their working
//! directory mapped under the root and get `PEBBLE_SIM_ROOT=<root>` added to their
//! environment, so wrapper scripts can translate container paths.

mod api;
mod changes;
mod checks;
mod command;
mod config;
mod duration;
mod error;
mod exec;
mod files;
mod handle;
mod logs;
mod notices;
mod plan;
mod response;
mod server;
mod services;
mod signals;
mod state;
mod timefmt;

/// The Pebble release whose behaviour is simulated (and reported by `GET /v1/system-info`).
pub const PEBBLE_VERSION: &str = "v1.26.0";

pub use config::{CheckMode, ExecMode, ExecRule, ServiceMode, SimConfig};
pub use error::SimError;
pub use exec::ExecRecord;
pub use files::fsops::{FileKind, FileMeta};
pub use handle::PebbleSim;
pub use services::ServiceStatus;
pub use state::RequestRecord;
