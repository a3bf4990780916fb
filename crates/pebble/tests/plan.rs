//! Layers and the plan against the simulated Pebble.

mod common;

use std::collections::BTreeMap;

use pebble::{Check, CheckLevel, Error, HttpCheck, Layer, Override, Service, ServiceAction, Startup};

fn synapse_layer() -> Layer {
    Layer {
        summary: Some("Synapse".into()),
        description: Some("the homeserver".into()),
        services: BTreeMap::from([(
            "synapse".to_owned(),
            Service {
                override_: Override::Replace,
                summary: Some("Synapse".into()),
                command: Some("/start.py".into()),
                startup: Some(Startup::Enabled),
                environment: [("SYNAPSE_CONFIG_DIR", "/data"), ("SYNAPSE_SERVER_NAME", "example.com")]
                    .into_iter()
                    .collect(),
                user_id: Some(991),
                group_id: Some(991),
                working_dir: Some("/data".into()),
                on_check_failure: BTreeMap::from([("synapse-ready".to_owned(), ServiceAction::Restart)]),
                backoff_delay: Some("1s".into()),
                backoff_factor: Some(1.5),
                kill_delay: Some("10s".into()),
                ..Service::default()
            },
        )]),
        checks: BTreeMap::from([(
            "synapse-ready".to_owned(),
            Check {
                override_: Override::Replace,
                level: Some(CheckLevel::Ready),
                period: Some("5s".into()),
                threshold: Some(2),
                http: Some(HttpCheck {
                    url: "http://localhost:8008/health".into(),
                    headers: BTreeMap::new(),
                }),
                ..Check::default()
            },
        )]),
        ..Layer::default()
    }
}

#[test]
fn an_added_layer_shows_in_the_plan() {
    let fixture = common::start();
    assert!(fixture.client.plan().unwrap().services.is_empty());
    let layer = synapse_layer();
    fixture.client.add_layer("synapse", &layer, false).unwrap();
    let plan = fixture.client.plan().unwrap();
    assert_eq!(plan.services, layer.services);
    assert_eq!(plan.checks, layer.checks);
    assert!(plan.log_targets.is_empty());
}

#[test]
fn combining_merges_into_the_existing_layer() {
    let fixture = common::start();
    let client = &fixture.client;
    client.add_layer("base", &common::layer(&[("s", "/bin/run", Startup::Enabled)]), false).unwrap();
    let mut update = Layer::default();
    update.services.insert(
        "s".into(),
        Service {
            override_: Override::Merge,
            environment: [("B", "2")].into_iter().collect(),
            ..Service::default()
        },
    );
    client.add_layer("base", &update, true).unwrap();
    let service = &client.plan().unwrap().services["s"];
    assert_eq!(service.command.as_deref(), Some("/bin/run"));
    assert_eq!(service.environment.get("B").map(String::as_str), Some("2"));

    match client.add_layer("base", &update, false) {
        Err(Error::Api { status_code: 400, message, .. }) => {
            assert_eq!(message, r#"layer "base" already exists"#)
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn invalid_layers_are_rejected_with_pebble_messages() {
    let fixture = common::start();
    let mut layer = common::layer(&[("s", "/bin/run", Startup::Enabled)]);
    layer.services.get_mut("s").unwrap().command = None;
    match fixture.client.add_layer("l", &layer, false) {
        Err(Error::Api { status_code: 400, message, .. }) => {
            assert_eq!(message, r#"plan must define "command" for service "s""#)
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    assert!(fixture.client.plan().unwrap().services.is_empty());
}
