//! Media in S3 on real parts: a real S3 server (moto, `support::s3`, on the host's address
//! on the test's pod network) with a bucket made by boto3, a passive track-2 s3-integrator
//! publishing it with the keys in a Juju secret, and real Synapse loading
//! synapse-s3-storage-provider from the venv. An upload through the client API lands in the
//! bucket under the published path, and comes back through Synapse from S3 once the local
//! copy is gone.
//!
//! Every test's name starts with `media_`, so `tests/e2e/run media` runs them all.

use serde_json::json;
use test_support::assert_hooks_succeeded;

use crate::http;
use crate::model::{load_with_pyyaml, loopback_config, E2e, Services};
use crate::support::s3::{S3Integrator, S3Options, S3Server, Track};
use crate::support::{APP, SERVER_NAME};

const UNIT: &str = "synapse/0";
const BUCKET: &str = "synapse-media";
const PREFIX: &str = "homeserver/";

/// Registers `localpart` with the shared secret: its token.
fn register(e2e: &E2e, localpart: &str) -> String {
    e2e.register_user(UNIT, localpart).1
}

#[test]
fn media_uploads_land_in_the_bucket_and_come_back_through_synapse() {
    let mut e2e = E2e::new();
    let (host, _) = e2e.host_on_network();
    let server = S3Server::start_on(host.into());
    server.create_bucket(BUCKET);
    e2e.deploy(&[Services::Real], &loopback_config());
    e2e.wait_for_synapse(UNIT);

    let mut s3 = S3Integrator::deploy(&mut e2e.harness.sim, Track::Two);
    let (relation, runs) = s3.integrate(&mut e2e.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    let options = S3Options {
        bucket: Some(BUCKET.into()),
        endpoint: Some(server.endpoint()),
        region: Some("us-east-1".into()),
        path: Some(PREFIX.into()),
        s3_uri_style: Some("path".into()),
        access_key: Some("AKIAE2EMEDIA0001".into()),
        secret_key: Some("e2e-media-secret-key-1".into()),
        ..S3Options::default()
    };
    assert_hooks_succeeded(&s3.answer(&mut e2e.harness.sim, relation, APP, &options));
    assert!(s3.published(&e2e.harness.sim, relation).contains_key("secret-extra"), "the keys in a secret");
    e2e.wait_for_synapse(UNIT);
    assert_eq!(e2e.harness.status(UNIT), ("active".into(), String::new()), "{}", e2e.charm_problems(UNIT));
    let homeserver = load_with_pyyaml(&e2e.container_path(UNIT, "/data/homeserver.yaml"));
    assert_eq!(homeserver["media_storage_providers"][0]["config"]["bucket"], BUCKET);

    // A user uploads a file through the client API.
    let token = register(&e2e, "alice");
    let content = json!({"note": "stored in S3 by synapse-s3-storage-provider"});
    let bytes = serde_json::to_vec(&content).expect("JSON");
    let uploaded =
        http::synapse("POST", "/_matrix/media/v3/upload?filename=note.json", Some(&token), Some(&content))
            .expect("Synapse answers");
    assert_eq!(uploaded.status, 200, "{}\n{}", uploaded.text(), e2e.synapse_log(UNIT));
    let uri = uploaded.json()["content_uri"].as_str().expect("a content URI").to_string();
    let media_id = uri.strip_prefix(&format!("mxc://{SERVER_NAME}/")).expect("a local media URI").to_string();

    // It is in the bucket (store_synchronous: before the upload answered), under the path.
    let relative = format!("local_content/{}/{}/{}", &media_id[..2], &media_id[2..4], &media_id[4..]);
    let key = format!("{PREFIX}{relative}");
    let objects = server.objects(BUCKET);
    assert!(
        objects.iter().any(|object| object.key == key && object.size == bytes.len() as u64),
        "{key} is not in the bucket: {objects:?}\nthe server's log:\n{}\nSynapse's log:\n{}",
        server.log(),
        e2e.synapse_log(UNIT)
    );
    assert_eq!(server.object(BUCKET, &key), bytes);

    // The local copy goes; Synapse serves the file from S3.
    let local = e2e.container_path(UNIT, &format!("/data/media/{relative}"));
    std::fs::remove_file(&local).unwrap_or_else(|error| panic!("{}: {error}", local.display()));
    let path = format!("/_matrix/client/v1/media/download/{SERVER_NAME}/{media_id}");
    let downloaded = http::synapse("GET", &path, Some(&token), None).expect("Synapse answers");
    assert_eq!(downloaded.status, 200, "{}\n{}", downloaded.text(), e2e.synapse_log(UNIT));
    assert_eq!(downloaded.body, bytes, "the file came back from S3");
}
