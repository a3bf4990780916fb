//! Mail through the `smtp` relation with smtp-integrator (the `smtp-client` crate): the relay
//! becomes homeserver.yaml's `email:` with `notif_from` (default: the server name) and
//! `enable_notifs` (the `enable_email_notifs` option).
//!
//! Synapse needs transport security and PLAIN authentication: anything else is Blocked with
//! upstream's words. A password in a user secret not granted to the application says how to
//! grant it. Before Synapse uses new relay settings, the charm logs in to the relay from
//! Synapse's container as Synapse will ([`CHECK_SCRIPT`], settings on stdin): a relay that
//! does not answer, whose certificate fails, or that refuses the credentials is named in the
//! status (Synapse is configured anyway, and the rest of the server keeps working). The
//! outcome is kept in the unit's Juju state with a digest of the settings it was for, so later
//! hooks do not log in again; a failed check is made again at `update-status`, so a relay
//! that comes back clears the status.

use juju::{Effect, HookContext, HookTools, LogLevel, RelationHook};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::json;
use smtp_client::{NotReady, SmtpSettings, SmtpView, TransportSecurity};

use crate::component::{ComponentPlan, Facts};
use crate::deployment::Deployment;
use crate::state::StateError;
use crate::status;
use crate::workload::{SYNAPSE_GID, SYNAPSE_UID};

pub const NAME: &str = "smtp";
/// The relation endpoint (metadata.yaml).
pub const ENDPOINT: &str = "smtp";
/// Logs in to the relay from Synapse's container.
pub const CHECK_SCRIPT: &str = include_str!("check.py");
/// The unit state key of the last check: the settings' digest, then the outcome as JSON.
pub const CHECK_KEY: &str = "smtp-relay-check";
/// How long the check may take.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What the hook found.
#[derive(Debug, Default)]
pub enum SmtpState {
    #[default]
    NotRelated,
    Related {
        relation: String,
        view: SmtpView,
        check: Option<Check>,
    },
}

/// The relay as seen from Synapse's container, for settings with `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub digest: String,
    pub outcome: CheckOutcome,
    /// Whether it was recorded by an earlier hook (else it ran in this one).
    pub recorded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CheckOutcome {
    Ok { ok: bool },
    Problem { problem: String, detail: String },
}

/// Nothing when goal-state lists no `smtp` relation; else `relation-ids`, the provider's
/// data (see [`SmtpView::read`]) and, for usable settings, the recorded check or (when the
/// settings changed and Pebble answers) a new one.
pub fn load(
    tools: &HookTools,
    context: &HookContext,
    deployment: &Deployment,
    pebble: &pebble::Client,
    reachable: bool,
) -> Result<SmtpState, StateError> {
    if !deployment.related_endpoints.contains(ENDPOINT) {
        return Ok(SmtpState::NotRelated);
    }
    let broken = match &context.event {
        juju::Event::Relation(event) if event.hook == RelationHook::Broken => Some(&event.relation),
        _ => None,
    };
    let Some(id) = tools.relation_ids(ENDPOINT)?.into_iter().find(|id| Some(id) != broken) else {
        return Ok(SmtpState::NotRelated);
    };
    let provider = tools.relation_remote_app(&id)?;
    let view =
        SmtpView::read(tools, &id, provider.as_deref(), &context.app_name).map_err(StateError::Smtp)?;
    let check = match &view {
        SmtpView::Ready(settings) if settings.synapse_problem().is_none() && reachable => {
            let recheck = matches!(context.event, juju::Event::UpdateStatus);
            Some(check(tools, pebble, settings, recheck)?)
        }
        _ => None,
    };
    Ok(SmtpState::Related { relation: id.to_string(), view, check })
}

/// The recorded outcome for these settings (one `state-get`), or a new check; a recorded
/// failure is checked again when `recheck_failure` (at `update-status`).
fn check(
    tools: &HookTools,
    pebble: &pebble::Client,
    settings: &SmtpSettings,
    recheck_failure: bool,
) -> Result<Check, StateError> {
    let digest = settings_digest(settings);
    if let Some((recorded, outcome)) =
        tools.state_get(CHECK_KEY)?.as_deref().and_then(|kept| kept.split_once('\n'))
    {
        match serde_json::from_str(outcome.trim()) {
            Ok(CheckOutcome::Problem { .. }) if recheck_failure => {}
            Ok(outcome) if recorded == digest => return Ok(Check { digest, outcome, recorded: true }),
            _ => {}
        }
    }
    let input = json!({
        "host": settings.host,
        "port": settings.port,
        "user": settings.user,
        "password": settings.password.as_ref().map(|password| password.expose_secret().to_string()),
        "transport": settings.transport.as_str(),
        "skip_ssl_verify": settings.skip_ssl_verify,
    });
    let request = pebble::ExecRequest {
        stdin: Some(serde_json::to_vec(&input).expect("JSON values always serialise")),
        timeout: Some(CHECK_TIMEOUT),
        user_id: Some(SYNAPSE_UID),
        group_id: Some(SYNAPSE_GID),
        ..pebble::ExecRequest::new(["python3", "-c", CHECK_SCRIPT])
    };
    let outcome = match pebble.exec(&request) {
        Ok(output) => serde_json::from_slice(&output.stdout).unwrap_or_else(|_| CheckOutcome::Problem {
            problem: "check".into(),
            detail: output.stderr_text().lines().last().unwrap_or("no output").to_string(),
        }),
        Err(pebble::Error::Api { message, .. } | pebble::Error::Change { err: message, .. }) => {
            CheckOutcome::Problem { problem: "check".into(), detail: message }
        }
        Err(error) => return Err(StateError::Pebble(error)),
    };
    Ok(Check { digest, outcome, recorded: false })
}

