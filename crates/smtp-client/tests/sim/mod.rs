//! A model in the simulated Juju: a requirer application whose hooks the tests run in-process,
//! and a passive `smtp-integrator` whose leader publishes the way smtp-integrator does
//! (`shared/specs/integrations.md` §4): on `smtp`, the password in an unlabeled secret it
//! owns and grants to the relation (or a user secret it does not grant), its URI as
//! `password_id`; on `smtp-legacy`, the password in plain text. It replaces the whole
//! application bag whenever the content differs.
//!
//! juju-sim has no model-owned (user) secrets: a user secret is stood in for by a secret no
//! one grants to the requirer, which `secret-get` refuses the same way (`permission denied`),
//! and the operator's `juju grant-secret` by a grant to the requirer application.

use std::collections::BTreeMap;

use juju::{HookContext, HookTools, RelationId};
use juju_sim::charm::CharmMeta;
use juju_sim::model::{Bag, GrantTarget, SecretOwner};
use juju_sim::{AppSpec, Event, HookRun, Simulator};

pub const REQUIRER: &str = "synapse";
pub const PROVIDER: &str = "smtp-integrator";
pub const ENDPOINT: &str = "smtp";

pub struct Model {
    pub sim: Simulator,
    pub relation: u32,
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// What smtp-integrator publishes apart from the password, for a relay on STARTTLS with
/// PLAIN authentication.
pub fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("host", "smtp.example.com"),
        ("port", "587"),
        ("user", "mailer"),
        ("auth_type", "plain"),
        ("transport_security", "starttls"),
        ("skip_ssl_verify", "False"),
        ("domain", "example.com"),
        ("smtp_sender", "noreply@example.com"),
        ("recipients", r#"["ops@example.com", "admin@example.com"]"#),
    ]
}

impl Model {
    /// The requirer with `units` units (`synapse/0` leads), related to smtp-integrator's
    /// `provider_endpoint` (`smtp` or `smtp-legacy`), which has published nothing yet.
    pub fn new(units: u32, provider_endpoint: &str) -> Self {
        let requirer =
            format!("name: {REQUIRER}\nrequires:\n  {ENDPOINT}:\n    interface: smtp\n    limit: 1\n");
        let provider = format!(
            "name: {PROVIDER}\nprovides:\n  smtp:\n    interface: smtp\n  smtp-legacy:\n    interface: smtp\n"
        );
        let mut sim = Simulator::new().unwrap();
        sim.add_app(AppSpec::passive(REQUIRER, CharmMeta::from_yaml(&requirer).unwrap()).units(units))
            .unwrap();
        sim.add_app(AppSpec::passive(PROVIDER, CharmMeta::from_yaml(&provider).unwrap())).unwrap();
        let relation = sim.add_relation(REQUIRER, &format!("{PROVIDER}:{provider_endpoint}")).unwrap();
        Self { sim, relation }
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

    /// The provider leader replaces its whole application bag, as smtp-integrator does.
    pub fn provider_replaces(&mut self, data: &[(&str, &str)]) {
        let mut new = map(data);
        for key in self.bag(Bag::App(PROVIDER.into())).into_keys() {
            new.entry(key).or_default();
        }
        self.sim.set_relation_data(self.relation, Bag::App(PROVIDER.into()), new).unwrap();
    }

    /// A secret of smtp-integrator's with `content`, unlabeled, granted to no one.
    pub fn secret(&mut self, content: &[(&str, &str)]) -> String {
        self.sim.add_secret(SecretOwner::Application(PROVIDER.into()), map(content), None).unwrap()
    }

    /// What `secret.grant(relation)` does on smtp-integrator's side (and what the operator's
    /// `juju grant-secret <uri> synapse` stands in for).
    pub fn grant(&mut self, uri: &str) {
        self.sim.grant_secret(uri, self.relation, GrantTarget::Application(REQUIRER.into())).unwrap();
    }

    /// smtp-integrator on `smtp` with its `password` config: its own secret, granted to the
    /// relation, then the bag. Returns the secret's URI.
    pub fn integrator_publishes_secret(&mut self, password: &str) -> String {
        let uri = self.secret(&[("password", password)]);
        self.grant(&uri);
        let mut data = settings();
        data.push(("password_id", &uri));
        self.provider_replaces(&data);
        uri
    }

    /// smtp-integrator on `smtp` with its `password_secret` config: the operator's user
    /// secret, which smtp-integrator does not grant. Returns the secret's URI.
    pub fn integrator_publishes_user_secret(&mut self, password: &str) -> String {
        let uri = self.secret(&[("password", password)]);
        let mut data = settings();
        data.push(("password_id", &uri));
        self.provider_replaces(&data);
        uri
    }

    /// smtp-integrator on `smtp-legacy`: the password in plain text.
    pub fn integrator_publishes_plain(&mut self, password: &str) {
        let mut data = settings();
        data.push(("password", password));
        self.provider_replaces(&data);
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
