//! The requirer against the simulated Juju, with a passive redis-k8s whose units and leader
//! publish the way redis-k8s does.

mod sim;

use std::collections::BTreeSet;

use juju::{HookTools, RelationId, ToolOutput, ToolRunner};
use juju_sim::model::Bag;
use juju_sim::{Event, HookRun};
use redis_client::{plan_requirer, NotReady, ReadError, RedisEndpoint, RedisView};
use sim::{Model, PROVIDER, REQUIRER};

fn changed(model: &Model) -> Event {
    Event::RelationChanged { relation: model.relation, unit: None }
}

fn read_in(model: &mut Model, unit: &str, event: Event) -> (RedisView, HookRun) {
    let relation = model.relation_id();
    model.hook(unit, event, |tools, _| {
        let view = RedisView::read(tools, &relation).unwrap();
        juju::effects::execute(tools, &plan_requirer(&relation)).unwrap();
        view
    })
}

fn view(model: &mut Model, unit: &str) -> RedisView {
    let event = changed(model);
    read_in(model, unit, event).0
}

fn ready(model: &mut Model, unit: &str) -> RedisEndpoint {
    match view(model, unit) {
        RedisView::Ready(endpoint) => endpoint,
        RedisView::NotReady(reason) => panic!("{unit} is not ready: {reason}"),
    }
}

fn not_ready(model: &mut Model) -> NotReady {
    match view(model, "synapse/0") {
        RedisView::NotReady(reason) => reason,
        RedisView::Ready(endpoint) => panic!("ready too early: {endpoint:?}"),
    }
}

fn at(host: &str, port: u16) -> RedisEndpoint {
    RedisEndpoint { host: host.into(), port }
}

/// Every unit of the requirer reads the same endpoint.
fn all_ready(model: &mut Model) -> RedisEndpoint {
    let first = ready(model, "synapse/0");
    assert_eq!(ready(model, "synapse/1"), first, "both units pick the same");
    first
}

fn unit_bags_keys(model: &Model, unit: &str) -> BTreeSet<String> {
    model.bag(Bag::Unit(unit.into())).into_keys().collect()
}

#[test]
fn leader_host_is_the_master_whatever_unit_is_read() {
    let mut model = Model::new(2, 3);
    model.redis_k8s_publishes("redis-k8s/2");
    let master = model.address("redis-k8s/2");
    assert_ne!(master, model.address("redis-k8s/0"), "distinct pod IPs");
    assert_eq!(all_ready(&mut model), at(&master, 6379));
    assert_eq!(ready(&mut model, "synapse/0").url(), format!("redis://{master}:6379"));

    // One relation-list and two relation-gets, the same for every unit, and nothing written.
    let event = changed(&model);
    let (_, run) = read_in(&mut model, "synapse/1", event);
    let calls: Vec<(&str, Vec<&str>)> = run
        .calls
        .iter()
        .map(|call| (call.tool.as_str(), call.args.iter().map(String::as_str).collect()))
        .collect();
    let relation = format!("redis:{}", model.relation);
    assert_eq!(
        calls,
        [
            ("relation-list", vec!["--format=json", "-r", &relation]),
            ("relation-get", vec!["--format=json", "-r", &relation, "--app", "-", PROVIDER]),
            ("relation-get", vec!["--format=json", "-r", &relation, "-", "redis-k8s/0"]),
        ]
    );
}

#[test]
fn the_requirer_publishes_nothing_in_any_hook() {
    let mut model = Model::new(2, 1);
    let relation = model.relation;
    let events = [
        Event::RelationCreated { relation },
        Event::RelationJoined { relation, unit: "redis-k8s/0".into() },
        Event::RelationChanged { relation, unit: Some("redis-k8s/0".into()) },
    ];
    for event in events {
        for unit in ["synapse/0", "synapse/1"] {
            let (_, run) = read_in(&mut model, unit, event.clone());
            assert_eq!(run.count("relation-set"), 0, "{event:?}");
        }
    }
    model.redis_k8s_publishes("redis-k8s/0");
    all_ready(&mut model);
    assert!(model.bag(Bag::App(REQUIRER.into())).is_empty());
    for unit in ["synapse/0", "synapse/1"] {
        let juju_only = ["egress-subnets", "ingress-address", "private-address"].map(String::from);
        assert_eq!(unit_bags_keys(&model, unit), BTreeSet::from(juju_only), "only what Juju writes");
    }
}

