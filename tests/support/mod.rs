//! Test support: the charm directory for the simulated Juju (this repository's metadata,
//! config and actions, its `dispatch`, and the freshly built charm binary), one simulated
//! Pebble per unit, and helpers to read what the charm left in a unit's container.
//!
//! The charm finds Pebble at `$CHARM_CONTAINERS_DIR/synapse/pebble.socket`. Each unit gets
//! its own directory for that, chosen by a two-line `bin/synapse-k8s` wrapper from
//! `JUJU_UNIT_NAME`, so units created during a sequence (deploy, scale up) find theirs too.

#![allow(dead_code)] // Each test binary uses a different part of this module.

pub mod edge_providers;
pub mod flaky_proxy;
pub mod inspection;
pub mod leaks;
pub mod loki;
pub mod passive_app;
pub mod passive_requirers;
pub mod postgres;
pub mod postgresql_provider;
pub mod prometheus;
pub mod redis;
pub mod redis_provider;
pub mod requirers;
pub mod s3;
pub mod smtp;
pub mod world;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use juju_sim::model::StatusInfo;
use juju_sim::{AppSpec, HookRun, Simulator};
use pebble_sim::{ExecRule, PebbleSim, SimConfig};
use serde_json::Value;

pub const APP: &str = "synapse";
pub const CONTAINER: &str = "synapse";
pub const SERVER_NAME: &str = "example.com";

/// The argv prefix of the configuration check the charm runs in the container.
pub const VALIDATE: [&str; 3] = ["python3", "-m", "synapse.config"];
/// How the charm asks the image for Synapse's version.
pub const SYNAPSE_VERSION: [&str; 3] = ["python3", "-c", "import synapse; print(synapse.__version__)"];
/// The Pebble requests of a hook that changes nothing: the plan, Synapse's service, its
/// readiness check and nginx's configuration.
pub const NO_OP_REQUESTS: usize = 4;
/// nginx's check of its configuration, as the charm runs it (the candidate's path follows).
pub const NGINX_CHECK: [&str; 2] = ["/usr/sbin/nginx", "-t"];

/// The hook tools that change the Juju model. `status-set` changes it only when it sets
/// another value, which [`Harness::assert_statuses_kept`] checks.
pub const MODEL_WRITES: [&str; 12] = [
    "relation-set",
    "secret-add",
    "secret-set",
    "secret-grant",
    "secret-revoke",
    "secret-remove",
    "open-port",
    "close-port",
    "state-set",
    "state-delete",
    "leader-set",
    "application-version-set",
];

/// A simulated model with the Synapse charm and a simulated Pebble per unit. Dropping it
/// runs the secret leak checks ([`leaks::assert_no_secret_leaks`],
/// [`leaks::assert_secret_files_private`]) unless the test failed.
pub struct Harness {
    pub sim: Simulator,
    /// Holds the charm directory and every unit's container directory.
    work: tempfile::TempDir,
    pebbles: BTreeMap<String, PebbleSim>,
}

impl Harness {
    pub fn new() -> Self {
        let work = tempfile::Builder::new().prefix("synapse-charm-").tempdir().expect("temporary directory");
        make_charm_dir(&work.path().join("charm"), &work.path().join("containers"));
        let mut sim = Simulator::new().expect("juju-sim starts");
        // Generous: a loaded 2-core machine runs these hooks slowly.
        sim.set_hook_timeout(std::time::Duration::from_secs(120));
        Self { sim, work, pebbles: BTreeMap::new() }
    }

    pub fn charm_dir(&self) -> PathBuf {
        self.work.path().join("charm")
    }

    /// The directory holding `unit`'s container sockets (`<dir>/synapse/pebble.socket`) and
    /// its container filesystem (`<dir>/root`).
    fn unit_dir(&self, unit: &str) -> PathBuf {
        self.work.path().join("containers").join(unit.replace('/', "-"))
    }

    /// Starts `unit`'s Pebble with simulated services and scripted answers for the commands
    /// the charm runs: a passing configuration check and `chown`.
    pub fn start_pebble(&mut self, unit: &str) -> &PebbleSim {
        let pebble = self.start_pebble_with(unit, |_| {});
        pebble.script_exec(ExecRule::new(["chown"]).changing_owner());
        pebble
    }

    /// Starts `unit`'s Pebble with the configuration adjusted first; only the configuration
    /// check and nginx's are scripted (to pass).
    pub fn start_pebble_with(&mut self, unit: &str, adjust: impl FnOnce(&mut SimConfig)) -> &PebbleSim {
        let dir = self.unit_dir(unit);
        let root = dir.join("root");
        fs::create_dir_all(root.join("data")).expect("container root");
        fs::create_dir_all(dir.join(CONTAINER)).expect("socket directory");
        let mut config = SimConfig::new(self.socket(unit), root);
        adjust(&mut config);
        let pebble = PebbleSim::start(config).expect("pebble-sim starts");
        pebble.script_exec(ExecRule::new(VALIDATE).stdout("Config parses OK!\n"));
        pebble.script_exec(ExecRule::new(NGINX_CHECK));
        self.pebbles.insert(unit.to_string(), pebble);
        &self.pebbles[unit]
    }

