//! The charm when Pebble is not there: unreachable for a whole hook, lost in the middle of
//! one, restarted with an empty plan, or failing to start Synapse.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use juju_sim::Event;
use pebble_sim::{ExecMode, ServiceStatus};
use serde_json::json;
use support::{Harness, CONTAINER, SERVER_NAME};
use test_support::assert_hooks_succeeded;

const UNIT: &str = "synapse/0";

fn deployed() -> Harness {
    let mut harness = Harness::new();
    harness.deploy(1, &[("server_name", json!(SERVER_NAME))]);
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()));
    harness
}

#[test]
fn unreachable_pebble_waits_and_the_next_hook_converges() {
    let mut harness = deployed();
    harness.pebble(UNIT).set_available(false).unwrap();
    assert_hooks_succeeded(&harness.configure(&[("report_stats", json!(true))]));
    assert_eq!(harness.status(UNIT), ("waiting".into(), "Waiting for Synapse pebble".into()));
    assert_eq!(harness.app_status(), ("waiting".into(), "Waiting for Synapse pebble".into()));
    assert_eq!(harness.homeserver(UNIT)["report_stats"], false);

    harness.pebble(UNIT).set_available(true).unwrap();
    harness.sim.update_status().unwrap();
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()));
    assert_eq!(harness.homeserver(UNIT)["report_stats"], true);
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 2);
}

#[test]
fn losing_pebble_in_the_middle_of_a_hook_waits_and_the_next_hook_converges() {
    let mut harness = Harness::new();
    let socket = harness.socket(UNIT);
    let away = socket.with_extension("away");
    // The charm's first step when configuring is `chown` of the data directory: this stand-in
    // does it inside the container root, then takes Pebble's socket away, as a container
    // restart would, before the charm writes any file.
    let script = harness.charm_dir().with_file_name("chown-then-lose-pebble");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nchown 991:991 \"$PEBBLE_SIM_ROOT/data\"\nmv \"{}\" \"{}\"\n",
            socket.display(),
            away.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    harness.start_pebble_with(UNIT, |config| {
        config.exec = ExecMode::Host;
        config.command_map.insert("chown".into(), script.clone());
    });
    let runs = harness.deploy_without_pebble(1, &[("server_name", json!(SERVER_NAME))]);
    let install = &runs[0];
    assert_eq!(install.hook, "install");
    assert_hooks_succeeded([install]);
    assert!(away.exists(), "the stand-in ran");
    assert_eq!(harness.status(UNIT), ("waiting".into(), "Waiting for Synapse pebble".into()));
    assert!(harness.pebble(UNIT).file_meta("/data/homeserver.yaml").is_none(), "nothing half-written");
    assert_eq!(harness.sim.model().secrets.len(), 1, "the secrets were committed with the hook");

    fs::rename(&away, &socket).unwrap();
    harness.sim.update_status().unwrap();
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()));
    assert_eq!(harness.homeserver(UNIT)["server_name"], SERVER_NAME);
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 1);
}

#[test]
fn a_restarted_container_is_configured_again_with_the_same_files() {
    let mut harness = deployed();
    let homeserver = harness.read(UNIT, "/data/homeserver.yaml");
    harness.pebble(UNIT).restart_container();
    assert_eq!(harness.pebble(UNIT).service_state("synapse"), None);
    let run = harness.sim.run_hook(UNIT, Event::PebbleReady { container: CONTAINER.into() }).unwrap();
    assert_hooks_succeeded([&run]);
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()));
    assert_eq!(harness.pebble(UNIT).service_state("synapse"), Some(ServiceStatus::Active));
    assert_eq!(harness.read(UNIT, "/data/homeserver.yaml"), homeserver);
}

#[test]
fn a_stopped_service_is_started_without_rewriting_anything() {
    let mut harness = deployed();
    pebble::Client::new(harness.socket(UNIT)).stop(&["synapse"]).unwrap();
    let before = harness.request_count(UNIT);
    harness.sim.update_status().unwrap();
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()));
    let requests = harness.requests_since(UNIT, before);
    assert!(!requests.iter().any(|request| request.starts_with("POST /v1/files")), "{requests:?}");
    assert!(requests.contains(&"POST /v1/services".to_string()), "{requests:?}");
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 2);
}

#[test]
fn synapse_failing_to_start_is_reported_and_logged() {
    let mut harness = deployed();
    harness.pebble(UNIT).set_start_failure("/start.py", true);
    assert_hooks_succeeded(&harness.configure(&[("report_stats", json!(true))]));
    let (kind, message) = harness.status(UNIT);
    assert_eq!(kind, "blocked");
    assert!(
        message.starts_with("Synapse did not start: ") && message.contains("exited quickly"),
        "{message}"
    );
    let errors = harness.logs(UNIT, "ERROR");
    assert!(errors.iter().any(|line| line.starts_with("Synapse did not start")), "{errors:?}");
    assert_eq!(harness.app_status(), (kind, message));

    // Pebble retries it (backoff); the next hook says so instead of "waiting", and leaves
    // the retries to Pebble.
    let starts = harness.pebble(UNIT).service_starts("synapse");
    assert_eq!(harness.sim.update_status().unwrap().len(), 1);
    assert_eq!(harness.status(UNIT).0, "blocked");
    assert!(harness.status(UNIT).1.starts_with("Synapse keeps restarting"), "{:?}", harness.status(UNIT));
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), starts);
}
