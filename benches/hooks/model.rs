//! One simulated model for one charm: the Synapse application (one unit, the leader) with
//! its own simulated Pebble, passive requirer applications, each with an appservice
//! registration encrypted with Synapse's key in its application bag, and optionally a passive
//! postgresql-k8s answering the `database` relation. Setup writes to the model directly, so
//! only the hooks under test run the charm.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, ensure, Context as _};
use juju_sim::model::{Bag, GrantTarget, SecretOwner};
use juju_sim::{AppSpec, CharmMeta, Event, HookRun, Simulator};
use matrix_auth::protocol::{ENCRYPTION_KEY_CONTENT, ENCRYPTION_KEY_LABEL, REGISTRATION_KEY};
use pebble_sim::{ExecRecord, ExecRule, PebbleSim, SimConfig};
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
pub const DATABASE_ENDPOINT: &str = "database";
pub const POSTGRESQL_APP: &str = "postgresql-k8s";
const POSTGRESQL_PORT: u16 = 5432;
/// The database inspection's command, followed by the script (both charms run the same one).
pub const INSPECT_COMMAND: [&str; 2] = ["python3", "-c"];
/// What the inspection reports of a new, empty database Synapse can use (`inspect.py`'s
/// output).
pub const INSPECTION: &str = r#"{"pending_background_updates": 0, "collate": "C", "ctype": "C", "tables": 0, "port_started": false, "can_create": true, "superuser": true, "fixed": false}"#;

/// A passive requirer application and the registration it last sent.
#[derive(Debug, Clone)]
pub struct Requirer {
    pub app: String,
    pub relation: u32,
    /// How many registrations it has sent; each one has new tokens.
    pub generation: u32,
    pub registration: String,
}

/// The passive postgresql-k8s application's answer on the `database` relation.
#[derive(Debug, Clone)]
pub struct Postgresql {
    pub relation: u32,
    pub username: String,
    pub password: String,
    pub database: String,
    /// `secret-user`: owned by postgresql-k8s, granted to the relation.
    pub user_secret: String,
    /// How many primaries it has had; each one has a new host.
    pub generation: u32,
}

impl Postgresql {
    /// The current primary's host.
    pub fn host(&self) -> String {
        format!("{POSTGRESQL_APP}-primary-{}.test-model.svc.cluster.local", self.generation)
    }

    /// What Synapse records in its service environment for this database (no password).
    pub fn address(&self) -> String {
        format!("postgresql://{}@{}:{POSTGRESQL_PORT}/{}", self.username, self.host(), self.database)
    }
}

pub struct BenchModel {
    pub flavor: Flavor,
    pub sim: Simulator,
    pebble: PebbleSim,
    /// The container root and the socket directory.
    work: tempfile::TempDir,
    pub requirers: Vec<Requirer>,
    pub postgresql: Option<Postgresql>,
    inspect_script: String,
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
        // Only the shared script gets the answer (the Rust charm's version check is also
        // `python3 -c`, and stays unanswered as in the other events).
        let inspect = [INSPECT_COMMAND[0], INSPECT_COMMAND[1], charms.inspect_script.as_str()];
        pebble.script_exec(ExecRule::new(inspect).stdout(format!("{INSPECTION}\n")).read_stdin());
        let mut sim = Simulator::new()?;
        // Generous: a loaded 2-core machine runs 100-relation Python hooks slowly.
        sim.set_hook_timeout(Duration::from_secs(600));
        for (key, value) in charms.env(flavor) {
            sim.set_env(key, value);
        }
        Ok(Self {
            flavor,
            sim,
            pebble,
            work,
            requirers: Vec::new(),
            postgresql: None,
            inspect_script: charms.inspect_script.clone(),
        })
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

