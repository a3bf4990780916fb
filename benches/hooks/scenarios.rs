//! The benchmarked events. Each runs both charms alternately (one warm-up each, then
//! Rust, Python, Rust, Python, ...) and checks after every run, outside the measured hook,
//! that the charm really did the work.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context as _};
use juju_sim::Event;
use serde_json::{json, Value};

use crate::charms::{Charms, Flavor, INSPECT_SCRIPT_SOURCE};
use crate::model::{BenchModel, APP, SERVER_NAME, SERVICE, UNIT};
use crate::redis::RedisServer;
use crate::sample::{Sample, Summary};

/// The name of the database event, in `--events` and the report.
pub const DATABASE_CHANGED: &str = "database-relation-changed";
/// The peer application bag key naming the main unit (both charms, as upstream).
const MAIN_UNIT_KEY: &str = "main_unit_id";
/// The peer unit bag key under which the Rust charm's units publish their status.
const STATUS_KEY: &str = "workload-status";
const FEDERATION_SENDER_SERVICE: &str = "synapse-federation-sender";
/// The main unit's pod address in every unit's `instance_map`.
const MAIN_ADDRESS: &str = "synapse-0.synapse-endpoints";

/// The figures of both charms for one event.
pub struct EventFigures {
    pub name: String,
    /// Related requirer applications in the model.
    pub relations: usize,
    /// Whether the event leaves everything as it was (the "no writes" target applies).
    pub changes_nothing: bool,
    /// Whether this is the relation-changed event (run with 1, 10 and 100 requirers).
    pub relation_changed: bool,
    pub summaries: BTreeMap<Flavor, Summary>,
    /// For the scaled-out events: what adding one more unit did, per charm.
    pub scale_step: Option<BTreeMap<Flavor, ScaleStep>>,
}

/// What one scale step (`juju add-unit synapse`, N → N+1 units) did in a model.
#[derive(Debug, Clone)]
pub struct ScaleStep {
    /// Units before the step.
    pub from: usize,
    /// Pebble service starts on the units that were there before, by service.
    pub existing_starts: BTreeMap<&'static str, u32>,
    /// How many of those units started any service.
    pub units_restarted: usize,
    /// Hooks run on the units that were there before, and on the new unit.
    pub existing_hooks: usize,
    pub new_unit_hooks: usize,
    /// Pebble service starts on the new unit.
    pub new_unit_starts: u32,
    /// Wall time of every hook of the step, added up.
    pub wall: Duration,
}

impl ScaleStep {
    /// Service starts on the units that were there before, every service.
    pub fn existing_total(&self) -> u32 {
        self.existing_starts.values().sum()
    }
}

/// Measures `reps` runs per charm after one warm-up run each, alternating the charms.
fn alternate(
    reps: usize,
    label: &str,
    mut measure: impl FnMut(Flavor) -> anyhow::Result<Sample>,
) -> anyhow::Result<BTreeMap<Flavor, Summary>> {
    for flavor in Flavor::BOTH {
        measure(flavor).with_context(|| format!("{label}: warm-up of the {flavor} charm"))?;
    }
    let mut samples: BTreeMap<Flavor, Vec<Sample>> = BTreeMap::new();
    for rep in 1..=reps {
        eprintln!("  {label}: repetition {rep}/{reps}");
        for flavor in Flavor::BOTH {
            let sample =
                measure(flavor).with_context(|| format!("{label}: {flavor} charm, repetition {rep}"))?;
            samples.entry(flavor).or_default().push(sample);
        }
    }
    Ok(samples.into_iter().map(|(flavor, samples)| (flavor, Summary { samples })).collect())
}

