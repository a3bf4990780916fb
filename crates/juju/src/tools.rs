//! Typed wrappers for every hook tool a Kubernetes charm uses.
//!
//! Each method builds the exact command line (always `--format=json` where the tool has it),
//! runs it through the [`ToolRunner`], and parses the answer. Relation data is sent as JSON on
//! stdin (`--file -`), secret values through 0600 temporary files (`key#file=`), so neither ends
//! up on a command line.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::context::RelationId;
use crate::error::{HookToolError, RedactedCommand};
use crate::memo::Memo;
use crate::runner::{ProcessRunner, ToolRunner};
use crate::secrets::{
    NewSecret, RawSecretInfo, ReadMode, SecretContent, SecretInfo, SecretRef, SecretUpdate, SecretUri,
};
use crate::status::{Status, StatusTarget};

pub type Result<T> = std::result::Result<T, HookToolError>;

/// A relation databag key → value map.
pub type Databag = BTreeMap<String, String>;

/// Which bag of a relation to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bag {
    /// This unit's own bag.
    Unit,
    /// This application's bag (leader only).
    App,
}

/// Severity for `juju-log --log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

impl LogLevel {
    fn as_arg(self) -> &'static str {
        match self {
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warning => "WARNING",
            Self::Error => "ERROR",
        }
    }
}

/// A port for open-port / close-port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Port {
    Tcp(u16),
    Udp(u16),
    Icmp,
}

impl Port {
    fn as_arg(self) -> String {
        match self {
            Self::Tcp(port) => format!("{port}/tcp"),
            Self::Udp(port) => format!("{port}/udp"),
            Self::Icmp => "icmp".into(),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        if text == "icmp" {
            return Some(Self::Icmp);
        }
        let (port, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
        let port = port.parse().ok()?;
        match protocol {
            "tcp" => Some(Self::Tcp(port)),
            "udp" => Some(Self::Udp(port)),
            _ => None,
        }
    }
}

/// The addresses `network-get` reports for a binding.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct NetworkInfo {
    #[serde(rename = "bind-addresses", default)]
    pub bind_addresses: Vec<BindAddress>,
    #[serde(rename = "ingress-addresses", default)]
    pub ingress_addresses: Vec<String>,
    #[serde(rename = "egress-subnets", default)]
    pub egress_subnets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct BindAddress {
    #[serde(rename = "interface-name", default)]
    pub interface_name: String,
    #[serde(default)]
    pub addresses: Vec<InterfaceAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct InterfaceAddress {
    /// `value` on current agents, `address` on older ones.
    #[serde(alias = "address", default)]
    pub value: String,
    #[serde(default)]
    pub cidr: String,
}

/// Typed access to the hook tools of one hook invocation.
#[derive(Clone)]
pub struct HookTools {
    runner: Arc<dyn ToolRunner + Send + Sync>,
    /// The answers a hook asks for once, shared by the clones and the threads of one hook.
    memos: Arc<Memos>,
}

/// What a hook asks Juju once: a hook sees one snapshot of each (as ops does), plus its own
/// writes (a `relation-set` forgets the relation's bags).
#[derive(Debug, Default)]
struct Memos {
    config: Memo<(), serde_json::Map<String, Value>>,
    leader: Memo<(), bool>,
    goal_state: Memo<(), GoalState>,
    /// `relation-ids` answers by endpoint.
    relation_ids: Memo<String, Vec<RelationId>>,
    /// `relation-get` answers by relation, bag owner and kind.
    bags: Memo<BagKey, Databag>,
}

/// A bag as `relation-get` names it: relation, owner (unit or application), application bag.
type BagKey = (RelationId, String, bool);

impl std::fmt::Debug for HookTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookTools").field("leader", &self.memos.leader.get(&())).finish_non_exhaustive()
    }
}

impl Default for HookTools {
    fn default() -> Self {
        Self::new(ProcessRunner)
    }
}

impl HookTools {
    /// Tools run through `runner` (use [`HookTools::default`] for the real ones on `PATH`).
    pub fn new(runner: impl ToolRunner + Send + Sync + 'static) -> Self {
        Self::from_shared(Arc::new(runner))
    }

    pub fn from_shared(runner: Arc<dyn ToolRunner + Send + Sync>) -> Self {
        Self { runner, memos: Arc::default() }
    }

