//! Health checks. Each active check owns a change like Pebble's: `perform-check` while up,
//! `recover-check` while down (its `change-id`; clients take a check without one as
//! inactive). Checks are probed for real (http/tcp/exec every `period`, with `timeout` and
//! `threshold`) unless [`crate::CheckMode`] says to follow the services instead: then up/down
//! derives from the services the check belongs to (its exec `service-context`, services
//! naming it in `on-check-failure`, else all services of the plan), re-evaluated whenever a
//! service starts or stops.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;

use crate::changes::TaskSpec;
use crate::plan::schema::{Check, ACTION_RESTART};
use crate::services::ServiceStatus;
use crate::state::{Shared, State};

mod probe;

const DEFAULT_PERIOD: Duration = Duration::from_secs(10);
const DEFAULT_THRESHOLD: u32 = 3;

/// A check's counters, state and current change.
#[derive(Debug)]
pub struct CheckRuntime {
    config: Check,
    active: bool,
    down: bool,
    successes: u32,
    failures: u32,
    /// The running `perform-check` or `recover-check` change and its task.
    change: Option<(u64, u64)>,
    /// The probe loop (when probing).
    runner: Option<CancellationToken>,
}

impl CheckRuntime {
    fn threshold(&self) -> u32 {
        self.config.threshold.unwrap_or(DEFAULT_THRESHOLD)
    }

    fn status(&self) -> CheckStatus {
        match (self.active, self.down) {
            (false, _) => CheckStatus::Inactive,
            (true, true) => CheckStatus::Down,
            (true, false) => CheckStatus::Up,
        }
    }

