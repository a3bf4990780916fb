//! What the consumer reports back: its application bag's `event` key.
//!
//! Prometheus (and other consumers of the library) validate what the provider published and
//! write `event` = `{"valid": <bool>, "errors": "<text>", "scrape_job_errors": "<text>"}`
//! (any member may be missing). The Python provider turns it into `alert_rule_status_changed`
//! and `invalid_scrape_job` events; [`ConsumerReport::read`] turns it into [`Problem`]s.

use std::fmt;

use juju::{Databag, HookToolError, HookTools, RedactedCommand, RelationId};
use serde_json::Value;

use crate::protocol::EVENT;

/// Something the consumer refused, in its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The rules failed validation (`valid: false` or non-empty `errors`).
    InvalidAlertRules { errors: String },
    /// The jobs failed validation; the consumer scrapes none of this relation's jobs.
    InvalidScrapeJobs { errors: String },
    /// `event` is not a JSON object.
    EventMalformed { value: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidAlertRules { errors } if errors.is_empty() => f.write_str("alert rules refused"),
            Self::InvalidAlertRules { errors } => write!(f, "alert rules refused: {errors}"),
            Self::InvalidScrapeJobs { errors } => write!(f, "scrape jobs refused: {errors}"),
            Self::EventMalformed { value } => write!(f, "the consumer's event is malformed: {value:?}"),
        }
    }
}

/// The consumer's report on one relation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerReport {
    /// Whether the consumer has reported at all (a non-empty `event`).
    pub reported: bool,
    pub problems: Vec<Problem>,
}

/// A hook-tool call failed for a reason that says nothing about the consumer's data. The
/// source names the command, its exit code and stderr.
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

impl ConsumerReport {
    /// Reads `consumer_app`'s report on `relation` (any unit may). A relation already gone
    /// reads as no report.
    pub fn read(tools: &HookTools, relation: &RelationId, consumer_app: &str) -> Result<Self, ReadError> {
        match tools.relation_get_app(relation, consumer_app) {
            Ok(bag) => Ok(Self::from_bag(&bag)),
            Err(error) if error.is_relation_not_found() => Ok(Self::default()),
            Err(source) => {
                Err(ReadError::AppBag { relation: relation.clone(), app: consumer_app.to_string(), source })
            }
        }
    }

    /// The report in a consumer application bag.
    pub fn from_bag(bag: &Databag) -> Self {
        let Some(value) = bag.get(EVENT).filter(|value| !value.trim().is_empty()) else {
            return Self::default();
        };
        let event = match serde_json::from_str::<Value>(value) {
            Ok(Value::Object(event)) => event,
            _ => {
                let problems = vec![Problem::EventMalformed { value: value.clone() }];
                return Self { reported: true, problems };
            }
        };
        let mut problems = Vec::new();
        let valid = match event.get("valid") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(valid)) => *valid,
            // Python's `bool(...)` of whatever was sent.
            Some(Value::String(text)) => !text.is_empty(),
            Some(Value::Number(number)) => number.as_f64() != Some(0.0),
            Some(Value::Array(items)) => !items.is_empty(),
            Some(Value::Object(map)) => !map.is_empty(),
        };
        let errors = event.get("errors").map(text).unwrap_or_default();
        if !valid || !errors.is_empty() {
            problems.push(Problem::InvalidAlertRules { errors });
        }
        let scrape = event.get("scrape_job_errors").map(text).unwrap_or_default();
        if !scrape.is_empty() {
            problems.push(Problem::InvalidScrapeJobs { errors: scrape });
        }
        Self { reported: !event.is_empty(), problems }
    }

    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Error text as sent: a string as is, a list joined with `; `, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            items.iter().map(text).filter(|item| !item.is_empty()).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(event: &str) -> ConsumerReport {
        ConsumerReport::from_bag(&[("event".to_string(), event.to_string())].into_iter().collect())
    }

    #[test]
    fn nothing_reported_and_all_valid_are_no_problem() {
        assert_eq!(ConsumerReport::from_bag(&Databag::new()), ConsumerReport::default());
        assert_eq!(report(""), ConsumerReport::default());
        assert_eq!(report("{}"), ConsumerReport::default());
        assert_eq!(
            report(r#"{"valid": true, "errors": ""}"#),
            ConsumerReport { reported: true, problems: vec![] }
        );
        assert!(report(r#"{"valid": true}"#).is_ok());
    }

    #[test]
    fn refused_rules_and_jobs_are_typed_problems() {
        let both =
            report(r#"{"valid": false, "errors": "error validating: bad expr", "scrape_job_errors": "dup"}"#);
        assert_eq!(
            both.problems,
            [
                Problem::InvalidAlertRules { errors: "error validating: bad expr".into() },
                Problem::InvalidScrapeJobs { errors: "dup".into() },
            ]
        );
        assert_eq!(both.problems[0].to_string(), "alert rules refused: error validating: bad expr");
        assert_eq!(
            report(r#"{"valid": false}"#).problems,
            [Problem::InvalidAlertRules { errors: String::new() }]
        );
        assert_eq!(
            report(r#"{"errors": ["a", "b"]}"#).problems,
            [Problem::InvalidAlertRules { errors: "a; b".into() }]
        );
        assert_eq!(
            report(r#"{"scrape_job_errors": "x"}"#).problems,
            [Problem::InvalidScrapeJobs { errors: "x".into() }]
        );
        assert_eq!(report("[1]").problems, [Problem::EventMalformed { value: "[1]".into() }]);
        assert_eq!(report("nope").problems[0].to_string(), "the consumer's event is malformed: \"nope\"");
    }
}
