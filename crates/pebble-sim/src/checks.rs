//! Health checks. Process mode probes http/tcp/exec checks for real every `period` (with
//! `timeout` and `threshold`); Simulated mode derives the status from the services the check
//! belongs to (its exec `service-context`, services naming it in `on-check-failure`, else all
//! services of the plan), so stopping a service turns its checks `down` at once.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;

use crate::files::paths::{clean_absolute, host_path};
use crate::plan::schema::{Check, ServiceAction, Startup};
use crate::services::ServiceStatus;
use crate::state::{Shared, State};

const DEFAULT_PERIOD: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_THRESHOLD: u32 = 3;

/// A check's counters and whether it runs.
#[derive(Debug)]
pub struct CheckRuntime {
    config: Check,
    active: bool,
    successes: u32,
    failures: u32,
    /// Process mode: the probe loop.
    runner: Option<CancellationToken>,
}

impl CheckRuntime {
    fn threshold(&self) -> u32 {
        self.config.threshold.unwrap_or(DEFAULT_THRESHOLD)
    }
}

/// Checks' status text.
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

/// Brings runtimes in line with the plan: new or changed checks start afresh (when
/// `startup` is not disabled); Process mode (re)starts their probe loops.
pub fn sync(shared: &Arc<Shared>) {
    let mut state = shared.lock();
    let checks = state.plan.combined().checks.clone();
    for (name, config) in checks {
        if state.checks.get(&name).is_some_and(|r| r.config == config) {
            continue;
        }
        if let Some(old) = state.checks.get(&name).and_then(|r| r.runner.as_ref()) {
            old.cancel();
        }
        let active = config.startup != Some(Startup::Disabled);
        let runtime = CheckRuntime {
            config,
            active,
            successes: 0,
            failures: 0,
            runner: None,
        };
        state.checks.insert(name.clone(), runtime);
        if active {
            start_runner(shared, &mut state, &name);
        }
    }
}

fn start_runner(shared: &Arc<Shared>, state: &mut State, name: &str) {
    if !shared.is_process_mode() {
        return;
    }
    if let Some(runtime) = state.checks.get_mut(name) {
        let token = CancellationToken::new();
        runtime.runner = Some(token.clone());
        tokio::spawn(probe_loop(Arc::clone(shared), name.to_owned(), token));
    }
}

/// `POST /v1/checks` start/stop; returns the names whose state changed.
pub fn set_active(
    shared: &Arc<Shared>,
    names: &[String],
    active: bool,
) -> Result<Vec<String>, String> {
    let mut state = shared.lock();
    if let Some(unknown) = names.iter().find(|n| !state.checks.contains_key(*n)) {
        return Err(format!("check {unknown:?} does not exist"));
    }
    let mut changed = Vec::new();
    for name in names {
        let Some(runtime) = state.checks.get_mut(name).filter(|r| r.active != active) else {
            continue;
        };
        runtime.active = active;
        runtime.successes = 0;
        runtime.failures = 0;
        if let Some(token) = runtime.runner.take() {
            token.cancel();
        }
        changed.push(name.clone());
        if active {
            start_runner(shared, &mut state, name);
        }
    }
    Ok(changed)
}

/// Current status of a check.
pub fn status(state: &State, name: &str) -> Option<CheckStatus> {
    let runtime = state.checks.get(name)?;
    Some(if !runtime.active {
        CheckStatus::Inactive
    } else if runtime.runner.is_some() {
        if runtime.failures >= runtime.threshold() {
            CheckStatus::Down
        } else {
            CheckStatus::Up
        }
    } else if services_up(state, name, &runtime.config) {
        CheckStatus::Up
    } else {
        CheckStatus::Down
    })
}

fn services_up(state: &State, name: &str, check: &Check) -> bool {
    let services = &state.plan.combined().services;
    let mut owners: Vec<&String> = match check.exec.as_ref().and_then(|e| e.service_context.as_ref()) {
        Some(context) => vec![context],
        None => services
            .iter()
            .filter(|(_, s)| s.on_check_failure.contains_key(name))
            .map(|(n, _)| n)
            .collect(),
    };
    if owners.is_empty() {
        owners = services.keys().collect();
    }
    !owners.is_empty()
        && owners.iter().all(|owner| {
            state
                .services
                .get(*owner)
                .is_some_and(|r| r.current == ServiceStatus::Active)
        })
}

