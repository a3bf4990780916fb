//! A *passive* `redis-k8s` application for the simulated Juju, publishing a real
//! [`RedisServer`]'s address: it runs no hooks; the tests make its units and leader write
//! their bags the way redis-k8s does, as `shared/specs/integrations.md` §2 describes:
//!
//! - every unit's bag: `hostname` (an IP address, the server's here) and `port` (digits);
//! - the leader's application bag: `leader-host`, the master's address (the server's here);
//! - nothing is read from the requirer, which writes nothing; no password, no secret.
//!
//! Each unit writes its own bag (one `relation-changed` per unit on the requirer's side),
//! then the leader its application bag. The functions return the hooks that ran without
//! judging them.

use std::collections::BTreeMap;

use juju_sim::model::Bag;
use juju_sim::{CharmMeta, HookRun, Simulator};

use super::passive_app;
use super::redis::RedisServer;

/// The application name redis-k8s is usually deployed as.
pub const REDIS_APP: &str = "redis-k8s";
/// The endpoint on both sides (`redis`, interface `redis`).
pub const ENDPOINT: &str = "redis";
pub const INTERFACE: &str = "redis";

/// A passive redis-k8s application in a simulated model.
#[derive(Debug, Clone)]
pub struct RedisK8s {
    pub app: String,
}

impl Default for RedisK8s {
    fn default() -> Self {
        Self::named(REDIS_APP)
    }
}

impl RedisK8s {
    pub fn named(app: &str) -> Self {
        Self { app: app.to_string() }
    }

    /// The provider's metadata.
    pub fn metadata(&self) -> CharmMeta {
        passive_app::metadata(&self.app, ENDPOINT, INTERFACE)
    }

    /// Adds the application with `units` units (the first leads); no hook runs.
    pub fn deploy(sim: &mut Simulator, units: u32) -> Self {
        let provider = Self::default();
        provider.add_to(sim, units);
        provider
    }

    /// Adds this application to `sim` with `units` units; no hook runs.
    pub fn add_to(&self, sim: &mut Simulator, units: u32) {
        passive_app::add(sim, &self.app, ENDPOINT, INTERFACE, units);
    }

    /// `juju integrate <requirer>:<endpoint> <app>:<endpoint>`: the relation id and the hooks
    /// that ran.
    pub fn integrate(&self, sim: &mut Simulator, requirer: &str) -> (u32, Vec<HookRun>) {
        passive_app::integrate(sim, requirer, &self.app, ENDPOINT)
    }

    /// The application's units, in Juju's order.
    pub fn units(&self, sim: &Simulator) -> Vec<String> {
        sim.app(&self.app).expect("redis-k8s exists").unit_names().map(str::to_string).collect()
    }

    /// What redis-k8s publishes on `relation` for `server`: every unit's `hostname` and
    /// `port`, then the leader's `leader-host`.
    pub fn publish(&self, sim: &mut Simulator, relation: u32, server: &RedisServer) -> Vec<HookRun> {
        let mut runs = self.publish_units(sim, relation, server);
        runs.extend(self.set_leader_host(sim, relation, &server.host()));
        runs
    }

    /// Only the units' `hostname` and `port` (no `leader-host`, as before the redis-k8s
    /// charm wrote it).
    pub fn publish_units(&self, sim: &mut Simulator, relation: u32, server: &RedisServer) -> Vec<HookRun> {
        let port = server.port().to_string();
        let mut runs = Vec::new();
        for unit in self.units(sim) {
            runs.extend(self.set_unit(
                sim,
                relation,
                &unit,
                &[("hostname", &server.host()), ("port", &port)],
            ));
        }
        runs
    }

    /// `unit` writes its own bag (an empty value deletes the key), malformed values included.
    pub fn set_unit(
        &self,
        sim: &mut Simulator,
        relation: u32,
        unit: &str,
        data: &[(&str, &str)],
    ) -> Vec<HookRun> {
        assert!(unit.starts_with(&format!("{}/", self.app)), "{unit} is not a unit of {}", self.app);
        sim.set_relation_data(relation, Bag::Unit(unit.to_string()), map(data)).expect("unit bag written")
    }

    /// The leader writes `leader-host` (empty: deletes it).
    pub fn set_leader_host(&self, sim: &mut Simulator, relation: u32, host: &str) -> Vec<HookRun> {
        sim.set_relation_data(relation, Bag::App(self.app.clone()), map(&[("leader-host", host)]))
            .expect("application bag written")
    }

    /// The application bag as published.
    pub fn app_bag(&self, sim: &Simulator, relation: u32) -> BTreeMap<String, String> {
        sim.relation_data(relation, &Bag::App(self.app.clone())).expect("relation exists")
    }

    /// `unit`'s bag as published (with the addresses Juju itself writes there).
    pub fn unit_bag(&self, sim: &Simulator, relation: u32, unit: &str) -> BTreeMap<String, String> {
        sim.relation_data(relation, &Bag::Unit(unit.to_string())).expect("relation exists")
    }
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
}
