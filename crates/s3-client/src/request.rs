//! The request: what the requirer's leader writes.
//!
//! One request fits both tracks: `bucket` is what a track-1 provider (the v0 library) waits
//! for, and `requested-secrets`, `lib-version` and `path` make a track-2 provider send the
//! credentials in a Juju secret and take the requested bucket into account. A track-1
//! provider ignores the keys it does not know. `requested-secrets` goes to the leader's
//! unit bag as well, as the track-2 library writes it.
//!
//! The plans write only the keys whose value differs from the bag (a `requested-secrets` list
//! counts as held when it is the same JSON document, whatever its spacing), so a hook with
//! nothing new writes nothing, and a bag the Python library wrote is not rewritten.

use juju::{Bag, Databag, Effect, RelationId};

use crate::protocol::{
    BUCKET, LIB_VERSION, LIB_VERSION_VALUE, PATH, REQUESTED_SECRETS, REQUESTED_SECRET_FIELDS,
};

/// A request the provider could not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    #[error("the bucket name is empty")]
    EmptyBucket,
    #[error("the bucket name {0:?} contains white space")]
    BucketWithSpace(String),
}

/// What the requirer asks for: a bucket, and optionally a path (object prefix) in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Request {
    bucket: String,
    path: Option<String>,
}

impl S3Request {
    pub fn new(bucket: impl Into<String>) -> Result<Self, InvalidRequest> {
        let bucket = bucket.into();
        if bucket.is_empty() {
            return Err(InvalidRequest::EmptyBucket);
        }
        if bucket.chars().any(char::is_whitespace) {
            return Err(InvalidRequest::BucketWithSpace(bucket));
        }
        Ok(Self { bucket, path: None })
    }

    /// What the v0 library asks for when the charm names no bucket: `relation-<id>` (so a
    /// deployment of the Python charm keeps its request).
    pub fn for_relation(relation: &RelationId) -> Self {
        Self { bucket: format!("relation-{}", relation.id), path: None }
    }

    /// Asks for `path` too (a track-2 provider may use it); an empty path asks for none.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.path = (!path.is_empty()).then_some(path);
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }
}

/// The `requested-secrets` value as the Python library writes it (`json.dumps`).
fn requested_secrets() -> String {
    format!("[{}]", REQUESTED_SECRET_FIELDS.map(|field| format!("\"{field}\"")).join(", "))
}

/// Whether `held` is the JSON list of [`REQUESTED_SECRET_FIELDS`], whatever its spacing.
fn holds_requested_secrets(held: Option<&String>) -> bool {
    held.and_then(|text| serde_json::from_str::<Vec<String>>(text).ok())
        .is_some_and(|fields| fields == REQUESTED_SECRET_FIELDS)
}

/// Plans the leader's writes on `relation` against this application's bag (`own_app_bag`)
/// and the leader's unit bag (`own_unit_bag`) as it reads them: at most one `relation-set`
/// per bag, of the keys that differ; nothing once both hold the request.
pub fn plan_request(
    relation: &RelationId,
    own_app_bag: &Databag,
    own_unit_bag: &Databag,
    request: &S3Request,
) -> Vec<Effect> {
    let mut app = Databag::new();
    if !holds_requested_secrets(own_app_bag.get(REQUESTED_SECRETS)) {
        app.insert(REQUESTED_SECRETS.to_string(), requested_secrets());
    }
    let mut wanted = vec![(BUCKET, request.bucket.as_str()), (LIB_VERSION, LIB_VERSION_VALUE)];
    wanted.extend(request.path.as_deref().map(|path| (PATH, path)));
    for (key, value) in wanted {
        if own_app_bag.get(key).map(String::as_str) != Some(value) {
            app.insert(key.to_string(), value.to_string());
        }
    }
    let mut effects = Vec::new();
    if !app.is_empty() {
        effects.push(Effect::relation_set(relation.clone(), Bag::App, app));
    }
    if !holds_requested_secrets(own_unit_bag.get(REQUESTED_SECRETS)) {
        let unit = Databag::from([(REQUESTED_SECRETS.to_string(), requested_secrets())]);
        effects.push(Effect::relation_set(relation.clone(), Bag::Unit, unit));
    }
    effects
}

#[cfg(test)]
mod tests {
    use juju::effects::Value;

    use super::*;

    fn relation() -> RelationId {
        RelationId::new("media", 7)
    }

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Each `relation-set` of the plan: its bag and what it writes.
    fn writes(effects: &[Effect]) -> Vec<(Bag, Databag)> {
        effects
            .iter()
            .map(|effect| match effect {
                Effect::RelationSet { relation: to, bag, data } => {
                    assert_eq!(to, &relation());
                    let data = data
                        .iter()
                        .map(|(key, value)| match value {
                            Value::Text(text) => (key.clone(), text.clone()),
                            other => panic!("{other:?}"),
                        })
                        .collect();
                    (*bag, data)
                }
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_fresh_relation_gets_the_whole_request_once() {
        let request = S3Request::for_relation(&relation());
        assert_eq!(request.bucket(), "relation-7");
        let plan = writes(&plan_request(&relation(), &Databag::new(), &Databag::new(), &request));
        let app = bag(&[
            ("bucket", "relation-7"),
            ("lib-version", "1.0"),
            ("requested-secrets", r#"["access-key", "secret-key"]"#),
        ]);
        let unit = bag(&[("requested-secrets", r#"["access-key", "secret-key"]"#)]);
        assert_eq!(plan, [(Bag::App, app.clone()), (Bag::Unit, unit.clone())]);
        assert!(plan_request(&relation(), &app, &unit, &request).is_empty(), "nothing new: no write");
    }

    #[test]
    fn only_what_differs_is_written() {
        let request = S3Request::new("synapse-media").unwrap().with_path("synapse/");
        // What the v0 library of the Python charm wrote: only the bucket it generated.
        let own = bag(&[("bucket", "relation-7")]);
        let unit = bag(&[("requested-secrets", r#"["access-key","secret-key"]"#)]);
        let plan = writes(&plan_request(&relation(), &own, &unit, &request));
        assert_eq!(
            plan,
            [(
                Bag::App,
                bag(&[
                    ("bucket", "synapse-media"),
                    ("lib-version", "1.0"),
                    ("path", "synapse/"),
                    ("requested-secrets", r#"["access-key", "secret-key"]"#),
                ])
            )],
            "the unit's list is the same JSON document"
        );
        let garbage = bag(&[("requested-secrets", "access-key")]);
        assert_eq!(writes(&plan_request(&relation(), &garbage, &garbage, &request)).len(), 2);
        assert_eq!(S3Request::new("b").unwrap().with_path("").path(), None);
    }

    #[test]
    fn invalid_buckets_are_refused() {
        assert_eq!(S3Request::new(""), Err(InvalidRequest::EmptyBucket));
        assert_eq!(S3Request::new("a b"), Err(InvalidRequest::BucketWithSpace("a b".into())));
    }
}