/// The check as listed by `GET /v1/checks`.
pub fn to_json(state: &State, name: &str) -> Option<Value> {
    let runtime = state.checks.get(name)?;
    let status = status(state, name)?;
    let simulated = runtime.runner.is_none();
    let failures = match status {
        CheckStatus::Down if simulated => runtime.threshold(),
        _ if simulated => 0,
        _ => runtime.failures,
    };
    let mut check = Map::new();
    check.insert("name".into(), json!(name));
    if let Some(level) = runtime.config.level.as_deref().filter(|l| !l.is_empty()) {
        check.insert("level".into(), json!(level));
    }
    let startup = match runtime.config.startup {
        Some(Startup::Disabled) => "disabled",
        _ => "enabled",
    };
    check.insert("startup".into(), json!(startup));
    check.insert("status".into(), json!(status.as_str()));
    check.insert("successes".into(), json!(runtime.successes));
    if failures > 0 {
        check.insert("failures".into(), json!(failures));
    }
    check.insert("threshold".into(), json!(runtime.threshold()));
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

/// `POST /v1/checks/refresh`: probes now (Process mode) and returns `(info, error)`.
pub async fn refresh(shared: &Arc<Shared>, name: &str) -> Option<(Value, Option<String>)> {
    let config = shared.lock().checks.get(name)?.config.clone();
    let error = if shared.is_process_mode() {
        let outcome = run_probe(shared, &config).await;
        record(shared, name, &outcome);
        outcome.err()
    } else {
        None
    };
    let state = shared.lock();
    let error = error.or_else(|| {
        (status(&state, name) == Some(CheckStatus::Down))
            .then(|| "services of the check are not active".to_owned())
    });
    to_json(&state, name).map(|info| (info, error))
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
        let outcome = run_probe(&shared, &config).await;
        if token.is_cancelled() {
            return;
        }
        record(&shared, &name, &outcome);
    }
}

async fn run_probe(shared: &Shared, config: &Check) -> Result<(), String> {
    let limit = config.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
    match timeout(limit, probe(shared, config)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!(
            "check timed out after {}",
            crate::duration::format(limit)
        )),
    }
}

/// Counts a probe outcome; on the transition to down, restarts services that asked for it.
fn record(shared: &Arc<Shared>, name: &str, outcome: &Result<(), String>) {
    let mut state = shared.lock();
    let Some(runtime) = state.checks.get_mut(name) else {
        return;
    };
    if outcome.is_ok() {
        runtime.successes += 1;
        runtime.failures = 0;
        return;
    }
    runtime.failures += 1;
    if runtime.failures != runtime.threshold() {
        return;
    }
    let restarts: Vec<String> = state
        .plan
        .combined()
        .services
        .iter()
        .filter(|(_, s)| s.on_check_failure.get(name) == Some(&ServiceAction::Restart))
        .map(|(n, _)| n.clone())
        .collect();
    drop(state);
    for service in restarts {
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            crate::services::process::stop(&shared, &service).await?;
            let config = shared.lock().plan.combined().services.get(&service).cloned();
            match config {
                Some(config) => crate::services::process::start(&shared, &service, config).await,
                None => Ok(()),
            }
        });
    }
}

async fn probe(shared: &Shared, config: &Check) -> Result<(), String> {
    if let Some(http) = &config.http {
        let url = http.url.as_deref().unwrap_or_default();
        return probe_http(url, &http.headers).await;
    }
    if let Some(tcp) = &config.tcp {
        let host = tcp.host.as_deref().unwrap_or("localhost");
        let port = tcp.port.unwrap_or_default();
        return TcpStream::connect((host, port))
            .await
            .map(drop)
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"));
    }
    if let Some(exec) = &config.exec {
        let argv = crate::command::split(exec.command.as_deref().unwrap_or_default())?;
        let working_dir = exec
            .working_dir
            .as_deref()
            .and_then(clean_absolute)
            .unwrap_or_else(|| "/".to_owned());
        let status = tokio::process::Command::new(shared.map_command(&argv[0]))
            .args(&argv[1..])
            .envs(&exec.environment)
            .current_dir(host_path(&shared.root, &working_dir))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .status()
            .await
            .map_err(|e| format!("cannot run check command: {e}"))?;
        return if status.success() {
            Ok(())
        } else {
            Err(format!("exit status {}", status.code().unwrap_or(-1)))
        };
    }
    Err("check has no http, tcp or exec".to_owned())
}

/// GET over plain HTTP/1.1; any 2xx is a success.
async fn probe_http(url: &str, headers: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("unsupported URL {url:?} (only http:// is probed)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let address = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let stream = TcpStream::connect(&address)
        .await
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = hyper::Request::get(path).header(hyper::header::HOST, authority);
    for (key, value) in headers {
        request = request.header(key, value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("non-20x status code {}", response.status().as_u16()))
    }
}

/// Stops every probe loop (shutdown or container restart).
pub fn stop_all(state: &mut State) {
    for runtime in state.checks.values_mut() {
        if let Some(token) = runtime.runner.take() {
            token.cancel();
        }
    }
}
