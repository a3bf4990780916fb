//! The charm as a drop-in for a Synapse it did not set up: `/data` made by real Synapse the
//! way Synapse's image lays it out (`--generate-config`, then Synapse run once: its SQLite
//! database, a user registered through the shared-secret admin API), then the charm takes
//! over the unit's pod (as after `juju refresh`: Pebble restarts with an empty plan over the
//! same `/data`). The server keeps its identity: the same signing key, the same secrets, the
//! same users, and the upstream charm's admin token for the user actions.

use std::collections::BTreeMap;
use std::time::Duration;

use juju_sim::model::{Bag, SecretOwner};
use pebble::{ExecRequest, Layer};
use secrecy::ExposeSecret as _;
use serde_json::{json, Value};
use test_support::{assert_hooks_succeeded, poll_until};

use crate::matrix::{self, user_id};
use crate::model::{loopback_config, E2e, Services};
use crate::support::{APP, SERVER_NAME};

const UNIT: &str = "synapse/0";
/// How long Synapse may take to come up on a loaded machine.
const STARTUP: Duration = Duration::from_secs(180);

/// Runs `argv` in the unit's container (`python3` is the venv's, in the pod, with the unit's
/// data at `/data`) as `uid`; panics with its output when it fails.
fn run(e2e: &E2e, argv: &[&str], uid: Option<u32>) -> String {
    let request = ExecRequest {
        user_id: uid,
        group_id: uid,
        working_dir: Some("/data".into()),
        timeout: Some(Duration::from_secs(300)),
        ..ExecRequest::new(argv.iter().copied())
    };
    let output = e2e.pebble_client(UNIT).exec(&request).expect("Pebble runs the command");
    assert!(
        output.success(),
        "{argv:?} failed ({}):\n{}\n{}",
        output.exit_code,
        output.stdout_text(),
        output.stderr_text()
    );
    output.stdout_text()
}

/// `GET <path>` on the Synapse of the pod from inside it (the generated configuration
/// listens on loopback only): the JSON answer, or `None` while it does not answer.
fn get_inside(e2e: &E2e, path: &str) -> Option<Value> {
    let script = "import sys, urllib.request\n\
                  try:\n    print(urllib.request.urlopen('http://localhost:8008' + sys.argv[1], timeout=5).read().decode())\n\
                  except Exception:\n    sys.exit(1)\n";
    let request = ExecRequest {
        timeout: Some(Duration::from_secs(30)),
        ..ExecRequest::new(["python3", "-c", script, path])
    };
    let output = e2e.pebble_client(UNIT).exec(&request).ok()?;
    output.success().then(|| serde_json::from_str(&output.stdout_text()).unwrap_or(Value::Null))
}

/// The server's published keys (`/_matrix/key/v2/server`): key id → public key.
fn verify_keys(answer: &Value) -> Value {
    answer["verify_keys"].clone()
}

