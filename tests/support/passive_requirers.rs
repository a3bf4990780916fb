//! The Synapse charm with *passive* `matrix-auth` requirers: applications that run no hooks,
//! whose application bags and secrets the tests write the way a real requirer's leader would
//! (encrypting with `matrix_auth`'s Fernet), so every input, good or bad, is under the test's
//! control. Readers for what the provider left in the model and in Synapse's container.

use std::collections::BTreeMap;

use juju_sim::model::{Bag, Secret, SecretOwner};
use juju_sim::{AppSpec, CharmMeta, HookRun};
use matrix_auth::protocol::{ENCRYPTION_KEY_CONTENT, ENCRYPTION_KEY_LABEL, REGISTRATION_KEY};
use pebble_sim::FileKind;
use secrecy::SecretString;
use serde_json::Value;
use test_support::assert_hooks_succeeded;

use super::requirers::{registration_path, sha256, unversioned, versioned_registration_path};
use super::{Harness, APP, SERVER_NAME};

/// What Synapse publishes without public_baseurl: `https://<server_name>`.
pub const HOMESERVER: &str = "https://example.com";
pub const UNIT0: &str = "synapse/0";
pub const UNIT1: &str = "synapse/1";

/// A registration as the IRC bridge writes it: the users and aliases under `prefix` are the
/// bridge's, exclusively.
pub fn registration(id: &str, as_token: &str, prefix: &str) -> String {
    format!(
        "id: {id}\nhs_token: hs-{as_token}\nas_token: {as_token}\nurl: http://{id}.test:8090\n\
         sender_localpart: {prefix}bot\nde.sorunome.msc2409.push_ephemeral: true\nprotocols:\n  - irc\n\
         namespaces:\n  users:\n    - exclusive: true\n      regex: '@{prefix}.*:example\\.com'\n\
         \x20 aliases:\n    - exclusive: true\n      regex: '#{prefix}.*:example\\.com'\nrate_limited: false\n"
    )
}

/// Synapse and passive requirers in one simulated model.
pub struct ProviderModel {
    pub harness: Harness,
}

impl ProviderModel {
    /// Synapse with `units` units (synapse/0 leads) and `server_name` set, every hook succeeded.
    pub fn new(units: u32) -> Self {
        let mut harness = Harness::new();
        assert_hooks_succeeded(&harness.deploy(units, &[("server_name", Value::from(SERVER_NAME))]));
        Self { harness }
    }

    /// Adds a passive requirer application with `units` units; no hook runs.
    pub fn add_requirer(&mut self, app: &str, units: u32) {
        let meta = CharmMeta::from_yaml(&format!(
            "name: {app}\nrequires:\n  matrix-auth:\n    interface: matrix_auth\n    limit: 1\n"
        ))
        .expect("requirer metadata");
        self.harness.sim.add_app(AppSpec::passive(app, meta).units(units)).expect("requirer added");
    }

    /// `juju integrate <app> synapse`: the relation id and the hooks that ran (all succeeded).
    pub fn integrate(&mut self, app: &str) -> (u32, Vec<HookRun>) {
        let (relation, runs) = self.harness.sim.integrate(app, APP).expect("integrate runs");
        assert_hooks_succeeded(&runs);
        (relation, runs)
    }

    /// A one-unit requirer `app`, related.
    pub fn relate(&mut self, app: &str) -> u32 {
        self.add_requirer(app, 1);
        self.integrate(app).0
    }

    /// Writes the requirer's application bag as its leader would (`""` deletes a key) and
    /// runs the hooks that follows; every hook succeeded.
    pub fn set_bag(&mut self, relation: u32, app: &str, entries: &[(&str, &str)]) -> Vec<HookRun> {
        let data = entries.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
        let runs =
            self.harness.sim.set_relation_data(relation, Bag::App(app.into()), data).expect("bag written");
        assert_hooks_succeeded(&runs);
        runs
    }

    /// Sends `token` as the requirer's `registration_secret`.
    pub fn send_token(&mut self, relation: u32, app: &str, token: &str) -> Vec<HookRun> {
        self.set_bag(relation, app, &[(REGISTRATION_KEY, token)])
    }

    /// Encrypts `text` with Synapse's key and sends it, as an IRC-bridge style requirer does.
    pub fn send(&mut self, relation: u32, app: &str, text: &str) -> Vec<HookRun> {
        let token = matrix_auth::encrypt_string(&self.key(), text).expect("encrypts");
        self.send_token(relation, app, &token)
    }

