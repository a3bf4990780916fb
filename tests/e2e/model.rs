//! [`E2e`]: the Synapse charm in a simulated model whose units' Pebbles run real commands.
//!
//! Each unit's Pebble runs exec commands on the host and, for [`Services::Real`], its
//! services as host processes. `command_map` sends the image's commands to the shims of
//! `tests/e2e/shims` (through three-line wrappers naming the venv python): `/start.py`
//! starts Synapse, `python3` runs Synapse's configuration check and the charm's database
//! inspection, `synapse_port_db` (the venv's script) ports SQLite to PostgreSQL, `chown`
//! changes the data directory, each in a private mount namespace with the unit's container
//! data at `/data`.
//!
//! Each unit lives in a simulated pod of the test's own [`PodNetwork`]: its Pebble (and so
//! Synapse, the exec commands and the health checks) runs in the pod, the charm's hooks and
//! actions run there too (`bin/synapse-k8s` enters `$JUJU_UNIT_NAME`'s pod), and the
//! checks reach Synapse at `http://<pod address>:8008`. No host port is used, so the tests
//! run in parallel.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use juju_sim::model::{ActionRecord, Bag, SecretOwner};
use juju_sim::{AppSpec, Event};
use matrix_auth::protocol::{ENCRYPTION_KEY_CONTENT, ENCRYPTION_KEY_LABEL, REGISTRATION_KEY};
use matrix_auth::Registration;
use pebble_sim::{ExecMode, PebbleSim, ServiceMode, SimConfig};
use pod_sim::{Pod, PodNetwork};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{json, Value};
use test_support::{assert_hooks_succeeded, poll_until};

use crate::host;
use crate::http;
use crate::support::requirers::make_rust_requirer_dir;
use crate::support::{Harness, APP, CONTAINER, SERVER_NAME};

/// The Pebble service running Synapse.
const SERVICE: &str = "synapse";
/// How long Synapse may take to answer `/health` after its service started.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(120);
/// The image's commands that run on the host, through the wrappers of [`E2e::new`].
const MAPPED_COMMANDS: [&str; 5] = ["/start.py", "python3", "chown", "synapse_port_db", "/usr/sbin/nginx"];

/// How a unit's Pebble runs the plan's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Services {
    /// Real processes: the charm's layer starts Synapse on port 8008.
    Real,
    /// Simulated (nothing runs); exec commands, and so the configuration check, still run
    /// for real.
    Simulated,
}

/// The charm's configuration for loopback-only tests: no federation with anyone but itself,
/// and a trusted key server under `.invalid`, which never resolves (the charm renders
/// Synapse's default, matrix.org, when the option is unset, and cannot render an empty list).
pub fn loopback_config() -> Vec<(&'static str, Value)> {
    vec![
        ("server_name", json!(SERVER_NAME)),
        ("federation_domain_whitelist", json!(SERVER_NAME)),
        ("trusted_key_servers", json!("keys.invalid")),
    ]
}

/// A simulated model around the Synapse charm with real workload commands, each unit in its
/// own pod. Dropped in field order: the Pebbles (and Synapse) first, then the pods, then
/// their network.
pub struct E2e {
    pebbles: BTreeMap<String, PebbleSim>,
    pods: BTreeMap<String, Pod>,
    network: PodNetwork,
    pub harness: Harness,
    wrappers: tempfile::TempDir,
    requirer_charm: Option<tempfile::TempDir>,
}

impl E2e {
    pub fn new() -> Self {
        host::check_prerequisites();
        let network = PodNetwork::create().expect("a pod network");
        let python = host::synapse_python();
        let harness = Harness::new();
        // Each unit's hooks and actions run in its pod: `bin/synapse-k8s` (what `dispatch`
        // runs) enters the pod of `$JUJU_UNIT_NAME`, then runs the harness's wrapper.
        let bin = harness.charm_dir().join("bin");
        let unit_program = bin.join("synapse-k8s-unit");
        fs::rename(bin.join("synapse-k8s"), &unit_program).expect("move the charm's wrapper");
        let wrapper = network.unit_wrapper(unit_program.to_str().expect("a UTF-8 path"));
        fs::write(bin.join("synapse-k8s"), wrapper).expect("write the pod wrapper");
        fs::set_permissions(bin.join("synapse-k8s"), fs::Permissions::from_mode(0o755))
            .expect("chmod the pod wrapper");
        // The configuration check, run as the synapse user, mounts its unit's data directory
        // from below this directory, so that user must be able to walk through it.
        let work = harness.charm_dir().parent().expect("the harness's work dir").to_path_buf();
        fs::set_permissions(&work, fs::Permissions::from_mode(0o755)).expect("chmod the work dir");
        let wrappers = host::shared_temp_dir("e2e-commands-");
        let shims = host::repo().join("tests/e2e/shims");
        // The venv's own script, whose `#!` names the venv python, as in Synapse's image.
        let port_db = python.with_file_name("synapse_port_db");
        assert!(port_db.exists(), "{} is missing: the venv has no matrix-synapse", port_db.display());
        for (name, shim, program) in [
            ("start.py", "start-synapse", python.to_str().expect("a UTF-8 path")),
            ("python3", "enter-container", python.to_str().expect("a UTF-8 path")),
            ("chown", "enter-container", "chown"),
            ("synapse_port_db", "enter-container", port_db.to_str().expect("a UTF-8 path")),
            ("nginx", "nginx-in-container", host::NGINX),
        ] {
            let path = wrappers.path().join(name);
            let script = format!("#!/bin/sh\nexec '{}' '{program}' \"$@\"\n", shims.join(shim).display());
            fs::write(&path, script).expect("write a command wrapper");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod a command wrapper");
        }
        Self {
            pebbles: BTreeMap::new(),
            pods: BTreeMap::new(),
            network,
            harness,
            wrappers,
            requirer_charm: None,
        }
    }

