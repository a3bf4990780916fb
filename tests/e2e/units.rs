//! Two units of one application render their configuration from the same application
//! secrets: the secret-bearing files are identical on both, Synapse's loader accepts both,
//! and the second unit's registration shared secret registers users on the first's Synapse.

use std::fs;

use secrecy::SecretString;
use synapse_admin::{generate_password, AdminClient, UserId};

use crate::model::{load_with_pyyaml, loopback_config, E2e, Services};
use crate::support::SERVER_NAME;

const UNITS: [&str; 2] = ["synapse/0", "synapse/1"];

#[test]
fn two_units_render_the_same_secrets() {
    let mut e2e = E2e::new();
    e2e.deploy(&[Services::Real, Services::Simulated], &loopback_config());
    for unit in UNITS {
        assert_eq!(
            e2e.harness.status(unit),
            ("active".into(), String::new()),
            "{unit}: {}",
            e2e.charm_problems(unit)
        );
    }
    let [first, second] =
        UNITS.map(|unit| load_with_pyyaml(&e2e.container_path(unit, "/data/homeserver.yaml")));
    for key in ["registration_shared_secret", "macaroon_secret_key", "form_secret"] {
        let value = first[key].as_str().unwrap_or_else(|| panic!("{key} is not a string"));
        assert!(value.len() >= 32, "{key} is too short");
        assert_eq!(first[key], second[key], "{key} differs between the units");
    }
    let key_file = format!("/data/{SERVER_NAME}.signing.key");
    let [key0, key1] = UNITS.map(|unit| fs::read(e2e.container_path(unit, &key_file)).expect("signing key"));
    assert!(key0.starts_with(b"ed25519 a_"), "not a signing key");
    assert_eq!(key0, key1, "the signing keys differ");
    let [file0, file1] = UNITS
        .map(|unit| fs::read(e2e.container_path(unit, "/data/homeserver.yaml")).expect("homeserver.yaml"));
    assert_eq!(file0, file1, "the units render different homeserver.yaml files");

    e2e.wait_for_synapse(UNITS[0]);
    let shared =
        SecretString::from(second["registration_shared_secret"].as_str().expect("a string").to_string());
    let client = AdminClient::new(synapse_admin::DEFAULT_BASE_URL).expect("a client");
    let user = UserId::new("erin", SERVER_NAME).expect("a user id");
    let registered =
        client.register(&shared, &user, &generate_password(), false).expect("registration works");
    assert_eq!(registered.user_id, "@erin:example.com");
}
