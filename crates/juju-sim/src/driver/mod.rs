//! The driver: runs charm directories for events exactly as the Juju unit agent does (handler
//! discovery, environment, hook tools on `PATH`, commit on exit 0), queues the follow-up events
//! Juju would fire, and offers the standard sequences (deploy, integrate, scale, ...).

mod error;
mod event;
mod followups;
mod passive;
mod process;
mod sequences;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::charm::CharmMeta;
use crate::context::{
    ActionRun, ContextFile, HookContext, HookInfo, HookRelation, ToolCall, CONTEXT_ID_ENV,
    CONTEXT_PATH_ENV,
};
use crate::model::{
    app_of, is_valid_app_name, ActionRecord, ActionStatus, Application, Bag, LogRecord, Model,
    PortRange, Relation, Secret, StatusInfo, StorageAttachment, Unit,
};
use crate::runner::InProcessRunner;
use crate::tools::tool_names;

pub use error::SimError;
pub use event::Event;

/// Environment variables passed through from the simulator's own environment to hooks.
const PASSED_THROUGH: &[&str] = &[
    "HOME",
    "USER",
    "TMPDIR",
    "LLVM_PROFILE_FILE",
    "RUST_BACKTRACE",
    "RUST_LOG",
];

/// How to deploy an application.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub name: String,
    /// The charm to run; `None` makes a passive application whose data tests drive directly.
    pub charm_dir: Option<PathBuf>,
    /// Metadata for a passive application (charm applications read their directory).
    pub metadata: Option<CharmMeta>,
    pub units: u32,
    pub config: BTreeMap<String, Value>,
    pub trusted: bool,
    pub resources: BTreeMap<String, PathBuf>,
    /// Extra environment for every unit's hooks (see [`Simulator::set_unit_env`]).
    pub unit_env: BTreeMap<String, String>,
}

impl AppSpec {
    /// An application running the charm in `dir`, one unit.
    pub fn charm(name: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        AppSpec {
            name: name.into(),
            charm_dir: Some(dir.into()),
            metadata: None,
            units: 1,
            config: BTreeMap::new(),
            trusted: false,
            resources: BTreeMap::new(),
            unit_env: BTreeMap::new(),
        }
    }

    /// A passive application with the given metadata, one unit; no hooks ever run for it.
    pub fn passive(name: impl Into<String>, metadata: CharmMeta) -> Self {
        AppSpec {
            name: name.into(),
            charm_dir: None,
            metadata: Some(metadata),
            units: 1,
            config: BTreeMap::new(),
            trusted: false,
            resources: BTreeMap::new(),
            unit_env: BTreeMap::new(),
        }
    }

    pub fn units(mut self, units: u32) -> Self {
        self.units = units;
        self
    }

    pub fn config(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    pub fn trusted(mut self) -> Self {
        self.trusted = true;
        self
    }

    pub fn resource(mut self, name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.resources.insert(name.into(), path.into());
        self
    }

    /// Adds an environment variable to every unit's hooks.
    pub fn unit_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.unit_env.insert(key.into(), value.into());
        self
    }
}

/// One hook or action execution and what it did.
#[derive(Debug, Clone)]
pub struct HookRun {
    pub unit: String,
    /// The hook name, or the action name for actions.
    pub hook: String,
    /// The event, `None` for actions.
    pub event: Option<Event>,
    /// The action id, for actions.
    pub action: Option<u64>,
    /// No handler existed, so nothing ran.
    pub skipped: bool,
    /// Exit code (`-<signal>` when killed).
    pub exit_code: i32,
    pub timed_out: bool,
    /// Whether buffered changes were committed.
    pub committed: bool,
    pub stdout: String,
    pub stderr: String,
    pub calls: Vec<ToolCall>,
    pub duration: Duration,
}

impl HookRun {
    pub fn succeeded(&self) -> bool {
        self.exit_code == 0 && !self.timed_out
    }

    /// Calls made to `tool`.
    pub fn calls_to<'a>(&'a self, tool: &'a str) -> impl Iterator<Item = &'a ToolCall> {
        self.calls.iter().filter(move |call| call.tool == tool)
    }

    /// How many times `tool` was called.
    pub fn count(&self, tool: &str) -> usize {
        self.calls_to(tool).count()
    }
}

/// The result of running an action.
#[derive(Debug, Clone)]
pub struct ActionResult {
    pub record: ActionRecord,
    pub run: HookRun,
    /// Hooks that ran afterwards because of what the action committed.
    pub followups: Vec<HookRun>,
}

/// A simulated model with a unit agent for every unit.
///
/// Hooks run as processes with `juju-sim-tool` symlinks first on `PATH`; each hook's context
/// is a JSON file whose path is in `JUJU_AGENT_SOCKET_ADDRESS` (and its id in
/// `JUJU_CONTEXT_ID`). Work files live in a temporary directory removed on drop.
pub struct Simulator {
    model: Model,
    work: tempfile::TempDir,
    tools_dir: PathBuf,
    queue: VecDeque<(String, Event)>,
    history: Vec<HookRun>,
    hook_timeout: Duration,
    max_hooks: usize,
    env: BTreeMap<String, String>,
    next_context: u64,
    /// Workload status to restore once a unit's failed hook succeeds.
    saved_status: BTreeMap<String, StatusInfo>,
    /// Applications being removed: deleted when their last unit is gone.
    dying_apps: BTreeSet<String>,
}

