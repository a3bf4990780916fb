//! The provider against the simulated Juju, with a passive prometheus-k8s. The bags are
//! checked as the consumer library reads them: it expands `*` targets over the units that
//! published an address, and names jobs after the `scrape_metadata` topology.

mod sim;

use std::collections::BTreeMap;

use juju::effects::execute;
use juju::{HookTools, RelationId, ToolOutput, ToolRunner};
use juju_sim::{Event, HookRun};
use prometheus_scrape::{
    plan_app, plan_unit, AlertRules, ConsumerReport, MetricsRequest, Problem, ReadError, RuleFile, ScrapeJob,
    ScrapeUnit, Topology,
};
use serde_json::Value;
use sim::{Model, CONSUMER, ENDPOINT};

const RULES: &str = r#"
groups:
  - name: synapse
    rules:
      - alert: SynapseTargetMissing
        expr: up == 0
        labels:
          severity: critical
"#;

fn jobs() -> Vec<ScrapeJob> {
    vec![
        ScrapeJob::all_units(9000).with_name("synapse_application"),
        ScrapeJob::all_units(9877).with_name("synapse_stats_exporter"),
    ]
}

/// What the charm does in any hook: the leader publishes the request, every unit its
/// address; the leader reads the consumer's report.
fn publish(
    model: &mut Model,
    unit: &str,
    event: Event,
    jobs: &[ScrapeJob],
) -> (Option<ConsumerReport>, HookRun) {
    let relation = model.relation_id();
    model.hook(unit, event, |tools, context| {
        let mut report = None;
        if tools.is_leader().unwrap() {
            let rules = AlertRules::new().with_file(RuleFile::parse("synapse.rules", RULES).unwrap());
            let topology = Topology::from_context(context, "synapse").unwrap();
            let request = MetricsRequest::new(topology, jobs).unwrap().with_alert_rules(&rules).unwrap();
            let own = tools.relation_get_app(&relation, &context.app_name).unwrap();
            execute(tools, &plan_app(&relation, &own, &request)).unwrap();
            report = Some(ConsumerReport::read(tools, &relation, CONSUMER).unwrap());
        }
        let unit = ScrapeUnit::from_binding(context, &tools.network_get(ENDPOINT, Some(&relation)).unwrap());
        let own = tools.relation_get_unit(&relation, &context.unit_name).unwrap();
        execute(tools, &plan_unit(&relation, &own, &unit)).unwrap();
        report
    })
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The consumer's expansion of wildcard targets: job name → targets, as
/// `MetricsEndpointConsumer.jobs()` builds them.
fn expanded(model: &Model, units: &[&str]) -> BTreeMap<String, Vec<String>> {
    let app = model.app_bag();
    let metadata = json(&app["scrape_metadata"]);
    let prefix = format!(
        "juju_{}_{}_{}_prometheus_scrape",
        metadata["model"].as_str().unwrap(),
        &metadata["model_uuid"].as_str().unwrap()[..8],
        metadata["application"].as_str().unwrap()
    );
    let mut out = BTreeMap::new();
    for job in json(&app["scrape_jobs"]).as_array().unwrap() {
        let name = format!("{prefix}_{}", job["job_name"].as_str().unwrap());
        for unit in units {
            let bag = model.unit_bag(unit);
            let Some(address) = bag.get("prometheus_scrape_unit_address") else { continue };
            let number = bag["prometheus_scrape_unit_name"].rsplit_once('/').unwrap().1.to_string();
            for config in job["static_configs"].as_array().unwrap() {
                for target in config["targets"].as_array().unwrap() {
                    let port = target.as_str().unwrap().strip_prefix("*:").unwrap();
                    out.entry(format!("{name}-{number}"))
                        .or_insert_with(Vec::new)
                        .push(format!("{address}:{port}"));
                }
            }
        }
    }
    out
}

#[test]
fn the_consumer_finds_topology_jobs_rules_and_every_unit_and_later_hooks_write_nothing() {
    let mut model = Model::new(2);
    let created = Event::RelationCreated { relation: model.relation };
    let (report, run) = publish(&mut model, "synapse/0", created.clone(), &jobs());
    assert_eq!(report, Some(ConsumerReport::default()));
    assert_eq!(run.count("relation-set"), 2, "one for the application bag, one for the unit bag");
    let (report, run) = publish(&mut model, "synapse/1", created, &jobs());
    assert_eq!((report, run.count("relation-set")), (None, 1), "a non-leader writes its unit bag only");

    let app = model.app_bag();
    let uuid = model.model_uuid();
    assert_eq!(
        json(&app["scrape_metadata"]),
        serde_json::json!({
            "model": model.sim.model().name, "model_uuid": uuid, "application": "synapse",
            "unit": "synapse/0", "charm_name": "synapse"
        })
    );
    let rules = json(&app["alert_rules"]);
    let rule = &rules["groups"][0]["rules"][0];
    assert_eq!(rule["labels"]["juju_model_uuid"], uuid.as_str());
    assert!(rule["expr"].as_str().unwrap().contains(&format!("juju_model_uuid=\"{uuid}\"")), "{rule}");

    for unit in ["synapse/0", "synapse/1"] {
        let bag = model.unit_bag(unit);
        assert_eq!(bag["prometheus_scrape_unit_address"], model.address(unit));
        assert_eq!(bag["prometheus_scrape_unit_name"], unit);
    }
    let targets = expanded(&model, &["synapse/0", "synapse/1"]);
    let prefix = format!("juju_{}_{}_synapse_prometheus_scrape", model.sim.model().name, &uuid[..8]);
    assert_eq!(
        targets.get(&format!("{prefix}_synapse_application-1")),
        Some(&vec![format!("{}:9000", model.address("synapse/1"))])
    );
    assert_eq!(targets.len(), 4, "{targets:?}");

    // Nothing changed: no hook writes anything.
    let published = (model.app_bag(), model.unit_bag("synapse/0"), model.unit_bag("synapse/1"));
    for event in [model.changed(), Event::UpgradeCharm, Event::UpdateStatus, Event::ConfigChanged] {
        for unit in ["synapse/0", "synapse/1"] {
            let (_, run) = publish(&mut model, unit, event.clone(), &jobs());
            assert_eq!(run.count("relation-set"), 0, "{unit} in {event:?}");
        }
    }
    assert_eq!((model.app_bag(), model.unit_bag("synapse/0"), model.unit_bag("synapse/1")), published);

    // A new leader publishes itself as the metadata's unit, and nothing else.
    model.sim.set_leader("synapse/1").unwrap();
    let (_, run) = publish(&mut model, "synapse/1", Event::LeaderElected, &jobs());
    let sets: Vec<_> =
        run.calls_to("relation-set").map(|call| json(call.stdin.as_deref().unwrap())).collect();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].as_object().unwrap().keys().collect::<Vec<_>>(), ["scrape_metadata"]);
    assert_eq!(json(&model.app_bag()["scrape_metadata"])["unit"], "synapse/1");
}

