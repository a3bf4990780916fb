//! Taking over a deployment of the upstream Python charm (canonical/synapse-operator) on
//! `juju refresh`, through the simulated Juju: the model (peer data, the upstream charm's
//! secrets, the matrix-auth secrets and relation data) and `/data` as the upstream charm left
//! them (`tests/fixtures/upstream`), a passive application with the upstream charm's metadata,
//! then `upgrade` to this charm. The server's identity never changes: the same signing key,
//! registration shared secret and macaroon secret key, the same matrix-auth secrets; or the
//! charm is Blocked and writes nothing.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use juju_sim::model::{GrantTarget, SecretOwner};
use juju_sim::{AppSpec, CharmMeta, Event, HookRun};
use matrix_auth::protocol::{
    ENCRYPTION_KEY_CONTENT, ENCRYPTION_KEY_LABEL, ENCRYPTION_KEY_SECRET_ID_KEY, HOMESERVER_KEY,
    REGISTRATION_KEY, SHARED_SECRET_CONTENT, SHARED_SECRET_ID_KEY, SHARED_SECRET_LABEL,
};
use secrecy::ExposeSecret as _;
use serde_json::{json, Value};
use support::passive_requirers::registration;
use support::{Harness, APP, CONTAINER, SERVER_NAME};
use test_support::assert_hooks_succeeded;

const UNIT: &str = "synapse/0";
const PEERS: &str = "synapse-peers";
const MARKER: &str = "/data/.synapse-k8s-charm";
const POSTGRESQL: &str = "postgresql-k8s";
const BRIDGE: &str = "irc";

/// The deployments of the upstream charm the fixtures describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Era {
    /// Mid-2024, SQLite: an unlabelled signing key secret named by `secret-signing-id`, no
    /// macaroon secret; the keys in `/data`.
    Y2024,
    /// 2025, PostgreSQL: the signing and macaroon secrets labelled `synapse-signing-key` and
    /// `synapse-macaroon-key`, named by `secret-signing-id` and `secret-macaroon-id` too.
    Y2025,
}

impl Era {
    fn dir(self) -> PathBuf {
        let name = match self {
            Self::Y2024 => "2024",
            Self::Y2025 => "2025",
        };
        fixtures().join(name)
    }

