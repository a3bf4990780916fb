//! One simulated model for one charm: the Synapse application (one unit, the leader) with
//! its own simulated Pebble, and passive requirer applications, each with an appservice
//! registration encrypted with Synapse's key in its application bag. Setup writes to the
//! model directly, so only the hooks under test run the charm.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, ensure, Context as _};
use juju_sim::model::{Bag, SecretOwner};
use juju_sim::{AppSpec, CharmMeta, Event, HookRun, Simulator};
use matrix_auth::protocol::{ENCRYPTION_KEY_CONTENT, ENCRYPTION_KEY_LABEL, REGISTRATION_KEY};
use pebble_sim::{ExecRule, PebbleSim, SimConfig};
use secrecy::SecretString;
use serde_json::Value;
use sha2::Digest as _;

use crate::charms::{Charms, Flavor};
use crate::sample::Sample;

pub const APP: &str = "synapse";
pub const UNIT: &str = "synapse/0";
pub const SERVER_NAME: &str = "example.com";
pub const ENDPOINT: &str = "matrix-auth";
const CONTAINER: &str = "synapse";
const SERVICE: &str = "synapse";
const DATA_DIR: &str = "/data";

/// A passive requirer application and the registration it last sent.
#[derive(Debug, Clone)]
pub struct Requirer {
    pub app: String,
    pub relation: u32,
    /// How many registrations it has sent; each one has new tokens.
    pub generation: u32,
    pub registration: String,
}

pub struct BenchModel {
    pub flavor: Flavor,
    pub sim: Simulator,
    pebble: PebbleSim,
    /// The container root and the socket directory.
    work: tempfile::TempDir,
    pub requirers: Vec<Requirer>,
}

impl BenchModel {
    /// An empty model with Synapse's Pebble running (Synapse not added yet).
    pub fn new(charms: &Charms, flavor: Flavor) -> anyhow::Result<Self> {
        let work = tempfile::Builder::new().prefix("hook-bench-unit-").tempdir()?;
        let root = work.path().join("root");
        fs::create_dir_all(root.join(DATA_DIR.trim_start_matches('/')))?;
        let sockets = work.path().join("containers");
        fs::create_dir_all(sockets.join(CONTAINER))?;
        let pebble = PebbleSim::start(SimConfig::new(sockets.join(CONTAINER).join("pebble.socket"), root))?;
        pebble.script_exec(ExecRule::new(["python3", "-m", "synapse.config"]).stdout("Config parses OK!\n"));
        pebble.script_exec(ExecRule::new(["chown"]));
        let mut sim = Simulator::new()?;
        // Generous: a loaded 2-core machine runs 100-relation Python hooks slowly.
        sim.set_hook_timeout(Duration::from_secs(600));
        for (key, value) in charms.env(flavor) {
            sim.set_env(key, value);
        }
        Ok(Self { flavor, sim, pebble, work, requirers: Vec::new() })
    }

    /// The Synapse application spec: the unit finds its Pebble through `CHARM_CONTAINERS_DIR`.
    pub fn spec(&self, charms: &Charms) -> AppSpec {
        AppSpec::charm(APP, charms.dir(self.flavor))
            .config("server_name", SERVER_NAME)
            .unit_env("CHARM_CONTAINERS_DIR", self.work.path().join("containers").display().to_string())
    }

    /// Deploys Synapse with every hook of the deploy sequence.
    pub fn deploy(&mut self, charms: &Charms) -> anyhow::Result<()> {
        let runs = self.sim.deploy(self.spec(charms))?;
        ensure_succeeded(&runs)?;
        ensure!(self.service_running(), "{}: Synapse is not running after deploy", self.flavor);
        Ok(())
    }

    /// Adds `count` passive requirers related to Synapse (no hooks run).
    pub fn add_requirers(&mut self, count: usize) -> anyhow::Result<()> {
        for _ in 0..count {
            let number = self.requirers.len();
            let app = format!("bridge{number}");
            let meta = CharmMeta::from_yaml(&format!(
                "name: {app}\nrequires:\n  {ENDPOINT}: {{interface: matrix_auth, limit: 1}}\n"
            ))?;
            self.sim.add_app(AppSpec::passive(&app, meta))?;
            let relation =
                self.sim.add_relation(&format!("{APP}:{ENDPOINT}"), &format!("{app}:{ENDPOINT}"))?;
            self.requirers.push(Requirer { app, relation, generation: 0, registration: String::new() });
        }
        Ok(())
    }

    /// Each requirer (or only those at `which`) sends a new registration, encrypted with
    /// Synapse's key, as its leader would; no hook runs.
    pub fn send_registrations(&mut self, which: &[usize]) -> anyhow::Result<()> {
        let key = self.encryption_key()?;
        for &index in which {
            let requirer = &mut self.requirers[index];
            requirer.generation += 1;
            requirer.registration = registration(index, requirer.generation);
            let token = matrix_auth::encrypt_string(&key, &requirer.registration)?;
            let relation =
                self.sim.model_mut().relation_mut(requirer.relation).context("the requirer's relation")?;
            relation
                .app_data
                .entry(requirer.app.clone())
                .or_default()
                .insert(REGISTRATION_KEY.to_string(), token);
        }
        Ok(())
    }

    /// Sets a Synapse option without running a hook.
    pub fn set_option(&mut self, key: &str, value: Value) -> anyhow::Result<()> {
        let app = self.sim.model_mut().app_mut(APP).context("the Synapse application")?;
        app.config.insert(key.to_string(), value);
        Ok(())
    }

