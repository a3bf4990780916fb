//! Backups on real parts: a real S3 server (moto) behind passive s3-integrators for the
//! `backup` (and `media`) relations, gpg from Debian and boto3 in Synapse's container, real
//! Synapse on real PostgreSQL or SQLite.
//!
//! The restore drill: users, a room with messages and an uploaded file (stored in the media
//! bucket) → `create-backup` → the database dropped and `/data` emptied → `restore-backup`
//! → the users log in, the history and the file are back, and the signing key is the same.
//! The failure cases: no relation, no passphrase, a missing bucket (Blocked, then clear once
//! it exists), a wrong passphrase and an unknown backup (nothing changes), and the S3 server
//! going down halfway through an upload (no partial backup listed, nothing left behind).
//!
//! Every test's name starts with `backup_`, so `tests/e2e/run backup` runs them all.

use std::fs;
use std::io::Read as _;
use std::net::SocketAddr;
use std::time::Duration;

use juju_sim::model::{ActionRecord, ActionStatus};
use serde_json::{json, Value};
use test_support::assert_hooks_succeeded;

use crate::http;
use crate::matrix;
use crate::model::{load_with_pyyaml, loopback_config, E2e, Services};
use crate::support::flaky_proxy::FlakyProxy;
use crate::support::postgres::{Locale, PostgresServer};
use crate::support::postgresql_provider::PostgresqlK8s;
use crate::support::s3::{S3Integrator, S3Options, S3Server, Track};
use crate::support::{APP, SERVER_NAME};

const UNIT: &str = "synapse/0";
const BACKUPS: &str = "synapse-backups";
const MEDIA: &str = "synapse-media";
const PASSPHRASE: &str = "correct horse battery staple, backed up";
const BUCKET_UNREACHABLE: &str = "Backup: S3 bucket does not exist or cannot be accessed";
/// Backups and restores dump, encrypt and upload on a loaded 2-core machine.
const HOOK_TIMEOUT: Duration = Duration::from_secs(900);

/// The integrator's options for `bucket` at `endpoint`.
fn options(bucket: &str, endpoint: String, path: &str) -> S3Options {
    S3Options {
        bucket: Some(bucket.into()),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        path: Some(path.into()),
        s3_uri_style: Some("path".into()),
        access_key: Some(format!("AKIAE2E{}", bucket.len())),
        secret_key: Some(format!("e2e-secret-key-for-{bucket}")),
        ..S3Options::default()
    }
}

/// `juju deploy s3-integrator backups` and `juju integrate synapse:backup backups`,
/// answered with `options`.
fn integrate_backups(e2e: &mut E2e, track: Track, options: &S3Options) -> (S3Integrator, u32) {
    let mut integrator = S3Integrator::deploy_as(&mut e2e.harness.sim, "backups", track);
    let (relation, runs) = integrator.integrate_with(&mut e2e.harness.sim, APP, "backup");
    assert_hooks_succeeded(&runs);
    assert_hooks_succeeded(&integrator.answer(&mut e2e.harness.sim, relation, APP, options));
    (integrator, relation)
}

/// Registers `localpart` with the shared secret: its password.
fn register(e2e: &E2e, localpart: &str) -> String {
    e2e.register_user(UNIT, localpart).0
}

fn action(e2e: &mut E2e, name: &str, params: Value) -> ActionRecord {
    e2e.run_action(UNIT, name, params)
}

fn completed(record: &ActionRecord) -> &serde_json::Map<String, Value> {
    assert_eq!(
        record.status,
        ActionStatus::Completed,
        "{}: {:?} {:?}",
        record.name,
        record.message,
        record.logs
    );
    &record.results
}

fn failed_with(record: &ActionRecord, words: &str) {
    assert_eq!(record.status, ActionStatus::Failed, "{}: {:?}", record.name, record.results);
    let message = record.message.as_deref().unwrap_or_default();
    assert!(message.contains(words), "{}: {message:?} does not say {words:?}", record.name);
}

