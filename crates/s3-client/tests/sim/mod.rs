//! A model in the simulated Juju: a requirer application whose hooks the tests run in-process,
//! and a passive `s3-integrator` whose leader publishes the way either track does
//! (`shared/specs/integrations.md` §3):
//!
//! - track 1 (the v0 library): once the requirer wrote `bucket`, everything in plain text,
//!   with the integrator's `bucket` option or else the requested bucket, `tls-ca-chain` as a
//!   JSON list and `data`, its snapshot of the requirer's bag;
//! - track 2 (LIBAPI 1): `lib-version` at once, nothing else until the requirer wrote
//!   `lib-version` or `bucket`; then, for a requirer listing `requested-secrets`, the keys in
//!   one secret of its own (label `s3-credentials.<id>.extra.secret`), granted to the
//!   relation, its URI as `secret-extra`; for one that does not, the keys in plain text and
//!   only its own `bucket` option (no `bucket` key while that is unset).

use std::collections::BTreeMap;

use juju::{HookContext, HookTools, RelationId};
use juju_sim::charm::CharmMeta;
use juju_sim::model::{Bag, GrantTarget, SecretOwner};
use juju_sim::{AppSpec, Event, HookRun, Simulator};

pub const REQUIRER: &str = "synapse";
pub const PROVIDER: &str = "s3-integrator";
pub const ENDPOINT: &str = "media";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    One,
    Two,
}

/// s3-integrator's options (and, for track 1, what `sync-s3-credentials` set).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub bucket: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path: Option<String>,
    pub s3_uri_style: Option<String>,
    pub tls_ca_chain: Vec<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
}

/// A MinIO-style store: an endpoint, path-style addressing, keys, no bucket option.
pub fn minio() -> Options {
    Options {
        endpoint: Some("http://10.1.2.3:9000".into()),
        path: Some("synapse/".into()),
        s3_uri_style: Some("path".into()),
        access_key: Some("AKIAMINIO0001".into()),
        secret_key: Some("minio-secret-key-1".into()),
        ..Options::default()
    }
}

pub struct Model {
    pub sim: Simulator,
    pub relation: u32,
    pub track: Track,
    pub options: Options,
    /// Track 2's credentials secret, once created.
    pub secret: Option<String>,
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Model {
    /// The requirer with `units` units (`synapse/0` leads), related to s3-integrator of
    /// `track`; a track-2 integrator has written its `lib-version` (its relation-created).
    pub fn new(units: u32, track: Track, options: Options) -> Self {
        let requirer =
            format!("name: {REQUIRER}\nrequires:\n  {ENDPOINT}:\n    interface: s3\n    limit: 1\n");
        let provider = format!("name: {PROVIDER}\nprovides:\n  s3-credentials:\n    interface: s3\n");
        let mut sim = Simulator::new().unwrap();
        sim.add_app(AppSpec::passive(REQUIRER, CharmMeta::from_yaml(&requirer).unwrap()).units(units))
            .unwrap();
        sim.add_app(AppSpec::passive(PROVIDER, CharmMeta::from_yaml(&provider).unwrap())).unwrap();
        let relation = sim.add_relation(REQUIRER, &format!("{PROVIDER}:s3-credentials")).unwrap();
        let mut model = Self { sim, relation, track, options, secret: None };
        if track == Track::Two {
            model.provider_sets(&[("lib-version", "1.0")]);
        }
        model
    }

    pub fn relation_id(&self) -> RelationId {
        RelationId::new(ENDPOINT, self.relation)
    }

    pub fn bag(&self, bag: Bag) -> BTreeMap<String, String> {
        self.sim.relation_data(self.relation, &bag).unwrap()
    }

    /// The provider leader writes some keys of its application bag (an empty value deletes).
    pub fn provider_sets(&mut self, data: &[(&str, &str)]) {
        self.sim.set_relation_data(self.relation, Bag::App(PROVIDER.into()), map(data)).unwrap();
    }

    /// The provider leader makes its application bag exactly `data`.
    fn provider_replaces(&mut self, data: BTreeMap<String, String>) {
        let mut new = data;
        for key in self.bag(Bag::App(PROVIDER.into())).into_keys() {
            new.entry(key).or_default();
        }
        self.sim.set_relation_data(self.relation, Bag::App(PROVIDER.into()), new).unwrap();
    }

    /// What the integrator's leader writes now, given the requirer's application bag.
    pub fn integrator_answers(&mut self) {
        let request = self.bag(Bag::App(REQUIRER.into()));
        let requested_bucket = request.get("bucket").cloned();
        let options = self.options.clone();
        let mut data = BTreeMap::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(value) = value.filter(|value| !value.is_empty()) {
                data.insert(key.to_string(), value);
            }
        };
        put("endpoint", options.endpoint.clone());
        put("region", options.region.clone());
        put("path", options.path.clone());
        put("s3-uri-style", options.s3_uri_style.clone());
        if !options.tls_ca_chain.is_empty() {
            put("tls-ca-chain", Some(serde_json::to_string(&options.tls_ca_chain).unwrap()));
        }
        match self.track {
            Track::One => {
                let Some(requested) = requested_bucket else { return };
                put("bucket", Some(options.bucket.clone().unwrap_or(requested)));
                put("access-key", options.access_key.clone());
                put("secret-key", options.secret_key.clone());
                put("data", Some(serde_json::to_string(&request).unwrap()));
            }
            Track::Two => {
                if !request.contains_key("lib-version") && requested_bucket.is_none() {
                    return;
                }
                put("lib-version", Some("1.0".into()));
                if request.contains_key("requested-secrets") {
                    put("bucket", options.bucket.clone().or(requested_bucket));
                    if let (Some(access), Some(secret)) = (&options.access_key, &options.secret_key) {
                        let uri = self.credentials_secret(access, secret);
                        put("secret-extra", Some(uri));
                    }
                } else {
                    put("bucket", options.bucket.clone());
                    put("access-key", options.access_key.clone());
                    put("secret-key", options.secret_key.clone());
                }
            }
        }
        self.provider_replaces(data);
    }

    /// Track 2's credentials secret with the given keys: created and granted to the relation
    /// the first time, a new revision after.
    fn credentials_secret(&mut self, access: &str, secret: &str) -> String {
        let content = map(&[("access-key", access), ("secret-key", secret)]);
        match self.secret.clone() {
            Some(uri) => {
                self.sim.update_secret(&uri, content).unwrap();
                uri
            }
            None => {
                let label = format!("s3-credentials.{}.extra.secret", self.relation);
                let owner = SecretOwner::Application(PROVIDER.into());
                let uri = self.sim.add_secret(owner, content, Some(label)).unwrap();
                self.grant(&uri);
                self.secret = Some(uri.clone());
                uri
            }
        }
    }

    pub fn grant(&mut self, uri: &str) {
        self.sim.grant_secret(uri, self.relation, GrantTarget::Application(REQUIRER.into())).unwrap();
    }

    pub fn revoke(&mut self, uri: &str) {
        self.sim.revoke_secret(uri, &GrantTarget::Application(REQUIRER.into())).unwrap();
    }

    /// Runs one hook of `unit` in-process (see [`juju_sim::Simulator::hook_in_process`]).
    pub fn hook<T>(
        &mut self,
        unit: &str,
        event: Event,
        body: impl FnOnce(&HookTools, &HookContext) -> T,
    ) -> (T, HookRun) {
        self.sim.hook_in_process(unit, event, body).unwrap()
    }
}
