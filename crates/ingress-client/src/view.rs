//! The provider's answer, as every requirer unit reads it.
//!
//! [`IngressView::read`] makes one `relation-get` of the provider's application bag. Its
//! `ingress` key holds `{"url": "<url>"}`; while it is absent (not answered yet, or revoked:
//! the provider deletes it) or malformed the view is [`IngressView::NotReady`], never an
//! error. In `relation-broken` Juju no longer lists the relation (`relation-ids`), so a charm
//! that reads the relations it lists sees no ingress there, as the Python library's `revoked`.

use std::fmt;

use juju::{Databag, HookToolError, HookTools, RedactedCommand, RelationId};

use crate::protocol::{INGRESS, URL};
use crate::url::{IngressUrl, UrlError};

/// What is wrong with a published `ingress` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerError {
    /// Not a JSON document.
    NotJson,
    /// JSON, but not an object with a string `url`.
    NoUrl,
    /// `url` is not an http(s) URL.
    Url(UrlError),
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson => f.write_str("not JSON"),
            Self::NoUrl => f.write_str("not an object with a string url"),
            Self::Url(error) => write!(f, "the url is unusable: {error}"),
        }
    }
}

/// Why there is no ingress URL (yet). Nothing here is an error of this unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The relation is gone (an unknown id, or read during its teardown).
    RelationGone,
    /// No `ingress` in the provider's bag: not answered yet, or revoked.
    NoAnswer,
    /// `ingress` holds `value`, which is unusable.
    AnswerMalformed { value: String, error: AnswerError },
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RelationGone => f.write_str("the relation is gone"),
            Self::NoAnswer => f.write_str("no ingress URL published"),
            Self::AnswerMalformed { value, error } => write!(f, "ingress is malformed ({error}): {value:?}"),
        }
    }
}

/// The provider's side of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngressView {
    Ready(IngressUrl),
    NotReady(NotReady),
}

/// A hook-tool call failed for a reason that says nothing about the provider's data. The
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

impl IngressView {
    /// Reads `provider_app`'s answer on `relation` (any unit may: the remote application bag
    /// is readable by every unit).
    pub fn read(tools: &HookTools, relation: &RelationId, provider_app: &str) -> Result<Self, ReadError> {
        match tools.relation_get_app(relation, provider_app) {
            Ok(bag) => Ok(Self::from_bag(&bag)),
            Err(error) if error.is_relation_not_found() => Ok(Self::NotReady(NotReady::RelationGone)),
            Err(source) => {
                Err(ReadError::AppBag { relation: relation.clone(), app: provider_app.to_string(), source })
            }
        }
    }

    /// The answer in a provider application bag.
    pub fn from_bag(bag: &Databag) -> Self {
        let Some(value) = bag.get(INGRESS).filter(|value| !value.trim().is_empty()) else {
            return Self::NotReady(NotReady::NoAnswer);
        };
        let malformed = |error| Self::NotReady(NotReady::AnswerMalformed { value: value.clone(), error });
        let document = match serde_json::from_str::<serde_json::Value>(value) {
            Ok(document) => document,
            Err(_) => return malformed(AnswerError::NotJson),
        };
        // `null` is how the library's model says "no ingress".
        if document.is_null() {
            return Self::NotReady(NotReady::NoAnswer);
        }
        let Some(url) = document.get(URL).and_then(|url| url.as_str()) else {
            return malformed(AnswerError::NoUrl);
        };
        match IngressUrl::parse(url) {
            Ok(url) => Self::Ready(url),
            Err(error) => malformed(AnswerError::Url(error)),
        }
    }

    pub fn url(&self) -> Option<&IngressUrl> {
        match self {
            Self::Ready(url) => Some(url),
            Self::NotReady(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(value: Option<&str>) -> IngressView {
        let mut bag = Databag::new();
        if let Some(value) = value {
            bag.insert("ingress".into(), value.into());
        }
        IngressView::from_bag(&bag)
    }

    fn malformed(value: &str, error: AnswerError) -> IngressView {
        IngressView::NotReady(NotReady::AnswerMalformed { value: value.into(), error })
    }

    #[test]
    fn the_url_is_read_from_the_json_object() {
        let url = "http://ingress.example.com/prod-synapse";
        assert_eq!(view(Some(&format!(r#"{{"url": "{url}"}}"#))), IngressView::Ready(url.parse().unwrap()));
        // Compact JSON and extra fields are fine.
        let compact = view(Some(r#"{"url":"https://prod-synapse.example.com/","extra":1}"#));
        assert_eq!(compact.url().map(IngressUrl::as_str), Some("https://prod-synapse.example.com/"));
    }

    #[test]
    fn no_value_is_no_answer() {
        for value in [None, Some(""), Some(" "), Some("null")] {
            assert_eq!(view(value), IngressView::NotReady(NotReady::NoAnswer), "{value:?}");
        }
    }

    #[test]
    fn each_malformed_answer_names_the_value() {
        let not_json = "url: http://example.com/";
        assert_eq!(view(Some(not_json)), malformed(not_json, AnswerError::NotJson));
        for no_url in [r#"{}"#, r#"{"url": 7}"#, r#""http://example.com/""#, r#"["http://x/"]"#] {
            assert_eq!(view(Some(no_url)), malformed(no_url, AnswerError::NoUrl), "{no_url}");
        }
        let ftp = r#"{"url": "ftp://example.com/"}"#;
        assert_eq!(view(Some(ftp)), malformed(ftp, AnswerError::Url(UrlError::Scheme("ftp".into()))));
        let relative = r#"{"url": "/prod-synapse"}"#;
        assert_eq!(view(Some(relative)), malformed(relative, AnswerError::Url(UrlError::NotAbsolute)));
    }

    #[test]
    fn reasons_read_well() {
        let reason = NotReady::AnswerMalformed { value: "{}".into(), error: AnswerError::NoUrl };
        assert_eq!(reason.to_string(), "ingress is malformed (not an object with a string url): \"{}\"");
        let reason =
            NotReady::AnswerMalformed { value: "x".into(), error: AnswerError::Url(UrlError::NotAbsolute) };
        assert_eq!(
            reason.to_string(),
            "ingress is malformed (the url is unusable: not an absolute URL): \"x\""
        );
        assert_eq!(NotReady::NoAnswer.to_string(), "no ingress URL published");
    }
}
