//! State in, state out, on the simulated Juju and Pebble: media in S3 through the `media`
//! relation with a passive s3-integrator of either track (`support::s3`). The settings become
//! one `media_storage_providers` entry in homeserver.yaml, the keys a 0600 credentials file
//! that the Synapse service's environment names; a hook with nothing new writes nothing; a
//! track-2 integrator that sends no bucket says how to set it; a bucket that does not answer
//! keeps media on the data storage until it does. Real Synapse storing media in a real S3
//! server is in `tests/e2e/media.rs`.

mod support;

use pebble_sim::{ExecRule, FileKind};
use serde_json::{json, Value};
use support::passive_requirers::{active, ProviderModel};
use support::s3::{S3Integrator, S3Options, Track, S3_APP};
use support::{assert_no_model_writes, APP, NO_OP_REQUESTS};
use test_support::assert_hooks_succeeded;

const UNIT: &str = "synapse/0";
const CREDENTIALS: &str = "/data/s3-media.credentials";
const CONFIG: &str = "/data/s3-media.config";
const CA: &str = "/data/s3-media-ca.pem";
/// The charm's S3 tool, which checks the bucket from Synapse's container.
const S3_TOOL: &str = include_str!("../src/s3_tool.py");
const BUCKET_UNREACHABLE: &str = "Media: S3 bucket does not exist or cannot be accessed";

