//! The user actions against real Synapse: registering (then logging in with the returned
//! password), promoting and anonymizing users, the admin token kept in an application
//! secret (renewed by the leader when Synapse no longer accepts it, used by other units),
//! and the failures an operator meets.

use juju_sim::model::{ActionRecord, ActionStatus};
use secrecy::ExposeSecret as _;
use serde_json::json;

use crate::matrix::{self, user_id};
use crate::model::{loopback_config, E2e, Services};
use crate::support::APP;

const LEADER: &str = "synapse/0";
const ADMIN_TOKEN_LABEL: &str = "synapse-admin-token";

fn completed(record: &ActionRecord) -> &serde_json::Map<String, serde_json::Value> {
    assert_eq!(record.status, ActionStatus::Completed, "{} failed: {:?}", record.name, record.message);
    &record.results
}

fn failed(record: &ActionRecord) -> &str {
    assert_eq!(record.status, ActionStatus::Failed, "{} did not fail: {:?}", record.name, record.results);
    record.message.as_deref().expect("a failure message")
}

fn result<'a>(record: &'a ActionRecord, key: &str) -> &'a str {
    completed(record).get(key).and_then(|value| value.as_str()).unwrap_or_else(|| panic!("no {key} result"))
}

fn stored_admin_token(e2e: &E2e) -> String {
    let token = e2e.secret_value(APP, ADMIN_TOKEN_LABEL, "access-token").expect("an admin token is stored");
    token.expose_secret().to_string()
}

/// No juju-log line of `unit` and no action message contains any of `secrets`.
fn assert_never_logged(e2e: &E2e, unit: &str, secrets: &[&str]) {
    let logs: Vec<&str> = e2e.harness.sim.logs(unit).map(|record| record.message.as_str()).collect();
    let messages: Vec<&str> =
        e2e.harness.sim.model().actions.iter().filter_map(|action| action.message.as_deref()).collect();
    for secret in secrets {
        assert!(secret.len() >= 16, "not a secret: {secret:?}");
        for text in logs.iter().chain(&messages) {
            assert!(!text.contains(secret), "a secret leaked into {text:?}");
        }
    }
}

fn register(e2e: &mut E2e, username: &str, admin: bool) -> String {
    let record = e2e.run_action(LEADER, "register-user", json!({"username": username, "admin": admin}));
    assert_eq!(result(&record, "register-user"), "true");
    let password = result(&record, "user-password").to_string();
    assert_eq!(password.len(), 16);
    assert!(password.bytes().all(|b| b.is_ascii_alphanumeric()), "{password}");
    password
}

#[test]
fn users_are_registered_promoted_and_anonymized() {
    let mut e2e = E2e::new();
    e2e.deploy(&[Services::Real], &loopback_config());
    e2e.wait_for_synapse(LEADER);

    let password = register(&mut e2e, "alice", false);
    let alice_token = matrix::login("alice", &password).expect("alice logs in with the returned password");
    assert_eq!(matrix::whoami(&alice_token), Ok(user_id("alice")));
    let again = e2e.run_action(LEADER, "register-user", json!({"username": "alice"}));
    assert_eq!(failed(&again), "user @alice:example.com already exists");

    let root_password = register(&mut e2e, "root", true);
    let root_token = matrix::login("root", &root_password).expect("root logs in");
    assert_eq!(matrix::admin_view(&root_token, "root")["admin"], true, "registered as an admin");
    assert_eq!(matrix::admin_view(&root_token, "alice")["admin"], false);

    let promote = e2e.run_action(LEADER, "promote-user-admin", json!({"username": "alice"}));
    assert_eq!(result(&promote, "promote-user-admin"), "true");
    assert_eq!(matrix::admin_view(&root_token, "alice")["admin"], true, "alice was promoted");
    let admin_token = stored_admin_token(&e2e);
    let charm_admin = matrix::whoami(&admin_token).expect("the stored admin token works");
    assert!(charm_admin.starts_with("@charm-admin-"), "{charm_admin}");

    let anonymize = e2e.run_action(LEADER, "anonymize-user", json!({"username": "alice"}));
    assert_eq!(result(&anonymize, "anonymize-user"), "true");
    let alice = matrix::admin_view(&root_token, "alice");
    assert_eq!((&alice["deactivated"], &alice["erased"]), (&json!(true), &json!(true)), "{alice}");
    assert_eq!(matrix::whoami(&alice_token), Err("M_UNKNOWN_TOKEN".into()), "her sessions are gone");
    assert!(matrix::login("alice", &password).is_err(), "she cannot log in any more");

    for action in ["promote-user-admin", "anonymize-user"] {
        let record = e2e.run_action(LEADER, action, json!({"username": "nobody"}));
        assert_eq!(failed(&record), "user @nobody:example.com does not exist", "{action}");
    }
    assert_eq!(e2e.secret_revisions(APP, ADMIN_TOKEN_LABEL), 1, "the valid token was reused");
    let shared =
        e2e.secret_value(APP, "synapse-app-secrets", "registration-shared-secret").expect("app secrets");
    assert_never_logged(
        &e2e,
        LEADER,
        &[&password, &root_password, &admin_token, &alice_token, &root_token, shared.expose_secret()],
    );
}

