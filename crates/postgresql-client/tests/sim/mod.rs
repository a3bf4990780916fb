//! A model in the simulated Juju: a requirer application whose hooks the tests run in-process,
//! and a passive `postgresql-k8s` whose leader publishes the way postgresql-k8s 14 and 16 do.

use std::collections::BTreeMap;

use juju::{HookContext, HookTools, RelationId};
use juju_sim::charm::CharmMeta;
use juju_sim::model::{Bag, GrantTarget, SecretOwner};
use juju_sim::{AppSpec, Event, HookRun, Simulator};

pub const REQUIRER: &str = "myapp";
pub const PROVIDER: &str = "postgresql-k8s";
pub const ENDPOINT: &str = "database";
pub const PRIMARY: &str = "postgresql-k8s-primary.dev.svc.cluster.local:5432";
pub const REPLICAS: &str = "postgresql-k8s-replicas.dev.svc.cluster.local:5432";
pub const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";

pub struct Model {
    pub sim: Simulator,
    pub relation: u32,
}

/// What the provider published (the URIs of its secrets).
pub struct Published {
    pub user: String,
    pub tls: String,
}

fn meta(name: &str, role: &str) -> CharmMeta {
    CharmMeta::from_yaml(&format!("name: {name}\n{role}:\n  {ENDPOINT}:\n    interface: postgresql_client\n"))
        .unwrap()
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Model {
    /// The requirer with `units` units (`myapp/0` leads), related to a one-unit provider.
    pub fn new(units: u32) -> Self {
        let mut sim = Simulator::new().unwrap();
        sim.add_app(AppSpec::passive(REQUIRER, meta(REQUIRER, "requires")).units(units)).unwrap();
        sim.add_app(AppSpec::passive(PROVIDER, meta(PROVIDER, "provides"))).unwrap();
        let relation = sim.add_relation(REQUIRER, PROVIDER).unwrap();
        Self { sim, relation }
    }

    pub fn relation_id(&self) -> RelationId {
        RelationId::new(ENDPOINT, self.relation)
    }

    pub fn bag(&self, app: &str) -> BTreeMap<String, String> {
        self.sim.relation_data(self.relation, &Bag::App(app.into())).unwrap()
    }

    /// Writes the provider's application bag as its leader would (an empty value deletes).
    pub fn provider_sets(&mut self, data: &[(&str, &str)]) {
        self.sim.set_relation_data(self.relation, Bag::App(PROVIDER.into()), map(data)).unwrap();
    }

    /// A secret owned by the provider application, labelled as postgresql-k8s labels it.
    pub fn provider_secret(&mut self, group: &str, content: &[(&str, &str)]) -> String {
        let label = format!("{ENDPOINT}.{}.{group}.secret", self.relation);
        self.sim.add_secret(SecretOwner::Application(PROVIDER.into()), map(content), Some(label)).unwrap()
    }

    pub fn grant(&mut self, uri: &str) {
        self.sim.grant_secret(uri, self.relation, GrantTarget::Application(REQUIRER.into())).unwrap();
    }

    /// What postgresql-k8s does once it processed the request: the user and TLS secrets,
    /// granted to the relation, and the bag keys.
    pub fn provider_answers(&mut self, password: &str) -> Published {
        let username = format!("relation_id_{}", self.relation);
        let uris = format!("postgresql://{username}:{password}@{PRIMARY}/{REQUIRER}");
        let user =
            self.provider_secret("user", &[("username", &username), ("password", password), ("uris", &uris)]);
        let tls = self.provider_secret("tls", &[("tls", "True"), ("tls-ca", CA)]);
        self.grant(&user);
        self.grant(&tls);
        self.provider_sets(&[
            ("secret-user", &user),
            ("secret-tls", &tls),
            ("endpoints", PRIMARY),
            ("read-only-endpoints", REPLICAS),
            ("version", "16.9"),
            ("database", REQUIRER),
            ("data", r#"{"database": "myapp"}"#),
        ]);
        Published { user, tls }
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
