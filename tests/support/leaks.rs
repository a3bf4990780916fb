//! The secret leak check every simulated model runs when it is dropped: every value held in
//! a Juju secret of the model (the application secrets, database, SMTP and other relation
//! passwords, tokens), of the charm's secret options (the backup passphrase) and of the keys
//! and passwords providers publish in plain text, is searched for in everything an operator or another application can
//! see: every `juju-log` line, every status the units and applications showed, every
//! action's results, messages and logs, the relation data the Synapse application wrote, each
//! unit's Pebble plan (service definitions and their environment) and the argv of every
//! command run in the containers. A hit fails the test, naming the secret's key and where it
//! showed, never the value. Every file the charm wrote that holds a secret value must also be
//! readable by its owner only, the synapse user.

use juju_sim::Simulator;
use pebble_sim::PebbleSim;

/// Content keys that are not secret (they travel in secrets for convenience).
const NOT_SECRET: [&str; 9] = [
    "server-name",
    "username",
    "tls",
    "tls-ca",
    "endpoints",
    "read-only-endpoints",
    "version",
    "database",
    // The example requirer keeps its appservice's id beside its tokens.
    "appservice-id",
];
/// The charm's options that hold a secret.
const SECRET_OPTIONS: [&str; 1] = ["backup_passphrase"];
/// Relation keys whose plain-text values are secret.
const PLAIN_SECRET_KEYS: [&str; 3] = ["access-key", "secret-key", "password"];
/// The synapse user of Synapse's image, who must own every secret-bearing file.
const SYNAPSE_UID: u32 = 991;
/// Shorter values ("C", "True") match by accident.
const MIN_LENGTH: usize = 8;

/// Panics if a secret value shows anywhere visible. `app` is the charm's application.
pub fn assert_no_secret_leaks<'a>(
    sim: &Simulator,
    app: &str,
    pebbles: impl IntoIterator<Item = &'a PebbleSim>,
) {
    let secrets = secret_values(sim, app);
    if secrets.is_empty() {
        return;
    }
    let model = sim.model();
    let mut places: Vec<(String, String)> = Vec::new();
    for record in &model.logs {
        places.push((format!("juju-log of {} ({})", record.unit, record.hook), record.message.clone()));
    }
    for application in model.applications.values() {
        for status in &application.status_history {
            places.push((format!("status of {}", application.name), status.message.clone()));
        }
        for unit in &application.units {
            for status in &unit.status_history {
                places.push((format!("status of {}", unit.name), status.message.clone()));
            }
        }
    }
    for action in &model.actions {
        let what = format!("action {} on {}", action.name, action.unit);
        places.push((what.clone(), serde_json::Value::Object(action.results.clone()).to_string()));
        places.extend(action.message.iter().map(|message| (what.clone(), message.clone())));
        places.extend(action.logs.iter().map(|line| (what.clone(), line.clone())));
    }
    for relation in model.relations.values() {
        for (owner, bag) in relation.app_data.iter().chain(&relation.unit_data) {
            if owner == app || owner.starts_with(&format!("{app}/")) {
                let text = bag.iter().map(|(key, value)| format!("{key}={value}\n")).collect::<String>();
                places.push((format!("relation {} data of {owner}", relation.id), text));
            }
        }
    }
    for pebble in pebbles {
        if let Ok(plan) = pebble::Client::new(pebble.socket()).plan() {
            places.push(("a Pebble plan".into(), serde_json::to_string(&plan).unwrap_or_default()));
        }
        for exec in pebble.exec_log() {
            places.push(("the argv of a command in the container".into(), exec.argv.join(" ")));
        }
    }
    let mut leaks: Vec<String> = Vec::new();
    for (key, value) in &secrets {
        for (place, text) in &places {
            if text.contains(value.as_str()) {
                leaks.push(format!("{key} in {place}"));
            }
        }
    }
    leaks.sort();
    leaks.dedup();
    assert!(leaks.is_empty(), "secret values are visible: {leaks:#?}");
}

/// Every secret value of the model (see the module documentation), named by where it is kept.
fn secret_values(sim: &Simulator, app: &str) -> Vec<(String, String)> {
    let model = sim.model();
    let mut secrets: Vec<(String, String)> = model
        .secrets
        .values()
        .flat_map(|secret| secret.revisions.iter().map(move |revision| (secret, revision)))
        .flat_map(|(secret, revision)| {
            let label = secret.label.clone().unwrap_or_else(|| secret.id.clone());
            revision.decoded().into_iter().map(move |(key, value)| (format!("{label}/{key}"), value))
        })
        .filter(|(key, value)| {
            value.trim().len() >= MIN_LENGTH
                && !NOT_SECRET.iter().any(|plain| key.ends_with(&format!("/{plain}")))
        })
        .collect();
    // Secrets that travel outside Juju secrets: the charm's secret options, and the keys
    // and passwords providers publish in plain text (track-1 s3-integrator, smtp-legacy).
    if let Some(charm) = model.applications.get(app) {
        for option in SECRET_OPTIONS {
            if let Some(serde_json::Value::String(value)) = charm.config.get(option) {
                if value.trim().len() >= MIN_LENGTH {
                    secrets.push((format!("option {option}"), value.clone()));
                }
            }
        }
    }
    for relation in model.relations.values() {
        for (owner, bag) in relation.app_data.iter().filter(|(owner, _)| *owner != app) {
            for key in PLAIN_SECRET_KEYS {
                if let Some(value) = bag.get(key).filter(|value| value.trim().len() >= MIN_LENGTH) {
                    secrets.push((format!("relation {} {key} of {owner}", relation.id), value.clone()));
                }
            }
        }
    }
    secrets
}

/// Panics unless every file the charm wrote into a container (through Pebble) that holds a
/// secret value is readable by its owner only and owned by the synapse user.
pub fn assert_secret_files_private<'a>(
    sim: &Simulator,
    app: &str,
    pebbles: impl IntoIterator<Item = &'a PebbleSim>,
) {
    let secrets = secret_values(sim, app);
    let mut exposed = Vec::new();
    for pebble in pebbles {
        for path in pebble.written_files() {
            let content = std::fs::read(pebble.root().join(path.trim_start_matches('/'))).unwrap_or_default();
            let content = String::from_utf8_lossy(&content);
            let Some((key, _)) = secrets.iter().find(|(_, value)| content.contains(value.as_str())) else {
                continue;
            };
            match pebble.file_meta(&path) {
                Some(meta) if meta.permissions & 0o077 == 0 && meta.user_id == SYNAPSE_UID => {}
                meta => exposed.push(format!("{path} holds {key} but is {meta:?}")),
            }
        }
    }
    assert!(
        exposed.is_empty(),
        "secret-bearing files others can read or the synapse user does not own: {exposed:#?}"
    );
}