    /// The runner, to share with the logging layer.
    pub fn runner(&self) -> Arc<dyn ToolRunner + Send + Sync> {
        Arc::clone(&self.runner)
    }

    /// Runs `tool args...` and returns stdout; non-zero exit becomes a classified error.
    pub fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> Result<String> {
        let command = || RedactedCommand::new(tool, args);
        let output =
            self.runner.run(tool, args, stdin).map_err(|source| HookToolError::spawn(command(), source))?;
        if let Some(signal) = output.signal {
            return Err(HookToolError::Killed { command: command(), signal });
        }
        if output.code != 0 {
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            return Err(HookToolError::failed(command(), tool, output.code, stderr));
        }
        String::from_utf8(output.stdout)
            .map_err(|_| HookToolError::Output { command: command(), reason: "output is not UTF-8".into() })
    }

    fn run_json<T: DeserializeOwned>(&self, tool: &str, args: &[String]) -> Result<T> {
        let stdout = self.run(tool, args, None)?;
        serde_json::from_str(&stdout).map_err(|error| HookToolError::Output {
            command: RedactedCommand::new(tool, args),
            reason: error.to_string(),
        })
    }

    // ---- relations -------------------------------------------------------------------------

    /// `relation-ids`: the live relations of an endpoint, sorted. Asked once per endpoint and
    /// hook, and remembered (as ops does).
    pub fn relation_ids(&self, endpoint: &str) -> Result<Vec<RelationId>> {
        self.memos.relation_ids.get_or_fetch(&endpoint.to_string(), || {
            let ids: Vec<String> = self.run_json("relation-ids", &args(["--format=json", endpoint]))?;
            let mut parsed = Vec::with_capacity(ids.len());
            for id in ids {
                let relation =
                    id.parse().or_else(|_| id.parse::<u32>().map(|n| RelationId::new(endpoint, n)));
                parsed.push(relation.map_err(|_| HookToolError::Output {
                    command: RedactedCommand::new("relation-ids", &args([endpoint])),
                    reason: format!("invalid relation id {id:?}"),
                })?);
            }
            parsed.sort();
            Ok(parsed)
        })
    }

    /// `relation-list`: the remote units currently in the relation.
    pub fn relation_list(&self, relation: &RelationId) -> Result<Vec<String>> {
        self.run_json("relation-list", &args(["--format=json", "-r", &relation.to_string()]))
    }

    /// `relation-list --app`: the remote application's name (it may be an offer alias).
    pub fn relation_remote_app(&self, relation: &RelationId) -> Result<Option<String>> {
        self.run_json("relation-list", &args(["--format=json", "-r", &relation.to_string(), "--app"]))
    }

    /// `relation-get --app - <app>`: an application bag (`{}` when empty). Asked once per bag
    /// and hook until this hook writes to the relation.
    pub fn relation_get_app(&self, relation: &RelationId, app: &str) -> Result<Databag> {
        self.relation_get(relation, app, true)
    }

    /// `relation-get - <unit>`: a unit bag (`{}` when empty). Asked once per bag and hook until
    /// this hook writes to the relation.
    pub fn relation_get_unit(&self, relation: &RelationId, unit: &str) -> Result<Databag> {
        self.relation_get(relation, unit, false)
    }

    fn relation_get(&self, relation: &RelationId, target: &str, app: bool) -> Result<Databag> {
        let key = (relation.clone(), target.to_string(), app);
        self.memos.bags.get_or_fetch(&key, || {
            let mut argv = args(["--format=json", "-r", &relation.to_string()]);
            if app {
                argv.push("--app".into());
            }
            argv.extend(args(["-", target]));
            Ok(self.run_json::<Option<Databag>>("relation-get", &argv)?.unwrap_or_default())
        })
    }

    /// `relation-set --file -`: writes the given keys; an empty value deletes its key.
    /// Nothing is sent for an empty map.
    pub fn relation_set(&self, relation: &RelationId, bag: Bag, data: &Databag) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let mut argv = args(["-r", &relation.to_string()]);
        if bag == Bag::App {
            argv.push("--app".into());
        }
        argv.extend(args(["--file", "-"]));
        let body = serde_json::to_vec(data).expect("a string map always serialises");
        // Whatever happens, this relation's bags are read afresh from now on.
        self.memos.bags.forget(|(id, _, _)| id == relation);
        self.run("relation-set", &argv, Some(&body)).map(drop)
    }

