//! What the consumer's leader writes: `metadata` and `alert_rules` in its application bag,
//! as every class of the Python library does (LogForwarder included). The consumer writes
//! nothing in its unit bags.
//!
//! `alert_rules` is `{}` without rules. LogQL rules get what cosl gives them: the group
//! renamed `<model>_<uuid8>_<app>_<name>_alerts` (characters outside `[A-Za-z0-9_:]` as
//! `_`), the labels `juju_model`, `juju_model_uuid`, `juju_application`, `juju_charm` on
//! every rule (labels already there win), and `%%juju_topology%%` in each `expr` replaced
//! by `job=~".+"`. (cosl also swallows a comma after the placeholder, which leaves
//! `{job=~".+"filename=...}`, not LogQL; the comma is kept here.) The document is written
//! with sorted keys.

use std::collections::BTreeMap;

use juju::{Bag, Databag, Effect, HookContext, RelationId};
use serde_json::{Map, Value};

use crate::protocol::{ALERT_RULES, METADATA, TOPOLOGY_PLACEHOLDER};

/// The consumer's topology, as cosl's `JujuTopology` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub model: String,
    pub model_uuid: String,
    pub application: String,
    pub unit: String,
    pub charm_name: String,
}

impl Topology {
    /// This unit's topology: the hook context, and the charm name of `metadata.yaml`.
    pub fn from_context(context: &HookContext, charm_name: &str) -> Self {
        Self {
            model: context.model_name.clone(),
            model_uuid: context.model_uuid.clone(),
            application: context.app_name.clone(),
            unit: context.unit_name.clone(),
            charm_name: charm_name.to_string(),
        }
    }

    /// `juju_<model>_<uuid8>_<application>`: the `job` label of forwarded logs.
    pub fn job(&self) -> String {
        format!("juju_{}", self.identifier())
    }

    /// `<model>_<uuid8>_<application>`.
    pub fn identifier(&self) -> String {
        let short: String = self.model_uuid.chars().take(8).collect();
        format!("{}_{}_{}", self.model, short, self.application).replace('/', "_")
    }

    /// The `metadata` object.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "model": self.model,
            "model_uuid": self.model_uuid,
            "application": self.application,
            "unit": self.unit,
            "charm_name": self.charm_name,
        })
    }
}

/// A rule file the consumer would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRules {
    #[error("the rule file is not an object with a groups list")]
    NotARuleFile,
    #[error("group #{0} has no name or no rules list")]
    Group(usize),
    #[error("group {group}: rule #{rule} has no alert/record name or no expr")]
    Rule { group: String, rule: usize },
}

/// What the leader publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct LokiRequest {
    topology: Topology,
    alert_rules: Value,
}

impl LokiRequest {
    /// The topology and no rules.
    pub fn new(topology: Topology) -> Self {
        Self { topology, alert_rules: Value::Object(Map::new()) }
    }

    /// Publishes `rule_file` (`{"groups": [...]}`, LogQL), stamped with the topology.
    pub fn with_alert_rules(mut self, rule_file: &Value) -> Result<Self, InvalidRules> {
        let groups = rule_file.get("groups").and_then(Value::as_array).ok_or(InvalidRules::NotARuleFile)?;
        let mut stamped = Vec::new();
        for (index, group) in groups.iter().enumerate() {
            let (Some(name), Some(rules)) =
                (group.get("name").and_then(Value::as_str), group.get("rules").and_then(Value::as_array))
            else {
                return Err(InvalidRules::Group(index));
            };
            let mut group = group.as_object().cloned().unwrap_or_default();
            let renamed = format!("{}_{name}_alerts", self.topology.identifier());
            let renamed: String = renamed
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | ':') { c } else { '_' })
                .collect();
            group.insert("name".into(), Value::String(renamed));
            let rules = rules
                .iter()
                .enumerate()
                .map(|(position, rule)| self.stamp(name, position, rule))
                .collect::<Result<Vec<_>, _>>()?;
            group.insert("rules".into(), Value::Array(rules));
            stamped.push(Value::Object(group));
        }
        self.alert_rules = match stamped.is_empty() {
            true => Value::Object(Map::new()),
            false => serde_json::json!({ "groups": stamped }),
        };
        Ok(self)
    }

    fn stamp(&self, group: &str, position: usize, rule: &Value) -> Result<Value, InvalidRules> {
        let fail = || InvalidRules::Rule { group: group.to_string(), rule: position };
        let mut rule = rule.as_object().cloned().ok_or_else(fail)?;
        let named = ["alert", "record"].iter().any(|key| rule.get(*key).is_some_and(Value::is_string));
        let expr = rule.get("expr").and_then(Value::as_str).ok_or_else(fail)?;
        if !named {
            return Err(fail());
        }
        let expr = replace_placeholder(expr);
        rule.insert("expr".into(), Value::String(expr));
        let labels = rule.entry("labels").or_insert_with(|| Value::Object(Map::new()));
        let labels = labels.as_object_mut().ok_or_else(fail)?;
        for (label, value) in [
            ("juju_model", &self.topology.model),
            ("juju_model_uuid", &self.topology.model_uuid),
            ("juju_application", &self.topology.application),
            ("juju_charm", &self.topology.charm_name),
        ] {
            labels.entry(label).or_insert_with(|| Value::String(value.clone()));
        }
        Ok(Value::Object(rule))
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The `alert_rules` document (`{}` without rules).
    pub fn alert_rules(&self) -> &Value {
        &self.alert_rules
    }

    /// The application bag entries: `metadata`, and `alert_rules` with sorted keys.
    pub fn to_databag(&self) -> Databag {
        let mut bag = Databag::new();
        bag.insert(METADATA.into(), self.topology.to_json().to_string());
        bag.insert(ALERT_RULES.into(), sorted(&self.alert_rules).to_string());
        bag
    }
}

