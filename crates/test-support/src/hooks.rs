//! Assertions on the hooks the simulated Juju ran.

use juju_sim::HookRun;

/// Asserts that every hook of `runs` succeeded; the panic names the first failed hook, its
/// unit and exit code, and shows its stderr.
#[track_caller]
pub fn assert_hooks_succeeded<'a>(runs: impl IntoIterator<Item = &'a HookRun>) {
    for run in runs {
        assert!(
            run.succeeded(),
            "{} on {} failed (exit code {}, timed out: {}):\n{}",
            run.hook,
            run.unit,
            run.exit_code,
            run.timed_out,
            run.stderr
        );
    }
}