#[test]
fn a_changed_address_or_job_is_republished_alone() {
    let mut model = Model::new(1);
    let event = model.changed();
    publish(&mut model, "synapse/0", event.clone(), &jobs());
    model.sim.set_unit_address("synapse/0", "10.9.9.9".parse().unwrap()).unwrap();
    let (_, run) = publish(&mut model, "synapse/0", event.clone(), &jobs());
    let sets: Vec<_> =
        run.calls_to("relation-set").map(|call| json(call.stdin.as_deref().unwrap())).collect();
    assert_eq!(sets, [serde_json::json!({"prometheus_scrape_unit_address": "10.9.9.9"})]);

    let one_job = [ScrapeJob::all_units(9000).with_name("synapse_application").with_port(9101)];
    let (_, run) = publish(&mut model, "synapse/0", event, &one_job);
    let sets: Vec<_> =
        run.calls_to("relation-set").map(|call| json(call.stdin.as_deref().unwrap())).collect();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].as_object().unwrap().keys().collect::<Vec<_>>(), ["scrape_jobs"]);
    let targets = expanded(&model, &["synapse/0"]);
    assert_eq!(targets.values().next().unwrap(), &["10.9.9.9:9000", "10.9.9.9:9101"]);
}

#[test]
fn what_the_consumer_refuses_is_read_back_as_problems() {
    let mut model = Model::new(1);
    model.consumer_sets(&[(
        "event",
        r#"{"valid": false, "errors": "error validating: parse error", "scrape_job_errors": "duplicate job"}"#,
    )]);
    let event = model.changed();
    let (report, _) = publish(&mut model, "synapse/0", event.clone(), &jobs());
    let report = report.unwrap();
    assert!(report.reported);
    assert_eq!(
        report.problems,
        [
            Problem::InvalidAlertRules { errors: "error validating: parse error".into() },
            Problem::InvalidScrapeJobs { errors: "duplicate job".into() },
        ]
    );
    model.consumer_sets(&[("event", r#"{"valid": true, "errors": ""}"#)]);
    let (report, _) = publish(&mut model, "synapse/0", event, &jobs());
    assert!(report.unwrap().is_ok());

    let relation = model.relation_id();
    model.sim.remove_relation(model.relation).unwrap();
    let (report, _) = model.hook("synapse/0", Event::UpdateStatus, |tools, _| {
        ConsumerReport::read(tools, &relation, CONSUMER).unwrap()
    });
    assert_eq!(report, ConsumerReport::default(), "a relation gone reports nothing");
}

/// Fails every call with an error that is not "relation not found".
struct FailingRunner;

impl ToolRunner for FailingRunner {
    fn run(&self, _: &str, _: &[String], _: Option<&[u8]>) -> std::io::Result<ToolOutput> {
        Ok(ToolOutput {
            code: 1,
            stderr: b"ERROR connection to the unit agent lost\n".to_vec(),
            ..ToolOutput::default()
        })
    }
}

#[test]
fn hook_tool_failures_are_errors_naming_the_command() {
    let relation = RelationId::new(ENDPOINT, 4);
    let error = ConsumerReport::read(&HookTools::new(FailingRunner), &relation, CONSUMER).unwrap_err();
    assert!(matches!(&error, ReadError::AppBag { app, .. } if app == CONSUMER), "{error:?}");
    assert_eq!(
        error.command().unwrap().as_str(),
        "relation-get --format=json -r metrics-endpoint:4 --app - prometheus-k8s"
    );
    assert_eq!(
        error.to_string(),
        "cannot read the application bag of prometheus-k8s on relation metrics-endpoint:4"
    );
}
