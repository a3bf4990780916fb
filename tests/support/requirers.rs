//! Requirer charms next to Synapse in one simulated model: the Rust example charm
//! (`examples/matrix-auth-requirer`, its binary built on demand) and the Python ops charm
//! (`tests/python/requirer_charm`, run with the venv of `scripts/python-env`), plus readers
//! for what crossed the relation: the provider's key, the decrypted registration, the files
//! in Synapse's container.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use juju_sim::model::{Bag, SecretOwner};
use juju_sim::{AppSpec, HookRun};
use matrix_auth::protocol::{ENCRYPTION_KEY_CONTENT, ENCRYPTION_KEY_LABEL, REGISTRATION_KEY};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Digest as _;
use test_support::{assert_hooks_succeeded, PythonVenv};

use super::{Harness, APP};

/// The environment variable the Python requirer's `dispatch` runs its interpreter from.
pub const PYTHON_ENV: &str = "MATRIX_AUTH_REQUIRER_PYTHON";

/// Unit-state keys both requirer charms record.
pub const STATE_HOMESERVER: &str = "homeserver";
pub const STATE_PROVIDER_APP: &str = "provider-app";
pub const STATE_SHARED_SECRET: &str = "shared-secret-sha256";
pub const STATE_REGISTRATION: &str = "registration-sha256";

const RUST_BINARY: &str = "matrix-auth-requirer";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `<target>/<profile>` of the running test executable.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().expect("a directory");
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.parent().expect("the profile directory").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The example requirer's binary, built (once per test process) into the target directory
/// of the running tests; Cargo rebuilds it only if its sources changed.
pub fn rust_requirer_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let profile = profile_dir();
        let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        // `--workspace`, not `-p`: the dependencies keep the features of the workspace build,
        // so Cargo reuses them instead of compiling another copy.
        command.args(["build", "--quiet", "--workspace", "--bin", RUST_BINARY]);
        match profile.file_name().and_then(|name| name.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                command.arg("--release");
            }
            Some(other) => {
                command.args(["--profile", other]);
            }
        }
        if let Some(target) = profile.parent() {
            command.arg("--target-dir").arg(target);
        }
        let output = command.current_dir(repo()).output().expect("cargo runs");
        assert!(output.status.success(), "{command:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
        let binary = profile.join(RUST_BINARY);
        assert!(binary.exists(), "{} was not built", binary.display());
        binary
    })
}

/// Writes the Rust example charm's directory into `dir`: its metadata, config, dispatch and
/// the freshly built binary.
pub fn make_rust_requirer_dir(dir: &Path) {
    let source = repo().join("examples/matrix-auth-requirer");
    std::fs::create_dir_all(dir.join("bin")).expect("charm directory");
    for file in ["metadata.yaml", "config.yaml", "dispatch"] {
        std::fs::copy(source.join(file), dir.join(file))
            .unwrap_or_else(|error| panic!("copy {file}: {error}"));
    }
    std::os::unix::fs::symlink(rust_requirer_binary(), dir.join("bin").join(RUST_BINARY))
        .expect("link binary");
}

/// The Python requirer charm's directory.
pub fn python_requirer_dir() -> PathBuf {
    repo().join("tests/python/requirer_charm")
}

/// The Synapse harness with requirer charms deployed next to it.
pub struct MatrixModel {
    pub harness: Harness,
    /// Holds the Rust requirer's charm directory.
    charms: tempfile::TempDir,
}

impl MatrixModel {
    /// Synapse with `units` units (server_name [`super::SERVER_NAME`]), every hook succeeded.
    pub fn new(units: u32) -> Self {
        let mut harness = Harness::new();
        assert_hooks_succeeded(&harness.deploy(units, &[("server_name", Value::from(super::SERVER_NAME))]));
        let charms =
            tempfile::Builder::new().prefix("requirer-charm-").tempdir().expect("temporary directory");
        make_rust_requirer_dir(charms.path());
        Self { harness, charms }
    }

    /// Deploys the Rust example charm as `app`.
    pub fn deploy_rust(&mut self, app: &str, units: u32, config: &[(&str, Value)]) -> Vec<HookRun> {
        self.deploy(AppSpec::charm(app, self.charms.path()).units(units), config)
    }

    /// Deploys the Python charm as `app`, run by the `profile` venv (`ops` or `ops2`).
    pub fn deploy_python(&mut self, app: &str, profile: &str, config: &[(&str, Value)]) -> Vec<HookRun> {
        self.harness.sim.set_env(PYTHON_ENV, PythonVenv::find(profile).python().to_string_lossy());
        self.harness.sim.set_env("PYTHONDONTWRITEBYTECODE", "1");
        self.deploy(AppSpec::charm(app, python_requirer_dir()), config)
    }

    fn deploy(&mut self, mut spec: AppSpec, config: &[(&str, Value)]) -> Vec<HookRun> {
        for (key, value) in config {
            spec = spec.config(*key, value.clone());
        }
        let runs = self.harness.sim.deploy(spec).expect("deploy runs");
        assert_hooks_succeeded(&runs);
        runs
    }

    /// `juju integrate <app> synapse`: the relation id and every hook that ran.
    pub fn integrate(&mut self, app: &str) -> (u32, Vec<HookRun>) {
        let (relation, runs) = self.harness.sim.integrate(app, APP).expect("integrate runs");
        assert_hooks_succeeded(&runs);
        (relation, runs)
    }