/// A new model whose bucket answers the charm's check.
fn model() -> ProviderModel {
    let model = ProviderModel::new(1);
    bucket_answers(&model, r#"{"ok": true}"#);
    model
}

/// What the bucket check answers from now on.
fn bucket_answers(model: &ProviderModel, answer: &str) {
    model.harness.pebble(UNIT).script_exec(
        ExecRule::new(["python3", "-c", S3_TOOL, "check"]).stdout(answer.to_string()).read_stdin(),
    );
}

/// How many times the bucket was checked.
fn bucket_checks(model: &ProviderModel) -> usize {
    let log = model.harness.pebble(UNIT).exec_log();
    log.iter().filter(|record| record.argv.get(3).map(String::as_str) == Some("check")).count()
}

fn store() -> S3Options {
    S3Options {
        endpoint: Some("http://10.1.2.3:9000".into()),
        region: Some("us-east-1".into()),
        path: Some("synapse/".into()),
        s3_uri_style: Some("path".into()),
        access_key: Some("AKIAMEDIA0001".into()),
        secret_key: Some("media-secret-key-one".into()),
        ..S3Options::default()
    }
}

/// The storage provider entry Synapse gets for `bucket` on [`store`].
fn provider_entry(bucket: &str) -> Value {
    json!([{
        "module": "s3_storage_provider.S3StorageProviderBackend",
        "store_local": true,
        "store_remote": true,
        "store_synchronous": true,
        "config": {
            "bucket": bucket,
            "region_name": "us-east-1",
            "endpoint_url": "http://10.1.2.3:9000",
            "prefix": "synapse/",
        },
    }])
}

/// The file's content, mode and owner, if it exists.
fn file(model: &ProviderModel, path: &str) -> Option<(String, u32)> {
    let meta = model.harness.pebble(UNIT).file_meta(path)?;
    assert_eq!(meta.kind, FileKind::File, "{path}");
    assert_eq!((meta.user_id, meta.group_id), (991, 991), "{path} owner");
    Some((model.harness.read(UNIT, path), meta.permissions))
}

fn credentials(access: &str, secret: &str) -> String {
    format!("[default]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n")
}

/// The Synapse service's environment variable `name`.
fn environment(model: &ProviderModel, name: &str) -> Option<String> {
    model.harness.plan(UNIT).services.get("synapse")?.environment.get(name).cloned()
}

#[test]
fn track_1_settings_become_a_storage_provider_with_the_keys_in_a_private_file() {
    let mut model = model();
    let mut s3 = S3Integrator::deploy(&mut model.harness.sim, Track::One);
    let (relation, runs) = s3.integrate(&mut model.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    let request = s3.request(&model.harness.sim, relation, APP);
    let bucket = format!("relation-{relation}");
    assert_eq!(request.get("bucket"), Some(&bucket), "what the Python charm asks for");
    assert_eq!(request.get("requested-secrets").map(String::as_str), Some(r#"["access-key", "secret-key"]"#));
    assert_eq!(
        model.status(UNIT),
        ("waiting".into(), "Media: the S3 provider has published no settings yet".into())
    );
    assert!(model.harness.homeserver(UNIT).get("media_storage_providers").is_none());

    let starts = model.starts(UNIT);
    assert_hooks_succeeded(&s3.answer(&mut model.harness.sim, relation, APP, &store()));
    let homeserver = model.harness.homeserver(UNIT);
    assert_eq!(homeserver["media_storage_providers"], provider_entry(&bucket));
    let text = model.harness.read(UNIT, "/data/homeserver.yaml");
    assert!(
        !text.contains("AKIAMEDIA0001") && !text.contains("media-secret-key-one"),
        "no key in homeserver.yaml"
    );
    assert_eq!(
        file(&model, CREDENTIALS),
        Some((credentials("AKIAMEDIA0001", "media-secret-key-one"), 0o600))
    );
    assert_eq!(file(&model, CONFIG), Some(("[default]\ns3 =\n    addressing_style = path\n".into(), 0o644)));
    assert_eq!(file(&model, CA), None, "no CA chain published");
    assert_eq!(environment(&model, "AWS_SHARED_CREDENTIALS_FILE").as_deref(), Some(CREDENTIALS));
    assert_eq!(environment(&model, "AWS_CONFIG_FILE").as_deref(), Some(CONFIG));
    assert_eq!(model.starts(UNIT), starts + 1, "Synapse restarted once with S3");
    assert_eq!(model.status(UNIT), active());
    let everything: Vec<String> = model.harness.sim.logs(UNIT).map(|record| record.message.clone()).collect();
    assert!(everything.iter().all(|line| !line.contains("media-secret-key-one")), "a key was logged");

    // A hook with nothing new writes nothing, in the model or the container.
    let before = model.harness.request_count(UNIT);
    let marks = model.harness.status_marks();
    let runs = model.update_status();
    model.harness.assert_container_untouched(UNIT, before, 1, NO_OP_REQUESTS);
    assert_no_model_writes(&runs);
    model.harness.assert_statuses_kept(&marks);

    // New keys (sync-s3-credentials) and a CA chain: the files follow, Synapse restarts once.
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2\n-----END CERTIFICATE-----";
    let rotated = S3Options {
        secret_key: Some("media-secret-key-two".into()),
        tls_ca_chain: vec![pem.into()],
        ..store()
    };
    assert_hooks_succeeded(&s3.answer(&mut model.harness.sim, relation, APP, &rotated));
    assert_eq!(
        file(&model, CREDENTIALS),
        Some((credentials("AKIAMEDIA0001", "media-secret-key-two"), 0o600))
    );
    assert_eq!(file(&model, CA), Some((format!("{pem}\n"), 0o644)));
    assert_eq!(environment(&model, "AWS_CA_BUNDLE").as_deref(), Some(CA));
    assert_eq!(model.starts(UNIT), starts + 2);

    // The relation goes: no provider, no files, no environment.
    assert_hooks_succeeded(&model.harness.sim.remove_relation(relation).expect("remove-relation runs"));
    assert!(model.harness.homeserver(UNIT).get("media_storage_providers").is_none());
    for path in [CREDENTIALS, CONFIG, CA] {
        assert_eq!(file(&model, path), None, "{path} left behind");
    }
    for name in ["AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_CA_BUNDLE"] {
        assert_eq!(environment(&model, name), None, "{name}");
    }
    assert_eq!(model.status(UNIT), active());
}

#[test]
fn track_2_keys_come_from_the_integrators_secret_and_follow_its_rotation() {
    let mut model = model();
    let mut s3 = S3Integrator::deploy(&mut model.harness.sim, Track::Two);
    let (relation, runs) = s3.integrate(&mut model.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    assert_hooks_succeeded(&s3.answer(&mut model.harness.sim, relation, APP, &store()));
    let published = s3.published(&model.harness.sim, relation);
    assert!(published.contains_key("secret-extra") && !published.contains_key("secret-key"), "{published:?}");
    assert_eq!(
        model.harness.homeserver(UNIT)["media_storage_providers"],
        provider_entry(&format!("relation-{relation}"))
    );
    assert_eq!(
        file(&model, CREDENTIALS),
        Some((credentials("AKIAMEDIA0001", "media-secret-key-one"), 0o600))
    );
    assert_eq!(model.status(UNIT), active());

    // The integrator's credentials change: a new revision, secret-changed, the file follows.
    let starts = model.starts(UNIT);
    let rotated = S3Options { secret_key: Some("media-secret-key-two".into()), ..store() };
    let runs = s3.answer(&mut model.harness.sim, relation, APP, &rotated);
    assert_hooks_succeeded(&runs);
    assert!(
        runs.iter().any(|run| run.hook == "secret-changed"),
        "{:?}",
        runs.iter().map(|r| &r.hook).collect::<Vec<_>>()
    );
    assert_eq!(
        file(&model, CREDENTIALS),
        Some((credentials("AKIAMEDIA0001", "media-secret-key-two"), 0o600))
    );
    assert_eq!(model.starts(UNIT), starts + 1);
    // The leak check (when the model is dropped) finds neither key anywhere visible.
}

#[test]
fn a_track_2_integrator_without_a_bucket_blocks_saying_how_to_set_it() {
    let mut model = model();
    let mut s3 = S3Integrator::deploy(&mut model.harness.sim, Track::Two);
    let (relation, runs) = s3.integrate(&mut model.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    // What a deployment taken over from the Python charm holds: the answer to its v0 request,
    // without a bucket since the integrator has no bucket option.
    assert_hooks_succeeded(&s3.answer_v0_request(&mut model.harness.sim, relation, &store()));
    assert_eq!(
        model.status(UNIT),
        (
            "blocked".into(),
            format!("Media: {S3_APP} publishes no bucket: set it on the integrator with `juju config {S3_APP} bucket=<name>`")
        )
    );
    assert!(model.harness.homeserver(UNIT).get("media_storage_providers").is_none());
    assert_eq!(file(&model, CREDENTIALS), None);
    assert_eq!(model.harness.app_status().0, "blocked", "the application says so too");

    // The operator sets the bucket option.
    let options = S3Options { bucket: Some("synapse-media".into()), ..store() };
    assert_hooks_succeeded(&s3.answer_v0_request(&mut model.harness.sim, relation, &options));
    assert_eq!(model.harness.homeserver(UNIT)["media_storage_providers"], provider_entry("synapse-media"));
    assert_eq!(model.status(UNIT), active());
}

#[test]
fn what_the_integrator_lacks_is_named_in_the_status() {
    let mut model = model();
    let mut s3 = S3Integrator::deploy(&mut model.harness.sim, Track::One);
    let (relation, runs) = s3.integrate(&mut model.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    for (options, expected) in [
        (
            S3Options { access_key: None, secret_key: None, ..store() },
            format!(
                "Media: {S3_APP} publishes no access-key: give it the credentials with `juju run \
                 {S3_APP}/leader sync-s3-credentials access-key=<key> secret-key=<secret>`"
            ),
        ),
        (
            S3Options { endpoint: None, region: None, ..store() },
            format!(
                "Media: {S3_APP} publishes neither region nor endpoint: set one with `juju config {S3_APP} \
                 region=<region>` or `endpoint=<url>`"
            ),
        ),
        (
            S3Options { s3_uri_style: Some("virtual".into()), ..store() },
            "Media: the S3 provider published s3-uri-style \"virtual\", expected path or host".to_string(),
        ),
    ] {
        assert_hooks_succeeded(&s3.answer(&mut model.harness.sim, relation, APP, &options));
        assert_eq!(model.status(UNIT), ("blocked".into(), expected));
        assert!(model.harness.homeserver(UNIT).get("media_storage_providers").is_none());
    }
}

#[test]
fn a_bucket_that_does_not_answer_keeps_media_local_until_it_does() {
    let mut model = ProviderModel::new(1);
    bucket_answers(&model, r#"{"problem": "bucket", "detail": "NoSuchBucket (HTTP 404)"}"#);
    let mut s3 = S3Integrator::deploy(&mut model.harness.sim, Track::One);
    let (relation, runs) = s3.integrate(&mut model.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    let starts = model.starts(UNIT);
    assert_hooks_succeeded(&s3.answer(&mut model.harness.sim, relation, APP, &store()));
    assert_eq!(model.status(UNIT), ("blocked".into(), BUCKET_UNREACHABLE.into()));
    assert!(model.harness.homeserver(UNIT).get("media_storage_providers").is_none(), "uploads keep working");
    assert_eq!(file(&model, CREDENTIALS), None);
    assert_eq!(model.starts(UNIT), starts, "nothing restarted");
    let errors = model.harness.logs(UNIT, "ERROR");
    assert!(errors.iter().any(|line| line.contains("NoSuchBucket")), "{errors:?}");
    assert_eq!(bucket_checks(&model), 1);

    // The outcome is kept: other hooks do not check again, and say nothing new.
    let marks = model.harness.status_marks();
    let event = juju_sim::Event::PebbleReady { container: "synapse".into() };
    assert_hooks_succeeded(&model.harness.sim.fire(UNIT, event).expect("pebble-ready runs"));
    assert_eq!(bucket_checks(&model), 1);
    model.harness.assert_statuses_kept(&marks);

    // update-status checks a failed bucket again: once it exists, Synapse stores media in it.
    bucket_answers(&model, r#"{"ok": true}"#);
    model.update_status();
    assert_eq!(bucket_checks(&model), 2);
    assert_eq!(model.status(UNIT), active());
    assert_eq!(
        model.harness.homeserver(UNIT)["media_storage_providers"],
        provider_entry(&format!("relation-{relation}"))
    );
    assert_eq!(model.starts(UNIT), starts + 1, "one restart, with S3");
    // A bucket that answered is not checked again.
    model.update_status();
    assert_eq!(bucket_checks(&model), 2);
}