#[test]
fn dropin_a_server_made_by_synapse_itself_keeps_its_identity_and_users() {
    let mut e2e = E2e::new();
    // `juju refresh` onto the unit while its pod restarts: the charm's hooks run before its
    // container's Pebble answers, and generate nothing.
    e2e.deploy_before_pebble(&loopback_config());
    assert!(e2e.harness.sim.model().secrets.is_empty(), "no identity is generated before /data is seen");

    // /data as Synapse's image makes it, as the synapse user.
    e2e.start_pebble(UNIT, Services::Real);
    run(&e2e, &["chown", "991:991", "/data"], None);
    run(
        &e2e,
        &[
            "python3",
            "-m",
            "synapse.app.homeserver",
            "--generate-config",
            "--server-name",
            SERVER_NAME,
            "--config-path",
            "/data/homeserver.yaml",
            "--data-directory",
            "/data",
            "--report-stats=no",
        ],
        Some(991),
    );
    let generated: Value = safe_yaml::from_str(
        &std::fs::read_to_string(e2e.container_path(UNIT, "/data/homeserver.yaml")).unwrap(),
    )
    .unwrap();
    let signing_key =
        std::fs::read_to_string(e2e.container_path(UNIT, "/data/example.com.signing.key")).unwrap();
    let key_id = format!("ed25519:{}", signing_key.split(' ').nth(1).expect("a key id"));

    // Synapse runs once on it, as the image's `/start.py` runs it: its SQLite database, and
    // a user registered through the shared-secret admin API.
    let layer: Layer = serde_json::from_value(json!({"services": {"synapse": {
        "override": "replace", "command": "/start.py", "startup": "enabled",
        "environment": {"SYNAPSE_CONFIG_PATH": "/data/homeserver.yaml"}}}}))
    .unwrap();
    let pebble = e2e.pebble_client(UNIT);
    pebble.add_layer("synapse", &layer, true).unwrap();
    pebble.replan().unwrap();
    let published =
        poll_until(STARTUP, Duration::from_millis(500), || get_inside(&e2e, "/_matrix/key/v2/server"))
            .unwrap_or_else(|| {
                panic!("Synapse made by --generate-config did not answer:\n{}", e2e.synapse_log(UNIT))
            });
    assert!(verify_keys(&published).get(&key_id).is_some(), "{published}");
    let password = "alice-password-0123456789";
    run(
        &e2e,
        &[
            "python3",
            "-m",
            "synapse._scripts.register_new_matrix_user",
            "-c",
            "/data/homeserver.yaml",
            "-u",
            "alice",
            "-p",
            password,
            "--no-admin",
            "http://localhost:8008",
        ],
        Some(991),
    );
    // The upstream charm's admin user, whose token it kept in an unlabelled application
    // secret announced in the peer bag as `secret-id` (content key `secret-key`).
    let root_password = "root-password-0123456789";
    run(
        &e2e,
        &[
            "python3",
            "-m",
            "synapse._scripts.register_new_matrix_user",
            "-c",
            "/data/homeserver.yaml",
            "-u",
            "root",
            "-p",
            root_password,
            "--admin",
            "http://localhost:8008",
        ],
        Some(991),
    );
    // The generated configuration listens on loopback only: log in from inside the pod.
    let login = "import json, sys, urllib.request\n\
                 body = json.dumps({'type': 'm.login.password', 'identifier': {'type': 'm.id.user', 'user': sys.argv[1]}, 'password': sys.argv[2]}).encode()\n\
                 request = urllib.request.Request('http://localhost:8008/_matrix/client/v3/login', data=body, headers={'Content-Type': 'application/json'})\n\
                 print(json.load(urllib.request.urlopen(request, timeout=30))['access_token'])\n";
    let root_token = run(&e2e, &["python3", "-c", login, "root", root_password], None).trim().to_string();
    let upstream_secret = e2e
        .harness
        .sim
        .add_secret(
            SecretOwner::Application(APP.into()),
            BTreeMap::from([("secret-key".to_string(), root_token.clone())]),
            None,
        )
        .expect("the upstream admin token secret");
    let peers = *e2e
        .harness
        .sim
        .model()
        .relations
        .iter()
        .find(|(_, relation)| relation.ends.iter().any(|end| end.endpoint == "synapse-peers"))
        .expect("the peer relation")
        .0;
    let bag = BTreeMap::from([("secret-id".to_string(), upstream_secret)]);
    assert_hooks_succeeded(&e2e.harness.sim.set_relation_data(peers, Bag::App(APP.into()), bag).unwrap());
    pebble.stop(&["synapse"]).unwrap();
    assert!(e2e.container_path(UNIT, "/data/homeserver.db").exists(), "Synapse made its SQLite database");

    // The pod restarts with this charm: an empty plan over the same /data.
    e2e.pebble(UNIT).restart_container();
    e2e.fire_pebble_ready(UNIT);
    e2e.wait_for_synapse(UNIT);
    assert_eq!(e2e.harness.status(UNIT), ("active".into(), String::new()), "{}", e2e.charm_problems(UNIT));

    // The same signing key, id and bytes, in /data and in the charm's secret; Synapse
    // publishes the same public key.
    let now = std::fs::read_to_string(e2e.container_path(UNIT, "/data/example.com.signing.key")).unwrap();
    assert_eq!(now, signing_key);
    let stored = e2e.secret_value(APP, "synapse-app-secrets", "signing-key").expect("the charm's secret");
    assert_eq!(stored.expose_secret(), signing_key.trim());
    let answer = crate::http::synapse("GET", "/_matrix/key/v2/server", None, None).expect("Synapse answers");
    assert_eq!(verify_keys(&answer.json()), verify_keys(&published), "the same public key");
    // The same secrets in the charm's homeserver.yaml.
    let homeserver: Value = safe_yaml::from_str(
        &std::fs::read_to_string(e2e.container_path(UNIT, "/data/homeserver.yaml")).unwrap(),
    )
    .unwrap();
    for key in ["registration_shared_secret", "macaroon_secret_key", "form_secret"] {
        assert_eq!(homeserver[key], generated[key], "{key}");
    }
    assert_eq!(homeserver["database"]["args"]["database"], "/data/homeserver.db");
    assert!(e2e.container_path(UNIT, "/data/.synapse-k8s-charm").exists());

    // The user registered before logs in.
    let token = matrix::login("alice", password).expect("alice logs in with her password");
    assert_eq!(matrix::whoami(&token), Ok(user_id("alice")));

    // The upstream charm's admin token is taken over, not replaced by a new admin user.
    let record = e2e.run_action(UNIT, "promote-user-admin", json!({"username": "alice"}));
    assert_eq!(record.results.get("promote-user-admin").and_then(Value::as_str), Some("true"), "{record:?}");
    let adopted =
        e2e.secret_value(APP, "synapse-admin-token", "access-token").expect("the admin token is stored");
    assert_eq!(adopted.expose_secret(), root_token, "the upstream admin token, kept");
    let username = e2e.secret_value(APP, "synapse-admin-token", "username").expect("its user");
    assert_eq!(username.expose_secret(), "upstream-charm-admin");
}
