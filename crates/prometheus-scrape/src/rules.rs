//! Alert and recording rules, stamped with the topology as cosl's `AlertRules` stamps them.
//!
//! [`RuleFile::parse`] reads one file (the official `groups:` format, or a single rule whose
//! group is named after the file stem) and checks its shape. [`AlertRules::render`] then
//! produces the `alert_rules` document for one [`Topology`]:
//!
//! - each group is renamed `<model>_<uuid8>_<app>[_<subdir>]_<name>_alerts` (unless it
//!   already has that shape), every character outside `[A-Za-z0-9_:]` becoming `_`;
//! - each rule, alerting or recording, gets the labels `juju_model`, `juju_model_uuid`,
//!   `juju_application` and `juju_charm` (labels the file sets win);
//! - in each `expr` the placeholder `%%juju_topology%%` (and a comma after it) is removed,
//!   then the rule's `juju_model`, `juju_model_uuid` and `juju_application` are injected as
//!   matchers into every selector ([`crate::promql::inject_matchers`]), which is what
//!   cos-tool does for the Python library. The consumer injects them again from the labels,
//!   which leaves the expression as it is.
//!
//! [`AlertRules::with_host_health`] appends the generic `HostHealth` group the library adds
//! since LIBPATCH 49 (`HostDown`, `HostMetricsMissing`).

use std::fmt;

use serde_json::{Map, Value};

use crate::promql::{inject_matchers, PromqlError};
use crate::protocol::TOPOLOGY_PLACEHOLDER;
use crate::topology::Topology;

/// What is wrong with a rule file; `file` is the path it was given as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("{file}: invalid YAML: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: neither a `groups:` rule file nor a single rule with `alert`/`record` and `expr`")]
    Format { file: String },
    #[error("{file}: group {group}: {problem}")]
    Group { file: String, group: String, problem: String },
    #[error("{file}: group {group}: rule {rule}: {problem}")]
    Rule { file: String, group: String, rule: String, problem: String },
    #[error("{file}: group {group}: rule {rule}: expression {expr:?}: {error}")]
    Expression { file: String, group: String, rule: String, expr: String, error: PromqlError },
}

/// One rule file as it was written, checked for shape.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    path: String,
    /// The directory of the file relative to the rules root (`""` at the top).
    subdir: String,
    groups: Vec<Map<String, Value>>,
}

impl RuleFile {
    /// Parses `text`, the content of the file at `path` relative to the rules root (for
    /// example `synapse.rules` or `workers/replication.rules`).
    pub fn parse(path: &str, text: &str) -> Result<Self, RulesError> {
        let file = path.to_string();
        let document: Value = serde_norway::from_str(text)
            .map_err(|error| RulesError::Yaml { file: file.clone(), message: error.to_string() })?;
        let (subdir, name) = match path.rsplit_once('/') {
            Some((subdir, name)) => (subdir.to_string(), name),
            None => (String::new(), path),
        };
        let stem = name.split_once('.').map_or(name, |(stem, _)| stem).to_string();
        let Value::Object(mut map) = document else {
            return Err(RulesError::Format { file });
        };
        let groups = if let Some(groups) = map.remove("groups") {
            let Value::Array(groups) = groups else {
                return Err(RulesError::Format { file });
            };
            groups
        } else if (map.contains_key("alert") || map.contains_key("record")) && map.contains_key("expr") {
            vec![serde_json::json!({"name": stem, "rules": [Value::Object(map)]})]
        } else {
            return Err(RulesError::Format { file });
        };
        let groups = groups
            .into_iter()
            .enumerate()
            .map(|(index, group)| check_group(&file, index, group))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { path: file, subdir, groups })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The groups' names as written.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().filter_map(|group| group.get("name").and_then(Value::as_str))
    }

    /// The alert names of every group.
    pub fn alert_names(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .filter_map(|group| group.get("rules").and_then(Value::as_array))
            .flatten()
            .filter_map(|rule| rule.get("alert").and_then(Value::as_str))
    }
}

