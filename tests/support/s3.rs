//! S3 for the media tests.
//!
//! - [`S3Integrator`]: a passive s3-integrator for the simulated Juju, on its
//!   `s3-credentials` endpoint, answering the way either track does
//!   (`shared/specs/integrations.md` §3): track 1 once the requirer wrote `bucket`, everything
//!   in plain text (its `bucket` option, else the requested bucket); track 2 its `lib-version`
//!   when the relation is created, then, to a requirer listing `requested-secrets`, the keys
//!   in one secret of its own granted to the relation (`secret-extra`) and its `bucket`
//!   option or else the requested bucket; to one that does not, plain keys and only its own
//!   `bucket` option (none while that is unset).
//! - [`S3Server`]: a real S3 server, moto (PyPI `moto[server]`, from the Synapse venv), on a
//!   free port of a local address, with boto3 from the same venv to create buckets and read
//!   what they hold. Dropping it kills the server.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};

use juju_sim::model::{Bag, GrantTarget, SecretOwner};
use juju_sim::{HookRun, Simulator};
use serde_json::Value;
use test_support::PythonVenv;

use super::passive_app;

/// s3-integrator's application and endpoint names, and Synapse's endpoint.
pub const S3_APP: &str = "s3-integrator";
pub const S3_ENDPOINT: &str = "s3-credentials";
pub const MEDIA_ENDPOINT: &str = "media";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// canonical/s3-integrator (the v0 library): no secrets.
    One,
    /// canonical/object-storage-integrators (LIBAPI 1): the keys in a secret.
    Two,
}

/// s3-integrator's options (track 1: and what `sync-s3-credentials` set).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub bucket: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path: Option<String>,
    /// `path` or `host`.
    pub s3_uri_style: Option<String>,
    pub tls_ca_chain: Vec<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
}

/// A passive s3-integrator.
#[derive(Debug, Clone)]
pub struct S3Integrator {
    /// Its application name.
    pub app: String,
    pub track: Track,
    /// Track 2's credentials secret, once created.
    pub secret: Option<String>,
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
}

impl S3Integrator {
    /// Adds s3-integrator with one unit; no hook runs.
    pub fn deploy(sim: &mut Simulator, track: Track) -> Self {
        Self::deploy_as(sim, S3_APP, track)
    }

    /// Adds an s3-integrator application named `app` with one unit; no hook runs.
    pub fn deploy_as(sim: &mut Simulator, app: &str, track: Track) -> Self {
        passive_app::add(sim, app, S3_ENDPOINT, "s3", 1);
        Self { app: app.to_string(), track, secret: None }
    }

    /// `juju integrate <requirer>:media s3-integrator`: the relation id and the hooks that ran,
    /// then (track 2) its `lib-version`, written in its relation-created.
    pub fn integrate(&self, sim: &mut Simulator, requirer: &str) -> (u32, Vec<HookRun>) {
        self.integrate_with(sim, requirer, MEDIA_ENDPOINT)
    }

    /// `juju integrate <requirer>:<endpoint> <app>`, as [`Self::integrate`] does.
    pub fn integrate_with(&self, sim: &mut Simulator, requirer: &str, endpoint: &str) -> (u32, Vec<HookRun>) {
        let (relation, mut runs) = sim
            .integrate(&format!("{requirer}:{endpoint}"), &format!("{}:{S3_ENDPOINT}", self.app))
            .expect("integrate runs");
        if self.track == Track::Two {
            runs.extend(self.write(sim, relation, map(&[("lib-version", "1.0")])));
        }
        (relation, runs)
    }

    /// What the requirer's leader wrote.
    pub fn request(&self, sim: &Simulator, relation: u32, requirer: &str) -> BTreeMap<String, String> {
        sim.relation_data(relation, &Bag::App(requirer.into())).expect("the relation exists")
    }

    /// What the integrator published.
    pub fn published(&self, sim: &Simulator, relation: u32) -> BTreeMap<String, String> {
        sim.relation_data(relation, &Bag::App(self.app.clone())).expect("the relation exists")
    }

