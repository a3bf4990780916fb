//! Service actions (`start`, `stop`, `restart`, `replan`, `autostart`) as changes, and the
//! per-service runtime state; [`process`] runs real processes in Process mode.

pub mod process;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Map;
use time::OffsetDateTime;

use crate::changes::TaskSpec;
use crate::plan::schema::{Service, ACTION_RESTART};
use crate::plan::{start_order, stop_order};
use crate::response::ApiError;
use crate::state::{Shared, State};

/// A service's `current` status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServiceStatus {
    Active,
    #[default]
    Inactive,
    Backoff,
    Error,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Active => "active",
            ServiceStatus::Inactive => "inactive",
            ServiceStatus::Backoff => "backoff",
            ServiceStatus::Error => "error",
        }
    }
}

/// What the simulator knows about a service beyond its plan entry.
#[derive(Debug, Default)]
pub struct ServiceRuntime {
    pub current: ServiceStatus,
    pub since: Option<OffsetDateTime>,
    /// Start attempts (including restarts and automatic restarts).
    pub starts: u32,
    pub stops: u32,
    /// Configuration the running instance was started with (replan compares it).
    pub started_config: Option<Service>,
    /// The supervisor of the process (Process mode).
    pub process: Option<process::Supervisor>,
}

impl ServiceRuntime {
    /// Started and not stopped since (active, or failing and due to restart).
    pub fn is_running(&self) -> bool {
        self.process.is_some() || matches!(self.current, ServiceStatus::Active | ServiceStatus::Backoff)
    }

    fn set(&mut self, current: ServiceStatus) {
        self.current = current;
        self.since = Some(OffsetDateTime::now_utc());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
    Replan,
    Autostart,
}

impl Action {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "start" => Action::Start,
            "stop" => Action::Stop,
            "restart" => Action::Restart,
            "replan" => Action::Replan,
            "autostart" => Action::Autostart,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Replan => "replan",
            Action::Autostart => "autostart",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Action::Start => "Start",
            Action::Stop => "Stop",
            Action::Restart => "Restart",
            Action::Replan => "Replan",
            Action::Autostart => "Autostart",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Start(String),
    Stop(String),
}

impl Op {
    fn task(&self) -> TaskSpec {
        match self {
            Op::Start(name) => TaskSpec { kind: "start", summary: format!("Start service {name:?}") },
            Op::Stop(name) => TaskSpec { kind: "stop", summary: format!("Stop service {name:?}") },
        }
    }

