//! A framework for Juju charms written in Rust, talking to Juju through its hook tools.
//!
//! - [`context`]: which event is being dispatched, parsed from Juju's environment.
//! - [`tools`]: typed hook-tool calls over a [`ToolRunner`] (processes in production, anything
//!   in tests), failing with one classified [`HookToolError`].
//! - [`secrets`]: secret URIs, content and metadata.
//! - [`effects`]: changes to the model planned as data, then executed in order.
//! - [`status`]: collect-status style status reporting, per component.
//! - [`log`]: `tracing` events to `juju-log`.
//! - [`parallel`]: independent hook-tool calls side by side.

pub mod context;
pub mod effects;
pub mod error;
pub mod log;
mod memo;
pub mod parallel;
pub mod runner;
pub mod secrets;
pub mod status;
pub mod tools;

pub use context::{Event, HookContext, RelationEvent, RelationHook, RelationId};
pub use effects::{Effect, EffectError, SecretHandle};
pub use error::{HookToolError, RedactedCommand, ToolErrorKind};
pub use runner::{ProcessRunner, ToolOutput, ToolRunner};
pub use secrets::{
    NewSecret, ReadMode, SecretAccess, SecretContent, SecretInfo, SecretOwner, SecretRef, SecretUpdate,
    SecretUri,
};
pub use status::{Status, StatusKind, StatusReport, StatusTarget};
pub use tools::{ApplicationStatus, Bag, Databag, GoalEntry, GoalState, HookTools, LogLevel, Port};

/// The `main` of a charm binary: reads the hook context from the environment, sends `tracing`
/// events to `juju-log`, and runs `charm`. An error is logged (and printed on stderr, which
/// Juju keeps in the unit log) and makes the process exit 1, so Juju retries the hook and
/// discards its uncommitted changes.
pub fn charm_main<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    charm: impl FnOnce(&HookContext, &HookTools) -> Result<(), E>,
) -> std::process::ExitCode {
    let context = match HookContext::from_env() {
        Ok(context) => context,
        Err(error) => {
            eprintln!("ERROR cannot read the hook context: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let tools = HookTools::default();
    let log_flush = log::init(&tools);
    let orphans = tools::remove_orphaned_secret_files();
    if orphans > 0 {
        tracing::warn!("removed {orphans} temporary secret directories that killed hooks left behind");
    }
    let code = match charm(&context, &tools) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let message = error_chain(error.into().as_ref());
            tracing::error!("{} failed: {message}", context.hook_name());
            eprintln!("ERROR {} failed: {message}", context.hook_name());
            std::process::ExitCode::FAILURE
        }
    };
    drop(log_flush);
    code
}

/// A mutex's value even when a thread panicked holding it: the values here are only ever
/// assigned whole, so a poisoned lock still holds a consistent one.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// An error and its causes, `outer: inner: root`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("cannot push /data/homeserver.yaml")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn error_chain_names_every_cause() {
        let error = Outer(std::io::Error::other("socket closed"));
        assert_eq!(super::error_chain(&error), "cannot push /data/homeserver.yaml: socket closed");
    }
}