    /// What its leader writes for `options` given the requirer's request (nothing while the
    /// request lacks what the track waits for); it replaces its whole bag.
    pub fn answer(
        &mut self,
        sim: &mut Simulator,
        relation: u32,
        requirer: &str,
        options: &S3Options,
    ) -> Vec<HookRun> {
        let request = self.request(sim, relation, requirer);
        let requested_bucket = request.get("bucket").cloned();
        let mut runs = Vec::new();
        let mut data = BTreeMap::new();
        let mut put = |key: &str, value: Option<&String>| {
            if let Some(value) = value.filter(|value| !value.is_empty()) {
                data.insert(key.to_string(), value.clone());
            }
        };
        put("endpoint", options.endpoint.as_ref());
        put("region", options.region.as_ref());
        put("path", options.path.as_ref());
        put("s3-uri-style", options.s3_uri_style.as_ref());
        let chain = serde_json::to_string(&options.tls_ca_chain).expect("a list");
        put("tls-ca-chain", (!options.tls_ca_chain.is_empty()).then_some(&chain));
        match self.track {
            Track::One => {
                let Some(requested) = requested_bucket else { return Vec::new() };
                put("bucket", options.bucket.as_ref().or(Some(&requested)));
                put("access-key", options.access_key.as_ref());
                put("secret-key", options.secret_key.as_ref());
                let snapshot = serde_json::to_string(&request).expect("a map");
                put("data", Some(&snapshot));
            }
            Track::Two => {
                if !request.contains_key("lib-version") && requested_bucket.is_none() {
                    return Vec::new();
                }
                put("lib-version", Some(&"1.0".to_string()));
                if request.contains_key("requested-secrets") {
                    put("bucket", options.bucket.as_ref().or(requested_bucket.as_ref()));
                    if let (Some(access), Some(secret)) = (&options.access_key, &options.secret_key) {
                        let (uri, secret_runs) =
                            self.credentials_secret(sim, relation, requirer, access, secret);
                        runs.extend(secret_runs);
                        put("secret-extra", Some(&uri));
                    }
                } else {
                    put("bucket", options.bucket.as_ref());
                    put("access-key", options.access_key.as_ref());
                    put("secret-key", options.secret_key.as_ref());
                }
            }
        }
        runs.extend(self.replace(sim, relation, data));
        runs
    }

    /// Track 2's answer to the Python charm's v0 request (`bucket` only, no
    /// `requested-secrets`), as a deployment taken over from it holds until the integrator
    /// answers the new request: plain keys, and its `bucket` option only.
    pub fn answer_v0_request(
        &mut self,
        sim: &mut Simulator,
        relation: u32,
        options: &S3Options,
    ) -> Vec<HookRun> {
        assert_eq!(self.track, Track::Two, "what track 2 does");
        let mut data = map(&[("lib-version", "1.0")]);
        for (key, value) in [
            ("bucket", &options.bucket),
            ("endpoint", &options.endpoint),
            ("region", &options.region),
            ("path", &options.path),
            ("s3-uri-style", &options.s3_uri_style),
            ("access-key", &options.access_key),
            ("secret-key", &options.secret_key),
        ] {
            if let Some(value) = value {
                data.insert(key.to_string(), value.clone());
            }
        }
        self.replace(sim, relation, data)
    }

    /// The keys in track 2's secret: created and granted to the relation the first time, a
    /// new revision (`secret-changed` on the requirer) after.
    fn credentials_secret(
        &mut self,
        sim: &mut Simulator,
        relation: u32,
        requirer: &str,
        access: &str,
        secret: &str,
    ) -> (String, Vec<HookRun>) {
        let content = map(&[("access-key", access), ("secret-key", secret)]);
        match self.secret.clone() {
            Some(uri) => {
                let runs = sim.update_secret(&uri, content).expect("secret updated");
                (uri, runs)
            }
            None => {
                let label = format!("s3-credentials.{relation}.extra.secret");
                let owner = SecretOwner::Application(self.app.clone());
                let uri = sim.add_secret(owner, content, Some(label)).expect("secret added");
                sim.grant_secret(&uri, relation, GrantTarget::Application(requirer.into())).expect("granted");
                self.secret = Some(uri.clone());
                (uri, Vec::new())
            }
        }
    }

