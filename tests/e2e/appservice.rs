//! Bridges through the matrix-auth relation, against the running Synapse: the Rust example
//! requirer (`examples/matrix-auth-requirer`) in IRC-bridge mode sends its appservice
//! registration, the charm hands it to Synapse, and Synapse enforces it; the shared secret
//! the charm publishes registers users as maubot does; new tokens, removed relations,
//! several bridges and bad registrations behave as they must.

use juju_sim::model::Bag;
use juju_sim::{AppSpec, CharmMeta};
use matrix_auth::protocol::{
    ENCRYPTION_KEY_CONTENT, ENCRYPTION_KEY_LABEL, REGISTRATION_KEY, SHARED_SECRET_CONTENT,
    SHARED_SECRET_LABEL,
};
use rand::Rng as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{json, Value};
use synapse_admin::{generate_password, AdminClient, UserId};
use test_support::assert_hooks_succeeded;

use crate::matrix::{self, user_id};
use crate::model::{loopback_config, E2e, Services};
use crate::support::{APP, SERVER_NAME};

const UNIT: &str = "synapse/0";

/// The example requirer in IRC-bridge mode, reachable (were it running) on loopback only.
fn bridge(prefix: &str, nickname: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("external-url", json!("http://127.0.0.1:8090")),
        ("namespace-prefix", json!(prefix)),
        ("bot-nickname", json!(nickname)),
    ]
}

