//! What the provider publishes: the leader's application bag and every unit's bag.
//!
//! The plans write only the keys of this interface, each only when the bag does not already
//! hold the same JSON document (whatever its spacing or key order), so a bag written by the
//! Python library, or by an earlier hook, is left alone. Other keys are never touched.

use std::net::IpAddr;

use juju::{Bag, Databag, Effect, HookContext, RelationId};
use serde_json::Value;

use crate::jobs::{jobs_json, InvalidJob, ScrapeJob};
use crate::protocol::{
    ALERT_RULES, SCRAPE_JOBS, SCRAPE_METADATA, UNIT_ADDRESS, UNIT_FQDN, UNIT_NAME, UNIT_PATH,
};
use crate::rules::{AlertRules, RulesError};
use crate::topology::Topology;

/// A request the consumer would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    #[error(transparent)]
    Job(#[from] InvalidJob),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// What the leader publishes: topology, jobs and rules, rendered and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRequest {
    topology: Topology,
    jobs: Value,
    alert_rules: Value,
}

impl MetricsRequest {
    /// `jobs` as published (no job gives the library's default `*:80` job), with no rules.
    pub fn new(topology: Topology, jobs: &[ScrapeJob]) -> Result<Self, InvalidRequest> {
        let jobs = jobs_json(jobs)?;
        Ok(Self { topology, jobs, alert_rules: Value::Object(Default::default()) })
    }

    /// Publishes `rules`, stamped with this request's topology.
    pub fn with_alert_rules(mut self, rules: &AlertRules) -> Result<Self, InvalidRequest> {
        self.alert_rules = rules.render(&self.topology)?;
        Ok(self)
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The `scrape_jobs` list.
    pub fn jobs(&self) -> &Value {
        &self.jobs
    }

    /// The `alert_rules` document (`{}` without rules).
    pub fn alert_rules(&self) -> &Value {
        &self.alert_rules
    }

    /// The application bag entries: three JSON documents.
    pub fn to_databag(&self) -> Databag {
        let mut bag = Databag::new();
        bag.insert(SCRAPE_METADATA.into(), self.topology.to_json().to_string());
        bag.insert(SCRAPE_JOBS.into(), self.jobs.to_string());
        bag.insert(ALERT_RULES.into(), self.alert_rules.to_string());
        bag
    }
}

/// The leader's writes for `request` against `current_app_bag`, this application's bag on
/// `relation`: one `relation-set` of the keys whose JSON differs, nothing when the bag holds
/// the request. `alert_rules` is written as `{}` when there are none, which withdraws rules
/// published before.
pub fn plan_app(relation: &RelationId, current_app_bag: &Databag, request: &MetricsRequest) -> Vec<Effect> {
    let changes: Databag = request
        .to_databag()
        .into_iter()
        .filter(|(key, value)| !current_app_bag.get(key).is_some_and(|held| same_json(held, value)))
        .collect();
    match changes.is_empty() {
        true => Vec::new(),
        false => vec![Effect::relation_set(relation.clone(), Bag::App, changes)],
    }
}

/// Where the consumer scrapes one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeUnit {
    name: String,
    address: String,
    path: Option<String>,
    fqdn: Option<String>,
}

impl ScrapeUnit {
    /// Unit `name` (`synapse/0`) at `address`, an IP address or a host name.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        Self { name: name.into(), address: address.into(), path: None, fqdn: None }
    }

    /// What the library publishes without an external URL: the relation's bind address when
    /// Juju reports one, else the pod FQDN; the FQDN also as `prometheus_scrape_unit_fqdn`.
    /// Pass `tools.network_get(ENDPOINT, Some(relation))`.
    pub fn from_binding(context: &HookContext, info: &juju::tools::NetworkInfo) -> Self {
        let fqdn = pod_fqdn(context);
        let address = bind_address(info).map_or_else(|| fqdn.clone(), |ip| ip.to_string());
        Self::new(&context.unit_name, address).with_fqdn(fqdn)
    }

    /// A path prefix for every job's `metrics_path` (an external URL's path).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into()).filter(|path: &String| !path.is_empty());
        self
    }

    /// The pod FQDN, for consumers that match fixed targets against it (LIBPATCH 57 on).
    pub fn with_fqdn(mut self, fqdn: impl Into<String>) -> Self {
        self.fqdn = Some(fqdn.into()).filter(|fqdn: &String| !fqdn.is_empty());
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// The unit bag entries (plain strings); absent optional keys are deleted.
    pub fn to_databag(&self) -> Databag {
        let mut bag = Databag::new();
        bag.insert(UNIT_ADDRESS.into(), self.address.clone());
        bag.insert(UNIT_NAME.into(), self.name.clone());
        bag.insert(UNIT_PATH.into(), self.path.clone().unwrap_or_default());
        bag.insert(UNIT_FQDN.into(), self.fqdn.clone().unwrap_or_default());
        bag
    }
}

