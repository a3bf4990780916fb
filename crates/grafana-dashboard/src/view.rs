//! What Grafana reports back: its application bag's `event` key,
//! `{"errors": [{"dashboard_id": …, "error": …}], "valid": <bool>}`, which the Python
//! provider surfaces as `dashboard_status_changed`.

use std::fmt;

use juju::{Databag, HookToolError, HookTools, RedactedCommand, RelationId};
use serde_json::Value;

use crate::protocol::EVENT;

/// A dashboard Grafana could not use, in its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardProblem {
    /// `file:<stem>`; empty when Grafana named none.
    pub dashboard_id: String,
    pub error: String,
}

impl fmt::Display for DashboardProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dashboard_id.is_empty() {
            true => f.write_str(&self.error),
            false => write!(f, "{}: {}", self.dashboard_id, self.error),
        }
    }
}

/// Grafana's report on one relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DashboardReport {
    /// No (or an empty) `event`.
    NotReported,
    /// `valid` and no errors.
    Valid,
    /// `valid: false` or errors (possibly none named).
    Invalid(Vec<DashboardProblem>),
    /// `event` is not a JSON object.
    Malformed { value: String },
}

/// A hook-tool call failed for a reason that says nothing about Grafana's data. The source
/// names the command, its exit code and stderr.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the application bag of {app} on relation {relation}")]
    AppBag {
        relation: RelationId,
        app: String,
        #[source]
        source: HookToolError,
    },
}

impl ReadError {
    pub fn tool_error(&self) -> &HookToolError {
        match self {
            Self::AppBag { source, .. } => source,
        }
    }

    /// The failed command line (`None` only if the call could not even be prepared).
    pub fn command(&self) -> Option<&RedactedCommand> {
        self.tool_error().command()
    }
}

impl DashboardReport {
    /// Reads `grafana_app`'s report on `relation` (any unit may). A relation already gone
    /// reads as not reported.
    pub fn read(tools: &HookTools, relation: &RelationId, grafana_app: &str) -> Result<Self, ReadError> {
        match tools.relation_get_app(relation, grafana_app) {
            Ok(bag) => Ok(Self::from_bag(&bag)),
            Err(error) if error.is_relation_not_found() => Ok(Self::NotReported),
            Err(source) => {
                Err(ReadError::AppBag { relation: relation.clone(), app: grafana_app.to_string(), source })
            }
        }
    }

    /// The report in a Grafana application bag.
    pub fn from_bag(bag: &Databag) -> Self {
        let Some(value) = bag.get(EVENT).filter(|value| !value.trim().is_empty()) else {
            return Self::NotReported;
        };
        let event = match serde_json::from_str::<Value>(value) {
            Ok(Value::Object(event)) if event.is_empty() => return Self::NotReported,
            Ok(Value::Object(event)) => event,
            _ => return Self::Malformed { value: value.clone() },
        };
        let valid = !matches!(event.get("valid"), Some(Value::Bool(false)));
        let problems: Vec<DashboardProblem> = match event.get("errors") {
            Some(Value::Array(errors)) => errors.iter().map(problem).collect(),
            Some(Value::String(error)) if !error.is_empty() => {
                vec![DashboardProblem { dashboard_id: String::new(), error: error.clone() }]
            }
            _ => Vec::new(),
        };
        match valid && problems.is_empty() {
            true => Self::Valid,
            false => Self::Invalid(problems),
        }
    }
}

fn problem(entry: &Value) -> DashboardProblem {
    let field = |key: &str| match entry.get(key) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    match entry {
        Value::String(error) => DashboardProblem { dashboard_id: String::new(), error: error.clone() },
        _ => DashboardProblem { dashboard_id: field("dashboard_id"), error: field("error") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(event: &str) -> DashboardReport {
        DashboardReport::from_bag(&Databag::from([("event".to_string(), event.to_string())]))
    }

    #[test]
    fn reports_are_typed() {
        assert_eq!(DashboardReport::from_bag(&Databag::new()), DashboardReport::NotReported);
        assert_eq!(report("{}"), DashboardReport::NotReported);
        assert_eq!(report(r#"{"errors": [], "valid": true}"#), DashboardReport::Valid);
        let invalid = report(
            r#"{"errors": [{"dashboard_id": "file:synapse", "error": "bad datasource"}], "valid": false}"#,
        );
        let problem =
            DashboardProblem { dashboard_id: "file:synapse".into(), error: "bad datasource".into() };
        assert_eq!(problem.to_string(), "file:synapse: bad datasource");
        assert_eq!(invalid, DashboardReport::Invalid(vec![problem]));
        assert_eq!(report(r#"{"valid": false}"#), DashboardReport::Invalid(vec![]));
        assert_eq!(report("x"), DashboardReport::Malformed { value: "x".into() });
    }
}
