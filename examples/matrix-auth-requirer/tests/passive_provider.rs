//! The example charm's binary run by the simulated Juju against a provider the test plays
//! (a passive application whose databag and secrets the test writes), so every state of the
//! provider's data can be reached, including the incomplete ones real providers pass through.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use juju_sim::charm::CharmMeta;
use juju_sim::model::{Bag, GrantTarget, SecretOwner};
use juju_sim::{AppSpec, HookRun, Simulator};
use matrix_auth::protocol::*;
use matrix_auth::Registration;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

const HOMESERVER: &str = "https://matrix.example.com";
const SHARED: &str = "shared;secret:value-0123456789^&*-_+=#~@abcdefghij";
/// Hex SHA-256 of `SHARED` (python3 -c 'import hashlib; print(hashlib.sha256(b"...").hexdigest())').
const SHARED_SHA256: &str = "b25e3dade8f6f2b7fde17c8be253eca36b4497680d938a47ddd4402ffc4cb6e3";

/// The charm directory Juju would unpack: metadata, config, dispatch and the binary.
fn charm_dir() -> tempfile::TempDir {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    for file in ["metadata.yaml", "config.yaml", "dispatch"] {
        std::fs::copy(source.join(file), dir.path().join(file)).expect("copy charm file");
    }
    std::fs::create_dir(dir.path().join("bin")).expect("bin dir");
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_matrix-auth-requirer"),
        dir.path().join("bin/matrix-auth-requirer"),
    )
    .expect("link the binary");
    dir
}

struct Model {
    sim: Simulator,
    _charm: tempfile::TempDir,
    key: SecretString,
}

impl Model {
    /// A passive `synapse` and the example charm as `irc` with `units` units.
    fn new(units: u32, config: &[(&str, Value)]) -> Self {
        let charm = charm_dir();
        let mut sim = Simulator::new().expect("simulator");
        let meta =
            CharmMeta::from_yaml("name: synapse\nprovides:\n  matrix-auth:\n    interface: matrix_auth\n")
                .expect("metadata");
        sim.add_app(AppSpec::passive("synapse", meta)).expect("synapse");
        let mut spec = AppSpec::charm("irc", charm.path()).units(units);
        for (key, value) in config {
            spec = spec.config(*key, value.clone());
        }
        sim.deploy(spec).expect("deploy");
        Self { sim, _charm: charm, key: matrix_auth::generate_key() }
    }

    fn relate(&mut self) -> u32 {
        self.sim.integrate("irc", "synapse").expect("integrate").0
    }

    fn status(&self, unit: &str) -> (String, String) {
        let status = self.sim.unit_status(unit).expect("unit");
        (status.status.clone(), status.message.clone())
    }

    fn state(&self, unit: &str) -> BTreeMap<String, String> {
        self.sim.state(unit).expect("unit").clone()
    }

    fn bag(&self, relation: u32, app: &str) -> BTreeMap<String, String> {
        self.sim.relation_data(relation, &Bag::App(app.into())).expect("relation")
    }

    /// Writes the provider's bag as its leader would; returns the hooks that ran.
    fn provider_writes(&mut self, relation: u32, data: &[(&str, &str)]) -> Vec<HookRun> {
        let data = data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.sim.set_relation_data(relation, Bag::App("synapse".into()), data).expect("hooks succeed")
    }

    /// A provider secret with one content key; granted to `irc` over `relation` if asked.
    fn provider_secret(&mut self, relation: u32, key: &str, value: &str, grant: bool) -> String {
        let content = BTreeMap::from([(key.to_string(), value.to_string())]);
        let uri =
            self.sim.add_secret(SecretOwner::Application("synapse".into()), content, None).expect("secret");
        if grant {
            self.sim.grant_secret(&uri, relation, GrantTarget::Application("irc".into())).expect("grant");
        }
        uri
    }

    /// Everything a v1 provider publishes, granted.
    fn provider_publishes(&mut self, relation: u32) -> Vec<HookRun> {
        let shared = self.provider_secret(relation, SHARED_SECRET_CONTENT, SHARED, true);
        let key = self.key.expose_secret().to_string();
        let key = self.provider_secret(relation, ENCRYPTION_KEY_CONTENT, &key, true);
        self.provider_writes(
            relation,
            &[
                (HOMESERVER_KEY, HOMESERVER),
                (SHARED_SECRET_ID_KEY, &shared),
                (ENCRYPTION_KEY_SECRET_ID_KEY, &key),
            ],
        )
    }

