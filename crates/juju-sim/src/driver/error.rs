//! Errors from driving the simulator.

use std::io;
use std::path::PathBuf;

use crate::charm::CharmError;
use crate::locate::LocateError;

use super::HookRun;

/// Something the simulator could not do, or a hook that failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("application {0:?} not found")]
    UnknownApp(String),
    #[error("application {0:?} already exists")]
    DuplicateApp(String),
    #[error("invalid application name {0:?}")]
    InvalidAppName(String),
    #[error("unit {0:?} not found")]
    UnknownUnit(String),
    #[error("relation {0} not found")]
    UnknownRelation(u32),
    #[error("application {app:?} has no endpoint {endpoint:?}")]
    UnknownEndpoint { app: String, endpoint: String },
    #[error("cannot relate {0} and {1}: {2}")]
    CannotRelate(String, String, String),
    #[error("cannot remove peer relation {0}")]
    PeerRelation(u32),
    #[error("invalid config for {app:?}: {message}")]
    InvalidConfig { app: String, message: String },
    #[error("action {action:?} not defined on unit {unit:?}")]
    UnknownAction { unit: String, action: String },
    #[error("invalid parameters for action {action:?}: {message}")]
    InvalidActionParams { action: String, message: String },
    #[error("secret {0:?} not found")]
    UnknownSecret(String),
    #[error("invalid secret: {0}")]
    InvalidSecret(String),
    #[error("application {0:?} has no charm directory (it is passive)")]
    Passive(String),
    #[error(transparent)]
    Charm(#[from] CharmError),
    #[error(transparent)]
    Locate(#[from] LocateError),
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    #[error("hook {hook:?} on unit {unit:?} failed with exit code {code}", hook = .0.hook, unit = .0.unit, code = .0.exit_code)]
    HookFailed(Box<HookRun>),
    #[error("the event queue did not settle after {ran} hooks ({pending} still queued)")]
    NotQuiet { ran: usize, pending: usize },
}

impl SimError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        SimError::Io { action, path: path.into(), source }
    }
}
