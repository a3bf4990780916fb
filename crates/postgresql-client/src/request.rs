//! The request: what the requirer's leader writes in its own application bag.
//!
//! The provider acts once, when `database` first appears, and refuses later changes to
//! `extra-user-roles`. So missing keys are written, and a published `database` or
//! `extra-user-roles` that differs from the request is kept and reported, never rewritten.

use std::fmt;

use juju::{Bag, Databag, Effect, RelationId};

use crate::protocol::{DATABASE, EXTRA_USER_ROLES, REQUESTED_SECRETS, REQUESTED_SECRET_FIELDS};

/// A database request: the name and the extra roles of the provider's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseRequest {
    database: String,
    extra_user_roles: Vec<String>,
}

/// A request the provider could not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    #[error("the database name is empty")]
    EmptyDatabase,
    #[error("extra user role {0:?} is empty or contains a comma")]
    InvalidRole(String),
}

impl DatabaseRequest {
    /// A request for `database`, without extra roles (a trailing `*` asks postgresql 16 for
    /// a prefix match).
    pub fn new(database: impl Into<String>) -> Result<Self, InvalidRequest> {
        let database = database.into();
        if database.trim().is_empty() {
            return Err(InvalidRequest::EmptyDatabase);
        }
        Ok(Self { database, extra_user_roles: Vec::new() })
    }

    /// Extra roles for the provider's user, such as `SUPERUSER`.
    pub fn with_extra_user_roles<I>(mut self, roles: I) -> Result<Self, InvalidRequest>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.extra_user_roles = roles
            .into_iter()
            .map(|role| {
                let role = role.as_ref().trim();
                match role.is_empty() || role.contains(',') {
                    true => Err(InvalidRequest::InvalidRole(role.to_string())),
                    false => Ok(role.to_string()),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// The `extra-user-roles` value, `None` when there are no roles.
    pub fn extra_user_roles(&self) -> Option<String> {
        (!self.extra_user_roles.is_empty()).then(|| self.extra_user_roles.join(","))
    }
}

/// What the leader should write for a request.
#[derive(Debug)]
pub struct RequestPlan {
    /// At most one `relation-set` of the keys the application bag lacks; empty once written.
    pub effects: Vec<Effect>,
    /// Published values that differ from the request and are kept.
    pub conflicts: Vec<RequestConflict>,
}

/// A key the provider already read with another value than the request's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestConflict {
    pub key: &'static str,
    pub published: Option<String>,
    pub wanted: Option<String>,
}

impl fmt::Display for RequestConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show =
            |value: &Option<String>| value.as_deref().map_or("(none)".to_string(), |v| format!("{v:?}"));
        write!(
            f,
            "{} is {} on the relation, not {}; the provider takes it only when the relation is created",
            self.key,
            show(&self.published),
            show(&self.wanted)
        )
    }
}

/// Plans the leader's writes (relation-created, or any later hook while keys are missing):
/// `requested-secrets`, `database` and `extra-user-roles` in one `relation-set`, against
/// `own_app_bag`, this application's bag on `relation` as the leader reads it.
pub fn plan_request(relation: &RelationId, own_app_bag: &Databag, request: &DatabaseRequest) -> RequestPlan {
    let published = |key: &str| own_app_bag.get(key).filter(|value| !value.is_empty());
    let mut writes = Databag::new();
    let mut conflicts = Vec::new();

    let requested_list = published(REQUESTED_SECRETS)
        .and_then(|text| serde_json::from_str::<Vec<String>>(text).ok())
        .is_some();
    if !requested_list {
        let fields = serde_json::to_string(&REQUESTED_SECRET_FIELDS).expect("a list of strings serialises");
        writes.insert(REQUESTED_SECRETS.to_string(), fields);
    }

    let database_published = published(DATABASE);
    match database_published {
        None => {
            writes.insert(DATABASE.to_string(), request.database.clone());
        }
        Some(database) if database != &request.database => conflicts.push(RequestConflict {
            key: DATABASE,
            published: Some(database.clone()),
            wanted: Some(request.database.clone()),
        }),
        Some(_) => {}
    }

    let roles_published = published(EXTRA_USER_ROLES).cloned();
    let roles_wanted = request.extra_user_roles();
    if roles_published != roles_wanted {
        if roles_published.is_none() && database_published.is_none() {
            writes.extend(roles_wanted.map(|roles| (EXTRA_USER_ROLES.to_string(), roles)));
        } else {
            conflicts.push(RequestConflict {
                key: EXTRA_USER_ROLES,
                published: roles_published,
                wanted: roles_wanted,
            });
        }
    }

    let effects = match writes.is_empty() {
        true => Vec::new(),
        false => vec![Effect::relation_set(relation.clone(), Bag::App, writes)],
    };
    RequestPlan { effects, conflicts }
}

