//! A model for the fault and soak tests: Synapse (each unit with its simulated Pebble) and
//! bridges made of the example requirer charm, every step returning the simulator's result
//! so that a failed hook is the test's to judge.

use juju_sim::{AppSpec, HookRun, SimError};

use super::requirers::make_rust_requirer_dir;
use super::{Harness, APP, SERVER_NAME};

/// The bridge the scenarios integrate.
pub const BRIDGE: &str = "irc";

pub struct World {
    pub harness: Harness,
    requirers: tempfile::TempDir,
}

impl World {
    pub fn new() -> Self {
        let requirers =
            tempfile::Builder::new().prefix("requirer-charm-").tempdir().expect("a temporary directory");
        make_rust_requirer_dir(requirers.path());
        Self { harness: Harness::new(), requirers }
    }

    /// Deploys Synapse with `units` units, each Pebble up from the start.
    pub fn deploy(&mut self, units: u32) -> Result<Vec<HookRun>, SimError> {
        for number in 0..units {
            self.harness.start_pebble(&format!("{APP}/{number}"));
        }
        let spec =
            AppSpec::charm(APP, self.harness.charm_dir()).units(units).config("server_name", SERVER_NAME);
        self.harness.sim.deploy(spec)
    }

    /// Deploys the example bridge charm as `app`, not integrated, with a sender and a
    /// namespace of its own (`<app>-bot`, `<app>_`) so that bridges do not clash.
    pub fn deploy_bridge(&mut self, app: &str) -> Result<Vec<HookRun>, SimError> {
        let spec = AppSpec::charm(app, self.requirers.path())
            .units(1)
            .config("bot-nickname", format!("{app}-bot"))
            .config("namespace-prefix", format!("{app}_"));
        self.harness.sim.deploy(spec)
    }

    /// `juju add-unit synapse`, its Pebble up first: the new unit's name.
    pub fn add_unit(&mut self) -> Result<String, SimError> {
        let next = self.harness.sim.model().applications.get(APP).map_or(0, |app| app.next_unit);
        self.harness.start_pebble(&format!("{APP}/{next}"));
        self.harness.sim.add_unit(APP).map(|(unit, _)| unit)
    }

    pub fn synapse_units(&self) -> Vec<String> {
        self.harness
            .sim
            .app(APP)
            .map(|app| app.unit_names().map(str::to_string).collect())
            .unwrap_or_default()
    }
}
