//! Routes each Juju event: actions to their handler, the hooks that concern the workload to
//! one reconcile, and the few that need nothing to a log line.

use juju::context::StorageHook;
use juju::{Event, HookContext, HookTools, Status, StatusReport};

use crate::app_secrets::AppSecrets;
use crate::apply::Applied;
use crate::components::secrets::Secrets;
use crate::components::synapse::{self, Outcome};
use crate::components::{database, nginx};
use crate::compose::compose;
use crate::layer::ProxySettings;
use crate::state::{CharmState, Observe};
use crate::workload::CONTAINER;
use crate::{actions, apply, status};

/// Handles the event of `context`.
pub fn run(context: &HookContext, tools: &HookTools) -> anyhow::Result<()> {
    match &context.event {
        Event::Action(action) if action.name == actions::RETRY_DATABASE_PORT => {
            retry_database_port(context, tools)
        }
        Event::Action(action) if actions::backup::handles(&action.name) => {
            let reconcile = |secrets: Option<AppSecrets>| reconcile_hook(context, tools, secrets);
            actions::backup::run(tools, &context.app_name, &context.unit_name, &action.name, &reconcile)
        }
        Event::Action(action) => Ok(actions::run(tools, &context.app_name, &action.name)?),
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
        _ => reconcile_hook(context, tools, None).map(drop),
    }
}

/// The action that forgets a failed port from SQLite to PostgreSQL and reconciles at once,
/// which ports again; fails the action with the status when the unit is still blocked.
fn retry_database_port(context: &HookContext, tools: &HookTools) -> anyhow::Result<()> {
    let pebble = pebble::Client::for_container(CONTAINER);
    match pebble.remove_path(database::PORT_FAILED_PATH, false) {
        Ok(()) => tools.action_log("forgot the failed port; porting again")?,
        Err(error) if error.is_not_found() => tools.action_log("no failed port is recorded; reconciling")?,
        Err(error) => return Err(error.into()),
    }
    let status = reconcile_hook(context, tools, None)?;
    if status.kind == juju::StatusKind::Blocked {
        tools.action_fail(&status.message)?;
    } else {
        tools.action_set(&[("status".to_string(), status.to_string())].into())?;
    }
    Ok(())
}

/// Loads every component's state, composes their plans, applies the result, and reports
/// the statuses (the unit's, and the application's on the leader; other units publish
/// theirs to the leader through the peer relation). `restored` are application secrets this
/// hook gave the application secret (a restored backup's), which Juju shows only after it.
fn reconcile_hook(
    context: &HookContext,
    tools: &HookTools,
    restored: Option<AppSecrets>,
) -> anyhow::Result<Status> {
    let event = &context.event;
    let pebble = pebble::Client::for_container(CONTAINER);
    let proxy = ProxySettings::from_vars(|name| std::env::var(name).ok());
    let observe = Observe { ports: matches!(event, Event::Install | Event::Start | Event::UpgradeCharm) };
    let mut state = CharmState::load(tools, &pebble, context, proxy, observe)?;
    if let Some(secrets) = restored {
        state.secrets = Secrets::Present(secrets);
    }
    let plan = compose(&state, AppSecrets::generate, matrix_auth::generate_key)?;
    let applied = match apply::apply(tools, &pebble, &plan) {
        Ok(applied) => applied,
        Err(error) if error.is_transient() => {
            let error = plan.redactor.apply(&anyhow::Error::from(error).to_string());
            tracing::warn!("{error}; the next hook resumes");
            Applied::default()
        }
        Err(error) => return Err(error.into()),
    };
    if let Outcome::Unchanged(health) | Outcome::Started(health) = &applied.outcome {
        if let Some((level, line)) = synapse::health_diagnostic(health) {
            apply::log(level, &plan.redactor.apply(&line));
        }
    }
    let mut report = StatusReport::new();
    for (component, status) in &plan.statuses {
        report.add(component, status.clone());
    }
    for status in synapse::statuses(&applied.outcome, &applied.left_out, plan.role.as_deref()) {
        report.add(synapse::NAME, Status::new(status.kind, plan.redactor.apply(&status.message)));
    }
    for (service, reason) in &applied.rejected_reloads {
        report.add(nginx::NAME, status::reload_rejected(service, reason));
    }
    let unit = report.unit();
    let application = plan.speaks_for_app.then(|| state.peers.application_status(&unit));
    report.set(tools, application.as_ref())?;
    if !plan.speaks_for_app && !state.deployment.departing {
        juju::effects::execute(tools, state.peers.publication(&unit).as_slice())?;
    }
    tracing::debug!(pebble_requests = pebble.request_count(), "reconciled: {unit}");
    Ok(unit)
}
