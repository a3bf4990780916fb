//! [`PebbleSim`]: starts the server on its own thread and runtime, stops it, and lets tests
//! inspect and steer the simulated container.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::{ExecRule, SimConfig};
use crate::error::SimError;
use crate::exec::ExecRecord;
use crate::files::fsops::{FileMeta, Fs};
use crate::files::owners::UserDb;
use crate::server::{self, Command};
use crate::services::ServiceStatus;
use crate::state::{new_boot_id, RequestRecord, Shared};

/// How long a handle call waits for the server thread to act.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A running simulated Pebble; dropping it stops the server and every process it spawned.
pub struct PebbleSim {
    shared: Arc<Shared>,
    socket: PathBuf,
    commands: mpsc::UnboundedSender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl PebbleSim {
    /// Binds the socket and serves on a background thread with its own tokio runtime.
    pub fn start(config: SimConfig) -> Result<PebbleSim, SimError> {
        if !config.root.is_dir() {
            return Err(SimError::RootNotADirectory { path: config.root.clone() });
        }
        let shared = Shared::new(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pebble-sim-worker")
            .enable_all()
            .build()
            .map_err(SimError::Runtime)?;
        let (commands, receiver) = mpsc::unbounded_channel();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let socket = config.socket.clone();
        let server_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("pebble-sim".to_owned())
            .spawn(move || {
                let listener = match runtime.block_on(async { server::bind(&socket) }) {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = bound_tx.send(Err(e));
                        return;
                    }
                };
                let _ = bound_tx.send(Ok(()));
                runtime.block_on(server::serve(server_shared, socket, listener, receiver));
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .map_err(SimError::Runtime)?;
        match bound_rx.recv() {
            Ok(Ok(())) => Ok(PebbleSim { shared, socket: config.socket, commands, thread: Some(thread) }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(SimError::Stopped)
            }
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The container filesystem root.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Stops serving, kills spawned processes and removes the socket.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            // A closed channel means the server already ended.
            let _ = self.commands.send(Command::Shutdown);
            let _ = thread.join();
        }
    }

    /// Requests answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    /// How many times the service was started (restarts and automatic restarts included).
    pub fn service_starts(&self, name: &str) -> u32 {
        self.shared.lock().services.get(name).map_or(0, |r| r.starts)
    }

    /// How many times the service was stopped (restarts included).
    pub fn service_stops(&self, name: &str) -> u32 {
        self.shared.lock().services.get(name).map_or(0, |r| r.stops)
    }

    /// Current status of a service in the plan (`None` when the plan has no such service).
    pub fn service_state(&self, name: &str) -> Option<ServiceStatus> {
        let state = self.shared.lock();
        state.plan.combined().services.get(name)?;
        Some(state.services.get(name).map(|r| r.current).unwrap_or_default())
    }

    /// The container paths of the files written through the files API (pushes) that were
    /// not removed through it since, sorted.
    pub fn written_files(&self) -> Vec<String> {
        self.shared.lock().owners.written().map(str::to_owned).collect()
    }

    /// Mode and owner of a container path, owners as requested by pushes/make-dirs.
    pub fn file_meta(&self, container_path: &str) -> Option<FileMeta> {
        let db = UserDb::load(&self.shared.root);
        let mut state = self.shared.lock();
        let fs = Fs { root: &self.shared.root, db: &db, index: &mut state.owners };
        fs.meta(container_path)
    }

    /// Makes the socket refuse connections (`false`: socket removed, open connections
    /// dropped) or serve again (`true`). State is kept; see [`Self::restart_container`].
    pub fn set_available(&self, up: bool) -> Result<(), SimError> {
        let (reply_tx, reply_rx) = std::sync::mpsc::channel();
        self.commands.send(Command::SetAvailable(up, reply_tx)).map_err(|_| SimError::Stopped)?;
        reply_rx.recv_timeout(COMMAND_TIMEOUT).map_err(|_| SimError::Stopped)?
    }

    /// Simulates a fresh Pebble after a container restart: processes killed, plan, services,
    /// checks, changes and notices cleared, new boot id, and `/tmp` empty (a new container's
    /// is the image's). Other files (the storage, what the tests put in the image) and
    /// recorded owners stay.
    pub fn restart_container(&self) {
        reset_runtime_state(&self.shared, true);
        empty_dir(&self.shared.root.join("tmp"));
        self.shared.lock().owners.forget_tree("/tmp");
    }

    /// Makes Pebble drop the connection of request number `request` from now (1-based) once it
    /// handled it, without answering: Pebble going away mid-request. Whatever the request
    /// did is done.
    pub fn drop_connection_at_request(&self, request: u64) {
        self.shared.lock().drop_at_request = (request > 0).then_some(request);
    }

    /// Makes exec number `exec` from now (1-based) time out at once, as Pebble fails an exec
    /// whose timeout expired (`timed out after …: context deadline exceeded`), without
    /// running it.
    pub fn time_out_exec(&self, exec: u64) {
        self.shared.lock().exec_timeout_at = (exec > 0).then_some(exec);
    }

    /// Whether an injected fault (a connection drop, an exec timeout) has not happened yet.
    pub fn fault_pending(&self) -> bool {
        let state = self.shared.lock();
        state.drop_at_request.is_some() || state.exec_timeout_at.is_some()
    }

    /// Whether an injected connection drop has not happened yet.
    pub fn connection_drop_pending(&self) -> bool {
        self.shared.lock().drop_at_request.is_some()
    }

    /// Adds a scripted answer for exec commands (see [`ExecRule`]).
    pub fn script_exec(&self, rule: ExecRule) {
        self.shared.lock().exec_rules.push(rule);
    }

    /// Exec requests received so far, oldest first.
    pub fn exec_log(&self) -> Vec<ExecRecord> {
        self.shared.lock().exec_log.clone()
    }

    /// Simulated mode: makes services whose command's `argv[0]` is `command` fail to start
    /// ("exited quickly") or start normally again.
    pub fn set_start_failure(&self, command: &str, fail: bool) {
        let mut state = self.shared.lock();
        if fail {
            state.failing_commands.insert(command.to_owned());
        } else {
            state.failing_commands.remove(command);
        }
    }
}

impl std::fmt::Debug for PebbleSim {
    // The state holds service environments and exec input, which may be secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PebbleSim")
            .field("socket", &self.socket)
            .field("root", &self.shared.root)
            .finish_non_exhaustive()
    }
}

impl Drop for PebbleSim {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Kills every process and stops check probes; with `fresh_pebble` also forgets everything
/// a restarted Pebble would not know.
/// Removes what `dir` holds, when it exists; a failure would make the restart unfaithful.
fn empty_dir(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.expect("a restarted container's /tmp can be listed").path();
        let removed = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed
            .unwrap_or_else(|error| panic!("cannot empty {} for the new container: {error}", path.display()));
    }
}

pub(crate) fn reset_runtime_state(shared: &Shared, fresh_pebble: bool) {
    {
        let mut state = shared.lock();
        crate::services::kill_all(&mut state);
        crate::checks::stop_all(&mut state);
        if fresh_pebble {
            state.boot_id = new_boot_id();
            state.plan = Default::default();
            state.services.clear();
            state.checks.clear();
            state.changes = Default::default();
            state.notices = Default::default();
            state.exec_sessions.clear();
            state.log_forwarding = Default::default();
        }
    }
    shared.update_changes(|_| ());
    shared.notices_changed();
}