    fn signing_key(self) -> String {
        fixture(self, "example.com.signing.key").trim().to_string()
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream")
}

fn fixture(era: Era, name: &str) -> String {
    fs::read_to_string(era.dir().join(name)).unwrap_or_else(|error| panic!("fixture {name}: {error}"))
}

/// The upstream homeserver.yaml of `era`, parsed.
fn upstream_homeserver(era: Era) -> Value {
    safe_yaml::from_str(&fixture(era, "homeserver.yaml")).expect("fixture homeserver.yaml is YAML")
}

/// What to leave out of the upstream state, to see what the charm does without it.
#[derive(Debug, Clone, Copy, Default)]
struct Omit {
    /// The peer data's `secret-signing-id` and `secret-macaroon-id`.
    peer_keys: bool,
    /// Every Juju secret holding the signing key.
    signing_secrets: bool,
    /// The signing key file.
    signing_key_file: bool,
    /// Pebble, while the refresh's hooks run (the pod is being recreated).
    pebble_during_refresh: bool,
}

/// The model and `/data` as the upstream charm left them, before `juju refresh`.
struct Upstream {
    harness: Harness,
    era: Era,
    peers: u32,
    bridge_relation: u32,
    /// The registration the bridge sent (Fernet-encrypted in its bag).
    registration: String,
    /// The matrix-auth secrets' URIs: shared secret, encryption key.
    shared_secret: String,
    encryption_key: String,
    /// The signing key secret's URI, when there is one.
    signing_secret: Option<String>,
}

impl Upstream {
    fn new(era: Era, omit: Omit) -> Self {
        let mut harness = Harness::new();
        // The refresh recreates the pod: its Pebble starts with an empty plan, over the
        // same /data.
        if !omit.pebble_during_refresh {
            harness.start_pebble(UNIT);
        }
        let meta = CharmMeta::load(&fixtures()).expect("the upstream charm's metadata");
        harness.sim.add_app(AppSpec::passive(APP, meta)).expect("the upstream application");
        harness
            .sim
            .model_mut()
            .app_mut(APP)
            .expect("synapse")
            .config
            .insert("server_name".into(), json!(SERVER_NAME));
        let peers = relation_of(&harness, PEERS);

        // The upstream charm's own secrets, and its peer data.
        let mut peer_data = BTreeMap::from([("main_unit_id".to_string(), UNIT.to_string())]);
        let signing_label = (era == Era::Y2025).then(|| "synapse-signing-key".to_string());
        let signing_secret = (!omit.signing_secrets)
            .then(|| add_secret(&mut harness, "secret-signing-key", &era.signing_key(), signing_label));
        if let (Some(uri), false) = (&signing_secret, omit.peer_keys) {
            peer_data.insert("secret-signing-id".into(), uri.clone());
        }
        if era == Era::Y2025 {
            let macaroon = fixture(era, "example.com.macaroon.key");
            let uri = add_secret(
                &mut harness,
                "secret-macaroon-key",
                &macaroon,
                Some("synapse-macaroon-key".into()),
            );
            if !omit.peer_keys {
                peer_data.insert("secret-macaroon-id".into(), uri);
            }
        }
        // The admin token, in its own unlabelled secret (never touched by the refresh).
        let token = add_secret(&mut harness, "secret-key", "syt_YWRtaW4_upstreamAdminToken_0abcde", None);
        peer_data.insert("secret-id".into(), token);
        set_app_bag(&mut harness, peers, APP, peer_data);

        // A bridge on matrix-auth (v1): the provider's secrets and data, its encrypted
        // registration.
        let shared_secret_value =
            upstream_homeserver(era)["registration_shared_secret"].as_str().unwrap().to_string();
        let meta = CharmMeta::from_yaml(&format!(
            "name: {BRIDGE}\nrequires:\n  matrix-auth:\n    interface: matrix_auth\n    limit: 1\n"
        ))
        .unwrap();
        harness.sim.add_app(AppSpec::passive(BRIDGE, meta)).expect("the bridge");
        let bridge_relation = harness
            .sim
            .add_relation(&format!("{BRIDGE}:matrix-auth"), &format!("{APP}:matrix-auth"))
            .unwrap();
        let key = matrix_auth::generate_key();
        let shared_secret = add_secret(
            &mut harness,
            SHARED_SECRET_CONTENT,
            &shared_secret_value,
            Some(SHARED_SECRET_LABEL.into()),
        );
        let encryption_key = add_secret(
            &mut harness,
            ENCRYPTION_KEY_CONTENT,
            key.expose_secret(),
            Some(ENCRYPTION_KEY_LABEL.into()),
        );
        for uri in [&shared_secret, &encryption_key] {
            harness
                .sim
                .grant_secret(uri, bridge_relation, GrantTarget::Application(BRIDGE.into()))
                .expect("granted to the bridge");
        }
        let provider_data = BTreeMap::from([
            (HOMESERVER_KEY.to_string(), format!("https://{SERVER_NAME}")),
            (SHARED_SECRET_ID_KEY.to_string(), shared_secret.clone()),
            (ENCRYPTION_KEY_SECRET_ID_KEY.to_string(), encryption_key.clone()),
        ]);
        set_app_bag(&mut harness, bridge_relation, APP, provider_data);
        let registration = registration("irc", "irc-as-token-0123456789", "irc_");
        let token = matrix_auth::encrypt_string(&key, &registration).unwrap();
        set_app_bag(
            &mut harness,
            bridge_relation,
            BRIDGE,
            BTreeMap::from([(REGISTRATION_KEY.into(), token)]),
        );

        if era == Era::Y2025 {
            support::passive_app::add(&mut harness.sim, POSTGRESQL, "database", "postgresql_client", 1);
            let relation = harness
                .sim
                .add_relation(&format!("{APP}:database"), &format!("{POSTGRESQL}:database"))
                .unwrap();
            let own = [("database", "synapse"), ("extra-user-roles", "SUPERUSER")];
            set_app_bag(&mut harness, relation, APP, own.map(|(k, v)| (k.to_string(), v.to_string())).into());
            let provider = [
                ("endpoints", "10.152.183.20:5432"),
                ("username", "relation_id_7"),
                ("password", "upstream-database-password"),
                ("database", "synapse"),
                ("version", "14.12"),
            ];
            set_app_bag(
                &mut harness,
                relation,
                POSTGRESQL,
                provider.map(|(k, v)| (k.to_string(), v.to_string())).into(),
            );
        }

        let upstream = Self {
            harness,
            era,
            peers,
            bridge_relation,
            registration,
            shared_secret,
            encryption_key,
            signing_secret,
        };
        if !omit.pebble_during_refresh {
            upstream.write_data_dir(omit);
        }
        upstream
    }