    /// Runs one hook on the Synapse unit and measures it; it must succeed and leave no
    /// hook of a charm queued.
    pub fn measure(&mut self, event: Event) -> anyhow::Result<Sample> {
        let requests_before = self.pebble.requests().len();
        let files_before = snapshot(&self.container_path(DATA_DIR))?;
        let starts_before = self.pebble.service_starts(SERVICE);
        let run = self.sim.run_hook(UNIT, event)?;
        ensure!(run.succeeded(), "{}: {} failed:\n{}", self.flavor, run.hook, run.stderr);
        let followups = self.sim.run_until_quiet()?;
        ensure!(
            followups.is_empty(),
            "{}: {} queued hooks: {:?}",
            self.flavor,
            run.hook,
            hook_names(&followups)
        );
        let mut pebble = BTreeMap::new();
        for request in self.pebble.requests().iter().skip(requests_before) {
            *pebble.entry(request_kind(&request.method, &request.path)).or_insert(0) += 1;
        }
        let files_after = snapshot(&self.container_path(DATA_DIR))?;
        let restarts = self.pebble.service_starts(SERVICE) - starts_before;
        Ok(Sample::new(&run, pebble, changed_files(&files_before, &files_after), restarts))
    }

    /// The host path of a container path.
    pub fn container_path(&self, path: &str) -> PathBuf {
        self.work.path().join("root").join(path.trim_start_matches('/'))
    }

    pub fn read(&self, path: &str) -> anyhow::Result<String> {
        fs::read_to_string(self.container_path(path))
            .with_context(|| format!("{}: cannot read {path}", self.flavor))
    }

    /// homeserver.yaml, parsed.
    pub fn homeserver(&self) -> anyhow::Result<Value> {
        Ok(safe_yaml::from_str(&self.read("/data/homeserver.yaml")?)?)
    }

    pub fn service_running(&self) -> bool {
        self.pebble.service_state(SERVICE) == Some(pebble_sim::ServiceStatus::Active)
    }

    pub fn unit_status(&self) -> anyhow::Result<(String, String)> {
        let status = self.sim.unit_status(UNIT)?;
        Ok((status.status.clone(), status.message.clone()))
    }

    /// Synapse's application bag on a relation.
    pub fn provider_bag(&self, relation: u32) -> anyhow::Result<BTreeMap<String, String>> {
        Ok(self.sim.relation_data(relation, &Bag::App(APP.into()))?)
    }

    /// The Fernet key Synapse shares with requirers (its `encryption-key-secret`).
    fn encryption_key(&self) -> anyhow::Result<SecretString> {
        let Some(secret) = self.sim.model().secrets.values().find(|secret| {
            secret.label.as_deref() == Some(ENCRYPTION_KEY_LABEL)
                && secret.owner == SecretOwner::Application(APP.into())
        }) else {
            bail!("{}: Synapse has not created its encryption key", self.flavor);
        };
        let content = secret.latest().context("a revision")?.content.decoded();
        Ok(SecretString::from(content.get(ENCRYPTION_KEY_CONTENT).context("the key")?.clone()))
    }
}

/// The appservice registration of requirer `index`, generation `generation`: the shape the
/// IRC bridge sends, with tokens that change every generation.
pub fn registration(index: usize, generation: u32) -> String {
    let token = |kind: &str| hex(&sha2::Sha256::digest(format!("{kind}/{index}/{generation}")));
    format!(
        "id: bridge{index}\n\
         hs_token: {}\n\
         as_token: {}\n\
         url: http://bridge{index}.test-model.svc.cluster.local:8090\n\
         sender_localpart: bridge{index}-bot\n\
         de.sorunome.msc2409.push_ephemeral: true\n\
         protocols:\n- irc\n\
         namespaces:\n  users:\n  - exclusive: true\n    regex: '@bridge{index}_.*:example\\.com'\n  \
         aliases:\n  - exclusive: true\n    regex: '#bridge{index}_.*:example\\.com'\n\
         rate_limited: false\n",
        token("hs"),
        token("as"),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `METHOD /path` with numeric IDs as `{id}`, keeping the `action` of file requests (read,
/// list).
fn request_kind(method: &str, path: &str) -> String {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let path: Vec<&str> = path
        .split('/')
        .map(|segment| {
            if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                segment
            }
        })
        .collect();
    let path = path.join("/");
    match query.split('&').find(|pair| pair.starts_with("action=")) {
        Some(action) => format!("{method} {path}?{action}"),
        None => format!("{method} {path}"),
    }
}

/// Modification time and size of every file under `dir`.
fn snapshot(dir: &Path) -> anyhow::Result<BTreeMap<PathBuf, (SystemTime, u64)>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files.insert(entry.path(), (meta.modified()?, meta.len()));
            }
        }
    }
    Ok(files)
}

/// Files created, changed (time or size) or removed between two snapshots.
fn changed_files(
    before: &BTreeMap<PathBuf, (SystemTime, u64)>,
    after: &BTreeMap<PathBuf, (SystemTime, u64)>,
) -> usize {
    let changed = after.iter().filter(|(path, stamp)| before.get(*path) != Some(stamp)).count();
    let removed = before.keys().filter(|path| !after.contains_key(*path)).count();
    changed + removed
}

pub fn ensure_succeeded(runs: &[HookRun]) -> anyhow::Result<()> {
    for run in runs {
        ensure!(run.succeeded(), "{} on {} failed:\n{}", run.hook, run.unit, run.stderr);
    }
    Ok(())
}

fn hook_names(runs: &[HookRun]) -> Vec<String> {
    runs.iter().map(|run| format!("{} on {}", run.hook, run.unit)).collect()
}
