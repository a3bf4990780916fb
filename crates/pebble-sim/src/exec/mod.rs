//! `POST /v1/exec`: validates the request, resolves the command (scripted rule, host
//! executable, or "cannot find executable"), creates the exec change and starts the session
//! that waits for the websockets and runs the command.

mod run;
pub mod session;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::changes::TaskSpec;
use crate::config::{ExecMode, ExecRule};
use crate::files::owners::{Owner, OwnerRequest, UserDb};
use crate::files::paths::{clean_absolute, host_path};
use crate::plan::schema::Service;
use crate::response::ApiError;
use crate::state::Shared;

/// An exec request as the simulator received it (for test assertions).
#[derive(Clone, PartialEq, Eq)]
pub struct ExecRecord {
    pub argv: Vec<String>,
    /// The environment Pebble reports: service context, then request, then Pebble's defaults
    /// (`PATH`, the user's `HOME` and `USER`, `LANG`).
    pub environment: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    pub user_id: Option<u32>,
    pub group_id: Option<u32>,
    /// Bytes received on stdin (complete once the exec change is ready).
    pub stdin: Vec<u8>,
}

impl std::fmt::Debug for ExecRecord {
    // Environment values and stdin may carry secrets: show keys and sizes only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecRecord")
            .field("argv", &self.argv)
            .field("environment_keys", &self.environment.keys().collect::<Vec<_>>())
            .field("working_dir", &self.working_dir)
            .field("user_id", &self.user_id)
            .field("group_id", &self.group_id)
            .field("stdin_len", &self.stdin.len())
            .finish()
    }
}

/// The JSON body of `POST /v1/exec`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ExecRequest {
    command: Vec<String>,
    service_context: Option<String>,
    environment: Option<BTreeMap<String, String>>,
    working_dir: Option<String>,
    timeout: Option<String>,
    user_id: Option<u32>,
    user: Option<String>,
    group_id: Option<u32>,
    group: Option<String>,
    terminal: bool,
    split_stderr: bool,
}

/// How the command will run.
#[derive(Debug)]
enum Program {
    Scripted(ExecRule),
    Host(PathBuf),
}

/// Everything the session needs to run the command.
#[derive(Debug)]
struct Prepared {
    program: Program,
    /// An injected fault: the exec times out at once, without running.
    times_out: bool,
    argv: Vec<String>,
    environment: BTreeMap<String, String>,
    /// Whether `PATH` came from the request or service context (else the host's is kept for
    /// host processes).
    path_requested: bool,
    working_dir: String,
    owner: Option<Owner>,
    timeout: Option<Duration>,
    split_stderr: bool,
    record_index: usize,
}

/// `PATH` when neither the request nor the service context sets one (Pebble's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The user Pebble runs as in a workload container, whose `HOME` an exec gets by default.
const DAEMON_UID: u32 = 0;

/// Validates the request and starts the exec; returns the change id and the result object.
///
/// Errors come in Pebble's order and words: request problems and an unknown executable are
/// 400, as are an unknown service context and bad user/group; a missing working directory
/// (or missing home directory, the default working directory) is 500 `cannot call exec: ...`.
pub fn begin(shared: &Arc<Shared>, request: ExecRequest) -> Result<(u64, Value), ApiError> {
    let argv0 =
        request.command.first().cloned().ok_or_else(|| ApiError::bad_request("must specify command"))?;
    if request.terminal {
        return Err(ApiError::bad_request("terminal mode is not supported by pebble-sim"));
    }
    let timeout = request
        .timeout
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(crate::duration::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("invalid timeout: {e}")))?;
    let db = UserDb::load(&shared.root);
    let mut state = shared.lock();
    let times_out = match state.exec_timeout_at {
        Some(1) => {
            state.exec_timeout_at = None;
            true
        }
        Some(later) => {
            state.exec_timeout_at = Some(later - 1);
            false
        }
        None => false,
    };
    let context = request.service_context.as_deref().filter(|name| !name.is_empty()).map(|name| {
        state
            .plan
            .combined()
            .services
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::bad_request(format!("context service {name:?} not found")))
    });
    let mut environment =
        context.as_ref().and_then(|c| c.as_ref().ok()).map(|s| s.environment.clone()).unwrap_or_default();
    environment.extend(request.environment.clone().unwrap_or_default());
    let program = program(shared, &state.exec_rules, &request.command, &environment)?;
    let context = context.transpose()?;
    let owner_request = owner_request(&request, context.as_ref());
    let owner = db.resolve(owner_request).map_err(ApiError::bad_request)?;
    let requested_dir = request
        .working_dir
        .clone()
        .filter(|dir| !dir.is_empty())
        .or_else(|| context.as_ref().and_then(|s| s.working_dir.clone()).filter(|dir| !dir.is_empty()));
    let uid = owner.as_ref().map_or(DAEMON_UID, |o| o.uid);
    complete_environment(&mut environment, &UserDb::load_container(&shared.root), uid);
    let working_dir = working_dir(&shared.root, requested_dir, &environment)
        .map_err(|e| ApiError::internal(format!("cannot call exec: {e}")))?;
    state.exec_log.push(ExecRecord {
        argv: request.command.clone(),
        environment: environment.clone(),
        working_dir: Some(working_dir.clone()),
        user_id: owner.as_ref().map(|o| o.uid),
        group_id: owner.as_ref().map(|o| o.gid),
        stdin: Vec::new(),
    });
    let record_index = state.exec_log.len() - 1;
    let summary = format!("Execute command {argv0:?}");
    let task = TaskSpec { kind: "exec", summary: format!("exec command {argv0:?}") };
    let (change_id, task_ids) = state.changes.create("exec", summary, Vec::new(), vec![task]);
    let task_id = task_ids[0];
    let (slots, sockets) = session::Slots::new(request.split_stderr);
    state.exec_sessions.insert(task_id, slots);
    let abort = state.changes.get(change_id).map(|c| c.abort.clone()).unwrap_or_default();
    drop(state);
    shared.changes_updated();
    let result = json!({
        "task-id": task_id.to_string(),
        "environment": environment,
        "working-dir": working_dir,
    });
    let prepared = Prepared {
        program,
        times_out,
        argv: request.command,
        environment,
        path_requested: request.environment.as_ref().is_some_and(|env| env.contains_key("PATH"))
            || context.as_ref().is_some_and(|s| s.environment.contains_key("PATH")),
        working_dir,
        owner,
        timeout,
        split_stderr: request.split_stderr,
        record_index,
    };
    tokio::spawn(run::session(Arc::clone(shared), task_id, prepared, sockets, abort));
    Ok((change_id, result))
}

