//! The one place with side effects: carries out an [`Outcome`] through the hook tools and
//! Pebble, and reports the workload's resulting status.
//!
//! Configuring Synapse goes: data directory owned by the synapse user, support files, the
//! candidate configuration, Synapse's own check of the candidate, the configuration itself,
//! removal of the stale files the new configuration no longer names, then the layer and a
//! replan (which restarts Synapse only because the layer's digest changed). A rejected
//! candidate stops the sequence with the running configuration intact. Losing Pebble at any
//! step leaves the hook successful and waiting; the next hook starts the sequence again.

use std::collections::BTreeSet;
use std::time::Duration;

use juju::{Bag, Databag, HookToolError, HookTools, NewSecret, Port, SecretOwner, Status, StatusTarget};
use matrix_auth::{ProviderState, PublishOutcome};
use pebble::{ExecRequest, PushOptions, ServiceStatus};
use secrecy::ExposeSecret;

use crate::app_secrets::{self, AppSecrets};
use crate::matrix_auth::Publish;
use crate::reconcile::{DesiredWorkload, NewSecrets, Outcome, WorkloadPlan};
use crate::state::SECRETS_ID_KEY;
use crate::status;
use crate::workload::{
    ContainerFile, CANDIDATE_CONFIG_PATH, CONFIG_PATH, DATA_DIR, HTTP_PORT, LAYER_LABEL, SYNAPSE_GID,
    SYNAPSE_UID,
};

/// How long Synapse may take to load a configuration.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(120);

/// A side effect failed in a way the next hook will not fix by itself.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Tool(#[from] HookToolError),
    #[error("cannot configure Synapse through Pebble")]
    Pebble(#[from] pebble::Error),
}

/// Carries out `outcome` (publishing through `provider`, the leader's view of `matrix-auth`);
/// returns the workload's status.
pub fn apply(
    tools: &HookTools,
    pebble: &pebble::Client,
    outcome: &Outcome,
    provider: Option<&ProviderState>,
) -> Result<Status, ApplyError> {
    for problem in &outcome.problems {
        tracing::error!("{problem}");
    }
    for warning in &outcome.warnings {
        tracing::warn!("{warning}");
    }
    for notice in &outcome.notices {
        tracing::info!("{notice}");
    }
    if let Some(new) = &outcome.new_secrets {
        store_secrets(tools, new)?;
    }
    if let (Some(publish), Some(provider)) = (&outcome.publish, provider) {
        publish_matrix_auth(tools, provider, publish)?;
    }
    if outcome.open_port {
        tools.open_port(Port::Tcp(HTTP_PORT))?;
    }
    let result = match &outcome.workload {
        WorkloadPlan::Unreachable => return Ok(status::waiting_for_pebble()),
        WorkloadPlan::Observe(service) => return Ok(service_status(*service)),
        WorkloadPlan::Start => start(pebble),
        WorkloadPlan::Configure(desired) => SynapseContainer { tools, pebble }.configure(desired),
    };
    match result {
        Err(ApplyError::Pebble(error)) if error.is_connection_error() => {
            tracing::warn!("lost Pebble while configuring Synapse, the next hook resumes: {error}");
            Ok(status::waiting_for_pebble())
        }
        other => other,
    }
}

/// Creates the application secret and announces its ID in the peer relation, which wakes
/// the other units up with a relation-changed event.
fn store_secrets(tools: &HookTools, new: &NewSecrets) -> Result<(), HookToolError> {
    let id = tools.secret_add(&NewSecret {
        content: new.secrets.to_content(),
        label: Some(app_secrets::LABEL.to_string()),
        description: Some("Synapse application secrets (shared by all units)".to_string()),
        owner: SecretOwner::Application,
        ..NewSecret::default()
    })?;
    let announcement = Databag::from([(SECRETS_ID_KEY.to_string(), id.to_string())]);
    tools.relation_set(&new.announce_on, Bag::App, &announcement)?;
    tracing::info!("generated the application secrets for server_name {:?} ({id})", new.secrets.server_name);
    Ok(())
}

/// Publishes the leader's `matrix-auth` data; only what differs from the model is written.
fn publish_matrix_auth(
    tools: &HookTools,
    provider: &ProviderState,
    publish: &Publish,
) -> Result<(), HookToolError> {
    let outcome = provider.publish(tools, &publish.homeserver, Some(&publish.shared_secret))?;
    let PublishOutcome::Published(report) = outcome else { return Ok(()) };
    for label in &report.created {
        tracing::info!("matrix-auth: created the secret {label:?}");
    }
    for (relation, label) in &report.granted {
        tracing::info!("matrix-auth: granted {label:?} to {relation}");
    }
    for (relation, label) in &report.revoked {
        tracing::info!("matrix-auth: revoked {label:?} from the broken {relation}");
    }
    for relation in &report.updated {
        tracing::info!("matrix-auth: published the homeserver and secret IDs to {relation}");
    }
    for label in &report.removed {
        tracing::info!("matrix-auth: removed the secret {label:?}: no matrix-auth relation is left");
    }
    for relation in &report.skipped {
        tracing::debug!("matrix-auth: {relation} has no known remote application yet");
    }
    Ok(())
}

fn service_status(service: Option<ServiceStatus>) -> Status {
    match service {
        Some(ServiceStatus::Active) => status::synapse_running(),
        _ => status::waiting_for_synapse(),
    }
}

/// Replans, which starts Synapse; a start that fails leaves Pebble retrying it.
fn start(pebble: &pebble::Client) -> Result<Status, ApplyError> {
    match pebble.replan() {
        Ok(_) => Ok(status::synapse_running()),
        Err(pebble::Error::Change { err, .. }) => {
            tracing::error!("Synapse did not start: {err}");
            Ok(status::waiting_for_synapse())
        }
        Err(error) => Err(error.into()),
    }
}