/// `install` on a fresh unit whose Pebble is up: the leader creates the server secrets and
/// configures and starts Synapse.
pub fn install(charms: &Charms, reps: usize) -> anyhow::Result<EventFigures> {
    let summaries = alternate(reps, "install", |flavor| {
        let mut model = BenchModel::new(charms, flavor)?;
        let spec = model.spec(charms);
        model.sim.add_app(spec)?;
        let sample = model.measure(Event::Install)?;
        ensure!(model.service_running(), "{flavor}: Synapse is not running after install");
        ensure!(
            model.homeserver()?["server_name"] == SERVER_NAME,
            "{flavor}: homeserver.yaml lacks server_name"
        );
        ensure!(model.unit_status()?.0 == "active", "{flavor}: status {:?}", model.unit_status()?);
        Ok(sample)
    })?;
    Ok(EventFigures {
        name: "install".into(),
        relations: 0,
        changes_nothing: false,
        relation_changed: false,
        summaries,
        scale_step: None,
    })
}

/// A deployed Synapse per charm with `relations` requirers whose registrations it has
/// loaded.
pub fn settled_models(charms: &Charms, relations: usize) -> anyhow::Result<BTreeMap<Flavor, BenchModel>> {
    let mut models = BTreeMap::new();
    for flavor in Flavor::BOTH {
        eprintln!("  setting up the {flavor} charm with {relations} related requirers");
        let mut model = BenchModel::new(charms, flavor)?;
        model.deploy(charms)?;
        model.add_requirers(relations)?;
        let first = model.requirers.first().context("at least one requirer")?.relation;
        // The leader publishes its data and key on every relation; every requirer sends a
        // registration; Synapse loads them all.
        model.measure(Event::RelationChanged { relation: first, unit: None })?;
        model.send_registrations(&(0..relations).collect::<Vec<_>>())?;
        model.measure(Event::RelationChanged { relation: first, unit: None })?;
        check_registrations(&model)?;
        models.insert(flavor, model);
    }
    Ok(models)
}

/// `config-changed` after `juju config` flipped an option that changes homeserver.yaml:
/// render, check, write and restart.
pub fn config_changed(
    models: &mut BTreeMap<Flavor, BenchModel>,
    reps: usize,
) -> anyhow::Result<EventFigures> {
    let summaries = alternate(reps, "config-changed", |flavor| {
        let model = models.get_mut(&flavor).context("a model")?;
        let current = model.homeserver()?["enable_room_list_search"].as_bool().context("a boolean")?;
        model.set_option("enable_room_list_search", Value::Bool(!current))?;
        let sample = model.measure(Event::ConfigChanged)?;
        ensure!(
            model.homeserver()?["enable_room_list_search"] == !current,
            "{flavor}: homeserver.yaml does not follow the option"
        );
        ensure!(sample.restarts == 1, "{flavor}: Synapse started {} times", sample.restarts);
        check_registrations(model)?;
        Ok(sample)
    })?;
    let relations = models.values().next().map_or(0, |model| model.requirers.len());
    Ok(EventFigures {
        name: "config-changed".into(),
        relations,
        changes_nothing: false,
        relation_changed: false,
        summaries,
        scale_step: None,
    })
}

/// `update-status` with nothing changed.
pub fn update_status(models: &mut BTreeMap<Flavor, BenchModel>, reps: usize) -> anyhow::Result<EventFigures> {
    let summaries = alternate(reps, "update-status", |flavor| {
        let model = models.get_mut(&flavor).context("a model")?;
        let sample = model.measure(Event::UpdateStatus)?;
        ensure!(model.service_running(), "{flavor}: Synapse is not running");
        check_registrations(model)?;
        Ok(sample)
    })?;
    let relations = models.values().next().map_or(0, |model| model.requirers.len());
    Ok(EventFigures {
        name: "update-status".into(),
        relations,
        changes_nothing: true,
        relation_changed: false,
        summaries,
        scale_step: None,
    })
}

