//! A small synchronous client for the [Pebble] REST API, spoken as plain HTTP/1.1 over the
//! unix socket Juju mounts into the charm container (no async runtime).
//!
//! - [`Client`]: the socket, per-request and change timeouts, and a request counter.
//!   [`Client::for_container`] finds a container's socket under `/charm/containers`, or under
//!   `$CHARM_CONTAINERS_DIR` when set (our override for tests).
//! - [`layer`]: layers and the plan ([`Client::add_layer`], [`Client::plan`]).
//! - [`services`]: service states and actions, each waiting for its change.
//! - [`changes`]: changes and waiting for them.
//! - [`files`]: push, pull, list, make-dirs and remove.
//! - [`exec`]: running commands over Pebble's exec websockets.
//! - [`checks`], [`notices`], [`system`]: checks and health, notices, system information.
//!
//! Every call returns [`Error`]; [`Error::is_connection_error`] tells "Pebble is not up
//! (yet)" apart from real failures.
//!
//! [Pebble]: https://github.com/canonical/pebble

pub mod changes;
pub mod checks;
mod client;
mod duration;
mod envelope;
pub mod error;
pub mod exec;
pub mod files;
#[cfg(fuzzing)]
pub mod fuzzing;
mod http;
pub mod layer;
pub mod logs;
mod multipart;
pub mod notices;
pub mod services;
pub mod system;
mod transport;
mod websocket;

pub use changes::{Change, ChangeSelect, Task, TaskProgress};
pub use checks::{CheckInfo, CheckRefresh, CheckStatus};
pub use client::{
    Client, CONTAINERS_DIR_ENV, DEFAULT_CHANGE_TIMEOUT, DEFAULT_CONTAINERS_DIR, DEFAULT_TIMEOUT,
};
pub use error::{Error, Result};
pub use exec::{ExecOutput, ExecRequest, EXEC_OUTPUT_GRACE};
pub use files::{FileInfo, FileToPush, FileType, MakeDirOptions, PushOptions};
pub use layer::{
    Check, CheckLevel, Environment, ExecCheck, HttpCheck, Layer, LogTarget, LogTargetType, Override, Plan,
    Service, ServiceAction, Startup, TcpCheck,
};
pub use logs::LogEntry;
pub use notices::{Notice, NoticeType, NoticesQuery};
pub use services::{ServiceInfo, ServiceStatus};
pub use system::SystemInfo;
