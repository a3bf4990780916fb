//! A model in the simulated Juju: a requirer application whose hooks the tests run in-process,
//! and a passive `redis-k8s` whose units and leader publish the way redis-k8s does
//! (`shared/specs/integrations.md` §2): each unit `hostname` (an IP) and `port` (`"6379"`)
//! in its own bag, the leader `leader-host` (the master's address) in the application bag.

use std::collections::BTreeMap;

use juju::{HookContext, HookTools, RelationId};
use juju_sim::charm::CharmMeta;
use juju_sim::model::Bag;
use juju_sim::{AppSpec, Event, HookRun, Simulator};

pub const REQUIRER: &str = "synapse";
pub const PROVIDER: &str = "redis-k8s";
pub const ENDPOINT: &str = "redis";

pub struct Model {
    pub sim: Simulator,
    pub relation: u32,
}

fn meta(name: &str, role: &str) -> CharmMeta {
    CharmMeta::from_yaml(&format!(
        "name: {name}\n{role}:\n  {ENDPOINT}:\n    interface: redis\n    limit: 1\n"
    ))
    .unwrap()
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Model {
    /// The requirer with `units` units (`synapse/0` leads), related to `redis_units` redis-k8s
    /// units that have published nothing yet.
    pub fn new(units: u32, redis_units: u32) -> Self {
        let mut sim = Simulator::new().unwrap();
        sim.add_app(AppSpec::passive(REQUIRER, meta(REQUIRER, "requires")).units(units)).unwrap();
        sim.add_app(AppSpec::passive(PROVIDER, meta(PROVIDER, "provides")).units(redis_units)).unwrap();
        let relation = sim.add_relation(REQUIRER, PROVIDER).unwrap();
        Self { sim, relation }
    }

    pub fn relation_id(&self) -> RelationId {
        RelationId::new(ENDPOINT, self.relation)
    }

    /// The pod IP of a redis unit.
    pub fn address(&self, unit: &str) -> String {
        self.sim.unit(unit).unwrap().address.clone()
    }

    /// A redis unit writes its own bag (an empty value deletes).
    pub fn unit_sets(&mut self, unit: &str, data: &[(&str, &str)]) {
        self.sim.set_relation_data(self.relation, Bag::Unit(unit.into()), map(data)).unwrap();
    }

    /// What a redis-k8s unit publishes: `hostname` = `hostname`, `port` = `6379`.
    pub fn unit_publishes(&mut self, unit: &str, hostname: &str) {
        self.unit_sets(unit, &[("hostname", hostname), ("port", "6379")]);
    }

    /// The redis-k8s leader writes `leader-host` (an empty value deletes it).
    pub fn leader_publishes(&mut self, leader_host: &str) {
        self.sim
            .set_relation_data(self.relation, Bag::App(PROVIDER.into()), map(&[("leader-host", leader_host)]))
            .unwrap();
    }

    /// Every unit writes its own pod IP (the charm's pebble-ready handler), the leader the
    /// master's IP as `leader-host`.
    pub fn redis_k8s_publishes(&mut self, master: &str) {
        let units: Vec<String> = self.sim.app(PROVIDER).unwrap().unit_names().map(str::to_string).collect();
        for unit in units {
            let address = self.address(&unit);
            self.unit_publishes(&unit, &address);
        }
        let master = self.address(master);
        self.leader_publishes(&master);
    }

    pub fn bag(&self, bag: Bag) -> BTreeMap<String, String> {
        self.sim.relation_data(self.relation, &bag).unwrap()
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
