//! Everything one hook knows about the world: each component's `load`, in an order that lets
//! later reads depend on earlier ones, with as few calls as possible and no side effects.

use juju::{HookContext, HookToolError, HookTools};

use crate::app_secrets::AppSecretsError;
use crate::app_status::PeerStatuses;
use crate::components::backup::{self, BackupState};
use crate::components::database::{self, DatabaseState};
use crate::components::ingress::{self, IngressState};
use crate::components::media::{self, MediaState};
use crate::components::nginx::{self, NginxState};
use crate::components::observability::{self, ObservabilityState};
use crate::components::redis::{self, RedisState};
use crate::components::registrations::MatrixAuthState;
use crate::components::scale::{self, RolesState};
use crate::components::secrets::{self, Secrets};
use crate::components::smtp::{self, SmtpState};
use crate::components::synapse::{self, SynapseState};
use crate::config::{InvalidConfig, SynapseConfig};
use crate::deployment::Deployment;
use crate::layer::ProxySettings;

/// What the hook observed.
#[derive(Debug)]
pub struct CharmState {
    /// This unit's name.
    pub unit: String,
    pub app: String,
    pub leader: bool,
    pub config: Result<SynapseConfig, InvalidConfig>,
    pub deployment: Deployment,
    pub synapse: SynapseState,
    pub secrets: Secrets,
    pub matrix_auth: MatrixAuthState,
    pub database: DatabaseState,
    pub redis: RedisState,
    pub roles: RolesState,
    pub nginx: NginxState,
    pub smtp: SmtpState,
    pub media: MediaState,
    pub backup: BackupState,
    pub ingress: IngressState,
    pub observability: ObservabilityState,
    pub peers: PeerStatuses,
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
    #[error(transparent)]
    Database(postgresql_client::ReadError),
    #[error(transparent)]
    Redis(redis_client::ReadError),
    #[error(transparent)]
    Smtp(smtp_client::ReadError),
    #[error(transparent)]
    S3(s3_client::ReadError),
    #[error(transparent)]
    Ingress(ingress_client::ReadError),
    #[error(transparent)]
    Observability(Box<dyn std::error::Error + Send + Sync>),
}

impl CharmState {
    /// Reads the configuration (one `config-get`), leadership (one `is-leader`), the
    /// application's shape (one `goal-state`), the workload (see [`synapse::load`]), the
    /// application secrets (see [`secrets::load`]), the `matrix-auth` relations (see
    /// [`MatrixAuthState::load`]), the database (see [`database::load`]), Redis (see
    /// [`redis::load`]), the main unit (see [`scale::load`]), nginx's configuration (see
    /// [`nginx::load`]), the mail relay (see [`smtp::load`]), media in S3 (see
    /// [`media::load`]), backups to S3 (see [`backup::load`]), the ingress relations (see
    /// [`ingress::load`]), the COS relations (see [`observability::load`]) and the other
    /// units' statuses when there are other units.
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
        let synapse = synapse::load(tools, pebble, proxy, observe.ports)?;
        let secrets = secrets::load(tools, pebble, &context.app_name, leader, synapse.workload.data_dir())?;
        let matrix_auth = MatrixAuthState::load(tools, context, leader)?;
        let database = database::load(tools, context, pebble, leader, &synapse.workload, &deployment)?;
        let redis = redis::load(tools, context, &deployment)?;
        let roles = scale::load(tools, context, &deployment)?;
        let reachable = !matches!(synapse.workload, synapse::Workload::Unreachable);
        let nginx = nginx::load(pebble, reachable).map_err(StateError::Pebble)?;
        let smtp = smtp::load(tools, context, &deployment, pebble, reachable)?;
        let media = media::load(tools, context, &deployment, pebble, leader, reachable)?;
        let backup = backup::load(tools, context, &deployment, pebble, leader, reachable)?;
        let ingress = ingress::load(tools, context, &deployment, leader)?;
        let in_plan = observability::targets_in_plan(&synapse.log_targets);
        let observability = observability::load(tools, context, &deployment, leader, in_plan)?;
        let peers = PeerStatuses::load(tools, context, leader, &deployment)?;
        Ok(Self {
            unit: context.unit_name.clone(),
            app: context.app_name.clone(),
            leader,
            config,
            deployment,
            synapse,
            secrets,
            matrix_auth,
            database,
            redis,
            roles,
            nginx,
            smtp,
            media,
            backup,
            ingress,
            observability,
            peers,
        })
    }
}
