//! Routes each Juju event: actions to their handler, the hooks that concern the workload to
//! one reconcile, and the few that need nothing to a log line.

use anyhow::Context as _;
use juju::context::StorageHook;
use juju::{Event, HookContext, HookTools, StatusCollector, StatusTarget};

use crate::app_secrets::AppSecrets;
use crate::apply;
use crate::layer::ProxySettings;
use crate::reconcile::reconcile;
use crate::state::{CharmState, Observe};
use crate::workload::CONTAINER;

/// The actions declared in actions.yaml.
const ACTIONS: [&str; 3] = ["register-user", "promote-user-admin", "anonymize-user"];

/// Handles the event of `context`.
pub fn run(context: &HookContext, tools: &HookTools) -> anyhow::Result<()> {
    match &context.event {
        Event::Action(action) => run_action(tools, &action.name),
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

/// Fails the action (see [`action_failure`]).
fn run_action(tools: &HookTools, name: &str) -> anyhow::Result<()> {
    tools.action_fail(&action_failure(name)).context("cannot report the action's failure")
}

/// Why an action fails: the actions of actions.yaml are not implemented yet, any other name
/// is unknown.
fn action_failure(name: &str) -> String {
    if ACTIONS.contains(&name) {
        format!("{name} is not implemented yet")
    } else {
        format!("unknown action {name}")
    }
}

/// Observes, decides, applies, and reports one status (also as the application's status on
/// the leader).
fn reconcile_hook(context: &HookContext, tools: &HookTools) -> anyhow::Result<()> {
    let event = &context.event;
    let pebble = pebble::Client::for_container(CONTAINER);
    let proxy = ProxySettings::from_vars(|name| std::env::var(name).ok());
    let observe = Observe { ports: matches!(event, Event::Install | Event::Start | Event::UpgradeCharm) };
    let state = CharmState::load(tools, &pebble, &context.app_name, proxy, observe)?;
    let outcome = reconcile(&state, AppSecrets::generate);
    if *event == Event::ConfigChanged {
        for note in &outcome.unsupported {
            tracing::warn!("{note}");
        }
    }
    let mut statuses = StatusCollector::new();
    for status in &outcome.statuses {
        statuses.add(status.clone());
    }
    statuses.add(apply::apply(tools, &pebble, &outcome)?);
    let status = statuses.collect();
    tools.status_set(StatusTarget::Unit, &status)?;
    if state.leader {
        tools.status_set(StatusTarget::Application, &status)?;
    }
    tracing::debug!(pebble_requests = pebble.request_count(), "reconciled: {status}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_fail_as_unimplemented_or_unknown() {
        assert_eq!(action_failure("anonymize-user"), "anonymize-user is not implemented yet");
        assert_eq!(action_failure("create-backup"), "unknown action create-backup");
    }

    #[test]
    fn declared_actions_are_those_of_actions_yaml() {
        let declared: serde_json::Map<String, serde_json::Value> =
            safe_yaml::from_str(include_str!("../actions.yaml")).expect("actions.yaml parses");
        let mut names: Vec<&str> = declared.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut known = ACTIONS.to_vec();
        known.sort_unstable();
        assert_eq!(names, known);
    }
}