    // ---- config, leadership, status ----------------------------------------------------------

    /// `config-get`: every option that has a value or a default. Asked once per hook.
    pub fn config_get(&self) -> Result<serde_json::Map<String, Value>> {
        self.memos.config.get_or_fetch(&(), || {
            let config: Option<serde_json::Map<String, Value>> =
                self.run_json("config-get", &args(["--format=json"]))?;
            Ok(config.unwrap_or_default())
        })
    }

    /// `is-leader`, asked once per hook and remembered (Juju guarantees it for 30 s).
    pub fn is_leader(&self) -> Result<bool> {
        self.memos.leader.get_or_fetch(&(), || self.run_json("is-leader", &args(["--format=json"])))
    }

    /// `status-set` for the unit or (leader only) the application.
    pub fn status_set(&self, target: StatusTarget, status: &Status) -> Result<()> {
        let application = format!("--application={}", target == StatusTarget::Application);
        self.run("status-set", &args([&application, status.kind.as_str(), "--", &status.message]), None)
            .map(drop)
    }

    /// `status-get` for this unit: its current status.
    pub fn status_get(&self) -> Result<Status> {
        #[derive(Deserialize)]
        struct Raw {
            status: String,
            #[serde(default)]
            message: String,
        }
        let raw: Raw =
            self.run_json("status-get", &args(["--format=json", "--include-data", "--application=false"]))?;
        Ok(Status::parse(&raw.status, raw.message))
    }

    /// `application-version-set`, shown in `juju status`.
    pub fn application_version_set(&self, version: &str) -> Result<()> {
        self.run("application-version-set", &args(["--", version]), None).map(drop)
    }

    /// `juju-log`, split into chunks Juju accepts.
    pub fn juju_log(&self, level: LogLevel, message: &str) -> Result<()> {
        const CHUNK: usize = 100_000;
        let mut rest = message;
        loop {
            let mut cut = rest.len().min(CHUNK);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (chunk, tail) = rest.split_at(cut);
            self.run("juju-log", &args(["--log-level", level.as_arg(), "--", chunk]), None)?;
            if tail.is_empty() {
                return Ok(());
            }
            rest = tail;
        }
    }

    // ---- actions -----------------------------------------------------------------------------

    /// `action-get`: the action's parameters as a JSON object.
    pub fn action_get(&self) -> Result<serde_json::Map<String, Value>> {
        let params: Option<serde_json::Map<String, Value>> =
            self.run_json("action-get", &args(["--format=json"]))?;
        Ok(params.unwrap_or_default())
    }

