//! The requirer against the simulated Juju, with a passive nginx-ingress-integrator. The bag
//! is checked as the provider reads it.

mod sim;

use std::collections::BTreeMap;

use juju::effects::execute;
use juju::EffectError;
use juju_sim::model::Bag;
use juju_sim::{Event, HookRun};
use nginx_route_client::{plan_app, NginxRouteRequest};
use sim::{Model, PROVIDER};

fn synapse() -> NginxRouteRequest {
    NginxRouteRequest::new("test-model", "synapse", "synapse", 8080)
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const MINIMAL: [(&str, &str); 4] = [
    ("service-hostname", "synapse"),
    ("service-name", "synapse"),
    ("service-namespace", "test-model"),
    ("service-port", "8080"),
];

/// What the charm does in any hook: the leader reconciles the request.
fn reconcile(model: &mut Model, unit: &str, event: Event, request: &NginxRouteRequest) -> HookRun {
    let relation = model.relation_id();
    let (executed, run) = model.hook(unit, event, |tools, context| {
        if !tools.is_leader().unwrap() {
            return 0;
        }
        let own = tools.relation_get_app(&relation, &context.app_name).unwrap();
        execute(tools, &plan_app(&relation, &own, request)).unwrap()
    });
    assert_eq!(executed, run.count("relation-set"));
    run
}

/// The JSON document of the hook's relation-sets.
fn sets(run: &HookRun) -> Vec<serde_json::Value> {
    run.calls_to("relation-set")
        .map(|call| {
            assert!(call.args.iter().any(|arg| arg == "--app"), "{:?}", call.args);
            serde_json::from_str(call.stdin.as_deref().unwrap()).unwrap()
        })
        .collect()
}

#[test]
fn the_provider_finds_plain_strings_and_later_hooks_write_nothing() {
    let mut model = Model::new(2);
    let created = Event::RelationCreated { relation: model.relation };
    let run = reconcile(&mut model, "synapse/0", created.clone(), &synapse());
    assert_eq!(
        sets(&run),
        [serde_json::json!({
            "service-hostname": "synapse",
            "service-name": "synapse",
            "service-namespace": "test-model",
            "service-port": "8080",
        })]
    );
    let bag = model.app_bag();
    assert_eq!(bag, map(&MINIMAL));
    // What the provider checks before it acts: a non-empty bag with the three service keys.
    let missing: Vec<&str> = ["service-hostname", "service-name", "service-port"]
        .into_iter()
        .filter(|key| !bag.contains_key(*key))
        .collect();
    assert!(missing.is_empty(), "{missing:?}");
    assert!(model.bag(Bag::App(PROVIDER.into())).is_empty(), "the provider answers nothing");
    assert_eq!(model.bag(Bag::Unit("synapse/0".into())).len(), 3, "only Juju's keys in the unit bag");

    // The library reconciles in every dispatch; with nothing changed nothing is written.
    for event in [created, model.changed(), Event::ConfigChanged, Event::UpdateStatus, Event::UpgradeCharm] {
        for unit in ["synapse/0", "synapse/1"] {
            let run = reconcile(&mut model, unit, event.clone(), &synapse());
            assert_eq!(run.count("relation-set"), 0, "{unit} in {event:?}");
        }
    }
    model.sim.set_leader("synapse/1").unwrap();
    let run = reconcile(&mut model, "synapse/1", Event::LeaderElected, &synapse());
    assert_eq!(run.count("relation-set"), 0, "the new leader finds the request in place");
    assert_eq!(model.app_bag(), map(&MINIMAL));
}

#[test]
fn options_are_added_changed_and_deleted_with_one_relation_set_each() {
    let mut model = Model::new(1);
    let event = model.changed();
    reconcile(&mut model, "synapse/0", event.clone(), &synapse());

    let tuned = NginxRouteRequest {
        max_body_size: Some(50),
        rewrite_enabled: Some(false),
        enable_access_log: Some(false),
        tls_secret_name: Some("synapse-tls".into()),
        ..synapse()
    };
    let run = reconcile(&mut model, "synapse/0", event.clone(), &tuned);
    assert_eq!(
        sets(&run),
        [serde_json::json!({
            "enable-access-log": "false",
            "max-body-size": "50",
            "rewrite-enabled": "False",
            "tls-secret-name": "synapse-tls",
        })],
        "only the new keys"
    );
    let mut expected = map(&MINIMAL);
    expected.extend(map(&[
        ("enable-access-log", "false"),
        ("max-body-size", "50"),
        ("rewrite-enabled", "False"),
        ("tls-secret-name", "synapse-tls"),
    ]));
    assert_eq!(model.app_bag(), expected);

    // A changed value, a namespace of its own, and dropped options.
    let retuned =
        NginxRouteRequest { max_body_size: Some(100), service_namespace: "matrix".into(), ..synapse() };
    let run = reconcile(&mut model, "synapse/0", event.clone(), &retuned);
    assert_eq!(
        sets(&run),
        [serde_json::json!({
            "enable-access-log": "",
            "max-body-size": "100",
            "rewrite-enabled": "",
            "service-namespace": "matrix",
            "tls-secret-name": "",
        })]
    );
    let mut expected = map(&MINIMAL);
    expected.insert("service-namespace".into(), "matrix".into());
    expected.insert("max-body-size".into(), "100".into());
    assert_eq!(model.app_bag(), expected);

    // A key this requirer never sends (an older charm's, or a typo) is deleted too.
    let relation = model.relation_id();
    model.hook("synapse/0", event.clone(), |tools, _| {
        tools
            .relation_set(
                &relation,
                juju::Bag::App,
                &map(&[("service-hostname", "old.example.com"), ("x", "1")]),
            )
            .unwrap()
    });
    let run = reconcile(&mut model, "synapse/0", event, &retuned);
    assert_eq!(sets(&run), [serde_json::json!({"service-hostname": "synapse", "x": ""})]);
    assert_eq!(model.app_bag(), expected);
}

#[test]
fn juju_refuses_the_plan_from_a_non_leader_and_names_the_command() {
    let mut model = Model::new(2);
    let relation = model.relation_id();
    let event = model.changed();
    let (result, _) = model.hook("synapse/1", event, |tools, _| {
        assert!(!tools.is_leader().unwrap());
        // A non-leader cannot read its application bag either; plan against an empty one.
        execute(tools, &plan_app(&relation, &BTreeMap::new(), &synapse()))
    });
    let error = result.unwrap_err();
    let EffectError::Tool { effect, source } = &error else { panic!("{error:?}") };
    assert!(effect.starts_with("relation-set nginx-route:"), "{effect}");
    assert!(source.to_string().contains("relation-set -r nginx-route:"), "{source}");
    assert!(source.to_string().contains("cannot write relation settings"), "{source}");
    assert!(model.app_bag().is_empty());
}