impl Simulator {
    /// A simulator using the `juju-sim-tool` binary found by [`crate::tool_path`].
    pub fn new() -> Result<Self, SimError> {
        Self::with_tool(crate::locate::tool_path()?)
    }

    /// A simulator using the given `juju-sim-tool` binary.
    pub fn with_tool(tool: impl Into<PathBuf>) -> Result<Self, SimError> {
        let tool = tool.into();
        let work = tempfile::Builder::new()
            .prefix("juju-sim-")
            .tempdir()
            .map_err(|e| SimError::io("create", std::env::temp_dir(), e))?;
        let tools_dir = work.path().join("tools");
        fs::create_dir_all(&tools_dir).map_err(|e| SimError::io("create", &tools_dir, e))?;
        for name in tool_names() {
            let link = tools_dir.join(name);
            std::os::unix::fs::symlink(&tool, &link)
                .map_err(|e| SimError::io("create", &link, e))?;
        }
        for dir in ["contexts", "units"] {
            let path = work.path().join(dir);
            fs::create_dir_all(&path).map_err(|e| SimError::io("create", &path, e))?;
        }
        Ok(Simulator {
            model: Model::new("test-model"),
            work,
            tools_dir,
            queue: VecDeque::new(),
            history: Vec::new(),
            hook_timeout: Duration::from_secs(300),
            max_hooks: 2000,
            env: BTreeMap::new(),
            next_context: 0,
            saved_status: BTreeMap::new(),
            dying_apps: BTreeSet::new(),
        })
    }

    /// The directory of hook-tool symlinks put first on hooks' `PATH`.
    pub fn tools_dir(&self) -> &Path {
        &self.tools_dir
    }

    /// Kills hooks that run longer than this (default 300 s).
    pub fn set_hook_timeout(&mut self, timeout: Duration) {
        self.hook_timeout = timeout;
    }

    /// Bounds how many hooks one `run_until_quiet` may run (default 2000).
    pub fn set_max_hooks(&mut self, max: usize) {
        self.max_hooks = max;
    }

    /// Adds an environment variable to every hook.
    pub fn set_env(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.env.insert(key.into(), value.into());
    }

    /// Adds an environment variable to one unit's hooks (for example a Pebble socket path).
    pub fn set_unit_env(
        &mut self,
        unit: &str,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), SimError> {
        self.unit_mut(unit)?.env.insert(key.into(), value.into());
        Ok(())
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Direct access to the model, to set up any state a test needs.
    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }

    /// Every hook and action run so far, oldest first.
    pub fn history(&self) -> &[HookRun] {
        &self.history
    }

    /// Events waiting to run.
    pub fn queued(&self) -> impl Iterator<Item = (&str, &Event)> {
        self.queue.iter().map(|(unit, event)| (unit.as_str(), event))
    }

    // ----- model accessors -------------------------------------------------------------

    pub fn app(&self, name: &str) -> Result<&Application, SimError> {
        self.model
            .app(name)
            .ok_or_else(|| SimError::UnknownApp(name.to_owned()))
    }

    pub fn unit(&self, name: &str) -> Result<&Unit, SimError> {
        self.model
            .unit(name)
            .ok_or_else(|| SimError::UnknownUnit(name.to_owned()))
    }

    fn unit_mut(&mut self, name: &str) -> Result<&mut Unit, SimError> {
        self.model
            .unit_mut(name)
            .ok_or_else(|| SimError::UnknownUnit(name.to_owned()))
    }

    pub fn relation(&self, id: u32) -> Result<&Relation, SimError> {
        self.model
            .relation(id)
            .ok_or(SimError::UnknownRelation(id))
    }

    pub fn unit_status(&self, unit: &str) -> Result<&StatusInfo, SimError> {
        Ok(&self.unit(unit)?.status)
    }

    pub fn app_status(&self, app: &str) -> Result<&StatusInfo, SimError> {
        Ok(&self.app(app)?.status)
    }

    /// The leader's (or else any unit's) workload version, as `juju status` shows it.
    pub fn app_version(&self, app: &str) -> Result<String, SimError> {
        let app = self.app(app)?;
        let leader = app.leader.as_deref().and_then(|leader| app.unit(leader));
        Ok(leader
            .into_iter()
            .chain(&app.units)
            .map(|unit| unit.workload_version.clone())
            .find(|version| !version.is_empty())
            .unwrap_or_default())
    }

    /// A databag's committed content (empty if never written).
    pub fn relation_data(&self, relation: u32, bag: &Bag) -> Result<BTreeMap<String, String>, SimError> {
        Ok(self.relation(relation)?.bag(bag).cloned().unwrap_or_default())
    }

    /// The id of the relation between the two endpoints (`app:endpoint` or `app`), or of the
    /// peer relation when both name the same application endpoint.
    pub fn relation_id(&self, a: &str, b: &str) -> Option<u32> {
        let matches = |relation: &Relation, spec: &str| {
            let (app, endpoint) = spec.split_once(':').unwrap_or((spec, ""));
            relation.end_of(app).is_some_and(|end| endpoint.is_empty() || end.endpoint == endpoint)
        };
        self.model
            .relations
            .values()
            .find(|relation| matches(relation, a) && matches(relation, b))
            .map(|relation| relation.id)
    }