    /// `action-set key=value...`; dotted keys build nested results.
    pub fn action_set(&self, results: &BTreeMap<String, String>) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let argv: Vec<String> = results.iter().map(|(key, value)| format!("{key}={value}")).collect();
        self.run("action-set", &argv, None).map(drop)
    }

    /// `action-fail`: marks the action failed with a message (the hook itself still succeeds).
    pub fn action_fail(&self, message: &str) -> Result<()> {
        self.run("action-fail", &args(["--", message]), None).map(drop)
    }

    /// `action-log`: a progress message shown immediately.
    pub fn action_log(&self, message: &str) -> Result<()> {
        self.run("action-log", &args(["--", message]), None).map(drop)
    }

    // ---- secrets -----------------------------------------------------------------------------

    /// `secret-add`; returns the new secret's URI.
    pub fn secret_add(&self, secret: &NewSecret) -> Result<SecretUri> {
        let files = ContentFiles::write("secret-add", &secret.content)?;
        let mut argv = metadata_args(&secret.label, &secret.description, &secret.expire, &secret.rotate);
        argv.push(format!("--owner={}", secret.owner.as_arg()));
        argv.extend(files.args());
        let stdout = self.run("secret-add", &argv, None)?;
        SecretUri::parse(&stdout).ok_or_else(|| HookToolError::Output {
            command: RedactedCommand::new("secret-add", &argv),
            reason: format!("not a secret URI: {:?}", stdout.trim()),
        })
    }

    /// `secret-get`: the content of a secret this unit owns or was granted.
    pub fn secret_get(&self, secret: &SecretRef, mode: ReadMode) -> Result<SecretContent> {
        let mut argv = args(["--format=json"]);
        match secret {
            SecretRef::Id(id) => argv.push(id.to_string()),
            SecretRef::Label(label) => argv.extend(args(["--label", label])),
            SecretRef::IdWithLabel(id, label) => argv.extend(args([id.as_str(), "--label", label])),
        }
        match mode {
            ReadMode::Tracked => {}
            ReadMode::Refresh => argv.push("--refresh".into()),
            ReadMode::Peek => argv.push("--peek".into()),
        }
        let content: Option<BTreeMap<String, String>> = self.run_json("secret-get", &argv)?;
        Ok(content.unwrap_or_default().into_iter().map(|(k, v)| (k, SecretString::from(v))).collect())
    }

    /// `secret-set`: new content (a new revision) and/or metadata.
    pub fn secret_set(&self, id: &SecretUri, update: &SecretUpdate) -> Result<()> {
        let empty = SecretContent::new();
        let files = ContentFiles::write("secret-set", update.content.as_ref().unwrap_or(&empty))?;
        let mut argv = vec![id.to_string()];
        argv.extend(metadata_args(&update.label, &update.description, &update.expire, &update.rotate));
        argv.extend(files.args());
        self.run("secret-set", &argv, None).map(drop)
    }

    /// `secret-grant`: lets the relation's remote application (or one of its units) read it.
    pub fn secret_grant(&self, id: &SecretUri, relation: &RelationId, unit: Option<&str>) -> Result<()> {
        let mut argv = args([id.as_str(), "--relation", &relation.id.to_string()]);
        if let Some(unit) = unit {
            argv.extend(args(["--unit", unit]));
        }
        self.run("secret-grant", &argv, None).map(drop)
    }

    /// `secret-revoke`: withdraws a grant made with [`HookTools::secret_grant`].
    pub fn secret_revoke(&self, id: &SecretUri, relation: &RelationId, unit: Option<&str>) -> Result<()> {
        let mut argv = args([id.as_str(), "--relation", &relation.id.to_string()]);
        if let Some(unit) = unit {
            argv.extend(args(["--unit", unit]));
        }
        self.run("secret-revoke", &argv, None).map(drop)
    }

    /// `secret-remove`: all revisions, or just one.
    pub fn secret_remove(&self, id: &SecretUri, revision: Option<u64>) -> Result<()> {
        let mut argv = vec![id.to_string()];
        if let Some(revision) = revision {
            argv.extend(args(["--revision", &revision.to_string()]));
        }
        self.run("secret-remove", &argv, None).map(drop)
    }

    /// `secret-ids`: the secrets this unit (or, as leader, its application) owns.
    pub fn secret_ids(&self) -> Result<Vec<SecretUri>> {
        let ids: Option<Vec<String>> = self.run_json("secret-ids", &args(["--format=json"]))?;
        Ok(ids.unwrap_or_default().iter().filter_map(|id| SecretUri::parse(id)).collect())
    }

    /// `secret-info-get`: owner-side metadata, by URI or owner label.
    pub fn secret_info_get(&self, secret: &SecretRef) -> Result<SecretInfo> {
        let mut argv = args(["--format=json"]);
        match secret {
            SecretRef::Id(id) | SecretRef::IdWithLabel(id, _) => argv.push(id.to_string()),
            SecretRef::Label(label) => argv.extend(args(["--label", label])),
        }
        let infos: BTreeMap<String, RawSecretInfo> = self.run_json("secret-info-get", &argv)?;
        let (id, raw) = infos.into_iter().next().ok_or_else(|| HookToolError::Output {
            command: RedactedCommand::new("secret-info-get", &argv),
            reason: "empty answer".into(),
        })?;
        let id = SecretUri::parse(&id).ok_or_else(|| HookToolError::Output {
            command: RedactedCommand::new("secret-info-get", &argv),
            reason: format!("not a secret id: {id:?}"),
        })?;
        Ok(SecretInfo {
            id,
            revision: raw.revision,
            label: raw.label,
            owner: raw.owner.unwrap_or_default(),
            description: raw.description,
            rotation: raw.rotation,
            expiry: raw.expiry,
            access: raw.access,
        })
    }

    // ---- unit state --------------------------------------------------------------------------

    /// `state-get <key>`: one value of the unit's controller-side store.
    pub fn state_get(&self, key: &str) -> Result<Option<String>> {
        self.run_json("state-get", &args(["--format=json", key]))
    }

    /// `state-get`: the whole store.
    pub fn state_get_all(&self) -> Result<BTreeMap<String, String>> {
        let all: Option<BTreeMap<String, String>> = self.run_json("state-get", &args(["--format=json"]))?;
        Ok(all.unwrap_or_default())
    }

    /// `state-set --file -`.
    pub fn state_set(&self, values: &BTreeMap<String, String>) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let body = serde_json::to_vec(values).expect("a string map always serialises");
        self.run("state-set", &args(["--file", "-"]), Some(&body)).map(drop)
    }

    /// `state-delete <key>`.
    pub fn state_delete(&self, key: &str) -> Result<()> {
        self.run("state-delete", &args([key]), None).map(drop)
    }

    // ---- network and ports -------------------------------------------------------------------

    pub fn open_port(&self, port: Port) -> Result<()> {
        self.run("open-port", &[port.as_arg()], None).map(drop)
    }

    pub fn close_port(&self, port: Port) -> Result<()> {
        self.run("close-port", &[port.as_arg()], None).map(drop)
    }

    /// `opened-ports`: what is open now (this hook's pending changes excluded, as in Juju).
    pub fn opened_ports(&self) -> Result<Vec<Port>> {
        let ports: Option<Vec<String>> = self.run_json("opened-ports", &args(["--format=json"]))?;
        Ok(ports.unwrap_or_default().iter().filter_map(|p| Port::parse(p)).collect())
    }

    /// `network-get <binding>`.
    pub fn network_get(&self, binding: &str, relation: Option<&RelationId>) -> Result<NetworkInfo> {
        let mut argv = args(["--format=json"]);
        if let Some(relation) = relation {
            argv.extend(args(["-r", &relation.to_string()]));
        }
        argv.push(binding.to_string());
        self.run_json("network-get", &argv)
    }

    /// `goal-state`: the units and relations Juju is converging to. Asked once per hook.
    pub fn goal_state(&self) -> Result<GoalState> {
        self.memos.goal_state.get_or_fetch(&(), || self.run_json("goal-state", &args(["--format=json"])))
    }

    /// `status-get --application` (leader only): the application's status and every unit's
    /// status as Juju last recorded it.
    pub fn application_status_get(&self) -> Result<ApplicationStatus> {
        #[derive(Deserialize)]
        struct Raw {
            status: String,
            #[serde(default)]
            message: String,
        }
        #[derive(Deserialize)]
        struct RawApp {
            #[serde(rename = "application-status")]
            application: Raw,
            #[serde(default)]
            units: BTreeMap<String, Raw>,
        }
        let raw: RawApp =
            self.run_json("status-get", &args(["--format=json", "--include-data", "--application=true"]))?;
        Ok(ApplicationStatus {
            application: Status::parse(&raw.application.status, raw.application.message),
            units: raw
                .units
                .into_iter()
                .map(|(unit, raw)| (unit, Status::parse(&raw.status, raw.message)))
                .collect(),
        })
    }
}