/// `matrix-auth-relation-changed` after one requirer sent a new registration (new tokens, as
/// the IRC bridge does on every reconcile): every registration is read again, the changed
/// one is written and Synapse restarts to load it.
pub fn relation_changed(
    models: &mut BTreeMap<Flavor, BenchModel>,
    reps: usize,
) -> anyhow::Result<EventFigures> {
    let relations = models.values().next().map_or(0, |model| model.requirers.len());
    let label = format!("matrix-auth-relation-changed ({relations} requirers)");
    let summaries = alternate(reps, &label, |flavor| {
        let model = models.get_mut(&flavor).context("a model")?;
        model.send_registrations(&[0])?;
        let relation = model.requirers[0].relation;
        let sample = model.measure(Event::RelationChanged { relation, unit: None })?;
        ensure!(sample.restarts == 1, "{flavor}: Synapse started {} times", sample.restarts);
        check_registrations(model)?;
        Ok(sample)
    })?;
    let name = format!("relation-changed ({relations} requirer{})", if relations == 1 { "" } else { "s" });
    Ok(EventFigures {
        name,
        relations,
        changes_nothing: false,
        relation_changed: true,
        summaries,
        scale_step: None,
    })
}

/// `database-relation-changed` after postgresql-k8s's primary moved to a new host (each
/// repetition a new one): each charm reads the relation and the user secret (with refresh),
/// inspects the database at the new address from Synapse's container, renders
/// homeserver.yaml's `database`, checks it and restarts Synapse once. First relates each
/// model's Synapse to a passive postgresql-k8s and moves it onto PostgreSQL (not measured).
pub fn database_changed(
    models: &mut BTreeMap<Flavor, BenchModel>,
    reps: usize,
) -> anyhow::Result<EventFigures> {
    for (flavor, model) in models.iter_mut() {
        eprintln!("  relating the {flavor} charm to postgresql-k8s");
        relate_database(model)?;
    }
    let summaries = alternate(reps, DATABASE_CHANGED, |flavor| {
        let model = models.get_mut(&flavor).context("a model")?;
        model.move_database()?;
        let relation = model.postgresql.as_ref().context("postgresql-k8s")?.relation;
        let inspected = model.inspections().len();
        let sample = model.measure(Event::RelationChanged { relation, unit: None })?;
        ensure!(sample.restarts == 1, "{flavor}: Synapse started {} times", sample.restarts);
        check_database(model, inspected)?;
        check_registrations(model)?;
        Ok(sample)
    })?;
    let relations = models.values().next().map_or(0, |model| model.requirers.len());
    Ok(EventFigures {
        name: DATABASE_CHANGED.into(),
        relations,
        changes_nothing: false,
        relation_changed: false,
        summaries,
        scale_step: None,
    })
}

/// Relates Synapse to postgresql-k8s: `database-relation-created` (the leader's request),
/// postgresql-k8s answers, `database-relation-changed` (Synapse moves to PostgreSQL).
fn relate_database(model: &mut BenchModel) -> anyhow::Result<()> {
    let flavor = model.flavor;
    let relation = model.add_postgresql()?;
    model.measure(Event::RelationCreated { relation })?;
    let request = model.provider_bag(relation)?;
    ensure!(
        request.get("database").map(String::as_str) == Some(APP)
            && request.get("extra-user-roles").map(String::as_str) == Some("SUPERUSER"),
        "{flavor}: the database request is {request:?}"
    );
    let requested: Vec<String> =
        serde_json::from_str(request.get("requested-secrets").context("requested-secrets")?)
            .with_context(|| format!("{flavor}: requested-secrets is not a JSON list"))?;
    ensure!(
        ["username", "password", "uris"].iter().all(|field| requested.iter().any(|name| name == field)),
        "{flavor}: requested-secrets {requested:?}"
    );
    model.answer_database(relation)?;
    let inspected = model.inspections().len();
    let sample = model.measure(Event::RelationChanged { relation, unit: None })?;
    ensure!(sample.restarts == 1, "{flavor}: Synapse started {} times moving to PostgreSQL", sample.restarts);
    check_database(model, inspected)?;
    check_registrations(model)
}

