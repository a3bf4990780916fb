//! What an action asks for, parsed from its name and `action-get` parameters before
//! anything is done.

use serde_json::{Map, Value};

use super::failure::Failure;

pub const REGISTER_USER: &str = "register-user";
pub const PROMOTE_USER_ADMIN: &str = "promote-user-admin";
pub const ANONYMIZE_USER: &str = "anonymize-user";
/// Handled by the charm's reconcile (see `crate::charm`), not through Synapse's API.
pub const RETRY_DATABASE_PORT: &str = "retry-database-port";

/// One action with valid parameters. Usernames are localparts that follow the Matrix
/// grammar for new user ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    RegisterUser { username: String, admin: bool },
    PromoteUserAdmin { username: String },
    AnonymizeUser { username: String },
}

impl Request {
    /// Parses the action `name` with its parameters.
    pub fn parse(name: &str, params: &Map<String, Value>) -> Result<Self, Failure> {
        match name {
            REGISTER_USER => {
                Ok(Self::RegisterUser { username: username(params)?, admin: flag(params, "admin")? })
            }
            PROMOTE_USER_ADMIN => Ok(Self::PromoteUserAdmin { username: username(params)? }),
            ANONYMIZE_USER => Ok(Self::AnonymizeUser { username: username(params)? }),
            other => Err(Failure::UnknownAction(other.to_string())),
        }
    }

    /// The action's name, which is also its `<name>: true` result key.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RegisterUser { .. } => REGISTER_USER,
            Self::PromoteUserAdmin { .. } => PROMOTE_USER_ADMIN,
            Self::AnonymizeUser { .. } => ANONYMIZE_USER,
        }
    }

    pub fn username(&self) -> &str {
        match self {
            Self::RegisterUser { username, .. }
            | Self::PromoteUserAdmin { username }
            | Self::AnonymizeUser { username } => username,
        }
    }
}

/// The required `username` parameter: a localpart, not a whole user id.
fn username(params: &Map<String, Value>) -> Result<String, Failure> {
    let invalid = |reason: String| Failure::InvalidParameter { name: "username", reason };
    let username = match params.get("username") {
        Some(Value::String(username)) => username,
        None | Some(Value::Null) => return Err(invalid("it is required".into())),
        Some(other) => return Err(invalid(format!("expected a string, got {other}"))),
    };
    if username.starts_with('@') {
        return Err(invalid(format!(
            "give the localpart only, for example alice for @alice:example.com, not {username:?}"
        )));
    }
    synapse_admin::validate_localpart(username)?;
    Ok(username.clone())
}

/// An optional boolean parameter, false when absent.
fn flag(params: &Map<String, Value>, name: &'static str) -> Result<bool, Failure> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(other) => {
            Err(Failure::InvalidParameter { name, reason: format!("expected true or false, got {other}") })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(name: &str, params: Value) -> Result<Request, Failure> {
        Request::parse(name, params.as_object().expect("an object"))
    }

    #[test]
    fn parses_every_declared_action() {
        assert_eq!(
            parse(REGISTER_USER, json!({"username": "alice", "admin": true})).unwrap(),
            Request::RegisterUser { username: "alice".into(), admin: true }
        );
        assert_eq!(
            parse(REGISTER_USER, json!({"username": "bob"})).unwrap(),
            Request::RegisterUser { username: "bob".into(), admin: false }
        );
        let promote = parse(PROMOTE_USER_ADMIN, json!({"username": "carol"})).unwrap();
        assert_eq!((promote.name(), promote.username()), (PROMOTE_USER_ADMIN, "carol"));
        let anonymize = parse(ANONYMIZE_USER, json!({"username": "dave"})).unwrap();
        assert_eq!((anonymize.name(), anonymize.username()), (ANONYMIZE_USER, "dave"));
    }

    #[test]
    fn rejects_bad_usernames_before_any_request() {
        let message = |params| parse(PROMOTE_USER_ADMIN, params).unwrap_err().to_string();
        assert_eq!(message(json!({})), "invalid parameter username: it is required");
        assert_eq!(message(json!({"username": 7})), "invalid parameter username: expected a string, got 7");
        assert!(message(json!({"username": "@alice:example.com"})).contains("give the localpart only"));
        let uppercase = message(json!({"username": "Alice"}));
        assert!(
            uppercase.starts_with("invalid username \"Alice\"") && uppercase.contains("lowercase"),
            "{uppercase}"
        );
        assert!(message(json!({"username": ""})).contains("empty"));
    }

    #[test]
    fn rejects_a_non_boolean_admin_flag_and_unknown_actions() {
        let error = parse(REGISTER_USER, json!({"username": "alice", "admin": "yes"})).unwrap_err();
        assert_eq!(error.to_string(), "invalid parameter admin: expected true or false, got \"yes\"");
        let unknown = parse("make-coffee", json!({})).unwrap_err();
        assert_eq!(unknown.to_string(), "unknown action make-coffee");
    }

    #[test]
    fn declared_actions_are_those_of_actions_yaml() {
        let declared: Map<String, Value> =
            safe_yaml::from_str(include_str!("../../actions.yaml")).expect("actions.yaml parses");
        let mut names: Vec<&str> = declared.keys().map(String::as_str).collect();
        names.sort_unstable();
        use super::super::backup;
        let mut known = vec![REGISTER_USER, PROMOTE_USER_ADMIN, ANONYMIZE_USER, RETRY_DATABASE_PORT];
        known.extend([backup::CREATE, backup::LIST, backup::RESTORE, backup::DELETE]);
        known.sort_unstable();
        assert_eq!(names, known);
    }
}