/// What `goal-state` reports: the units of this application and the relations Juju is
/// converging to, each with its goal status (`active`, `waiting`, `dying`, `joined`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GoalState {
    #[serde(default)]
    pub units: BTreeMap<String, GoalEntry>,
    /// Endpoint → remote application or unit → entry.
    #[serde(default)]
    pub relations: BTreeMap<String, BTreeMap<String, GoalEntry>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GoalEntry {
    pub status: String,
    #[serde(default)]
    pub since: Option<String>,
}

impl GoalState {
    /// Units that are not on their way out, as ops counts "planned units".
    pub fn planned_units(&self) -> usize {
        self.units.values().filter(|entry| entry.status != "dying").count()
    }

    /// Whether `unit` is being removed.
    pub fn is_dying(&self, unit: &str) -> bool {
        self.units.get(unit).is_some_and(|entry| entry.status == "dying")
    }

    /// Endpoints with at least one related application that is not dying.
    pub fn related_endpoints(&self) -> impl Iterator<Item = &str> {
        self.relations
            .iter()
            .filter(|(_, entries)| entries.values().any(|entry| entry.status != "dying"))
            .map(|(endpoint, _)| endpoint.as_str())
    }
}

/// The application status and the status of each unit (`status-get --application`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationStatus {
    pub application: Status,
    pub units: BTreeMap<String, Status>,
}