fn check_group(file: &str, index: usize, group: Value) -> Result<Map<String, Value>, RulesError> {
    let Value::Object(group) = group else {
        let group = format!("#{index}");
        return Err(RulesError::Group { file: file.into(), group, problem: "not a mapping".into() });
    };
    let name = match group.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => {
            let (group, problem) = (format!("#{index}"), "no name".to_string());
            return Err(RulesError::Group { file: file.into(), group, problem });
        }
    };
    let Some(Value::Array(rules)) = group.get("rules") else {
        return Err(RulesError::Group { file: file.into(), group: name, problem: "no rules list".into() });
    };
    for (position, rule) in rules.iter().enumerate() {
        let fail = |rule: String, problem: &str| RulesError::Rule {
            file: file.into(),
            group: name.clone(),
            rule,
            problem: problem.into(),
        };
        let Value::Object(rule) = rule else { return Err(fail(format!("#{position}"), "not a mapping")) };
        let title = ["alert", "record"]
            .iter()
            .find_map(|key| rule.get(*key).and_then(Value::as_str))
            .map_or(format!("#{position}"), str::to_string);
        match (rule.get("alert"), rule.get("record")) {
            (Some(Value::String(_)), None) | (None, Some(Value::String(_))) => {}
            _ => return Err(fail(title, "needs exactly one of `alert` and `record`, as a string")),
        }
        if !matches!(rule.get("expr"), Some(Value::String(_)) | Some(Value::Number(_))) {
            return Err(fail(title, "no `expr`"));
        }
        for key in ["labels", "annotations"] {
            match rule.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Object(map)) if map.values().all(Value::is_string) => {}
                Some(_) => return Err(fail(title, &format!("`{key}` must map names to strings"))),
            }
        }
    }
    Ok(group)
}

/// The rules a provider publishes: any number of [`RuleFile`]s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertRules {
    files: Vec<RuleFile>,
    host_health: bool,
}

impl AlertRules {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_file(mut self, file: RuleFile) -> Self {
        self.files.push(file);
        self
    }

    /// Also publish the generic `HostHealth` group (LIBPATCH 49 on).
    pub fn with_host_health(mut self, enabled: bool) -> Self {
        self.host_health = enabled;
        self
    }

    pub fn files(&self) -> &[RuleFile] {
        &self.files
    }

    pub fn is_empty(&self) -> bool {
        self.files.iter().all(|file| file.groups.is_empty()) && !self.host_health
    }

    /// The `alert_rules` document for `topology`: `{"groups": [...]}`, or `{}` without rules.
    pub fn render(&self, topology: &Topology) -> Result<Value, RulesError> {
        let mut groups = Vec::new();
        for file in &self.files {
            for group in &file.groups {
                groups.push(render_group(&file.path, &file.subdir, group.clone(), topology)?);
            }
        }
        if self.host_health {
            groups.push(render_group("(generic)", "", host_health_group(), topology)?);
        }
        Ok(match groups.is_empty() {
            true => Value::Object(Map::new()),
            false => serde_json::json!({ "groups": groups }),
        })
    }
}

impl fmt::Display for RuleFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

fn render_group(
    file: &str,
    subdir: &str,
    mut group: Map<String, Value>,
    topology: &Topology,
) -> Result<Value, RulesError> {
    let original = group.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    let name = if already_prefixed(&original) {
        original.clone()
    } else {
        let identifier = topology.identifier();
        let prefix =
            [identifier.as_str(), subdir].iter().filter(|part| !part.is_empty()).copied().collect::<Vec<_>>();
        format!("{}_{}_alerts", prefix.join("_"), original)
    };
    let name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | ':') { c } else { '_' })
        .collect();
    group.insert("name".into(), Value::String(name));
    if let Some(Value::Array(rules)) = group.get_mut("rules") {
        for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
            stamp_rule(file, &original, rule, topology)?;
        }
    }
    Ok(Value::Object(group))
}

/// cosl's test for a group name that already carries the topology: `^.*?_[0-9a-f]{8}_.*?alerts$`.
fn already_prefixed(name: &str) -> bool {
    if !name.ends_with("alerts") {
        return false;
    }
    let bytes = name.as_bytes();
    (0..bytes.len().saturating_sub(9)).any(|start| {
        bytes[start] == b'_'
            && bytes.get(start + 9) == Some(&b'_')
            && bytes[start + 1..start + 9].iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            && start + 10 <= name.len() - "alerts".len()
    })
}

