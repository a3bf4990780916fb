//! Everything one hook knows about the world, read from Juju and Pebble into [`CharmState`]
//! with as few calls as possible and no side effects.

use juju::{HookContext, HookToolError, HookTools, Port, ReadMode, RelationId, SecretRef, SecretUri};

use crate::app_secrets::{self, AppSecrets, AppSecretsError};
use crate::app_status::PeerStatuses;
use crate::config::{InvalidConfig, SynapseConfig};
use crate::data_dir::DataDir;
use crate::deployment::Deployment;
use crate::health::Health;
use crate::homeserver;
use crate::layer::{applied_digest, ProxySettings};
use crate::matrix_auth::MatrixAuthState;
use crate::workload::{CONFIG_PATH, HTTP_PORT, SERVICE};

/// What the hook observed.
#[derive(Debug)]
pub struct CharmState {
    /// This unit's name.
    pub unit: String,
    pub app: String,
    pub leader: bool,
    pub config: Result<SynapseConfig, InvalidConfig>,
    pub secrets: Secrets,
    pub matrix_auth: MatrixAuthState,
    pub proxy: ProxySettings,
    pub workload: Workload,
    /// Whether the client port is open; only looked at when [`Observe::ports`] asks.
    pub port_opened: Option<bool>,
    pub deployment: Deployment,
    pub peers: PeerStatuses,
}

/// The application secrets, or where to announce them once created.
#[derive(Debug)]
pub enum Secrets {
    Present(AppSecrets),
    /// The leader has not created them yet. `peer_relation` is where the leader announces
    /// them (it creates them only once that relation exists, so no unit misses the news).
    Missing {
        peer_relation: Option<RelationId>,
        /// Secrets this charm already wrote into the container in an earlier hook whose
        /// secret Juju then discarded (the hook failed after Synapse started): the leader
        /// stores these instead of generating new ones.
        in_container: Option<AppSecrets>,
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
        health: Health,
        /// Whose server `/data` holds; inspected only while the plan is not the charm's.
        data_dir: DataDir,
    },
}

impl Workload {
    /// The data directory's state, when Pebble answered.
    pub fn data_dir(&self) -> Option<&DataDir> {
        match self {
            Self::Unreachable => None,
            Self::Reachable { data_dir, .. } => Some(data_dir),
        }
    }
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
    /// application's shape (one `goal-state`), the application secret (one `secret-get`,
    /// more only until this unit has read it once), the `matrix-auth` relations (see
    /// [`MatrixAuthState::load`]), the plan and Synapse's health (see [`Health::probe`]),
    /// `/data` while the plan is not the charm's, the other units' statuses when there are
    /// other units, and the opened ports when asked.
    pub fn load(
        tools: &HookTools,
        pebble: &pebble::Client,
        context: &HookContext,
        proxy: ProxySettings,
        observe: Observe,
    ) -> Result<Self, StateError> {
        let config = SynapseConfig::from_options(&tools.config_get()?);
        let leader = tools.is_leader()?;
        let deployment = Deployment::load(tools, context)?;
        let workload = read_workload(pebble)?;
        let mut secrets = read_secrets(tools, &context.app_name, leader)?;
        if let Secrets::Missing { in_container, .. } = &mut secrets {
            if leader && matches!(workload.data_dir(), Some(DataDir::Ours | DataDir::NotInspected)) {
                *in_container = secrets_in_container(pebble);
            }
        }
        let matrix_auth = MatrixAuthState::load(tools, context, leader)?;
        let port_opened =
            if observe.ports { Some(tools.opened_ports()?.contains(&Port::Tcp(HTTP_PORT))) } else { None };
        let peers = PeerStatuses::load(tools, context, leader, &deployment)?;
        Ok(Self {
            unit: context.unit_name.clone(),
            app: context.app_name.clone(),
            leader,
            config,
            secrets,
            matrix_auth,
            proxy,
            workload,
            port_opened,
            deployment,
            peers,
        })
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
    Ok(Secrets::Missing { peer_relation, in_container: None })
}

fn secret_content(tools: &HookTools, secret: SecretRef) -> Result<Option<AppSecrets>, StateError> {
    match tools.secret_get(&secret, ReadMode::Tracked) {
        Ok(content) => Ok(Some(AppSecrets::from_content(&content)?)),
        Err(error) if error.is_secret_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The secrets of the homeserver.yaml and signing key this charm wrote earlier, if both are
/// there and complete (two Pebble requests). Anything missing or unreadable means none.
fn secrets_in_container(pebble: &pebble::Client) -> Option<AppSecrets> {
    let config = pebble.pull(CONFIG_PATH).ok()?;
    let config = String::from_utf8(config).ok()?;
    let written = homeserver::written_secrets(&config)?;
    let key = pebble.pull(&written.signing_key_path).ok()?;
    let key = String::from_utf8(key).ok()?;
    written.with_signing_key(key.trim())
}

fn read_workload(pebble: &pebble::Client) -> Result<Workload, StateError> {
    let reachable = || -> pebble::Result<Workload> {
        let plan = pebble.plan()?;
        let applied_digest = applied_digest(&plan).map(str::to_string);
        let health = if plan.services.contains_key(SERVICE) {
            Health::probe(pebble)?
        } else {
            Health::NotRunning(None)
        };
        let data_dir =
            if applied_digest.is_some() { DataDir::NotInspected } else { DataDir::inspect(pebble)? };
        Ok(Workload::Reachable { applied_digest, health, data_dir })
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
