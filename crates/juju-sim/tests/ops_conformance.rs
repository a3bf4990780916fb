//! Conformance with the real `ops` library: a Python charm (tests/ops-charm) built on ops
//! drives every hook tool; if ops parses every answer and the model ends as expected, the
//! tools speak Juju's formats. Runs against ops 3.x (`ops` profile) and ops 2.x (`ops2`).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use juju_sim::model::{ActionStatus, Bag};
use juju_sim::{AppSpec, Simulator};
use serde_json::{json, Map, Value};
use test_support::PythonVenv;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fingerprint(text: &str) -> String {
    let output = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().expect("stdin").write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&output.stdout)[..12].to_owned()
}

fn params(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn unit_bag(sim: &Simulator, relation: u32, unit: &str) -> BTreeMap<String, String> {
    sim.relation_data(relation, &Bag::Unit(unit.into())).unwrap()
}

fn app_bag(sim: &Simulator, relation: u32, app: &str) -> BTreeMap<String, String> {
    sim.relation_data(relation, &Bag::App(app.into())).unwrap()
}

fn conformance(profile: &str) {
    let Some(venv) = PythonVenv::find_or_skip(profile, &format!("ops conformance ({profile})")) else {
        return;
    };
    let charm = workspace_root().join("crates/juju-sim/tests/ops-charm");
    let mut sim = common::sim();
    sim.set_env("OPS_PYTHON", venv.python().to_string_lossy());
    sim.set_env("PYTHONDONTWRITEBYTECODE", "1");
    sim.set_hook_timeout(Duration::from_secs(300));

    // Deploy: lifecycle hooks, leadership, peer app data written by the leader.
    sim.deploy(AppSpec::charm("alpha", &charm).units(2)).unwrap();
    sim.deploy(AppSpec::charm("beta", &charm)).unwrap();
    assert_eq!(sim.unit_status("alpha/0").unwrap().status, "active");
    assert_eq!(sim.unit_status("alpha/1").unwrap().message, "ready: hello");
    assert_eq!(sim.app_status("alpha").unwrap().message, "leader is alpha/0");
    assert_eq!(sim.app_version("alpha").unwrap(), "1.2.3");
    assert_eq!(sim.ports("alpha/0").unwrap()[0].to_string(), "8080/tcp");
    let peers = sim.relation_id("alpha:cluster", "alpha:cluster").unwrap();
    assert_eq!(app_bag(&sim, peers, "alpha")["leader"], "alpha/0");
    assert_eq!(unit_bag(&sim, peers, "alpha/1")["seen-leader"], "alpha/0");
    let state = sim.state("alpha/0").unwrap();
    assert!(
        state.values().any(|value| value.contains("InstallEvent")),
        "ops StoredState lives in state-set: {state:?}"
    );
    assert!(sim.logs("alpha/0").any(|record| record.message.contains("Emitting Juju event install")));

    // Integrate: provider leader adds and grants a secret, both sides exchange app and unit data.
    let (db, _) = sim.integrate("alpha:db", "beta:api").unwrap();
    let secret_id = app_bag(&sim, db, "beta")["secret-id"].clone();
    let secret = sim.secret(&secret_id).unwrap().clone();
    assert_eq!(secret.label.as_deref(), Some("db-password"));
    assert_eq!(secret.latest().unwrap().decoded()["password"], "initial-pw");
    for unit in ["alpha/0", "alpha/1"] {
        let bag = unit_bag(&sim, db, unit);
        assert_eq!(bag["password-fingerprint"], fingerprint("initial-pw"), "{unit}");
        assert_eq!(bag["bind-address"], sim.unit(unit).unwrap().address);
        assert_eq!(bag["remote-app"], "beta");
        let consumer = &sim.secret(&secret_id).unwrap().consumers[unit];
        assert_eq!(consumer.revision, 1);
        assert_eq!(consumer.label.as_deref(), Some("db-password"));
    }
    assert_eq!(app_bag(&sim, db, "alpha")["client-ready"], "true");
    assert_eq!(unit_bag(&sim, db, "beta/0")["client-ready-seen"], "true");

    // A new revision reaches consumers through secret-changed; the old one is then removed.
    let rotated = sim.run_action("beta/0", "rotate-password", Map::new()).unwrap();
    assert_eq!(rotated.record.status, ActionStatus::Completed, "{rotated:?}");
    assert_eq!(rotated.record.results["old-revision"], "1");
    assert_eq!(rotated.record.results["label"], "db-password");
    for unit in ["alpha/0", "alpha/1"] {
        let bag = unit_bag(&sim, db, unit);
        assert_eq!(bag["password-fingerprint"], fingerprint("rotated-pw"), "{unit}");
        assert_eq!(bag["secret-label"], "db-password");
        assert_eq!(sim.secret(&secret_id).unwrap().consumers[unit].revision, 2);
    }
    let revisions: Vec<u32> =
        sim.secret(&secret_id).unwrap().revisions.iter().map(|revision| revision.revision).collect();
    assert_eq!(revisions, [2], "secret-remove handler removed revision 1");

    // Actions: results (nested), logs, failure, and what read-only tools returned.
    let greet = sim.run_action("alpha/0", "greet", params(json!({"name": "Bob"}))).unwrap();
    assert_eq!(greet.record.status, ActionStatus::Completed);
    assert_eq!(greet.record.results["message"], "hello Bob");
    assert_eq!(greet.record.results["detail"], json!({"unit": "alpha/0"}));
    assert_eq!(greet.record.results["return-code"], 0);
    assert_eq!(greet.record.logs, ["greeting in progress"]);
    let failed = sim.run_action("alpha/1", "fail-me", Map::new()).unwrap();
    assert_eq!(failed.record.status, ActionStatus::Failed);
    assert_eq!(failed.record.message.as_deref(), Some("deliberate failure"));
    assert_eq!(failed.record.results["partial"], "yes");
    let inspect = sim.run_action("alpha/0", "inspect", Map::new()).unwrap();
    let results = &inspect.record.results;
    assert_eq!(results["ports"], "8080/tcp");
    assert_eq!(results["planned-units"], "2");
    assert_eq!(results["leader"], "True");
    assert_eq!(results["unit-status"], "active");
    assert_eq!(results["app-status"], "leader is alpha/0");
    assert_eq!(results["peer-units"], "alpha/1");
    assert!(results["events"].as_str().unwrap().starts_with("InstallEvent"));

    // Config: typed values reach the charm.
    sim.set_config("alpha", BTreeMap::from([("greeting".into(), json!("hi"))])).unwrap();
    assert_eq!(sim.unit_status("alpha/1").unwrap().message, "ready: hi");

    // Leadership moves: the new leader rewrites peer app data, the old one sees it.
    sim.set_leader("alpha/1").unwrap();
    assert_eq!(app_bag(&sim, peers, "alpha")["leader"], "alpha/1");
    assert_eq!(unit_bag(&sim, peers, "alpha/0")["seen-leader"], "alpha/1");

    // Removing the relation breaks it on both sides.
    sim.remove_relation(db).unwrap();
    assert!(sim.relation(db).is_err());
    assert_eq!(sim.unit_status("alpha/0").unwrap().message, "db relation removed");
    assert!(sim.history().iter().all(|run| run.succeeded() || run.action.is_some()));
    let failed_calls: Vec<String> = sim
        .history()
        .iter()
        .flat_map(|run| &run.calls)
        .filter(|call| call.exit_code != 0)
        .map(|call| format!("{} {:?}: {}", call.tool, call.args, call.stderr))
        .collect();
    assert!(failed_calls.is_empty(), "tool calls failed: {failed_calls:#?}");
    let calls: usize = sim.history().iter().map(|run| run.calls.len()).sum();
    eprintln!("{profile}: {} hooks/actions, {calls} tool calls", sim.history().len());
}

#[test]
fn ops_3() {
    conformance("ops");
}

#[test]
fn ops_2() {
    conformance("ops2");
}