    /// A secret by URI (`secret:<id>`, long form) or bare id.
    pub fn secret(&self, uri: &str) -> Result<&Secret, SimError> {
        let id = crate::model::SecretUri::parse(uri)
            .map(|uri| uri.id)
            .map_err(|_| SimError::UnknownSecret(uri.to_owned()))?;
        self.model
            .secret(&id)
            .ok_or_else(|| SimError::UnknownSecret(uri.to_owned()))
    }

    /// A unit's controller-side state store.
    pub fn state(&self, unit: &str) -> Result<&BTreeMap<String, String>, SimError> {
        Ok(&self.unit(unit)?.state)
    }

    /// A unit's opened ports.
    pub fn ports(&self, unit: &str) -> Result<Vec<PortRange>, SimError> {
        Ok(self.unit(unit)?.ports())
    }

    /// `juju-log` records (and hook output) of one unit.
    pub fn logs<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a LogRecord> {
        self.model.logs.iter().filter(move |record| record.unit == unit)
    }

    /// A finished action by id.
    pub fn action(&self, id: u64) -> Option<&ActionRecord> {
        self.model.actions.iter().find(|action| action.id == id)
    }

    // ----- applications and units --------------------------------------------------------

    /// Adds an application and its units without running any hook (state-transition style:
    /// it is as if it had been deployed and settled). Peer relations are created with every
    /// unit joined. Use [`Simulator::deploy`] to run the deploy hooks instead.
    pub fn add_app(&mut self, spec: AppSpec) -> Result<(), SimError> {
        let name = spec.name.clone();
        let units = self.create_app(spec)?;
        for relation in self.create_peer_relations(&name)? {
            for unit in &units {
                let others: BTreeSet<String> =
                    units.iter().filter(|other| *other != unit).cloned().collect();
                if let Some(relation) = self.model.relation_mut(relation) {
                    relation.members.insert(unit.clone(), others);
                }
            }
        }
        Ok(())
    }

    /// Creates the application and its units (no relations, no hooks).
    fn create_app(&mut self, spec: AppSpec) -> Result<Vec<String>, SimError> {
        if !is_valid_app_name(&spec.name) {
            return Err(SimError::InvalidAppName(spec.name));
        }
        if self.model.app(&spec.name).is_some() {
            return Err(SimError::DuplicateApp(spec.name));
        }
        let charm_dir = match &spec.charm_dir {
            Some(dir) => Some(
                fs::canonicalize(dir).map_err(|e| SimError::io("open charm directory", dir, e))?,
            ),
            None => None,
        };
        let meta = match (&charm_dir, spec.metadata) {
            (Some(dir), _) => CharmMeta::load(dir)?,
            (None, Some(meta)) => meta,
            (None, None) => CharmMeta::default(),
        };
        let index = u32::try_from(self.model.applications.len()).unwrap_or(u32::MAX);
        let mut app = Application {
            name: spec.name.clone(),
            charm_dir,
            meta,
            config: BTreeMap::new(),
            units: Vec::new(),
            leader: None,
            status: StatusInfo::new("unknown", ""),
            status_history: Vec::new(),
            leader_settings: BTreeMap::new(),
            next_unit: 0,
            trusted: spec.trusted,
            resources: spec.resources,
            index,
            unit_env: spec.unit_env,
        };
        app.config = validate_config(&app, &spec.config)?;
        self.model.applications.insert(spec.name.clone(), app);
        let mut units = Vec::new();
        for _ in 0..spec.units {
            units.push(self.create_unit(&spec.name)?);
        }
        Ok(units)
    }

    /// Creates a unit (status, address, storage, its own charm directory); the first unit of
    /// a leaderless application becomes leader.
    fn create_unit(&mut self, app_name: &str) -> Result<String, SimError> {
        let app = self
            .model
            .app_mut(app_name)
            .ok_or_else(|| SimError::UnknownApp(app_name.to_owned()))?;
        let number = app.next_unit;
        app.next_unit += 1;
        let name = format!("{app_name}/{number}");
        let storage = app
            .meta
            .storage
            .iter()
            .map(|(storage, meta)| {
                let id = format!("{storage}/{number}");
                let location = meta
                    .location
                    .clone()
                    .unwrap_or_else(|| format!("/var/lib/juju/storage/{storage}/{number}"));
                (
                    id,
                    StorageAttachment {
                        kind: meta.kind.clone(),
                        location,
                    },
                )
            })
            .collect();
        let unit = Unit {
            name: name.clone(),
            status: StatusInfo::new("waiting", "installing agent"),
            status_history: Vec::new(),
            workload_version: String::new(),
            state: BTreeMap::new(),
            opened_ports: BTreeMap::new(),
            address: format!("10.1.{}.{}", app.index % 250, 10 + number % 240),
            env: app.unit_env.clone(),
            storage,
            dying: false,
        };
        app.units.push(unit);
        if app.leader.is_none() {
            app.leader = Some(name.clone());
        }
        let charm_dir = app.charm_dir.clone();
        if let Some(source) = charm_dir {
            self.shadow_charm_dir(&name, &source)?;
        }
        Ok(name)
    }

