//! How a simulated Pebble is set up: socket, container root, service, exec and check modes.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything [`crate::PebbleSim::start`] needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Unix socket the API is served on (created on start, removed on stop).
    pub socket: PathBuf,
    /// Container filesystem root: container path `/data/x` lives at `root/data/x`.
    pub root: PathBuf,
    /// How services are run.
    pub services: ServiceMode,
    /// How exec commands are run.
    pub exec: ExecMode,
    /// Rewrites of `argv[0]` (container path → host path) for spawned services and exec commands.
    pub command_map: BTreeMap<String, PathBuf>,
    /// How health checks decide up or down. The default, [`CheckMode::Auto`], probes for real
    /// (as Pebble does) with [`ServiceMode::Process`], but with [`ServiceMode::Simulated`]
    /// ASSUMES a check is up while its services are active, without probing: see
    /// [`CheckMode`]. Set [`CheckMode::Probe`] to probe with simulated services too.
    pub checks: CheckMode,
}

impl SimConfig {
    /// Simulated services, scripted-only exec, checks following the services
    /// ([`CheckMode::Auto`]) and an empty command map.
    pub fn new(socket: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            root: root.into(),
            services: ServiceMode::default(),
            exec: ExecMode::default(),
            command_map: BTreeMap::new(),
            checks: CheckMode::default(),
        }
    }
}

/// How services of the plan are run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceMode {
    /// No process: a start succeeds at once and the service is `active`, unless `argv[0]` of
    /// its command is listed in `failing_commands`, in which case the start fails as
    /// "exited quickly with code 1" and the service is left in `backoff`.
    Simulated { failing_commands: Vec<String> },
    /// Really spawn each service command as a host process (`argv[0]` rewritten through
    /// [`SimConfig::command_map`]), supervised like Pebble does.
    Process,
}

impl Default for ServiceMode {
    fn default() -> Self {
        Self::Simulated { failing_commands: Vec::new() }
    }
}

/// How health checks decide whether they are up.
///
/// Pebble runs every check for real: an http check GETs its URL, a tcp check connects, an exec
/// check runs its command. [`CheckMode::Probe`] does the same. With simulated services no
/// process listens anywhere, so probing would find every http and tcp check down; that is
/// why [`CheckMode::Auto`], the default, probes only in [`ServiceMode::Process`] and otherwise
/// assumes what [`CheckMode::FollowServices`] says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CheckMode {
    /// [`CheckMode::Probe`] with [`ServiceMode::Process`], [`CheckMode::FollowServices`]
    /// with [`ServiceMode::Simulated`].
    #[default]
    Auto,
    /// Probe http, tcp and exec checks for real every `period`, as Pebble does (a tcp check
    /// on a port nobody listens on goes down after `threshold` failures).
    Probe,
    /// No probing (NOT what Pebble does): a check is up while every service it belongs to is
    /// active, down (at once, its failures at the threshold) otherwise. It belongs to its
    /// exec `service-context`, else to the services naming it in `on-check-failure`, else to
    /// every service of the plan.
    FollowServices,
}

/// How `POST /v1/exec` commands run. Rules given to [`crate::PebbleSim::script_exec`] always
/// take precedence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExecMode {
    /// Only scripted rules answer; any other command fails like a missing executable.
    #[default]
    Scripted,
    /// Commands without a matching rule run on the host.
    Host,
}

/// A scripted answer for exec commands whose argv starts with `argv_prefix`.
///
/// When several rules match, the longest prefix wins; among equal prefixes the latest added.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecRule {
    pub argv_prefix: Vec<String>,
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Read stdin until the client ends it before answering (so it shows in the exec log).
    pub read_stdin: bool,
    /// Answer only while the container file at this path contains these bytes: a program
    /// whose result depends on what it reads (a configuration checker, say).
    pub when_file_contains: Option<(String, Vec<u8>)>,
    /// The command is `chown [options] UID:GID PATH…`: each path gets that owner, as the real
    /// command gives it (recorded, and applied on the host when running as root).
    pub changes_owner: bool,
}

impl ExecRule {
    /// A rule answering exit code 0 with no output.
    pub fn new<I, S>(argv_prefix: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            argv_prefix: argv_prefix.into_iter().map(Into::into).collect(),
            exit_code: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            read_stdin: false,
            when_file_contains: None,
            changes_owner: false,
        }
    }

    pub fn exit_code(mut self, code: i32) -> Self {
        self.exit_code = code;
        self
    }

    pub fn stdout(mut self, out: impl Into<Vec<u8>>) -> Self {
        self.stdout = out.into();
        self
    }

    pub fn stderr(mut self, err: impl Into<Vec<u8>>) -> Self {
        self.stderr = err.into();
        self
    }

    pub fn read_stdin(mut self) -> Self {
        self.read_stdin = true;
        self
    }

    /// Makes the rule a `chown UID:GID PATH…` that changes the owner of the paths it names
    /// (numeric ids; options such as `-R` change nothing more).
    pub fn changing_owner(mut self) -> Self {
        self.changes_owner = true;
        self
    }

    /// Makes the rule answer only while the container file `path` contains `needle`.
    pub fn when_file_contains(mut self, path: impl Into<String>, needle: impl Into<Vec<u8>>) -> Self {
        self.when_file_contains = Some((path.into(), needle.into()));
        self
    }

    /// Whether the rule answers `argv` in the container whose filesystem is under `root`.
    pub(crate) fn matches(&self, argv: &[String], root: &std::path::Path) -> bool {
        argv.starts_with(&self.argv_prefix)
            && self.when_file_contains.as_ref().is_none_or(|(path, needle)| {
                let host = crate::files::paths::host_path(root, path);
                std::fs::read(host)
                    .is_ok_and(|content| content.windows(needle.len()).any(|part| part == needle))
            })
    }
}

impl std::fmt::Debug for ExecRule {
    // Scripted output may stand for secrets (tokens printed by a tool): show sizes only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecRule")
            .field("argv_prefix", &self.argv_prefix)
            .field("exit_code", &self.exit_code)
            .field("stdout_len", &self.stdout.len())
            .field("stderr_len", &self.stderr.len())
            .field("read_stdin", &self.read_stdin)
            .field("when_file_contains", &self.when_file_contains.as_ref().map(|(path, _)| path))
            .field("changes_owner", &self.changes_owner)
            .finish()
    }
}