#[test]
fn without_leader_host_the_lowest_units_hostname_is_used() {
    let mut model = Model::new(2, 2);
    model.unit_sets("redis-k8s/1", &[("hostname", "10.9.0.1"), ("port", "6380")]);
    model.unit_sets("redis-k8s/0", &[("hostname", "10.9.0.0"), ("port", "6379")]);
    assert_eq!(all_ready(&mut model), at("10.9.0.0", 6379));

    // leader-host replaces the host only; the port stays the chosen unit's.
    model.unit_sets("redis-k8s/0", &[("port", "7000")]);
    model.leader_publishes("redis-k8s-1.redis-k8s-endpoints.dev.svc.cluster.local");
    assert_eq!(all_ready(&mut model), at("redis-k8s-1.redis-k8s-endpoints.dev.svc.cluster.local", 7000));
    // Gone again (an empty value deletes the key): back to the unit's hostname.
    model.leader_publishes("");
    assert_eq!(all_ready(&mut model), at("10.9.0.0", 7000));
    // A unit that publishes no port serves on 6379, as Synapse's charm assumes.
    model.unit_sets("redis-k8s/0", &[("port", "")]);
    assert_eq!(all_ready(&mut model), at("10.9.0.0", 6379));
}

#[test]
fn units_joining_and_departing_move_the_choice_consistently() {
    let mut model = Model::new(2, 1);
    assert_eq!(not_ready(&mut model), NotReady::UnitNotPublished { unit: "redis-k8s/0".into() });
    // leader-host alone is not enough: the port comes from a unit.
    model.leader_publishes("10.9.9.9");
    assert_eq!(not_ready(&mut model), NotReady::UnitNotPublished { unit: "redis-k8s/0".into() });
    model.unit_publishes("redis-k8s/0", "10.9.0.0");
    assert_eq!(all_ready(&mut model), at("10.9.9.9", 6379));
    model.leader_publishes("");

    // Scale up to redis-k8s/10: the choice is by unit number, not by name.
    for _ in 1..=10 {
        let (unit, runs) = model.sim.add_unit(PROVIDER).unwrap();
        assert!(runs.is_empty(), "passive applications run no hooks");
        let number = unit.rsplit_once('/').unwrap().1.to_string();
        model.unit_publishes(&unit, &format!("10.9.0.{number}"));
    }
    assert_eq!(all_ready(&mut model), at("10.9.0.0", 6379));
    let leaving: Vec<String> = (0..10).filter(|n| *n != 2).map(|n| format!("redis-k8s/{n}")).collect();
    let leaving: Vec<&str> = leaving.iter().map(String::as_str).collect();
    model.sim.remove_units(&leaving).unwrap();
    assert_eq!(all_ready(&mut model), at("10.9.0.2", 6379), "redis-k8s/2 before redis-k8s/10");

    // In the requirer's relation-departed for redis-k8s/2, that unit is no longer listed.
    let relation = model.relation;
    let departed =
        Event::RelationDeparted { relation, unit: "redis-k8s/2".into(), departing: "redis-k8s/2".into() };
    let (view, _) = read_in(&mut model, "synapse/0", departed);
    assert_eq!(view, RedisView::Ready(at("10.9.0.10", 6379)));

    // The next unit takes over when the chosen one leaves; none left is its own reason.
    model.sim.remove_unit("redis-k8s/2").unwrap();
    assert_eq!(all_ready(&mut model), at("10.9.0.10", 6379));
    model.sim.remove_unit("redis-k8s/10").unwrap();
    assert_eq!(not_ready(&mut model), NotReady::NoRemoteUnits);
    // Scaled to zero: a stale leader-host is not used without a unit.
    model.leader_publishes("10.9.9.9");
    assert_eq!(not_ready(&mut model), NotReady::NoRemoteUnits);
    // A new unit is waited for until it publishes.
    let (unit, _) = model.sim.add_unit(PROVIDER).unwrap();
    assert_eq!(not_ready(&mut model), NotReady::UnitNotPublished { unit: unit.clone() });
    model.unit_publishes(&unit, "10.9.0.11");
    assert_eq!(all_ready(&mut model), at("10.9.9.9", 6379));
}

