//! One simulated model for one charm: the Synapse application (one unit, the leader, unless
//! scaled out with [`BenchModel::add_unit`]), each unit with its own simulated Pebble and
//! container root, passive requirer applications, each with an appservice registration
//! encrypted with Synapse's key in its application bag, and optionally a passive
//! postgresql-k8s answering the `database` relation and a passive redis-k8s publishing a real
//! Redis. Setup writes to the model directly where it can, so only the hooks under test run
//! the charm.
//!
//! Each unit finds its Pebble at `$CHARM_CONTAINERS_DIR/synapse/pebble.socket` with its own
//! `CHARM_CONTAINERS_DIR` (`<work>/units/synapse-<n>/containers`): unit 0 through the
//! application's environment, every later unit through `Simulator::set_unit_env` before
//! `add_unit` creates it.

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
pub const PEER_ENDPOINT: &str = "synapse-peers";
const CONTAINER: &str = "synapse";
pub const SERVICE: &str = "synapse";
/// The other services the charms run in the container (the Rust charm's nginx, the
/// federation sender of a scaled main).
pub const OTHER_SERVICES: [&str; 2] = ["synapse-federation-sender", "synapse-nginx"];
const DATA_DIR: &str = "/data";
/// nginx's check of a new configuration, as the Rust charm runs it (the candidate follows).
const NGINX_CHECK: [&str; 2] = ["/usr/sbin/nginx", "-t"];
/// How the Rust charm asks the image for Synapse's version.
const SYNAPSE_VERSION: [&str; 3] = ["python3", "-c", "import synapse; print(synapse.__version__)"];
pub const REDIS_ENDPOINT: &str = "redis";
pub const REDIS_APP: &str = "redis-k8s";
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
    /// Every unit's Pebble, by unit number.
    pebbles: BTreeMap<u32, PebbleSim>,
    /// Every unit's container root and socket directory (`units/synapse-<n>/`).
    work: tempfile::TempDir,
    pub requirers: Vec<Requirer>,
    pub postgresql: Option<Postgresql>,
    /// The `redis` relation, once related.
    pub redis: Option<u32>,
    inspect_script: String,
}

impl BenchModel {
    /// An empty model with the first unit's Pebble running (Synapse not added yet).
    pub fn new(charms: &Charms, flavor: Flavor) -> anyhow::Result<Self> {
        let work = tempfile::Builder::new().prefix("hook-bench-unit-").tempdir()?;
        let mut sim = Simulator::new()?;
        // Generous: a loaded 2-core machine runs 100-relation Python hooks slowly.
        sim.set_hook_timeout(Duration::from_secs(600));
        for (key, value) in charms.env(flavor) {
            sim.set_env(key, value);
        }
        let mut model = Self {
            flavor,
            sim,
            pebbles: BTreeMap::new(),
            work,
            requirers: Vec::new(),
            postgresql: None,
            redis: None,
            inspect_script: charms.inspect_script.clone(),
        };
        model.start_pebble(0)?;
        Ok(model)
    }

    /// Starts unit `number`'s Pebble, answering what the charms run in the container: the
    /// configuration check, `chown`, Synapse's version, the database inspection and nginx's
    /// check.
    fn start_pebble(&mut self, number: u32) -> anyhow::Result<()> {
        let dir = self.unit_dir(number);
        let root = dir.join("root");
        fs::create_dir_all(root.join(DATA_DIR.trim_start_matches('/')))?;
        let sockets = dir.join("containers");
        fs::create_dir_all(sockets.join(CONTAINER))?;
        let pebble = PebbleSim::start(SimConfig::new(sockets.join(CONTAINER).join("pebble.socket"), root))?;
        pebble.script_exec(ExecRule::new(["python3", "-m", "synapse.config"]).stdout("Config parses OK!\n"));
        pebble.script_exec(ExecRule::new(["chown"]).changing_owner());
        // Synapse's version, which the Rust charm reads once per container.
        pebble.script_exec(ExecRule::new(SYNAPSE_VERSION).stdout("1.141.0\n"));
        let inspect = [INSPECT_COMMAND[0], INSPECT_COMMAND[1], self.inspect_script.as_str()];
        pebble.script_exec(ExecRule::new(inspect).stdout(format!("{INSPECTION}\n")).read_stdin());
        pebble.script_exec(ExecRule::new(NGINX_CHECK));
        self.pebbles.insert(number, pebble);
        Ok(())
    }

    /// Unit `number`'s directory: `containers/` (its `CHARM_CONTAINERS_DIR`) and `root/`.
    fn unit_dir(&self, number: u32) -> PathBuf {
        self.work.path().join("units").join(format!("{APP}-{number}"))
    }

    /// The Synapse application spec: unit 0 finds its Pebble through `CHARM_CONTAINERS_DIR`
    /// (later units get their own, see [`BenchModel::add_unit`]).
    pub fn spec(&self, charms: &Charms) -> AppSpec {
        AppSpec::charm(APP, charms.dir(self.flavor))
            .config("server_name", SERVER_NAME)
            .unit_env("CHARM_CONTAINERS_DIR", self.unit_dir(0).join("containers").display().to_string())
    }

