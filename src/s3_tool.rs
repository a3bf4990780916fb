//! S3 from Synapse's container: the charm's tool ([`SCRIPT`], Python with boto3 and gpg,
//! run through Pebble exec as the synapse user) checks buckets and makes, lists, fetches,
//! restores and deletes backups. The request, with the keys and the passphrase, goes on
//! stdin; nothing secret is in argv, the environment or the Pebble plan.
//!
//! [`BucketCheck`] is a bucket's reachability as the `media` and `backup` components show it:
//! checked when the settings change, the outcome kept in the unit's Juju state (with a digest
//! of the settings), a failed one checked again on `update-status`.

use std::time::Duration;

use juju::{Effect, HookToolError, HookTools};
use s3_client::S3Settings;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::workload::{SYNAPSE_GID, SYNAPSE_UID};

/// The tool: `python3 -c SCRIPT <command>`.
pub const SCRIPT: &str = include_str!("s3_tool.py");
/// The start of the tool's progress lines (on stderr).
const PROGRESS: &str = "progress: ";
/// How long a bucket check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// What the tool reported instead of a result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Problem {
    /// `bucket`, `not-found`, `passphrase`, `upload`, `download`, `archive`, `database`,
    /// `server-name`, `gpg`, `internal`, or `exec` (the tool did not run).
    #[serde(rename = "problem")]
    pub kind: String,
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Runs `command` with `request` on stdin: the tool's answer or its problem. Only Pebble
/// being unreachable is an error.
pub fn run(
    pebble: &pebble::Client,
    command: &str,
    request: &Value,
    timeout: Duration,
) -> Result<Result<Value, Problem>, pebble::Error> {
    run_with_progress(pebble, command, request, timeout, &mut |_| {})
}

/// Like [`run`], handing each progress line of the tool to `on_progress` as it comes.
pub fn run_with_progress(
    pebble: &pebble::Client,
    command: &str,
    request: &Value,
    timeout: Duration,
    on_progress: &mut dyn FnMut(&str),
) -> Result<Result<Value, Problem>, pebble::Error> {
    let exec = pebble::ExecRequest {
        stdin: Some(serde_json::to_vec(request).expect("JSON values always serialise")),
        timeout: Some(timeout),
        user_id: Some(SYNAPSE_UID),
        group_id: Some(SYNAPSE_GID),
        ..pebble::ExecRequest::new(["python3", "-c", SCRIPT, command])
    };
    let mut relay = |line: &str| {
        if let Some(text) = line.strip_prefix(PROGRESS) {
            on_progress(text);
        }
    };
    let output = match pebble.exec_with_progress(&exec, &mut relay) {
        Ok(output) => output,
        Err(pebble::Error::Api { message, .. } | pebble::Error::Change { err: message, .. }) => {
            return Ok(Err(Problem { kind: "exec".into(), detail: message }))
        }
        Err(error) => return Err(error),
    };
    let answer: Value = match serde_json::from_slice(&output.stdout) {
        Ok(answer) => answer,
        Err(_) => {
            let stderr = output.stderr_text();
            let last = stderr.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("no output");
            let detail = format!("the S3 tool failed (exit code {}): {last}", output.exit_code);
            return Ok(Err(Problem { kind: "exec".into(), detail }));
        }
    };
    Ok(match serde_json::from_value::<Problem>(answer.clone()) {
        Ok(problem) => Err(problem),
        Err(_) => Ok(answer),
    })
}

/// The settings as the tool takes them (the keys included).
pub fn settings_json(settings: &S3Settings) -> Value {
    json!({
        "bucket": settings.bucket,
        "access_key": settings.access_key.expose_secret(),
        "secret_key": settings.secret_key.expose_secret(),
        "region": settings.region,
        "endpoint": settings.endpoint,
        "path": settings.path,
        "addressing_style": settings.s3_uri_style.addressing_style(),
        "ca_chain": settings.tls_ca_chain,
    })
}

/// SHA-256 of everything a check depends on, the keys included (a digest, kept in the
/// unit's Juju state, from which no key can be recovered).
fn digest(settings: &S3Settings) -> String {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(settings_json(settings).to_string().as_bytes());
    hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A bucket's reachability, for settings with `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketCheck {
    pub digest: String,
    /// `None`: the bucket answers; else why not.
    pub problem: Option<String>,
    /// Whether it ran in this hook (else it was kept from an earlier one).
    pub fresh: bool,
    /// The unit state key it is kept under.
    key: &'static str,
}

impl BucketCheck {
    /// The outcome kept under `key` for these settings; else (or when it was a failure and
    /// `recheck_failure`) a new check. One `state-get`, and one Pebble exec for a new check.
    pub fn load(
        tools: &HookTools,
        pebble: &pebble::Client,
        key: &'static str,
        settings: &S3Settings,
        recheck_failure: bool,
    ) -> Result<Result<Self, pebble::Error>, HookToolError> {
        let digest = digest(settings);
        if let Some(kept) = tools.state_get(key)? {
            if let Some((kept_digest, outcome)) = kept.split_once('\n') {
                let problem = (outcome != "ok").then(|| outcome.to_string());
                if kept_digest == digest && !(problem.is_some() && recheck_failure) {
                    return Ok(Ok(Self { digest, problem, fresh: false, key }));
                }
            }
        }
        let request = json!({"s3": settings_json(settings)});
        let problem = match run(pebble, "check", &request, CHECK_TIMEOUT) {
            Ok(Ok(_)) => None,
            Ok(Err(problem)) => Some(problem.detail),
            Err(error) => return Ok(Err(error)),
        };
        Ok(Ok(Self { digest, problem, fresh: true, key }))
    }

    /// Keeps a fresh outcome for the next hooks.
    pub fn record(&self) -> Option<Effect> {
        self.fresh.then(|| Effect::StateSet {
            key: self.key.to_string(),
            value: format!("{}\n{}", self.digest, self.problem.as_deref().unwrap_or("ok")),
        })
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A check kept from an earlier hook.
    pub fn kept(key: &'static str, problem: Option<&str>) -> BucketCheck {
        BucketCheck { digest: "d".into(), problem: problem.map(str::to_string), fresh: false, key }
    }

    /// A check made in this hook.
    pub fn fresh(key: &'static str, problem: Option<&str>) -> BucketCheck {
        BucketCheck { fresh: true, ..kept(key, problem) }
    }

    #[test]
    fn only_a_fresh_check_is_recorded_and_the_record_holds_no_key() {
        assert!(kept("k", None).record().is_none());
        let Some(Effect::StateSet { key, value }) = fresh("k", Some("NoSuchBucket (HTTP 404)")).record()
        else {
            panic!("a state-set")
        };
        assert_eq!((key.as_str(), value.as_str()), ("k", "d\nNoSuchBucket (HTTP 404)"));
    }
}
