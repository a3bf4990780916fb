//! The requirer side of the `ingress` v2 Juju interface, wire-compatible with
//! `charms.traefik_k8s.v2.ingress` (`IngressPerAppRequirer`, LIBPATCH 14 to 21), traefik-k8s
//! and nginx-ingress-integrator's `ingress` endpoint.
//!
//! - [`request`]: the leader publishes an [`IngressRequest`] with [`plan_app`], every unit its
//!   host and IP with [`plan_unit`] (by default [`default_host`], the pod FQDN, and
//!   [`bind_address`]), as [`juju::Effect`]s that are empty when nothing changed.
//! - [`view`]: every unit reads the answer: [`IngressView::read`] gives an [`IngressUrl`] or
//!   the [`NotReady`] reason.
//! - [`protocol`]: the databag keys. Every value is JSON: `"synapse"` quoted, `8080` bare.
//!
//! The provider needs the application bag and every unit's `host`: a unit that publishes
//! nothing keeps the whole relation unready.
//!
//! ```no_run
//! use ingress_client::{bind_address, default_host, plan_app, plan_unit, IngressRequest, IngressView};
//! use juju::{HookContext, HookTools, RelationId};
//!
//! fn ingress(
//!     tools: &HookTools,
//!     context: &HookContext,
//!     relation: &RelationId,
//!     provider_app: &str,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     if tools.is_leader()? {
//!         let request = IngressRequest::new(&context.model_name, &context.app_name, 8080)?;
//!         let own = tools.relation_get_app(relation, &context.app_name)?;
//!         juju::effects::execute(tools, &plan_app(relation, &own, &request))?;
//!     }
//!     let ip = bind_address(&tools.network_get("ingress", Some(relation))?);
//!     let own = tools.relation_get_unit(relation, &context.unit_name)?;
//!     juju::effects::execute(tools, &plan_unit(relation, &own, &default_host(context), ip))?;
//!     match IngressView::read(tools, relation, provider_app)? {
//!         IngressView::Ready(url) => println!("public URL {url}"),
//!         IngressView::NotReady(reason) => println!("waiting: {reason}"),
//!     }
//!     Ok(())
//! }
//! ```

pub mod protocol;
pub mod request;
pub mod url;
pub mod view;

pub use request::{
    bind_address, default_host, plan_app, plan_unit, unit_databag, HealthCheck, IngressRequest,
    InvalidRequest, Scheme,
};
pub use url::{IngressUrl, UrlError};
pub use view::{AnswerError, IngressView, NotReady, ReadError};
