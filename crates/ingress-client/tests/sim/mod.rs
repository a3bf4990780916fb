//! A model in the simulated Juju: a requirer application whose hooks the tests run in-process,
//! and a passive `traefik-k8s` whose leader answers the way traefik-k8s does
//! (`shared/specs/integrations.md` §5): `ingress` = `{"url": "<url>"}` in its application bag,
//! deleted when revoked.

use std::collections::BTreeMap;

use juju::{HookContext, HookTools, RelationId};
use juju_sim::charm::CharmMeta;
use juju_sim::model::Bag;
use juju_sim::{AppSpec, Event, HookRun, Simulator};

pub const REQUIRER: &str = "synapse";
pub const PROVIDER: &str = "traefik-k8s";
pub const ENDPOINT: &str = "ingress";

pub struct Model {
    pub sim: Simulator,
    pub relation: u32,
}

fn meta(name: &str, role: &str, limit: &str) -> CharmMeta {
    CharmMeta::from_yaml(&format!("name: {name}\n{role}:\n  {ENDPOINT}:\n    interface: ingress\n{limit}"))
        .unwrap()
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Model {
    /// The requirer with `units` units (`synapse/0` leads), related to a one-unit traefik-k8s
    /// that has published nothing yet.
    pub fn new(units: u32) -> Self {
        let mut sim = Simulator::new().unwrap();
        let requirer = meta(REQUIRER, "requires", "    limit: 2\n");
        sim.add_app(AppSpec::passive(REQUIRER, requirer).units(units)).unwrap();
        sim.add_app(AppSpec::passive(PROVIDER, meta(PROVIDER, "provides", ""))).unwrap();
        let relation = sim.add_relation(REQUIRER, PROVIDER).unwrap();
        Self { sim, relation }
    }

    pub fn relation_id(&self) -> RelationId {
        RelationId::new(ENDPOINT, self.relation)
    }

    pub fn changed(&self) -> Event {
        Event::RelationChanged { relation: self.relation, unit: None }
    }

    /// The pod IP of a unit.
    pub fn address(&self, unit: &str) -> String {
        self.sim.unit(unit).unwrap().address.clone()
    }

    pub fn bag(&self, bag: Bag) -> BTreeMap<String, String> {
        self.sim.relation_data(self.relation, &bag).unwrap()
    }

    /// The requirer's application bag as the provider reads it.
    pub fn app_bag(&self) -> BTreeMap<String, String> {
        self.bag(Bag::App(REQUIRER.into()))
    }

    /// A requirer unit's bag as the provider reads it.
    pub fn unit_bag(&self, unit: &str) -> BTreeMap<String, String> {
        self.bag(Bag::Unit(unit.into()))
    }

    /// The traefik-k8s leader writes its application bag (an empty value deletes).
    pub fn provider_sets(&mut self, data: &[(&str, &str)]) {
        self.sim.set_relation_data(self.relation, Bag::App(PROVIDER.into()), map(data)).unwrap();
    }

    /// What traefik-k8s publishes once the requirer's data validates.
    pub fn provider_answers(&mut self, url: &str) {
        self.provider_sets(&[("ingress", &format!(r#"{{"url": "{url}"}}"#))]);
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
