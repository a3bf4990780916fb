//! Scenario files for the `juju-sim` CLI: a model, applications (charm directories or passive
//! metadata) and steps (deploy, integrate, config, actions, scaling, ...), run against a
//! [`Simulator`], and a report of the resulting model. The schema is documented in the crate
//! README.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::charm::CharmMeta;
use crate::driver::{AppSpec, Event, SimError, Simulator};
use crate::model::{Bag, GrantTarget, SecretOwner};

/// A scenario could not be parsed or one of its steps failed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("invalid scenario: {0}")]
    Parse(String),
    #[error("step {index} ({step}): {source}")]
    Step { index: usize, step: String, source: SimError },
    #[error("step {index} ({step}): {message}")]
    Invalid { index: usize, step: String, message: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawModel {
    name: Option<String>,
    juju_version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawApp {
    charm: Option<PathBuf>,
    metadata: Option<serde_norway::Value>,
    #[serde(default = "one")]
    units: u32,
    #[serde(default)]
    config: BTreeMap<String, Value>,
    #[serde(default)]
    trust: bool,
    #[serde(default)]
    resources: BTreeMap<String, PathBuf>,
    #[serde(default)]
    unit_env: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn names(&self) -> Vec<String> {
        match self {
            OneOrMany::One(name) => vec![name.clone()],
            OneOrMany::Many(names) => names.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ConfigStep {
    app: String,
    values: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ActionStep {
    unit: String,
    action: String,
    #[serde(default)]
    params: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ScaleStep {
    app: String,
    units: u32,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum UpgradeStep {
    App(String),
    WithCharm { app: String, charm: PathBuf },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RelationDataStep {
    relation: [String; 2],
    /// An application name (its app bag) or a unit name (its unit bag).
    bag: String,
    data: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct SecretStep {
    /// The owning application or unit.
    owner: String,
    content: BTreeMap<String, String>,
    label: Option<String>,
    /// Grant view access to the other application of this relation.
    grant: Option<[String; 2]>,
    /// Also publish the URI under this key in the owner's application bag of `grant`.
    publish_as: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct EventStep {
    unit: String,
    /// A hook name without relation: install, start, stop, config-changed, update-status,
    /// upgrade-charm, leader-elected, leader-settings-changed, or `<container>-pebble-ready`.
    event: String,
}

/// One step, written as a single-key mapping (`- deploy: web`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawStep {
    deploy: Option<OneOrMany>,
    add: Option<OneOrMany>,
    integrate: Option<[String; 2]>,
    remove_relation: Option<[String; 2]>,
    config: Option<ConfigStep>,
    run_action: Option<ActionStep>,
    scale: Option<ScaleStep>,
    leader: Option<String>,
    upgrade: Option<UpgradeStep>,
    relation_data: Option<RelationDataStep>,
    secret: Option<SecretStep>,
    event: Option<EventStep>,
    update_status: Option<serde_norway::Value>,
    remove_unit: Option<String>,
    remove_app: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    model: RawModel,
    hook_timeout: Option<u64>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    apps: BTreeMap<String, RawApp>,
    #[serde(default)]
    steps: Vec<RawStep>,
}

/// A parsed scenario; relative paths are resolved against the scenario file's directory.
#[derive(Debug)]
pub struct Scenario {
    raw: RawScenario,
    base: PathBuf,
}

impl Scenario {
    /// Parses scenario YAML; `base` is the directory relative paths are resolved from.
    pub fn parse(yaml: &str, base: &Path) -> Result<Self, ScenarioError> {
        let raw: RawScenario =
            serde_norway::from_str(yaml).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        for (index, step) in raw.steps.iter().enumerate() {
            let keys = step_names(step);
            if keys.len() != 1 {
                return Err(ScenarioError::Parse(format!(
                    "step {index} must have exactly one action, found {keys:?}"
                )));
            }
        }
        Ok(Scenario { raw, base: base.to_owned() })
    }

    /// Applies the model settings and runs every step in order.
    pub fn run(&self, sim: &mut Simulator) -> Result<(), ScenarioError> {
        if let Some(name) = &self.raw.model.name {
            sim.model_mut().name.clone_from(name);
        }
        if let Some(version) = &self.raw.model.juju_version {
            sim.model_mut().juju_version.clone_from(version);
        }
        if let Some(secs) = self.raw.hook_timeout {
            sim.set_hook_timeout(Duration::from_secs(secs));
        }
        for (key, value) in &self.raw.env {
            sim.set_env(key, value);
        }
        for (index, step) in self.raw.steps.iter().enumerate() {
            let name = step_names(step).join("");
            self.run_step(sim, step).map_err(|error| match error {
                StepError::Sim(source) => ScenarioError::Step { index, step: name.clone(), source },
                StepError::Invalid(message) => ScenarioError::Invalid { index, step: name.clone(), message },
            })?;
        }
        Ok(())
    }

    fn app_spec(&self, name: &str) -> Result<AppSpec, StepError> {
        let raw =
            self.raw.apps.get(name).ok_or_else(|| {
                StepError::Invalid(format!("application {name:?} is not declared under apps"))
            })?;
        let mut spec = match (&raw.charm, &raw.metadata) {
            (Some(charm), _) => AppSpec::charm(name, self.base.join(charm)),
            (None, metadata) => {
                let text = metadata
                    .as_ref()
                    .map(|value| serde_norway::to_string(value).unwrap_or_default())
                    .unwrap_or_else(|| format!("name: {name}\n"));
                let meta = CharmMeta::from_yaml(&text).map_err(|e| StepError::Invalid(e.to_string()))?;
                AppSpec::passive(name, meta)
            }
        };
        spec.units = raw.units;
        spec.config.clone_from(&raw.config);
        spec.trusted = raw.trust;
        spec.resources =
            raw.resources.iter().map(|(name, path)| (name.clone(), self.base.join(path))).collect();
        spec.unit_env.clone_from(&raw.unit_env);
        Ok(spec)
    }

    fn add_or_deploy(&self, sim: &mut Simulator, name: &str, deploy: bool) -> Result<(), StepError> {
        let spec = self.app_spec(name)?;
        if deploy {
            sim.deploy(spec)?;
        } else {
            sim.add_app(spec)?;
        }
        Ok(())
    }

    fn run_step(&self, sim: &mut Simulator, step: &RawStep) -> Result<(), StepError> {
        let relation = |sim: &Simulator, ends: &[String; 2]| {
            sim.relation_id(&ends[0], &ends[1])
                .ok_or_else(|| StepError::Invalid(format!("no relation between {} and {}", ends[0], ends[1])))
        };
        if let Some(names) = &step.deploy {
            for name in names.names() {
                self.add_or_deploy(sim, &name, true)?;
            }
        } else if let Some(names) = &step.add {
            for name in names.names() {
                self.add_or_deploy(sim, &name, false)?;
            }
        } else if let Some([a, b]) = &step.integrate {
            sim.integrate(a, b)?;
        } else if let Some(ends) = &step.remove_relation {
            let id = relation(sim, ends)?;
            sim.remove_relation(id)?;
        } else if let Some(config) = &step.config {
            sim.set_config(&config.app, config.values.clone())?;
        } else if let Some(action) = &step.run_action {
            sim.run_action(&action.unit, &action.action, action.params.clone())?;
        } else if let Some(scale) = &step.scale {
            scale_to(sim, &scale.app, scale.units)?;
        } else if let Some(unit) = &step.leader {
            sim.set_leader(unit)?;
        } else if let Some(upgrade) = &step.upgrade {
            match upgrade {
                UpgradeStep::App(app) => sim.upgrade(app, None)?,
                UpgradeStep::WithCharm { app, charm } => sim.upgrade(app, Some(self.base.join(charm)))?,
            };
        } else if let Some(data) = &step.relation_data {
            let id = relation(sim, &data.relation)?;
            let bag =
                if data.bag.contains('/') { Bag::Unit(data.bag.clone()) } else { Bag::App(data.bag.clone()) };
            sim.set_relation_data(id, bag, data.data.clone())?;
        } else if let Some(secret) = &step.secret {
            self.add_secret(sim, secret)?;
        } else if let Some(event) = &step.event {
            sim.fire(&event.unit, parse_event(&event.event)?)?;
        } else if step.update_status.is_some() {
            sim.update_status()?;
        } else if let Some(unit) = &step.remove_unit {
            sim.remove_unit(unit)?;
        } else if let Some(app) = &step.remove_app {
            sim.remove_app(app)?;
        }
        Ok(())
    }

    fn add_secret(&self, sim: &mut Simulator, step: &SecretStep) -> Result<(), StepError> {
        let owner = if step.owner.contains('/') {
            SecretOwner::Unit(step.owner.clone())
        } else {
            SecretOwner::Application(step.owner.clone())
        };
        let owner_app = crate::model::app_of(&step.owner).to_owned();
        let uri = sim.add_secret(owner, step.content.clone(), step.label.clone())?;
        if let Some(ends) = &step.grant {
            let id = sim.relation_id(&ends[0], &ends[1]).ok_or_else(|| {
                StepError::Invalid(format!("no relation between {} and {}", ends[0], ends[1]))
            })?;
            let remote = sim
                .relation(id)?
                .remote_app(&owner_app)
                .ok_or_else(|| StepError::Invalid(format!("{owner_app} is not part of relation {id}")))?
                .to_owned();
            sim.grant_secret(&uri, id, GrantTarget::Application(remote))?;
            if let Some(key) = &step.publish_as {
                sim.set_relation_data(id, Bag::App(owner_app), BTreeMap::from([(key.clone(), uri)]))?;
            }
        }
        Ok(())
    }
}

enum StepError {
    Sim(SimError),
    Invalid(String),
}

impl From<SimError> for StepError {
    fn from(error: SimError) -> Self {
        StepError::Sim(error)
    }
}

fn step_names(step: &RawStep) -> Vec<&'static str> {
    let present = [
        ("deploy", step.deploy.is_some()),
        ("add", step.add.is_some()),
        ("integrate", step.integrate.is_some()),
        ("remove-relation", step.remove_relation.is_some()),
        ("config", step.config.is_some()),
        ("run-action", step.run_action.is_some()),
        ("scale", step.scale.is_some()),
        ("leader", step.leader.is_some()),
        ("upgrade", step.upgrade.is_some()),
        ("relation-data", step.relation_data.is_some()),
        ("secret", step.secret.is_some()),
        ("event", step.event.is_some()),
        ("update-status", step.update_status.is_some()),
        ("remove-unit", step.remove_unit.is_some()),
        ("remove-app", step.remove_app.is_some()),
    ];
    present.into_iter().filter(|(_, set)| *set).map(|(name, _)| name).collect()
}

fn scale_to(sim: &mut Simulator, app: &str, units: u32) -> Result<(), StepError> {
    loop {
        let current: Vec<String> =
            sim.app(app)?.units.iter().filter(|unit| !unit.dying).map(|unit| unit.name.clone()).collect();
        match current.len().cmp(&(units as usize)) {
            std::cmp::Ordering::Less => {
                sim.add_unit(app)?;
            }
            std::cmp::Ordering::Greater => {
                if let Some(last) = current.last() {
                    sim.remove_unit(last)?;
                }
            }
            std::cmp::Ordering::Equal => return Ok(()),
        }
    }
}

fn parse_event(name: &str) -> Result<Event, StepError> {
    Ok(match name {
        "install" => Event::Install,
        "start" => Event::Start,
        "stop" => Event::Stop,
        "config-changed" => Event::ConfigChanged,
        "update-status" => Event::UpdateStatus,
        "upgrade-charm" => Event::UpgradeCharm,
        "leader-elected" => Event::LeaderElected,
        "leader-settings-changed" => Event::LeaderSettingsChanged,
        other => match other.strip_suffix("-pebble-ready") {
            Some(container) => Event::PebbleReady { container: container.to_owned() },
            None => return Err(StepError::Invalid(format!("unsupported event {other:?}"))),
        },
    })
}

/// The resulting model as the CLI prints it: statuses, relation data, secrets (content
/// redacted unless `show_secrets`), actions, logs and the hooks that ran.
pub fn report(sim: &Simulator, show_secrets: bool) -> Value {
    let model = sim.model();
    let applications: Map<String, Value> = model
        .applications
        .values()
        .map(|app| {
            let units: Map<String, Value> = app
                .units
                .iter()
                .map(|unit| {
                    let ports: Vec<String> = unit.ports().iter().map(ToString::to_string).collect();
                    (
                        unit.name.clone(),
                        json!({
                            "status": unit.status.status,
                            "message": unit.status.message,
                            "workload-version": unit.workload_version,
                            "ports": ports,
                            "state": unit.state,
                        }),
                    )
                })
                .collect();
            let charm =
                app.charm_dir.as_ref().map_or_else(|| "passive".to_owned(), |dir| dir.display().to_string());
            (
                app.name.clone(),
                json!({
                    "charm": charm,
                    "status": app.status.status,
                    "message": app.status.message,
                    "version": sim.app_version(&app.name).unwrap_or_default(),
                    "leader": app.leader,
                    "config": app.config_settings(),
                    "units": units,
                }),
            )
        })
        .collect();
    let relations: Vec<Value> = model
        .relations
        .values()
        .map(|relation| {
            let endpoints: Vec<String> =
                relation.ends.iter().map(|end| format!("{}:{}", end.app, end.endpoint)).collect();
            json!({
                "id": relation.id,
                "endpoints": endpoints,
                "interface": relation.ends.first().map(|end| end.interface.clone()),
                "app-data": relation.app_data,
                "unit-data": relation.unit_data,
            })
        })
        .collect();
    let secrets: Vec<Value> = model
        .secrets
        .values()
        .map(|secret| {
            let revisions: Map<String, Value> = secret
                .revisions
                .iter()
                .map(|revision| {
                    let content: Map<String, Value> = revision
                        .decoded()
                        .into_iter()
                        .map(|(key, value)| {
                            let shown = if show_secrets { value } else { "<redacted>".to_owned() };
                            (key, Value::String(shown))
                        })
                        .collect();
                    (revision.revision.to_string(), Value::Object(content))
                })
                .collect();
            let grants: Vec<Value> = secret
                .grants
                .iter()
                .map(|grant| json!({"relation": grant.relation_id, "target": grant.target.tag()}))
                .collect();
            let consumers: Map<String, Value> = secret
                .consumers
                .iter()
                .map(|(unit, consumer)| {
                    (unit.clone(), json!({"revision": consumer.revision, "label": consumer.label}))
                })
                .collect();
            let owner = match &secret.owner {
                SecretOwner::Application(app) => format!("application {app}"),
                SecretOwner::Unit(unit) => format!("unit {unit}"),
            };
            json!({
                "uri": secret.uri(),
                "owner": owner,
                "label": secret.label,
                "description": secret.description,
                "revisions": revisions,
                "grants": grants,
                "consumers": consumers,
            })
        })
        .collect();
    let hooks: Vec<String> = sim
        .history()
        .iter()
        .filter(|run| !run.skipped)
        .map(|run| format!("{} {} {}", run.unit, run.hook, run.exit_code))
        .collect();
    let logs: Vec<String> = model
        .logs
        .iter()
        .map(|record| format!("{} {} {} {}", record.unit, record.hook, record.level, record.message))
        .collect();
    json!({
        "model": {"name": model.name, "uuid": model.uuid, "juju-version": model.juju_version},
        "applications": applications,
        "relations": relations,
        "secrets": secrets,
        "actions": model.actions,
        "hooks": hooks,
        "logs": logs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_must_have_exactly_one_action() {
        let error = Scenario::parse("steps:\n  - {deploy: a, leader: a/0}\n", Path::new(".")).unwrap_err();
        assert!(error.to_string().contains("exactly one action"), "{error}");
        assert!(Scenario::parse("steps:\n  - nonsense: 1\n", Path::new(".")).is_err());
        let scenario = Scenario::parse(
            "apps:\n  a: {units: 2}\nsteps:\n  - deploy: [a]\n  - update-status: {}\n",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(scenario.raw.steps.len(), 2);
    }

    #[test]
    fn events_parse_by_hook_name() {
        assert!(
            matches!(parse_event("workload-pebble-ready"), Ok(Event::PebbleReady { container }) if container == "workload")
        );
        assert!(parse_event("db-relation-changed").is_err());
    }
}