    /// Makes its application bag exactly `data`.
    fn replace(&self, sim: &mut Simulator, relation: u32, data: BTreeMap<String, String>) -> Vec<HookRun> {
        let mut new = data;
        for key in self.published(sim, relation).into_keys() {
            new.entry(key).or_default();
        }
        self.write(sim, relation, new)
    }

    fn write(&self, sim: &mut Simulator, relation: u32, data: BTreeMap<String, String>) -> Vec<HookRun> {
        sim.set_relation_data(relation, Bag::App(self.app.clone()), data).expect("bag written")
    }
}

/// Starts moto's threaded server on the address and a free port; prints `ready <port>`.
const SERVER: &str = "\
import sys, time
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address=sys.argv[1], port=0, verbose=False)
server.start()
print('ready', server.get_host_and_port()[1], flush=True)
while True:
    time.sleep(3600)
";

/// boto3 against the server: `argv[1]` the endpoint, `argv[2]` a JSON request; prints JSON.
const CLIENT: &str = "\
import json, sys, boto3
from botocore.config import Config
request = json.loads(sys.argv[2])
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',
                  aws_access_key_id=request['access_key'], aws_secret_access_key=request['secret_key'],
                  config=Config(s3={'addressing_style': 'path'}))
if request['op'] == 'create':
    s3.create_bucket(Bucket=request['bucket'])
    print(json.dumps({}))
elif request['op'] == 'list':
    pages = s3.get_paginator('list_objects_v2').paginate(Bucket=request['bucket'])
    print(json.dumps([{'key': o['Key'], 'size': o['Size']} for p in pages for o in p.get('Contents', [])]))
elif request['op'] == 'get':
    body = s3.get_object(Bucket=request['bucket'], Key=request['key'])['Body'].read()
    print(json.dumps({'hex': body.hex()}))
";

/// One object of a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub key: String,
    pub size: u64,
}

/// A real S3 server (moto); any key pair is accepted.
pub struct S3Server {
    venv: PythonVenv,
    address: IpAddr,
    port: u16,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl S3Server {
    /// Starts the server on `address`.
    pub fn start_on(address: IpAddr) -> Self {
        let venv = PythonVenv::find("synapse");
        let log = tempfile::Builder::new().prefix("synapse-k8s-s3-").tempfile().expect("a log file");
        let mut child = Command::new(venv.python())
            .args(["-c", SERVER, &address.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.reopen().expect("the log")))
            .spawn()
            .expect("the S3 server starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("its first line");
        let Some(port) = line.trim().strip_prefix("ready ").and_then(|port| port.parse().ok()) else {
            let _ = child.kill();
            let output = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("the S3 server did not start ({line:?}):\n{output}");
        };
        Self { venv, address, port, child, log }
    }

    /// `http://<address>:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.address, self.port)
    }

    fn call(&self, request: Value) -> Value {
        let mut request = request;
        request["access_key"] = "test-admin".into();
        request["secret_key"] = "test-admin-secret".into();
        let output = Command::new(self.venv.python())
            .args(["-c", CLIENT, &self.endpoint(), &request.to_string()])
            .output()
            .expect("boto3 runs");
        assert!(
            output.status.success(),
            "boto3 {request}: {}\nthe server's log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        serde_json::from_slice(&output.stdout).expect("JSON from boto3")
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.call(serde_json::json!({"op": "create", "bucket": bucket}));
    }

    /// Every object of `bucket`, by key.
    pub fn objects(&self, bucket: &str) -> Vec<S3Object> {
        let listed = self.call(serde_json::json!({"op": "list", "bucket": bucket}));
        listed
            .as_array()
            .expect("a list")
            .iter()
            .map(|object| S3Object {
                key: object["key"].as_str().expect("a key").to_string(),
                size: object["size"].as_u64().expect("a size"),
            })
            .collect()
    }

    /// The content of an object.
    pub fn object(&self, bucket: &str, key: &str) -> Vec<u8> {
        let got = self.call(serde_json::json!({"op": "get", "bucket": bucket, "key": key}));
        let hex = got["hex"].as_str().expect("hex content");
        (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex")).collect()
    }

    /// What the server logged (one line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
