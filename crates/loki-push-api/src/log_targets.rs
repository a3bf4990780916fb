//! The Pebble `log-targets` that forward every service's output to Loki, as ops'
//! `LogForwarder` builds them, as plain data the charm converts into its Pebble layer.
//!
//! One target per Loki unit, named after the unit (`loki/0`): `override: replace`,
//! `type: loki`, `location` = the push URL, `services: [all]`, and the labels `product`
//! (`Juju`), `charm`, `juju_model`, `juju_model_uuid`, `juju_application`, `juju_unit` and
//! `job` (`juju_<model>_<uuid8>_<app>`). The layer is added *combined* under
//! [`layer_name`](crate::protocol::layer_name), so a target that is simply left out stays in
//! the plan: targets for Loki units that are gone are disabled instead (`services: [-all]`,
//! `location: (removed)`, no labels).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::consumer::Topology;
use crate::view::LokiEndpoint;

/// One Pebble log target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogTarget {
    #[serde(rename = "override")]
    pub override_: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub location: String,
    pub services: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl LogTarget {
    /// Whether the target forwards anything (its services are not `-all`).
    pub fn is_enabled(&self) -> bool {
        !self.services.iter().any(|service| service == "-all")
    }
}

/// A Pebble layer holding only `log-targets`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogForwardingLayer {
    #[serde(rename = "log-targets", default)]
    pub log_targets: BTreeMap<String, LogTarget>,
}

impl LogForwardingLayer {
    /// Targets for `endpoints` (every relation's, concatenated), plus a disabled target
    /// for each name in `enabled_in_plan` (the log targets the container's plan has that
    /// are not disabled) that is not an endpoint any more.
    pub fn new<'a>(
        endpoints: &[LokiEndpoint],
        topology: &Topology,
        enabled_in_plan: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut log_targets = BTreeMap::new();
        for name in enabled_in_plan {
            if !endpoints.iter().any(|endpoint| endpoint.unit == name) {
                log_targets.insert(name.to_string(), disabled());
            }
        }
        for endpoint in endpoints {
            log_targets.insert(endpoint.unit.clone(), enabled(endpoint, topology));
        }
        Self { log_targets }
    }

    pub fn is_empty(&self) -> bool {
        self.log_targets.is_empty()
    }
}

fn enabled(endpoint: &LokiEndpoint, topology: &Topology) -> LogTarget {
    let labels = [
        ("product", "Juju".to_string()),
        ("charm", topology.charm_name.clone()),
        ("juju_model", topology.model.clone()),
        ("juju_model_uuid", topology.model_uuid.clone()),
        ("juju_application", topology.application.clone()),
        ("juju_unit", topology.unit.clone()),
        ("job", topology.job()),
    ];
    LogTarget {
        override_: "replace".into(),
        kind: "loki".into(),
        location: endpoint.url.to_string(),
        services: vec!["all".into()],
        labels: labels.into_iter().map(|(key, value)| (key.to_string(), value)).collect(),
    }
}

fn disabled() -> LogTarget {
    LogTarget {
        override_: "replace".into(),
        kind: "loki".into(),
        location: "(removed)".into(),
        services: vec!["-all".into()],
        labels: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        Topology {
            model: "prod".into(),
            model_uuid: "0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01".into(),
            application: "synapse".into(),
            unit: "synapse/1".into(),
            charm_name: "synapse".into(),
        }
    }

    fn endpoint(unit: &str, url: &str) -> LokiEndpoint {
        LokiEndpoint { unit: unit.into(), url: url.parse().unwrap() }
    }

    const URL: &str = "http://loki-0.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push";

    #[test]
    fn one_labelled_target_per_loki_unit() {
        let layer = LogForwardingLayer::new(&[endpoint("loki/0", URL)], &topology(), []);
        let target = &layer.log_targets["loki/0"];
        assert_eq!(
            (target.override_.as_str(), target.kind.as_str(), target.location.as_str()),
            ("replace", "loki", URL)
        );
        assert_eq!(target.services, ["all"]);
        assert!(target.is_enabled());
        let labels: Vec<(&str, &str)> = target.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            labels,
            [
                ("charm", "synapse"),
                ("job", "juju_prod_0b2a8f5e_synapse"),
                ("juju_application", "synapse"),
                ("juju_model", "prod"),
                ("juju_model_uuid", "0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01"),
                ("juju_unit", "synapse/1"),
                ("product", "Juju"),
            ]
        );
    }

    #[test]
    fn targets_of_gone_units_are_disabled_not_dropped() {
        let layer = LogForwardingLayer::new(&[endpoint("loki/1", URL)], &topology(), ["loki/0", "loki/1"]);
        assert_eq!(layer.log_targets.keys().collect::<Vec<_>>(), ["loki/0", "loki/1"]);
        let gone = &layer.log_targets["loki/0"];
        assert_eq!(
            (gone.location.as_str(), gone.services.as_slice()),
            ("(removed)", ["-all".to_string()].as_slice())
        );
        assert!(gone.labels.is_empty() && !gone.is_enabled());
        assert!(LogForwardingLayer::new(&[], &topology(), []).is_empty());
    }

    #[test]
    fn serialises_as_a_pebble_layer() {
        let layer = LogForwardingLayer::new(&[endpoint("loki/0", URL)], &topology(), ["loki/3"]);
        let json = serde_json::to_value(&layer).unwrap();
        assert_eq!(json["log-targets"]["loki/0"]["type"], "loki");
        assert_eq!(json["log-targets"]["loki/0"]["override"], "replace");
        assert_eq!(
            json["log-targets"]["loki/3"],
            serde_json::json!({
                "override": "replace", "type": "loki", "location": "(removed)", "services": ["-all"]
            })
        );
        let back: LogForwardingLayer = serde_json::from_value(json).unwrap();
        assert_eq!(back, layer);
    }
}
