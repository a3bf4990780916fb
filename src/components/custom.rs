//! The escape hatch: `additional_homeserver_config`, a YAML mapping of homeserver.yaml keys
//! merged after the charm's own. The charm's fixed defaults ([`OVERRIDABLE_KEYS`], such as
//! `max_upload_size`) may be overridden. Any other key the charm manages (set by a component
//! this hook, or in [`MANAGED_KEYS`], which components set only in some deployments) is
//! refused: the status names every such key and the running configuration is kept whole,
//! never applied without the operator's other keys. The merged file still passes Synapse's
//! own loader before use.

use juju::LogLevel;

use crate::component::{ComponentPlan, Hold};
use crate::config::ExtraConfig;
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

/// Fixed defaults of the charm (no option or relation sets them) the operator may override.
pub const OVERRIDABLE_KEYS: &[&str] = &[
    "max_upload_size",
    "media_retention",
    "forgotten_room_retention_period",
    "delete_stale_devices_after",
    "suppress_key_server_warning",
];

/// The plan: the text to append to homeserver.yaml, and the charm's defaults it overrides
/// (to leave out of the charm's own keys).
#[derive(Debug, Default)]
pub struct CustomPlan {
    pub plan: ComponentPlan,
    pub text: Option<String>,
    pub overridden: Vec<String>,
}

/// `extra` is the option (if set); `claimed` the keys the components set.
pub fn plan<'a>(extra: Option<&ExtraConfig>, claimed: impl Iterator<Item = &'a str> + Clone) -> CustomPlan {
    let mut plan = ComponentPlan::default();
    let Some(extra) = extra else { return CustomPlan::default() };
    let refused: Vec<&str> = extra
        .keys
        .iter()
        .map(String::as_str)
        .filter(|key| !OVERRIDABLE_KEYS.contains(key))
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
        return CustomPlan { plan, text: None, overridden: Vec::new() };
    }
    let overridden =
        extra.keys.iter().filter(|key| OVERRIDABLE_KEYS.contains(&key.as_str())).cloned().collect();
    plan.log(LogLevel::Debug, format!("additional_homeserver_config sets {}", extra.keys.join(", ")));
    CustomPlan { plan, text: Some(extra.text.clone()), overridden }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extra(text: &str) -> ExtraConfig {
        let keys =
            text.lines().filter_map(|line| line.split_once(':')).map(|(key, _)| key.to_string()).collect();
        ExtraConfig { text: text.to_string(), keys }
    }

    #[test]
    fn free_keys_are_kept_as_written_and_managed_ones_refused_by_name() {
        let claimed = ["server_name", "listeners", "max_upload_size"];
        let custom =
            plan(Some(&extra("url_preview_enabled: yes\nmax_upload_size: 100M\n")), claimed.iter().copied());
        assert_eq!(
            custom.text.as_deref(),
            Some("url_preview_enabled: yes\nmax_upload_size: 100M\n"),
            "as written"
        );
        assert_eq!(custom.overridden, ["max_upload_size"], "a fixed default, overridden");
        assert!(custom.plan.statuses.is_empty() && custom.plan.hold.is_none());

        let refused = plan(
            Some(&extra("database: {}\nserver_name: x\nurl_preview_enabled: true\n")),
            claimed.iter().copied(),
        );
        let planned = refused.plan;
        assert!(refused.text.is_none(), "nothing of it is applied");
        assert_eq!(planned.hold, Some(Hold::Keep));
        assert_eq!(
            planned.statuses[0].message,
            "additional_homeserver_config sets keys the charm manages: database, server_name; the running \
             configuration is kept"
        );
        assert!(plan(None, claimed.iter().copied()).text.is_none());
    }
}
