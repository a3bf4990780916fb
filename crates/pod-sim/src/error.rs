//! What can go wrong while making, entering or removing pods.

use std::io;
use std::path::PathBuf;

/// Why a network or pod could not be made or entered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An `ip` command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command { command: String, status: String, stderr: String },
    /// A file operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    /// A system call failed (entering a pod, locking).
    #[error("cannot {action}: {source}")]
    Sys { action: &'static str, source: io::Error },
    /// Every /24 of 198.18.0.0/15 is held by a running test or routed on this host.
    #[error("no free /24 left in {}: each is held by a running test or routed on this host", crate::RANGE)]
    Exhausted,
    /// The network has all its 253 pod addresses in use.
    #[error("network {network} has no address left for pod {pod}")]
    Full { network: String, pod: String },
    /// The network already has a pod of that application and number.
    #[error("network {network} already has pod {pod}")]
    DuplicatePod { network: String, pod: String },
    /// Not a Juju application name (lower-case letters, digits and inner hyphens, starting
    /// with a letter).
    #[error("invalid application name {0:?}: lower-case letters, digits and inner hyphens, starting with a letter")]
    InvalidApp(String),
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    /// The failure of the system call just made (from `errno`).
    pub(crate) fn last_os(action: &'static str) -> Self {
        Error::Sys { action, source: io::Error::last_os_error() }
    }
}
