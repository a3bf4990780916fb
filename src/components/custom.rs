//! The escape hatch: `additional_homeserver_config`, a YAML mapping of homeserver.yaml keys
//! merged after the charm's own. A key the charm manages (set by a component this hook, or
//! in [`MANAGED_KEYS`], which components set only in some deployments) is refused: the status
//! names every such key and the running configuration is kept whole, never applied without
//! the operator's other keys. The merged file still passes Synapse's own loader before use.

use juju::LogLevel;
use serde_json::{Map, Value};

use crate::component::{ComponentPlan, Fragment, Hold};
use crate::status;

pub const NAME: &str = "additional_homeserver_config";

/// Keys some component sets in some deployments (workers, Redis, a relation), refused even
/// when no component sets them this hook.
pub const MANAGED_KEYS: &[&str] = &[
    "database",
    "redis",
    "instance_map",
    "stream_writers",
    "federation_sender_instances",
    "send_federation",
    "app_service_config_files",
    "email",
    "media_storage_providers",
    "worker_app",
    "worker_name",
    "worker_listeners",
    "worker_log_config",
    "signing_key_path",
    "registration_shared_secret",
    "macaroon_secret_key",
    "form_secret",
];

/// `extra` is the option's mapping (if set); `claimed` the keys the components set.
pub fn plan<'a>(extra: Option<&Map<String, Value>>, claimed: impl Iterator<Item = &'a str> + Clone) -> ComponentPlan {
    let mut plan = ComponentPlan::default();
    let Some(extra) = extra else { return plan };
    let refused: Vec<&str> = extra
        .keys()
        .map(String::as_str)
        .filter(|key| MANAGED_KEYS.contains(key) || claimed.clone().any(|claimed| claimed == *key))
        .collect();
    if !refused.is_empty() {
        plan.statuses.push(status::custom_keys_refused(&refused));
        plan.log(
            LogLevel::Error,
            format!(
                "additional_homeserver_config sets keys the charm manages ({}); the running configuration is kept. \
                 Remove them from the option (their values come from the charm's options and relations)",
                refused.join(", ")
            ),
        );
        plan.hold = Some(Hold::Keep);
        return plan;
    }
    plan.homeserver = Fragment(extra.clone());
    plan.log(
        LogLevel::Debug,
        format!("additional_homeserver_config adds {}", extra.keys().cloned().collect::<Vec<_>>().join(", ")),
    );
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn free_keys_are_merged_and_managed_ones_refused_by_name() {
        let extra = mapping(json!({"url_preview_enabled": true, "max_upload_size": "100M"}));
        let claimed = ["server_name", "listeners"];
        let planned = plan(Some(&extra), claimed.iter().copied());
        assert_eq!(planned.homeserver.0, extra);
        assert!(planned.statuses.is_empty() && planned.hold.is_none());

        let extra = mapping(json!({"database": {}, "server_name": "x", "url_preview_enabled": true}));
        let planned = plan(Some(&extra), claimed.iter().copied());
        assert!(planned.homeserver.0.is_empty(), "nothing of it is applied");
        assert_eq!(planned.hold, Some(Hold::Keep));
        assert_eq!(
            planned.statuses[0].message,
            "additional_homeserver_config sets keys the charm manages: database, server_name; the running \
             configuration is kept"
        );
        assert!(plan(None, claimed.iter().copied()).homeserver.0.is_empty());
    }
}