    /// Deploys Synapse with one unit per entry of `units`, each in its pod, every Pebble up
    /// from the start; every hook must succeed.
    pub fn deploy(&mut self, units: &[Services], config: &[(&str, Value)]) {
        let count = u32::try_from(units.len()).expect("a few units");
        for (number, services) in (0..count).zip(units) {
            self.create_pod(number);
            self.start_pebble(&format!("{APP}/{number}"), *services);
        }
        self.deploy_units(count, config);
    }

    /// Deploys Synapse with one unit (in its pod) whose Pebble is not up yet: the charm waits
    /// for its container (every hook must succeed) until [`E2e::pebble_ready`].
    pub fn deploy_before_pebble(&mut self, config: &[(&str, Value)]) {
        self.deploy_units_before_pebble(1, config);
    }

    /// [`E2e::deploy_before_pebble`] with `units` units, each in its pod.
    pub fn deploy_units_before_pebble(&mut self, units: u32, config: &[(&str, Value)]) {
        for number in 0..units {
            self.create_pod(number);
        }
        self.deploy_units(units, config);
    }

    /// `juju add-unit synapse`: the next unit gets its pod and a Pebble that runs real
    /// services before Juju creates it; returns its name. Every hook must succeed.
    pub fn add_unit(&mut self) -> String {
        let number = self.harness.sim.app(APP).expect("synapse is deployed").next_unit;
        let unit = format!("{APP}/{number}");
        self.create_pod(number);
        self.harness.sim.set_unit_address(&unit, self.pod_address(&unit)).expect("a future unit's address");
        self.start_pebble(&unit, Services::Real);
        let (added, runs) = self.harness.sim.add_unit(APP).expect("add-unit runs");
        assert_eq!(added, unit);
        assert_hooks_succeeded(&runs);
        unit
    }

    /// `juju remove-unit` of `units` at once; every hook must succeed. Their Pebbles (and
    /// what they run) stop and their pods go, as Kubernetes deletes them.
    pub fn remove_units(&mut self, units: &[&str]) {
        let runs = self.harness.sim.remove_units(units).expect("remove-unit runs");
        assert_hooks_succeeded(&runs);
        for unit in units {
            self.pebbles.remove(*unit);
            self.pods.remove(*unit);
        }
    }

    /// `juju deploy` of `units` units, each with its pod's address.
    fn deploy_units(&mut self, units: u32, config: &[(&str, Value)]) {
        let mut spec = AppSpec::charm(APP, self.harness.charm_dir()).units(units);
        for number in 0..units {
            spec = spec.unit_address(number, self.pod_address(&format!("{APP}/{number}")));
        }
        for (key, value) in config {
            spec = spec.config(*key, value.clone());
        }
        assert_hooks_succeeded(&self.harness.sim.deploy(spec).expect("deploy runs"));
    }

    /// Makes the pod of unit `synapse/<number>`.
    fn create_pod(&mut self, number: u32) {
        let pod = Pod::create(&self.network, APP, number).expect("a pod");
        self.pods.insert(format!("{APP}/{number}"), pod);
    }

    fn pod(&self, unit: &str) -> &Pod {
        self.pods.get(unit).unwrap_or_else(|| panic!("no pod for {unit}"))
    }

    /// The host's address on the pods' network (which the pods reach) and its subnet.
    pub fn host_on_network(&self) -> (Ipv4Addr, String) {
        (self.network.host_address(), self.network.subnet())
    }

    /// The address of `unit`'s pod, where its Synapse listens.
    pub fn pod_address(&self, unit: &str) -> Ipv4Addr {
        self.pod(unit).address()
    }