    /// The registration the requirer published, decrypted with the provider's key.
    fn registration(&self, relation: u32) -> Option<String> {
        let token = self.bag(relation, "irc").remove(REGISTRATION_KEY)?;
        let text =
            matrix_auth::decrypt_string(&self.key, &token).expect("a token made with the provider's key");
        Some(text.expose_secret().to_string())
    }
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn relation_sets(runs: &[HookRun], unit: &str) -> usize {
    runs.iter().filter(|run| run.unit == unit).map(|run| run.count("relation-set")).sum()
}

#[test]
fn blocked_without_relation_waiting_on_incomplete_data_ready_when_complete() {
    let mut model = Model::new(1, &[]);
    assert_eq!(model.status("irc/0"), ("blocked".into(), "matrix-auth relation missing".into()));
    let relation = model.relate();
    let waiting = ("waiting".to_string(), "waiting for matrix-auth provider data".to_string());
    assert_eq!(model.status("irc/0"), waiting);

    // Every incomplete state is Waiting, never a failed hook (the runs above would have failed).
    model.provider_writes(relation, &[(SHARED_SECRET_ID_KEY, "secret:coj8mulh8b41e8nv6p90")]);
    assert_eq!(model.status("irc/0"), waiting, "no homeserver yet");
    model.provider_writes(relation, &[(HOMESERVER_KEY, HOMESERVER)]);
    assert_eq!(model.status("irc/0"), waiting, "the secret does not exist");
    let ungranted = model.provider_secret(relation, SHARED_SECRET_CONTENT, SHARED, false);
    model.provider_writes(relation, &[(SHARED_SECRET_ID_KEY, &ungranted)]);
    assert_eq!(model.status("irc/0"), waiting, "the secret is not granted");
    assert!(model.state("irc/0").is_empty(), "nothing recorded before the data is complete");

    model.provider_publishes(relation);
    assert_eq!(model.status("irc/0"), ("active".into(), format!("ready: {HOMESERVER}")));
    assert_eq!(model.sim.app_status("irc").unwrap().message, format!("ready: {HOMESERVER}"));
    let state = model.state("irc/0");
    assert_eq!(state["homeserver"], HOMESERVER);
    assert_eq!(state["provider-app"], "synapse");
    assert_eq!(state["shared-secret-sha256"], SHARED_SHA256);
    for record in model.sim.logs("irc/0") {
        assert!(!format!("{record:?}").contains(SHARED), "the shared secret was logged: {record:?}");
    }
}

#[test]
fn bridge_publishes_an_irc_style_registration_once() {
    let mut model = Model::new(1, &[("bot-nickname", "ircbot".into())]);
    let relation = model.relate();
    let runs = model.provider_publishes(relation);
    assert_eq!(relation_sets(&runs, "irc/0"), 1, "published exactly once");
    let text = model.registration(relation).expect("a registration");
    let registration = Registration::parse(&text).expect("Synapse loads it");
    let hex64 =
        |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    assert!(hex64(registration.id()) && hex64(registration.as_token().expose_secret()));
    assert!(hex64(registration.hs_token().expose_secret()));
    assert_eq!(registration.url(), Some("http://irc.test-model.svc.cluster.local:8090"));
    assert_eq!(registration.sender_localpart(), "ircbot");
    let regexes: Vec<&str> = registration.namespaces().map(|(_, ns)| ns.regex.as_str()).collect();
    assert_eq!(regexes, [r"@libera_.*:matrix\.example\.com", r"#libera_.*:matrix\.example\.com"]);
    assert_eq!(model.state("irc/0")["registration-sha256"], sha256(&text));

    // Later reconciles send nothing: the plaintext is the same, so the provider is not woken.
    let token = model.bag(relation, "irc")[REGISTRATION_KEY].clone();
    let runs = model.sim.update_status().expect("update-status");
    assert_eq!(relation_sets(&runs, "irc/0"), 0);
    assert_eq!(model.bag(relation, "irc")[REGISTRATION_KEY], token);

    // A config change that alters the text is published.
    let runs = model
        .sim
        .set_config("irc", BTreeMap::from([("external-url".into(), "https://irc.example.com/brücke".into())]))
        .expect("config-changed");
    assert_eq!(relation_sets(&runs, "irc/0"), 1);
    let changed = model.registration(relation).expect("a registration");
    assert!(changed.contains("url: \"https://irc.example.com/brücke\""), "{changed}");
    assert_eq!(Registration::parse(&changed).unwrap().id(), registration.id(), "stable tokens are kept");
}

#[test]
fn rotate_tokens_sends_new_tokens_on_every_reconcile() {
    let mut model = Model::new(1, &[("rotate-tokens", true.into())]);
    let relation = model.relate();
    model.provider_publishes(relation);
    let (mut ids, mut as_tokens) = (BTreeSet::new(), BTreeSet::new());
    for _ in 0..3 {
        let text = model.registration(relation).expect("a registration");
        let registration = Registration::parse(&text).unwrap();
        ids.insert(registration.id().to_string());
        as_tokens.insert(registration.as_token().expose_secret().to_string());
        let runs = model.sim.update_status().expect("update-status");
        assert_eq!(relation_sets(&runs, "irc/0"), 1, "each reconcile publishes");
    }
    assert_eq!((ids.len(), as_tokens.len()), (3, 3), "id and as_token differ every time");
}

#[test]
fn only_the_leader_publishes_and_a_new_leader_keeps_the_registration() {
    let mut model = Model::new(2, &[]);
    let relation = model.relate();
    let runs = model.provider_publishes(relation);
    assert_eq!(relation_sets(&runs, "irc/1"), 0, "a non-leader never writes the app bag");
    let text = model.registration(relation).expect("a registration");
    for unit in ["irc/0", "irc/1"] {
        assert_eq!(model.status(unit).0, "active", "{unit}");
        assert_eq!(model.state(unit)["shared-secret-sha256"], SHARED_SHA256, "{unit}");
    }
    assert!(!model.state("irc/1").contains_key("registration-sha256"));

    let runs = model.sim.set_leader("irc/1").expect("leader change");
    let runs: Vec<HookRun> =
        runs.into_iter().chain(model.sim.update_status().expect("update-status")).collect();
    assert_eq!(
        relation_sets(&runs, "irc/1"),
        0,
        "the new leader sends the same registration: nothing to write"
    );
    assert_eq!(model.registration(relation).as_deref(), Some(text.as_str()));
    assert_eq!(model.state("irc/1")["registration-sha256"], sha256(&text));

    let (unit, runs) = model.sim.add_unit("irc").expect("scale up");
    assert_eq!(relation_sets(&runs, &unit), 0);
    assert_eq!(model.status(&unit), ("active".into(), format!("ready: {HOMESERVER}")));
    assert_eq!(model.state(&unit)["homeserver"], HOMESERVER);
}

#[test]
fn unidirectional_mode_sends_nothing_and_withdraws_an_earlier_registration() {
    let mut model = Model::new(1, &[]);
    let relation = model.relate();
    model.provider_publishes(relation);
    assert!(model.registration(relation).is_some());
    model.sim.set_config("irc", BTreeMap::from([("mode".into(), "unidirectional".into())])).expect("config");
    assert_eq!(model.registration(relation), None, "withdrawn");
    assert_eq!(model.status("irc/0"), ("active".into(), format!("ready: {HOMESERVER}")));
    let state = model.state("irc/0");
    assert_eq!(state["shared-secret-sha256"], SHARED_SHA256);
    assert!(!state.contains_key("registration-sha256"));
    let runs = model.sim.update_status().expect("update-status");
    assert_eq!(relation_sets(&runs, "irc/0"), 0);
}

#[test]
fn a_v0_provider_blocks_a_bridge_but_serves_a_bot() {
    let mut model = Model::new(1, &[]);
    let relation = model.relate();
    let shared = model.provider_secret(relation, SHARED_SECRET_CONTENT, SHARED, true);
    model.provider_writes(relation, &[(HOMESERVER_KEY, HOMESERVER), (SHARED_SECRET_ID_KEY, &shared)]);
    assert_eq!(
        model.status("irc/0"),
        ("blocked".into(), "matrix-auth provider takes no registration (no encryption key)".into())
    );
    model.sim.set_config("irc", BTreeMap::from([("mode".into(), "unidirectional".into())])).expect("config");
    assert_eq!(model.status("irc/0"), ("active".into(), format!("ready: {HOMESERVER}")));
}

#[test]
fn invalid_options_block_without_failing_the_hook() {
    let mut model = Model::new(1, &[("mode", "sideways".into())]);
    let (status, message) = model.status("irc/0");
    assert_eq!(status, "blocked");
    assert!(message.starts_with("invalid config: mode must be"), "{message}");
    model.sim.set_config("irc", BTreeMap::from([("mode".into(), Value::Null)])).expect("config");
    assert_eq!(model.status("irc/0").1, "matrix-auth relation missing");
}

#[test]
fn removing_the_relation_blocks_and_forgets_what_was_received() {
    let mut model = Model::new(1, &[]);
    let relation = model.relate();
    model.provider_publishes(relation);
    assert!(!model.state("irc/0").is_empty());
    model.sim.remove_relation(relation).expect("remove-relation");
    assert_eq!(model.status("irc/0"), ("blocked".into(), "matrix-auth relation missing".into()));
    assert!(model.state("irc/0").is_empty(), "{:?}", model.state("irc/0"));
}