    /// `/data` as the upstream charm left it on the unit.
    fn write_data_dir(&self, omit: Omit) {
        let path = |name: &str| self.harness.container_path(UNIT, &format!("/data/{name}"));
        let relation = self.bridge_relation.to_string();
        for name in
            ["homeserver.yaml", "log.config", "example.com.macaroon.key", "example.com.registration.key"]
        {
            let text = fixture(self.era, name).replace("@MATRIX_AUTH_RELATION@", &relation);
            fs::write(path(name), text).unwrap();
        }
        if !omit.signing_key_file {
            fs::write(path("example.com.signing.key"), fixture(self.era, "example.com.signing.key")).unwrap();
        }
        fs::write(path(&self.old_registration_name()), &self.registration).unwrap();
        if self.era == Era::Y2024 {
            fs::write(path("homeserver.db"), b"SQLite format 3\0upstream rooms and users").unwrap();
        }
        fs::create_dir_all(path("media/local_content/ab/cd")).unwrap();
        fs::write(path("media/local_content/ab/cd/efgh"), b"an uploaded picture").unwrap();
        if self.era == Era::Y2025 {
            // The database the upstream charm used, as the inspection finds it: in C, with
            // Synapse's tables.
            support::inspection::script(self.harness.pebble(UNIT), &support::inspection::fit(180));
        }
    }

    fn old_registration_name(&self) -> String {
        format!("appservice-registration-matrix-auth-{}.yaml", self.bridge_relation)
    }

    /// `juju refresh synapse --path ./synapse-k8s.charm`.
    fn refresh(&mut self) -> Vec<HookRun> {
        let charm = self.harness.charm_dir();
        self.harness.sim.upgrade(APP, Some(charm)).expect("refresh runs")
    }

    fn secret_revisions(&self, uri: &str) -> usize {
        self.harness.sim.secret(uri).expect("the secret still exists").revisions.len()
    }

    fn read(&self, path: &str) -> String {
        self.harness.read(UNIT, path)
    }