/// Synapse runs on postgresql-k8s's current primary with the secret's password, the plan
/// records that database, and it was inspected once since `inspected` with the shared script
/// and the connection settings on stdin.
fn check_database(model: &BenchModel, inspected: usize) -> anyhow::Result<()> {
    let flavor = model.flavor;
    let postgresql = model.postgresql.as_ref().context("postgresql-k8s")?;
    let secret = model.database_secret()?;
    let password = secret.get("password").context("the secret's password")?;
    let homeserver = model.homeserver()?;
    let database = &homeserver["database"];
    let args = &database["args"];
    ensure!(database["name"] == "psycopg2", "{flavor}: homeserver.yaml's database is {}", database["name"]);
    ensure!(
        args["host"] == postgresql.host().as_str(),
        "{flavor}: homeserver.yaml's database host is {}, not {}",
        args["host"],
        postgresql.host()
    );
    ensure!(
        args["password"] == password.as_str(),
        "{flavor}: homeserver.yaml's password is not the secret's"
    );
    ensure!(
        args["user"] == postgresql.username.as_str()
            && args["database"] == postgresql.database.as_str()
            && args["port"] == 5432,
        "{flavor}: homeserver.yaml's database user, name or port is wrong"
    );
    let recorded = model.service_environment()?.remove("CHARM_DATABASE");
    ensure!(
        recorded.as_deref() == Some(postgresql.address().as_str()),
        "{flavor}: the plan records the database {recorded:?}, not {}",
        postgresql.address()
    );
    let inspections = model.inspections();
    let new = inspections.get(inspected..).unwrap_or_default();
    ensure!(
        new.len() == 1,
        "{flavor}: {} inspections of the new database with `python3 -c <{INSPECT_SCRIPT_SOURCE}>`",
        new.len()
    );
    let inspection = &new[0];
    let settings: Value = serde_json::from_slice(&inspection.stdin)
        .with_context(|| format!("{flavor}: the inspection's stdin is not JSON"))?;
    ensure!(
        settings["host"] == postgresql.host().as_str()
            && settings["port"] == 5432
            && settings["user"] == postgresql.username.as_str()
            && settings["password"] == password.as_str()
            && settings["database"] == postgresql.database.as_str(),
        "{flavor}: the inspection's connection settings are not the new database's"
    );
    ensure!(model.service_running(), "{flavor}: Synapse is not running");
    ensure!(model.unit_status()?.0 == "active", "{flavor}: status {:?}", model.unit_status()?);
    Ok(())
}