/// Writes Synapse's configuration into its container.
struct SynapseContainer<'a> {
    tools: &'a HookTools,
    pebble: &'a pebble::Client,
}

impl SynapseContainer<'_> {
    fn configure(&self, desired: &DesiredWorkload) -> Result<Status, ApplyError> {
        self.tools.status_set(StatusTarget::Unit, &status::configuring())?;
        self.own_data_dir()?;
        for file in &desired.support_files {
            self.push(&file.path, file)?;
        }
        self.push(CANDIDATE_CONFIG_PATH, &desired.config)?;
        let rejection = self.validate_candidate()?;
        if let Some(reason) = rejection {
            self.pebble.remove_path(CANDIDATE_CONFIG_PATH, false)?;
            tracing::error!(
                "Synapse rejected the new configuration, the running one is kept: {}",
                redact(&reason, &desired.secrets)
            );
            return Ok(status::validate_config_failed());
        }
        self.push(CONFIG_PATH, &desired.config)?;
        self.pebble.remove_path(CANDIDATE_CONFIG_PATH, false)?;
        self.remove_stale(desired)?;
        self.pebble.add_layer(LAYER_LABEL, &desired.layer.layer, true)?;
        tracing::info!("Synapse configuration updated (digest {})", desired.layer.digest);
        start(self.pebble)
    }

    /// Synapse (run by start.py as the synapse user) writes its database and media under the
    /// data directory, which the storage mount may give to root.
    fn own_data_dir(&self) -> Result<(), ApplyError> {
        let owned = self
            .pebble
            .list_files(DATA_DIR, None, true)?
            .first()
            .is_some_and(|info| info.user_id == Some(SYNAPSE_UID) && info.group_id == Some(SYNAPSE_GID));
        if !owned {
            let request = ExecRequest::new(["chown", &format!("{SYNAPSE_UID}:{SYNAPSE_GID}"), DATA_DIR]);
            self.pebble.exec_checked(&request)?;
        }
        Ok(())
    }

    /// Removes the files of [`DesiredWorkload::stale`] that the support files do not list
    /// (registrations of relations that are gone or rejected).
    fn remove_stale(&self, desired: &DesiredWorkload) -> Result<(), ApplyError> {
        let wanted: BTreeSet<&str> = desired.support_files.iter().map(|file| file.path.as_str()).collect();
        let stale = desired.stale;
        for entry in self.pebble.list_files(stale.dir, Some(stale.pattern), false)? {
            if wanted.contains(entry.path.as_str()) {
                continue;
            }
            match self.pebble.remove_path(&entry.path, false) {
                Ok(()) => tracing::info!("removed {}: Synapse no longer loads it", entry.path),
                Err(error) if error.is_not_found() => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    fn push(&self, path: &str, file: &ContainerFile) -> Result<(), ApplyError> {
        let options = PushOptions {
            make_dirs: true,
            permissions: Some(file.permissions()),
            user_id: Some(SYNAPSE_UID),
            group_id: Some(SYNAPSE_GID),
            ..PushOptions::default()
        };
        Ok(self.pebble.push(path, &file.content, &options)?)
    }

    /// Loads the candidate with Synapse's own loader, as the synapse user. `Some(reason)`
    /// when Synapse rejects it (or cannot run at all).
    fn validate_candidate(&self) -> Result<Option<String>, ApplyError> {
        let request = ExecRequest {
            working_dir: Some(DATA_DIR.to_string()),
            timeout: Some(VALIDATE_TIMEOUT),
            user_id: Some(SYNAPSE_UID),
            group_id: Some(SYNAPSE_GID),
            ..ExecRequest::new(["python3", "-m", "synapse.config", "-c", CANDIDATE_CONFIG_PATH])
        };
        match self.pebble.exec(&request) {
            Ok(output) if output.success() => Ok(None),
            Ok(output) => {
                let text = [output.stderr, output.stdout]
                    .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string());
                let reason = text.into_iter().filter(|part| !part.is_empty()).collect::<Vec<_>>().join("\n");
                Ok(Some(format!("exit code {}: {reason}", output.exit_code)))
            }
            Err(pebble::Error::Api { message, .. }) => Ok(Some(message)),
            Err(pebble::Error::Change { err, .. }) => Ok(Some(err)),
            Err(error) => Err(error.into()),
        }
    }
}

/// Replaces every secret value in `text` so it can be logged.
fn redact(text: &str, secrets: &AppSecrets) -> String {
    let values = [
        &secrets.registration_shared_secret,
        &secrets.macaroon_secret_key,
        &secrets.form_secret,
        &secrets.signing_key,
    ];
    let mut redacted = text.to_string();
    for value in values {
        let value = value.expose_secret();
        redacted = redacted.replace(value, "<redacted>");
        // The key line's seed alone is a secret too.
        if let Some(seed) = value.rsplit(' ').next().filter(|seed| seed.len() >= 32) {
            redacted = redacted.replace(seed, "<redacted>");
        }
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_every_secret_value() {
        let secrets = AppSecrets::generate("example.com");
        let seed = secrets.signing_key.expose_secret().rsplit(' ').next().unwrap().to_string();
        let text = format!(
            "bad value {} and {} near {seed}",
            secrets.registration_shared_secret.expose_secret(),
            secrets.form_secret.expose_secret()
        );
        let shown = redact(&text, &secrets);
        assert_eq!(shown, "bad value <redacted> and <redacted> near <redacted>");
    }
}
