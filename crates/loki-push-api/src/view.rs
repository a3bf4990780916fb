//! Where to push logs, as every unit reads it.
//!
//! [`LokiView::read`] lists the Loki units of one relation and reads each one's `endpoint`
//! (`{"url": …}`). Units are taken in unit-number order and a URL published by several units
//! (an ingress URL) is kept once, under the first unit. Units that have published nothing
//! yet, or something unusable, are listed as [`UnitProblem`]s: the view is
//! [`LokiView::Ready`] as long as one unit gave a usable URL, else [`LokiView::NotReady`],
//! never an error.

use std::fmt;

use juju::{Databag, HookToolError, HookTools, RedactedCommand, RelationId};
use serde_json::Value;

use crate::protocol::{ENDPOINT_KEY, URL};
use crate::url::{PushUrl, UrlError};

/// One Loki unit's push endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LokiEndpoint {
    /// The Loki unit (`loki/0`): the log target's name.
    pub unit: String,
    pub url: PushUrl,
}

/// What is wrong with a published `endpoint` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    NotJson,
    /// JSON, but not an object with a string `url`.
    NoUrl,
    Url(UrlError),
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson => f.write_str("not JSON"),
            Self::NoUrl => f.write_str("not an object with a string url"),
            Self::Url(error) => write!(f, "the url is unusable: {error}"),
        }
    }
}

/// A Loki unit whose endpoint cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitProblem {
    /// No `endpoint` yet.
    NotPublished { unit: String },
    /// `endpoint` holds `value`, which is unusable.
    Malformed { unit: String, value: String, error: EndpointError },
}

impl fmt::Display for UnitProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPublished { unit } => write!(f, "{unit} has published no endpoint yet"),
            Self::Malformed { unit, value, error } => {
                write!(f, "endpoint of {unit} is malformed ({error}): {value:?}")
            }
        }
    }
}

/// Why there is nowhere to push (yet). Nothing here is an error of this unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The relation is gone (an unknown id, or read during its teardown).
    RelationGone,
    /// No Loki unit in the relation.
    NoRemoteUnits,
    /// No unit gave a usable endpoint; each one's problem.
    NoUsableEndpoint(Vec<UnitProblem>),
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RelationGone => f.write_str("the relation is gone"),
            Self::NoRemoteUnits => f.write_str("no loki unit in the relation"),
            Self::NoUsableEndpoint(problems) => {
                let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
                write!(f, "no usable loki endpoint: {}", problems.join("; "))
            }
        }
    }
}

/// The Loki side of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LokiView {
    /// At least one usable endpoint; `problems` lists the units left out.
    Ready {
        endpoints: Vec<LokiEndpoint>,
        problems: Vec<UnitProblem>,
    },
    NotReady(NotReady),
}

/// A hook-tool call failed for a reason that says nothing about Loki's data. The source
/// names the command, its exit code and stderr.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot list the remote units of relation {relation}")]
    Units {
        relation: RelationId,
        #[source]
        source: HookToolError,
    },
    #[error("cannot read the bag of {unit} on relation {relation}")]
    UnitBag {
        relation: RelationId,
        unit: String,
        #[source]
        source: HookToolError,
    },
}

impl ReadError {
    pub fn tool_error(&self) -> &HookToolError {
        match self {
            Self::Units { source, .. } | Self::UnitBag { source, .. } => source,
        }
    }

    /// The failed command line (`None` only if the call could not even be prepared).
    pub fn command(&self) -> Option<&RedactedCommand> {
        self.tool_error().command()
    }
}

impl LokiView {
    /// Reads the Loki units of `relation` (any unit may): `relation-list`, then one
    /// `relation-get` per Loki unit.
    pub fn read(tools: &HookTools, relation: &RelationId) -> Result<Self, ReadError> {
        let units = match tools.relation_list(relation) {
            Ok(units) => units,
            Err(error) if error.is_relation_not_found() => return Ok(Self::NotReady(NotReady::RelationGone)),
            Err(source) => return Err(ReadError::Units { relation: relation.clone(), source }),
        };
        let mut bags = Vec::with_capacity(units.len());
        for unit in units {
            match tools.relation_get_unit(relation, &unit) {
                Ok(bag) => bags.push((unit, bag)),
                Err(error) if error.is_relation_not_found() => {
                    return Ok(Self::NotReady(NotReady::RelationGone))
                }
                Err(source) => return Err(ReadError::UnitBag { relation: relation.clone(), unit, source }),
            }
        }
        Ok(Self::from_bags(bags))
    }

    /// The view from each Loki unit's bag.
    pub fn from_bags(bags: impl IntoIterator<Item = (String, Databag)>) -> Self {
        let mut bags: Vec<(String, Databag)> = bags.into_iter().collect();
        if bags.is_empty() {
            return Self::NotReady(NotReady::NoRemoteUnits);
        }
        bags.sort_by(|(a, _), (b, _)| unit_order(a, b));
        let mut endpoints: Vec<LokiEndpoint> = Vec::new();
        let mut problems = Vec::new();
        for (unit, bag) in bags {
            match endpoint(&bag) {
                Ok(url) if endpoints.iter().any(|known| known.url == url) => {}
                Ok(url) => endpoints.push(LokiEndpoint { unit, url }),
                Err(None) => problems.push(UnitProblem::NotPublished { unit }),
                Err(Some((value, error))) => problems.push(UnitProblem::Malformed { unit, value, error }),
            }
        }
        match endpoints.is_empty() {
            true => Self::NotReady(NotReady::NoUsableEndpoint(problems)),
            false => Self::Ready { endpoints, problems },
        }
    }

