//! Media in S3 through the `media` relation with s3-integrator (the `s3-client` crate, either
//! track): the leader asks for a bucket, and once the provider's settings are usable
//! homeserver.yaml gets one `media_storage_providers` entry, synapse-s3-storage-provider's
//! `S3StorageProviderBackend` storing local and remote media synchronously (as the Python
//! charm configures it): `bucket`, `region_name`, `endpoint_url` and `prefix` (the published
//! `path`, as sent, so the objects the Python charm stored keep their names).
//!
//! The keys are not in homeserver.yaml: boto3 reads them from a 0600 credentials file
//! ([`CREDENTIALS_PATH`]) that the Synapse service's environment names
//! (`AWS_SHARED_CREDENTIALS_FILE`; a path, no secret), the addressing style (`s3-uri-style`)
//! from an AWS config file ([`CONFIG_PATH`], `AWS_CONFIG_FILE`), and the provider's CA chain,
//! when it publishes one, from [`CA_PATH`] (`AWS_CA_BUNDLE`). A change of any of them restarts Synapse; removing the relation
//! removes the entry and the files. While the provider's settings are not usable, Synapse
//! keeps media on the `data` storage only and the status says why: Blocked when only the
//! operator can fix it on the integrator (a track-2 integrator without a `bucket` option, no
//! credentials, no region or endpoint, a malformed value), Waiting otherwise. So too while
//! the bucket does not answer from Synapse's container ([`BucketCheck`], checked again on
//! `update-status`): Synapse would fail every upload otherwise.

use juju::{HookContext, HookTools, LogLevel, Status};
use s3_client::{plan_request, S3Request, S3Settings, S3View};
use secrecy::ExposeSecret as _;
use serde_json::json;

use crate::component::{ComponentPlan, Facts, OwnedFiles, PlannedFile};
use crate::deployment::Deployment;
use crate::s3_relation::{self, S3Relation};
use crate::state::StateError;
use crate::workload::{ContainerFile, DATA_DIR, SERVICE};

pub const NAME: &str = "media";
/// The relation endpoint (metadata.yaml).
pub const ENDPOINT: &str = "media";
/// The storage provider class synapse-s3-storage-provider gives Synapse.
pub const MODULE: &str = "s3_storage_provider.S3StorageProviderBackend";
/// boto3's shared credentials file: the keys (0600).
pub const CREDENTIALS_PATH: &str = "/data/s3-media.credentials";
/// boto3's config file: the addressing style.
pub const CONFIG_PATH: &str = "/data/s3-media.config";
/// The provider's CA chain, when it publishes one.
pub const CA_PATH: &str = "/data/s3-media-ca.pem";
/// Where the files above live: those no plan wants are removed.
pub const FILES: OwnedFiles = OwnedFiles { dir: DATA_DIR, pattern: "s3-media*" };
/// The unit state key of the bucket check.
pub const CHECK_KEY: &str = "media-bucket-check";
/// The status while the bucket does not answer.
pub const BUCKET_UNREACHABLE: &str = "Media: S3 bucket does not exist or cannot be accessed";

/// What the hook found: the relation, if there is one.
pub type MediaState = Option<S3Relation>;

/// The `media` relation, as [`s3_relation::load`] reads it.
pub fn load(
    tools: &HookTools,
    context: &HookContext,
    deployment: &Deployment,
    pebble: &pebble::Client,
    leader: bool,
    reachable: bool,
) -> Result<MediaState, StateError> {
    s3_relation::load(tools, context, deployment, pebble, (ENDPOINT, CHECK_KEY), leader, reachable)
}

