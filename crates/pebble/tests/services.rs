//! Service actions and their changes (against the run's Pebble, see `common`).

mod common;

use pebble::{Error, Override, Service, ServiceInfo, ServiceStatus, Startup};
use pebble_sim::ServiceMode;

fn info(fixture: &common::Fixture, name: &str) -> ServiceInfo {
    let services = fixture.client.services(&[name]).unwrap();
    assert_eq!(services.len(), 1, "{services:?}");
    services[0].clone()
}

fn status(fixture: &common::Fixture, name: &str) -> ServiceStatus {
    info(fixture, name).current
}

#[test]
fn replan_starts_enabled_services_and_restarts_only_changed_ones() {
    let fixture = common::start();
    let client = &fixture.client;
    let layer = common::layer(&[
        ("web", common::LONG_RUNNING, Startup::Enabled),
        ("worker", common::LONG_RUNNING, Startup::Disabled),
    ]);
    client.add_layer("base", &layer, false).unwrap();
    // Adding a layer starts nothing.
    assert_eq!(status(&fixture, "web"), ServiceStatus::Inactive);

    let change = client.replan().unwrap();
    assert!(change.ready);
    assert_eq!(status(&fixture, "web"), ServiceStatus::Active);
    assert_eq!(status(&fixture, "worker"), ServiceStatus::Inactive);
    let since = info(&fixture, "web").current_since;
    assert!(since.is_some());

    client.replan().unwrap();
    assert_eq!(info(&fixture, "web").current_since, since, "unchanged services keep running");

    let mut update = pebble::Layer::default();
    update.services.insert(
        "web".into(),
        Service {
            override_: Override::Merge,
            environment: [("LEVEL", "debug")].into_iter().collect(),
            ..Service::default()
        },
    );
    client.add_layer("base", &update, true).unwrap();
    client.replan().unwrap();
    assert_eq!(status(&fixture, "web"), ServiceStatus::Active);
    assert_ne!(info(&fixture, "web").current_since, since, "a changed service restarts");
    if let Some(sim) = fixture.sim() {
        assert_eq!(sim.service_starts("web"), 2, "exactly once");
    }
}

#[test]
fn start_stop_and_restart_show_in_services() {
    let fixture = common::start();
    let client = &fixture.client;
    let layer = common::layer(&[
        ("web", common::LONG_RUNNING, Startup::Enabled),
        ("worker", common::LONG_RUNNING, Startup::Disabled),
    ]);
    client.add_layer("base", &layer, false).unwrap();

    client.start(&["worker"]).unwrap();
    assert_eq!(status(&fixture, "worker"), ServiceStatus::Active);
    client.stop(&["worker"]).unwrap();
    assert_eq!(status(&fixture, "worker"), ServiceStatus::Inactive);

    client.autostart().unwrap();
    assert_eq!(status(&fixture, "web"), ServiceStatus::Active);
    let since = info(&fixture, "web").current_since;
    client.restart(&["web"]).unwrap();
    assert_eq!(status(&fixture, "web"), ServiceStatus::Active);
    assert_ne!(info(&fixture, "web").current_since, since);
    if let Some(sim) = fixture.sim() {
        assert_eq!(sim.service_starts("web"), 2);
    }

    let all = client.services(&[]).unwrap();
    let names: Vec<&str> = all.iter().map(|service| service.name.as_str()).collect();
    assert_eq!(names, ["web", "worker"]);
    assert!(client.services(&["nope"]).unwrap().is_empty());
}

#[test]
fn a_service_exiting_quickly_fails_its_change() {
    // pebble-sim fails the start of /bin/false as Pebble does when it exits with 1 at once.
    let fixture = common::start_with(|config| {
        config.services = ServiceMode::Simulated { failing_commands: vec!["/bin/false".into()] }
    });
    let client = &fixture.client;
    client
        .add_layer("base", &common::layer(&[("crash", "/bin/false --now", Startup::Enabled)]), false)
        .unwrap();
    match client.replan() {
        Err(Error::Change { change_id, err, change }) => {
            assert_eq!(change.id, change_id);
            assert!(change.ready);
            assert!(err.contains("exited quickly with code 1"), "{err}");
            assert!(err.contains(r#"Start service "crash""#), "{err}");
        }
        other => panic!("expected a change error, got {other:?}"),
    }
    assert_ne!(status(&fixture, "crash"), ServiceStatus::Active);
}

#[test]
fn unknown_services_and_empty_autostart_are_api_errors() {
    let fixture = common::start();
    let client = &fixture.client;
    match client.autostart() {
        Err(Error::Api { status_code: 400, message, kind, .. }) => {
            assert_eq!(message, "no default services");
            assert_eq!(kind.as_deref(), Some("no-default-services"));
        }
        other => panic!("expected no-default-services, got {other:?}"),
    }
    match client.start(&["nope"]) {
        Err(Error::Api { status_code: 400, message, .. }) => {
            assert_eq!(message, r#"cannot start services: service "nope" does not exist"#)
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    // A 400 to restart falls back to stop + start (for old Pebble), so start's error shows.
    match client.restart(&["nope"]) {
        Err(Error::Api { status_code: 400, message, .. }) => {
            assert_eq!(message, r#"cannot start services: service "nope" does not exist"#)
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    // A 404 from the wait endpoint falls back to polling the change, which is unknown too.
    match client.wait_change("9999", std::time::Duration::from_secs(5)) {
        Err(Error::Api { status_code: 404, message, .. }) => {
            assert_eq!(message, r#"cannot find change with id "9999""#)
        }
        other => panic!("expected a 404, got {other:?}"),
    }
}

#[test]
fn signals_reach_running_services_only() {
    let fixture = common::start();
    let client = &fixture.client;
    client
        .add_layer(
            "base",
            &common::layer(&[
                ("web", common::LONG_RUNNING, Startup::Enabled),
                ("idle", common::LONG_RUNNING, Startup::Disabled),
            ]),
            false,
        )
        .unwrap();
    client.replan().unwrap();
    client.send_signal("SIGCONT", &["web"]).unwrap();
    match client.send_signal("SIGHUP", &[]) {
        Err(Error::Api { status_code: 400, message, .. }) => {
            assert_eq!(message, "must specify one or more services")
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    // Pebble answers 500 for services it cannot signal, and for names that are no signal.
    match client.send_signal("SIGHUP", &["idle"]) {
        Err(Error::Api { status_code: 500, message, .. }) => {
            assert_eq!(message, r#"cannot send signal to "idle": service is not running"#)
        }
        other => panic!("expected a 500, got {other:?}"),
    }
    match client.send_signal("HUP", &["web"]) {
        Err(Error::Api { status_code: 500, message, .. }) => {
            assert_eq!(message, r#"cannot send signal to "web": invalid signal name "HUP""#)
        }
        other => panic!("expected a 500, got {other:?}"),
    }
}