#[test]
fn the_leader_renews_an_admin_token_that_stopped_working() {
    // One unit: other units do not run Synapse until scale-out is supported, so the stored
    // token is only used (and renewed) where Synapse runs.
    let mut e2e = E2e::new();
    e2e.deploy(&[Services::Real], &loopback_config());
    e2e.wait_for_synapse(LEADER);
    register(&mut e2e, "bob", false);
    register(&mut e2e, "carol", false);

    completed(&e2e.run_action(LEADER, "promote-user-admin", json!({"username": "bob"})));
    let old_token = stored_admin_token(&e2e);
    let old_admin = matrix::whoami(&old_token).expect("the stored token works");
    assert_eq!(matrix::admin_view(&old_token, "bob")["admin"], true);

    matrix::logout(&old_token);
    assert_eq!(e2e.secret_revisions(APP, ADMIN_TOKEN_LABEL), 1);

    completed(&e2e.run_action(LEADER, "anonymize-user", json!({"username": "carol"})));
    assert_eq!(e2e.secret_revisions(APP, ADMIN_TOKEN_LABEL), 2, "the leader stored a new token");
    let new_token = stored_admin_token(&e2e);
    assert_ne!(new_token, old_token);
    let new_admin = matrix::whoami(&new_token).expect("the new token works");
    assert_ne!(new_admin, old_admin, "a fresh admin user");
    assert_eq!(matrix::whoami(&old_token), Err("M_UNKNOWN_TOKEN".into()));
    assert_eq!(matrix::admin_view(&new_token, "carol")["deactivated"], true);
    let old_localpart = old_admin.trim_start_matches('@').split(':').next().expect("a localpart");
    assert_eq!(
        matrix::admin_view(&new_token, old_localpart)["deactivated"],
        true,
        "the old admin user is retired"
    );

    completed(&e2e.run_action(LEADER, "promote-user-admin", json!({"username": "bob"})));
    assert_never_logged(&e2e, LEADER, &[&old_token, &new_token]);
}

#[test]
fn actions_fail_clearly_while_synapse_is_stopped_and_work_once_it_runs() {
    let mut e2e = E2e::new();
    e2e.deploy(&[Services::Real], &loopback_config());
    e2e.wait_for_synapse(LEADER);
    e2e.pebble_client(LEADER).stop(&["synapse"]).expect("Synapse stops");
    assert!(crate::http::synapse("GET", "/health", None, None).is_err(), "nothing answers on 8008");
    for action in ["register-user", "promote-user-admin", "anonymize-user"] {
        let record = e2e.run_action(LEADER, action, json!({"username": "dave"}));
        assert_eq!(failed(&record), "Synapse is not running: the synapse service is stopped", "{action}");
    }
    // The next hook notices and starts Synapse again.
    test_support::assert_hooks_succeeded(&e2e.harness.sim.update_status().expect("update-status runs"));
    e2e.wait_for_synapse(LEADER);
    register(&mut e2e, "dave", false);
}
