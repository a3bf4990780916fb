//! Observability with COS: metrics (`metrics-endpoint`, the `prometheus-scrape` crate),
//! dashboards (`grafana-dashboard`, the `grafana-dashboard` crate) and logs (`logging`, the
//! `loki-push-api` crate).
//!
//! - Metrics: every Synapse process listens for Prometheus on port 9000 (the main process
//!   and every worker). The leader publishes the scrape job (`*:9000`, expanded by Prometheus
//!   to every unit), the model's topology and the alert rules of `cos/prometheus_alert_rules`
//!   with the topology in every rule; every unit publishes its address and name. What
//!   Prometheus refuses (`scrape_job_errors`, invalid rules) is named in the status.
//! - Dashboards: the leader publishes `cos/grafana_dashboards` (xz and base64); what Grafana
//!   refuses is named in the status.
//! - Logs: Synapse logs to its standard output; Pebble forwards it to every Loki push
//!   endpoint of the `logging` relations (the layer's `log-targets`, as ops' LogForwarder
//!   writes them), and the leader publishes its topology to Loki. An endpoint that is not a
//!   URL is named in the status and left out.
//!
//! No write when the bags (or the plan's log targets) already hold what the charm would
//! write.

use grafana_dashboard::{DashboardReport, DashboardsRequest};
use juju::{Databag, HookContext, HookTools, LogLevel, RelationHook, RelationId};
use std::collections::BTreeMap;

use loki_push_api::{LogForwardingLayer, LogTarget, LokiRequest, LokiView};
use prometheus_scrape::{AlertRules, ConsumerReport, MetricsRequest, RuleFile, ScrapeJob, ScrapeUnit};

use crate::component::{ComponentPlan, Facts};
use crate::deployment::Deployment;
use crate::state::StateError;
use crate::status;

pub const NAME: &str = "observability";
pub const METRICS_ENDPOINT: &str = "metrics-endpoint";
pub const DASHBOARD_ENDPOINT: &str = "grafana-dashboard";
pub const LOGGING_ENDPOINT: &str = "logging";
/// Synapse's metrics listener, on every process.
pub const METRICS_PORT: u16 = 9000;
/// The charm's name, in the topology labels.
const CHARM: &str = "synapse";

/// The alert rule files, by path (as the Python library names them).
const RULE_FILES: [(&str, &str); 5] = [
    ("prometheus_alert_rules/synapse.rules", include_str!("../../cos/prometheus_alert_rules/synapse.rules")),
    (
        "prometheus_alert_rules/synapse_workers.rules",
        include_str!("../../cos/prometheus_alert_rules/synapse_workers.rules"),
    ),
    (
        "prometheus_alert_rules/synapse_federation.rules",
        include_str!("../../cos/prometheus_alert_rules/synapse_federation.rules"),
    ),
    (
        "prometheus_alert_rules/synapse_appservices.rules",
        include_str!("../../cos/prometheus_alert_rules/synapse_appservices.rules"),
    ),
    (
        "prometheus_alert_rules/synapse_database.rules",
        include_str!("../../cos/prometheus_alert_rules/synapse_database.rules"),
    ),
];
/// The dashboards, by path: their ids (`file:<stem>`) follow the file names.
const DASHBOARDS: [(&str, &str); 3] = [
    ("src/grafana_dashboards/synapse.json", include_str!("../../cos/grafana_dashboards/synapse.json")),
    (
        "src/grafana_dashboards/synapse_workers.json",
        include_str!("../../cos/grafana_dashboards/synapse_workers.json"),
    ),
    (
        "src/grafana_dashboards/synapse_appservices.json",
        include_str!("../../cos/grafana_dashboards/synapse_appservices.json"),
    ),
];

/// What the hook found.
#[derive(Debug, Default)]
pub struct ObservabilityState {
    pub metrics: Vec<Related<ConsumerReport>>,
    pub dashboards: Vec<Related<DashboardReport>>,
    pub logging: Vec<Related<LokiView>>,
    /// The topology the relations carry (model, its UUID, application, unit).
    pub context: Option<TopologyContext>,
    /// This unit's scrape address and name (with a `metrics-endpoint` relation).
    pub scrape_unit: Option<ScrapeUnit>,
    /// The log targets of the container's plan, by name.
    pub log_targets_in_plan: BTreeMap<String, LogTarget>,
}

