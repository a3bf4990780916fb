//! The user actions of actions.yaml: `register-user`, `promote-user-admin` and
//! `anonymize-user`, through Synapse's admin API on `http://localhost:8008` (the charm
//! shares the pod's network with Synapse).
//!
//! Each action parses its parameters ([`request`]), checks that Synapse is configured and
//! running ([`synapse`]), then calls the API: registration with the registration shared
//! secret, the other two with the admin access token of [`admin_token`]. Results use
//! upstream's keys (`<action>: true`, and `user-password` for a new user); anything that
//! stops an action is an `action-fail` message ([`failure`]) without secrets.

mod admin_token;
pub mod backup;
mod failure;
mod request;
mod synapse;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use juju::{HookToolError, HookTools};
use secrecy::ExposeSecret as _;

use synapse_admin::{generate_password, AdminClient, UserId, DEFAULT_BASE_URL};

use self::failure::{ActionError, Failure};
use self::request::Request;
pub use self::request::RETRY_DATABASE_PORT;
use self::synapse::Synapse;
use crate::workload::CONTAINER;

/// The result key holding a new user's password.
const PASSWORD_KEY: &str = "user-password";

/// Runs the action `name`: its results via `action-set`, or its failure via `action-fail`.
/// Only a failing hook tool is an error, which fails the hook.
pub fn run(tools: &HookTools, app: &str, name: &str) -> Result<(), HookToolError> {
    match perform(tools, app, name) {
        Ok(results) => tools.action_set(&results),
        Err(ActionError::Failed(failure)) => {
            tracing::warn!("{name} failed: {failure}");
            tools.action_fail(&failure.to_string())
        }
        Err(ActionError::Tool(error)) => Err(error),
    }
}

fn perform(tools: &HookTools, app: &str, name: &str) -> Result<BTreeMap<String, String>, ActionError> {
    let request = Request::parse(name, &tools.action_get()?)?;
    let synapse = Synapse::check(tools, &pebble::Client::for_container(CONTAINER))?;
    let user = UserId::new(request.username(), &synapse.server_name)?;
    let client = AdminClient::new(DEFAULT_BASE_URL)?;
    wait_until_answering(tools, &client, &request, &user)?;
    let mut results = BTreeMap::from([(request.name().to_string(), "true".to_string())]);
    match request {
        Request::RegisterUser { admin, .. } => {
            let password = generate_password();
            client.register(&synapse.shared_secret, &user, &password, admin)?;
            tracing::info!("registered {user} (server admin: {admin})");
            results.insert(PASSWORD_KEY.to_string(), password.expose_secret().to_string());
        }
        Request::PromoteUserAdmin { .. } => {
            let token = admin_token::obtain(tools, app, &client, &synapse, tools.is_leader()?)?;
            client.set_admin(&token, &user, true)?;
            tracing::info!("made {user} a server admin");
        }
        Request::AnonymizeUser { .. } => {
            let token = admin_token::obtain(tools, app, &client, &synapse, tools.is_leader()?)?;
            client.deactivate(&token, &user, true)?;
            tracing::info!("deactivated {user} and erased their data");
        }
    }
    Ok(results)
}

/// How long an action waits for a Synapse that Pebble reports running but that does not
/// answer yet (it was just started or restarted: Synapse takes a few seconds to listen).
const STARTUP_GRACE: Duration = Duration::from_secs(60);

/// Asks Synapse its version (no token needed) every second until it answers, for up to
/// [`STARTUP_GRACE`], saying once in the action's log that it waits. A Synapse that never
/// answers fails the action naming the action's own request.
fn wait_until_answering(
    tools: &HookTools,
    client: &AdminClient,
    request: &Request,
    user: &UserId,
) -> Result<(), ActionError> {
    let deadline = Instant::now() + STARTUP_GRACE;
    let mut told = false;
    loop {
        match client.server_version() {
            Ok(_) => return Ok(()),
            Err(synapse_admin::Error::SynapseUnavailable { reason, .. }) => {
                if Instant::now() >= deadline {
                    return Err(Failure::NotAnswering {
                        url: client.base_url().to_string(),
                        action: request.name(),
                        user: user.to_string(),
                        reason,
                    }
                    .into());
                }
                if !told {
                    tools.action_log(&format!(
                        "Synapse is not answering on {} yet; waiting up to {} s for it to start",
                        client.base_url(),
                        STARTUP_GRACE.as_secs()
                    ))?;
                    told = true;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(other) => return Err(other.into()),
        }
    }
}
