//! One reconcile per hook: read the options and the provider's data, send (or withdraw) the
//! registration, record what was received, and report one status. Every hook does the same
//! thing, so the outcome never depends on which event came first.

use anyhow::Context as _;
use juju::{Bag, Databag, Event, HookContext, HookTools, RelationHook, RelationId, Status, StatusReport};
use matrix_auth::protocol::{ENDPOINT, REGISTRATION_KEY};
use matrix_auth::{publish_registration, ProviderInfo, ProviderView, PublishError, RegistrationPublish};
use secrecy::ExposeSecret;

use crate::config::{Mode, Settings};
use crate::registration::{render, url_host, Bridge, Tokens};
use crate::report::{self, fingerprint, Received};
use crate::stored_tokens;

const MISSING: &str = "matrix-auth relation missing";
const WAITING: &str = "waiting for matrix-auth provider data";
/// Where the homeserver reaches the bridge by default (the application's Kubernetes service).
const BRIDGE_PORT: u16 = 8090;

/// Handles the event of `context`.
pub fn run(context: &HookContext, tools: &HookTools) -> anyhow::Result<()> {
    match &context.event {
        Event::Action(action) => {
            tools.action_fail(&format!("unknown action {}", action.name)).context("cannot fail the action")
        }
        Event::Stop | Event::Remove => Ok(()),
        _ => {
            let mut report = StatusReport::new();
            report.add("matrix-auth", reconcile(context, tools)?);
            let unit = report.unit();
            let application = tools.is_leader()?.then(|| unit.clone());
            let status = report.set(tools, application.as_ref())?;
            tracing::debug!("reconciled: {status}");
            Ok(())
        }
    }
}

fn reconcile(context: &HookContext, tools: &HookTools) -> anyhow::Result<Status> {
    let settings = match Settings::from_config(&tools.config_get()?) {
        Ok(settings) => settings,
        Err(error) => return Ok(Status::blocked(format!("invalid config: {error}"))),
    };
    let Some(relation) = live_relation(tools, &context.event)? else {
        report::record(tools, None)?;
        return Ok(Status::blocked(MISSING));
    };
    let provider_app = match remote_app(tools, &context.event, &relation)? {
        Some(app) => app,
        None => return not_ready(tools, "the provider application is not known yet"),
    };
    let provider = match ProviderView::read(tools, &relation, &provider_app)? {
        ProviderView::Ready(provider) => provider,
        ProviderView::NotReady(reason) => return not_ready(tools, &reason.to_string()),
    };
    let ready = Status::active(format!("ready: {}", provider.homeserver));
    let (status, registration_sha256) = match settings.mode {
        Mode::Unidirectional => {
            withdraw_registration(tools, &relation, &context.app_name)?;
            (ready, None)
        }
        Mode::Bidirectional => send_registration(context, tools, &settings, &relation, &provider, ready)?,
    };
    let received = Received {
        provider_app,
        homeserver: provider.homeserver.clone(),
        shared_secret_sha256: fingerprint(provider.shared_secret.expose_secret()),
        registration_sha256,
    };
    report::record(tools, Some(&received))?;
    Ok(status)
}

fn not_ready(tools: &HookTools, reason: &str) -> anyhow::Result<Status> {
    tracing::info!("matrix-auth provider not ready: {reason}");
    report::record(tools, None)?;
    Ok(Status::waiting(WAITING))
}

/// The matrix-auth relation, unless there is none or this hook is its relation-broken.
fn live_relation(tools: &HookTools, event: &Event) -> anyhow::Result<Option<RelationId>> {
    let broken = match event {
        Event::Relation(relation) if relation.hook == RelationHook::Broken => Some(&relation.relation),
        _ => None,
    };
    let relations = tools.relation_ids(ENDPOINT)?;
    Ok(relations.into_iter().find(|relation| Some(relation) != broken))
}

/// The provider's application name as this model knows it (an offer alias across models).
fn remote_app(tools: &HookTools, event: &Event, relation: &RelationId) -> anyhow::Result<Option<String>> {
    if let Event::Relation(current) = event {
        if current.relation == *relation && current.remote_app.is_some() {
            return Ok(current.remote_app.clone());
        }
    }
    Ok(tools.relation_remote_app(relation)?)
}

/// Leader: makes the registration and publishes it when its text changed. Returns the status
/// and the fingerprint of the registration now published.
fn send_registration(
    context: &HookContext,
    tools: &HookTools,
    settings: &Settings,
    relation: &RelationId,
    provider: &ProviderInfo,
    ready: Status,
) -> anyhow::Result<(Status, Option<String>)> {
    if !tools.is_leader()? {
        return Ok((ready, None));
    }
    let server_name = match &settings.server_name {
        Some(name) => name.clone(),
        None => match url_host(&provider.homeserver) {
            Some(host) => host.to_ascii_lowercase(),
            None => {
                let message = "matrix-auth homeserver URL has no host: set server-name";
                return Ok((Status::blocked(message), None));
            }
        },
    };
    let default_url =
        format!("http://{}.{}.svc.cluster.local:{BRIDGE_PORT}", context.app_name, context.model_name);
    let bridge = Bridge {
        app: &context.app_name,
        url: settings.external_url.as_deref().unwrap_or(&default_url),
        sender_localpart: &settings.bot_nickname,
        namespace_prefix: &settings.namespace_prefix,
        server_name: &server_name,
    };
    let tokens =
        if settings.rotate_tokens { Tokens::generate() } else { stored_tokens::load_or_create(tools)? };
    let text = render(&bridge, &tokens);
    let outcome = match publish_registration(tools, relation, &context.app_name, provider, &text) {
        Ok(outcome) => outcome,
        Err(PublishError::InvalidRegistration(error)) => {
            return Ok((Status::blocked(format!("generated registration is invalid: {error}")), None))
        }
        Err(PublishError::Tool(error)) => return Err(error.into()),
    };
    let published = Some(fingerprint(text.expose_secret()));
    Ok(match outcome {
        RegistrationPublish::Written => {
            tracing::info!(id = %tokens.id, "sent the registration to {relation}");
            (ready, published)
        }
        RegistrationPublish::Unchanged => (ready, published),
        RegistrationPublish::NotLeader => (ready, None),
        RegistrationPublish::NoEncryptionKey => {
            (Status::blocked("matrix-auth provider takes no registration (no encryption key)"), None)
        }
        RegistrationPublish::EncryptionKeyNotVisible(kind) => {
            tracing::info!("the provider's encryption key is not readable yet ({kind:?})");
            (Status::waiting(WAITING), None)
        }
        RegistrationPublish::EncryptionKeyMalformed => {
            (Status::blocked("matrix-auth provider's encryption key is malformed"), None)
        }
    })
}

/// Leader: removes a registration sent while this application was in bidirectional mode.
fn withdraw_registration(tools: &HookTools, relation: &RelationId, app: &str) -> anyhow::Result<()> {
    if !tools.is_leader()? {
        return Ok(());
    }
    let own = tools.relation_get_app(relation, app)?;
    if own.get(REGISTRATION_KEY).is_some_and(|token| !token.is_empty()) {
        tools.relation_set(
            relation,
            Bag::App,
            &Databag::from([(REGISTRATION_KEY.to_string(), String::new())]),
        )?;
        tracing::info!("withdrew the registration from {relation}");
    }
    Ok(())
}