    fn service(&self) -> &str {
        match self {
            Op::Start(name) | Op::Stop(name) => name,
        }
    }
}

/// Validates a `POST /v1/services` action, creates its change and runs it in the background.
pub fn begin(shared: &Arc<Shared>, action: Action, names: &[String]) -> Result<u64, ApiError> {
    let needs_names = matches!(action, Action::Start | Action::Stop | Action::Restart);
    if needs_names && names.is_empty() {
        return Err(ApiError::bad_request(format!("must specify services for {} action", action.name())));
    }
    if !needs_names && !names.is_empty() {
        return Err(ApiError::bad_request(format!("{} accepts no service names", action.name())));
    }
    let (change_id, tasks) = {
        let mut state = shared.lock();
        let ops = plan_ops(&state, action, names)
            .map_err(|e| ApiError::bad_request(format!("cannot {} services: {e}", action.name())))?;
        if action == Action::Autostart && ops.is_empty() {
            return Err(ApiError::bad_request("no default services").with_kind("no-default-services"));
        }
        let mut services: Vec<String> = Vec::new();
        for op in &ops {
            if !services.iter().any(|s| s == op.service()) {
                services.push(op.service().to_owned());
            }
        }
        let summary = summary(action.verb(), &services);
        let specs = ops.iter().map(Op::task).collect();
        let (change_id, task_ids) = state.changes.create(action.name(), summary, services, specs);
        (change_id, task_ids.into_iter().zip(ops).collect::<Vec<_>>())
    };
    shared.update_changes(|_| ());
    if action == Action::Replan {
        crate::checks::sync(shared);
    }
    tokio::spawn(run(Arc::clone(shared), change_id, tasks));
    Ok(change_id)
}

/// `Start service "a"`, `Start services "a", "b"`, `Replan - no services`.
fn summary(verb: &str, services: &[String]) -> String {
    match services {
        [] => format!("{verb} - no services"),
        [one] => format!("{verb} service {one:?}"),
        many => {
            let quoted: Vec<String> = many.iter().map(|s| format!("{s:?}")).collect();
            format!("{verb} services {}", quoted.join(", "))
        }
    }
}

fn plan_ops(state: &State, action: Action, names: &[String]) -> Result<Vec<Op>, String> {
    let services = &state.plan.combined().services;
    let running = |name: &str| state.services.get(name).is_some_and(ServiceRuntime::is_running);
    let starts = |names: &[String]| -> Result<Vec<Op>, String> {
        Ok(start_order(services, names)?.into_iter().map(Op::Start).collect())
    };
    let stops = |names: &[String]| -> Result<Vec<Op>, String> {
        Ok(stop_order(services, names)?.into_iter().map(Op::Stop).collect())
    };
    match action {
        Action::Start => starts(names),
        Action::Stop => stops(names),
        Action::Restart => {
            let mut ops = stops(names)?;
            let mut again: Vec<String> = names.to_vec();
            again.extend(ops.iter().map(|op| op.service().to_owned()).filter(|s| running(s)));
            ops.extend(starts(&again)?);
            Ok(ops)
        }
        Action::Autostart => {
            let enabled: Vec<String> =
                services.iter().filter(|(_, s)| s.startup_enabled()).map(|(name, _)| name.clone()).collect();
            if enabled.is_empty() {
                return Ok(Vec::new());
            }
            starts(&enabled)
        }
        Action::Replan => {
            let mut changed = Vec::new();
            let mut to_start = BTreeSet::new();
            for (name, service) in services {
                let runtime = state.services.get(name);
                let is_running = runtime.is_some_and(ServiceRuntime::is_running);
                let same = runtime.and_then(|r| r.started_config.as_ref()) == Some(service);
                if is_running && !same {
                    changed.push(name.clone());
                }
                if service.startup_enabled() {
                    to_start.insert(name.clone());
                }
            }
            let mut ops = stops(&changed)?;
            let to_start: Vec<String> = to_start.into_iter().collect();
            ops.extend(starts(&to_start)?);
            Ok(ops)
        }
    }
}

async fn run(shared: Arc<Shared>, change_id: u64, tasks: Vec<(u64, Op)>) {
    let abort = match shared.lock().changes.get(change_id) {
        Some(change) => change.abort.clone(),
        None => return,
    };
    for (task_id, op) in tasks {
        if abort.is_cancelled() {
            return;
        }
        shared.update_changes(|c| c.set_doing(task_id));
        let outcome = match &op {
            Op::Start(name) => start(&shared, name).await,
            Op::Stop(name) => stop(&shared, name).await,
        };
        match outcome {
            Ok(()) => shared.update_changes(|c| c.set_done(task_id, Map::new())),
            Err(error) => {
                shared.update_changes(|c| {
                    c.set_error(task_id, error, Map::new());
                    c.hold_pending(change_id);
                });
                return;
            }
        }
    }
}

/// Starts one service (no-op when running): simulated at once, or as a supervised process.
pub(crate) async fn start(shared: &Arc<Shared>, name: &str) -> Result<(), String> {
    let service = {
        let state = shared.lock();
        state.plan.combined().services.get(name).cloned()
    }
    .ok_or_else(|| format!("service {name:?} does not exist"))?;
    if shared.is_process_mode() {
        return process::start(shared, name, service).await;
    }
    let mut state = shared.lock();
    let outcome = start_simulated(&mut state, name, service);
    crate::checks::reconcile_simulated(shared, &mut state);
    outcome
}

fn start_simulated(state: &mut State, name: &str, service: Service) -> Result<(), String> {
    let fails = crate::command::split(service.command.as_deref().unwrap_or_default())
        .ok()
        .and_then(|argv| argv.into_iter().next())
        .is_some_and(|argv0| state.failing_commands.contains(&argv0));
    let runtime = state.services.entry(name.to_owned()).or_default();
    if runtime.current == ServiceStatus::Active {
        return Ok(());
    }
    runtime.starts += 1;
    if !fails {
        runtime.set(ServiceStatus::Active);
        runtime.started_config = Some(service);
        return Ok(());
    }
    let will_restart = service.exit_action(false) == ACTION_RESTART;
    runtime.set(if will_restart { ServiceStatus::Backoff } else { ServiceStatus::Error });
    runtime.started_config = will_restart.then_some(service);
    Err(exited_quickly(1, will_restart))
}

/// The start error of a service that exited within the okay delay.
pub fn exited_quickly(code: i32, will_restart: bool) -> String {
    let suffix = if will_restart { ", will restart" } else { "" };
    format!("service start attempt: exited quickly with code {code}{suffix}")
}

/// Stops one service (no-op when not running).
pub(crate) async fn stop(shared: &Arc<Shared>, name: &str) -> Result<(), String> {
    if shared.is_process_mode() {
        return process::stop(shared, name).await;
    }
    let mut state = shared.lock();
    let runtime = state.services.entry(name.to_owned()).or_default();
    if runtime.current != ServiceStatus::Inactive {
        runtime.stops += 1;
        runtime.set(ServiceStatus::Inactive);
        runtime.started_config = None;
    }
    crate::checks::reconcile_simulated(shared, &mut state);
    Ok(())
}

/// `POST /v1/signals`: signals each named service that is running; the errors of the others,
/// in Pebble's words and joined with `; `, make the request fail (500).
pub fn signal(shared: &Shared, names: &[String], signal: &str) -> Result<(), String> {
    let state = shared.lock();
    let mut errors = Vec::new();
    for name in names {
        let runtime = state.services.get(name).filter(|r| r.current == ServiceStatus::Active);
        let Some(runtime) = runtime else {
            errors.push(format!("cannot send signal to {name:?}: service is not running"));
            continue;
        };
        let Some(parsed) = crate::signals::parse(signal) else {
            errors.push(format!("cannot send signal to {name:?}: invalid signal name {signal:?}"));
            continue;
        };
        if let Some(supervisor) = &runtime.process {
            supervisor.signal(parsed);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Stops everything at once (simulator shutdown or container restart): kills every process
/// group we spawned and marks services inactive.
pub fn kill_all(state: &mut State) {
    for pid in state.process_groups.keys() {
        crate::signals::to_group(*pid, rustix::process::Signal::KILL);
    }
    state.process_groups.clear();
    for runtime in state.services.values_mut() {
        runtime.process = None;
        if runtime.current != ServiceStatus::Inactive {
            runtime.set(ServiceStatus::Inactive);
        }
        runtime.started_config = None;
    }
}
