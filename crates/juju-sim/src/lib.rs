//! A simulated Juju unit agent for testing charms, Rust or Python.
//!
//! [`Simulator`] runs any charm directory for an event the way Juju does (`dispatch` or
//! `hooks/<hook>`, the full hook environment, hook tools on `PATH`), commits buffered changes
//! when a hook exits 0, and queues the follow-up events Juju would fire. The hook tools are one
//! multi-call binary, `juju-sim-tool`, faithful to Juju 3.6 (flags, output formats, exit codes,
//! error texts, databag ACLs, secrets), which asks the simulator's agent over a unix socket as
//! Juju's tools do ([`agent`]). [`InProcessRunner`] answers the same tool calls without
//! processes, for unit tests of charm logic. The `juju-sim` binary runs YAML scenarios.

pub mod agent;
pub mod charm;
pub mod context;
mod driver;
mod locate;
pub mod model;
mod runner;
pub mod scenario;
mod time;
pub mod tools;
pub mod usage;

pub use charm::CharmMeta;
pub use driver::{ActionResult, AppSpec, Event, HookRun, SimError, Simulator};
pub use locate::{tool_path, LocateError, TOOL_ENV};
pub use runner::InProcessRunner;
pub use usage::{ResourceUsage, ToolsUsage};