pub fn plan(state: &MediaState, facts: &Facts) -> ComponentPlan {
    let mut plan = ComponentPlan { owned_files: vec![FILES], ..ComponentPlan::default() };
    let Some(S3Relation { id, own, view, check }) = state else { return plan };
    if let (Some((app, unit)), true) = (own, facts.speaks_for_app() && facts.may_write) {
        let effects = plan_request(id, app, unit, &S3Request::for_relation(id));
        if !effects.is_empty() {
            plan.log(LogLevel::Info, format!("media: asking for the bucket relation-{} on {id}", id.id));
        }
        plan.effects.extend(effects);
    }
    let settings = match view {
        S3View::Ready(settings) => settings,
        S3View::NotReady(reason) => {
            plan.log(
                LogLevel::Info,
                format!("media: {id} is not ready: {reason}; media stays on the data storage"),
            );
            let message = format!("Media: {reason}");
            plan.statuses.push(match reason.needs_operator() {
                true => Status::blocked(message),
                false => Status::waiting(message),
            });
            return plan;
        }
    };
    plan.secrets.extend([settings.access_key.clone(), settings.secret_key.clone()]);
    if let Some(check) = check {
        plan.effects.extend(check.record());
        if let Some(problem) = &check.problem {
            if check.fresh {
                plan.log(
                    LogLevel::Error,
                    format!(
                        "media: the bucket {:?} at {} does not answer: {problem}; media stays on the data \
                         storage until it does (checked again at update-status)",
                        settings.bucket,
                        settings.endpoint.as_deref().unwrap_or("AWS")
                    ),
                );
            }
            plan.statuses.push(Status::blocked(BUCKET_UNREACHABLE));
            return plan;
        }
    }
    let Some(credentials) = credentials_file(settings) else {
        let problem = "the S3 access key or secret key holds a line break or surrounding spaces, which \
                       boto3's credentials file cannot hold; check the s3-integrator credentials";
        plan.log(LogLevel::Error, format!("media: {problem}"));
        plan.statuses.push(Status::blocked(format!("Media: {problem}")));
        return plan;
    };
    let mut config = json!({"bucket": settings.bucket});
    if let Some(region) = &settings.region {
        config["region_name"] = json!(region);
    }
    if let Some(endpoint) = &settings.endpoint {
        config["endpoint_url"] = json!(endpoint);
    }
    config["prefix"] = json!(settings.path);
    plan.homeserver.set(
        "media_storage_providers",
        json!([{
            "module": MODULE,
            "store_local": true,
            "store_remote": true,
            "store_synchronous": true,
            "config": config,
        }]),
    );
    let aws_config =
        format!("[default]\ns3 =\n    addressing_style = {}\n", settings.s3_uri_style.addressing_style());
    plan.files.push(file(ContainerFile::secret(CREDENTIALS_PATH, credentials)));
    plan.files.push(file(ContainerFile::public(CONFIG_PATH, aws_config)));
    let mut environment =
        vec![("AWS_SHARED_CREDENTIALS_FILE", CREDENTIALS_PATH), ("AWS_CONFIG_FILE", CONFIG_PATH)];
    if !settings.tls_ca_chain.is_empty() {
        let chain: Vec<&str> = settings.tls_ca_chain.iter().map(|pem| pem.trim()).collect();
        plan.files.push(file(ContainerFile::public(CA_PATH, format!("{}\n", chain.join("\n")))));
        // The variable rather than the config file's `ca_bundle`, which an inherited
        // AWS_CA_BUNDLE would override.
        environment.push(("AWS_CA_BUNDLE", CA_PATH));
    }
    for (name, path) in environment {
        plan.service_environment.push((SERVICE, name.into(), path.into()));
    }
    plan.log(
        LogLevel::Debug,
        format!(
            "media: stored in bucket {:?} (prefix {:?}) at {}",
            settings.bucket,
            settings.path,
            settings.endpoint.as_deref().or(settings.region.as_deref()).unwrap_or("AWS")
        ),
    );
    plan
}

fn file(file: ContainerFile) -> PlannedFile {
    PlannedFile { file, services: &[SERVICE], appservice_of: None }
}

/// boto3's shared credentials file (an INI file, values to the end of the line with
/// surrounding spaces trimmed); `None` when a key cannot be written in it.
fn credentials_file(settings: &S3Settings) -> Option<String> {
    let access = settings.access_key.expose_secret();
    let secret = settings.secret_key.expose_secret();
    let fits = |value: &str| !value.contains(['\n', '\r']) && value.trim() == value;
    (fits(access) && fits(secret))
        .then(|| format!("[default]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n"))
}

#[cfg(test)]
mod tests {
    use juju::{Bag, Effect, StatusKind};
    use s3_client::{NotReady, UriStyle};
    use secrecy::SecretString;

    use super::*;
    use crate::component::tests::facts;
    use crate::s3_tool::tests::{fresh, kept};
    use juju::{Databag, RelationId};

    fn settings() -> S3Settings {
        S3Settings {
            bucket: "synapse-media".into(),
            access_key: SecretString::from("AKIAMEDIA0001".to_string()),
            secret_key: SecretString::from("media-secret-key/1".to_string()),
            region: Some("eu-west-1".into()),
            endpoint: Some("https://s3.example.com".into()),
            path: "synapse/".into(),
            s3_uri_style: UriStyle::Path,
            tls_ca_chain: Vec::new(),
            credentials_secret: None,
        }
    }