/// Synapse running, with the `irc` bridge related: the relation id and the bridge's as_token.
fn synapse_with_irc(e2e: &mut E2e) -> (u32, String) {
    e2e.deploy(&[Services::Real], &loopback_config());
    e2e.wait_for_synapse(UNIT);
    e2e.deploy_bridge("irc", &bridge("libera_", "libera-bot"));
    let relation = e2e.integrate("irc");
    e2e.wait_for_synapse(UNIT);
    let as_token = e2e.sent_registration(relation, "irc").as_token().expose_secret().to_string();
    assert_eq!(matrix::whoami(&as_token), Ok(user_id("libera-bot")), "Synapse serves the bridge");
    (relation, as_token)
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The shared secret the charm published in its `shared-secret` Juju secret.
fn published_shared_secret(e2e: &E2e) -> SecretString {
    e2e.secret_value(APP, SHARED_SECRET_LABEL, SHARED_SECRET_CONTENT).expect("the shared-secret secret")
}

/// Registers `username` through shared-secret registration, as maubot does.
fn register_with(
    shared_secret: &SecretString,
    username: &str,
) -> synapse_admin::Result<synapse_admin::Registered> {
    let client = AdminClient::new(&crate::http::synapse_url()).expect("a client");
    let user = UserId::new(username, SERVER_NAME).expect("a user id");
    client.register(shared_secret, &user, &generate_password(), false)
}

#[test]
fn synapse_loads_the_bridge_registration_and_enforces_its_namespace() {
    let mut e2e = E2e::new();
    let (relation, as_token) = synapse_with_irc(&mut e2e);
    let registration = e2e.sent_registration(relation, "irc");
    let log = e2e.synapse_log(UNIT);
    let loaded = log
        .lines()
        .find(|line| line.contains("Loaded application service: "))
        .unwrap_or_else(|| panic!("no appservice in Synapse's log:\n{log}"));
    assert!(loaded.contains(registration.id()), "another appservice was loaded: {loaded}");
    assert!(!loaded.contains(&as_token), "Synapse logged the as_token");

    let inside = matrix::register_as_appservice(&as_token, "libera_alice");
    assert_eq!(inside.status, 200, "{}", inside.text());
    assert_eq!(inside.json()["user_id"], user_id("libera_alice"));
    let outside = matrix::register_as_appservice(&as_token, "alice");
    assert_eq!(
        (outside.status, outside.errcode().as_deref()),
        (400, Some("M_EXCLUSIVE")),
        "{}",
        outside.text()
    );

    let shared_secret = published_shared_secret(&e2e);
    let maubot = register_with(&shared_secret, "maubot").expect("the published shared secret works");
    assert_eq!(matrix::whoami(maubot.access_token.expose_secret()), Ok(user_id("maubot")));
    match register_with(&shared_secret, "libera_mallory") {
        Err(synapse_admin::Error::Api { errcode, .. }) => assert_eq!(errcode, "M_EXCLUSIVE"),
        other => panic!("a user in the bridge's exclusive namespace was not refused: {other:?}"),
    }
}

#[test]
fn new_tokens_from_the_bridge_replace_the_old_ones() {
    let mut e2e = E2e::new();
    let (relation, old_token) = synapse_with_irc(&mut e2e);
    let starts = e2e.synapse_starts(UNIT);
    let values = [("rotate-tokens".to_string(), json!(true))].into();
    assert_hooks_succeeded(&e2e.harness.sim.set_config("irc", values).expect("config-changed runs"));
    e2e.wait_for_synapse(UNIT);
    let new_token = e2e.sent_registration(relation, "irc").as_token().expose_secret().to_string();
    assert_ne!(new_token, old_token, "the bridge sent new tokens");
    assert_eq!(e2e.synapse_starts(UNIT), starts + 1, "one restart loads them");
    assert_eq!(matrix::whoami(&new_token), Ok(user_id("libera-bot")));
    assert_eq!(matrix::whoami(&old_token), Err("M_UNKNOWN_TOKEN".into()));
}

#[test]
fn a_removed_relation_unregisters_the_bridge() {
    let mut e2e = E2e::new();
    let (relation, as_token) = synapse_with_irc(&mut e2e);
    let shared_secret = published_shared_secret(&e2e);
    assert_hooks_succeeded(&e2e.harness.sim.remove_relation(relation).expect("remove-relation runs"));
    e2e.wait_for_synapse(UNIT);
    assert_eq!(matrix::whoami(&as_token), Err("M_UNKNOWN_TOKEN".into()));
    let refused = matrix::register_as_appservice(&as_token, "libera_bob");
    assert_eq!(refused.errcode().as_deref(), Some("M_UNKNOWN_TOKEN"), "{}", refused.text());
    let freed = register_with(&shared_secret, "libera_carol").expect("the namespace is free again");
    assert_eq!(freed.user_id, user_id("libera_carol"));
}

/// A passive requirer whose registration the test writes, encrypted with Synapse's key as
/// the IRC bridge would.
fn send_raw_registration(e2e: &mut E2e, app: &str, text: &str) -> u32 {
    let meta = format!("name: {app}\nrequires:\n  matrix-auth:\n    interface: matrix_auth\n    limit: 1\n");
    let spec = AppSpec::passive(app, CharmMeta::from_yaml(&meta).expect("metadata"));
    assert_hooks_succeeded(&e2e.harness.sim.deploy(spec).expect("deploy runs"));
    let relation = e2e.integrate(app);
    let key = e2e.secret_value(APP, ENCRYPTION_KEY_LABEL, ENCRYPTION_KEY_CONTENT).expect("Synapse's key");
    let token = matrix_auth::encrypt_string(&key, text).expect("encrypts");
    let data = [(REGISTRATION_KEY.to_string(), token)].into();
    assert_hooks_succeeded(
        &e2e.harness.sim.set_relation_data(relation, Bag::App(app.into()), data).expect("relation data"),
    );
    relation
}

fn raw_registration(as_token: &str, sender: &str, user_regex: &str) -> String {
    format!(
        "id: {}\nhs_token: {}\nas_token: {as_token}\nurl: http://127.0.0.1:8091\nsender_localpart: {sender}\n\
         namespaces:\n  users:\n  - exclusive: true\n    regex: '{user_regex}'\n  aliases: []\n  rooms: []\n\
         rate_limited: false\n",
        random_hex(),
        random_hex()
    )
}

#[test]
fn two_bridges_work_and_bad_registrations_cost_them_nothing() {
    let mut e2e = E2e::new();
    let (_, irc_token) = synapse_with_irc(&mut e2e);
    e2e.deploy_bridge("oftc", &bridge("oftc_", "oftc-bot"));
    let oftc = e2e.integrate("oftc");
    e2e.wait_for_synapse(UNIT);
    let oftc_token = e2e.sent_registration(oftc, "oftc").as_token().expose_secret().to_string();
    for (token, sender, member) in
        [(&irc_token, "libera-bot", "libera_dave"), (&oftc_token, "oftc-bot", "oftc_dave")]
    {
        assert_eq!(matrix::whoami(token), Ok(user_id(sender)));
        assert_eq!(matrix::register_as_appservice(token, member).status, 200, "{member}");
    }
    let starts = e2e.synapse_starts(UNIT);

    // The same as_token as the IRC bridge (Synapse would refuse to start with both).
    send_raw_registration(
        &mut e2e,
        "impostor",
        &raw_registration(&irc_token, "impostor", r"@impostor_.*:example\.com"),
    );
    let (_, message) = e2e.harness.status(UNIT);
    assert!(message.starts_with("matrix-auth: registration from impostor rejected: "), "{message}");
    // A user regex Synapse's `re` cannot compile.
    let broken_token = random_hex();
    send_raw_registration(
        &mut e2e,
        "broken",
        &raw_registration(&broken_token, "broken", r"@broken_[.*:example\.com"),
    );
    let (_, message) = e2e.harness.status(UNIT);
    assert!(message.contains("rejected"), "{message}");

    assert_eq!(e2e.synapse_starts(UNIT), starts, "nothing Synapse loads changed");
    e2e.wait_for_synapse(UNIT);
    assert_eq!(
        matrix::whoami(&irc_token),
        Ok(user_id("libera-bot")),
        "the impostor did not take the token over"
    );
    assert_eq!(matrix::whoami(&oftc_token), Ok(user_id("oftc-bot")));
    assert_eq!(matrix::whoami(&broken_token), Err("M_UNKNOWN_TOKEN".into()));
    assert_eq!(matrix::register_as_appservice(&irc_token, "libera_erin").status, 200);
}
