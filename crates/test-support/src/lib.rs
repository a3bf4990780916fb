//! Helpers shared by the test suites of this workspace (a dev-dependency only, never
//! published): the project's Python virtualenvs ([`PythonVenv`]), polling until something
//! happens ([`eventually`]) and, with the `hooks` feature, assertions on the hooks that
//! juju-sim ran ([`assert_hooks_succeeded`]).

#[cfg(feature = "hooks")]
mod hooks;
mod poll;
mod venv;

#[cfg(feature = "hooks")]
pub use hooks::assert_hooks_succeeded;
pub use poll::{eventually, poll_until, Attempt, POLL, TIMEOUT};
pub use venv::PythonVenv;