#[test]
fn malformed_values_are_named_until_fixed() {
    let mut model = Model::new(2, 1);
    model.unit_sets("redis-k8s/0", &[("hostname", "10.9.0.0"), ("port", "six")]);
    let unit = || "redis-k8s/0".to_string();
    assert_eq!(not_ready(&mut model), NotReady::PortMalformed { unit: unit(), value: "six".into() });
    model.unit_sets("redis-k8s/0", &[("port", "65536")]);
    assert_eq!(not_ready(&mut model), NotReady::PortMalformed { unit: unit(), value: "65536".into() });
    model.unit_sets("redis-k8s/0", &[("port", "6379"), ("hostname", "redis://10.9.0.0")]);
    assert_eq!(
        not_ready(&mut model),
        NotReady::HostnameMalformed { unit: unit(), value: "redis://10.9.0.0".into() }
    );
    model.unit_sets("redis-k8s/0", &[("hostname", "")]);
    assert_eq!(not_ready(&mut model), NotReady::HostnameMissing { unit: unit() });
    model.leader_publishes("10.9.0.0:6379");
    assert_eq!(not_ready(&mut model), NotReady::LeaderHostMalformed { value: "10.9.0.0:6379".into() });
    model.leader_publishes("fd00::7");
    assert_eq!(all_ready(&mut model).url(), "redis://[fd00::7]:6379");
}

#[test]
fn a_relation_that_is_gone_is_not_ready() {
    let mut model = Model::new(2, 1);
    model.redis_k8s_publishes("redis-k8s/0");
    all_ready(&mut model);

    // In relation-broken Juju lists no remote unit.
    let broken = Event::RelationBroken { relation: model.relation };
    let (view, _) = read_in(&mut model, "synapse/1", broken);
    assert_eq!(view, RedisView::NotReady(NotReady::NoRemoteUnits));

    // After it, the id is unknown.
    let relation = model.relation_id();
    model.sim.remove_relation(model.relation).unwrap();
    let (view, run) =
        model.hook("synapse/0", Event::UpdateStatus, |tools, _| RedisView::read(tools, &relation));
    assert_eq!(view.unwrap(), RedisView::NotReady(NotReady::RelationGone));
    assert_eq!(run.count("relation-get"), 0);
    let (view, _) = model.hook("synapse/0", Event::UpdateStatus, |tools, _| {
        RedisView::read(tools, &RelationId::new("redis", 99))
    });
    assert_eq!(view.unwrap(), RedisView::NotReady(NotReady::RelationGone));
}

/// Answers `relation-list` with one unit and fails every `relation-get` of `failing`.
struct FailingRunner {
    failing: &'static str,
}

impl ToolRunner for FailingRunner {
    fn run(&self, tool: &str, args: &[String], _: Option<&[u8]>) -> std::io::Result<ToolOutput> {
        let fail = (tool == "relation-list" && self.failing == "relation-list")
            || (tool == "relation-get" && args.iter().any(|arg| arg == self.failing));
        Ok(if fail {
            ToolOutput {
                code: 1,
                stderr: b"ERROR connection to the unit agent lost\n".to_vec(),
                ..ToolOutput::default()
            }
        } else if tool == "relation-list" {
            ToolOutput { stdout: br#"["redis-k8s/0"]"#.to_vec(), ..ToolOutput::default() }
        } else {
            ToolOutput {
                stdout: br#"{"hostname": "10.9.0.0", "port": "6379"}"#.to_vec(),
                ..ToolOutput::default()
            }
        })
    }
}

#[test]
fn hook_tool_failures_are_errors_naming_the_command() {
    let relation = RelationId::new("redis", 4);
    let read = |failing| RedisView::read(&HookTools::new(FailingRunner { failing }), &relation);
    assert_eq!(read("nothing").unwrap(), RedisView::Ready(at("10.9.0.0", 6379)));

    let error = read("relation-list").unwrap_err();
    assert!(matches!(error, ReadError::Units { .. }), "{error:?}");
    assert_eq!(error.command().unwrap().as_str(), "relation-list --format=json -r redis:4");
    assert_eq!(error.to_string(), "cannot list the remote units of relation redis:4");

    let error = read("--app").unwrap_err();
    assert!(matches!(&error, ReadError::AppBag { app, .. } if app == PROVIDER), "{error:?}");
    assert_eq!(error.command().unwrap().as_str(), "relation-get --format=json -r redis:4 --app - redis-k8s");

    let error = read("redis-k8s/0").unwrap_err();
    assert!(matches!(&error, ReadError::UnitBag { unit, .. } if unit == "redis-k8s/0"), "{error:?}");
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(source.contains("relation-get --format=json -r redis:4 - redis-k8s/0"), "{source}");
    assert!(source.contains("connection to the unit agent lost"), "{source}");
}