/// A unit's writes against `current_unit_bag`, its own bag on `relation`: one `relation-set`
/// of what differs, nothing when unchanged. Juju's own keys and other keys are kept.
pub fn plan_unit(relation: &RelationId, current_unit_bag: &Databag, unit: &ScrapeUnit) -> Vec<Effect> {
    let changes: Databag = unit
        .to_databag()
        .into_iter()
        .filter(|(key, value)| current_unit_bag.get(key).map_or(String::new(), Clone::clone) != *value)
        .collect();
    match changes.is_empty() {
        true => Vec::new(),
        false => vec![Effect::relation_set(relation.clone(), Bag::Unit, changes)],
    }
}

/// The first address of the binding, as ops' `Network.bind_address` picks it.
pub fn bind_address(info: &juju::tools::NetworkInfo) -> Option<IpAddr> {
    info.bind_addresses
        .iter()
        .flat_map(|bind| &bind.addresses)
        .find_map(|address| address.value.parse::<IpAddr>().ok())
}

/// The unit's pod FQDN on Kubernetes with the default cluster domain,
/// `<app>-<n>.<app>-endpoints.<model>.svc.cluster.local` (what `socket.getfqdn()` gives).
pub fn pod_fqdn(context: &HookContext) -> String {
    let number = context.unit_name.rsplit_once('/').map_or("0", |(_, number)| number);
    let app = &context.app_name;
    format!("{app}-{number}.{app}-endpoints.{}.svc.cluster.local", context.model_name)
}

/// The same JSON document; text that is not JSON only equals itself.
pub(crate) fn same_json(held: &str, wanted: &str) -> bool {
    held == wanted
        || matches!(
            (serde_json::from_str::<Value>(held), serde_json::from_str::<Value>(wanted)),
            (Ok(held), Ok(wanted)) if held == wanted
        )
}

#[cfg(test)]
mod tests {
    use juju::effects::Value as EffectValue;

    use super::*;
    use crate::rules::RuleFile;

    const UUID: &str = "0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01";

    fn relation() -> RelationId {
        RelationId::new("metrics-endpoint", 7)
    }

    fn topology() -> Topology {
        Topology::new("prod", UUID, "synapse", "synapse/0", "synapse").unwrap()
    }

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn written(effects: &[Effect], to: Bag) -> Databag {
        match effects {
            [] => Databag::new(),
            [Effect::RelationSet { relation: at, bag, data }] => {
                assert_eq!((at, *bag), (&relation(), to));
                data.iter()
                    .map(|(key, value)| match value {
                        EffectValue::Text(text) => (key.clone(), text.clone()),
                        other => panic!("{other:?}"),
                    })
                    .collect()
            }
            other => panic!("{other:?}"),
        }
    }

    fn request() -> MetricsRequest {
        let rules =
            AlertRules::new().with_file(RuleFile::parse("a.rules", "alert: A\nexpr: up < 1\n").unwrap());
        MetricsRequest::new(topology(), &[ScrapeJob::all_units(9000).with_name("synapse")])
            .unwrap()
            .with_alert_rules(&rules)
            .unwrap()
    }