    /// Adds a passive postgresql-k8s (one unit) related to Synapse on `database`, without
    /// running hooks: the relation's id.
    pub fn add_postgresql(&mut self) -> anyhow::Result<u32> {
        let meta = CharmMeta::from_yaml(&format!(
            "name: {POSTGRESQL_APP}\nprovides:\n  {DATABASE_ENDPOINT}: {{interface: postgresql_client}}\n"
        ))?;
        self.sim.add_app(AppSpec::passive(POSTGRESQL_APP, meta))?;
        Ok(self.sim.add_relation(
            &format!("{APP}:{DATABASE_ENDPOINT}"),
            &format!("{POSTGRESQL_APP}:{DATABASE_ENDPOINT}"),
        )?)
    }

    /// postgresql-k8s answers the request on `relation` as its leader would (no hook runs):
    /// `secret-user` (username, password, uris) owned by it and granted to the relation, then
    /// `endpoints`, `database`, `version` and the secret's URI in its application bag.
    pub fn answer_database(&mut self, relation: u32) -> anyhow::Result<()> {
        let mut postgresql = Postgresql {
            relation,
            username: format!("relation_id_{relation}"),
            password: hex(&sha2::Sha256::digest(format!("password/{relation}")))[..32].to_string(),
            database: APP.to_string(),
            user_secret: String::new(),
            generation: 1,
        };
        let uris = format!(
            "postgresql://{}:{}@{}:{POSTGRESQL_PORT}/{}",
            postgresql.username,
            postgresql.password,
            postgresql.host(),
            postgresql.database
        );
        let content: BTreeMap<String, String> = [
            ("username", postgresql.username.clone()),
            ("password", postgresql.password.clone()),
            ("uris", uris),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
        let label = format!("{DATABASE_ENDPOINT}.{relation}.user.secret");
        postgresql.user_secret =
            self.sim.add_secret(SecretOwner::Application(POSTGRESQL_APP.into()), content, Some(label))?;
        self.sim.grant_secret(&postgresql.user_secret, relation, GrantTarget::Application(APP.into()))?;
        let bag = [
            ("endpoints", format!("{}:{POSTGRESQL_PORT}", postgresql.host())),
            ("database", postgresql.database.clone()),
            ("version", "14.15".to_string()),
            ("secret-user", postgresql.user_secret.clone()),
        ];
        let relation_data = self.sim.model_mut().relation_mut(relation).context("the database relation")?;
        let provider = relation_data.app_data.entry(POSTGRESQL_APP.to_string()).or_default();
        for (key, value) in bag {
            provider.insert(key.to_string(), value);
        }
        self.postgresql = Some(postgresql);
        Ok(())
    }

    /// postgresql-k8s's primary moves to a new host: a new `endpoints` (no hook runs).
    pub fn move_database(&mut self) -> anyhow::Result<()> {
        let postgresql = self.postgresql.as_mut().context("postgresql-k8s is not related")?;
        postgresql.generation += 1;
        let endpoints = format!("{}:{POSTGRESQL_PORT}", postgresql.host());
        let relation =
            self.sim.model_mut().relation_mut(postgresql.relation).context("the database relation")?;
        relation
            .app_data
            .entry(POSTGRESQL_APP.to_string())
            .or_default()
            .insert("endpoints".into(), endpoints);
        Ok(())
    }

    /// The content of postgresql-k8s's `secret-user`, latest revision.
    pub fn database_secret(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let postgresql = self.postgresql.as_ref().context("postgresql-k8s is not related")?;
        let secret = self.sim.secret(&postgresql.user_secret)?;
        Ok(secret.latest().context("a revision")?.content.decoded())
    }

    /// Every database inspection with the shared script Synapse's Pebble has run
    /// (`python3 -c <script>`).
    pub fn inspections(&self) -> Vec<ExecRecord> {
        let argv = [INSPECT_COMMAND[0], INSPECT_COMMAND[1], self.inspect_script.as_str()];
        self.pebble.exec_log().into_iter().filter(|record| record.argv == argv).collect()
    }

    /// The `synapse` service's environment in Pebble's plan.
    pub fn service_environment(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let plan = pebble::Client::new(self.pebble.socket()).plan()?;
        let service = plan.services.get(SERVICE).context("no synapse service in the plan")?;
        Ok(service.environment.iter().map(|(key, value)| (key.clone(), value.clone())).collect())
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
