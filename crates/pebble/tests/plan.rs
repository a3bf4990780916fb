//! Layers and the plan against the simulated Pebble.

mod common;

use std::collections::BTreeMap;

use pebble::{
    Check, CheckLevel, Error, HttpCheck, Layer, LogTarget, LogTargetType, Override, Service, ServiceAction,
    Startup,
};

fn synapse_layer() -> Layer {
    Layer {
        summary: Some("Synapse".into()),
        description: Some("the homeserver".into()),
        services: BTreeMap::from([(
            "synapse".to_owned(),
            Service {
                override_: Override::Replace,
                summary: Some("Synapse".into()),
                command: Some(common::LONG_RUNNING.into()),
                startup: Some(Startup::Enabled),
                environment: [
                    ("SYNAPSE_CONFIG_DIR", "/data"),
                    ("SYNAPSE_SERVER_NAME", "example.com"),
                    // Values YAML 1.1 would read as a boolean or a number round-trip as text.
                    ("SYNAPSE_REPORT_STATS", "no"),
                    ("SYNAPSE_HTTP_PORT", "8008"),
                ]
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
    client
        .add_layer("base", &common::layer(&[("s", common::LONG_RUNNING, Startup::Enabled)]), false)
        .unwrap();
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
    assert_eq!(service.command.as_deref(), Some(common::LONG_RUNNING));
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
    let mut layer = common::layer(&[("s", common::LONG_RUNNING, Startup::Enabled)]);
    layer.services.get_mut("s").unwrap().command = None;
    match fixture.client.add_layer("l", &layer, false) {
        Err(Error::Api { status_code: 400, message, .. }) => {
            assert_eq!(message, r#"plan must define "command" for service "s""#)
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    assert!(fixture.client.plan().unwrap().services.is_empty());
}

#[test]
fn log_targets_round_trip_and_merge() {
    let fixture = common::start();
    let client = &fixture.client;
    let mut layer = common::layer(&[("web", common::LONG_RUNNING, Startup::Disabled)]);
    // As ops' LogForwarder writes them: one target per Loki push endpoint, Juju topology labels.
    layer.log_targets.insert(
        "synapse-0".into(),
        LogTarget {
            override_: Override::Merge,
            type_: Some(LogTargetType::Loki),
            location: Some("http://127.0.0.1:1/loki/api/v1/push".into()),
            services: vec!["all".into()],
            labels: [
                ("juju_model", "test"),
                ("juju_model_uuid", "00000000-0000-4000-8000-000000000000"),
                ("juju_application", "synapse"),
                ("juju_unit", "synapse/0"),
                ("charm", "synapse-k8s"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        },
    );
    client.add_layer("logging", &layer, false).unwrap();
    let plan = client.plan().unwrap();
    assert_eq!(plan.log_targets, layer.log_targets);

    let mut off = Layer::default();
    off.log_targets.insert(
        "synapse-0".into(),
        LogTarget { override_: Override::Merge, services: vec!["-web".into()], ..LogTarget::default() },
    );
    client.add_layer("logging", &off, true).unwrap();
    let target = &client.plan().unwrap().log_targets["synapse-0"];
    assert_eq!(target.services, ["all", "-web"]);
    assert_eq!(target.labels["juju_unit"], "synapse/0");

    match client.add_layer(
        "bad",
        &Layer { log_targets: [("t".to_owned(), LogTarget::default())].into(), ..Layer::default() },
        false,
    ) {
        Err(Error::Api { status_code: 400, message, .. }) => {
            assert!(message.starts_with(r#"plan must define "type" ("loki""#), "{message}");
            assert!(message.ends_with(r#"for log target "t""#), "{message}");
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}