    /// Starts `unit`'s Pebble (real services) and fires `synapse-pebble-ready`; every hook
    /// must succeed.
    pub fn pebble_ready(&mut self, unit: &str) {
        self.start_pebble(unit, Services::Real);
        self.fire_pebble_ready(unit);
    }

    /// Kubernetes replaces `unit`'s pod after its storage was lost: its Pebble (and Synapse)
    /// go, the new container starts with nothing in it, not even in `/data`, and
    /// `synapse-pebble-ready` fires; every hook must succeed.
    pub fn replace_pod_with_empty_storage(&mut self, unit: &str) {
        self.pebbles.remove(unit);
        let root = self.harness.container_path(unit, "/");
        fs::remove_dir_all(&root).unwrap_or_else(|error| panic!("{}: {error}", root.display()));
        self.pebble_ready(unit);
    }

    /// Fires `synapse-pebble-ready` on `unit`, whose Pebble runs; every hook must succeed.
    pub fn fire_pebble_ready(&mut self, unit: &str) {
        let event = Event::PebbleReady { container: CONTAINER.into() };
        assert_hooks_succeeded(&self.harness.sim.fire(unit, event).expect("pebble-ready runs"));
    }

    /// Starts `unit`'s Pebble in its pod, without telling Juju.
    pub fn start_pebble(&mut self, unit: &str, services: Services) {
        let socket = self.harness.socket(unit);
        let root = self.harness.container_path(unit, "/");
        fs::create_dir_all(root.join("data")).expect("container root");
        fs::create_dir_all(socket.parent().expect("socket dir")).expect("socket dir");
        let mut config = SimConfig::new(socket, root);
        config.services = match services {
            Services::Real => ServiceMode::Process,
            Services::Simulated => ServiceMode::default(),
        };
        config.exec = ExecMode::Host;
        config.command_map = MAPPED_COMMANDS
            .into_iter()
            .map(|command| {
                let name = command.rsplit('/').next().expect("a command name");
                let wrapper = self.wrappers.path().join(name);
                (command.to_string(), wrapper)
            })
            .collect();
        let pod = self.pod(unit);
        let pebble =
            pod.inside(|| PebbleSim::start(config)).expect("enter the pod").expect("pebble-sim starts");
        if services == Services::Real {
            // The checks talk to the Synapse this unit runs.
            http::set_synapse_address(pod.address());
        }
        self.pebbles.insert(unit.to_string(), pebble);
    }

    pub fn pebble(&self, unit: &str) -> &PebbleSim {
        self.pebbles.get(unit).unwrap_or_else(|| panic!("no Pebble for {unit}"))
    }

    /// A Pebble client for `unit`'s container, as the charm has.
    pub fn pebble_client(&self, unit: &str) -> pebble::Client {
        pebble::Client::new(self.pebble(unit).socket())
    }

    /// How often Pebble started Synapse on `unit`.
    pub fn synapse_starts(&self, unit: &str) -> u32 {
        self.pebble(unit).service_starts(SERVICE)
    }

    /// Waits until the Synapse of `unit` answers `/health` on port 8008 of its pod (where the
    /// checks point afterwards); panics with its log otherwise.
    pub fn wait_for_synapse(&self, unit: &str) {
        http::set_synapse_address(self.pod_address(unit));
        // Done when Synapse answers, or when Pebble gave up on it (no use waiting longer).
        let answered = poll_until(HEALTH_TIMEOUT, Duration::from_millis(100), || {
            if http::synapse("GET", "/health", None, None).is_ok_and(|response| response.status == 200) {
                return Some(true);
            }
            let state = self.pebble(unit).service_state(SERVICE);
            matches!(state, None | Some(pebble_sim::ServiceStatus::Error)).then_some(false)
        });
        if answered != Some(true) {
            panic!(
                "Synapse on {unit} did not answer /health (service {:?}, unit status {:?});\n\
                 the charm's warnings and errors:\n{}\nSynapse's log:\n{}",
                self.pebble(unit).service_state(SERVICE),
                self.harness.status(unit),
                self.charm_problems(unit),
                self.synapse_log(unit)
            );
        }
    }

    /// The charm's `WARNING` and `ERROR` log lines on `unit`.
    pub fn charm_problems(&self, unit: &str) -> String {
        self.harness
            .sim
            .logs(unit)
            .filter(|record| matches!(record.level.as_str(), "WARNING" | "ERROR"))
            .map(|record| format!("{} {}\n", record.level, record.message))
            .collect()
    }