/// Pebble's additions to an exec's environment: a default `PATH`, the target user's `HOME`
/// and `USER` (when the container knows the user and they are not set), `LANG=C.UTF-8`.
fn complete_environment(environment: &mut BTreeMap<String, String>, container: &UserDb, uid: u32) {
    environment.entry("PATH".to_owned()).or_insert_with(|| DEFAULT_PATH.to_owned());
    let unset = |environment: &BTreeMap<String, String>, name: &str| {
        environment.get(name).is_none_or(String::is_empty)
    };
    if unset(environment, "HOME") || unset(environment, "USER") {
        if let Some((name, home)) = container.account(uid) {
            if unset(environment, "HOME") {
                environment.insert("HOME".to_owned(), home);
            }
            if unset(environment, "USER") {
                environment.insert("USER".to_owned(), name);
            }
        }
    }
    environment.entry("LANG".to_owned()).or_insert_with(|| "C.UTF-8".to_owned());
}

/// The working directory (the requested one, else `$HOME`, else `/`), which must exist.
fn working_dir(
    root: &Path,
    requested: Option<String>,
    environment: &BTreeMap<String, String>,
) -> Result<String, String> {
    let exists = |dir: &str| {
        let absolute = if dir.starts_with('/') { dir.to_owned() } else { format!("/{dir}") };
        clean_absolute(&absolute).is_some_and(|clean| host_path(root, &clean).is_dir())
    };
    match requested {
        Some(dir) if exists(&dir) => Ok(dir),
        Some(dir) => Err(format!("working directory {dir:?} does not exist")),
        None => match environment.get("HOME").filter(|home| !home.is_empty()) {
            Some(home) if exists(home) => Ok(home.clone()),
            Some(home) => Err(format!("home directory {home:?} does not exist")),
            None => Ok("/".to_owned()),
        },
    }
}

/// The owner fields of the request, else those of the service context.
fn owner_request<'a>(request: &'a ExecRequest, context: Option<&'a Service>) -> OwnerRequest<'a> {
    let own = request.user_id.is_some()
        || request.user.is_some()
        || request.group_id.is_some()
        || request.group.is_some();
    match context {
        Some(service) if !own => OwnerRequest {
            user_id: service.user_id,
            user: service.user.as_deref(),
            group_id: service.group_id,
            group: service.group.as_deref(),
        },
        _ => OwnerRequest {
            user_id: request.user_id,
            user: request.user.as_deref(),
            group_id: request.group_id,
            group: request.group.as_deref(),
        },
    }
}

/// The best scripted rule (longest prefix, latest added), else the host executable in Host
/// mode, else Pebble's "cannot find executable".
fn program(
    shared: &Shared,
    rules: &[ExecRule],
    argv: &[String],
    environment: &BTreeMap<String, String>,
) -> Result<Program, ApiError> {
    let rule = rules
        .iter()
        .filter(|rule| rule.matches(argv, &shared.root))
        .max_by_key(|rule| rule.argv_prefix.len());
    // `max_by_key` keeps the last of equal maxima, so insertion order makes the latest win.
    if let Some(rule) = rule {
        return Ok(Program::Scripted(rule.clone()));
    }
    let argv0 = argv.first().map(String::as_str).unwrap_or_default();
    let not_found = || ApiError::bad_request(format!("cannot find executable {argv0:?}"));
    if shared.exec_mode != ExecMode::Host {
        return Err(not_found());
    }
    let path = environment.get("PATH").cloned().or_else(|| std::env::var("PATH").ok());
    find_executable(shared.map_command(argv0), path.as_deref().unwrap_or(""))
        .map(Program::Host)
        .ok_or_else(not_found)
}

/// Resolves a program like Pebble does up front: a path must be an executable file, a bare
/// name is searched in `PATH`.
fn find_executable(program: &Path, path_var: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 || program.is_absolute() {
        return executable(program).then(|| program.to_path_buf());
    }
    path_var
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| executable(candidate))
}
