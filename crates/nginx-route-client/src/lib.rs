//! The requirer side of the `nginx-route` Juju interface, wire-compatible with
//! `charms.nginx_ingress_integrator.v0.nginx_route` (`require_nginx_route`, LIBPATCH 7) and
//! nginx-ingress-integrator.
//!
//! - [`request`]: the leader publishes a [`NginxRouteRequest`] with [`plan_app`], as
//!   [`juju::Effect`]s that are empty when nothing changed. Reconcile in every hook, as the
//!   Python library does in its constructor: keys no longer requested are deleted.
//! - [`protocol`]: the databag keys. Values are plain strings (`8080`, `True`).
//!
//! There is no answer: the provider writes nothing back, so there is no URL to wait for.
//!
//! ```no_run
//! use juju::{HookContext, HookTools, RelationId};
//! use nginx_route_client::{plan_app, NginxRouteRequest};
//!
//! fn nginx_route(
//!     tools: &HookTools,
//!     context: &HookContext,
//!     relation: &RelationId,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     if tools.is_leader()? {
//!         let app = &context.app_name;
//!         let request = NginxRouteRequest {
//!             max_body_size: Some(50),
//!             ..NginxRouteRequest::new(&context.model_name, app, app, 8080)
//!         };
//!         let own = tools.relation_get_app(relation, app)?;
//!         juju::effects::execute(tools, &plan_app(relation, &own, &request))?;
//!     }
//!     Ok(())
//! }
//! ```

pub mod protocol;
pub mod request;

pub use request::{plan_app, NginxRouteRequest};
