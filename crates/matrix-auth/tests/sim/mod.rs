//! A model in the simulated Juju with Synapse and requirer applications whose hooks the tests
//! run in-process through the simulator's hook tools.

use std::collections::BTreeMap;

use juju::{HookContext, HookTools};
use juju_sim::charm::CharmMeta;
use juju_sim::model::Bag;
use juju_sim::{AppSpec, Event, HookRun, Simulator};

pub const HOMESERVER: &str = "https://matrix.example.com";
pub const SHARED: &str = "shared-secret-value-0123456789";

pub struct Model {
    pub sim: Simulator,
}

fn meta(name: &str, role: &str) -> CharmMeta {
    CharmMeta::from_yaml(&format!("name: {name}\n{role}:\n  matrix-auth:\n    interface: matrix_auth\n"))
        .unwrap()
}

impl Model {
    /// Synapse with `synapse_units` units (synapse/0 leads) and one-unit requirers.
    pub fn new(synapse_units: u32, requirers: &[&str]) -> Self {
        let mut sim = Simulator::new().unwrap();
        sim.add_app(AppSpec::passive("synapse", meta("synapse", "provides")).units(synapse_units)).unwrap();
        for requirer in requirers {
            sim.add_app(AppSpec::passive(*requirer, meta(requirer, "requires"))).unwrap();
            sim.add_relation("synapse", requirer).unwrap();
        }
        Self { sim }
    }

    pub fn relation(&self, requirer: &str) -> u32 {
        self.sim.relation_id("synapse", requirer).unwrap()
    }

    pub fn bag(&self, relation: u32, app: &str) -> BTreeMap<String, String> {
        self.sim.relation_data(relation, &Bag::App(app.into())).unwrap()
    }

    /// Writes an application bag as that (passive) application's leader would.
    pub fn set_bag(&mut self, relation: u32, app: &str, data: &[(&str, &str)]) {
        let data = data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.sim.set_relation_data(relation, Bag::App(app.into()), data).unwrap();
    }

    /// Runs one hook of `unit` in-process (see [`juju_sim::Simulator::hook_in_process`]).
    pub fn hook<T>(&mut self, unit: &str, body: impl FnOnce(&HookTools, &HookContext) -> T) -> (T, HookRun) {
        self.sim.hook_in_process(unit, Event::UpdateStatus, body).unwrap()
    }
}
