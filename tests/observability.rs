//! State in, state out, on the simulated Juju and Pebble: the COS relations. A passive
//! Prometheus (`metrics-endpoint`), Grafana (`grafana-dashboard`) and Loki (`logging`) see
//! what the real ones read; Loki's push endpoint becomes a Pebble log target; what the
//! consumers refuse, or a Loki endpoint that is not a URL, is named in the status.

mod support;

use std::collections::BTreeMap;

use juju_sim::model::Bag;
use juju_sim::{AppSpec, CharmMeta, Simulator};
use serde_json::{json, Value};
use support::{assert_no_model_writes, Harness, APP, NO_OP_REQUESTS, SERVER_NAME};
use test_support::assert_hooks_succeeded;

const UNIT: &str = "synapse/0";

/// A passive application that `requires` (or `provides`) `endpoint`.
fn passive(sim: &mut Simulator, app: &str, side: &str, endpoint: &str, interface: &str) {
    let meta =
        CharmMeta::from_yaml(&format!("name: {app}\n{side}:\n  {endpoint}:\n    interface: {interface}\n"))
            .expect("metadata");
    sim.add_app(AppSpec::passive(app, meta)).expect("added");
}

fn deployed() -> Harness {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(1, &[("server_name", json!(SERVER_NAME))]));
    harness
}

fn json_of(bag: &BTreeMap<String, String>, key: &str) -> Value {
    serde_json::from_str(bag.get(key).unwrap_or_else(|| panic!("no {key} in {bag:?}"))).expect("JSON")
}

#[test]
fn prometheus_gets_the_jobs_the_rules_and_every_units_address_and_its_errors_are_named() {
    let mut harness = deployed();
    passive(&mut harness.sim, "prometheus", "requires", "metrics-endpoint", "prometheus_scrape");
    let (relation, runs) =
        harness.sim.integrate("prometheus:metrics-endpoint", "synapse:metrics-endpoint").unwrap();
    assert_hooks_succeeded(&runs);
    let app = harness.sim.relation_data(relation, &Bag::App(APP.into())).unwrap();
    let metadata = json_of(&app, "scrape_metadata");
    assert_eq!(metadata["application"], "synapse");
    assert_eq!(metadata["model_uuid"].as_str().unwrap().len(), 36, "the full model UUID");
    let jobs = json_of(&app, "scrape_jobs");
    assert_eq!(jobs[0]["static_configs"][0]["targets"], json!(["*:9000"]));
    let rules = json_of(&app, "alert_rules");
    let all_rules: Vec<&Value> = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|group| group["rules"].as_array().unwrap())
        .collect();
    assert!(all_rules.len() > 20, "{} rules", all_rules.len());
    for rule in &all_rules {
        assert_eq!(rule["labels"]["juju_application"], "synapse", "{rule}");
        assert!(rule["labels"]["juju_model_uuid"].is_string(), "{rule}");
    }
    let unit = harness.sim.relation_data(relation, &Bag::Unit(UNIT.into())).unwrap();
    assert_eq!(unit["prometheus_scrape_unit_name"], UNIT);
    assert!(!unit["prometheus_scrape_unit_address"].is_empty());

    // A no-op hook writes nothing.
    let before = harness.request_count(UNIT);
    let runs = harness.sim.update_status().unwrap();
    assert_hooks_succeeded(&runs);
    assert_no_model_writes(&runs);
    harness.assert_container_untouched(UNIT, before, 1, NO_OP_REQUESTS);

    // Prometheus refuses the jobs: the status names it.
    let event = json!({"scrape_job_errors": "job synapse_application: bad target"}).to_string();
    let bag = BTreeMap::from([("event".to_string(), event)]);
    assert_hooks_succeeded(
        &harness.sim.set_relation_data(relation, Bag::App("prometheus".into()), bag).unwrap(),
    );
    let (kind, message) = harness.status(UNIT);
    assert_eq!(kind, "blocked");
    assert!(
        message.starts_with("Prometheus: scrape jobs refused: job synapse_application: bad target"),
        "{message}"
    );
}

#[test]
fn grafana_gets_three_dashboards_and_loki_a_log_target_per_unit() {
    let mut harness = deployed();
    passive(&mut harness.sim, "grafana", "requires", "grafana-dashboard", "grafana_dashboard");
    let (dashboards, runs) =
        harness.sim.integrate("grafana:grafana-dashboard", "synapse:grafana-dashboard").unwrap();
    assert_hooks_succeeded(&runs);
    let app = harness.sim.relation_data(dashboards, &Bag::App(APP.into())).unwrap();
    let templates = json_of(&app, "dashboards");
    let mut ids: Vec<&String> = templates["templates"].as_object().unwrap().keys().collect();
    ids.sort();
    assert_eq!(ids, ["file:synapse", "file:synapse_appservices", "file:synapse_workers"]);

    passive(&mut harness.sim, "loki", "provides", "logging", "loki_push_api");
    let (logging, runs) = harness.sim.integrate("loki:logging", "synapse:logging").unwrap();
    assert_hooks_succeeded(&runs);
    let url = "http://loki-0.loki-endpoints.test.svc.cluster.local:3100/loki/api/v1/push";
    let endpoint = BTreeMap::from([("endpoint".to_string(), json!({"url": url}).to_string())]);
    assert_hooks_succeeded(
        &harness.sim.set_relation_data(logging, Bag::Unit("loki/0".into()), endpoint).unwrap(),
    );
    let plan = pebble::Client::new(harness.pebble(UNIT).socket()).plan().unwrap();
    let target = &plan.log_targets["loki/0"];
    assert_eq!(target.location.as_deref(), Some(url));
    assert_eq!(target.services, ["all"]);
    assert_eq!(target.labels["juju_unit"], UNIT);
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()));
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 1, "log forwarding restarts nothing");

    // An endpoint that is not a URL: named, and left out.
    let bad = BTreeMap::from([("endpoint".to_string(), json!({"url": "loki:3100 push"}).to_string())]);
    assert_hooks_succeeded(&harness.sim.set_relation_data(logging, Bag::Unit("loki/0".into()), bad).unwrap());
    let (kind, message) = harness.status(UNIT);
    assert_eq!(kind, "blocked");
    assert!(message.starts_with("Loki: endpoint of loki/0 is malformed"), "{message}");
    let warnings = harness.logs(UNIT, "WARNING");
    assert!(
        warnings.iter().any(|line| line.contains("loki:3100 push")),
        "the log names the value: {warnings:?}"
    );
    let plan = pebble::Client::new(harness.pebble(UNIT).socket()).plan().unwrap();
    assert!(plan.log_targets["loki/0"].services.iter().all(|service| service.starts_with('-')), "disabled");
}