    /// Everything the Synapse service of `unit` printed (Pebble keeps the last 1000 lines).
    pub fn synapse_log(&self, unit: &str) -> String {
        let response = http::pebble_get(self.pebble(unit).socket(), "/v1/logs?services=synapse&n=-1")
            .expect("Pebble serves logs");
        response
            .text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|entry| entry["message"].as_str().map(str::to_string))
            .collect()
    }

    pub fn run_action(&mut self, unit: &str, action: &str, params: Value) -> ActionRecord {
        let params = params.as_object().cloned().expect("parameters are an object");
        let result = self.harness.sim.run_action(unit, action, params).expect("the action runs");
        assert_eq!(result.run.exit_code, 0, "{action} on {unit}: {}", result.run.stderr);
        assert_hooks_succeeded(&result.followups);
        result.record
    }

    /// Registers `localpart` on `unit`'s Synapse through the shared-secret API, with the
    /// secret its homeserver.yaml holds: the new user's password and access token.
    pub fn register_user(&self, unit: &str, localpart: &str) -> (String, String) {
        let config = load_with_pyyaml(&self.container_path(unit, "/data/homeserver.yaml"));
        let secret =
            SecretString::from(config["registration_shared_secret"].as_str().expect("a string").to_string());
        let client = synapse_admin::AdminClient::new(&http::synapse_url()).expect("a client");
        let user = synapse_admin::UserId::new(localpart, SERVER_NAME).expect("a user id");
        let password = synapse_admin::generate_password();
        let registered = client.register(&secret, &user, &password, false).expect("registration");
        (password.expose_secret().to_string(), registered.access_token.expose_secret().to_string())
    }

    /// The value under `key` of the latest revision of the secret `app` owns with `label`.
    pub fn secret_value(&self, app: &str, label: &str, key: &str) -> Option<SecretString> {
        let secret = self.harness.sim.model().secrets.values().find(|secret| {
            secret.label.as_deref() == Some(label) && secret.owner == SecretOwner::Application(app.into())
        })?;
        let encoded = secret.latest()?.content.get(key)?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64 content");
        Some(SecretString::from(String::from_utf8(bytes).expect("UTF-8 content")))
    }

    /// How many revisions the secret `app` owns with `label` has.
    pub fn secret_revisions(&self, app: &str, label: &str) -> usize {
        self.harness
            .sim
            .model()
            .secrets
            .values()
            .find(|secret| {
                secret.label.as_deref() == Some(label) && secret.owner == SecretOwner::Application(app.into())
            })
            .map_or(0, |secret| secret.revisions.len())
    }

    /// Deploys the Rust example requirer (`examples/matrix-auth-requirer`) as `app`.
    pub fn deploy_bridge(&mut self, app: &str, config: &[(&str, Value)]) {
        let dir = self.requirer_charm.get_or_insert_with(|| {
            let dir = host::shared_temp_dir("requirer-charm-");
            make_rust_requirer_dir(dir.path());
            dir
        });
        let mut spec = AppSpec::charm(app, dir.path());
        for (key, value) in config {
            spec = spec.config(*key, value.clone());
        }
        assert_hooks_succeeded(&self.harness.sim.deploy(spec).expect("deploy runs"));
    }

    /// `juju integrate <app> synapse`; returns the relation id.
    pub fn integrate(&mut self, app: &str) -> u32 {
        let (relation, runs) = self.harness.sim.integrate(app, APP).expect("integrate runs");
        assert_hooks_succeeded(&runs);
        relation
    }

    /// The registration `app` sent on `relation`, decrypted with Synapse's key.
    pub fn sent_registration(&self, relation: u32, app: &str) -> Registration {
        let bag = self.harness.sim.relation_data(relation, &Bag::App(app.into())).expect("relation exists");
        let token = bag.get(REGISTRATION_KEY).unwrap_or_else(|| panic!("{app} sent no registration"));
        let key = self
            .secret_value(APP, ENCRYPTION_KEY_LABEL, ENCRYPTION_KEY_CONTENT)
            .expect("Synapse created its encryption key");
        let text = matrix_auth::decrypt_string(&key, token).expect("decrypts with Synapse's key");
        Registration::parse(text.expose_secret()).expect("a valid registration")
    }

    /// The host path of `path` in `unit`'s container.
    pub fn container_path(&self, unit: &str, path: &str) -> PathBuf {
        self.harness.container_path(unit, path)
    }
}

impl Drop for E2e {
    /// Stops every Pebble, which kills the Synapse processes, before the pods go (which
    /// kill whatever is left in them) and their network last.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            crate::support::leaks::assert_no_secret_leaks(&self.harness.sim, APP, self.pebbles.values());
            crate::support::leaks::assert_secret_files_private(&self.harness.sim, APP, self.pebbles.values());
        }
        self.pebbles.clear();
        self.pods.clear();
    }
}

/// Reads a YAML file with real PyYAML (`yaml.safe_load`, as Synapse does) into JSON; a value
/// JSON cannot hold (a date, say) comes back as its Python `repr` string.
pub fn load_with_pyyaml(path: &Path) -> Value {
    let output = std::process::Command::new(host::synapse_python())
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1], encoding='utf-8')), default=repr))"])
        .arg(path)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "PyYAML could not read {}:\n{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from Python")
}