    pub fn configure(&mut self, app: &str, values: &[(&str, Value)]) -> Vec<HookRun> {
        let values = values.iter().map(|(key, value)| (key.to_string(), value.clone())).collect();
        let runs = self.harness.sim.set_config(app, values).expect("config-changed runs");
        assert_hooks_succeeded(&runs);
        runs
    }

    pub fn update_status(&mut self) -> Vec<HookRun> {
        let runs = self.harness.sim.update_status().expect("update-status runs");
        assert_hooks_succeeded(&runs);
        runs
    }

    pub fn status(&self, unit: &str) -> (String, String) {
        self.harness.status(unit)
    }

    /// What a requirer unit recorded in its unit state.
    pub fn state(&self, unit: &str) -> BTreeMap<String, String> {
        self.harness.sim.state(unit).expect("unit exists").clone()
    }

    pub fn app_bag(&self, relation: u32, app: &str) -> BTreeMap<String, String> {
        self.harness.sim.relation_data(relation, &Bag::App(app.into())).expect("relation exists")
    }

    /// The Fernet key Synapse shares with requirers (its `encryption-key-secret`).
    pub fn encryption_key(&self) -> SecretString {
        let secret = self
            .harness
            .sim
            .model()
            .secrets
            .values()
            .find(|secret| {
                secret.label.as_deref() == Some(ENCRYPTION_KEY_LABEL)
                    && secret.owner == SecretOwner::Application(APP.into())
            })
            .expect("Synapse created its encryption key secret");
        let encoded = &secret.latest().expect("a revision").content[ENCRYPTION_KEY_CONTENT];
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64 content");
        SecretString::from(String::from_utf8(bytes).expect("a UTF-8 key"))
    }

    /// The registration `app` published on `relation`, decrypted with Synapse's key.
    pub fn published_registration(&self, relation: u32, app: &str) -> Option<String> {
        let token = self.app_bag(relation, app).remove(REGISTRATION_KEY)?;
        let text =
            matrix_auth::decrypt_string(&self.encryption_key(), &token).expect("decrypts with Synapse's key");
        Some(text.expose_secret().to_string())
    }

    /// The bytes of the registration file Synapse holds for `relation` on `unit`, if any.
    pub fn registration_file(&self, unit: &str, relation: u32) -> Option<Vec<u8>> {
        let path = versioned_registration_path(&self.harness, unit, relation)?;
        std::fs::read(self.harness.container_path(unit, &path)).ok()
    }

    /// `app_service_config_files` of `unit`'s homeserver.yaml (empty when absent).
    pub fn app_service_config_files(&self, unit: &str) -> Vec<String> {
        match &self.harness.homeserver(unit)["app_service_config_files"] {
            Value::Array(files) => {
                files.iter().map(|file| unversioned(file.as_str().expect("a path"))).collect()
            }
            Value::Null => Vec::new(),
            other => panic!("app_service_config_files is not a list: {other}"),
        }
    }

    /// `registration_shared_secret` of `unit`'s homeserver.yaml.
    pub fn registration_shared_secret(&self, unit: &str) -> String {
        let homeserver = self.harness.homeserver(unit);
        homeserver["registration_shared_secret"].as_str().expect("a shared secret").to_string()
    }

    /// How often Pebble started Synapse on `unit`.
    pub fn synapse_starts(&self, unit: &str) -> u32 {
        self.harness.pebble(unit).service_starts("synapse")
    }
}

/// The registration file of a relation as the tests name it: the charm's path without the
/// content hash it adds (`…-<16 hex digits>.yaml`, see [`unversioned`]).
pub fn registration_path(relation: u32) -> String {
    format!("/data/appservice-registration-matrix-auth-{relation}.yaml")
}

/// `path` without the content hash the charm puts before the extension of the files
/// Synapse's loader reads; other paths unchanged.
pub fn unversioned(path: &str) -> String {
    let Some((stem, extension)) = path.rsplit_once('.') else { return path.to_string() };
    match stem.rsplit_once('-') {
        Some((base, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("{base}.{extension}")
        }
        _ => path.to_string(),
    }
}

/// The actual path of `relation`'s registration file on `unit` (the newest name, should
/// there be several).
pub fn versioned_registration_path(harness: &Harness, unit: &str, relation: u32) -> Option<String> {
    let prefix = format!("appservice-registration-matrix-auth-{relation}-");
    let data = harness.container_path(unit, "/data");
    let mut names: Vec<String> = std::fs::read_dir(data)
        .ok()?
        .map(|entry| entry.expect("directory entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    names.sort();
    names.pop().map(|name| format!("/data/{name}"))
}

/// Hex SHA-256 of `bytes`.
pub fn sha256(bytes: impl AsRef<[u8]>) -> String {
    sha2::Sha256::digest(bytes.as_ref()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// How many `relation-set` calls units of `app` made in `runs`.
pub fn relation_sets(runs: &[HookRun], app: &str) -> usize {
    runs.iter()
        .filter(|run| run.unit.split('/').next() == Some(app))
        .map(|run| run.count("relation-set"))
        .sum()
}