    /// `juju add-unit synapse`: starts the next unit's Pebble, points its
    /// `CHARM_CONTAINERS_DIR` at it and runs every hook of the scale step (the new unit's
    /// and the existing units'); they must succeed. The new unit's name and the hooks.
    pub fn add_unit(&mut self) -> anyhow::Result<(String, Vec<HookRun>)> {
        let number = self.sim.app(APP)?.next_unit;
        let unit = format!("{APP}/{number}");
        self.start_pebble(number)?;
        let containers = self.unit_dir(number).join("containers").display().to_string();
        self.sim.set_unit_env(&unit, "CHARM_CONTAINERS_DIR", containers)?;
        let (added, runs) = self.sim.add_unit(APP)?;
        ensure!(added == unit, "{}: juju-sim added {added}, not {unit}", self.flavor);
        ensure_succeeded(&runs)?;
        Ok((unit, runs))
    }

    /// The units of Synapse, by number.
    pub fn units(&self) -> Vec<String> {
        self.pebbles.keys().map(|number| format!("{APP}/{number}")).collect()
    }

    /// `unit`'s Pebble.
    pub fn pebble(&self, unit: &str) -> anyhow::Result<&PebbleSim> {
        let number: u32 =
            unit.strip_prefix(&format!("{APP}/")).and_then(|n| n.parse().ok()).context("a unit")?;
        self.pebbles.get(&number).with_context(|| format!("no Pebble for {unit}"))
    }

    /// How often Pebble started each service ([`SERVICE`] and [`OTHER_SERVICES`]) on each
    /// unit, by unit and service.
    pub fn service_starts(&self) -> BTreeMap<(String, &'static str), u32> {
        let mut starts = BTreeMap::new();
        for (number, pebble) in &self.pebbles {
            for service in std::iter::once(SERVICE).chain(OTHER_SERVICES) {
                starts.insert((format!("{APP}/{number}"), service), pebble.service_starts(service));
            }
        }
        starts
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
        self.pebbles[&0].exec_log().into_iter().filter(|record| record.argv == argv).collect()
    }

    /// The `synapse` service's environment in Pebble's plan.
    pub fn service_environment(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let plan = pebble::Client::new(self.pebbles[&0].socket()).plan()?;
        let service = plan.services.get(SERVICE).context("no synapse service in the plan")?;
        Ok(service.environment.iter().map(|(key, value)| (key.clone(), value.clone())).collect())
    }

    /// Sets a Synapse option without running a hook.
    pub fn set_option(&mut self, key: &str, value: Value) -> anyhow::Result<()> {
        let app = self.sim.model_mut().app_mut(APP).context("the Synapse application")?;
        app.config.insert(key.to_string(), value);
        Ok(())
    }

    /// Runs one hook on the first Synapse unit and measures it; it must succeed and leave
    /// no hook of a charm queued.
    pub fn measure(&mut self, event: Event) -> anyhow::Result<Sample> {
        self.measure_on(UNIT, event)
    }

    /// Runs one hook on `unit` and measures it (its Pebble's requests and starts, its
    /// container's files); it must succeed and leave no hook of a charm queued.
    pub fn measure_on(&mut self, unit: &str, event: Event) -> anyhow::Result<Sample> {
        let pebble = self.pebble(unit)?;
        let requests_before = pebble.requests().len();
        let data_dir = self.container_path_of(unit, DATA_DIR)?;
        let files_before = snapshot(&data_dir)?;
        let starts = |pebble: &PebbleSim| {
            (
                pebble.service_starts(SERVICE),
                OTHER_SERVICES.iter().map(|s| pebble.service_starts(s)).sum::<u32>(),
            )
        };
        let starts_before = starts(pebble);
        let run = self.sim.run_hook(unit, event)?;
        ensure!(run.succeeded(), "{}: {} failed:\n{}", self.flavor, run.hook, run.stderr);
        let followups = self.sim.run_until_quiet()?;
        ensure!(
            followups.is_empty(),
            "{}: {} queued hooks: {:?}",
            self.flavor,
            run.hook,
            hook_names(&followups)
        );
        let pebble = self.pebble(unit)?;
        let mut requests = BTreeMap::new();
        for request in pebble.requests().iter().skip(requests_before) {
            *requests.entry(request_kind(&request.method, &request.path)).or_insert(0) += 1;
        }
        let files_after = snapshot(&data_dir)?;
        let starts_after = starts(pebble);
        Ok(Sample::new(
            &run,
            requests,
            changed_files(&files_before, &files_after),
            starts_after.0 - starts_before.0,
            starts_after.1 - starts_before.1,
        ))
    }