    /// Where the charm looks for `unit`'s Pebble socket.
    pub fn socket(&self, unit: &str) -> PathBuf {
        self.unit_dir(unit).join(CONTAINER).join("pebble.socket")
    }

    pub fn pebble(&self, unit: &str) -> &PebbleSim {
        self.pebbles.get(unit).unwrap_or_else(|| panic!("no Pebble started for {unit}"))
    }

    /// Deploys `units` units with the given configuration, each unit's Pebble up from the start.
    pub fn deploy(&mut self, units: u32, config: &[(&str, Value)]) -> Vec<HookRun> {
        for number in 0..units {
            self.start_pebble(&format!("{APP}/{number}"));
        }
        self.deploy_without_pebble(units, config)
    }

    /// Deploys without starting any Pebble (as when the workload container is still coming up).
    pub fn deploy_without_pebble(&mut self, units: u32, config: &[(&str, Value)]) -> Vec<HookRun> {
        let mut spec = AppSpec::charm(APP, self.charm_dir()).units(units);
        for (key, value) in config {
            spec = spec.config(*key, value.clone());
        }
        self.sim.deploy(spec).expect("deploy runs")
    }

    /// `juju config` with the given values (`null` resets an option).
    pub fn configure(&mut self, values: &[(&str, Value)]) -> Vec<HookRun> {
        let values = values.iter().map(|(key, value)| (key.to_string(), value.clone())).collect();
        self.sim.set_config(APP, values).expect("config-changed runs")
    }

    /// The unit's workload status as `(status, message)`.
    pub fn status(&self, unit: &str) -> (String, String) {
        let status = self.sim.unit_status(unit).expect("unit exists");
        (status.status.clone(), status.message.clone())
    }

    pub fn app_status(&self) -> (String, String) {
        let status = self.sim.app_status(APP).expect("app exists");
        (status.status.clone(), status.message.clone())
    }

    /// The host path of a container path of `unit`.
    pub fn container_path(&self, unit: &str, path: &str) -> PathBuf {
        self.unit_dir(unit).join("root").join(path.trim_start_matches('/'))
    }

    pub fn read(&self, unit: &str, path: &str) -> String {
        let host = self.container_path(unit, path);
        fs::read_to_string(&host).unwrap_or_else(|error| panic!("cannot read {path} of {unit}: {error}"))
    }

    /// The unit's homeserver.yaml, parsed.
    pub fn homeserver(&self, unit: &str) -> Value {
        safe_yaml::from_str(&self.read(unit, "/data/homeserver.yaml")).expect("homeserver.yaml is YAML")
    }

    /// The commands `unit`'s Pebble ran (or answered) so far whose argv starts with `prefix`.
    pub fn execs(&self, unit: &str, prefix: &[&str]) -> Vec<pebble_sim::ExecRecord> {
        let prefix: Vec<String> = prefix.iter().map(|arg| arg.to_string()).collect();
        self.pebble(unit).exec_log().into_iter().filter(|exec| exec.argv.starts_with(&prefix)).collect()
    }

    /// How many requests `unit`'s Pebble has answered so far.
    pub fn request_count(&self, unit: &str) -> usize {
        self.pebble(unit).requests().len()
    }

    /// The Pebble requests `unit` made after the first `since`, as `METHOD /path` (no query).
    pub fn requests_since(&self, unit: &str, since: usize) -> Vec<String> {
        self.pebble(unit)
            .requests()
            .iter()
            .skip(since)
            .map(|request| {
                let path = request.path.split('?').next().unwrap_or_default();
                format!("{} {path}", request.method)
            })
            .collect()
    }

    /// The requests since the first `since` that change the container: everything but reads
    /// (`GET`) and a check run on demand (`POST /v1/checks/refresh`, which only probes).
    pub fn writes_since(&self, unit: &str, since: usize) -> Vec<String> {
        self.requests_since(unit, since)
            .into_iter()
            .filter(|request| !request.starts_with("GET ") && request != "POST /v1/checks/refresh")
            .collect()
    }

    /// Asserts that nothing in `unit`'s container changed since request `since`, and that the
    /// hooks since made at most `per_hook` Pebble requests each over `hooks` hooks.
    pub fn assert_container_untouched(&self, unit: &str, since: usize, hooks: usize, per_hook: usize) {
        let requests = self.requests_since(unit, since);
        assert_eq!(self.writes_since(unit, since), Vec::<String>::new(), "{requests:?}");
        assert!(
            requests.len() <= hooks * per_hook,
            "{} requests for {hooks} hooks: {requests:?}",
            requests.len()
        );
    }

    /// Where the application's and every unit's status history end now, by name.
    pub fn status_marks(&self) -> BTreeMap<String, usize> {
        self.status_histories().map(|(name, history)| (name.to_string(), history.len())).collect()
    }