    fn exists(&self, path: &str) -> bool {
        self.harness.container_path(UNIT, path).exists()
    }
}

fn relation_of(harness: &Harness, endpoint: &str) -> u32 {
    let relations = &harness.sim.model().relations;
    relations
        .values()
        .find(|relation| relation.ends.iter().any(|end| end.endpoint == endpoint))
        .map(|relation| relation.id)
        .unwrap_or_else(|| panic!("no {endpoint} relation"))
}

/// An application secret of the upstream charm: `{key: value}`, labelled or not.
fn add_secret(harness: &mut Harness, key: &str, value: &str, label: Option<String>) -> String {
    let content = BTreeMap::from([(key.to_string(), value.to_string())]);
    harness.sim.add_secret(SecretOwner::Application(APP.into()), content, label).expect("secret added")
}

/// Writes `app`'s bag of `relation` as that application's leader left it (no hook runs).
fn set_app_bag(harness: &mut Harness, relation: u32, app: &str, data: BTreeMap<String, String>) {
    let relation = harness.sim.model_mut().relation_mut(relation).expect("relation exists");
    relation.app_data.entry(app.to_string()).or_default().extend(data);
}

/// Asserts that the charm took the server over with its identity.
fn assert_adopted(upstream: &Upstream) {
    let era = upstream.era;
    let harness = &upstream.harness;
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()), "{:?}", harness.logs(UNIT, "ERROR"));
    let homeserver_before = upstream_homeserver(era);

    // The same signing key (id and bytes) in this charm's secret and in /data.
    let secret = harness.app_secret_content_among_others();
    assert_eq!(secret["signing-key"], era.signing_key());
    assert_eq!(secret["server-name"], SERVER_NAME);
    assert_eq!(upstream.read("/data/example.com.signing.key").trim(), era.signing_key());
    assert_eq!(upstream.read("/data/example.com.signing.key"), fixture(era, "example.com.signing.key"));
    // The same registration shared secret and macaroon secret key in homeserver.yaml.
    let homeserver = harness.homeserver(UNIT);
    assert!(upstream.read("/data/homeserver.yaml").starts_with("# Written by the synapse-k8s charm"));
    for key in ["registration_shared_secret", "macaroon_secret_key"] {
        assert_eq!(homeserver[key], homeserver_before[key], "{key}");
        assert_eq!(secret[&key.replace('_', "-")], homeserver_before[key].as_str().unwrap(), "{key}");
    }
    assert_eq!(homeserver["signing_key_path"], "/data/example.com.signing.key");
    assert_eq!(homeserver["server_name"], SERVER_NAME);
    assert_eq!(homeserver["media_store_path"], homeserver_before["media_store_path"], "the same media store");
    assert!(upstream.exists("/data/media/local_content/ab/cd/efgh"));
    assert!(upstream.exists(MARKER), "/data is marked as the charm's");

    // The database Synapse's data is in.
    match era {
        Era::Y2024 => {
            assert_eq!(
                homeserver["database"],
                json!({"name": "sqlite3", "args": {"database": "/data/homeserver.db"}})
            );
            assert_eq!(
                fs::read(harness.container_path(UNIT, "/data/homeserver.db")).unwrap(),
                b"SQLite format 3\0upstream rooms and users",
                "the SQLite database is used as it is"
            );
        }
        Era::Y2025 => {
            assert_eq!(homeserver["database"]["name"], "psycopg2");
            assert_eq!(homeserver["database"]["args"]["database"], "synapse");
            let ports = harness.pebble(UNIT).exec_log();
            assert!(
                !ports
                    .iter()
                    .any(|exec| exec.argv.first().is_some_and(|program| program == "synapse_port_db")),
                "nothing is ported: the data already is in PostgreSQL"
            );
        }
    }

    // matrix-auth: the same secrets (not a new revision), the bridge's registration loaded
    // from a file of this charm's, the upstream charm's file gone.
    assert_eq!(upstream.secret_revisions(&upstream.shared_secret), 1);
    assert_eq!(upstream.secret_revisions(&upstream.encryption_key), 1);
    let files =
        homeserver["app_service_config_files"].as_array().expect("the registration is loaded").clone();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].as_str().unwrap();
    let prefix = format!("/data/appservice-registration-matrix-auth-{}-", upstream.bridge_relation);
    assert!(file.starts_with(&prefix), "{file}");
    assert_eq!(upstream.read(file), upstream.registration);
    assert!(
        !upstream.exists(&format!("/data/{}", upstream.old_registration_name())),
        "the old file is removed"
    );
    if let Some(uri) = &upstream.signing_secret {
        assert_eq!(upstream.secret_revisions(uri), 1, "the upstream signing key secret is left as it was");
    }

    // Announced to the peers; the log says what was adopted and from where.
    let peer_bag = harness.sim.relation_data(upstream.peers, &juju_sim::model::Bag::App(APP.into())).unwrap();
    assert!(peer_bag.contains_key("app-secrets-id"), "{peer_bag:?}");
    let infos = harness.logs(UNIT, "INFO");
    let adopted = infos
        .iter()
        .find(|line| line.starts_with("adopting the Synapse server of /data"))
        .unwrap_or_else(|| panic!("no adoption line: {infos:?}"));
    let key_id = era.signing_key().split(' ').nth(1).unwrap().to_string();
    assert!(adopted.contains(&format!("signing key {key_id} from ")), "{adopted}");
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 1);
}

