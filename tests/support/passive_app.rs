//! What every passive provider application of the tests shares: an application that runs
//! no hooks, provides one endpoint, and whose data the tests write.

use juju_sim::{AppSpec, CharmMeta, HookRun, Simulator};

/// The metadata of `app`: `provides: <endpoint>: interface: <interface>`.
pub fn metadata(app: &str, endpoint: &str, interface: &str) -> CharmMeta {
    CharmMeta::from_yaml(&format!("name: {app}\nprovides:\n  {endpoint}:\n    interface: {interface}\n"))
        .unwrap_or_else(|error| panic!("{app} metadata: {error}"))
}

/// Adds `app` with `units` units (the first leads); no hook runs.
pub fn add(sim: &mut Simulator, app: &str, endpoint: &str, interface: &str, units: u32) {
    let spec = AppSpec::passive(app, metadata(app, endpoint, interface)).units(units);
    sim.add_app(spec).unwrap_or_else(|error| panic!("{app} added: {error}"));
}

/// `juju integrate <requirer>:<endpoint> <app>:<endpoint>`: the relation id and the hooks
/// that ran.
pub fn integrate(sim: &mut Simulator, requirer: &str, app: &str, endpoint: &str) -> (u32, Vec<HookRun>) {
    sim.integrate(&format!("{requirer}:{endpoint}"), &format!("{app}:{endpoint}")).expect("integrate runs")
}
