//! What every action needs before it talks to Synapse: the application secrets (the charm
//! has configured Synapse) and a running `synapse` service.

use juju::{HookTools, ReadMode, SecretRef};
use pebble::ServiceStatus;
use secrecy::SecretString;

use super::failure::{ActionError, Failure};
use crate::app_secrets::{self, AppSecrets};
use crate::workload::SERVICE;

/// The Synapse an action talks to.
#[derive(Debug)]
pub struct Synapse {
    /// The server name Synapse runs with (the one its secrets were made for).
    pub server_name: String,
    /// Synapse's `registration_shared_secret`.
    pub shared_secret: SecretString,
}

impl Synapse {
    /// Reads the application secrets and checks the service is running.
    pub fn check(tools: &HookTools, pebble: &pebble::Client) -> Result<Self, ActionError> {
        let secrets = read_secrets(tools)?;
        service_running(pebble)?;
        Ok(Self { server_name: secrets.server_name, shared_secret: secrets.registration_shared_secret })
    }
}

/// The application secrets, by the label every unit reads them with once the charm has
/// configured Synapse.
pub(super) fn read_secrets(tools: &HookTools) -> Result<AppSecrets, ActionError> {
    let label = SecretRef::Label(app_secrets::LABEL.to_string());
    match tools.secret_get(&label, ReadMode::Tracked) {
        Ok(content) => AppSecrets::from_content(&content)
            .map_err(|error| Failure::NotConfigured(error.to_string()).into()),
        Err(error) if error.is_secret_not_found() => Err(Failure::NotConfigured(
            "the application secrets do not exist on this unit yet (the leader creates them once server_name is set)"
                .into(),
        )
        .into()),
        Err(error) => Err(error.into()),
    }
}

/// The `synapse` service is active, as far as Pebble knows.
fn service_running(pebble: &pebble::Client) -> Result<(), Failure> {
    let services = pebble.services(&[SERVICE]).map_err(|error| {
        let reason = if error.is_connection_error() {
            "the Synapse container's Pebble does not answer".to_string()
        } else {
            format!("cannot read its service from Pebble: {error}")
        };
        Failure::NotRunning(reason)
    })?;
    let current = services.into_iter().find(|info| info.name == SERVICE).map(|info| info.current);
    let state = match current {
        Some(ServiceStatus::Active) => return Ok(()),
        None => "has not been configured yet",
        Some(ServiceStatus::Inactive) => "is stopped",
        Some(ServiceStatus::Backoff) => "keeps exiting and is waiting to be restarted",
        Some(ServiceStatus::Error) => "failed",
        Some(ServiceStatus::Unknown) => "is in an unknown state",
    };
    Err(Failure::NotRunning(format!("the {SERVICE} service {state}")))
}
