//! The Synapse charm and a requirer written in Python on the real `ops` library, with
//! `cryptography`'s Fernet and pydantic (tests/python/requirer_charm), in one simulated model,
//! under ops 3 and ops 2. The bridge's registration carries 2-, 3- and 4-byte UTF-8
//! characters, so any str/bytes or encoding slip between Python and Rust shows as a file that
//! differs from what Python encrypted.

mod support;

use serde_json::json;
use support::requirers::*;
use support::APP;

const UNIT0: &str = "synapse/0";
const READY: &str = "ready: https://example.com";
/// The comment line the Python charm puts at the top of its registration.
const PYTHON_HEADER: &str = "# Registrierung der Brücke — Grüße aus Python ✓ 🌉\n";

fn python_requirers(profile: &str) {
    let mut model = MatrixModel::new(1);
    model.deploy_python("pyirc", profile, &[]);
    model.deploy_python("pybot", profile, &[("mode", json!("unidirectional"))]);
    assert_eq!(model.status("pyirc/0"), ("blocked".into(), "matrix-auth relation missing".into()));
    let (bridge, _) = model.integrate("pyirc");
    let (bot, _) = model.integrate("pybot");
    let shared = sha256(model.registration_shared_secret(UNIT0));

    // IRC-bridge style: what Python encrypted is, byte for byte, what Synapse was given.
    assert_eq!(model.status("pyirc/0"), ("active".into(), READY.into()));
    let state = model.state("pyirc/0");
    assert_eq!(state[STATE_SHARED_SECRET], shared);
    assert_eq!(state[STATE_PROVIDER_APP], APP);
    let file =
        model.registration_file(UNIT0, bridge).expect("Synapse holds the Python bridge's registration");
    assert_eq!(sha256(&file), state[STATE_REGISTRATION], "the file differs from what Python encrypted");
    assert!(file.starts_with(PYTHON_HEADER.as_bytes()), "{}", String::from_utf8_lossy(&file));
    let url = "url: http://pyirc.test-model.svc.cluster.local:8090/brücke\n";
    assert!(String::from_utf8(file.clone()).expect("UTF-8").contains(url));
    let decrypted = model.published_registration(bridge, "pyirc").expect("a registration");
    assert_eq!(decrypted.as_bytes(), file, "Rust decrypts Python's token to the file's bytes");
    assert_eq!(model.app_service_config_files(UNIT0), [registration_path(bridge)]);

    // maubot style: the homeserver and the very shared secret of homeserver.yaml.
    assert_eq!(model.status("pybot/0"), ("active".into(), READY.into()));
    let state = model.state("pybot/0");
    assert_eq!(state[STATE_HOMESERVER], "https://example.com");
    assert_eq!(state[STATE_SHARED_SECRET], shared);
    assert!(model.app_bag(bot, "pybot").is_empty(), "the bot writes nothing");
    assert_eq!(model.registration_file(UNIT0, bot), None);

    // Python compares plaintexts too: nothing is re-sent, nothing restarts.
    let starts = model.synapse_starts(UNIT0);
    let runs = model.update_status();
    assert_eq!(relation_sets(&runs, "pyirc") + relation_sets(&runs, "pybot"), 0);
    assert_eq!(model.synapse_starts(UNIT0), starts);
    assert_eq!(model.status(UNIT0).0, "active", "{:?}", model.status(UNIT0));
}

#[test]
fn python_requirers_on_ops_3() {
    python_requirers("ops");
}

#[test]
fn python_requirers_on_ops_2() {
    python_requirers("ops2");
}