/// Synapse is running with every requirer's latest registration on disk and listed in
/// homeserver.yaml, and publishes its data on every relation.
fn check_registrations(model: &BenchModel) -> anyhow::Result<()> {
    let flavor = model.flavor;
    ensure!(model.service_running(), "{flavor}: Synapse is not running");
    ensure!(model.unit_status()?.0 == "active", "{flavor}: status {:?}", model.unit_status()?);
    let homeserver = model.homeserver()?;
    let listed: Vec<&str> = match &homeserver["app_service_config_files"] {
        Value::Array(files) => files.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    ensure!(
        listed.len() == model.requirers.len(),
        "{flavor}: homeserver.yaml lists {} registrations",
        listed.len()
    );
    for requirer in &model.requirers {
        // The Rust charm names the file after its content (`…-<relation>-<hash>.yaml`).
        let stem = format!("/data/appservice-registration-matrix-auth-{}", requirer.relation);
        let path = listed
            .iter()
            .find(|path| {
                path.strip_prefix(&stem).is_some_and(|rest| rest == ".yaml" || rest.starts_with('-'))
            })
            .with_context(|| {
                format!("{flavor}: no registration of relation {} is listed", requirer.relation)
            })?;
        ensure!(
            model.read(path)? == requirer.registration,
            "{flavor}: {path} is not {}'s latest",
            requirer.app
        );
        let bag = model.provider_bag(requirer.relation)?;
        for key in ["homeserver", "shared_secret_id", "encryption_key_secret_id"] {
            ensure!(
                bag.get(key).is_some_and(|value| !value.is_empty()),
                "{flavor}: {APP} did not publish {key}"
            );
        }
        ensure!(
            bag["homeserver"] == format!("https://{SERVER_NAME}"),
            "{flavor}: homeserver {:?}",
            bag["homeserver"]
        );
    }
    Ok(())
}

/// `synapse-peers-relation-changed` on the main unit (synapse/0, the leader) of `units`
/// units, after the last worker republished its status in its peer unit bag (as the Rust
/// charm's units do, `src/app_status.rs`): nothing about the application changed. Then one
/// scale step, `units` → `units` + 1, counting every Pebble service start on every unit that
/// was already there (not a measured hook: reported in the details).
///
/// Each charm's model is scaled out for real first (not measured): Synapse deployed, moved
/// onto a passive postgresql-k8s, related to a passive redis-k8s publishing a real Redis
/// (which the Rust charm PINGs in every hook), then grown one unit at a time.
pub fn peers_changed(charms: &Charms, units: usize, reps: usize) -> anyhow::Result<EventFigures> {
    let redis = RedisServer::start();
    let mut models = BTreeMap::new();
    for flavor in Flavor::BOTH {
        eprintln!("  scaling the {flavor} charm out to {units} units");
        models.insert(flavor, scaled_model(charms, flavor, units, &redis)?);
    }
    let worker = format!("{APP}/{}", units - 1);
    let mut published: BTreeMap<Flavor, Option<String>> = BTreeMap::new();
    for (flavor, model) in &models {
        published.insert(*flavor, model.peer_unit_bag(&worker)?.get(STATUS_KEY).cloned());
    }
    let mut turn = 0usize;
    let label = format!("synapse-peers-relation-changed ({units} units)");
    let summaries = alternate(reps, &label, |flavor| {
        let model = models.get_mut(&flavor).context("a model")?;
        // Alternately a passing maintenance status and the worker's own (both charms see the
        // same one in a round). The leader reads the units' statuses from Juju, so neither
        // changes a role or the application status.
        let status = if turn / 2 % 2 == 0 {
            "maintenance: Configuring Synapse".to_string()
        } else {
            format!("active: worker {}", units - 1)
        };
        turn += 1;
        model.set_peer_unit_data(&worker, STATUS_KEY, &status)?;
        let relation = model.peer_relation()?;
        let sample =
            model.measure_on(UNIT, Event::RelationChanged { relation, unit: Some(worker.clone()) })?;
        check_scaled(model, units, &redis)?;
        Ok(sample)
    })?;
    let mut steps = BTreeMap::new();
    for (flavor, model) in models.iter_mut() {
        // The worker's bag as it was, so its own next hook republishes nothing.
        let original = published[flavor].clone().unwrap_or_default();
        model.set_peer_unit_data(&worker, STATUS_KEY, &original)?;
        eprintln!("  the {flavor} charm: scale step {units} → {}", units + 1);
        steps.insert(*flavor, scale_step(model, &redis)?);
    }
    Ok(EventFigures {
        name: format!("synapse-peers-relation-changed ({units} units)"),
        relations: 0,
        changes_nothing: true,
        relation_changed: false,
        summaries,
        scale_step: Some(steps),
    })
}

/// Synapse with `units` units on PostgreSQL and Redis, every hook of the way run and
/// succeeded.
fn scaled_model(
    charms: &Charms,
    flavor: Flavor,
    units: usize,
    redis: &RedisServer,
) -> anyhow::Result<BenchModel> {
    let mut model = BenchModel::new(charms, flavor)?;
    model.deploy(charms)?;
    relate_database(&mut model)?;
    model.add_redis(&redis.host(), redis.port())?;
    for _ in 1..units {
        model.add_unit()?;
    }
    check_scaled(&model, units, redis)?;
    Ok(model)
}

/// `juju add-unit synapse`: every hook runs; what each unit's Pebble started.
fn scale_step(model: &mut BenchModel, redis: &RedisServer) -> anyhow::Result<ScaleStep> {
    let existing = model.units();
    let before = model.service_starts();
    let (unit, runs) = model.add_unit()?;
    let after = model.service_starts();
    let mut existing_starts: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut restarted = std::collections::BTreeSet::new();
    let mut new_unit_starts = 0;
    for ((owner, service), count) in &after {
        let started = count - before.get(&(owner.clone(), *service)).copied().unwrap_or(0);
        if *owner == unit {
            new_unit_starts += started;
        } else {
            *existing_starts.entry(service).or_insert(0) += started;
            if started > 0 {
                restarted.insert(owner.clone());
            }
        }
    }
    let ran = |on: &dyn Fn(&str) -> bool| runs.iter().filter(|run| !run.skipped && on(&run.unit)).count();
    let step = ScaleStep {
        from: existing.len(),
        existing_starts,
        units_restarted: restarted.len(),
        existing_hooks: ran(&|name| existing.iter().any(|unit| unit == name)),
        new_unit_hooks: ran(&|name| name == unit),
        new_unit_starts,
        wall: runs.iter().map(|run| run.duration).sum(),
    };
    check_scaled(model, existing.len() + 1, redis)?;
    Ok(step)
}

/// Every unit is active and runs its part: synapse/0 is recorded as the main and runs the
/// main process and the federation sender, every other unit a generic worker; every
/// homeserver.yaml has Redis and the main in `instance_map` (the reference, as upstream,
/// also every worker, and them as events writers).
fn check_scaled(model: &BenchModel, units: usize, redis: &RedisServer) -> anyhow::Result<()> {
    let flavor = model.flavor;
    let all = model.units();
    ensure!(all.len() == units, "{flavor}: {} units, not {units}", all.len());
    let main = model.peer_app_bag()?.get(MAIN_UNIT_KEY).cloned();
    ensure!(main.as_deref() == Some(UNIT), "{flavor}: the recorded main is {main:?}");
    for unit in &all {
        let (kind, message) = model.status_of(unit)?;
        ensure!(kind == "active", "{flavor}: {unit} is {kind}: {message}");
        let command = model.service_command(unit, SERVICE)?;
        ensure!(model.running(unit, SERVICE), "{flavor}: Synapse does not run on {unit}");
        let homeserver = model.homeserver_of(unit)?;
        ensure!(
            homeserver["redis"] == json!({"enabled": true, "host": redis.host(), "port": redis.port()}),
            "{flavor}: {unit}'s homeserver.yaml has redis {}",
            homeserver["redis"]
        );
        let instances = homeserver["instance_map"]
            .as_object()
            .with_context(|| format!("{flavor}: {unit} has no instance_map"))?;
        ensure!(
            instances["main"]["host"] == MAIN_ADDRESS && instances.contains_key("federationsender1"),
            "{flavor}: {unit}'s instance_map is {instances:?}"
        );
        let workers = instances.len() - 2;
        let expected_workers = match flavor {
            Flavor::Rust => 0,
            Flavor::Python => units - 1,
        };
        ensure!(workers == expected_workers, "{flavor}: {unit}'s instance_map lists {workers} workers");
        if unit == UNIT {
            ensure!(command == "/start.py", "{flavor}: the main runs {command:?}");
            ensure!(
                model.running(unit, FEDERATION_SENDER_SERVICE),
                "{flavor}: the federation sender does not run on the main"
            );
            if flavor == Flavor::Rust {
                ensure!(message == "main", "{flavor}: the main's status says {message:?}");
            }
        } else {
            ensure!(
                command.contains("synapse.app.generic_worker"),
                "{flavor}: {unit} runs {command:?}, not a generic worker"
            );
            let name = format!("worker {}", unit.rsplit('/').next().unwrap_or_default());
            if flavor == Flavor::Rust {
                ensure!(message == name, "{flavor}: {unit}'s status says {message:?}");
            }
        }
    }
    Ok(())
}