    /// The usable endpoints (none when not ready).
    pub fn endpoints(&self) -> &[LokiEndpoint] {
        match self {
            Self::Ready { endpoints, .. } => endpoints,
            Self::NotReady(_) => &[],
        }
    }
}

/// The URL in a unit bag: `Err(None)` when absent, else the value and what is wrong with it.
fn endpoint(bag: &Databag) -> Result<PushUrl, Option<(String, EndpointError)>> {
    let value = bag.get(ENDPOINT_KEY).filter(|value| !value.trim().is_empty()).ok_or(None)?;
    let malformed = |error| Some((value.clone(), error));
    let document: Value = serde_json::from_str(value).map_err(|_| malformed(EndpointError::NotJson))?;
    let url = document.get(URL).and_then(Value::as_str).ok_or_else(|| malformed(EndpointError::NoUrl))?;
    url.parse().map_err(|error| malformed(EndpointError::Url(error)))
}

/// Unit-number order (`loki/2` before `loki/10`), names without a number last.
fn unit_order(a: &str, b: &str) -> std::cmp::Ordering {
    let number = |unit: &str| unit.rsplit_once('/').and_then(|(_, number)| number.parse::<u64>().ok());
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn url(text: &str) -> PushUrl {
        text.parse().unwrap()
    }

    const URL0: &str = "http://loki-0.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push";
    const URL1: &str = "http://loki-1.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push";

    fn published(url: &str) -> Databag {
        bag(&[
            ("endpoint", &format!(r#"{{"url": "{url}"}}"#)),
            ("public_address", "loki-0"),
            ("private-address", "10.1.0.9"),
        ])
    }

    #[test]
    fn every_unit_with_a_url_is_an_endpoint_in_unit_order() {
        let view = LokiView::from_bags([
            ("loki/10".to_string(), published(URL1)),
            ("loki/2".to_string(), published(URL0)),
        ]);
        assert_eq!(
            view,
            LokiView::Ready {
                endpoints: vec![
                    LokiEndpoint { unit: "loki/2".into(), url: url(URL0) },
                    LokiEndpoint { unit: "loki/10".into(), url: url(URL1) },
                ],
                problems: vec![],
            }
        );
        assert_eq!(view.endpoints().len(), 2);
    }

    #[test]
    fn a_url_shared_by_units_is_kept_once() {
        let ingress = "https://cos.example.com/cos-loki/loki/api/v1/push";
        let view = LokiView::from_bags([
            ("loki/1".to_string(), published(ingress)),
            ("loki/0".to_string(), published(ingress)),
        ]);
        assert_eq!(view.endpoints(), [LokiEndpoint { unit: "loki/0".into(), url: url(ingress) }]);
    }

    #[test]
    fn units_without_a_usable_url_are_problems_that_name_the_value() {
        let cases = [
            ("nope", EndpointError::NotJson),
            (r#"{"url": 3}"#, EndpointError::NoUrl),
            (r#"{"url": "loki:3100/push"}"#, EndpointError::Url(UrlError::NotAbsolute)),
            (r#"{"url": "ftp://loki/push"}"#, EndpointError::Url(UrlError::Scheme("ftp".into()))),
        ];
        for (value, error) in cases {
            let view = LokiView::from_bags([
                ("loki/0".to_string(), published(URL0)),
                ("loki/1".to_string(), bag(&[("endpoint", value)])),
                ("loki/2".to_string(), bag(&[("private-address", "10.1.0.8")])),
            ]);
            let problems = vec![
                UnitProblem::Malformed { unit: "loki/1".into(), value: value.into(), error: error.clone() },
                UnitProblem::NotPublished { unit: "loki/2".into() },
            ];
            let endpoints = vec![LokiEndpoint { unit: "loki/0".into(), url: url(URL0) }];
            assert_eq!(view, LokiView::Ready { endpoints, problems: problems.clone() }, "{value}");
            let view = LokiView::from_bags([
                ("loki/1".to_string(), bag(&[("endpoint", value)])),
                ("loki/2".to_string(), bag(&[])),
            ]);
            assert_eq!(view, LokiView::NotReady(NotReady::NoUsableEndpoint(problems)), "{value}");
        }
        assert_eq!(LokiView::from_bags([]), LokiView::NotReady(NotReady::NoRemoteUnits));
        let reason = NotReady::NoUsableEndpoint(vec![UnitProblem::Malformed {
            unit: "loki/1".into(),
            value: r#"{"url": "ftp://loki/push"}"#.into(),
            error: EndpointError::Url(UrlError::Scheme("ftp".into())),
        }]);
        assert_eq!(
            reason.to_string(),
            r#"no usable loki endpoint: endpoint of loki/1 is malformed (the url is unusable: scheme "ftp" is neither http nor https): "{\"url\": \"ftp://loki/push\"}""#
        );
    }
}
