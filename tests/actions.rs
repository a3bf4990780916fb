//! The user actions' failure paths that need no running Synapse: bad parameters, a charm
//! that has not configured Synapse, a stopped or unreachable Synapse, and a unit other than
//! the leader without an admin token. Each fails with a clear `action-fail` message, the
//! hook still succeeds, and nothing is written. (The e2e suite runs the actions against
//! real Synapse.)

mod support;

use juju_sim::model::ActionStatus;
use juju_sim::ActionResult;
use serde_json::{json, Value};
use support::{Harness, SERVER_NAME};

const LEADER: &str = "synapse/0";

fn run_action(harness: &mut Harness, unit: &str, action: &str, params: Value) -> ActionResult {
    let params = params.as_object().cloned().expect("parameters are an object");
    harness.sim.run_action(unit, action, params).expect("the action runs")
}

/// The action failed with `message` through `action-fail` (the hook itself succeeded) and
/// changed nothing: no results, no secret, no relation data, no status.
fn assert_failed_cleanly(result: &ActionResult, message: &str) {
    assert_eq!(result.run.exit_code, 0, "{}", result.run.stderr);
    assert_eq!(result.record.status, ActionStatus::Failed);
    assert_eq!(result.record.message.as_deref(), Some(message));
    for tool in ["action-set", "secret-add", "secret-set", "relation-set", "status-set"] {
        assert_eq!(result.run.count(tool), 0, "{tool} called");
    }
    assert!(
        result.followups.is_empty(),
        "{:?}",
        result.followups.iter().map(|run| &run.hook).collect::<Vec<_>>()
    );
}

fn deployed(units: u32) -> Harness {
    let mut harness = Harness::new();
    harness.deploy(units, &[("server_name", json!(SERVER_NAME))]);
    // More than one unit is refused (Blocked) until scale-out is supported; the leader serves.
    let expected = if units == 1 { "active" } else { "blocked" };
    assert_eq!(harness.status(LEADER).0, expected);
    assert_eq!(harness.pebble(LEADER).service_state("synapse"), Some(pebble_sim::ServiceStatus::Active));
    harness
}

#[test]
fn invalid_usernames_are_refused_before_anything_else() {
    let mut harness = deployed(1);
    let cases = [
        ("register-user", json!({"username": "Alice"})),
        ("promote-user-admin", json!({"username": "bob smith"})),
        ("anonymize-user", json!({"username": ""})),
    ];
    let expected = [
        r#"invalid username "Alice": 'A' is not allowed (usernames are lowercase); use only a-z, 0-9 and the characters . _ = - / +"#,
        r#"invalid username "bob smith": ' ' is not allowed; use only a-z, 0-9 and the characters . _ = - / +"#,
        r#"invalid username "": the username is empty"#,
    ];
    for ((action, params), message) in cases.into_iter().zip(expected) {
        let result = run_action(&mut harness, LEADER, action, params);
        assert_failed_cleanly(&result, message);
        assert_eq!(result.run.count("secret-get"), 0, "{action} read a secret before checking its input");
    }
    let result = run_action(&mut harness, LEADER, "register-user", json!({"username": "@alice:example.com"}));
    assert_failed_cleanly(
        &result,
        r#"invalid parameter username: give the localpart only, for example alice for @alice:example.com, not "@alice:example.com""#,
    );
}

#[test]
fn actions_wait_for_the_charm_to_configure_synapse() {
    let mut harness = Harness::new();
    harness.deploy(1, &[]);
    assert_eq!(
        harness.status(LEADER),
        (
            "blocked".into(),
            "invalid configuration: server_name: it is required; set it with juju config".into()
        )
    );
    for action in ["register-user", "promote-user-admin", "anonymize-user"] {
        let result = run_action(&mut harness, LEADER, action, json!({"username": "alice"}));
        assert_failed_cleanly(
            &result,
            "Synapse is not configured yet: the application secrets do not exist on this unit yet (the leader creates them once server_name is set)",
        );
    }
    assert!(harness.pebble(LEADER).requests().iter().all(|request| request.method == "GET"));
}

#[test]
fn actions_fail_while_synapse_is_stopped() {
    let mut harness = deployed(1);
    let pebble = pebble::Client::new(harness.socket(LEADER));
    pebble.stop(&["synapse"]).expect("Synapse stops");
    for action in ["register-user", "promote-user-admin", "anonymize-user"] {
        let result = run_action(&mut harness, LEADER, action, json!({"username": "alice"}));
        assert_failed_cleanly(&result, "Synapse is not running: the synapse service is stopped");
    }
}

#[test]
fn actions_fail_while_the_container_is_unreachable() {
    let mut harness = deployed(1);
    harness.pebble(LEADER).set_available(false).unwrap();
    harness.sim.update_status().unwrap();
    assert_eq!(harness.status(LEADER), ("waiting".into(), "Waiting for Synapse pebble".into()));
    let result =
        run_action(&mut harness, LEADER, "register-user", json!({"username": "alice", "admin": true}));
    assert_failed_cleanly(&result, "Synapse is not running: the Synapse container's Pebble does not answer");
}

#[test]
fn a_unit_that_does_not_serve_refuses_actions_and_says_why() {
    // With two units planned only the leader runs Synapse (scale-out is not supported yet).
    let mut harness = deployed(2);
    for action in ["register-user", "promote-user-admin", "anonymize-user"] {
        let result = run_action(&mut harness, "synapse/1", action, json!({"username": "alice"}));
        assert_failed_cleanly(
            &result,
            "Synapse is not running: the synapse service has not been configured yet",
        );
    }
}