    /// The host path of a container path of `unit`.
    pub fn container_path_of(&self, unit: &str, path: &str) -> anyhow::Result<PathBuf> {
        Ok(self.pebble(unit)?.root().join(path.trim_start_matches('/')))
    }

    pub fn read(&self, path: &str) -> anyhow::Result<String> {
        self.read_of(UNIT, path)
    }

    pub fn read_of(&self, unit: &str, path: &str) -> anyhow::Result<String> {
        fs::read_to_string(self.container_path_of(unit, path)?)
            .with_context(|| format!("{}: cannot read {path} of {unit}", self.flavor))
    }

    /// homeserver.yaml of the first unit, parsed.
    pub fn homeserver(&self) -> anyhow::Result<Value> {
        self.homeserver_of(UNIT)
    }

    /// homeserver.yaml of `unit`, parsed.
    pub fn homeserver_of(&self, unit: &str) -> anyhow::Result<Value> {
        Ok(safe_yaml::from_str(&self.read_of(unit, "/data/homeserver.yaml")?)?)
    }

    pub fn service_running(&self) -> bool {
        self.running(UNIT, SERVICE)
    }

    /// Whether `service` runs on `unit`.
    pub fn running(&self, unit: &str, service: &str) -> bool {
        self.pebble(unit)
            .is_ok_and(|pebble| pebble.service_state(service) == Some(pebble_sim::ServiceStatus::Active))
    }

    /// The command of `service` in `unit`'s plan.
    pub fn service_command(&self, unit: &str, service: &str) -> anyhow::Result<String> {
        let plan = pebble::Client::new(self.pebble(unit)?.socket()).plan()?;
        let service = plan.services.get(service).with_context(|| format!("no {service} in {unit}'s plan"))?;
        Ok(service.command.clone().unwrap_or_default())
    }

    pub fn unit_status(&self) -> anyhow::Result<(String, String)> {
        self.status_of(UNIT)
    }

    pub fn status_of(&self, unit: &str) -> anyhow::Result<(String, String)> {
        let status = self.sim.unit_status(unit)?;
        Ok((status.status.clone(), status.message.clone()))
    }

    /// Relates Synapse to a passive redis-k8s (one unit) and has it publish `host:port` as
    /// redis-k8s does: its unit's `hostname` and `port`, then its leader's `leader-host`. Every
    /// hook that runs must succeed.
    pub fn add_redis(&mut self, host: &str, port: u16) -> anyhow::Result<()> {
        let meta = CharmMeta::from_yaml(&format!(
            "name: {REDIS_APP}\nprovides:\n  {REDIS_ENDPOINT}: {{interface: redis}}\n"
        ))?;
        self.sim.add_app(AppSpec::passive(REDIS_APP, meta))?;
        let (relation, runs) = self
            .sim
            .integrate(&format!("{APP}:{REDIS_ENDPOINT}"), &format!("{REDIS_APP}:{REDIS_ENDPOINT}"))?;
        ensure_succeeded(&runs)?;
        let unit_bag = [("hostname", host.to_string()), ("port", port.to_string())];
        let runs = self.sim.set_relation_data(
            relation,
            Bag::Unit(format!("{REDIS_APP}/0")),
            unit_bag.into_iter().map(|(key, value)| (key.to_string(), value)).collect(),
        )?;
        ensure_succeeded(&runs)?;
        let runs = self.sim.set_relation_data(
            relation,
            Bag::App(REDIS_APP.into()),
            [("leader-host".to_string(), host.to_string())].into(),
        )?;
        ensure_succeeded(&runs)?;
        self.redis = Some(relation);
        Ok(())
    }

    /// The peer relation's id.
    pub fn peer_relation(&self) -> anyhow::Result<u32> {
        self.sim
            .relation_id(&format!("{APP}:{PEER_ENDPOINT}"), &format!("{APP}:{PEER_ENDPOINT}"))
            .context("no peer relation")
    }

    /// Synapse's peer application bag.
    pub fn peer_app_bag(&self) -> anyhow::Result<BTreeMap<String, String>> {
        Ok(self.sim.relation_data(self.peer_relation()?, &Bag::App(APP.into()))?)
    }

    /// Sets `key` in `unit`'s peer unit bag as that unit would (an empty value deletes it),
    /// without running a hook.
    pub fn set_peer_unit_data(&mut self, unit: &str, key: &str, value: &str) -> anyhow::Result<()> {
        let relation = self.peer_relation()?;
        let data = self.sim.model_mut().relation_mut(relation).context("the peer relation")?;
        let bag = data.unit_data.entry(unit.to_string()).or_default();
        if value.is_empty() {
            bag.remove(key);
        } else {
            bag.insert(key.to_string(), value.to_string());
        }
        Ok(())
    }

    /// `unit`'s peer unit bag.
    pub fn peer_unit_bag(&self, unit: &str) -> anyhow::Result<BTreeMap<String, String>> {
        Ok(self.sim.relation_data(self.peer_relation()?, &Bag::Unit(unit.into()))?)
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
