//! The simulator's shared state: one mutex over everything the API reads and writes, plus
//! version counters that wake long-polls (change waits, notice waits).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::changes::Changes;
use crate::checks::CheckRuntime;
use crate::config::{CheckMode, ExecMode, ExecRule, ServiceMode, SimConfig};
use crate::exec::session::Sessions;
use crate::files::owners::OwnerIndex;
use crate::notices::Notices;
use crate::plan::Plan;
use crate::services::ServiceRuntime;

/// One request as the simulator answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// Path and query, e.g. `/v1/plan?format=yaml`.
    pub path: String,
    pub status: u16,
}

/// A line of service output (Process mode).
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub time: time::OffsetDateTime,
    pub service: String,
    pub message: String,
}

const MAX_LOG_ENTRIES: usize = 1000;

/// Everything behind the lock (no `Debug`: it holds service environments and exec input).
#[derive(Default)]
pub struct State {
    pub boot_id: String,
    pub requests: Vec<RequestRecord>,
    /// An injected fault: the connection of the request this many requests from now is
    /// dropped once the request was handled, without its response.
    pub drop_at_request: Option<u64>,
    /// An injected fault: the exec this many execs from now times out at once.
    pub exec_timeout_at: Option<u64>,
    pub plan: Plan,
    pub services: BTreeMap<String, ServiceRuntime>,
    pub changes: Changes,
    pub checks: BTreeMap<String, CheckRuntime>,
    pub notices: Notices,
    pub owners: OwnerIndex,
    pub exec_rules: Vec<ExecRule>,
    pub exec_log: Vec<crate::exec::ExecRecord>,
    pub exec_sessions: Sessions,
    pub failing_commands: BTreeSet<String>,
    pub logs: VecDeque<LogEntry>,
    pub log_forwarding: crate::logs::LogForwarding,
    /// Process groups of every host process we spawned (killed on stop).
    pub process_groups: HashMap<u32, String>,
}

impl State {
    /// Turns the changes' events into `change-update` notices; true if there were any.
    pub fn record_change_notices(&mut self) -> bool {
        let events = self.changes.take_events();
        for (change_id, kind) in &events {
            self.notices.change_updated(*change_id, kind);
        }
        !events.is_empty()
    }

    pub fn push_log(&mut self, service: &str, message: String) {
        if self.logs.len() == MAX_LOG_ENTRIES {
            self.logs.pop_front();
        }
        self.logs.push_back(LogEntry {
            time: time::OffsetDateTime::now_utc(),
            service: service.to_owned(),
            message,
        });
    }
}

/// Shared by the server tasks and the [`crate::PebbleSim`] handle.
pub struct Shared {
    pub root: PathBuf,
    pub services_mode: ServiceMode,
    pub exec_mode: ExecMode,
    pub command_map: BTreeMap<String, PathBuf>,
    /// Whether checks are probed for real (else they follow their services).
    pub probe_checks: bool,
    state: Mutex<State>,
    changes_version: watch::Sender<u64>,
    notices_version: watch::Sender<u64>,
}

impl Shared {
    pub fn new(config: &SimConfig) -> Arc<Self> {
        let failing_commands = match &config.services {
            ServiceMode::Simulated { failing_commands } => failing_commands.iter().cloned().collect(),
            ServiceMode::Process => BTreeSet::new(),
        };
        let state = State { boot_id: new_boot_id(), failing_commands, ..State::default() };
        Arc::new(Self {
            root: config.root.clone(),
            services_mode: config.services.clone(),
            exec_mode: config.exec,
            command_map: config.command_map.clone(),
            probe_checks: match config.checks {
                CheckMode::Auto => config.services == ServiceMode::Process,
                CheckMode::Probe => true,
                CheckMode::FollowServices => false,
            },
            state: Mutex::new(state),
            changes_version: watch::Sender::new(0),
            notices_version: watch::Sender::new(0),
        })
    }

    /// Locks the state (a panic elsewhere never makes it unusable).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `update` on the changes and wakes change waiters.
    pub fn update_changes<T>(&self, update: impl FnOnce(&mut Changes) -> T) -> T {
        let outcome = update(&mut self.lock().changes);
        self.changes_updated();
        outcome
    }

    /// Wakes change waiters after changes were updated under the lock (and notice waiters
    /// when that recorded `change-update` notices).
    pub fn changes_updated(&self) {
        let noticed = self.lock().record_change_notices();
        self.changes_version.send_modify(|v| *v += 1);
        if noticed {
            self.notices_changed();
        }
    }

    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changes_version.subscribe()
    }

    pub fn notices_changed(&self) {
        self.notices_version.send_modify(|v| *v += 1);
    }

    pub fn watch_notices(&self) -> watch::Receiver<u64> {
        self.notices_version.subscribe()
    }

    pub fn is_process_mode(&self) -> bool {
        self.services_mode == ServiceMode::Process
    }

    /// Host path of `argv[0]` after the command map.
    pub fn map_command<'a>(&'a self, argv0: &'a str) -> &'a Path {
        self.command_map.get(argv0).map_or(Path::new(argv0), PathBuf::as_path)
    }
}

/// A random UUID (v4) text, Pebble's `boot-id`.
pub fn new_boot_id() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
