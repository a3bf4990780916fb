//! The provider side of the `grafana_dashboard` Juju interface, wire-compatible with
//! `charms.grafana_k8s.v0.grafana_dashboard` (`GrafanaDashboardProvider`, LIBPATCH 36 to 48)
//! and grafana-k8s.
//!
//! - [`provider`]: the leader publishes a [`DashboardsRequest`] (dashboard files under stable
//!   `file:<stem>` ids) with [`plan_app`], as a [`juju::Effect`] that is empty while the bag
//!   holds the same dashboards; every write carries a fresh `uuid`.
//! - [`encoding`]: `content` is xz-compressed then standard base64, as cosl's `LZMABase64`.
//! - [`view`]: [`DashboardReport::read`] gives what Grafana refused.
//! - [`protocol`]: the databag keys.
//!
//! Only the leader writes; the Python library writes on `relation-created`,
//! `leader-elected`, `upgrade-charm` and `config-changed`, and a charm may plan in every hook.
//!
//! ```no_run
//! use grafana_dashboard::{plan_app, DashboardReport, DashboardsRequest, Topology};
//! use juju::{HookContext, HookTools, RelationId};
//!
//! fn dashboards(
//!     tools: &HookTools,
//!     context: &HookContext,
//!     relation: &RelationId,
//!     grafana_app: &str,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     if !tools.is_leader()? {
//!         return Ok(());
//!     }
//!     // The charm embeds cos/grafana_dashboards/*.json (include_str!).
//!     let request = DashboardsRequest::new("synapse", Topology::from_context(context))?
//!         .with_dashboard_file("src/grafana_dashboards/synapse.json", r#"{"title": "Synapse"}"#)?;
//!     let own = tools.relation_get_app(relation, &context.app_name)?;
//!     juju::effects::execute(tools, &plan_app(relation, &own, &request))?;
//!     if let DashboardReport::Invalid(problems) = DashboardReport::read(tools, relation, grafana_app)? {
//!         println!("grafana refused {} dashboard(s)", problems.len());
//!     }
//!     Ok(())
//! }
//! ```

pub mod encoding;
pub mod protocol;
pub mod provider;
pub mod view;

pub use encoding::{compress, decompress, DecodeError};
pub use provider::{plan_app, uuid4, Dashboard, DashboardsRequest, InvalidDashboard, Topology};
pub use view::{DashboardProblem, DashboardReport, ReadError};
