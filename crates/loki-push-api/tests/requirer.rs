//! The requirer against the simulated Juju, with a passive loki-k8s whose units publish
//! their push URLs; the log-targets layer as Pebble would read it.

mod sim;

use juju::effects::execute;
use juju::{HookTools, RelationId, ToolOutput, ToolRunner};
use juju_sim::model::Bag;
use juju_sim::{Event, HookRun};
use loki_push_api::{
    layer_name, plan_app, EndpointError, LogForwardingLayer, LokiRequest, LokiView, NotReady, ReadError,
    Topology, UnitProblem, UrlError,
};
use serde_json::Value;
use sim::{Model, ENDPOINT, REQUIRER};

fn url(number: u32) -> String {
    format!("http://loki-k8s-{number}.loki-k8s-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push")
}

/// What the charm does in a `relation-changed` hook: the leader publishes its metadata; every unit reads the
/// endpoints and builds its log-targets layer (given the enabled targets of its plan).
fn forward(model: &mut Model, unit: &str, in_plan: &[&str]) -> ((LokiView, LogForwardingLayer), HookRun) {
    let (relation, event) = (model.relation_id(), model.changed());
    model.hook(unit, event, |tools, context| {
        let topology = Topology::from_context(context, "synapse");
        if tools.is_leader().unwrap() {
            let own = tools.relation_get_app(&relation, &context.app_name).unwrap();
            execute(tools, &plan_app(&relation, &own, &LokiRequest::new(topology.clone()))).unwrap();
        }
        let view = LokiView::read(tools, &relation).unwrap();
        let layer = LogForwardingLayer::new(view.endpoints(), &topology, in_plan.iter().copied());
        (view, layer)
    })
}

#[test]
fn every_unit_forwards_to_every_loki_unit_and_the_leader_publishes_its_topology_once() {
    let mut model = Model::new(2, 2);
    let ((view, layer), run) = forward(&mut model, "synapse/0", &[]);
    let waiting = vec![
        UnitProblem::NotPublished { unit: "loki-k8s/0".into() },
        UnitProblem::NotPublished { unit: "loki-k8s/1".into() },
    ];
    assert_eq!(view, LokiView::NotReady(NotReady::NoUsableEndpoint(waiting)));
    assert!(layer.is_empty());
    assert_eq!(run.count("relation-set"), 1, "the leader's metadata");

    let app: Value = serde_json::from_str(&model.bag(Bag::App(REQUIRER.into()))["metadata"]).unwrap();
    assert_eq!(app["model_uuid"], model.sim.model().uuid.as_str());
    assert_eq!((app["unit"].as_str(), app["charm_name"].as_str()), (Some("synapse/0"), Some("synapse")));
    assert_eq!(model.bag(Bag::App(REQUIRER.into()))["alert_rules"], "{}");

    model.loki_publishes("loki-k8s/0");
    model.loki_publishes("loki-k8s/1");
    for unit in ["synapse/0", "synapse/1"] {
        let ((view, layer), run) = forward(&mut model, unit, &[]);
        assert_eq!(run.count("relation-set"), 0, "{unit}: nothing to write");
        let urls: Vec<String> = view.endpoints().iter().map(|endpoint| endpoint.url.to_string()).collect();
        assert_eq!(urls, [url(0), url(1)]);
        // As Pebble reads the layer (YAML).
        let yaml = serde_norway::to_string(&layer).unwrap();
        let pebble: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
        let target = &pebble["log-targets"]["loki-k8s/1"];
        assert_eq!(target["type"].as_str(), Some("loki"));
        assert_eq!(target["override"].as_str(), Some("replace"));
        assert_eq!(target["location"].as_str(), Some(url(1).as_str()));
        assert_eq!(target["services"][0].as_str(), Some("all"));
        assert_eq!(target["labels"]["juju_unit"].as_str(), Some(unit));
        assert_eq!(target["labels"]["product"].as_str(), Some("Juju"));
    }
    assert_eq!(layer_name("synapse"), "synapse-log-forwarding");
    for unit in ["synapse/0", "synapse/1"] {
        let bag = model.bag(Bag::Unit(unit.into()));
        assert!(
            bag.keys()
                .all(|key| ["egress-subnets", "ingress-address", "private-address"].contains(&key.as_str())),
            "{bag:?}"
        );
    }
}

#[test]
fn a_bad_url_is_named_and_a_departed_loki_unit_is_disabled() {
    let mut model = Model::new(1, 2);
    model.loki_publishes("loki-k8s/0");
    model.loki_sets("loki-k8s/1", &[("endpoint", r#"{"url": "loki-k8s-1:3100/loki/api/v1/push"}"#)]);
    let ((view, _), _) = forward(&mut model, "synapse/0", &[]);
    let LokiView::Ready { endpoints, problems } = view else { panic!("not ready") };
    assert_eq!(endpoints.len(), 1);
    assert_eq!(
        problems,
        [UnitProblem::Malformed {
            unit: "loki-k8s/1".into(),
            value: r#"{"url": "loki-k8s-1:3100/loki/api/v1/push"}"#.into(),
            error: EndpointError::Url(UrlError::NotAbsolute),
        }]
    );

    model.loki_publishes("loki-k8s/1");
    model.sim.remove_unit("loki-k8s/0").unwrap();
    let ((view, layer), _) = forward(&mut model, "synapse/0", &["loki-k8s/0", "loki-k8s/1"]);
    assert_eq!(view.endpoints().iter().map(|e| e.unit.as_str()).collect::<Vec<_>>(), ["loki-k8s/1"]);
    assert!(!layer.log_targets["loki-k8s/0"].is_enabled());
    assert_eq!(layer.log_targets["loki-k8s/0"].location, "(removed)");
    assert!(layer.log_targets["loki-k8s/1"].is_enabled());
}

#[test]
fn a_removed_relation_is_gone() {
    let mut model = Model::new(1, 1);
    model.loki_publishes("loki-k8s/0");
    let relation = model.relation_id();
    model.sim.remove_relation(model.relation).unwrap();
    let (view, _) =
        model.hook("synapse/0", Event::UpdateStatus, |tools, _| LokiView::read(tools, &relation).unwrap());
    assert_eq!(view, LokiView::NotReady(NotReady::RelationGone));
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
    let error = LokiView::read(&HookTools::new(FailingRunner), &relation).unwrap_err();
    assert!(matches!(&error, ReadError::Units { .. }), "{error:?}");
    assert_eq!(error.command().unwrap().as_str(), "relation-list --format=json -r logging:4");
    assert_eq!(error.to_string(), "cannot list the remote units of relation logging:4");
}
