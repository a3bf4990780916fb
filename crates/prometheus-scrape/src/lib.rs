//! The provider side of the `prometheus_scrape` Juju interface, wire-compatible with
//! `charms.prometheus_k8s.v0.prometheus_scrape` (`MetricsEndpointProvider`, LIBPATCH 47 to
//! 61) and cosl's `AlertRules`, as prometheus-k8s and grafana-agent read it.
//!
//! - [`provider`]: the leader publishes a [`MetricsRequest`] ([`Topology`] as
//!   `scrape_metadata`, [`ScrapeJob`]s as `scrape_jobs`, [`AlertRules`] as `alert_rules`)
//!   with [`plan_app`]; every unit publishes where it is scraped ([`ScrapeUnit`]) with
//!   [`plan_unit`]. Both are [`juju::Effect`]s, empty when the bag already holds the values.
//! - [`rules`]: rule files read with [`RuleFile::parse`], stamped with the topology.
//! - [`view`]: [`ConsumerReport::read`] gives what the consumer refused, as [`Problem`]s.
//! - [`promql`]: the label-matcher injection cosl delegates to cos-tool.
//! - [`protocol`]: the databag keys.
//!
//! Units that have not published an address are silently skipped by the consumer, and `*`
//! targets expand only over units that have: every unit must run [`plan_unit`].
//!
//! ```no_run
//! use juju::{HookContext, HookTools, RelationId};
//! use prometheus_scrape::{
//!     plan_app, plan_unit, AlertRules, ConsumerReport, MetricsRequest, RuleFile, ScrapeJob,
//!     ScrapeUnit, Topology,
//! };
//!
//! fn metrics(
//!     tools: &HookTools,
//!     context: &HookContext,
//!     relation: &RelationId,
//!     prometheus_app: &str,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     if tools.is_leader()? {
//!         // The charm embeds cos/prometheus_alert_rules/*.rules (include_str!).
//!         let rules = AlertRules::new().with_file(RuleFile::parse("synapse.rules", "alert: Down\nexpr: up < 1\n")?);
//!         let request = MetricsRequest::new(
//!             Topology::from_context(context, "synapse")?,
//!             &[ScrapeJob::all_units(9000).with_name("synapse_application")],
//!         )?
//!         .with_alert_rules(&rules)?;
//!         let own = tools.relation_get_app(relation, &context.app_name)?;
//!         juju::effects::execute(tools, &plan_app(relation, &own, &request))?;
//!         for problem in ConsumerReport::read(tools, relation, prometheus_app)?.problems {
//!             println!("prometheus says: {problem}");
//!         }
//!     }
//!     let unit = ScrapeUnit::from_binding(context, &tools.network_get("metrics-endpoint", Some(relation))?);
//!     let own = tools.relation_get_unit(relation, &context.unit_name)?;
//!     juju::effects::execute(tools, &plan_unit(relation, &own, &unit))?;
//!     Ok(())
//! }
//! ```

pub mod jobs;
pub mod promql;
pub mod protocol;
pub mod provider;
pub mod rules;
pub mod topology;
pub mod view;

pub use jobs::{InvalidJob, RelabelConfig, ScrapeJob, StaticConfig, Target};
pub use promql::{inject_matchers, PromqlError};
pub use provider::{bind_address, plan_app, plan_unit, pod_fqdn, InvalidRequest, MetricsRequest, ScrapeUnit};
pub use rules::{AlertRules, RuleFile, RulesError};
pub use topology::{InvalidTopology, Topology};
pub use view::{ConsumerReport, Problem, ReadError};
