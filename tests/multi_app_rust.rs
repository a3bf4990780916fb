//! The Synapse charm and the Rust example requirer (`examples/matrix-auth-requirer`) in one
//! simulated model: IRC-bridge style and maubot style, several requirers at once, and
//! removing the relation.

mod support;

use matrix_auth::protocol::REGISTRATION_KEY;
use matrix_auth::Registration;
use secrecy::ExposeSecret;
use serde_json::json;
use support::requirers::*;
use support::APP;
use test_support::assert_hooks_succeeded;

const UNIT0: &str = "synapse/0";
/// What Synapse publishes without public_baseurl or ingress: `https://<server_name>`.
const HOMESERVER: &str = "https://example.com";
const MISSING: &str = "matrix-auth relation missing";

fn ready() -> (String, String) {
    ("active".into(), format!("ready: {HOMESERVER}"))
}

/// The bridge's registration is in Synapse's container byte for byte, listed in
/// homeserver.yaml, and matches what the requirer says it sent.
fn assert_registration_delivered(model: &MatrixModel, unit: &str, relation: u32, app: &str) -> String {
    let text = model.published_registration(relation, app).unwrap_or_else(|| panic!("{app} sent nothing"));
    let file =
        model.registration_file(unit, relation).unwrap_or_else(|| panic!("no file for {app} on {unit}"));
    assert_eq!(String::from_utf8_lossy(&file), text, "{app}'s registration on {unit}");
    assert_eq!(file, text.as_bytes());
    let leader = model.harness.sim.app(app).unwrap().leader.clone().expect("a leader");
    assert_eq!(model.state(&leader)[STATE_REGISTRATION], sha256(&file), "what {leader} says it sent");
    let path = versioned_registration_path(&model.harness, unit, relation).expect("a registration file");
    let meta = model.harness.pebble(unit).file_meta(&path).expect("file metadata");
    assert_eq!(meta.permissions, 0o600, "registration file mode");
    assert_eq!((meta.user_id, meta.group_id), (991, 991), "registration file owner");
    text
}

/// Every unit of `app` is ready and read the shared secret that is in homeserver.yaml.
fn assert_requirer_ready(model: &MatrixModel, app: &str) {
    let shared = sha256(model.registration_shared_secret(UNIT0));
    for unit in model.harness.sim.app(app).unwrap().unit_names() {
        assert_eq!(model.status(unit), ready(), "{unit}");
        let state = model.state(unit);
        assert_eq!(state[STATE_HOMESERVER], HOMESERVER, "{unit}");
        assert_eq!(state[STATE_PROVIDER_APP], APP, "{unit}");
        assert_eq!(state[STATE_SHARED_SECRET], shared, "{unit} read another shared secret");
    }
}

#[test]
fn an_irc_style_bridge_gets_its_registration_into_synapse() {
    let mut model = MatrixModel::new(1);
    model.deploy_rust("irc", 1, &[]);
    assert_eq!(model.status("irc/0"), ("blocked".into(), MISSING.into()));
    let starts = model.synapse_starts(UNIT0);

    let (relation, _) = model.integrate("irc");
    assert_requirer_ready(&model, "irc");
    let text = assert_registration_delivered(&model, UNIT0, relation, "irc");
    assert_eq!(model.app_service_config_files(UNIT0), [registration_path(relation)]);
    assert_eq!(model.synapse_starts(UNIT0), starts + 1, "one restart loads the registration");
    assert_eq!(model.status(UNIT0).0, "active");

    let registration = Registration::parse(&text).expect("a valid registration");
    assert_eq!(registration.url(), Some("http://irc.test-model.svc.cluster.local:8090"));
    let regexes: Vec<&str> =
        registration.namespaces().map(|(_, namespace)| namespace.regex.as_str()).collect();
    assert_eq!(regexes, [r"@libera_.*:example\.com", r"#libera_.*:example\.com"]);
    assert!(text.starts_with("# Appservice registration of irc — generated"), "the non-ASCII dash arrived");

    // Nothing changes, so nothing is sent and Synapse keeps running.
    let runs = model.update_status();
    assert_eq!(relation_sets(&runs, "irc"), 0);
    assert_eq!(model.synapse_starts(UNIT0), starts + 1);
}

#[test]
fn a_maubot_style_requirer_reads_homeserver_and_shared_secret_only() {
    let mut model = MatrixModel::new(1);
    model.deploy_rust("maubot", 1, &[("mode", json!("unidirectional"))]);
    let starts = model.synapse_starts(UNIT0);
    let (relation, runs) = model.integrate("maubot");
    assert_requirer_ready(&model, "maubot");
    assert_eq!(relation_sets(&runs, "maubot"), 0, "maubot writes nothing");
    assert!(model.app_bag(relation, "maubot").is_empty());
    assert!(!model.state("maubot/0").contains_key(STATE_REGISTRATION));
    assert_eq!(model.registration_file(UNIT0, relation), None);
    assert!(model.app_service_config_files(UNIT0).is_empty());
    assert_eq!(model.synapse_starts(UNIT0), starts, "nothing for Synapse to load");
}

