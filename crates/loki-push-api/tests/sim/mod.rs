//! A model in the simulated Juju: a requirer application whose hooks the tests run
//! in-process, related to a passive `loki-k8s` whose units publish their push URL the way
//! loki-k8s does (`shared/specs/integrations.md` §9): `endpoint` = `{"url": …}` in each
//! unit bag.

use std::collections::BTreeMap;

use juju::{HookContext, HookTools, RelationId};
use juju_sim::charm::CharmMeta;
use juju_sim::model::Bag;
use juju_sim::{AppSpec, Event, HookRun, Simulator};

pub const REQUIRER: &str = "synapse";
pub const PROVIDER: &str = "loki-k8s";
pub const ENDPOINT: &str = "logging";

pub struct Model {
    pub sim: Simulator,
    pub relation: u32,
}

fn meta(name: &str, role: &str) -> CharmMeta {
    CharmMeta::from_yaml(&format!("name: {name}\n{role}:\n  {ENDPOINT}:\n    interface: loki_push_api\n"))
        .unwrap()
}

impl Model {
    /// The requirer with `units` units (`synapse/0` leads), related to a loki-k8s of
    /// `loki_units` units that have published nothing yet.
    pub fn new(units: u32, loki_units: u32) -> Self {
        let mut sim = Simulator::new().unwrap();
        sim.add_app(AppSpec::passive(REQUIRER, meta(REQUIRER, "requires")).units(units)).unwrap();
        sim.add_app(AppSpec::passive(PROVIDER, meta(PROVIDER, "provides")).units(loki_units)).unwrap();
        let relation = sim.add_relation(REQUIRER, PROVIDER).unwrap();
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

    /// A Loki unit writes its bag (an empty value deletes).
    pub fn loki_sets(&mut self, unit: &str, data: &[(&str, &str)]) {
        let data = data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.sim.set_relation_data(self.relation, Bag::Unit(unit.into()), data).unwrap();
    }

    /// What loki-k8s publishes from `unit`: its in-cluster push URL.
    pub fn loki_publishes(&mut self, unit: &str) {
        let number = unit.rsplit_once('/').unwrap().1;
        let url = format!(
            r#"{{"url": "http://loki-k8s-{number}.loki-k8s-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push"}}"#
        );
        let address = format!("loki-k8s-{number}.loki-k8s-endpoints.cos.svc.cluster.local");
        self.loki_sets(unit, &[("endpoint", &url), ("public_address", &address)]);
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