    /// Asserts that every status set since `marks` (of [`Harness::status_marks`]), on the
    /// application or any unit, is the one it replaced: a `status-set` that changes nothing.
    pub fn assert_statuses_kept(&self, marks: &BTreeMap<String, usize>) {
        let shown = |status: &StatusInfo| (status.status.clone(), status.message.clone());
        for (name, history) in self.status_histories() {
            let mark = marks.get(name).copied().unwrap_or_default();
            let before = mark.checked_sub(1).map(|last| shown(&history[last]));
            for after in &history[mark..] {
                assert_eq!(Some(shown(after)), before, "the status of {name} changed");
            }
        }
    }

    /// The application's status history and every unit's, with their names.
    fn status_histories(&self) -> impl Iterator<Item = (&str, &[StatusInfo])> {
        let app = self.sim.app(APP).expect("app exists");
        let units = app.units.iter().map(|unit| (unit.name.as_str(), unit.status_history.as_slice()));
        std::iter::once((APP, app.status_history.as_slice())).chain(units)
    }

    /// The unit's Pebble plan, as the charm's Pebble client reads it.
    pub fn plan(&self, unit: &str) -> pebble::Plan {
        pebble::Client::new(self.pebble(unit).socket()).plan().expect("plan readable")
    }

    /// The digest the charm put into the Synapse service's environment.
    pub fn applied_digest(&self, unit: &str) -> Option<String> {
        self.plan(unit).services.get("synapse")?.environment.get("CHARM_CONFIG_DIGEST").cloned()
    }

    /// `juju-log` messages of a unit at a level.
    pub fn logs(&self, unit: &str, level: &str) -> Vec<String> {
        self.sim
            .logs(unit)
            .filter(|record| record.level == level)
            .map(|record| record.message.clone())
            .collect()
    }

    /// The application secrets' content (the charm's one application secret).
    pub fn app_secret_content(&self) -> BTreeMap<String, String> {
        let secrets: Vec<_> = self.sim.model().secrets.values().collect();
        assert_eq!(secrets.len(), 1, "exactly one secret expected");
        let secret = secrets[0];
        assert_eq!(secret.label.as_deref(), Some("synapse-app-secrets"));
        let revision = secret.latest().expect("a revision");
        revision
            .content
            .iter()
            .map(|(key, encoded)| {
                let bytes =
                    base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64 content");
                (key.clone(), String::from_utf8(bytes).expect("UTF-8 content"))
            })
            .collect()
    }
}

/// Asserts that no hook of `runs` called a tool of [`MODEL_WRITES`].
pub fn assert_no_model_writes<'a>(runs: impl IntoIterator<Item = &'a HookRun>) {
    for run in runs {
        let writes: Vec<String> = run
            .calls
            .iter()
            .filter(|call| MODEL_WRITES.contains(&call.tool.as_str()))
            .map(|call| format!("{} {}", call.tool, call.args.join(" ")))
            .collect();
        assert!(writes.is_empty(), "{} on {} changed the model: {writes:?}", run.hook, run.unit);
    }
}

/// Asserts that no hook of `runs` made the same hook-tool call (tool and arguments) twice,
/// logging aside: the charm reads each part of the model once per hook, however many of its
/// parts need it.
pub fn assert_no_repeated_calls<'a>(runs: impl IntoIterator<Item = &'a HookRun>) {
    for run in runs {
        let mut seen = std::collections::BTreeSet::new();
        for call in run.calls.iter().filter(|call| call.tool != "juju-log") {
            let key = (&call.tool, &call.args);
            assert!(
                seen.insert(key),
                "{} on {} called {} {:?} twice",
                run.hook,
                run.unit,
                call.tool,
                call.args
            );
        }
    }
}

/// Writes the charm directory: metadata, config and actions of this repository, its
/// `dispatch`, and `bin/synapse-k8s` running the charm binary under test with the unit's own
/// containers directory.
fn make_charm_dir(charm: &Path, containers: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    fs::create_dir_all(charm.join("bin")).expect("charm directory");
    for file in ["metadata.yaml", "config.yaml", "actions.yaml", "dispatch"] {
        fs::copy(repo.join(file), charm.join(file)).unwrap_or_else(|error| panic!("copy {file}: {error}"));
    }
    let wrapper = format!(
        "#!/bin/sh\nCHARM_CONTAINERS_DIR=\"{}/$(printf %s \"$JUJU_UNIT_NAME\" | tr / -)\" exec \"{}\" \"$@\"\n",
        containers.display(),
        env!("CARGO_BIN_EXE_synapse-k8s"),
    );
    fs::write(charm.join("bin/synapse-k8s"), wrapper).expect("wrapper");
    for file in ["dispatch", "bin/synapse-k8s"] {
        fs::set_permissions(charm.join(file), fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            leaks::assert_no_secret_leaks(&self.sim, APP, self.pebbles.values());
            leaks::assert_secret_files_private(&self.sim, APP, self.pebbles.values());
        }
    }
}