/// SHA-256 of everything the check depends on, password included (a digest, from which the
/// password cannot be recovered).
fn settings_digest(settings: &SmtpSettings) -> String {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    for part in [
        settings.host.as_str(),
        &settings.port.to_string(),
        settings.user.as_deref().unwrap_or(""),
        settings.password.as_ref().map_or("", |password| password.expose_secret()),
        settings.transport.as_str(),
        if settings.skip_ssl_verify { "skip" } else { "verify" },
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}

pub fn plan(state: &SmtpState, facts: &Facts) -> ComponentPlan {
    let mut plan = ComponentPlan::default();
    let Some(config) = facts.config else { return plan };
    let SmtpState::Related { relation, view, check } = state else {
        if config.enable_email_notifs {
            plan.statuses.push(status::email_needs_smtp(facts.app));
            plan.log(
                LogLevel::Warning,
                format!(
                    "enable_email_notifs is set but there is no smtp relation, so Synapse sends no mail: run `juju \
                     integrate {} smtp-integrator`",
                    facts.app
                ),
            );
        }
        return plan;
    };
    let settings = match view {
        SmtpView::Ready(settings) => settings,
        SmtpView::NotReady(reason) => {
            plan.log(LogLevel::Info, format!("smtp: {relation} is not ready: {reason}"));
            // Only the operator can grant a user secret; the rest comes with the provider.
            let blocked = matches!(reason, NotReady::SecretNotGranted { .. });
            plan.statuses.push(status::smtp_not_ready(&reason.to_string(), blocked));
            return plan;
        }
    };
    if let Some(password) = &settings.password {
        plan.secrets.push(password.clone());
    }
    if let Some(problem) = settings.synapse_problem() {
        plan.statuses.push(status::smtp_refused(problem));
        plan.log(LogLevel::Error, format!("smtp: {problem} (from {relation}); Synapse sends no mail"));
        return plan;
    }
    if settings.skip_ssl_verify {
        plan.log(
            LogLevel::Warning,
            "smtp: skip_ssl_verify is set, but Synapse always verifies the relay's certificate (it has no \
             option not to); only the charm's own check skips the verification",
        );
    }
    let notif_from = config.notif_from.clone().unwrap_or_else(|| config.server_name.clone());
    let mut email = json!({
        "smtp_host": settings.host,
        "smtp_port": settings.port,
        "enable_tls": true,
        "require_transport_security": settings.transport == TransportSecurity::StartTls,
        "force_tls": settings.transport == TransportSecurity::Tls,
        "notif_from": notif_from,
        "enable_notifs": config.enable_email_notifs,
    });
    if let Some(user) = &settings.user {
        email["smtp_user"] = json!(user);
    }
    if let Some(password) = &settings.password {
        email["smtp_pass"] = json!(password.expose_secret());
    }
    plan.homeserver.set("email", email);
    if let Some(check) = check {
        match &check.outcome {
            CheckOutcome::Ok { .. } => {
                if !check.recorded {
                    plan.log(
                        LogLevel::Info,
                        format!("smtp: logged in to {}:{} as Synapse will", settings.host, settings.port),
                    );
                }
            }
            CheckOutcome::Problem { problem, detail } => {
                let endpoint = format!("{}:{}", settings.host, settings.port);
                plan.statuses.push(status::smtp_check_failed(&endpoint, problem, detail));
                if !check.recorded {
                    plan.log(
                        LogLevel::Error,
                        format!("smtp: the relay {endpoint} fails the check ({problem}): {detail}; Synapse cannot send mail"),
                    );
                }
            }
        }
        if !check.recorded {
            let outcome = match &check.outcome {
                CheckOutcome::Ok { .. } => json!({"ok": true}),
                CheckOutcome::Problem { problem, detail } => json!({"problem": problem, "detail": detail}),
            };
            plan.effects.push(Effect::StateSet {
                key: CHECK_KEY.to_string(),
                value: format!("{}\n{outcome}", check.digest),
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests;
