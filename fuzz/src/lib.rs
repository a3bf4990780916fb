//! What the fuzz targets run, one function per target, each fed arbitrary bytes; none may
//! panic. `tests/corpus.rs` replays the committed seeds and every crash found (`regressions/`)
//! on stable, in the normal test run.
//!
//! - [`registration`]: an appservice registration as a bridge sends it.
//! - [`hook_tools`]: hook-tool output: every call of the charm's relation readers (s3, smtp,
//!   PostgreSQL, Redis, ingress, Grafana, Prometheus, Loki, matrix-auth both sides) answered
//!   with the next part of the input, as the tools would print it.
//! - [`yaml`]: YAML as the charm reads it (safe-yaml), and Prometheus alert rule files.
//! - [`pebble_response`]: an HTTP response from Pebble, and its body as every type the client
//!   reads.
//! - [`charm_config`]: `config-get` output as the charm parses its options.

#[allow(dead_code, clippy::all)]
#[path = "../../src/config/mod.rs"]
mod config;

use std::io;
use std::sync::Mutex;

use juju::{HookTools, RelationId, ToolOutput, ToolRunner};

/// Separates the answers of successive tool calls in a `hook_tools` input.
pub const CALL_SEPARATOR: &[u8] = b"\n\x00\n";

pub fn registration(data: &[u8]) {
    if let Ok(registration) = matrix_auth::Registration::parse_bytes(data) {
        // What the provider does with an accepted registration.
        let _ = matrix_auth::find_conflict(std::slice::from_ref(&registration), &registration);
    }
}

/// Answers each tool call with the next part of the input (cycling): exit code 0, or 1 with
/// the part on stderr when it starts with `!`.
struct Replay {
    parts: Vec<Vec<u8>>,
    next: Mutex<usize>,
}

impl ToolRunner for Replay {
    fn run(&self, _tool: &str, _args: &[String], _stdin: Option<&[u8]>) -> io::Result<ToolOutput> {
        let mut next = self.next.lock().expect("not poisoned");
        let part = self.parts[*next % self.parts.len()].clone();
        *next += 1;
        Ok(match part.strip_prefix(b"!") {
            Some(error) => ToolOutput { code: 1, signal: None, stdout: Vec::new(), stderr: error.to_vec() },
            None => ToolOutput { code: 0, signal: None, stdout: part, stderr: Vec::new() },
        })
    }
}

pub fn hook_tools(data: &[u8]) {
    let parts: Vec<Vec<u8>> = split(data, CALL_SEPARATOR);
    let tools = || HookTools::new(Replay { parts: parts.clone(), next: Mutex::new(0) });
    let relation = RelationId::new("endpoint", 7);
    let _ = s3_client::S3View::read(&tools(), &relation, Some("s3-integrator"), "synapse");
    let _ = smtp_client::SmtpView::read(&tools(), &relation, Some("smtp-integrator"), "synapse");
    let _ = postgresql_client::DatabaseView::read(&tools(), &relation, "postgresql-k8s");
    let _ = redis_client::RedisView::read(&tools(), &relation);
    let _ = ingress_client::IngressView::read(&tools(), &relation, "traefik");
    let _ = grafana_dashboard::DashboardReport::read(&tools(), &relation, "grafana");
    let _ = prometheus_scrape::ConsumerReport::read(&tools(), &relation, "prometheus");
    let _ = loki_push_api::LokiView::read(&tools(), &relation);
    let _ = matrix_auth::ProviderView::read(&tools(), &relation, "synapse");
    let context = matrix_auth::ProviderContext {
        endpoint: "matrix-auth".into(),
        local_app: "synapse".into(),
        model_uuid: "a6f4c2bc-4f1e-4a39-8a5b-5f5b2f0e1d3c".into(),
        event: None,
        store: None,
    };
    let _ = matrix_auth::ProviderState::read(&tools(), context.clone());
    // With the leader's record of what it published, which the replayed peer bag holds.
    let store = matrix_auth::PublicationStore {
        relation: RelationId::new("synapse-peers", 0),
        key: "matrix-auth-published".into(),
    };
    if let Ok(state) = matrix_auth::ProviderState::read(&tools(), context.with_store(store)) {
        let _ = state.registrations();
        let _ = state.plan_publish("http://synapse:8008", None, || "k".to_string().into());
    }
    // The framework's own readers of tool output.
    let tools = tools();
    let _ = tools.config_get();
    let _ = tools.is_leader();
    let _ = tools.relation_ids("endpoint");
    let _ = tools.relation_get_app(&relation, "remote");
    let _ = tools.relation_list(&relation);
    let _ = tools.action_get();
    let _ = tools.state_get("key");
    let _ = tools.goal_state();
}

fn split(data: &[u8], separator: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(separator.len()).position(|window| window == separator) {
        parts.push(rest[..at].to_vec());
        rest = &rest[at + separator.len()..];
    }
    parts.push(rest.to_vec());
    parts
}

pub fn yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = safe_yaml::from_str::<serde_json::Value>(text);
    let _ = prometheus_scrape::RuleFile::parse("rules.yaml", text);
}

pub fn pebble_response(data: &[u8]) {
    pebble::fuzzing::response(data);
}

pub fn charm_config(data: &[u8]) {
    if let Ok(serde_json::Value::Object(options)) = serde_json::from_slice(data) {
        let _ = config::SynapseConfig::from_options(&options);
    }
}
