//! Passive providers for the edge of Synapse, for the simulated Juju: they run no hooks; the
//! tests make their leaders write what the real charms write (`shared/specs/integrations.md`).
//!
//! - [`SmtpIntegrator`]: smtp-integrator's `smtp` endpoint: `host`, `port`, `user`,
//!   `auth_type`, `transport_security`, `skip_ssl_verify` (`True`/`False`) and `password_id`,
//!   an application secret of its own (content key `password`) granted to the relation.
//! - [`Traefik`]: traefik-k8s's `ingress` endpoint (v2): the answer `ingress` =
//!   `{"url": ...}` as JSON, deleted when revoked.

use std::collections::BTreeMap;

use juju_sim::model::{Bag, GrantTarget, SecretOwner};
use juju_sim::{HookRun, Simulator};

use super::passive_app;

/// smtp-integrator's application and endpoint names.
pub const SMTP_APP: &str = "smtp-integrator";
pub const SMTP_ENDPOINT: &str = "smtp";

/// What smtp-integrator publishes.
#[derive(Debug, Clone)]
pub struct SmtpRelay {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// `none`, `starttls` or `tls`.
    pub transport_security: &'static str,
    pub skip_ssl_verify: bool,
}

/// A passive smtp-integrator.
#[derive(Debug, Clone, Default)]
pub struct SmtpIntegrator {
    /// The password secret, once created.
    pub secret: Option<String>,
}

impl SmtpIntegrator {
    /// Adds smtp-integrator with one unit; no hook runs.
    pub fn deploy(sim: &mut Simulator) -> Self {
        passive_app::add(sim, SMTP_APP, SMTP_ENDPOINT, "smtp", 1);
        Self::default()
    }

    /// `juju integrate <requirer> smtp-integrator:smtp`.
    pub fn integrate(&self, sim: &mut Simulator, requirer: &str) -> (u32, Vec<HookRun>) {
        passive_app::integrate(sim, requirer, SMTP_APP, SMTP_ENDPOINT)
    }

    /// What the leader writes for `relay`: the password in a new revision of its secret
    /// (created and granted to the relation the first time), the rest in the application bag,
    /// which it replaces whole.
    pub fn publish(
        &mut self,
        sim: &mut Simulator,
        relation: u32,
        requirer: &str,
        relay: &SmtpRelay,
    ) -> Vec<HookRun> {
        let content = BTreeMap::from([("password".to_string(), relay.password.clone())]);
        let mut runs = Vec::new();
        let uri = match &self.secret {
            Some(uri) => {
                runs.extend(sim.update_secret(uri, content).expect("secret updated"));
                uri.clone()
            }
            None => {
                let uri = sim
                    .add_secret(SecretOwner::Application(SMTP_APP.into()), content, None)
                    .expect("secret added");
                sim.grant_secret(&uri, relation, GrantTarget::Application(requirer.into())).expect("granted");
                self.secret = Some(uri.clone());
                uri
            }
        };
        let bag = BTreeMap::from([
            ("host".to_string(), relay.host.clone()),
            ("port".to_string(), relay.port.to_string()),
            ("user".to_string(), relay.user.clone()),
            ("auth_type".to_string(), "plain".to_string()),
            ("transport_security".to_string(), relay.transport_security.to_string()),
            ("skip_ssl_verify".to_string(), if relay.skip_ssl_verify { "True" } else { "False" }.to_string()),
            ("password_id".to_string(), uri),
        ]);
        runs.extend(sim.set_relation_data(relation, Bag::App(SMTP_APP.into()), bag).expect("bag written"));
        runs
    }
}

/// traefik-k8s's application and endpoint names.
pub const TRAEFIK_APP: &str = "traefik-k8s";
pub const INGRESS_ENDPOINT: &str = "ingress";

/// A passive traefik-k8s.
#[derive(Debug, Clone, Copy, Default)]
pub struct Traefik;

impl Traefik {
    /// Adds traefik-k8s with one unit; no hook runs.
    pub fn deploy(sim: &mut Simulator) -> Self {
        passive_app::add(sim, TRAEFIK_APP, INGRESS_ENDPOINT, "ingress", 1);
        Self
    }

    /// `juju integrate <requirer> traefik-k8s:ingress`.
    pub fn integrate(&self, sim: &mut Simulator, requirer: &str) -> (u32, Vec<HookRun>) {
        passive_app::integrate(sim, requirer, TRAEFIK_APP, INGRESS_ENDPOINT)
    }

    /// The leader answers with `url` (`None`: revokes it).
    pub fn answer(&self, sim: &mut Simulator, relation: u32, url: Option<&str>) -> Vec<HookRun> {
        let value = url.map(|url| serde_json::json!({"url": url}).to_string()).unwrap_or_default();
        let bag = BTreeMap::from([("ingress".to_string(), value)]);
        sim.set_relation_data(relation, Bag::App(TRAEFIK_APP.into()), bag).expect("bag written")
    }

    /// What the requirer's leader wrote (JSON values).
    pub fn request(&self, sim: &Simulator, relation: u32, requirer: &str) -> BTreeMap<String, String> {
        sim.relation_data(relation, &Bag::App(requirer.into())).expect("the relation exists")
    }

    /// What `unit` of the requirer wrote.
    pub fn unit_request(&self, sim: &Simulator, relation: u32, unit: &str) -> BTreeMap<String, String> {
        sim.relation_data(relation, &Bag::Unit(unit.into())).expect("the relation exists")
    }
}