    fn related(view: S3View, own: Option<(Databag, Databag)>) -> MediaState {
        Some(S3Relation { id: RelationId::new(ENDPOINT, 3), own, view, check: None })
    }

    fn plan_of(state: &MediaState, leader: bool) -> ComponentPlan {
        plan(state, &facts(&Deployment::single(), "synapse/0", leader))
    }

    fn content(plan: &ComponentPlan, path: &str) -> Option<(String, bool)> {
        plan.files
            .iter()
            .find(|planned| planned.file.path == path)
            .map(|planned| (String::from_utf8(planned.file.content.clone()).unwrap(), planned.file.secret))
    }

    #[test]
    fn ready_settings_become_one_storage_provider_with_the_keys_in_a_private_file() {
        let planned = plan_of(&related(S3View::Ready(Box::new(settings())), None), false);
        assert!(planned.statuses.is_empty(), "{:?}", planned.statuses);
        assert_eq!(
            planned.homeserver.0["media_storage_providers"],
            json!([{
                "module": "s3_storage_provider.S3StorageProviderBackend",
                "store_local": true,
                "store_remote": true,
                "store_synchronous": true,
                "config": {
                    "bucket": "synapse-media",
                    "region_name": "eu-west-1",
                    "endpoint_url": "https://s3.example.com",
                    "prefix": "synapse/",
                },
            }])
        );
        let yaml = serde_json::to_string(&planned.homeserver.0).unwrap();
        assert!(
            !yaml.contains("AKIAMEDIA0001") && !yaml.contains("media-secret-key/1"),
            "no key in homeserver.yaml"
        );
        assert_eq!(
            content(&planned, CREDENTIALS_PATH),
            Some((
                "[default]\naws_access_key_id = AKIAMEDIA0001\naws_secret_access_key = media-secret-key/1\n"
                    .into(),
                true
            ))
        );
        assert_eq!(
            content(&planned, CONFIG_PATH),
            Some(("[default]\ns3 =\n    addressing_style = path\n".into(), false))
        );
        assert_eq!(content(&planned, CA_PATH), None);
        assert!(planned.files.iter().all(|planned| planned.services == [SERVICE]));
        assert_eq!(
            planned.service_environment,
            [
                (SERVICE, "AWS_SHARED_CREDENTIALS_FILE".to_string(), CREDENTIALS_PATH.to_string()),
                (SERVICE, "AWS_CONFIG_FILE".to_string(), CONFIG_PATH.to_string()),
            ]
        );
        let hidden: Vec<&str> = planned.secrets.iter().map(|secret| secret.expose_secret()).collect();
        assert_eq!(hidden, ["AKIAMEDIA0001", "media-secret-key/1"]);
        assert_eq!(planned.owned_files, [FILES]);
        assert!(FILES.matches("s3-media.credentials") && FILES.matches("s3-media-ca.pem"));
        assert!(planned.diagnostics.iter().all(|(_, line)| !line.contains("media-secret-key")));
    }

    #[test]
    fn a_bucket_that_does_not_answer_keeps_media_on_the_data_storage_until_it_does() {
        let checked = |check| {
            Some(S3Relation {
                id: RelationId::new(ENDPOINT, 3),
                own: None,
                view: S3View::Ready(Box::new(settings())),
                check: Some(Box::new(check)),
            })
        };
        let failed = plan_of(&checked(fresh(CHECK_KEY, Some("NoSuchBucket (HTTP 404)"))), false);
        assert_eq!(failed.statuses, [Status::blocked(BUCKET_UNREACHABLE)]);
        assert!(failed.homeserver.0.is_empty() && failed.files.is_empty(), "no storage provider");
        assert!(matches!(&failed.effects[..], [Effect::StateSet { key, .. }] if key == CHECK_KEY));
        assert!(failed.diagnostics.iter().any(|(_, line)| line.contains("NoSuchBucket")));
        let kept_failure = plan_of(&checked(kept(CHECK_KEY, Some("NoSuchBucket (HTTP 404)"))), false);
        assert!(kept_failure.effects.is_empty() && kept_failure.diagnostics.is_empty());
        let answers = plan_of(&checked(fresh(CHECK_KEY, None)), false);
        assert!(answers.statuses.is_empty());
        assert!(answers.homeserver.0.contains_key("media_storage_providers"));
    }