/// The topology, built from the hook's context at load.
#[derive(Debug, Clone)]
pub struct TopologyContext {
    pub metrics: Result<prometheus_scrape::Topology, String>,
    pub dashboards: grafana_dashboard::Topology,
    pub logs: loki_push_api::Topology,
}

/// One relation: its id, this application's bags and the remote side's answer.
#[derive(Debug)]
pub struct Related<T> {
    pub id: RelationId,
    /// The application bag, as the leader reads it.
    pub app: Option<Databag>,
    pub unit: Databag,
    /// `None` while the remote application is not known.
    pub remote: Option<T>,
}

/// Nothing for endpoints goal-state lists no relation for; else per relation this
/// application's bags and the remote side's report, and (with `metrics-endpoint`) the
/// unit's binding address (one `network-get`).
pub fn load(
    tools: &HookTools,
    context: &HookContext,
    deployment: &Deployment,
    leader: bool,
    log_targets_in_plan: BTreeMap<String, LogTarget>,
) -> Result<ObservabilityState, StateError> {
    let mut state = ObservabilityState { log_targets_in_plan, ..ObservabilityState::default() };
    let related = |endpoint: &str| deployment.related_endpoints.contains(endpoint);
    if !related(METRICS_ENDPOINT) && !related(DASHBOARD_ENDPOINT) && !related(LOGGING_ENDPOINT) {
        return Ok(state);
    }
    let broken = match &context.event {
        juju::Event::Relation(event) if event.hook == RelationHook::Broken => Some(event.relation.clone()),
        _ => None,
    };
    let ids = |endpoint: &str| -> Result<Vec<RelationId>, StateError> {
        if !related(endpoint) {
            return Ok(Vec::new());
        }
        Ok(tools.relation_ids(endpoint)?.into_iter().filter(|id| Some(id) != broken.as_ref()).collect())
    };
    let bags = |id: &RelationId| -> Result<(Option<Databag>, Databag), StateError> {
        let app = if leader { Some(tools.relation_get_app(id, &context.app_name)?) } else { None };
        Ok((app, tools.relation_get_unit(id, &context.unit_name)?))
    };
    for id in ids(METRICS_ENDPOINT)? {
        let (app, unit) = bags(&id)?;
        let remote = match tools.relation_remote_app(&id)? {
            Some(prometheus) => Some(
                ConsumerReport::read(tools, &id, &prometheus)
                    .map_err(|error| StateError::Observability(Box::new(error)))?,
            ),
            None => None,
        };
        state.metrics.push(Related { id, app, unit, remote });
    }
    if !state.metrics.is_empty() {
        let info = tools.network_get(METRICS_ENDPOINT, None)?;
        state.scrape_unit = Some(ScrapeUnit::from_binding(context, &info));
    }
    if leader {
        for id in ids(DASHBOARD_ENDPOINT)? {
            let (app, unit) = bags(&id)?;
            let remote = match tools.relation_remote_app(&id)? {
                Some(grafana) => Some(
                    DashboardReport::read(tools, &id, &grafana)
                        .map_err(|error| StateError::Observability(Box::new(error)))?,
                ),
                None => None,
            };
            state.dashboards.push(Related { id, app, unit, remote });
        }
    }
    for id in ids(LOGGING_ENDPOINT)? {
        let (app, unit) = bags(&id)?;
        let view = LokiView::read(tools, &id).map_err(|error| StateError::Observability(Box::new(error)))?;
        state.logging.push(Related { id, app, unit, remote: Some(view) });
    }
    state.context = Some(TopologyContext {
        metrics: prometheus_scrape::Topology::from_context(context, CHARM).map_err(|error| error.to_string()),
        dashboards: grafana_dashboard::Topology::from_context(context),
        logs: loki_push_api::Topology::from_context(context, CHARM),
    });
    Ok(state)
}

/// The scrape job: every process's metrics listener, on every unit.
fn scrape_jobs() -> Vec<ScrapeJob> {
    vec![ScrapeJob::all_units(METRICS_PORT).with_name("synapse_application")]
}

/// The alert rules, parsed (they are the charm's own files: a parse error is a bug, caught by
/// the tests).
fn alert_rules() -> AlertRules {
    RULE_FILES.iter().fold(AlertRules::new(), |rules, (path, text)| {
        rules.with_file(RuleFile::parse(path, text).expect("the charm's alert rules parse"))
    })
}