trait SecretContent {
    fn app_secret_content_among_others(&self) -> BTreeMap<String, String>;
}

impl SecretContent for Harness {
    /// The content of this charm's application secret (the model holds the upstream charm's
    /// secrets too).
    fn app_secret_content_among_others(&self) -> BTreeMap<String, String> {
        let secret = self
            .sim
            .model()
            .secrets
            .values()
            .find(|secret| secret.label.as_deref() == Some("synapse-app-secrets"))
            .expect("the charm's application secret");
        assert_eq!(secret.revisions.len(), 1);
        secret.latest().expect("a revision").decoded()
    }
}

fn app_secret_exists(harness: &Harness) -> bool {
    harness.sim.model().secrets.values().any(|secret| secret.label.as_deref() == Some("synapse-app-secrets"))
}

#[test]
fn a_2024_deployment_on_sqlite_is_adopted_with_its_identity() {
    let mut upstream = Upstream::new(Era::Y2024, Omit::default());
    assert_hooks_succeeded(&upstream.refresh());
    assert_adopted(&upstream);
    let infos = upstream.harness.logs(UNIT, "INFO");
    let adopted = infos.iter().find(|line| line.starts_with("adopting the Synapse server")).unwrap();
    assert!(adopted.contains("named by secret-signing-id in the synapse-peers relation"), "{adopted}");
    assert!(adopted.contains("macaroon secret key from homeserver.yaml"), "{adopted}");
    assert!(adopted.contains("registration shared secret from homeserver.yaml"), "{adopted}");
}

#[test]
fn a_2025_deployment_on_postgresql_is_adopted_with_its_identity() {
    let mut upstream = Upstream::new(Era::Y2025, Omit::default());
    assert_hooks_succeeded(&upstream.refresh());
    assert_adopted(&upstream);
    let infos = upstream.harness.logs(UNIT, "INFO");
    let adopted = infos.iter().find(|line| line.starts_with("adopting the Synapse server")).unwrap();
    assert!(adopted.contains("macaroon secret key from the secret secret:"), "{adopted}");
}

#[test]
fn the_upstream_secrets_are_found_by_label_without_the_peer_data() {
    let omit = Omit { peer_keys: true, signing_key_file: true, ..Omit::default() };
    let mut upstream = Upstream::new(Era::Y2025, omit);
    assert_hooks_succeeded(&upstream.refresh());
    assert_adopted(&upstream);
    let infos = upstream.harness.logs(UNIT, "INFO");
    let adopted = infos.iter().find(|line| line.starts_with("adopting the Synapse server")).unwrap();
    assert!(adopted.contains("from the secret labelled synapse-signing-key"), "{adopted}");
    assert!(
        adopted.contains("macaroon secret key from the secret labelled synapse-macaroon-key"),
        "{adopted}"
    );
}

#[test]
fn a_signing_key_only_in_data_is_adopted() {
    let omit = Omit { signing_secrets: true, ..Omit::default() };
    let mut upstream = Upstream::new(Era::Y2024, omit);
    assert_hooks_succeeded(&upstream.refresh());
    assert_adopted(&upstream);
}

#[test]
fn without_pebble_during_the_refresh_nothing_is_generated_and_pebble_ready_adopts() {
    let omit = Omit { pebble_during_refresh: true, ..Omit::default() };
    let mut upstream = Upstream::new(Era::Y2024, omit);
    assert_hooks_succeeded(&upstream.refresh());
    assert!(!app_secret_exists(&upstream.harness), "no secret is generated before /data is seen");
    assert_eq!(upstream.harness.status(UNIT), ("waiting".into(), "Waiting for Synapse pebble".into()));

    upstream.harness.start_pebble(UNIT);
    upstream.write_data_dir(omit);
    let event = Event::PebbleReady { container: CONTAINER.into() };
    assert_hooks_succeeded(&upstream.harness.sim.fire(UNIT, event).unwrap());
    assert_adopted(&upstream);
}

