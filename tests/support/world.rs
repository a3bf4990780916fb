//! A model for the fault and soak tests: Synapse (each unit with its simulated Pebble) and
//! bridges made of the example requirer charm, every step returning the simulator's result
//! so that a failed hook is the test's to judge.

use std::sync::Arc;

use juju_sim::{AppSpec, HookRun, SimError, Simulator};

use super::inspection;
use super::postgres::{Locale, PostgresServer};
use super::postgresql_provider::{AnswerOptions, PostgresqlK8s, ENDPOINT as DATABASE_ENDPOINT};
use super::requirers::make_rust_requirer_dir;
use super::{Harness, APP, SERVER_NAME};

/// The bridge the scenarios integrate.
pub const BRIDGE: &str = "irc";

pub struct World {
    pub harness: Harness,
    requirers: tempfile::TempDir,
    /// The PostgreSQL server postgresql-k8s gives databases on (see [`World::with_database_server`]).
    database_server: Option<Arc<PostgresServer>>,
    /// postgresql-k8s, once [`World::deploy_postgresql`] added it.
    postgresql: Option<PostgresqlK8s>,
}

impl World {
    pub fn new() -> Self {
        let requirers =
            tempfile::Builder::new().prefix("requirer-charm-").tempdir().expect("a temporary directory");
        make_rust_requirer_dir(requirers.path());
        Self { harness: Harness::new(), requirers, database_server: None, postgresql: None }
    }

    /// A world whose postgresql-k8s creates its databases on `server`, emptied first of what
    /// an earlier world made there (its `relation_id_<n>` users and Synapse's database).
    pub fn with_database_server(server: Arc<PostgresServer>) -> Self {
        server.query("postgres", &format!("DROP DATABASE IF EXISTS {APP}"));
        for row in
            server.query("postgres", "SELECT rolname FROM pg_roles WHERE rolname LIKE 'relation\\_id\\_%'")
        {
            server.drop_user_like_postgresql_k8s(&row[0]);
        }
        Self { database_server: Some(server), ..Self::new() }
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

    /// Adds postgresql-k8s (passive, not integrated yet), and scripts Synapse's database
    /// inspection on every unit to find an empty database fit for it.
    pub fn deploy_postgresql(&mut self) {
        for unit in self.synapse_units() {
            inspection::script(self.harness.pebble(&unit), &inspection::fit(0));
        }
        self.postgresql = Some(PostgresqlK8s::deploy(&mut self.harness.sim, 1));
    }

    /// `juju integrate synapse postgresql-k8s`, each failed hook retried as Juju does, then
    /// postgresql-k8s's answer: a real user and database on its server.
    pub fn integrate_database(&mut self) -> Result<Vec<HookRun>, SimError> {
        let postgresql = self.postgresql.as_ref().expect("postgresql-k8s is deployed");
        let server = self.database_server.as_ref().expect("a world with a database server");
        let sim = &mut self.harness.sim;
        let endpoints =
            (format!("{APP}:{DATABASE_ENDPOINT}"), format!("{}:{DATABASE_ENDPOINT}", postgresql.app));
        let outcome = sim.integrate(&endpoints.0, &endpoints.1).map(drop);
        retried_as_juju_does(sim, outcome)?;
        let relation = sim.relation_id(APP, &postgresql.app).expect("the database relation");
        let options = AnswerOptions { locale: Locale::C, ..AnswerOptions::default() };
        postgresql.try_answer_with(sim, server, relation, &options).1
    }
}

/// `outcome` of an operation, its failed hooks retried as Juju retries them until they
/// succeed (a few times: a fault happens once).
pub fn retried_as_juju_does(sim: &mut Simulator, mut outcome: Result<(), SimError>) -> Result<(), SimError> {
    for _ in 0..3 {
        match outcome {
            Err(SimError::HookFailed(_)) => outcome = sim.run_until_quiet().map(drop),
            _ => break,
        }
    }
    outcome
}