fn stamp_rule(
    file: &str,
    group: &str,
    rule: &mut Map<String, Value>,
    topology: &Topology,
) -> Result<(), RulesError> {
    let labels = rule.entry("labels").or_insert_with(|| Value::Object(Map::new()));
    if labels.is_null() {
        *labels = Value::Object(Map::new());
    }
    let labels = labels.as_object_mut().expect("checked when parsed");
    for (label, value) in topology.rule_labels() {
        labels.entry(label).or_insert_with(|| Value::String(value.to_string()));
    }
    let matchers: Vec<(String, String)> = ["juju_model", "juju_model_uuid", "juju_application"]
        .iter()
        .filter_map(|label| {
            labels.get(*label).and_then(Value::as_str).map(|value| (label.to_string(), value.to_string()))
        })
        .collect();
    let expr = match rule.get("expr") {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let stripped = strip_placeholder(&expr);
    let matchers: Vec<(&str, &str)> = matchers.iter().map(|(l, v)| (l.as_str(), v.as_str())).collect();
    let injected = inject_matchers(&stripped, &matchers).map_err(|error| RulesError::Expression {
        file: file.into(),
        group: group.into(),
        rule: ["alert", "record"]
            .iter()
            .find_map(|key| rule.get(*key).and_then(Value::as_str))
            .unwrap_or("?")
            .into(),
        expr: expr.clone(),
        error,
    })?;
    rule.insert("expr".into(), Value::String(injected));
    Ok(())
}

/// `%%juju_topology%%` and one comma right after it removed (Python's `%%juju_topology%%,?`).
pub(crate) fn strip_placeholder(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find(TOPOLOGY_PLACEHOLDER) {
        out.push_str(&rest[..at]);
        rest = &rest[at + TOPOLOGY_PLACEHOLDER.len()..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    out.push_str(rest);
    out
}

fn host_health_group() -> Map<String, Value> {
    let group = serde_json::json!({
        "name": "HostHealth",
        "rules": [
            {
                "alert": "HostDown",
                "expr": "up < 1",
                "for": "5m",
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": "Host '{{ $labels.instance }}' is down.",
                    "description": "Juju application '{{ $labels.juju_application }}' in model '{{ $labels.juju_model }}' is down. Prometheus has been unable to scrape it during at least the past five minutes."
                }
            },
            {
                "alert": "HostMetricsMissing",
                "expr": "absent(up)",
                "for": "5m",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": "Unit '{{ $labels.juju_unit }}' of application '{{ $labels.juju_application }}' is down or failing to remote write.",
                    "description": "`Up` missing for unit '{{ $labels.juju_unit }}' of application {{ $labels.juju_application }} in model {{ $labels.juju_model }}. Please ensure the unit or the collector scraping it is up and is able to successfully reach the metrics backend."
                }
            }
        ]
    });
    match group {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01";

    fn topology() -> Topology {
        Topology::new("prod", UUID, "synapse", "synapse/0", "synapse-k8s").unwrap()
    }

    const OFFICIAL: &str = r#"
groups:
  - name: synapse
    rules:
      - alert: SynapseDown
        expr: up{%%juju_topology%%,job=~".+"} < 1
        for: 5m
        labels:
          severity: critical
          juju_charm: custom
        annotations:
          summary: "{{ $labels.instance }} is down"
      - record: synapse:requests:rate5m
        expr: sum without (instance) (rate(synapse_http_server_requests_received_total[5m]))
"#;

    #[test]
    fn groups_are_prefixed_and_rules_stamped_with_the_topology() {
        let rules = AlertRules::new().with_file(RuleFile::parse("synapse.rules", OFFICIAL).unwrap());
        let rendered = rules.render(&topology()).unwrap();
        let group = &rendered["groups"][0];
        assert_eq!(group["name"], "prod_0b2a8f5e_synapse_synapse_alerts");
        let matchers = format!(r#"juju_model="prod",juju_model_uuid="{UUID}",juju_application="synapse""#);
        let alert = &group["rules"][0];
        assert_eq!(alert["expr"], format!(r#"up{{{matchers},job=~".+"}} < 1"#));
        assert_eq!(alert["labels"]["juju_charm"], "custom", "the file's labels win");
        assert_eq!(alert["labels"]["juju_model_uuid"], UUID);
        assert_eq!(alert["labels"]["severity"], "critical");
        assert_eq!(alert["for"], "5m");
        let record = &group["rules"][1];
        assert_eq!(
            record["expr"],
            format!("sum without (instance) (rate(synapse_http_server_requests_received_total{{{matchers}}}[5m]))")
        );
        assert_eq!(record["labels"]["juju_charm"], "synapse-k8s");
        assert_eq!(record["labels"]["juju_application"], "synapse");
    }

    #[test]
    fn single_rule_files_subdirectories_and_odd_characters() {
        let single = "alert: Odd\nexpr: absent(up)\n";
        let rules = AlertRules::new().with_file(RuleFile::parse("workers/odd-one.rule", single).unwrap());
        let rendered = rules.render(&topology()).unwrap();
        assert_eq!(rendered["groups"][0]["name"], "prod_0b2a8f5e_synapse_workers_odd_one_alerts");
        assert!(rendered["groups"][0]["rules"][0]["expr"]
            .as_str()
            .unwrap()
            .starts_with("absent(up{juju_model="));
        // A name that already carries a topology is kept (only sanitised).
        let named = "groups:\n- name: other_0b2a8f5e_app_x_alerts\n  rules: []\n";
        let rendered = AlertRules::new()
            .with_file(RuleFile::parse("x.yaml", named).unwrap())
            .render(&topology())
            .unwrap();
        assert_eq!(rendered["groups"][0]["name"], "other_0b2a8f5e_app_x_alerts");
        let named = "groups:\n- name: a-b.c\n  rules: []\n";
        let rendered = AlertRules::new()
            .with_file(RuleFile::parse("x.yaml", named).unwrap())
            .render(&topology())
            .unwrap();
        assert_eq!(rendered["groups"][0]["name"], "prod_0b2a8f5e_synapse_a_b_c_alerts");
    }

    #[test]
    fn no_rules_is_an_empty_object_and_host_health_is_optional() {
        assert_eq!(AlertRules::new().render(&topology()).unwrap(), serde_json::json!({}));
        assert!(AlertRules::new().is_empty());
        let rendered = AlertRules::new().with_host_health(true).render(&topology()).unwrap();
        let group = &rendered["groups"][0];
        assert_eq!(group["name"], "prod_0b2a8f5e_synapse_HostHealth_alerts");
        assert_eq!(group["rules"][0]["alert"], "HostDown");
        assert!(group["rules"][1]["expr"].as_str().unwrap().starts_with("absent(up{"));
    }

    #[test]
    fn malformed_files_name_the_file_group_and_rule() {
        assert!(matches!(RuleFile::parse("a.rules", "groups: [").unwrap_err(), RulesError::Yaml { .. }));
        assert_eq!(
            RuleFile::parse("a.rules", "foo: bar").unwrap_err(),
            RulesError::Format { file: "a.rules".into() }
        );
        assert_eq!(
            RuleFile::parse("a.rules", "groups:\n- rules: []").unwrap_err().to_string(),
            "a.rules: group #0: no name"
        );
        let no_expr = "groups:\n- name: g\n  rules:\n  - alert: A\n";
        assert_eq!(
            RuleFile::parse("a.rules", no_expr).unwrap_err().to_string(),
            "a.rules: group g: rule A: no `expr`"
        );
        let both = "groups:\n- name: g\n  rules:\n  - alert: A\n    record: b\n    expr: up\n";
        assert!(matches!(RuleFile::parse("a.rules", both).unwrap_err(), RulesError::Rule { .. }));
        let labels = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: [x]\n";
        assert!(matches!(RuleFile::parse("a.rules", labels).unwrap_err(), RulesError::Rule { .. }));
        let bad_expr = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(up\n";
        let rules = AlertRules::new().with_file(RuleFile::parse("a.rules", bad_expr).unwrap());
        assert!(matches!(rules.render(&topology()).unwrap_err(), RulesError::Expression { .. }));
    }

    #[test]
    fn the_placeholder_and_one_comma_go() {
        assert_eq!(strip_placeholder("up{%%juju_topology%%}"), "up{}");
        assert_eq!(strip_placeholder("up{%%juju_topology%%,a=\"b\"}"), "up{a=\"b\"}");
        assert_eq!(strip_placeholder("a{%%juju_topology%%} / b{%%juju_topology%%}"), "a{} / b{}");
        assert_eq!(strip_placeholder("up"), "up");
    }

    #[test]
    fn names_of_groups_and_alerts_are_listed() {
        let file = RuleFile::parse("synapse.rules", OFFICIAL).unwrap();
        assert_eq!(file.group_names().collect::<Vec<_>>(), ["synapse"]);
        assert_eq!(file.alert_names().collect::<Vec<_>>(), ["SynapseDown"]);
        assert_eq!(file.to_string(), "synapse.rules");
    }
}