/// The plan, and the log targets the layer should have (`None`: leave them as they are).
#[derive(Debug, Default)]
pub struct ObservabilityPlan {
    pub plan: ComponentPlan,
    pub log_targets: Option<LogForwardingLayer>,
}

pub fn plan(state: &ObservabilityState, facts: &Facts) -> ObservabilityPlan {
    let mut plan = ComponentPlan::default();
    let Some(context) = &state.context else { return ObservabilityPlan::default() };
    if !facts.may_write {
        return ObservabilityPlan::default();
    }
    let leader = facts.speaks_for_app();
    let mut problems = Vec::new();
    // Metrics.
    for relation in &state.metrics {
        if leader {
            match &context.metrics {
                Ok(topology) => {
                    let request = MetricsRequest::new(topology.clone(), &scrape_jobs())
                        .and_then(|request| request.with_alert_rules(&alert_rules()));
                    match request {
                        Ok(request) => {
                            let own = relation.app.clone().unwrap_or_default();
                            plan.effects.extend(prometheus_scrape::plan_app(&relation.id, &own, &request));
                        }
                        Err(error) => problems.push(format!("metrics-endpoint: {error}")),
                    }
                }
                Err(error) => problems.push(format!("metrics-endpoint: {error}")),
            }
        }
        if let Some(unit) = &state.scrape_unit {
            plan.effects.extend(prometheus_scrape::plan_unit(&relation.id, &relation.unit, unit));
        }
        if let Some(report) = &relation.remote {
            problems.extend(report.problems.iter().map(|problem| format!("Prometheus: {problem}")));
        }
    }
    // Dashboards (the leader's only).
    for relation in &state.dashboards {
        let request = DASHBOARDS
            .iter()
            .fold(DashboardsRequest::new(CHARM, context.dashboards.clone()), |request, (path, text)| {
                request.and_then(|request| request.with_dashboard_file(path, text))
            });
        match request {
            Ok(request) => {
                let own = relation.app.clone().unwrap_or_default();
                plan.effects.extend(grafana_dashboard::plan_app(&relation.id, &own, &request));
            }
            Err(error) => problems.push(format!("grafana-dashboard: {error}")),
        }
        match &relation.remote {
            Some(DashboardReport::Invalid(refused)) => {
                problems.extend(refused.iter().map(|problem| format!("Grafana refuses {problem}")))
            }
            Some(DashboardReport::Malformed { value }) => {
                problems.push(format!("Grafana's report is malformed: {value:?}"))
            }
            _ => {}
        }
    }
    // Logs.
    let mut endpoints = Vec::new();
    for relation in &state.logging {
        if leader {
            let own = relation.app.clone().unwrap_or_default();
            plan.effects.extend(loki_push_api::plan_app(
                &relation.id,
                &own,
                &LokiRequest::new(context.logs.clone()),
            ));
        }
        match &relation.remote {
            Some(LokiView::Ready { endpoints: ready, problems: left_out }) => {
                endpoints.extend(ready.iter().cloned());
                problems.extend(left_out.iter().map(|problem| format!("Loki: {problem}")));
            }
            Some(LokiView::NotReady(reason)) => {
                plan.log(
                    LogLevel::Info,
                    format!("logging: {} has no Loki endpoint yet: {reason}", relation.id),
                );
                if let loki_push_api::NotReady::NoUsableEndpoint(unusable) = reason {
                    problems.extend(unusable.iter().map(|problem| format!("Loki: {problem}")));
                }
            }
            None => {}
        }
    }
    let enabled = state
        .log_targets_in_plan
        .iter()
        .filter(|(_, target)| target.is_enabled())
        .map(|(name, _)| name.as_str());
    let layer = LogForwardingLayer::new(&endpoints, &context.logs, enabled);
    let changed = layer.log_targets.iter().any(|(name, target)| match state.log_targets_in_plan.get(name) {
        Some(current) if !target.is_enabled() => current.is_enabled(),
        Some(current) => current != target,
        None => target.is_enabled(),
    });
    let log_targets = changed.then_some(layer);
    for problem in &problems {
        plan.log(LogLevel::Warning, problem.clone());
    }
    if let Some(first) = problems.first() {
        plan.statuses.push(status::observability_problem(first, problems.len()));
    }
    ObservabilityPlan { plan, log_targets }
}

