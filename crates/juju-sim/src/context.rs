//! The hook context: what one running hook's tools share (model snapshot, buffered changes,
//! new log lines, action outcome, call records). The agent ([`crate::agent`]) holds it while
//! the hook runs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Change, LogRecord, Model};

/// The environment variable holding the context id (as in Juju).
pub const CONTEXT_ID_ENV: &str = "JUJU_CONTEXT_ID";
/// The environment variable holding the agent's socket (as in Juju).
pub const AGENT_SOCKET_ENV: &str = "JUJU_AGENT_SOCKET_ADDRESS";

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
