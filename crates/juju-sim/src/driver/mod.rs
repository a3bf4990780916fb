//! The driver: runs charm directories for events exactly as the Juju unit agent does (handler
//! discovery, environment, hook tools on `PATH`, commit on exit 0), queues the follow-up events
//! Juju would fire, and offers the standard sequences (deploy, integrate, scale, ...).

mod apps;
mod error;
mod event;
mod execute;
mod followups;
mod passive;
mod process;
mod queue;
mod sequences;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::agent::Agent;
use crate::charm::CharmMeta;
use crate::context::{ToolCall, ToolFault, ToolFaultKind};
use crate::model::{
    ActionRecord, Application, Bag, LogRecord, Model, PortRange, Relation, Secret, StatusInfo, Unit,
};
use crate::tools::tool_names;
use crate::usage::{ResourceUsage, ToolsUsage};

pub use error::SimError;
pub use event::Event;

/// Environment variables passed through from the simulator's own environment to hooks.
const PASSED_THROUGH: &[&str] =
    &["HOME", "USER", "TMPDIR", "LLVM_PROFILE_FILE", "RUST_BACKTRACE", "RUST_LOG"];

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
    /// The address of unit `<name>/<number>`, by number (see [`AppSpec::unit_address`]).
    pub unit_addresses: BTreeMap<u32, Ipv4Addr>,
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
            unit_addresses: BTreeMap::new(),
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
            unit_addresses: BTreeMap::new(),
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

    /// Gives unit `<name>/<number>` this address (its pod IP) instead of a made-up
    /// `10.1.x.y` one, from its creation on: `network-get`, `unit-get` and the addresses in
    /// its relation bags show it.
    pub fn unit_address(mut self, number: u32, address: Ipv4Addr) -> Self {
        self.unit_addresses.insert(number, address);
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
    /// CPU time and peak RSS of the hook's process tree (see [`crate::usage`]); zero when
    /// nothing ran as a process.
    pub usage: ResourceUsage,
    /// What the hook-tool processes among them used.
    pub tools_usage: ToolsUsage,
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
    /// Answers the hook tools of the running hook (first, to stop before its socket goes).
    agent: Agent,
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
    /// Addresses for units not created yet, by unit name.
    future_addresses: BTreeMap<String, Ipv4Addr>,
    /// Extra environment for units not created yet, by unit name.
    future_env: BTreeMap<String, BTreeMap<String, String>>,
    /// A fault due at that many hook-tool calls from now, across the hooks and actions of
    /// one application's units (any application's when `None`).
    tool_fault: Option<(ToolFault, Option<String>)>,
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
            std::os::unix::fs::symlink(&tool, &link).map_err(|e| SimError::io("create", &link, e))?;
        }
        for dir in ["contexts", "units"] {
            let path = work.path().join(dir);
            fs::create_dir_all(&path).map_err(|e| SimError::io("create", &path, e))?;
        }
        let socket = work.path().join("agent.socket");
        let agent = Agent::start(socket.clone()).map_err(|e| SimError::io("listen on", socket, e))?;
        Ok(Simulator {
            model: Model::new("test-model"),
            agent,
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
            future_addresses: BTreeMap::new(),
            future_env: BTreeMap::new(),
            tool_fault: None,
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
    /// Makes hook-tool call number `call` from now (1-based, counted across the hooks and
    /// actions that run) go wrong as `kind` says. A hook it fails stays queued, as Juju
    /// retries it: `run_until_quiet` runs it again, without the fault.
    pub fn inject_tool_fault(&mut self, call: usize, kind: ToolFaultKind) {
        self.tool_fault = (call > 0).then_some((ToolFault { call, kind }, None));
    }

    /// Like [`Self::inject_tool_fault`], counting only the calls of `app`'s units.
    pub fn inject_tool_fault_in(&mut self, app: &str, call: usize, kind: ToolFaultKind) {
        self.tool_fault = (call > 0).then_some((ToolFault { call, kind }, Some(app.to_owned())));
    }

    /// Whether an injected fault has not happened yet.
    pub fn tool_fault_pending(&self) -> bool {
        self.tool_fault.is_some()
    }

    pub fn set_max_hooks(&mut self, max: usize) {
        self.max_hooks = max;
    }

    /// Adds an environment variable to every hook.
    pub fn set_env(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.env.insert(key.into(), value.into());
    }

    /// Adds an environment variable to one unit's hooks (for example a Pebble socket path),
    /// over the application's ([`AppSpec::unit_env`]). A unit of an existing application that
    /// is not created yet (the next [`Simulator::add_unit`]) gets it when it is created, so
    /// its first hook already sees it.
    pub fn set_unit_env(
        &mut self,
        unit: &str,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), SimError> {
        if self.model.unit(unit).is_none() {
            self.ensure_future_unit(unit)?;
            self.future_env.entry(unit.to_owned()).or_default().insert(key.into(), value.into());
            return Ok(());
        }
        self.unit_mut(unit)?.env.insert(key.into(), value.into());
        Ok(())
    }

    /// `unit` names a unit of an existing application that `add_unit` may still create
    /// (its number not used yet).
    fn ensure_future_unit(&self, unit: &str) -> Result<(), SimError> {
        let unknown = || SimError::UnknownUnit(unit.to_owned());
        let (app, number) = unit.split_once('/').ok_or_else(unknown)?;
        let number: u32 = number.parse().map_err(|_| unknown())?;
        if number < self.app(app)?.next_unit || unit != format!("{app}/{number}") {
            return Err(unknown());
        }
        Ok(())
    }

    /// Sets the address of `unit` (its pod IP), which `network-get` answers for every
    /// binding (bind and ingress address, `<address>/32` egress subnet, a `/24` CIDR) and
    /// `unit-get` for both settings. A unit that exists also shows it in its relation bags
    /// (`private-address`, `ingress-address`, `egress-subnets`), as if it had always had it;
    /// no hook runs. A unit of an existing application that is not created yet (the next
    /// [`Simulator::add_unit`]) gets it when it is created.
    pub fn set_unit_address(&mut self, unit: &str, address: Ipv4Addr) -> Result<(), SimError> {
        if self.model.unit(unit).is_none() {
            self.ensure_future_unit(unit)?;
            self.future_addresses.insert(unit.to_owned(), address);
            return Ok(());
        }
        let address = address.to_string();
        self.unit_mut(unit)?.address.clone_from(&address);
        for relation in self.model.relations.values_mut() {
            if relation.scope.contains(unit) {
                relation.enter_scope(unit, &address);
            }
        }
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
        self.model.app(name).ok_or_else(|| SimError::UnknownApp(name.to_owned()))
    }

    pub fn unit(&self, name: &str) -> Result<&Unit, SimError> {
        self.model.unit(name).ok_or_else(|| SimError::UnknownUnit(name.to_owned()))
    }

    fn unit_mut(&mut self, name: &str) -> Result<&mut Unit, SimError> {
        self.model.unit_mut(name).ok_or_else(|| SimError::UnknownUnit(name.to_owned()))
    }

    pub fn relation(&self, id: u32) -> Result<&Relation, SimError> {
        self.model.relation(id).ok_or(SimError::UnknownRelation(id))
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
        self.model.secret(&id).ok_or_else(|| SimError::UnknownSecret(uri.to_owned()))
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
}
