//! The benchmarked events. Each runs both charms alternately (one warm-up each, then
//! Rust, Python, Rust, Python, ...) and checks after every run, outside the measured hook,
//! that the charm really did the work.

use std::collections::BTreeMap;

use anyhow::{ensure, Context as _};
use juju_sim::Event;
use serde_json::Value;

use crate::charms::{Charms, Flavor};
use crate::model::{BenchModel, APP, SERVER_NAME};
use crate::sample::{Sample, Summary};

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