    #[test]
    fn the_leader_writes_three_json_documents_once() {
        let first = written(&plan_app(&relation(), &Databag::new(), &request()), Bag::App);
        assert_eq!(first.keys().collect::<Vec<_>>(), ["alert_rules", "scrape_jobs", "scrape_metadata"]);
        let metadata: Value = serde_json::from_str(&first["scrape_metadata"]).unwrap();
        assert_eq!(metadata, topology().to_json());
        let jobs: Value = serde_json::from_str(&first["scrape_jobs"]).unwrap();
        assert_eq!(jobs[0]["static_configs"][0]["targets"][0], "*:9000");
        let rules: Value = serde_json::from_str(&first["alert_rules"]).unwrap();
        assert_eq!(rules["groups"][0]["rules"][0]["labels"]["juju_application"], "synapse");
        assert!(plan_app(&relation(), &first, &request()).is_empty());

        // Python's spacing and key order is the same document.
        let mut python = first.clone();
        python.insert(
            "scrape_metadata".into(),
            format!(
                r#"{{"model_uuid": "{UUID}", "model": "prod", "application": "synapse", "unit": "synapse/0", "charm_name": "synapse"}}"#
            ),
        );
        assert!(plan_app(&relation(), &python, &request()).is_empty());
    }

    #[test]
    fn only_what_changed_is_written_and_other_keys_stay() {
        let mut held = request().to_databag();
        held.insert("unrelated".into(), "x".into());
        let fewer =
            MetricsRequest::new(topology(), &[ScrapeJob::all_units(9000).with_name("synapse")]).unwrap();
        assert_eq!(written(&plan_app(&relation(), &held, &fewer), Bag::App), bag(&[("alert_rules", "{}")]));
        let moved =
            MetricsRequest::new(topology(), &[ScrapeJob::all_units(9001).with_name("synapse")]).unwrap();
        let changes = written(&plan_app(&relation(), &held, &moved), Bag::App);
        assert_eq!(changes.keys().collect::<Vec<_>>(), ["alert_rules", "scrape_jobs"]);
    }

    #[test]
    fn units_publish_address_and_name_as_plain_strings() {
        let unit = ScrapeUnit::new("synapse/0", "10.1.0.7");
        let juju_keys = bag(&[("private-address", "10.1.0.7")]);
        let first = written(&plan_unit(&relation(), &juju_keys, &unit), Bag::Unit);
        assert_eq!(
            first,
            bag(&[
                ("prometheus_scrape_unit_address", "10.1.0.7"),
                ("prometheus_scrape_unit_name", "synapse/0")
            ]),
            "empty optional keys are not written to a bag without them"
        );
        let mut held = juju_keys.clone();
        held.extend(first);
        assert!(plan_unit(&relation(), &held, &unit).is_empty());
        let moved = ScrapeUnit::new("synapse/0", "10.1.0.9").with_path("/synapse").with_fqdn("s-0.example");
        assert_eq!(
            written(&plan_unit(&relation(), &held, &moved), Bag::Unit),
            bag(&[
                ("prometheus_scrape_unit_address", "10.1.0.9"),
                ("prometheus_scrape_unit_fqdn", "s-0.example"),
                ("prometheus_scrape_unit_path", "/synapse"),
            ])
        );
        held.insert("prometheus_scrape_unit_path".into(), "/old".into());
        assert_eq!(
            written(&plan_unit(&relation(), &held, &unit), Bag::Unit),
            bag(&[("prometheus_scrape_unit_path", "")]),
            "a path no longer wanted is deleted"
        );
    }

    #[test]
    fn the_binding_address_or_else_the_pod_fqdn() {
        let vars = [
            ("JUJU_DISPATCH_PATH", "hooks/update-status"),
            ("JUJU_UNIT_NAME", "synapse/3"),
            ("JUJU_MODEL_NAME", "prod"),
            ("JUJU_MODEL_UUID", UUID),
            ("JUJU_VERSION", "3.6.4"),
        ];
        let var = |name: &str| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string());
        let context = HookContext::from_vars(var, None).unwrap();
        let fqdn = "synapse-3.synapse-endpoints.prod.svc.cluster.local";
        assert_eq!(pod_fqdn(&context), fqdn);
        let none = ScrapeUnit::from_binding(&context, &juju::tools::NetworkInfo::default());
        assert_eq!((none.name(), none.address()), ("synapse/3", fqdn));
        let info: juju::tools::NetworkInfo = serde_json::from_str(
            r#"{"bind-addresses": [{"interface-name": "eth0", "addresses": [{"value": "10.1.0.7", "cidr": ""}]}]}"#,
        )
        .unwrap();
        let bound = ScrapeUnit::from_binding(&context, &info);
        assert_eq!(bound.address(), "10.1.0.7");
        assert_eq!(bound.to_databag()["prometheus_scrape_unit_fqdn"], fqdn);
    }
}
