//! A model in the simulated Juju: a provider application whose hooks the tests run
//! in-process, related to a passive `grafana-k8s` that reports back the way grafana-k8s
//! does (`shared/specs/integrations.md` §8): `event` in its application bag.

use std::collections::BTreeMap;

use juju::{HookContext, HookTools, RelationId};
use juju_sim::charm::CharmMeta;
use juju_sim::model::Bag;
use juju_sim::{AppSpec, Event, HookRun, Simulator};

pub const PROVIDER: &str = "synapse";
pub const CONSUMER: &str = "grafana-k8s";
pub const ENDPOINT: &str = "grafana-dashboard";

pub struct Model {
    pub sim: Simulator,
    pub relation: u32,
}

fn meta(name: &str, role: &str) -> CharmMeta {
    CharmMeta::from_yaml(&format!("name: {name}\n{role}:\n  {ENDPOINT}:\n    interface: grafana_dashboard\n"))
        .unwrap()
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Model {
    /// The provider with `units` units (`synapse/0` leads), related to a one-unit
    /// grafana-k8s that has reported nothing.
    pub fn new(units: u32) -> Self {
        let mut sim = Simulator::new().unwrap();
        sim.add_app(AppSpec::passive(PROVIDER, meta(PROVIDER, "provides")).units(units)).unwrap();
        sim.add_app(AppSpec::passive(CONSUMER, meta(CONSUMER, "requires"))).unwrap();
        let relation = sim.add_relation(PROVIDER, CONSUMER).unwrap();
        Self { sim, relation }
    }

    pub fn relation_id(&self) -> RelationId {
        RelationId::new(ENDPOINT, self.relation)
    }

    pub fn changed(&self) -> Event {
        Event::RelationChanged { relation: self.relation, unit: None }
    }

    pub fn bag(&self, bag: Bag) -> BTreeMap<String, String> {
        self.sim.relation_data(self.relation, &bag).unwrap()
    }

    /// The provider's application bag as the consumer reads it.
    pub fn app_bag(&self) -> BTreeMap<String, String> {
        self.bag(Bag::App(PROVIDER.into()))
    }

    /// The grafana-k8s leader writes its application bag (an empty value deletes).
    pub fn consumer_sets(&mut self, data: &[(&str, &str)]) {
        self.sim.set_relation_data(self.relation, Bag::App(CONSUMER.into()), map(data)).unwrap();
    }

    /// Runs one hook of `unit` in-process.
    pub fn hook<T>(
        &mut self,
        unit: &str,
        event: Event,
        body: impl FnOnce(&HookTools, &HookContext) -> T,
    ) -> (T, HookRun) {
        self.sim.hook_in_process(unit, event, body).unwrap()
    }
}