/// The ids `list-backups` shows.
fn listed(e2e: &mut E2e) -> Vec<String> {
    let record = action(e2e, "list-backups", json!({}));
    let results = completed(&record);
    results
        .get("backups")
        .and_then(Value::as_object)
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

/// Uploads `content` (JSON, as the client helpers send) through the client API: its URI.
fn upload(token: &str, content: &Value) -> String {
    let response =
        http::synapse("POST", "/_matrix/media/v3/upload?filename=photo.json", Some(token), Some(content))
            .expect("Synapse answers");
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["content_uri"].as_str().expect("a content URI").to_string()
}

fn download(token: &str, uri: &str) -> (u16, Vec<u8>) {
    let media = uri.strip_prefix("mxc://").expect("an mxc URI");
    let response =
        http::synapse("GET", &format!("/_matrix/client/v1/media/download/{media}"), Some(token), None)
            .expect("Synapse answers");
    (response.status, response.body)
}

#[test]
fn backup_restore_drill_brings_back_users_history_media_and_identity() {
    let mut e2e = E2e::new();
    e2e.harness.sim.set_hook_timeout(HOOK_TIMEOUT);
    let (host, subnet) = e2e.host_on_network();
    let s3 = S3Server::start_on(host.into());
    s3.create_bucket(BACKUPS);
    s3.create_bucket(MEDIA);
    let postgres = PostgresServer::start_for_pods(host.into(), &subnet);

    // Synapse on PostgreSQL from the start, media in S3, backups to another bucket.
    let mut config = loopback_config();
    config.push(("backup_passphrase", json!(PASSPHRASE)));
    e2e.deploy_before_pebble(&config);
    let postgresql = PostgresqlK8s::deploy(&mut e2e.harness.sim, 1);
    let (database, runs) = postgresql.integrate(&mut e2e.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    assert_hooks_succeeded(&postgresql.answer(&mut e2e.harness.sim, &postgres, database, Locale::C).runs);
    e2e.pebble_ready(UNIT);
    e2e.wait_for_synapse(UNIT);
    let mut media = S3Integrator::deploy(&mut e2e.harness.sim, Track::Two);
    let (media_relation, runs) = media.integrate(&mut e2e.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    assert_hooks_succeeded(&media.answer(
        &mut e2e.harness.sim,
        media_relation,
        APP,
        &options(MEDIA, s3.endpoint(), ""),
    ));
    integrate_backups(&mut e2e, Track::One, &options(BACKUPS, s3.endpoint(), "drill/"));
    e2e.wait_for_synapse(UNIT);
    assert_eq!(e2e.harness.status(UNIT), ("active".into(), String::new()), "{}", e2e.charm_problems(UNIT));
    let homeserver = load_with_pyyaml(&e2e.container_path(UNIT, "/data/homeserver.yaml"));
    assert_eq!(homeserver["database"]["name"], "psycopg2");

    // Users, a room with messages, an uploaded file (in the media bucket too).
    let alice_password = register(&e2e, "alice");
    let bob_password = register(&e2e, "bob");
    let alice = matrix::login("alice", &alice_password).expect("alice logs in");
    let bob = matrix::login("bob", &bob_password).expect("bob logs in");
    let room = matrix::create_room(&alice, "drill");
    matrix::join(&bob, &room);
    matrix::send_text(&alice, &room, "t1", "before the disaster");
    matrix::send_text(&bob, &room, "t2", "me too");
    let pixels: String =
        (0..50_000u32).map(|i| format!("{:x}", i.wrapping_mul(2_654_435_761) >> 28)).collect();
    let content = json!({"photo": pixels});
    let photo = serde_json::to_vec(&content).expect("JSON");
    let uri = upload(&alice, &content);
    let media_id = uri.rsplit('/').next().expect("a media id").to_string();
    let local =
        format!("/data/media/local_content/{}/{}/{}", &media_id[..2], &media_id[2..4], &media_id[4..]);
    assert!(e2e.container_path(UNIT, &local).exists());
    assert!(s3.objects(MEDIA).iter().any(|object| object.key.ends_with(&media_id[4..])), "the file is in S3");
    let signing_key = e2e.harness.read(UNIT, &format!("/data/{SERVER_NAME}.signing.key"));

    // create-backup, then list-backups shows it with the size of its object.
    let record = action(&mut e2e, "create-backup", json!({}));
    let results = completed(&record).clone();
    assert_eq!(results["result"], "correct");
    let id = results["backup-id"].as_str().expect("a backup-id").to_string();
    assert!(id.starts_with("backup-") && id.len() == "backup-".len() + 20, "{id}");
    assert!(record.logs.iter().any(|line| line.contains("uploading")), "progress: {:?}", record.logs);
    let objects = s3.objects(BACKUPS);
    let object =
        objects.iter().find(|object| object.key == format!("drill/{id}")).expect("the backup's object");
    let list = action(&mut e2e, "list-backups", json!({}));
    let listing = completed(&list);
    assert_eq!(listing["backups"][&id]["size"], object.size.to_string());
    assert!(listing["formatted"].as_str().expect("a table").contains(&id));
    // Encrypted: neither the dump's text nor the file's bytes are readable in it.
    let stored = s3.object(BACKUPS, &object.key);
    assert!(!stored.windows(40).any(|window| window == &photo[1000..1040]));
    assert!(!String::from_utf8_lossy(&stored).contains("before the disaster"));

    // The disaster: the database is dropped (postgresql-k8s makes it again, empty) and the
    // pod comes back with empty storage. The charm sets Synapse up again: an empty server.
    postgres.query("postgres", &format!("DROP DATABASE {APP} WITH (FORCE)"));
    postgres.query(
        "postgres",
        &format!("CREATE DATABASE {APP} OWNER relation_id_{database} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"),
    );
    e2e.replace_pod_with_empty_storage(UNIT);
    e2e.wait_for_synapse(UNIT);
    assert!(matrix::login("alice", &alice_password).is_err(), "the new server has no users");
    assert!(!e2e.container_path(UNIT, &local).exists());

    // restore-backup: everything is back.
    let starts = e2e.synapse_starts(UNIT);
    let record = action(&mut e2e, "restore-backup", json!({"backup-id": id}));
    assert_eq!(completed(&record)["result"], "correct");
    assert!(record.logs.iter().any(|line| line.contains("stopped synapse")), "{:?}", record.logs);
    assert_eq!(e2e.synapse_starts(UNIT), starts + 1, "stopped once, started once");
    assert_eq!(e2e.harness.status(UNIT), ("active".into(), String::new()), "{}", e2e.charm_problems(UNIT));
    let alice = matrix::login("alice", &alice_password).expect("alice logs in again");
    matrix::login("bob", &bob_password).expect("bob logs in again");
    let history = matrix::texts(&matrix::messages(&alice, &room));
    assert!(history.iter().any(|(_, text)| text == "before the disaster"), "{history:?}");
    assert!(history.iter().any(|(_, text)| text == "me too"), "{history:?}");
    assert!(e2e.container_path(UNIT, &local).exists(), "local media restored from the backup");
    assert_eq!(download(&alice, &uri), (200, photo.clone()));
    assert_eq!(e2e.harness.read(UNIT, &format!("/data/{SERVER_NAME}.signing.key")), signing_key);
    let keys = http::synapse("GET", "/_matrix/key/v2/server", None, None).expect("Synapse answers").json();
    let published: Vec<&String> = keys["verify_keys"].as_object().expect("keys").keys().collect();
    let key_id = published[0].replacen(':', " ", 1);
    assert!(signing_key.starts_with(&key_id), "{published:?} is not the key of {signing_key}");

    // delete-backup removes it; deleting it again says it does not exist.
    assert_eq!(completed(&action(&mut e2e, "delete-backup", json!({"backup-id": id})))["result"], "correct");
    assert!(listed(&mut e2e).is_empty());
    assert!(s3.objects(BACKUPS).is_empty());
    failed_with(
        &action(&mut e2e, "delete-backup", json!({"backup-id": id})),
        &format!("backup-id {id} does not exist"),
    );
}

#[test]
fn backup_failures_are_named_and_change_nothing() {
    let mut e2e = E2e::new();
    e2e.harness.sim.set_hook_timeout(HOOK_TIMEOUT);
    let (host, _) = e2e.host_on_network();
    let s3 = S3Server::start_on(host.into());
    let upstream: SocketAddr = s3.endpoint().trim_start_matches("http://").parse().expect("an address");
    let proxy = FlakyProxy::start(host.into(), upstream);
    e2e.deploy(&[Services::Real], &loopback_config());
    e2e.wait_for_synapse(UNIT);

    // No relation yet.
    failed_with(&action(&mut e2e, "create-backup", json!({})), "juju integrate synapse:backup s3-integrator");

    // A bucket that does not exist: Blocked with upstream's words, clear once it exists.
    integrate_backups(&mut e2e, Track::Two, &options(BACKUPS, proxy.endpoint(), ""));
    assert_eq!(e2e.harness.status(UNIT), ("blocked".into(), BUCKET_UNREACHABLE.into()));
    failed_with(&action(&mut e2e, "list-backups", json!({})), BUCKET_UNREACHABLE);
    s3.create_bucket(BACKUPS);
    assert_hooks_succeeded(&e2e.harness.sim.update_status().expect("update-status runs"));
    assert_eq!(e2e.harness.status(UNIT), ("active".into(), String::new()), "{}", e2e.charm_problems(UNIT));

    // No passphrase.
    failed_with(&action(&mut e2e, "create-backup", json!({})), "backup_passphrase");
    assert_hooks_succeeded(&e2e.harness.configure(&[("backup_passphrase", json!(PASSPHRASE))]));

    // A backup of the SQLite server, with alice in it.
    let alice_password = register(&e2e, "alice");
    let record = action(&mut e2e, "create-backup", json!({}));
    let id = completed(&record)["backup-id"].as_str().expect("an id").to_string();
    assert_eq!(listed(&mut e2e), std::slice::from_ref(&id));
    let carol_password = register(&e2e, "carol");

    // A wrong passphrase and an unknown backup change nothing: Synapse keeps running.
    let starts = e2e.synapse_starts(UNIT);
    assert_hooks_succeeded(&e2e.harness.configure(&[("backup_passphrase", json!("wrong-horse-9c1e"))]));
    failed_with(
        &action(&mut e2e, "restore-backup", json!({"backup-id": id})),
        "not the passphrase the backup was made with",
    );
    assert_hooks_succeeded(&e2e.harness.configure(&[("backup_passphrase", json!(PASSPHRASE))]));
    let unknown = "backup-20000101000000000000";
    failed_with(
        &action(&mut e2e, "restore-backup", json!({"backup-id": unknown})),
        &format!("backup-id {unknown} does not exist"),
    );
    failed_with(
        &action(&mut e2e, "restore-backup", json!({"backup-id": "../etc"})),
        "invalid parameter backup-id",
    );
    assert_eq!(e2e.synapse_starts(UNIT), starts, "nothing restarted");
    matrix::login("carol", &carol_password).expect("carol is still there");
    assert!(!e2e.container_path(UNIT, "/data/.charm-backup").exists(), "nothing staged is left");

    // The S3 server goes down halfway through the upload of a 12 MiB backup (a multipart
    // upload of two parts): the action fails, and no partial backup is listed.
    // Random bytes, which gpg cannot compress.
    let mut blob = Vec::new();
    fs::File::open("/dev/urandom")
        .expect("urandom")
        .take(12 << 20)
        .read_to_end(&mut blob)
        .expect("random bytes");
    let big = e2e.container_path(UNIT, "/data/media/local_content/zz/yy/big-file");
    fs::create_dir_all(big.parent().expect("a parent")).expect("media dirs");
    fs::write(&big, &blob).expect("a big media file");
    proxy.fail_after(10 << 20);
    let record = action(&mut e2e, "create-backup", json!({}));
    proxy.heal();
    failed_with(&record, "no backup was stored");
    assert_eq!(listed(&mut e2e), std::slice::from_ref(&id), "only the first backup");
    assert_eq!(s3.objects(BACKUPS).len(), 1, "{:?}", s3.objects(BACKUPS));
    assert!(!e2e.container_path(UNIT, "/data/.charm-backup").exists(), "nothing staged is left");
    fs::remove_file(&big).expect("remove the big file");

    // The SQLite backup restores: alice is there, carol (registered after it) is not.
    let record = action(&mut e2e, "restore-backup", json!({"backup-id": id}));
    assert_eq!(completed(&record)["result"], "correct");
    matrix::login("alice", &alice_password).expect("alice logs in");
    assert!(matrix::login("carol", &carol_password).is_err(), "carol came after the backup");
    assert_eq!(e2e.harness.status(UNIT), ("active".into(), String::new()), "{}", e2e.charm_problems(UNIT));
}