#[cfg(test)]
mod tests {
    use juju::effects::Value;

    use super::*;

    fn relation() -> RelationId {
        RelationId::new("database", 3)
    }

    fn request(database: &str, roles: &[&str]) -> DatabaseRequest {
        DatabaseRequest::new(database).unwrap().with_extra_user_roles(roles).unwrap()
    }

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The keys and values of the plan's single relation-set.
    fn written(plan: &RequestPlan) -> Databag {
        match plan.effects.as_slice() {
            [] => Databag::new(),
            [Effect::RelationSet { relation: to, bag: Bag::App, data }] => {
                assert_eq!(to, &relation());
                data.iter()
                    .map(|(key, value)| match value {
                        Value::Text(text) => (key.clone(), text.clone()),
                        other => panic!("{other:?}"),
                    })
                    .collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fresh_relation_gets_every_key_in_one_write() {
        let wanted = request("synapse", &["SUPERUSER"]);
        let plan = plan_request(&relation(), &Databag::new(), &wanted);
        assert!(plan.conflicts.is_empty());
        let written = written(&plan);
        assert_eq!(
            written,
            bag(&[
                ("database", "synapse"),
                ("extra-user-roles", "SUPERUSER"),
                (
                    "requested-secrets",
                    r#"["username","password","tls","tls-ca","uris","read-only-uris","entity-name","entity-password"]"#
                ),
            ])
        );
        let again = plan_request(&relation(), &written, &wanted);
        assert!(again.effects.is_empty() && again.conflicts.is_empty(), "{again:?}");
    }

    #[test]
    fn no_roles_means_no_key_and_roles_are_joined_with_commas() {
        let plain = request("app", &[]);
        assert!(
            !written(&plan_request(&relation(), &Databag::new(), &plain)).contains_key("extra-user-roles")
        );
        let two = request("app", &["createdb", " createrole "]);
        assert_eq!(two.extra_user_roles().as_deref(), Some("createdb,createrole"));
    }

    #[test]
    fn only_missing_keys_are_written() {
        let wanted = request("app", &[]);
        // An older requirer's list is kept; a list that is not JSON is replaced.
        let old = bag(&[("requested-secrets", r#"["username","password","tls","tls-ca","uris"]"#)]);
        assert_eq!(written(&plan_request(&relation(), &old, &wanted)), bag(&[("database", "app")]));
        let garbage = bag(&[("requested-secrets", "username"), ("database", "app")]);
        assert_eq!(written(&plan_request(&relation(), &garbage, &wanted)).len(), 1);
    }

    #[test]
    fn published_database_and_roles_are_kept_and_reported() {
        let wanted = request("new-name", &["SUPERUSER"]);
        let own = bag(&[("requested-secrets", "[]"), ("database", "old-name")]);
        let plan = plan_request(&relation(), &own, &wanted);
        assert!(plan.effects.is_empty(), "roles are not added after the request was read");
        assert_eq!(
            plan.conflicts,
            [
                RequestConflict {
                    key: "database",
                    published: Some("old-name".into()),
                    wanted: Some("new-name".into())
                },
                RequestConflict {
                    key: "extra-user-roles",
                    published: None,
                    wanted: Some("SUPERUSER".into())
                },
            ]
        );
        assert_eq!(
            plan.conflicts[1].to_string(),
            "extra-user-roles is (none) on the relation, not \"SUPERUSER\"; \
             the provider takes it only when the relation is created"
        );

        let without_roles = request("app", &[]);
        let own = bag(&[("requested-secrets", "[]"), ("extra-user-roles", "SUPERUSER")]);
        let plan = plan_request(&relation(), &own, &without_roles);
        assert_eq!(written(&plan), bag(&[("database", "app")]), "roles are never changed or deleted");
        assert_eq!(plan.conflicts.len(), 1);
    }

    #[test]
    fn invalid_requests_are_refused() {
        assert_eq!(DatabaseRequest::new(" "), Err(InvalidRequest::EmptyDatabase));
        assert_eq!(
            DatabaseRequest::new("app").and_then(|r| r.with_extra_user_roles(["a,b"])),
            Err(InvalidRequest::InvalidRole("a,b".into()))
        );
        assert_eq!(
            DatabaseRequest::new("app").and_then(|r| r.with_extra_user_roles([""])),
            Err(InvalidRequest::InvalidRole(String::new()))
        );
    }
}
