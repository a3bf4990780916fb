//! Everything one hook knows about the world, read from Juju and Pebble into [`CharmState`]
//! with as few calls as possible and no side effects.

use juju::{HookContext, HookToolError, HookTools, Port, ReadMode, RelationId, SecretRef, SecretUri};
use pebble::ServiceStatus;

use crate::app_secrets::{self, AppSecrets, AppSecretsError};
use crate::config::{InvalidConfig, SynapseConfig};
use crate::layer::{applied_digest, ProxySettings};
use crate::matrix_auth::MatrixAuthState;
use crate::workload::{HTTP_PORT, SERVICE};

/// What the hook observed.
#[derive(Debug)]
pub struct CharmState {
    pub leader: bool,
    pub config: Result<SynapseConfig, InvalidConfig>,
    pub secrets: Secrets,
    pub matrix_auth: MatrixAuthState,
    pub proxy: ProxySettings,
    pub workload: Workload,
    /// Whether the client port is open; only looked at when [`Observe::ports`] asks.
    pub port_opened: Option<bool>,
}

/// The application secrets, or where to announce them once created.
#[derive(Debug)]
pub enum Secrets {
    Present(AppSecrets),
    /// The leader has not created them yet. `peer_relation` is where the leader announces
    /// them (it creates them only once that relation exists, so no unit misses the news).
    Missing {
        peer_relation: Option<RelationId>,
    },
}

/// The peer relation, whose application bag tells the other units the secrets' ID.
pub const PEER_RELATION: &str = "synapse-peers";
/// Peer application bag key holding the application secret's URI.
pub const SECRETS_ID_KEY: &str = "app-secrets-id";

/// The Synapse container as Pebble reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// Pebble does not answer (the container is starting or restarting).
    Unreachable,
    Reachable {
        /// The digest of the layer and files the `synapse` service was configured with.
        applied_digest: Option<String>,
        /// The `synapse` service's status; `None` while the plan has no such service.
        service: Option<ServiceStatus>,
    },
}

/// Optional observations, made only by the hooks that need them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observe {
    pub ports: bool,
}

/// A read failed in a way the next hook will not fix by itself.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Tool(#[from] HookToolError),
    #[error("cannot read the Synapse container's state")]
    Pebble(#[source] pebble::Error),
    #[error(transparent)]
    Secrets(#[from] AppSecretsError),
}

impl CharmState {
    /// Reads the configuration (one `config-get`), leadership (one `is-leader`), the
    /// application secret (one `secret-get`, more only until this unit has read it once),
    /// the `matrix-auth` relations (see [`MatrixAuthState::load`]), the plan and the
    /// service's status (two Pebble requests; one while the plan has no Synapse), and the
    /// opened ports when asked.
    pub fn load(
        tools: &HookTools,
        pebble: &pebble::Client,
        context: &HookContext,
        proxy: ProxySettings,
        observe: Observe,
    ) -> Result<Self, StateError> {
        let config = SynapseConfig::from_options(&tools.config_get()?);
        let leader = tools.is_leader()?;
        let secrets = read_secrets(tools, &context.app_name, leader)?;
        let matrix_auth = MatrixAuthState::load(tools, context, leader)?;
        let workload = read_workload(pebble)?;
        let port_opened =
            if observe.ports { Some(tools.opened_ports()?.contains(&Port::Tcp(HTTP_PORT))) } else { None };
        Ok(Self { leader, config, secrets, matrix_auth, proxy, workload, port_opened })
    }
}

/// The application secret. Its label names it for the leader (as owner) and for every unit
/// that read it once before (as consumer label); a unit reading it for the first time finds
/// its ID in the peer relation's application bag and sets the label.
fn read_secrets(tools: &HookTools, app_name: &str, leader: bool) -> Result<Secrets, StateError> {
    let label = app_secrets::LABEL.to_string();
    if let Some(secrets) = secret_content(tools, SecretRef::Label(label.clone()))? {
        return Ok(Secrets::Present(secrets));
    }
    let peer_relation = tools.relation_ids(PEER_RELATION)?.into_iter().next();
    if !leader {
        if let Some(relation) = &peer_relation {
            let announced = tools.relation_get_app(relation, app_name)?;
            if let Some(id) = announced.get(SECRETS_ID_KEY).and_then(|id| SecretUri::parse(id)) {
                if let Some(secrets) = secret_content(tools, SecretRef::IdWithLabel(id, label))? {
                    return Ok(Secrets::Present(secrets));
                }
            }
        }
    }
    Ok(Secrets::Missing { peer_relation })
}

fn secret_content(tools: &HookTools, secret: SecretRef) -> Result<Option<AppSecrets>, StateError> {
    match tools.secret_get(&secret, ReadMode::Tracked) {
        Ok(content) => Ok(Some(AppSecrets::from_content(&content)?)),
        Err(error) if error.is_secret_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

fn read_workload(pebble: &pebble::Client) -> Result<Workload, StateError> {
    let reachable = || -> pebble::Result<Workload> {
        let plan = pebble.plan()?;
        let applied_digest = applied_digest(&plan).map(str::to_string);
        let service = if plan.services.contains_key(SERVICE) {
            pebble
                .services(&[SERVICE])?
                .into_iter()
                .find(|info| info.name == SERVICE)
                .map(|info| info.current)
        } else {
            None
        };
        Ok(Workload::Reachable { applied_digest, service })
    };
    match reachable() {
        Ok(workload) => Ok(workload),
        Err(error) if error.is_connection_error() => {
            tracing::debug!("Pebble is not reachable: {error}");
            Ok(Workload::Unreachable)
        }
        Err(error) => Err(StateError::Pebble(error)),
    }
}