    /// Each unit gets its own charm directory (as Juju copies the charm per unit): a directory
    /// of symlinks to the charm's top-level entries, so files a charm writes at its top level
    /// (such as ops' `.unit-state.db`) stay per unit.
    fn shadow_charm_dir(&self, unit: &str, source: &Path) -> Result<(), SimError> {
        let dir = self.unit_charm_dir(unit);
        if dir.exists() {
            for entry in fs::read_dir(&dir).map_err(|e| SimError::io("read", &dir, e))? {
                let entry = entry.map_err(|e| SimError::io("read", &dir, e))?;
                let path = entry.path();
                let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
                if is_link {
                    fs::remove_file(&path).map_err(|e| SimError::io("remove", &path, e))?;
                }
            }
        }
        fs::create_dir_all(&dir).map_err(|e| SimError::io("create", &dir, e))?;
        for entry in fs::read_dir(source).map_err(|e| SimError::io("read", source, e))? {
            let entry = entry.map_err(|e| SimError::io("read", source, e))?;
            let link = dir.join(entry.file_name());
            if link.exists() {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), &link)
                .map_err(|e| SimError::io("create", &link, e))?;
        }
        Ok(())
    }

    /// The charm directory hooks of `unit` run in.
    pub fn unit_charm_dir(&self, unit: &str) -> PathBuf {
        self.work
            .path()
            .join("units")
            .join(unit.replace('/', "-"))
            .join("charm")
    }

    /// Creates the application's peer relations (all units in scope, nobody joined yet).
    fn create_peer_relations(&mut self, app: &str) -> Result<Vec<u32>, SimError> {
        let application = self.app(app)?;
        let peers: Vec<(String, String)> = application
            .meta
            .peers
            .iter()
            .map(|(name, meta)| (name.clone(), meta.interface.clone()))
            .collect();
        let units: Vec<(String, String)> = application
            .units
            .iter()
            .map(|unit| (unit.name.clone(), unit.address.clone()))
            .collect();
        let mut ids = Vec::new();
        for (endpoint, interface) in peers {
            let id = self.new_relation(vec![crate::model::RelationEnd {
                app: app.to_owned(),
                endpoint,
                interface,
                role: crate::model::Role::Peer,
            }]);
            let relation = self
                .model
                .relation_mut(id)
                .ok_or(SimError::UnknownRelation(id))?;
            for (unit, address) in &units {
                relation.enter_scope(unit, address);
            }
            ids.push(id);
        }
        Ok(ids)
    }

    fn new_relation(&mut self, ends: Vec<crate::model::RelationEnd>) -> u32 {
        let id = self.model.next_relation_id;
        self.model.next_relation_id += 1;
        self.model.relations.insert(
            id,
            Relation {
                id,
                ends,
                app_data: BTreeMap::new(),
                unit_data: BTreeMap::new(),
                scope: BTreeSet::new(),
                members: BTreeMap::new(),
                dying: false,
            },
        );
        id
    }

    fn has_charm(&self, unit_or_app: &str) -> bool {
        self.model
            .app(app_of(unit_or_app))
            .is_some_and(|app| app.charm_dir.is_some())
    }

    // ----- the event queue ---------------------------------------------------------------

    /// Queues an event for a unit. Events for passive applications take effect immediately
    /// (membership changes) without running anything; identical queued events are merged.
    pub fn queue(&mut self, unit: &str, event: Event) -> Result<(), SimError> {
        self.unit(unit)?;
        if !self.has_charm(unit) {
            self.before_hook(unit, &event);
            self.after_hook(unit, &event);
            return Ok(());
        }
        let entry = (unit.to_owned(), event);
        if !self.queue.contains(&entry) {
            self.queue.push_back(entry);
        }
        Ok(())
    }

    /// Runs queued events until none are left.
    pub fn run_until_quiet(&mut self) -> Result<Vec<HookRun>, SimError> {
        let mut runs = Vec::new();
        while let Some((unit, event)) = self.queue.pop_front() {
            if runs.len() >= self.max_hooks {
                self.queue.push_front((unit, event));
                return Err(SimError::NotQuiet {
                    ran: runs.len(),
                    pending: self.queue.len(),
                });
            }
            if self.model.unit(&unit).is_none() {
                continue;
            }
            match self.run_hook(&unit, event.clone()) {
                Ok(run) => runs.push(run),
                Err(SimError::HookFailed(run)) => {
                    self.queue.push_front((unit, event));
                    return Err(SimError::HookFailed(run));
                }
                Err(other) => return Err(other),
            }
        }
        Ok(runs)
    }

    /// Drops the event a failed hook left at the front of the queue for `unit` (like
    /// `juju resolved --no-retry`) and restores the unit's workload status.
    pub fn resolve(&mut self, unit: &str) -> Result<(), SimError> {
        self.unit(unit)?;
        if let Some(index) = self.queue.iter().position(|(queued, _)| queued == unit) {
            self.queue.remove(index);
        }
        if let Some(status) = self.saved_status.remove(unit) {
            self.unit_mut(unit)?.set_status(status);
        }
        Ok(())
    }

    /// Runs one event on one unit now and queues its follow-up events (without running them).
    /// A failing hook puts the unit in `error` and returns [`SimError::HookFailed`].
    pub fn run_hook(&mut self, unit: &str, event: Event) -> Result<HookRun, SimError> {
        self.unit(unit)?;
        let Some(hook) = event.hook_name(&self.model, unit) else {
            // The relation is gone: Juju would never deliver this event.
            return Ok(self.skipped_run(unit, String::new(), Some(event)));
        };
        if !self.has_charm(unit) {
            self.before_hook(unit, &event);
            self.after_hook(unit, &event);
            return Ok(self.skipped_run(unit, hook, Some(event)));
        }
        self.before_hook(unit, &event);
        let info = self.hook_info(unit, &hook, &event);
        let env = event.env(&self.model, unit);
        let mut run = self.execute(unit, &format!("hooks/{hook}"), info, env, None)?;
        run.event = Some(event.clone());
        if run.succeeded() {
            self.after_hook(unit, &event);
            self.restore_status(unit);
            self.history.push(run.clone());
            Ok(run)
        } else {
            self.mark_error(unit, &hook)?;
            self.history.push(run.clone());
            Err(SimError::HookFailed(Box::new(run)))
        }
    }

    fn skipped_run(&self, unit: &str, hook: String, event: Option<Event>) -> HookRun {
        HookRun {
            unit: unit.to_owned(),
            hook,
            event,
            action: None,
            skipped: true,
            exit_code: 0,
            timed_out: false,
            committed: false,
            stdout: String::new(),
            stderr: String::new(),
            calls: Vec::new(),
            duration: Duration::ZERO,
        }
    }

    fn mark_error(&mut self, unit: &str, hook: &str) -> Result<(), SimError> {
        let current = self.unit(unit)?.status.clone();
        if current.status != "error" {
            self.saved_status.insert(unit.to_owned(), current);
        }
        let message = format!("hook failed: \"{hook}\"");
        self.unit_mut(unit)?
            .set_status(StatusInfo::new("error", &message));
        Ok(())
    }

    fn restore_status(&mut self, unit: &str) {
        if let Some(status) = self.saved_status.remove(unit) {
            if let Some(unit) = self.model.unit_mut(unit) {
                if unit.status.status == "error" {
                    unit.set_status(status);
                }
            }
        }
    }

    /// What the hook tools need to know about the running hook.
    fn hook_info(&self, unit: &str, hook: &str, event: &Event) -> HookInfo {
        let relation = event.relation().and_then(|id| {
            let relation = self.model.relation(id)?;
            let app = app_of(unit);
            Some(HookRelation {
                id,
                endpoint: relation.endpoint_of(app)?.to_owned(),
                remote_app: relation.remote_app(app)?.to_owned(),
                remote_unit: match event {
                    Event::RelationJoined { unit, .. } | Event::RelationDeparted { unit, .. } => {
                        Some(unit.clone())
                    }
                    Event::RelationChanged { unit, .. } => unit.clone(),
                    _ => None,
                },
                departing_unit: match event {
                    Event::RelationDeparted { departing, .. } => Some(departing.clone()),
                    _ => None,
                },
                broken: matches!(event, Event::RelationBroken { .. }),
            })
        });
        let storage = match event {
            Event::StorageAttached { storage } | Event::StorageDetaching { storage } => {
                Some(storage.clone())
            }
            _ => None,
        };
        HookInfo {
            name: hook.to_owned(),
            relation,
            storage,
            action: None,
        }
    }

    /// Membership changes Juju makes before a hook runs.
    fn before_hook(&mut self, unit: &str, event: &Event) {
        let Some(relation) = event.relation().and_then(|id| self.model.relation_mut(id)) else {
            return;
        };
        let members = relation.members.entry(unit.to_owned()).or_default();
        match event {
            Event::RelationJoined { unit: remote, .. } => {
                members.insert(remote.clone());
            }
            Event::RelationDeparted { unit: remote, .. } => {
                members.remove(remote);
            }
            Event::RelationBroken { .. } => members.clear(),
            _ => {}
        }
    }

    /// Model changes after a hook completed: leaving scopes, detaching storage, removing units.
    fn after_hook(&mut self, unit: &str, event: &Event) {
        match event {
            Event::RelationBroken { relation } => {
                if let Some(rel) = self.model.relation_mut(*relation) {
                    rel.leave_scope(unit);
                }
                self.cleanup_relation(*relation);
            }
            Event::StorageDetaching { storage } => {
                if let Some(unit) = self.model.unit_mut(unit) {
                    unit.storage.remove(storage);
                }
            }
            Event::Remove => self.remove_unit_now(unit),
            _ => {}
        }
    }

    /// Deletes a dying relation once no charm unit is left in its scope, with its grants.
    fn cleanup_relation(&mut self, id: u32) {
        let Some(relation) = self.model.relation(id) else {
            return;
        };
        let gone_app = relation
            .ends
            .iter()
            .any(|end| self.model.app(&end.app).is_none());
        let charm_units_left = relation.scope.iter().any(|unit| self.has_charm(unit));
        if (relation.dying || gone_app) && !charm_units_left {
            self.model.relations.remove(&id);
            for secret in self.model.secrets.values_mut() {
                secret.grants.retain(|grant| grant.relation_id != id);
            }
        }
    }

    /// Removes a unit from the model after its `remove` hook; re-elects a leader if needed.
    fn remove_unit_now(&mut self, unit: &str) {
        let app_name = app_of(unit).to_owned();
        let relation_ids: Vec<u32> = self.model.relations.keys().copied().collect();
        for id in &relation_ids {
            if let Some(relation) = self.model.relation_mut(*id) {
                relation.leave_scope(unit);
                for members in relation.members.values_mut() {
                    members.remove(unit);
                }
            }
        }
        for secret in self.model.secrets.values_mut() {
            secret.consumers.remove(unit);
        }
        self.saved_status.remove(unit);
        let mut new_leader = None;
        if let Some(app) = self.model.app_mut(&app_name) {
            app.units.retain(|u| u.name != unit);
            if app.leader.as_deref() == Some(unit) {
                app.leader = app
                    .units
                    .iter()
                    .find(|u| !u.dying)
                    .map(|u| u.name.clone());
                new_leader.clone_from(&app.leader);
            }
        }
        let empty = self.model.app(&app_name).is_some_and(|app| app.units.is_empty());
        if empty && self.dying_apps.remove(&app_name) {
            self.model.applications.remove(&app_name);
        }
        for id in relation_ids {
            self.cleanup_relation(id);
        }
        if let Some(leader) = new_leader {
            let _ = self.queue_leadership(&app_name, &leader);
        }
    }

    /// Queues leader-elected for the new leader and leader-settings-changed for the others.
    fn queue_leadership(&mut self, app: &str, leader: &str) -> Result<(), SimError> {
        let units: Vec<String> = self.app(app)?.unit_names().map(str::to_owned).collect();
        for unit in units {
            let event = if unit == leader {
                Event::LeaderElected
            } else {
                Event::LeaderSettingsChanged
            };
            self.queue(&unit, event)?;
        }
        Ok(())
    }

    // ----- running processes -------------------------------------------------------------

    fn next_context_id(&mut self, unit: &str, hook: &str) -> (String, PathBuf) {
        self.next_context += 1;
        let id = format!("{unit}-{hook}-{}", self.next_context);
        let path = self
            .work
            .path()
            .join("contexts")
            .join(format!("{}.json", self.next_context));
        (id, path)
    }

    /// Builds the hook context as tools will see it: the model without log and action
    /// history (which tools never read).
    fn context_for(&self, id: String, unit: &str, hook: HookInfo) -> HookContext {
        let mut model = self.model.clone();
        model.logs.clear();
        model.actions.clear();
        HookContext {
            id,
            unit: unit.to_owned(),
            hook,
            model,
            pending: Vec::new(),
            logs: Vec::new(),
            calls: Vec::new(),
        }
    }

    /// The full hook environment of spec section 1.3 plus kind-specific variables.
    fn hook_env(
        &self,
        unit: &str,
        dispatch_path: &str,
        hook_name: &str,
        context: (&str, &Path),
        kind_env: Vec<(&'static str, String)>,
    ) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for key in PASSED_THROUGH {
            if let Ok(value) = std::env::var(key) {
                env.insert((*key).to_owned(), value);
            }
        }
        let path = match std::env::var("PATH") {
            Ok(path) if !path.is_empty() => format!("{}:{path}", self.tools_dir.display()),
            _ => format!("{}:/usr/local/bin:/usr/bin:/bin", self.tools_dir.display()),
        };
        let charm_dir = self.unit_charm_dir(unit).display().to_string();
        let fixed: [(&str, String); 28] = [
            ("PATH", path),
            ("LANG", "C.UTF-8".to_owned()),
            ("TERM", "tmux-256color".to_owned()),
            ("DEBIAN_FRONTEND", "noninteractive".to_owned()),
            ("APT_LISTCHANGES_FRONTEND", "none".to_owned()),
            ("JUJU_DISPATCH_PATH", dispatch_path.to_owned()),
            ("JUJU_HOOK_NAME", hook_name.to_owned()),
            ("JUJU_UNIT_NAME", unit.to_owned()),
            ("JUJU_MODEL_NAME", self.model.name.clone()),
            ("JUJU_MODEL_UUID", self.model.uuid.clone()),
            ("JUJU_VERSION", self.model.juju_version.clone()),
            ("JUJU_CHARM_DIR", charm_dir.clone()),
            ("CHARM_DIR", charm_dir),
            (CONTEXT_ID_ENV, context.0.to_owned()),
            (CONTEXT_PATH_ENV, context.1.display().to_string()),
            ("JUJU_AGENT_SOCKET_NETWORK", "unix".to_owned()),
            ("JUJU_API_ADDRESSES", "10.152.183.10:17070".to_owned()),
            ("JUJU_MACHINE_ID", String::new()),
            ("JUJU_PRINCIPAL_UNIT", String::new()),
            ("JUJU_AVAILABILITY_ZONE", String::new()),
            ("JUJU_SLA", "unsupported".to_owned()),
            ("CLOUD_API_VERSION", "1.29.0".to_owned()),
            ("JUJU_CHARM_HTTP_PROXY", String::new()),
            ("JUJU_CHARM_HTTPS_PROXY", String::new()),
            ("JUJU_CHARM_FTP_PROXY", String::new()),
            ("JUJU_CHARM_NO_PROXY", "127.0.0.1,localhost,::1".to_owned()),
            ("JUJU_METER_STATUS", "AMBER".to_owned()),
            ("JUJU_METER_INFO", "not set".to_owned()),
        ];
        env.extend(fixed.into_iter().map(|(key, value)| (key.to_owned(), value)));
        env.extend(kind_env.into_iter().map(|(key, value)| (key.to_owned(), value)));
        env.extend(self.env.clone());
        if let Some(unit) = self.model.unit(unit) {
            env.extend(unit.env.clone());
        }
        env
    }

    /// Runs the handler for `dispatch_path` (`hooks/<hook>` or `actions/<name>`), then merges
    /// immediate effects and, on success, commits buffered changes and queues follow-ups.
    fn execute(
        &mut self,
        unit: &str,
        dispatch_path: &str,
        info: HookInfo,
        kind_env: Vec<(&'static str, String)>,
        action: Option<u64>,
    ) -> Result<HookRun, SimError> {
        let hook_name = info.name.clone();
        let label = dispatch_path
            .rsplit_once('/')
            .map_or(dispatch_path, |(_, name)| name)
            .to_owned();
        let charm_dir = self.unit_charm_dir(unit);
        let handler = find_handler(&charm_dir, dispatch_path);
        let (id, path) = self.next_context_id(unit, &label);
        let context = self.context_for(id.clone(), unit, info);
        let Some(handler) = handler else {
            let mut run = self.skipped_run(unit, label, None);
            run.action = action;
            if let Some(action_run) = context.hook.action {
                return self.finish_action_missing(run, action_run);
            }
            return Ok(run);
        };
        let file = ContextFile::create(&path, &context)?;
        let env = self.hook_env(unit, dispatch_path, &hook_name, (&id, &path), kind_env);
        let finished = process::run(&handler, &charm_dir, &env, self.hook_timeout)
            .map_err(|e| SimError::io("run", &handler, e));
        let context = file.read();
        file.remove()?;
        let finished = finished?;
        let context = context?;
        let code = if finished.timed_out { -9 } else { finished.code };
        let stdout = String::from_utf8_lossy(&finished.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&finished.stderr).into_owned();
        let run = HookRun {
            unit: unit.to_owned(),
            hook: label.clone(),
            event: None,
            action,
            skipped: false,
            exit_code: code,
            timed_out: finished.timed_out,
            committed: code == 0 && !finished.timed_out,
            stdout,
            stderr,
            calls: context.calls.clone(),
            duration: finished.duration,
        };
        self.merge(context, &run, &label);
        Ok(run)
    }

    /// Folds a finished hook context into the model.
    fn merge(&mut self, context: HookContext, run: &HookRun, label: &str) {
        let before = self.model.clone();
        let mut model = context.model;
        model.logs = std::mem::take(&mut self.model.logs);
        model.logs.extend(context.logs);
        for (level, text) in [("DEBUG", &run.stdout), ("WARNING", &run.stderr)] {
            for line in text.lines().filter(|line| !line.trim().is_empty()) {
                model.log(&run.unit, label, level, line.to_owned());
            }
        }
        model.actions = std::mem::take(&mut self.model.actions);
        if run.committed {
            for change in &context.pending {
                change.apply(&mut model, &run.unit);
            }
        }
        self.model = model;
        if let Some(action) = context.hook.action {
            self.record_action(run, action);
        }
        let departing = context
            .hook
            .relation
            .as_ref()
            .and_then(|relation| relation.departing_unit.as_deref())
            == Some(run.unit.as_str());
        self.queue_followups(&before, Some(&run.unit), departing);
    }

    fn record_action(&mut self, run: &HookRun, action: ActionRun) {
        let mut results = action.results;
        results.insert("return-code".into(), Value::from(run.exit_code));
        if !run.stdout.is_empty() {
            results.insert("stdout".into(), Value::from(run.stdout.clone()));
        }
        if !run.stderr.is_empty() {
            results.insert("stderr".into(), Value::from(run.stderr.clone()));
        }
        let (status, message) = if !run.succeeded() {
            let message = if run.timed_out {
                "action terminated".to_owned()
            } else {
                action
                    .message
                    .unwrap_or_else(|| format!("exit status {}", run.exit_code))
            };
            (ActionStatus::Failed, Some(message))
        } else if action.failed {
            (ActionStatus::Failed, action.message)
        } else {
            (ActionStatus::Completed, None)
        };
        self.model.actions.push(ActionRecord {
            id: action.id,
            unit: run.unit.clone(),
            name: action.name,
            params: action.params,
            results,
            status,
            message,
            logs: action.logs,
        });
    }

    fn finish_action_missing(&mut self, run: HookRun, action: ActionRun) -> Result<HookRun, SimError> {
        self.model.actions.push(ActionRecord {
            id: action.id,
            unit: run.unit.clone(),
            name: action.name,
            params: action.params,
            results: serde_json::Map::new(),
            status: ActionStatus::Failed,
            message: Some(format!("action not implemented on unit \"{}\"", run.unit)),
            logs: Vec::new(),
        });
        Ok(run)
    }

    /// Runs an action on a unit, then the follow-up hooks its committed changes cause.
    pub fn run_action(
        &mut self,
        unit: &str,
        action: &str,
        params: serde_json::Map<String, Value>,
    ) -> Result<ActionResult, SimError> {
        let app = self.app(app_of(unit))?;
        self.unit(unit)?;
        if app.charm_dir.is_none() {
            return Err(SimError::Passive(app.name.clone()));
        }
        let meta = app
            .meta
            .actions
            .get(action)
            .ok_or_else(|| SimError::UnknownAction {
                unit: unit.to_owned(),
                action: action.to_owned(),
            })?;
        let params = meta
            .resolve_params(action, &params)
            .map_err(|message| SimError::InvalidActionParams {
                action: action.to_owned(),
                message,
            })?;
        let id = self.model.next_action_id;
        self.model.next_action_id += 1;
        let info = HookInfo {
            name: String::new(),
            relation: None,
            storage: None,
            action: Some(ActionRun {
                id,
                name: action.to_owned(),
                params,
                results: serde_json::Map::new(),
                failed: false,
                message: None,
                logs: Vec::new(),
            }),
        };
        let env = vec![
            ("JUJU_ACTION_NAME", action.to_owned()),
            ("JUJU_ACTION_UUID", id.to_string()),
            ("JUJU_ACTION_TAG", format!("action-{id}")),
        ];
        let run = self.execute(unit, &format!("actions/{action}"), info, env, Some(id))?;
        self.history.push(run.clone());
        let followups = self.run_until_quiet()?;
        let record = self
            .action(id)
            .cloned()
            .ok_or_else(|| SimError::UnknownAction {
                unit: unit.to_owned(),
                action: action.to_owned(),
            })?;
        Ok(ActionResult {
            record,
            run,
            followups,
        })
    }

    // ----- in-process execution ----------------------------------------------------------

    /// Prepares an in-process hook: the returned runner answers hook-tool calls against the
    /// same context a process would get, and [`InProcessRunner::env`] holds the hook
    /// environment. Finish with [`Simulator::finish_in_process`].
    pub fn in_process(&mut self, unit: &str, event: Event) -> Result<InProcessRunner, SimError> {
        self.unit(unit)?;
        let hook = event
            .hook_name(&self.model, unit)
            .ok_or_else(|| SimError::UnknownRelation(event.relation().unwrap_or_default()))?;
        self.before_hook(unit, &event);
        let info = self.hook_info(unit, &hook, &event);
        let kind_env = event.env(&self.model, unit);
        let (id, path) = self.next_context_id(unit, &hook);
        let env = self.hook_env(unit, &format!("hooks/{hook}"), &hook, (&id, &path), kind_env);
        let context = self.context_for(id, unit, info);
        Ok(InProcessRunner::new(context, env, event))
    }

    /// Completes an in-process hook as if its process exited with `exit_code`: commits on 0,
    /// queues follow-ups, and returns the run.
    pub fn finish_in_process(
        &mut self,
        runner: InProcessRunner,
        exit_code: i32,
    ) -> Result<HookRun, SimError> {
        let (context, event) = runner.into_parts();
        let unit = context.unit.clone();
        let hook = context.hook.name.clone();
        let run = HookRun {
            unit: unit.clone(),
            hook: hook.clone(),
            event: Some(event.clone()),
            action: None,
            skipped: false,
            exit_code,
            timed_out: false,
            committed: exit_code == 0,
            stdout: String::new(),
            stderr: String::new(),
            calls: context.calls.clone(),
            duration: Duration::ZERO,
        };
        self.merge(context, &run, &hook);
        if run.succeeded() {
            self.after_hook(&unit, &event);
            self.restore_status(&unit);
            self.history.push(run.clone());
            Ok(run)
        } else {
            self.mark_error(&unit, &hook)?;
            self.history.push(run.clone());
            Err(SimError::HookFailed(Box::new(run)))
        }
    }
}

/// `dispatch` if executable, else the legacy `hooks/<hook>` or `actions/<action>` file.
fn find_handler(charm_dir: &Path, dispatch_path: &str) -> Option<PathBuf> {
    [charm_dir.join("dispatch"), charm_dir.join(dispatch_path)]
        .into_iter()
        .find(|path| {
            fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Validates config values against the application's options.
fn validate_config(
    app: &Application,
    values: &BTreeMap<String, Value>,
) -> Result<BTreeMap<String, Value>, SimError> {
    let mut config = app.config.clone();
    for (key, value) in values {
        let option = app.meta.config.get(key).ok_or_else(|| SimError::InvalidConfig {
            app: app.name.clone(),
            message: format!("unknown option {key:?}"),
        })?;
        let value = option
            .coerce(key, value)
            .map_err(|message| SimError::InvalidConfig {
                app: app.name.clone(),
                message,
            })?;
        if value.is_null() {
            config.remove(key);
        } else {
            config.insert(key.clone(), value);
        }
    }
    Ok(config)
}