fn args<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn metadata_args(
    label: &Option<String>,
    description: &Option<String>,
    expire: &Option<String>,
    rotate: &Option<String>,
) -> Vec<String> {
    let mut argv = Vec::new();
    for (flag, value) in
        [("--label", label), ("--description", description), ("--expire", expire), ("--rotate", rotate)]
    {
        if let Some(value) = value {
            argv.push(format!("{flag}={value}"));
        }
    }
    argv
}

/// The name prefix of the private temporary directories holding secret values, followed by
/// the writing process's id.
const SECRET_DIR_PREFIX: &str = "juju-secret-";

/// Removes the secret-value directories that processes which no longer exist left in the
/// temporary directory (a hook killed during `secret-add` or `secret-set` cannot remove its
/// own). Returns how many were removed; directories it cannot read or remove are skipped.
pub fn remove_orphaned_secret_files() -> usize {
    remove_orphaned_secret_files_in(&std::env::temp_dir())
}

fn remove_orphaned_secret_files_in(temp: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(temp) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|name| name.strip_prefix(SECRET_DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|pid| pid.parse::<u32>().ok()) else { continue };
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive
            && entry.file_type().is_ok_and(|kind| kind.is_dir())
            && std::fs::remove_dir_all(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Secret values written to private temporary files for `key#file=` arguments; the directory
/// and files are removed when this is dropped.
struct ContentFiles {
    dir: Option<tempfile::TempDir>,
    keys: Vec<String>,
}

impl ContentFiles {
    fn write(tool: &str, content: &SecretContent) -> Result<Self> {
        if content.is_empty() {
            return Ok(Self { dir: None, keys: Vec::new() });
        }
        let prepare = |source| HookToolError::Prepare { tool: tool.to_string(), source };
        let prefix = format!("{SECRET_DIR_PREFIX}{}-", std::process::id());
        let dir = tempfile::Builder::new().prefix(&prefix).tempdir().map_err(prepare)?;
        for (key, value) in content {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dir.path().join(key))
                .map_err(prepare)?;
            file.write_all(value.expose_secret().as_bytes()).map_err(prepare)?;
        }
        Ok(Self { dir: Some(dir), keys: content.keys().cloned().collect() })
    }

    fn args(&self) -> Vec<String> {
        let Some(dir) = &self.dir else { return Vec::new() };
        self.keys.iter().map(|key| format!("{key}#file={}", dir.path().join(key).display())).collect()
    }
}

#[cfg(test)]
mod orphaned_secret_files {
    use super::*;

    #[test]
    fn directories_of_dead_processes_are_removed_and_live_ones_kept() {
        let temp = tempfile::tempdir().unwrap();
        // No process has an id this large (the kernel's limit is 2^22).
        let dead = temp.path().join(format!("{SECRET_DIR_PREFIX}4294967-x1"));
        let live = temp.path().join(format!("{SECRET_DIR_PREFIX}{}-x2", std::process::id()));
        let unrelated = temp.path().join("juju-secrets-notes");
        for dir in [&dead, &live, &unrelated] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("signing-key"), "secret").unwrap();
        }
        assert_eq!(remove_orphaned_secret_files_in(temp.path()), 1);
        assert!(!dead.exists() && live.exists() && unrelated.exists());
    }

    #[test]
    fn secret_files_are_named_after_the_writing_process() {
        let content = SecretContent::from([("key".to_string(), SecretString::from("value".to_string()))]);
        let files = ContentFiles::write("secret-add", &content).unwrap();
        let dir = files.dir.as_ref().unwrap().path().file_name().unwrap().to_string_lossy().to_string();
        assert!(dir.starts_with(&format!("{SECRET_DIR_PREFIX}{}-", std::process::id())), "{dir}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::ToolOutput;
    use crate::status::StatusKind;
    use std::sync::Mutex;

    /// One recorded call: tool, argv, stdin, and the `key#file=` contents at call time.
    type Call = (String, Vec<String>, Option<Vec<u8>>, Vec<(String, String)>);

    /// Records every call and answers from a script keyed by tool name.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<Call>>,
        answers: Mutex<BTreeMap<String, ToolOutput>>,
    }

    impl Recorder {
        fn answer(self, tool: &str, code: i32, stdout: &str, stderr: &str) -> Self {
            let output = ToolOutput { code, signal: None, stdout: stdout.into(), stderr: stderr.into() };
            self.answers.lock().unwrap().insert(tool.into(), output);
            self
        }
    }

    impl ToolRunner for Recorder {
        fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> std::io::Result<ToolOutput> {
            // Capture what the `key#file=` files hold at call time (they vanish afterwards).
            let files = args
                .iter()
                .filter_map(|a| a.split_once("#file="))
                .map(|(k, path)| (k.to_string(), std::fs::read_to_string(path).unwrap()))
                .collect();
            self.calls.lock().unwrap().push((tool.into(), args.to_vec(), stdin.map(<[u8]>::to_vec), files));
            Ok(self.answers.lock().unwrap().get(tool).cloned().unwrap_or_default())
        }
    }

    fn tools(recorder: Recorder) -> (HookTools, Arc<Recorder>) {
        let shared = Arc::new(recorder);
        (HookTools::from_shared(shared.clone()), shared)
    }

    #[test]
    fn relation_ids_are_asked_once_per_endpoint() {
        let recorder = Recorder::default().answer("relation-ids", 0, r#"["synapse-peers:0"]"#, "");
        let (hook_tools, recorder) = tools(recorder);
        let expected = [RelationId::new("synapse-peers", 0)];
        assert_eq!(hook_tools.relation_ids("synapse-peers").unwrap(), expected);
        assert_eq!(hook_tools.relation_ids("synapse-peers").unwrap(), expected);
        assert_eq!(recorder.calls.lock().unwrap().len(), 1);
        hook_tools.relation_ids("matrix-auth").unwrap();
        assert_eq!(recorder.calls.lock().unwrap().len(), 2, "another endpoint is asked");
    }

    #[test]
    fn a_bag_is_asked_once_per_hook_until_the_hook_writes_to_its_relation() {
        let recorder = Recorder::default().answer("relation-get", 0, r#"{"homeserver": "h"}"#, "");
        let (hook_tools, recorder) = tools(recorder);
        let relation = RelationId::new("matrix-auth", 4);
        let other = RelationId::new("matrix-auth", 5);
        let count = |tool: &str| recorder.calls.lock().unwrap().iter().filter(|call| call.0 == tool).count();
        let bag = hook_tools.relation_get_app(&relation, "synapse").unwrap();
        assert_eq!(bag.get("homeserver").map(String::as_str), Some("h"));
        assert_eq!(hook_tools.relation_get_app(&relation, "synapse").unwrap(), bag);
        assert_eq!(count("relation-get"), 1);
        hook_tools.relation_get_unit(&relation, "synapse").unwrap();
        hook_tools.relation_get_app(&relation, "irc").unwrap();
        hook_tools.relation_get_app(&other, "synapse").unwrap();
        assert_eq!(count("relation-get"), 4, "another bag is another question");
        hook_tools.relation_set(&relation, Bag::App, &Databag::from([("k".into(), "v".into())])).unwrap();
        hook_tools.relation_get_app(&relation, "synapse").unwrap();
        hook_tools.relation_get_app(&other, "synapse").unwrap();
        assert_eq!(count("relation-get"), 5, "only the written relation is asked again");
    }

    #[test]
    fn relation_set_sends_json_on_stdin_and_skips_empty_maps() {
        let (hook_tools, recorder) = tools(Recorder::default());
        let relation = RelationId::new("matrix-auth", 4);
        hook_tools.relation_set(&relation, Bag::App, &Databag::new()).unwrap();
        assert!(recorder.calls.lock().unwrap().is_empty());
        let data = Databag::from([("homeserver".into(), "https://m.example".into())]);
        hook_tools.relation_set(&relation, Bag::App, &data).unwrap();
        let calls = recorder.calls.lock().unwrap();
        let (tool, argv, stdin, _) = &calls[0];
        assert_eq!(tool, "relation-set");
        assert_eq!(argv, &args(["-r", "matrix-auth:4", "--app", "--file", "-"]));
        let sent: Databag = serde_json::from_slice(stdin.as_ref().unwrap()).unwrap();
        assert_eq!(sent, data);
    }

    #[test]
    fn secret_values_travel_in_private_files_not_argv() {
        let recorder = Recorder::default().answer("secret-add", 0, "secret:coj8mulh8b41e8nv6p90\n", "");
        let (hook_tools, recorder) = tools(recorder);
        let secret = NewSecret {
            content: SecretContent::from([("shared-secret-content".into(), SecretString::from("s3cr3t"))]),
            label: Some("shared-secret".into()),
            ..NewSecret::default()
        };
        let uri = hook_tools.secret_add(&secret).unwrap();
        assert_eq!(uri.as_str(), "secret:coj8mulh8b41e8nv6p90");
        let calls = recorder.calls.lock().unwrap();
        let (_, argv, _, files) = &calls[0];
        assert!(argv.iter().all(|a| !a.contains("s3cr3t")), "{argv:?}");
        assert!(argv.contains(&"--label=shared-secret".to_string()));
        assert!(argv.contains(&"--owner=application".to_string()));
        assert_eq!(files, &vec![("shared-secret-content".to_string(), "s3cr3t".to_string())]);
        let path = argv.iter().find_map(|a| a.split_once("#file=")).unwrap().1;
        assert!(!std::path::Path::new(path).exists(), "temporary secret file left behind");
    }

    #[test]
    fn failures_carry_command_code_and_classified_kind() {
        let recorder = Recorder::default().answer("secret-get", 1, "", "ERROR secret \"x\" not found\n");
        let (hook_tools, _) = tools(recorder);
        let error =
            hook_tools.secret_get(&SecretRef::Label("shared-secret".into()), ReadMode::Peek).unwrap_err();
        assert!(error.is_secret_not_found());
        assert!(error.to_string().contains("secret-get --format=json --label shared-secret --peek"));
    }

    #[test]
    fn leadership_is_asked_once_per_hook() {
        let (hook_tools, recorder) = tools(Recorder::default().answer("is-leader", 0, "true\n", ""));
        assert!(hook_tools.is_leader().unwrap());
        assert!(hook_tools.is_leader().unwrap());
        assert_eq!(recorder.calls.lock().unwrap().len(), 1);
    }

    #[test]
    fn parses_json_answers() {
        let recorder = Recorder::default()
            .answer("relation-ids", 0, "[\"matrix-auth:9\",\"matrix-auth:3\"]\n", "")
            .answer("relation-get", 0, "null\n", "")
            .answer(
                "secret-info-get",
                0,
                r#"{"coj8mulh8b41e8nv6p90":{"revision":2,"label":"l","owner":"application",
                    "access":[{"target":"application-irc","scope":"relation-x","role":"view"}]}}"#,
                "",
            )
            .answer("opened-ports", 0, "[\"8080/tcp\",\"53/udp\",\"icmp\"]", "");
        let (hook_tools, _) = tools(recorder);
        let ids = hook_tools.relation_ids("matrix-auth").unwrap();
        assert_eq!(ids, vec![RelationId::new("matrix-auth", 3), RelationId::new("matrix-auth", 9)]);
        assert!(hook_tools.relation_get_app(&ids[0], "irc").unwrap().is_empty());
        let info = hook_tools.secret_info_get(&SecretRef::Label("l".into())).unwrap();
        assert_eq!((info.id.as_str(), info.revision), ("secret:coj8mulh8b41e8nv6p90", 2));
        assert_eq!(info.access[0].granted_application(), Some("irc"));
        assert_eq!(hook_tools.opened_ports().unwrap(), vec![Port::Tcp(8080), Port::Udp(53), Port::Icmp]);
    }

    #[test]
    fn status_set_passes_message_after_double_dash() {
        let (hook_tools, recorder) = tools(Recorder::default());
        let status = Status::new(StatusKind::Blocked, "-x: invalid configuration");
        hook_tools.status_set(StatusTarget::Unit, &status).unwrap();
        let calls = recorder.calls.lock().unwrap();
        assert_eq!(calls[0].1, args(["--application=false", "blocked", "--", "-x: invalid configuration"]));
    }
}
