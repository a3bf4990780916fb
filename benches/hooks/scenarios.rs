//! The benchmarked events. Each runs both charms alternately (one warm-up each, then
//! Rust, Python, Rust, Python, ...) and checks after every run, outside the measured hook,
//! that the charm really did the work.

use std::collections::BTreeMap;

use anyhow::{ensure, Context as _};
use juju_sim::Event;
use serde_json::Value;

use crate::charms::{Charms, Flavor, INSPECT_SCRIPT_SOURCE};
use crate::model::{BenchModel, APP, SERVER_NAME};
use crate::sample::{Sample, Summary};

/// The name of the database event, in `--events` and the report.
pub const DATABASE_CHANGED: &str = "database-relation-changed";

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
    Ok(EventFigures { name, relations, changes_nothing: false, relation_changed: true, summaries })
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