/// The plan's log targets as the layer writes them (every override shown as `replace`, which
/// is how this charm writes them).
pub fn targets_in_plan(plan: &BTreeMap<String, pebble::LogTarget>) -> BTreeMap<String, LogTarget> {
    plan.iter()
        .map(|(name, target)| {
            let kind = match target.type_ {
                Some(pebble::LogTargetType::Loki) => "loki",
                Some(pebble::LogTargetType::Opentelemetry) => "opentelemetry",
                Some(pebble::LogTargetType::Syslog) => "syslog",
                None => "",
            };
            let target = LogTarget {
                override_: "replace".into(),
                kind: kind.into(),
                location: target.location.clone().unwrap_or_default(),
                services: target.services.clone(),
                labels: target.labels.clone(),
            };
            (name.clone(), target)
        })
        .collect()
}

/// The layer Pebble gets for `targets`.
pub fn layer(targets: &LogForwardingLayer) -> pebble::Layer {
    let log_targets = targets
        .log_targets
        .iter()
        .map(|(name, target)| {
            let target = pebble::LogTarget {
                override_: pebble::Override::Replace,
                type_: Some(pebble::LogTargetType::Loki),
                location: Some(target.location.clone()),
                services: target.services.clone(),
                labels: target.labels.clone(),
            };
            (name.clone(), target)
        })
        .collect();
    pebble::Layer {
        summary: Some("Synapse's log forwarding".into()),
        description: Some(
            "Loki push endpoints of the logging relations, written by the synapse-k8s charm".into(),
        ),
        log_targets,
        ..pebble::Layer::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::tests::facts;
    use juju::Effect;

    fn topology() -> TopologyContext {
        let uuid = "0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01";
        TopologyContext {
            metrics: prometheus_scrape::Topology::new("matrix", uuid, "synapse", "synapse/0", CHARM)
                .map_err(|error| error.to_string()),
            dashboards: grafana_dashboard::Topology {
                model: "matrix".into(),
                model_uuid: uuid.into(),
                application: "synapse".into(),
                unit: "synapse/0".into(),
            },
            logs: loki_push_api::Topology {
                model: "matrix".into(),
                model_uuid: uuid.into(),
                application: "synapse".into(),
                unit: "synapse/0".into(),
                charm_name: CHARM.into(),
            },
        }
    }

    #[test]
    fn the_charms_rules_and_dashboards_parse_and_carry_the_topology() {
        let rules = alert_rules().render(topology().metrics.as_ref().unwrap()).expect("the rules render");
        let text = rules.to_string();
        assert!(text.contains("juju_model_uuid"), "topology labels in the rules");
        let groups = rules["groups"].as_array().unwrap();
        assert_eq!(groups.len(), RULE_FILES.len());
        let request = DASHBOARDS
            .iter()
            .fold(DashboardsRequest::new(CHARM, topology().dashboards), |request, (path, text)| {
                request.and_then(|request| request.with_dashboard_file(path, text))
            });
        let ids: Vec<String> =
            request.unwrap().dashboards().iter().map(|dashboard| dashboard.id().to_string()).collect();
        assert_eq!(ids, ["file:synapse", "file:synapse_workers", "file:synapse_appservices"]);
    }

    #[test]
    fn without_cos_relations_nothing_is_planned() {
        let deployment = Deployment::single();
        let planned = plan(&ObservabilityState::default(), &facts(&deployment, "synapse/0", true));
        assert!(planned.plan.effects.is_empty() && planned.log_targets.is_none());
        let mut state = ObservabilityState { context: Some(topology()), ..ObservabilityState::default() };
        state.metrics.push(Related {
            id: RelationId::new(METRICS_ENDPOINT, 4),
            app: Some(Databag::new()),
            unit: Databag::new(),
            remote: Some(ConsumerReport::default()),
        });
        state.scrape_unit = Some(ScrapeUnit::new("synapse/0", "10.1.0.7"));
        let planned = plan(&state, &facts(&deployment, "synapse/0", true));
        let written: Vec<&Effect> = planned.plan.effects.iter().collect();
        assert_eq!(written.len(), 2, "the leader's request and the unit's address: {written:?}");
        assert!(planned.plan.statuses.is_empty());
    }
}
