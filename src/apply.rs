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

use juju::{
    Bag, Databag, HookToolError, HookTools, LogLevel, NewSecret, Port, SecretOwner, Status, StatusTarget,
};
use matrix_auth::{ProviderState, PublishOutcome};
use pebble::{ExecRequest, PushOptions};

use crate::app_secrets;
use crate::data_dir::{MARKER_CONTENT, MARKER_PATH};
use crate::health::Health;
use crate::matrix_auth::Publish;
use crate::reconcile::{DesiredWorkload, NewSecrets, Outcome, SecretsOrigin, WorkloadPlan};
use crate::redact::Redactor;
use crate::state::SECRETS_ID_KEY;
use crate::status;
use crate::workload::{
    ContainerFile, CANDIDATE_CONFIG_PATH, CONFIG_PATH, DATA_DIR, HTTP_PORT, LAYER_LABEL, SERVICE,
    SYNAPSE_GID, SYNAPSE_UID, SYNAPSE_VERSION_COMMAND,
};

/// How long Synapse may take to load a configuration.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a hook that (re)started Synapse waits for it to answer its health check.
const STARTUP_WAIT: Duration = Duration::from_secs(60);
const STARTUP_POLL: Duration = Duration::from_millis(500);
/// How long reading Synapse's version may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

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
    for (level, line) in &outcome.diagnostics {
        let line = outcome.redactor.apply(line);
        match level {
            LogLevel::Error => tracing::error!("{line}"),
            LogLevel::Warning => tracing::warn!("{line}"),
            LogLevel::Info => tracing::info!("{line}"),
            LogLevel::Debug => tracing::debug!("{line}"),
        }
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
    let redactor = &outcome.redactor;
    let result = match &outcome.workload {
        WorkloadPlan::Unreachable => return Ok(status::waiting_for_pebble()),
        WorkloadPlan::Observe(health) => return Ok(health_status(health, redactor, false)),
        WorkloadPlan::Start => start(pebble, redactor),
        WorkloadPlan::Stop => stop(pebble),
        WorkloadPlan::Configure(desired) => SynapseContainer { tools, pebble, redactor }.configure(desired),
    };
    match result {
        Err(ApplyError::Pebble(error)) if error.is_connection_error() => {
            tracing::warn!("lost Pebble while configuring Synapse, the next hook resumes: {error}");
            Ok(status::waiting_for_pebble())
        }
        other => other,
    }
}

/// Stores the application secret and announces its ID in the peer relation, which wakes
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
    match new.origin {
        SecretsOrigin::Generated => tracing::info!(
            "generated the application secrets for server_name {:?} ({id})",
            new.secrets.server_name
        ),
        SecretsOrigin::Container => tracing::warn!(
            "stored the application secrets Synapse already runs with for server_name {:?} ({id}): an earlier hook \
             wrote them into the container but failed before Juju kept its secret",
            new.secrets.server_name
        ),
    }
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

/// The workload status for what the charm knows of Synapse's health; `just_started` when
/// this hook (re)started it.
fn health_status(health: &Health, redactor: &Redactor, just_started: bool) -> Status {
    match health {
        Health::Answering => status::synapse_running(),
        Health::NotRunning(_) => status::waiting_for_synapse(),
        Health::NotAnswering(reason) => {
            tracing::info!("Synapse does not answer its health check: {}", redactor.apply(reason));
            if just_started {
                status::synapse_starting()
            } else {
                status::synapse_not_answering()
            }
        }
        Health::Restarting { last_error } => {
            let last_error = last_error.as_deref().map(|line| redactor.apply(line));
            tracing::error!(
                "Pebble keeps restarting Synapse; its last error: {}",
                last_error.as_deref().unwrap_or("(no output)")
            );
            status::synapse_restarting(last_error.as_deref())
        }
    }
}

/// Replans, which starts Synapse, and waits for it to answer.
fn start(pebble: &pebble::Client, redactor: &Redactor) -> Result<Status, ApplyError> {
    let start_error = match pebble.replan() {
        Ok(_) => None,
        Err(pebble::Error::Change { err, .. }) => {
            tracing::error!("Synapse did not start: {}", redactor.apply(&err));
            Some(err)
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(error) = start_error {
        return Ok(status::synapse_start_failed(&redactor.apply(&error)));
    }
    let health = Health::wait(pebble, STARTUP_WAIT, STARTUP_POLL)?;
    Ok(health_status(&health, redactor, true))
}

/// Stops Synapse on a unit that must not serve.
fn stop(pebble: &pebble::Client) -> Result<Status, ApplyError> {
    pebble.stop(&[SERVICE])?;
    tracing::warn!(
        "stopped Synapse on this unit: only the leader may serve while scale-out is not supported"
    );
    Ok(status::waiting_for_synapse())
}

/// Writes Synapse's configuration into its container.
struct SynapseContainer<'a> {
    tools: &'a HookTools,
    pebble: &'a pebble::Client,
    redactor: &'a Redactor,
}

impl SynapseContainer<'_> {
    fn configure(&self, desired: &DesiredWorkload) -> Result<Status, ApplyError> {
        self.tools.status_set(StatusTarget::Unit, &status::configuring())?;
        self.own_data_dir()?;
        if desired.mark_data_dir {
            self.push(MARKER_PATH, &ContainerFile::public(MARKER_PATH, MARKER_CONTENT))?;
        }
        for file in &desired.support_files {
            self.push(&file.path, file)?;
        }
        self.push(CANDIDATE_CONFIG_PATH, &desired.config)?;
        let rejection = self.validate_candidate()?;
        if let Some(reason) = rejection {
            self.pebble.remove_path(CANDIDATE_CONFIG_PATH, false)?;
            tracing::error!(
                "Synapse rejected the new configuration, the running one is kept: {}",
                self.redactor.apply(&reason)
            );
            return Ok(status::validate_config_failed());
        }
        self.push(CONFIG_PATH, &desired.config)?;
        self.pebble.remove_path(CANDIDATE_CONFIG_PATH, false)?;
        self.remove_stale(desired)?;
        self.pebble.add_layer(LAYER_LABEL, &desired.layer.layer, true)?;
        tracing::info!("Synapse configuration updated (digest {})", desired.layer.digest);
        let status = start(self.pebble, self.redactor)?;
        self.set_workload_version()?;
        Ok(status)
    }

    /// Shows the Synapse version of the image in `juju status`; a container that cannot
    /// tell leaves the version as it is.
    fn set_workload_version(&self) -> Result<(), ApplyError> {
        let request =
            ExecRequest { timeout: Some(VERSION_TIMEOUT), ..ExecRequest::new(SYNAPSE_VERSION_COMMAND) };
        match self.pebble.exec(&request) {
            Ok(output) if output.success() && !output.stdout_text().trim().is_empty() => {
                self.tools.application_version_set(output.stdout_text().trim())?;
            }
            Ok(output) => tracing::debug!("cannot read Synapse's version: exit code {}", output.exit_code),
            Err(error) if error.is_connection_error() => return Err(error.into()),
            Err(error) => tracing::debug!("cannot read Synapse's version: {error}"),
        }
        Ok(())
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