#[test]
fn another_server_name_blocks_and_nothing_is_written() {
    let mut upstream = Upstream::new(Era::Y2024, Omit::default());
    upstream
        .harness
        .sim
        .model_mut()
        .app_mut(APP)
        .unwrap()
        .config
        .insert("server_name".into(), json!("matrix.example.org"));
    let before = upstream.read("/data/homeserver.yaml");
    assert_hooks_succeeded(&upstream.refresh());
    assert_eq!(
        upstream.harness.status(UNIT),
        (
            "blocked".into(),
            "/data holds the Synapse of server_name example.com, not matrix.example.org: set \
             server_name=example.com to adopt it; nothing was changed"
                .into()
        )
    );
    assert_nothing_written(&upstream, &before);
}

#[test]
fn without_a_signing_key_anywhere_the_charm_blocks_and_writes_nothing() {
    let omit = Omit { signing_secrets: true, signing_key_file: true, ..Omit::default() };
    let mut upstream = Upstream::new(Era::Y2024, omit);
    let before = upstream.read("/data/homeserver.yaml");
    assert_hooks_succeeded(&upstream.refresh());
    assert_eq!(
        upstream.harness.status(UNIT),
        (
            "blocked".into(),
            "Cannot adopt the Synapse in /data: no usable signing key for example.com in secret-signing-id (peer data), \
             secret synapse-signing-key, /data/example.com.signing.key; without it the server's identity would \
             change, nothing was changed"
                .into()
        )
    );
    assert_nothing_written(&upstream, &before);
    let errors = upstream.harness.logs(UNIT, "ERROR");
    assert!(errors.iter().any(|line| line.contains("put the server's signing key back")), "{errors:?}");

    // Once the key is back, the next hook adopts the server.
    let key = fixture(Era::Y2024, "example.com.signing.key");
    fs::write(upstream.harness.container_path(UNIT, "/data/example.com.signing.key"), key).unwrap();
    assert_hooks_succeeded(&upstream.harness.sim.update_status().unwrap());
    assert_adopted(&upstream);
}

/// Nothing of the server changed: no secret of this charm, no marker, the same
/// homeserver.yaml, nothing running, the matrix-auth secrets as they were.
fn assert_nothing_written(upstream: &Upstream, homeserver_before: &str) {
    assert!(!app_secret_exists(&upstream.harness), "no new server identity was generated");
    assert!(!upstream.exists(MARKER));
    assert_eq!(upstream.read("/data/homeserver.yaml"), homeserver_before);
    assert!(upstream.exists(&format!("/data/{}", upstream.old_registration_name())));
    assert_eq!(upstream.harness.pebble(UNIT).service_state("synapse"), None, "nothing runs");
    assert_eq!(upstream.secret_revisions(&upstream.shared_secret), 1);
    assert_eq!(upstream.secret_revisions(&upstream.encryption_key), 1);
}

#[test]
fn secrets_missing_from_homeserver_yaml_come_from_the_key_files() {
    let mut upstream = Upstream::new(Era::Y2024, Omit::default());
    let path = upstream.harness.container_path(UNIT, "/data/homeserver.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let without: String = text
        .lines()
        .filter(|line| {
            !line.starts_with("registration_shared_secret:") && !line.starts_with("macaroon_secret_key:")
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(without, text);
    fs::write(&path, without).unwrap();
    assert_hooks_succeeded(&upstream.refresh());
    assert_adopted(&upstream);
    let infos = upstream.harness.logs(UNIT, "INFO");
    let adopted = infos.iter().find(|line| line.starts_with("adopting the Synapse server")).unwrap();
    assert!(
        adopted.contains("registration shared secret from /data/example.com.registration.key"),
        "{adopted}"
    );
    assert!(adopted.contains("macaroon secret key from /data/example.com.macaroon.key"), "{adopted}");
}

#[test]
fn an_adoption_stopped_half_way_is_resumed_never_regenerated() {
    // An earlier adoption wrote the marker, then its hook failed: Juju discarded the secret
    // it added, and homeserver.yaml is still the upstream charm's.
    let mut upstream = Upstream::new(Era::Y2024, Omit::default());
    fs::write(upstream.harness.container_path(UNIT, MARKER), "marked\n").unwrap();
    assert_hooks_succeeded(&upstream.refresh());
    assert_adopted(&upstream);
}