    fn kind(&self) -> &'static str {
        if self.config.http.is_some() {
            "HTTP"
        } else if self.config.tcp.is_some() {
            "TCP"
        } else {
            "exec"
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Up,
    Down,
    Inactive,
}

impl CheckStatus {
    fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Up => "up",
            CheckStatus::Down => "down",
            CheckStatus::Inactive => "inactive",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Perform,
    Recover,
}

/// Brings runtimes in line with the plan: new or changed checks start afresh (unless
/// `startup: disabled`).
pub fn sync(shared: &Arc<Shared>) {
    {
        let mut state = shared.lock();
        let checks = state.plan.combined().checks.clone();
        for (name, config) in checks {
            if state.checks.get(&name).is_some_and(|r| r.config == config) {
                continue;
            }
            deactivate(&mut state, &name);
            let active = !config.startup_disabled();
            let runtime = CheckRuntime {
                config,
                active: false,
                down: false,
                successes: 0,
                failures: 0,
                change: None,
                runner: None,
            };
            state.checks.insert(name.clone(), runtime);
            if active {
                activate(shared, &mut state, &name);
            }
        }
        reconcile_simulated(shared, &mut state);
    }
    shared.changes_updated();
}

/// `POST /v1/checks` start/stop; returns the names whose state changed.
pub fn set_active(shared: &Arc<Shared>, names: &[String], active: bool) -> Result<Vec<String>, String> {
    let mut state = shared.lock();
    if let Some(unknown) = names.iter().find(|n| !state.checks.contains_key(*n)) {
        return Err(format!("check {unknown:?} does not exist"));
    }
    let changing: Vec<String> =
        names.iter().filter(|n| state.checks.get(*n).is_some_and(|r| r.active != active)).cloned().collect();
    for name in &changing {
        if active {
            activate(shared, &mut state, name);
        } else {
            deactivate(&mut state, name);
        }
    }
    reconcile_simulated(shared, &mut state);
    drop(state);
    shared.changes_updated();
    Ok(changing)
}

fn activate(shared: &Arc<Shared>, state: &mut State, name: &str) {
    let Some(runtime) = state.checks.get_mut(name) else {
        return;
    };
    runtime.active = true;
    runtime.down = false;
    runtime.successes = 0;
    runtime.failures = 0;
    begin_phase(state, name, Phase::Perform);
    if shared.probe_checks {
        let token = CancellationToken::new();
        if let Some(runtime) = state.checks.get_mut(name) {
            runtime.runner = Some(token.clone());
        }
        tokio::spawn(probe_loop(Arc::clone(shared), name.to_owned(), token));
    }
}

fn deactivate(state: &mut State, name: &str) {
    let Some(runtime) = state.checks.get_mut(name) else {
        return;
    };
    runtime.active = false;
    runtime.down = false;
    if let Some(token) = runtime.runner.take() {
        token.cancel();
    }
    if let Some((_, task)) = runtime.change.take() {
        state.changes.set_undone(task);
    }
}

/// Starts the check's next change (`perform-check` or `recover-check`).
fn begin_phase(state: &mut State, name: &str, phase: Phase) {
    let Some(runtime) = state.checks.get(name) else {
        return;
    };
    let (kind, verb) = match phase {
        Phase::Perform => ("perform-check", "Perform"),
        Phase::Recover => ("recover-check", "Recover"),
    };
    let summary = format!("{verb} {} check {name:?}", runtime.kind());
    let (change, tasks) =
        state.changes.create(kind, summary.clone(), Vec::new(), vec![TaskSpec { kind, summary }]);
    state.changes.set_doing(tasks[0]);
    if let Some(runtime) = state.checks.get_mut(name) {
        runtime.change = Some((change, tasks[0]));
    }
}

/// Threshold reached: the perform change fails with `error`, recovery begins.
fn mark_down(state: &mut State, name: &str, error: String) {
    let Some(runtime) = state.checks.get_mut(name).filter(|r| r.active && !r.down) else {
        return;
    };
    runtime.down = true;
    if let Some((_, task)) = runtime.change.take() {
        state.changes.set_error(task, error, Map::new());
    }
    begin_phase(state, name, Phase::Recover);
}

/// Recovered: the recover change is done, a new perform change begins.
fn mark_up(state: &mut State, name: &str) {
    let Some(runtime) = state.checks.get_mut(name).filter(|r| r.active && r.down) else {
        return;
    };
    runtime.down = false;
    runtime.failures = 0;
    if let Some((_, task)) = runtime.change.take() {
        state.changes.set_done(task, Map::new());
    }
    begin_phase(state, name, Phase::Perform);
}

/// Following services: moves each active check to up or down after its services.
pub fn reconcile_simulated(shared: &Shared, state: &mut State) {
    if shared.probe_checks {
        return;
    }
    let names: Vec<String> = state.checks.keys().cloned().collect();
    for name in names {
        let Some(runtime) = state.checks.get(&name).filter(|r| r.active) else {
            continue;
        };
        let threshold = runtime.threshold();
        match (services_down(state, &name, &runtime.config), runtime.down) {
            (Some(service), false) => {
                if let Some(runtime) = state.checks.get_mut(&name) {
                    runtime.failures = threshold;
                }
                mark_down(state, &name, format!("service {service:?} is not active"));
            }
            (None, true) => mark_up(state, &name),
            _ => {}
        }
    }
}

/// The first service the check depends on that is not active (`None`: all active).
fn services_down(state: &State, name: &str, check: &Check) -> Option<String> {
    let services = &state.plan.combined().services;
    let context = check.exec.as_ref().and_then(|e| e.service_context.as_ref());
    let mut owners: Vec<&String> = match context {
        Some(context) => vec![context],
        None => {
            services.iter().filter(|(_, s)| s.on_check_failure.contains_key(name)).map(|(n, _)| n).collect()
        }
    };
    if owners.is_empty() {
        owners = services.keys().collect();
    }
    if owners.is_empty() {
        return Some("(none)".to_owned());
    }
    owners
        .into_iter()
        .find(|owner| state.services.get(*owner).is_none_or(|r| r.current != ServiceStatus::Active))
        .cloned()
}

/// Current status of a check.
pub fn status(state: &State, name: &str) -> Option<CheckStatus> {
    state.checks.get(name).map(CheckRuntime::status)
}

/// The check as listed by `GET /v1/checks`.
pub fn to_json(state: &State, name: &str) -> Option<Value> {
    let runtime = state.checks.get(name)?;
    let mut check = Map::new();
    check.insert("name".into(), json!(name));
    if let Some(level) = runtime.config.level.as_deref().filter(|l| !l.is_empty()) {
        check.insert("level".into(), json!(level));
    }
    let startup = if runtime.config.startup_disabled() { "disabled" } else { "enabled" };
    check.insert("startup".into(), json!(startup));
    check.insert("status".into(), json!(runtime.status().as_str()));
    check.insert("successes".into(), json!(runtime.successes));
    if runtime.failures > 0 {
        check.insert("failures".into(), json!(runtime.failures));
    }
    check.insert("threshold".into(), json!(runtime.threshold()));
    if let Some((change, _)) = runtime.change {
        check.insert("change-id".into(), json!(change.to_string()));
    }
    Some(Value::Object(check))
}

/// Names of checks, optionally of one level.
pub fn names(state: &State, level: Option<&str>) -> Vec<String> {
    state
        .checks
        .iter()
        .filter(|(_, r)| level.is_none_or(|l| r.config.level.as_deref() == Some(l)))
        .map(|(n, _)| n.clone())
        .collect()
}

/// `POST /v1/checks/refresh`: probes now (or re-evaluates the services when following them);
/// returns `(info, error)`.
pub async fn refresh(shared: &Arc<Shared>, name: &str) -> Option<(Value, Option<String>)> {
    let config = shared.lock().checks.get(name)?.config.clone();
    let error = if shared.probe_checks {
        let outcome = probe::run(shared, &config).await;
        record(shared, name, &outcome);
        outcome.err()
    } else {
        let mut state = shared.lock();
        reconcile_simulated(shared, &mut state);
        services_down(&state, name, &config).map(|s| format!("service {s:?} is not active"))
    };
    shared.changes_updated();
    let state = shared.lock();
    to_json(&state, name).map(|info| (info, error))
}

/// Stops every probe loop (shutdown or container restart).
pub fn stop_all(state: &mut State) {
    for runtime in state.checks.values_mut() {
        if let Some(token) = runtime.runner.take() {
            token.cancel();
        }
    }
}

async fn probe_loop(shared: Arc<Shared>, name: String, token: CancellationToken) {
    let Some(config) = shared.lock().checks.get(&name).map(|r| r.config.clone()) else {
        return;
    };
    let period = config.period.map_or(DEFAULT_PERIOD, |d| d.0);
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            () = sleep(period) => {}
        }
        let outcome = probe::run(&shared, &config).await;
        if token.is_cancelled() {
            return;
        }
        record(&shared, &name, &outcome);
        shared.changes_updated();
    }
}

/// Counts a probe outcome; on the transition to down, restarts services that asked for it.
fn record(shared: &Arc<Shared>, name: &str, outcome: &Result<(), String>) {
    let mut state = shared.lock();
    let Some(runtime) = state.checks.get_mut(name).filter(|r| r.active) else {
        return;
    };
    let error = match outcome {
        Ok(()) => {
            runtime.successes += 1;
            runtime.failures = 0;
            mark_up(&mut state, name);
            return;
        }
        Err(error) => error.clone(),
    };
    runtime.failures += 1;
    if runtime.failures < runtime.threshold() || runtime.down {
        return;
    }
    mark_down(&mut state, name, error);
    let restarts: Vec<String> = state
        .plan
        .combined()
        .services
        .iter()
        .filter(|(_, s)| s.on_check_failure.get(name).map(String::as_str) == Some(ACTION_RESTART))
        .map(|(n, _)| n.clone())
        .collect();
    drop(state);
    for service in restarts {
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            crate::services::stop(&shared, &service).await?;
            crate::services::start(&shared, &service).await
        });
    }
}
