//! Everything one hook knows about the world: each component's `load`, the reads later ones
//! depend on first, independent ones side by side, with as few calls as possible and no side
//! effects.

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
use crate::deployment::{Deployment, PEER_RELATION};
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

/// Runs independent reads side by side (see [`juju::parallel`]).
fn run_side_by_side(reads: &[&(dyn Fn() + Sync)]) {
    juju::parallel::map(reads, |read| read());
}

/// Where a read run side by side leaves its result.
struct Slot<T>(std::sync::Mutex<Option<Result<T, StateError>>>);

impl<T> Slot<T> {
    fn new() -> Self {
        Self(std::sync::Mutex::new(None))
    }

    fn fill(&self, result: Result<T, impl Into<StateError>>) {
        *self.0.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(result.map_err(Into::into));
    }

    /// The result; every read is run before its result is taken.
    fn take(self) -> Result<T, StateError> {
        self.0.into_inner().unwrap_or_else(|poison| poison.into_inner()).expect("the read ran")
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
    /// units' statuses when there are other units. The first five reads go side by side, then
    /// every component's (see [`juju::parallel`]); each read is made once whoever asks.
    pub fn load(
        tools: &HookTools,
        pebble: &pebble::Client,
        context: &HookContext,
        proxy: ProxySettings,
        observe: Observe,
    ) -> Result<Self, StateError> {
        // First the reads the others depend on, side by side; the peer relation's id, which
        // most components need, is remembered for them (a failure shows where it is needed).
        let (config, leader, deployment, synapse) = (Slot::new(), Slot::new(), Slot::new(), Slot::new());
        run_side_by_side(&[
            &|| config.fill(tools.config_get()),
            &|| leader.fill(tools.is_leader()),
            &|| deployment.fill(Deployment::load(tools, context)),
            &|| synapse.fill(synapse::load(tools, pebble, proxy.clone(), observe.ports)),
            &|| drop(tools.relation_ids(PEER_RELATION)),
        ]);
        let config = SynapseConfig::from_options(&config.take()?);
        let leader = leader.take()?;
        let deployment = deployment.take()?;
        let synapse = synapse.take()?;
        let reachable = !matches!(synapse.workload, synapse::Workload::Unreachable);
        let in_plan = observability::targets_in_plan(&synapse.log_targets);
        // Then every component's own reads, the longest chains first.
        let (matrix_auth, peers, secrets, database, redis, roles) =
            (Slot::new(), Slot::new(), Slot::new(), Slot::new(), Slot::new(), Slot::new());
        let (nginx, smtp, media, backup, ingress, observability) =
            (Slot::new(), Slot::new(), Slot::new(), Slot::new(), Slot::new(), Slot::new());
        let data_dir = synapse.workload.data_dir();
        run_side_by_side(&[
            &|| matrix_auth.fill(MatrixAuthState::load(tools, context, leader)),
            &|| peers.fill(PeerStatuses::load(tools, context, leader, &deployment)),
            &|| secrets.fill(secrets::load(tools, pebble, &context.app_name, leader, data_dir)),
            &|| database.fill(database::load(tools, context, pebble, leader, &synapse.workload, &deployment)),
            &|| redis.fill(redis::load(tools, context, &deployment)),
            &|| roles.fill(scale::load(tools, context, &deployment)),
            &|| nginx.fill(nginx::load(pebble, reachable).map_err(StateError::Pebble)),
            &|| smtp.fill(smtp::load(tools, context, &deployment, pebble, reachable)),
            &|| media.fill(media::load(tools, context, &deployment, pebble, leader, reachable)),
            &|| backup.fill(backup::load(tools, context, &deployment, pebble, leader, reachable)),
            &|| ingress.fill(ingress::load(tools, context, &deployment, leader)),
            &|| observability.fill(observability::load(tools, context, &deployment, leader, in_plan.clone())),
        ]);
        // Errors in the order the components break ties.
        let secrets = secrets.take()?;
        let matrix_auth = matrix_auth.take()?;
        let database = database.take()?;
        let redis = redis.take()?;
        let roles = roles.take()?;
        let nginx = nginx.take()?;
        let smtp = smtp.take()?;
        let media = media.take()?;
        let backup = backup.take()?;
        let ingress = ingress.take()?;
        let observability = observability.take()?;
        let peers = peers.take()?;
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
