//! Backups to S3 through the `backup` relation with s3-integrator (the `s3-client` crate,
//! either track): the leader asks for a bucket, every unit checks that the bucket answers
//! ([`BucketCheck`]) and says in its status when it does not, with upstream's words. The
//! backups themselves are actions ([`crate::actions::backup`]), encrypted with the
//! `backup_passphrase` option; nothing of this component reaches homeserver.yaml or
//! restarts anything.

use juju::{HookContext, HookTools, LogLevel, Status};
use s3_client::{plan_request, S3Request, S3View};

use crate::component::{ComponentPlan, Facts};
use crate::deployment::Deployment;
use crate::s3_relation::{self, S3Relation};
use crate::state::StateError;

pub const NAME: &str = "backup";
/// The relation endpoint (metadata.yaml).
pub const ENDPOINT: &str = "backup";
/// The unit state key of the bucket check.
pub const CHECK_KEY: &str = "backup-bucket-check";
/// Upstream's status when the bucket does not answer.
pub const BUCKET_UNREACHABLE: &str = "Backup: S3 bucket does not exist or cannot be accessed";

/// What the hook found: the relation, if there is one.
pub type BackupState = Option<S3Relation>;

/// The `backup` relation, as [`s3_relation::load`] reads it.
pub fn load(
    tools: &HookTools,
    context: &HookContext,
    deployment: &Deployment,
    pebble: &pebble::Client,
    leader: bool,
    reachable: bool,
) -> Result<BackupState, StateError> {
    s3_relation::load(tools, context, deployment, pebble, (ENDPOINT, CHECK_KEY), leader, reachable)
}

pub fn plan(state: &BackupState, facts: &Facts) -> ComponentPlan {
    let mut plan = ComponentPlan::default();
    let Some(S3Relation { id, own, view, check }) = state else { return plan };
    if let (Some((app, unit)), true) = (own, facts.speaks_for_app() && facts.may_write) {
        let effects = plan_request(id, app, unit, &S3Request::for_relation(id));
        if !effects.is_empty() {
            plan.log(LogLevel::Info, format!("backup: asking for the bucket relation-{} on {id}", id.id));
        }
        plan.effects.extend(effects);
    }
    let settings = match view {
        S3View::Ready(settings) => settings,
        S3View::NotReady(reason) => {
            plan.log(LogLevel::Info, format!("backup: {id} is not ready: {reason}"));
            let message = format!("Backup: {reason}");
            plan.statuses.push(match reason.needs_operator() {
                true => Status::blocked(message),
                false => Status::waiting(message),
            });
            return plan;
        }
    };
    plan.secrets.extend([settings.access_key.clone(), settings.secret_key.clone()]);
    if let Some(passphrase) = facts.config.and_then(|config| config.backup_passphrase.clone()) {
        plan.secrets.push(passphrase.0);
    }
    let Some(check) = check else { return plan };
    plan.effects.extend(check.record());
    if let Some(problem) = &check.problem {
        plan.statuses.push(Status::blocked(BUCKET_UNREACHABLE));
        if check.fresh {
            plan.log(
                LogLevel::Error,
                format!(
                    "backup: the bucket {:?} at {} does not answer: {problem}; create it or fix the \
                     s3-integrator's settings",
                    settings.bucket,
                    settings.endpoint.as_deref().unwrap_or("AWS")
                ),
            );
        }
    } else if check.fresh {
        plan.log(LogLevel::Info, format!("backup: the bucket {:?} answers", settings.bucket));
    }
    plan
}

#[cfg(test)]
mod tests {
    use juju::StatusKind;
    use s3_client::{NotReady, S3Settings, UriStyle};
    use secrecy::SecretString;

    use super::*;
    use crate::component::tests::facts;
    use crate::s3_tool::tests::{fresh, kept};
    use crate::s3_tool::BucketCheck;
    use juju::RelationId;

    fn settings() -> S3Settings {
        S3Settings {
            bucket: "synapse-backups".into(),
            access_key: SecretString::from("AKIABACKUP0001".to_string()),
            secret_key: SecretString::from("backup-secret-key/1".to_string()),
            region: Some("eu-west-1".into()),
            endpoint: Some("https://s3.example.com".into()),
            path: "synapse/".into(),
            s3_uri_style: UriStyle::Path,
            tls_ca_chain: Vec::new(),
            credentials_secret: None,
        }
    }

    fn related(view: S3View, check: Option<BucketCheck>) -> BackupState {
        let check = check.map(Box::new);
        Some(S3Relation { id: RelationId::new(ENDPOINT, 7), own: None, view, check })
    }

    #[test]
    fn a_bucket_that_does_not_answer_blocks_with_upstreams_words_and_is_recorded() {
        let deployment = Deployment::single();
        let facts = facts(&deployment, "synapse/0", true);
        let problem = "NoSuchBucket (HTTP 404)";
        let plan = plan(
            &related(S3View::Ready(Box::new(settings())), Some(fresh(CHECK_KEY, Some(problem)))),
            &facts,
        );
        assert_eq!(plan.statuses, [Status::blocked(BUCKET_UNREACHABLE)]);
        assert!(plan.diagnostics.iter().any(|(_, line)| line.contains(problem)));
        assert!(matches!(&plan.effects[..], [Effect::StateSet { key, .. }] if key == CHECK_KEY));
        assert!(plan.homeserver.0.is_empty(), "backups never reach homeserver.yaml");
        assert!(plan.services.is_empty() && plan.files.is_empty(), "nor restart anything");

        let again =
            plan_of(&related(S3View::Ready(Box::new(settings())), Some(kept(CHECK_KEY, Some(problem)))));
        assert_eq!(again.statuses, [Status::blocked(BUCKET_UNREACHABLE)]);
        assert!(again.effects.is_empty() && again.diagnostics.is_empty(), "a kept outcome is said once");
    }

    fn plan_of(state: &BackupState) -> ComponentPlan {
        let deployment = Deployment::single();
        plan(state, &facts(&deployment, "synapse/0", true))
    }

    #[test]
    fn a_bucket_that_answers_adds_no_status_and_the_keys_are_redacted() {
        let plan = plan_of(&related(S3View::Ready(Box::new(settings())), Some(fresh(CHECK_KEY, None))));
        assert!(plan.statuses.is_empty());
        let secrets: Vec<&str> = plan.secrets.iter().map(|secret| secret.expose_secret()).collect();
        assert!(secrets.contains(&"AKIABACKUP0001") && secrets.contains(&"backup-secret-key/1"));
    }

    #[test]
    fn a_track_2_integrator_without_a_bucket_says_to_set_it() {
        let reason = NotReady::BucketMissing { provider: "s3-integrator".into() };
        let plan = plan_of(&related(S3View::NotReady(reason.clone()), None));
        assert_eq!(plan.statuses.len(), 1);
        assert_eq!(plan.statuses[0].kind, StatusKind::Blocked);
        assert_eq!(plan.statuses[0].message, format!("Backup: {reason}"));
        assert!(plan.statuses[0].message.contains("bucket"));
    }

    use juju::Effect;
    use secrecy::ExposeSecret as _;
}
