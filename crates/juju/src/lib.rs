//! A framework for Juju charms written in Rust, talking to Juju through its hook tools.
//!
//! - [`context`]: which event is being dispatched, parsed from Juju's environment.
//! - [`tools`]: typed hook-tool calls over a [`ToolRunner`] (processes in production, anything
//!   in tests), failing with one classified [`HookToolError`].
//! - [`secrets`]: secret URIs, content and metadata.
//! - [`status`]: collect-status style status reporting.
//! - [`log`]: `tracing` events to `juju-log`.

pub mod context;
pub mod error;
pub mod log;
pub mod runner;
pub mod secrets;
pub mod status;
pub mod tools;

pub use context::{Event, HookContext, RelationEvent, RelationHook, RelationId};
pub use error::{HookToolError, RedactedCommand, ToolErrorKind};
pub use runner::{ProcessRunner, ToolOutput, ToolRunner};
pub use secrets::{
    NewSecret, ReadMode, SecretAccess, SecretContent, SecretInfo, SecretOwner, SecretRef, SecretUpdate,
    SecretUri,
};
pub use status::{Status, StatusCollector, StatusKind, StatusTarget};
pub use tools::{Bag, Databag, HookTools, LogLevel, Port};
