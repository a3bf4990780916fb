//! The hook context: what one running hook's tools share (model snapshot, buffered changes,
//! new log lines, action outcome, call records), and the locked JSON file that carries it
//! between the driver and `juju-sim-tool` processes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Change, LogRecord, Model};

/// The environment variable holding the context id (as in Juju).
pub const CONTEXT_ID_ENV: &str = "JUJU_CONTEXT_ID";
/// The environment variable holding the context file path. Juju puts the jujuc socket address
/// here; the simulator puts the path of the context file the tools lock and update.
pub const CONTEXT_PATH_ENV: &str = "JUJU_AGENT_SOCKET_ADDRESS";

/// Everything hook tools need to answer and record calls for one hook or action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookContext {
    pub id: String,
    pub unit: String,
    pub hook: HookInfo,
    /// The committed model as it was when the hook started, plus immediate effects (status,
    /// workload version, leader settings, secret consumer tracking).
    pub model: Model,
    /// Transactional changes, committed only if the hook exits 0.
    #[serde(default)]
    pub pending: Vec<Change>,
    /// `juju-log` lines written during this hook.
    #[serde(default)]
    pub logs: Vec<LogRecord>,
    /// Every tool call, in order.
    #[serde(default)]
    pub calls: Vec<ToolCall>,
    /// A fault to inject at one of this hook's tool calls.
    #[serde(default)]
    pub fault: Option<ToolFault>,
}

/// A fault at the hook's tool call number `call` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolFault {
    pub call: usize,
    pub kind: ToolFaultKind,
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToolFaultKind {
    /// The call fails as Juju's tools do when the agent's API connection drops:
    /// `ERROR connection is shut down`, exit code 1, nothing done.
    Fail,
    /// The call succeeds, then the hook process is killed with SIGKILL (a pod evicted, say).
    KillHook,
}

/// What a tool prints when the fault makes it fail.
pub const TRANSIENT_ERROR: &str = "ERROR connection is shut down\n";

impl HookContext {
    /// The model as this unit sees it including its own pending changes.
    pub fn effective_model(&self) -> Model {
        let mut model = self.model.clone();
        for change in &self.pending {
            change.apply(&mut model, &self.unit);
        }
        model
    }

    pub fn is_leader(&self) -> bool {
        self.model.is_leader(&self.unit)
    }

    pub fn app(&self) -> &str {
        crate::model::app_of(&self.unit)
    }

    /// The fault due at the call about to be made, if any.
    pub fn fault_now(&self) -> Option<ToolFaultKind> {
        self.fault.filter(|fault| fault.call == self.calls.len() + 1).map(|fault| fault.kind)
    }
}

/// What is running: a hook (with its relation, storage or workload) or an action.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HookInfo {
    /// The hook name, empty for actions.
    pub name: String,
    pub relation: Option<HookRelation>,
    /// The storage id of a storage hook (`data/0`).
    pub storage: Option<String>,
    pub action: Option<ActionRun>,
}

/// The relation a relation hook is about, from the running unit's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRelation {
    pub id: u32,
    pub endpoint: String,
    pub remote_app: String,
    pub remote_unit: Option<String>,
    pub departing_unit: Option<String>,
    /// Set in relation-broken: the relation is excluded from `relation-ids`.
    pub broken: bool,
}

/// The running action: its parameters and what the tools recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRun {
    pub id: u64,
    pub name: String,
    pub params: serde_json::Map<String, Value>,
    #[serde(default)]
    pub results: serde_json::Map<String, Value>,
    #[serde(default)]
    pub failed: bool,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub logs: Vec<String>,
}

/// One recorded hook-tool invocation. Secret values in arguments and `secret-get` output are
/// replaced by `<redacted>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub tool: String,
    pub args: Vec<String>,
    pub stdin: Option<String>,
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
    pub duration_us: u64,
}

/// Why the context file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot {action} hook context {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    #[error("hook context {path} is corrupt: {source}")]
    Corrupt { path: PathBuf, source: serde_json::Error },
}

/// A hook context stored as JSON at a path, guarded by an exclusive lock on `<path>.lock`
/// and replaced atomically (write to a temporary file, then rename).
#[derive(Debug)]
pub struct ContextFile {
    path: PathBuf,
}

impl ContextFile {
    /// Writes a new context file.
    pub fn create(path: &Path, context: &HookContext) -> Result<Self, ContextError> {
        let file = ContextFile { path: path.to_owned() };
        let _lock = file.lock()?;
        file.write(context)?;
        Ok(file)
    }

    /// Refers to an existing context file (as a tool process does).
    pub fn open(path: &Path) -> Self {
        ContextFile { path: path.to_owned() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Locks, reads, lets `update` change the context, and writes it back.
    pub fn update<R>(&self, update: impl FnOnce(&mut HookContext) -> R) -> Result<R, ContextError> {
        let _lock = self.lock()?;
        let mut context = self.read_unlocked()?;
        let result = update(&mut context);
        self.write(&context)?;
        Ok(result)
    }

    /// Reads the context under the lock.
    pub fn read(&self) -> Result<HookContext, ContextError> {
        let _lock = self.lock()?;
        self.read_unlocked()
    }

    /// Deletes the context and its lock file; tools called afterwards fail.
    pub fn remove(self) -> Result<(), ContextError> {
        let lock = self.lock()?;
        fs::remove_file(&self.path).map_err(|source| self.io("remove", source))?;
        drop(lock);
        // The lock file may be re-created by a racing tool; that tool then finds no context.
        let _ = fs::remove_file(self.lock_path());
        Ok(())
    }

    fn read_unlocked(&self) -> Result<HookContext, ContextError> {
        let bytes = fs::read(&self.path).map_err(|source| self.io("read", source))?;
        serde_json::from_slice(&bytes)
            .map_err(|source| ContextError::Corrupt { path: self.path.clone(), source })
    }

    fn write(&self, context: &HookContext) -> Result<(), ContextError> {
        let bytes = serde_json::to_vec(context)
            .map_err(|source| ContextError::Corrupt { path: self.path.clone(), source })?;
        let temporary = self.path.with_extension(format!("tmp-{}", std::process::id()));
        let mut file = File::create(&temporary).map_err(|source| self.io("write", source))?;
        file.write_all(&bytes).map_err(|source| self.io("write", source))?;
        fs::rename(&temporary, &self.path).map_err(|source| self.io("replace", source))
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    fn lock(&self) -> Result<FileLock, ContextError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_path())
            .map_err(|source| self.io("lock", source))?;
        loop {
            // SAFETY: flock on a file descriptor we own; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(FileLock { _file: file });
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(self.io("lock", error));
            }
        }
    }

    fn io(&self, action: &'static str, source: io::Error) -> ContextError {
        ContextError::Io { action, path: self.path.clone(), source }
    }
}

/// Holds an exclusive `flock`; closing the file releases it.
struct FileLock {
    _file: File,
}