#[test]
fn two_bridges_and_a_bot_at_once() {
    let mut model = MatrixModel::new(1);
    model.deploy_rust("irc", 1, &[]);
    model.deploy_rust(
        "oftc",
        1,
        &[("namespace-prefix", json!("oftc_")), ("bot-nickname", json!("oftc-bot"))],
    );
    model.deploy_rust("maubot", 1, &[("mode", json!("unidirectional"))]);
    let (irc, _) = model.integrate("irc");
    let (oftc, _) = model.integrate("oftc");
    let (maubot, _) = model.integrate("maubot");
    for app in ["irc", "oftc", "maubot"] {
        assert_requirer_ready(&model, app);
    }
    let irc_text = assert_registration_delivered(&model, UNIT0, irc, "irc");
    let oftc_text = assert_registration_delivered(&model, UNIT0, oftc, "oftc");
    assert_eq!(model.registration_file(UNIT0, maubot), None);
    let ids = [&irc_text, &oftc_text].map(|text| Registration::parse(text).unwrap().id().to_string());
    assert_ne!(ids[0], ids[1]);
    let mut files = model.app_service_config_files(UNIT0);
    files.sort();
    let mut expected = vec![registration_path(irc), registration_path(oftc)];
    expected.sort();
    assert_eq!(files, expected);
    assert_eq!(model.status(UNIT0).0, "active", "{:?}", model.status(UNIT0));
}

#[test]
fn removing_the_relation_unregisters_the_bridge_and_a_new_relation_starts_afresh() {
    let mut model = MatrixModel::new(1);
    model.deploy_rust("irc", 1, &[]);
    let (relation, _) = model.integrate("irc");
    assert_registration_delivered(&model, UNIT0, relation, "irc");
    let old_key = model.encryption_key();
    let starts = model.synapse_starts(UNIT0);

    let runs = model.harness.sim.remove_relation(relation).expect("remove-relation runs");
    assert_hooks_succeeded(&runs);
    assert_eq!(model.status("irc/0"), ("blocked".into(), MISSING.into()));
    assert!(model.state("irc/0").is_empty(), "the requirer forgot the provider: {:?}", model.state("irc/0"));
    assert_eq!(model.registration_file(UNIT0, relation), None, "the registration file is gone");
    assert!(model.app_service_config_files(UNIT0).is_empty());
    assert_eq!(model.synapse_starts(UNIT0), starts + 1, "Synapse restarted without the bridge");
    assert_eq!(model.status(UNIT0).0, "active");
    let labels: Vec<Option<String>> =
        model.harness.sim.model().secrets.values().map(|secret| secret.label.clone()).collect();
    for label in ["shared-secret", "encryption-key-secret"] {
        assert!(!labels.contains(&Some(label.into())), "{label} outlived the last matrix-auth relation");
    }

    let (again, _) = model.integrate("irc");
    assert_ne!(again, relation);
    assert_requirer_ready(&model, "irc");
    assert_registration_delivered(&model, UNIT0, again, "irc");
    assert_eq!(model.app_service_config_files(UNIT0), [registration_path(again)]);
    assert_ne!(
        model.encryption_key().expose_secret(),
        old_key.expose_secret(),
        "a new key for the new relation"
    );
    assert!(model.app_bag(again, "irc").contains_key(REGISTRATION_KEY));
}

#[test]
fn a_clashing_bridge_is_refused_by_name_without_costing_the_first_its_registration() {
    let mut model = MatrixModel::new(1);
    model.deploy_rust("libera", 1, &[]);
    model.deploy_rust("libera-again", 1, &[]);
    let (first, _) = model.integrate("libera");
    let (second, _) = model.integrate("libera-again");
    assert_registration_delivered(&model, UNIT0, first, "libera");
    assert_eq!(model.registration_file(UNIT0, second), None, "the clashing registration is not loaded");
    assert_eq!(model.app_service_config_files(UNIT0), [registration_path(first)]);
    let (_, message) = model.status(UNIT0);
    assert!(
        message.starts_with("matrix-auth: registration from libera-again rejected: "),
        "Synapse names the application and the reason: {message:?}"
    );

    model.configure(
        "libera-again",
        &[("namespace-prefix", json!("again_")), ("bot-nickname", json!("again-bot"))],
    );
    assert_registration_delivered(&model, UNIT0, first, "libera");
    assert_registration_delivered(&model, UNIT0, second, "libera-again");
    assert_eq!(model.status(UNIT0), ("active".into(), String::new()));
}
