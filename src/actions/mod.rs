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
mod failure;
mod request;
mod synapse;

use std::collections::BTreeMap;

use juju::{HookToolError, HookTools};
use secrecy::ExposeSecret as _;
use synapse_admin::{generate_password, AdminClient, UserId, DEFAULT_BASE_URL};

use self::failure::ActionError;
use self::request::Request;
use self::synapse::Synapse;
use crate::workload::CONTAINER;

/// The result key holding a new user's password.
const PASSWORD_KEY: &str = "user-password";

/// Runs the action `name`: its results via `action-set`, or its failure via `action-fail`.
/// Only a failing hook tool is an error, which fails the hook.
pub fn run(tools: &HookTools, name: &str) -> Result<(), HookToolError> {
    match perform(tools, name) {
        Ok(results) => tools.action_set(&results),
        Err(ActionError::Failed(failure)) => {
            tracing::warn!("{name} failed: {failure}");
            tools.action_fail(&failure.to_string())
        }
        Err(ActionError::Tool(error)) => Err(error),
    }
}

fn perform(tools: &HookTools, name: &str) -> Result<BTreeMap<String, String>, ActionError> {
    let request = Request::parse(name, &tools.action_get()?)?;
    let synapse = Synapse::check(tools, &pebble::Client::for_container(CONTAINER))?;
    let user = UserId::new(request.username(), &synapse.server_name)?;
    let client = AdminClient::new(DEFAULT_BASE_URL)?;
    let mut results = BTreeMap::from([(request.name().to_string(), "true".to_string())]);
    match request {
        Request::RegisterUser { admin, .. } => {
            let password = generate_password();
            client.register(&synapse.shared_secret, &user, &password, admin)?;
            tracing::info!("registered {user} (server admin: {admin})");
            results.insert(PASSWORD_KEY.to_string(), password.expose_secret().to_string());
        }
        Request::PromoteUserAdmin { .. } => {
            let token = admin_token::obtain(tools, &client, &synapse, tools.is_leader()?)?;
            client.set_admin(&token, &user, true)?;
            tracing::info!("made {user} a server admin");
        }
        Request::AnonymizeUser { .. } => {
            let token = admin_token::obtain(tools, &client, &synapse, tools.is_leader()?)?;
            client.deactivate(&token, &user, true)?;
            tracing::info!("deactivated {user} and erased their data");
        }
    }
    Ok(results)
}
