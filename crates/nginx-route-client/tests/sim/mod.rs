//! A model in the simulated Juju: a requirer application whose hooks the tests run in-process,
//! and a passive `nginx-ingress-integrator`, which answers nothing
//! (`shared/specs/integrations.md` §6).

use std::collections::BTreeMap;

use juju::{HookContext, HookTools, RelationId};
use juju_sim::charm::CharmMeta;
use juju_sim::model::Bag;
use juju_sim::{AppSpec, Event, HookRun, Simulator};

pub const REQUIRER: &str = "synapse";
pub const PROVIDER: &str = "nginx-ingress-integrator";
pub const ENDPOINT: &str = "nginx-route";

pub struct Model {
    pub sim: Simulator,
    pub relation: u32,
}

fn meta(name: &str, role: &str, limit: &str) -> CharmMeta {
    CharmMeta::from_yaml(&format!(
        "name: {name}\n{role}:\n  {ENDPOINT}:\n    interface: nginx-route\n{limit}"
    ))
    .unwrap()
}

impl Model {
    /// The requirer with `units` units (`synapse/0` leads), related to a one-unit
    /// nginx-ingress-integrator.
    pub fn new(units: u32) -> Self {
        let mut sim = Simulator::new().unwrap();
        let requirer = meta(REQUIRER, "requires", "    limit: 1\n");
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

    pub fn bag(&self, bag: Bag) -> BTreeMap<String, String> {
        self.sim.relation_data(self.relation, &bag).unwrap()
    }

    /// The requirer's application bag as the provider reads it.
    pub fn app_bag(&self) -> BTreeMap<String, String> {
        self.bag(Bag::App(REQUIRER.into()))
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