    /// `update-status` on every unit; every hook succeeded.
    pub fn update_status(&mut self) -> Vec<HookRun> {
        let runs = self.harness.sim.update_status().expect("update-status runs");
        assert_hooks_succeeded(&runs);
        runs
    }

    /// The secret Synapse owns under `label`, if it exists.
    pub fn secret(&self, label: &str) -> Option<&Secret> {
        self.harness.sim.model().secrets.values().find(|secret| {
            secret.label.as_deref() == Some(label) && secret.owner == SecretOwner::Application(APP.into())
        })
    }

    /// The latest content of Synapse's secret `label`.
    pub fn secret_content(&self, label: &str) -> BTreeMap<String, String> {
        let secret = self.secret(label).unwrap_or_else(|| panic!("no secret {label:?}"));
        secret.latest().expect("a revision").decoded()
    }

    /// Synapse's Fernet key (its `encryption-key-secret`).
    pub fn key(&self) -> SecretString {
        SecretString::from(self.secret_content(ENCRYPTION_KEY_LABEL)[ENCRYPTION_KEY_CONTENT].clone())
    }

    /// The relations (and applications) Synapse's secret `label` is granted to.
    pub fn grants(&self, label: &str) -> Vec<(u32, String)> {
        let secret = self.secret(label).unwrap_or_else(|| panic!("no secret {label:?}"));
        secret.grants.iter().map(|grant| (grant.relation_id, grant.target.tag())).collect()
    }

    /// What Synapse published on `relation`.
    pub fn provider_bag(&self, relation: u32) -> BTreeMap<String, String> {
        self.harness.sim.relation_data(relation, &Bag::App(APP.into())).expect("relation exists")
    }

    /// The registration file of `relation` on `unit`, if any.
    pub fn file(&self, unit: &str, relation: u32) -> Option<Vec<u8>> {
        let path = versioned_registration_path(&self.harness, unit, relation)?;
        std::fs::read(self.harness.container_path(unit, &path)).ok()
    }

    /// Asserts `unit` holds exactly `text` for `relation`, under a name with the hash of
    /// `text`, private to the synapse user.
    pub fn assert_file(&self, unit: &str, relation: u32, text: &str) {
        let path = versioned_registration_path(&self.harness, unit, relation)
            .unwrap_or_else(|| panic!("{} missing on {unit}", registration_path(relation)));
        assert!(
            path.ends_with(&format!("-{}.yaml", &sha256(text)[..16])),
            "{path} is not named after its content"
        );
        let meta =
            self.harness.pebble(unit).file_meta(&path).unwrap_or_else(|| panic!("{path} missing on {unit}"));
        assert_eq!(meta.kind, FileKind::File, "{path}");
        assert_eq!(meta.permissions, 0o600, "{path} has mode {:o}", meta.permissions);
        assert_eq!((meta.user_id, meta.group_id), (991, 991), "{path} owner");
        assert_eq!(self.file(unit, relation).as_deref(), Some(text.as_bytes()), "{path} on {unit}");
    }

    /// Every registration file in `unit`'s data directory, by name (without content hash).
    pub fn registration_files(&self, unit: &str) -> Vec<String> {
        let data = self.harness.container_path(unit, "/data");
        let mut names: Vec<String> = std::fs::read_dir(data)
            .expect("data directory")
            .map(|entry| entry.expect("directory entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("appservice-registration-"))
            .map(|name| unversioned(&name))
            .collect();
        names.sort();
        names
    }

    /// `app_service_config_files` of `unit`'s homeserver.yaml (empty when absent).
    pub fn config_files(&self, unit: &str) -> Vec<String> {
        match &self.harness.homeserver(unit)["app_service_config_files"] {
            Value::Array(files) => {
                files.iter().map(|file| unversioned(file.as_str().expect("a path"))).collect()
            }
            Value::Null => Vec::new(),
            other => panic!("app_service_config_files is not a list: {other}"),
        }
    }

    /// How often Pebble started Synapse on `unit`.
    pub fn starts(&self, unit: &str) -> u32 {
        self.harness.pebble(unit).service_starts("synapse")
    }

    pub fn status(&self, unit: &str) -> (String, String) {
        self.harness.status(unit)
    }
}

/// How many calls to `tool` units of `app` made in `runs`.
pub fn calls(runs: &[HookRun], app: &str, tool: &str) -> usize {
    runs.iter().filter(|run| run.unit.split('/').next() == Some(app)).map(|run| run.count(tool)).sum()
}

pub fn active() -> (String, String) {
    ("active".into(), String::new())
}

pub fn blocked(message: &str) -> (String, String) {
    ("blocked".into(), message.into())
}
