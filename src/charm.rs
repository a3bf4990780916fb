//! Routes each Juju event: actions to their handler, the hooks that concern the workload to
//! one reconcile, and the few that need nothing to a log line.

use juju::context::StorageHook;
use juju::{Event, HookContext, HookTools, StatusCollector, StatusTarget};

use crate::app_secrets::AppSecrets;
use crate::layer::ProxySettings;
use crate::reconcile::reconcile;
use crate::state::{CharmState, Observe};
use crate::workload::CONTAINER;
use crate::{actions, apply};

/// Handles the event of `context`.
pub fn run(context: &HookContext, tools: &HookTools) -> anyhow::Result<()> {
    match &context.event {
        Event::Action(action) => Ok(actions::run(tools, &action.name)?),
        Event::Unknown(hook) => {
            tracing::info!("ignoring hook {hook:?}: this charm does not know it");
            Ok(())
        }
        Event::Stop | Event::Remove | Event::LeaderDeposed | Event::CollectMetrics => {
            tracing::debug!("nothing to do for {}", context.hook_name());
            Ok(())
        }
        Event::Storage(storage) if storage.hook == StorageHook::Detaching => {
            tracing::debug!("nothing to do for {}", context.hook_name());
            Ok(())
        }
        _ => reconcile_hook(context, tools),
    }
}

/// Observes, decides, applies, and reports one status (also as the application's status on
/// the leader).
fn reconcile_hook(context: &HookContext, tools: &HookTools) -> anyhow::Result<()> {
    let event = &context.event;
    let pebble = pebble::Client::for_container(CONTAINER);
    let proxy = ProxySettings::from_vars(|name| std::env::var(name).ok());
    let observe = Observe { ports: matches!(event, Event::Install | Event::Start | Event::UpgradeCharm) };
    let state = CharmState::load(tools, &pebble, context, proxy, observe)?;
    let outcome = reconcile(&state, AppSecrets::generate);
    let mut statuses = StatusCollector::new();
    for status in &outcome.statuses {
        statuses.add(status.clone());
    }
    statuses.add(apply::apply(tools, &pebble, &outcome, state.matrix_auth.provider.as_ref())?);
    let status = statuses.collect();
    tools.status_set(StatusTarget::Unit, &status)?;
    if outcome.set_app_status {
        tools.status_set(StatusTarget::Application, &state.peers.application_status(&status))?;
    } else if !state.deployment.departing {
        state.peers.publish(tools, &status)?;
    }
    tracing::debug!(pebble_requests = pebble.request_count(), "reconciled: {status}");
    Ok(())
}
