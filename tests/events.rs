//! Events other than the reconciling hooks: actions, hooks with nothing to do, unknown hooks,
//! and a process started without Juju's environment.

mod support;

use std::process::Command;

use juju_sim::Event;
use serde_json::json;
use support::{assert_no_model_writes, Harness, SERVER_NAME};
use test_support::assert_hooks_succeeded;

const UNIT: &str = "synapse/0";

#[test]
fn stop_and_remove_touch_nothing() {
    let mut harness = Harness::new();
    harness.deploy(1, &[("server_name", json!(SERVER_NAME))]);
    let before = harness.request_count(UNIT);
    let marks = harness.status_marks();
    for event in [Event::Stop, Event::Remove] {
        let run = harness.sim.run_hook(UNIT, event).unwrap();
        assert_hooks_succeeded([&run]);
        assert_no_model_writes([&run]);
    }
    harness.assert_statuses_kept(&marks);
    assert_eq!(harness.request_count(UNIT), before, "no Pebble request");
}

/// Runs the charm binary directly with only the given environment.
fn run_charm(env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synapse-k8s"))
        .env_clear()
        .env("PATH", "/nonexistent")
        .envs(env.iter().copied())
        .output()
        .expect("the charm binary runs")
}

const JUJU_ENV: [(&str, &str); 4] = [
    ("JUJU_UNIT_NAME", "synapse/0"),
    ("JUJU_MODEL_NAME", "matrix"),
    ("JUJU_MODEL_UUID", "9f1c2a4e-0000-4000-8000-000000000000"),
    ("JUJU_VERSION", "3.6.4"),
];

#[test]
fn unknown_hooks_exit_zero_with_a_log_line() {
    let mut env = JUJU_ENV.to_vec();
    env.push(("JUJU_DISPATCH_PATH", "hooks/some-future-hook"));
    let output = run_charm(&env);
    assert!(output.status.success(), "{output:?}");
    // Without juju-log on PATH the log line falls back to stderr.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("some-future-hook"), "{stderr}");
}

#[test]
fn a_missing_variable_is_a_clear_error() {
    let output = run_charm(&[("JUJU_DISPATCH_PATH", "hooks/install")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JUJU_UNIT_NAME"), "{stderr}");
}
