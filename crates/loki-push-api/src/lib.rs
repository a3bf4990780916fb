//! The requirer side of the `loki_push_api` Juju interface, wire-compatible with
//! `charms.loki_k8s.v1.loki_push_api` (`LogForwarder`, LIBPATCH 12 to 30) and loki-k8s,
//! plus the Pebble log forwarding it implies (Juju 3.4 or later).
//!
//! - [`view`]: every unit reads where to push: [`LokiView::read`] gives each Loki unit's
//!   [`LokiEndpoint`] (an http(s) [`PushUrl`]) or the [`NotReady`] reason naming the value.
//! - [`log_targets`]: [`LogForwardingLayer::new`] builds the `log-targets` of the layer
//!   [`layer_name`] (`<container>-log-forwarding`) as plain data for the charm's Pebble
//!   layer.
//! - [`consumer`]: the leader publishes `metadata` and `alert_rules` with [`plan_app`], as
//!   [`juju::Effect`]s that are empty when the bag already holds them.
//! - [`protocol`]: the databag keys.
//!
//! Pebble forwards only what services write to stdout and stderr: Synapse must log to the
//! console for its logs to reach Loki.
//!
//! ```no_run
//! use juju::{HookContext, HookTools, RelationId};
//! use loki_push_api::{layer_name, plan_app, LogForwardingLayer, LokiRequest, LokiView, Topology};
//!
//! fn logging(
//!     tools: &HookTools,
//!     context: &HookContext,
//!     relation: &RelationId,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     let topology = Topology::from_context(context, "synapse");
//!     if tools.is_leader()? {
//!         let own = tools.relation_get_app(relation, &context.app_name)?;
//!         juju::effects::execute(tools, &plan_app(relation, &own, &LokiRequest::new(topology.clone())))?;
//!     }
//!     let view = LokiView::read(tools, relation)?;
//!     // The names of the enabled log targets in the container's current plan.
//!     let in_plan: Vec<&str> = Vec::new();
//!     let layer = LogForwardingLayer::new(view.endpoints(), &topology, in_plan);
//!     println!("add layer {} (combine): {layer:?}", layer_name("synapse"));
//!     Ok(())
//! }
//! ```

pub mod consumer;
pub mod log_targets;
pub mod protocol;
pub mod url;
pub mod view;

pub use consumer::{plan_app, InvalidRules, LokiRequest, Topology};
pub use log_targets::{LogForwardingLayer, LogTarget};
pub use protocol::layer_name;
pub use url::{PushUrl, UrlError};
pub use view::{EndpointError, LokiEndpoint, LokiView, NotReady, ReadError, UnitProblem};