    #[test]
    fn virtual_hosts_a_ca_chain_and_aws_without_endpoint() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let aws = S3Settings {
            endpoint: None,
            path: String::new(),
            s3_uri_style: UriStyle::VirtualHost,
            tls_ca_chain: vec![pem.into(), pem.into()],
            ..settings()
        };
        let planned = plan_of(&related(S3View::Ready(Box::new(aws)), None), false);
        let config = &planned.homeserver.0["media_storage_providers"][0]["config"];
        assert_eq!(config, &json!({"bucket": "synapse-media", "region_name": "eu-west-1", "prefix": ""}));
        assert_eq!(
            content(&planned, CONFIG_PATH).unwrap().0,
            "[default]\ns3 =\n    addressing_style = virtual\n"
        );
        let (chain, secret) = content(&planned, CA_PATH).unwrap();
        assert!(!secret);
        assert_eq!(chain.matches("-----BEGIN CERTIFICATE-----").count(), 2);
        assert_eq!(
            planned.service_environment.last(),
            Some(&(SERVICE, "AWS_CA_BUNDLE".to_string(), CA_PATH.to_string()))
        );
    }

    #[test]
    fn the_leader_asks_for_the_bucket_and_a_follower_does_not() {
        let waiting = S3View::NotReady(NotReady::NothingPublished);
        let planned = plan_of(&related(waiting.clone(), Some((Databag::new(), Databag::new()))), true);
        let buckets: Vec<String> = planned
            .effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::RelationSet { bag: Bag::App, data, .. } => Some(format!("{:?}", data.get("bucket"))),
                _ => None,
            })
            .collect();
        assert_eq!(buckets, ["Some(Text(\"relation-3\"))"]);
        assert_eq!(planned.effects.len(), 2, "the app bag and the leader's unit bag");
        assert!(plan_of(&related(waiting, None), false).effects.is_empty());
    }

    #[test]
    fn each_reason_is_waiting_or_blocked_and_configures_nothing() {
        for (reason, kind) in [
            (NotReady::NothingPublished, StatusKind::Waiting),
            (NotReady::ProviderUnknown, StatusKind::Waiting),
            (NotReady::BucketMissing { provider: "s3-integrator".into() }, StatusKind::Blocked),
            (
                NotReady::CredentialsMissing { key: "access-key", provider: "s3".into(), track2: true },
                StatusKind::Blocked,
            ),
            (NotReady::RegionOrEndpointMissing { provider: "s3".into() }, StatusKind::Blocked),
            (NotReady::Malformed { key: "s3-uri-style", value: "virtual".into() }, StatusKind::Blocked),
            (
                NotReady::SecretNotGranted {
                    secret: juju::SecretUri::parse("secret:cq9ig0fmp25c77ni4a2g").unwrap(),
                    app: "synapse".into(),
                },
                StatusKind::Waiting,
            ),
        ] {
            let planned = plan_of(&related(S3View::NotReady(reason.clone()), None), false);
            assert_eq!(planned.statuses.len(), 1, "{reason:?}");
            assert_eq!(planned.statuses[0].kind, kind, "{reason:?}");
            assert_eq!(planned.statuses[0].message, format!("Media: {reason}"));
            assert!(
                planned.homeserver.0.is_empty()
                    && planned.files.is_empty()
                    && planned.service_environment.is_empty()
            );
            assert_eq!(planned.owned_files, [FILES], "the files of an earlier configuration go");
        }
        let unrelated = plan_of(&None, true);
        assert!(
            unrelated.statuses.is_empty()
                && unrelated.homeserver.0.is_empty()
                && unrelated.effects.is_empty()
        );
        assert_eq!(unrelated.owned_files, [FILES]);
    }

    #[test]
    fn keys_a_credentials_file_cannot_hold_block() {
        let odd = S3Settings { secret_key: SecretString::from("two\nlines".to_string()), ..settings() };
        let planned = plan_of(&related(S3View::Ready(Box::new(odd)), None), false);
        assert_eq!(planned.statuses[0].kind, StatusKind::Blocked);
        assert!(planned.statuses[0]
            .message
            .starts_with("Media: the S3 access key or secret key holds a line break"));
        assert!(planned.homeserver.0.is_empty() && planned.files.is_empty());
        assert_eq!(planned.secrets.len(), 2, "hidden all the same");
    }
}
