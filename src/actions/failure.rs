//! How an action ends when it cannot do what it was asked: a [`Failure`] is the operator's
//! message for `action-fail`; a broken hook tool fails the whole hook instead.

use juju::HookToolError;

/// Why an action did not do its job, worded for the operator. No variant carries a secret:
/// the admin API client's errors never contain one either.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("unknown action {0}")]
    UnknownAction(String),
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    #[error("Synapse is not configured yet: {0}")]
    NotConfigured(String),
    #[error("Synapse is not running: {0}")]
    NotRunning(String),
    /// Pebble runs Synapse, but it did not answer within the grace period.
    #[error("Synapse is not answering on {url} ({action} for {user}): {reason}")]
    NotAnswering { url: String, action: &'static str, user: String, reason: String },
    /// A unit other than the leader found no stored admin token; only the leader stores one.
    #[error("no admin access token is stored yet; run this action on the leader unit, which creates one")]
    NoAdminToken,
    /// A unit other than the leader found the stored admin token rejected by Synapse.
    #[error(
        "the stored admin access token is no longer valid; run this action on the leader unit, which renews it"
    )]
    AdminTokenInvalid,
    #[error(transparent)]
    Synapse(#[from] synapse_admin::Error),
    /// A backup action could not do its job: the whole message.
    #[error("{0}")]
    Backup(String),
}

/// A step of an action went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// Reported with `action-fail`; the hook succeeds and commits what it did.
    #[error(transparent)]
    Failed(#[from] Failure),
    /// A hook tool failed: the hook fails and nothing it did is committed.
    #[error(transparent)]
    Tool(#[from] HookToolError),
}

impl From<synapse_admin::Error> for ActionError {
    fn from(error: synapse_admin::Error) -> Self {
        Self::Failed(Failure::Synapse(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_failures_point_at_the_leader() {
        for failure in [Failure::NoAdminToken, Failure::AdminTokenInvalid] {
            let message = failure.to_string();
            assert!(message.contains("run this action on the leader unit"), "{message}");
        }
    }

    #[test]
    fn a_silent_synapse_is_named_with_the_actions_own_request() {
        let failure = Failure::NotAnswering {
            url: "http://localhost:8008".into(),
            action: "anonymize-user",
            user: "@alice:example.com".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            failure.to_string(),
            "Synapse is not answering on http://localhost:8008 (anonymize-user for @alice:example.com): connection refused"
        );
    }

    #[test]
    fn admin_api_errors_keep_their_message() {
        let exists = synapse_admin::Error::UserExists { user_id: "@alice:example.com".into() };
        let error = ActionError::from(exists);
        assert_eq!(error.to_string(), "user @alice:example.com already exists");
        assert!(matches!(error, ActionError::Failed(Failure::Synapse(_))));
    }
}
