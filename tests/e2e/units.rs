//! Two units of one application: until scale-out exists (it needs PostgreSQL and Redis), the
//! charm refuses to split the server. Both units are Blocked saying why, only the first unit
//! runs real Synapse with the application's secrets, the second writes nothing, and scaling
//! back to one unit makes the first active again without a restart.

use secrecy::SecretString;
use synapse_admin::{generate_password, AdminClient, UserId};

use crate::model::{load_with_pyyaml, loopback_config, E2e, Services};
use crate::support::SERVER_NAME;

const UNITS: [&str; 2] = ["synapse/0", "synapse/1"];

#[test]
fn a_second_unit_is_refused_and_the_first_keeps_serving() {
    let mut e2e = E2e::new();
    e2e.deploy(&[Services::Real, Services::Simulated], &loopback_config());
    for unit in UNITS {
        let (kind, message) = e2e.harness.status(unit);
        assert_eq!(kind, "blocked", "{unit}: {}", e2e.charm_problems(unit));
        assert!(
            message.starts_with("2 units planned") && message.contains("only synapse/0 serves"),
            "{message}"
        );
    }
    assert!(
        !e2e.container_path(UNITS[1], "/data/homeserver.yaml").exists(),
        "the second unit wrote a server"
    );
    assert_eq!(e2e.pebble(UNITS[1]).service_starts("synapse"), 0);

    let first = load_with_pyyaml(&e2e.container_path(UNITS[0], "/data/homeserver.yaml"));
    e2e.wait_for_synapse(UNITS[0]);
    let shared =
        SecretString::from(first["registration_shared_secret"].as_str().expect("a string").to_string());
    let client = AdminClient::new(&crate::http::synapse_url()).expect("a client");
    let user = UserId::new("erin", SERVER_NAME).expect("a user id");
    let registered =
        client.register(&shared, &user, &generate_password(), false).expect("registration works");
    assert_eq!(registered.user_id, "@erin:example.com");

    let starts = e2e.pebble(UNITS[0]).service_starts("synapse");
    for run in e2e.harness.sim.remove_unit(UNITS[1]).expect("scale down") {
        assert!(run.succeeded(), "{} on {}: {}", run.hook, run.unit, run.stderr);
    }
    for run in e2e.harness.sim.update_status().expect("update-status") {
        assert!(run.succeeded(), "{}: {}", run.hook, run.stderr);
    }
    assert_eq!(
        e2e.harness.status(UNITS[0]),
        ("active".into(), String::new()),
        "{}",
        e2e.charm_problems(UNITS[0])
    );
    assert_eq!(e2e.pebble(UNITS[0]).service_starts("synapse"), starts, "no restart");
}