/// The leader's writes for `request` against `current_app_bag`, this application's bag on
/// `relation`: one `relation-set` of what differs (as JSON documents), nothing when the bag
/// holds the request. Other keys are never touched.
pub fn plan_app(relation: &RelationId, current_app_bag: &Databag, request: &LokiRequest) -> Vec<Effect> {
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

/// `%%juju_topology%%` replaced by `job=~".+"`.
fn replace_placeholder(expr: &str) -> String {
    expr.replace(TOPOLOGY_PLACEHOLDER, r#"job=~".+""#)
}

/// `value` with every object's keys sorted (Python's `json.dumps(..., sort_keys=True)`).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let ordered: BTreeMap<&String, Value> =
                map.iter().map(|(key, value)| (key, sorted(value))).collect();
            Value::Object(ordered.into_iter().map(|(key, value)| (key.clone(), value)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn same_json(held: &str, wanted: &str) -> bool {
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

    pub(crate) fn topology() -> Topology {
        Topology {
            model: "prod".into(),
            model_uuid: "0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01".into(),
            application: "synapse".into(),
            unit: "synapse/0".into(),
            charm_name: "synapse".into(),
        }
    }

    fn relation() -> RelationId {
        RelationId::new("logging", 5)
    }

    fn written(effects: &[Effect]) -> Databag {
        match effects {
            [] => Databag::new(),
            [Effect::RelationSet { bag: Bag::App, data, .. }] => data
                .iter()
                .map(|(key, value)| match value {
                    EffectValue::Text(text) => (key.clone(), text.clone()),
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn metadata_and_empty_rules_once() {
        let request = LokiRequest::new(topology());
        let first = written(&plan_app(&relation(), &Databag::new(), &request));
        assert_eq!(first["alert_rules"], "{}");
        assert_eq!(
            first["metadata"],
            r#"{"model":"prod","model_uuid":"0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01","application":"synapse","unit":"synapse/0","charm_name":"synapse"}"#
        );
        assert!(plan_app(&relation(), &first, &request).is_empty());
        let python = Databag::from([
            ("alert_rules".to_string(), "{}".to_string()),
            (
                "metadata".to_string(),
                r#"{"model": "prod", "model_uuid": "0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01", "application": "synapse", "unit": "synapse/0", "charm_name": "synapse"}"#.to_string(),
            ),
        ]);
        assert!(plan_app(&relation(), &python, &request).is_empty());
        let moved = LokiRequest::new(Topology { unit: "synapse/1".into(), ..topology() });
        assert_eq!(written(&plan_app(&relation(), &first, &moved)).keys().collect::<Vec<_>>(), ["metadata"]);
    }

    #[test]
    fn logql_rules_are_stamped_and_sorted() {
        let rules = serde_json::json!({"groups": [{"name": "synapse-errors", "rules": [
            {"alert": "SynapseErrors", "expr": "sum(rate({%%juju_topology%%,filename=~\".*errors.log\"}[5m])) > 1",
             "labels": {"severity": "warning", "juju_charm": "kept"}}
        ]}]});
        let request = LokiRequest::new(topology()).with_alert_rules(&rules).unwrap();
        let group = &request.alert_rules()["groups"][0];
        assert_eq!(group["name"], "prod_0b2a8f5e_synapse_synapse_errors_alerts");
        let rule = &group["rules"][0];
        assert_eq!(rule["expr"], r#"sum(rate({job=~".+",filename=~".*errors.log"}[5m])) > 1"#);
        assert_eq!(rule["labels"]["juju_charm"], "kept");
        assert_eq!(rule["labels"]["juju_model"], "prod");
        let text = &request.to_databag()["alert_rules"];
        assert!(text.starts_with(r#"{"groups":[{"name":"#), "{text}");
        assert!(text.contains(r#"{"alert":"SynapseErrors","expr":"#), "sorted keys: {text}");
        assert_eq!(
            LokiRequest::new(topology()).with_alert_rules(&serde_json::json!([])),
            Err(InvalidRules::NotARuleFile)
        );
        let no_expr = serde_json::json!({"groups": [{"name": "g", "rules": [{"alert": "A"}]}]});
        assert_eq!(
            LokiRequest::new(topology()).with_alert_rules(&no_expr),
            Err(InvalidRules::Rule { group: "g".into(), rule: 0 })
        );
        let empty =
            LokiRequest::new(topology()).with_alert_rules(&serde_json::json!({"groups": []})).unwrap();
        assert_eq!(empty.alert_rules(), &serde_json::json!({}));
    }

    #[test]
    fn the_placeholder_becomes_a_job_matcher() {
        assert_eq!(replace_placeholder("{%%juju_topology%%}"), r#"{job=~".+"}"#);
        assert_eq!(replace_placeholder(r#"{%%juju_topology%%,a="b"}"#), r#"{job=~".+",a="b"}"#);
        assert_eq!(topology().job(), "juju_prod_0b2a8f5e_synapse");
    }
}
