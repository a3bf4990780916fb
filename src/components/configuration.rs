//! The charm configuration as a component: every invalid option blocks (the status names the
//! first, the log all of them), and options that have no effect yet are named in an active
//! status and a warning at every hook (see [`Unsupported`]).

use juju::LogLevel;

use crate::component::ComponentPlan;
use crate::config::{InvalidConfig, SynapseConfig};
use crate::status;
use crate::unsupported::Unsupported;

pub const NAME: &str = "config";

pub fn plan(config: &Result<SynapseConfig, InvalidConfig>) -> ComponentPlan {
    let mut plan = ComponentPlan::default();
    if let Err(invalid) = config {
        plan.statuses.push(status::invalid_config(invalid));
        plan.diagnostics.extend(invalid.lines().map(|line| (LogLevel::Error, line)));
    }
    let unsupported = Unsupported::find(config.as_ref().ok());
    plan.diagnostics.extend(unsupported.log_lines().into_iter().map(|line| (LogLevel::Warning, line)));
    plan.statuses.extend(unsupported.status());
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InvalidOption;
    use juju::{Status, StatusKind};
    use serde_json::json;

    #[test]
    fn an_invalid_option_blocks_and_is_logged() {
        let invalid = Err(InvalidConfig {
            problems: vec![InvalidOption { name: "server_name", reason: "it is required".into() }],
        });
        let plan = plan(&invalid);
        assert_eq!(plan.statuses[0].kind, StatusKind::Blocked);
        assert_eq!(plan.statuses[0].message, "invalid configuration: server_name: it is required");
        assert_eq!(
            plan.diagnostics,
            [(LogLevel::Error, "invalid configuration: server_name: it is required".to_string())]
        );
    }

    #[test]
    fn what_has_no_effect_is_named_in_the_status_and_each_in_a_warning() {
        let config = SynapseConfig::from_options(
            json!({"server_name": "example.com", "enable_mjolnir": true, "workers_ignore_list": "worker1"})
                .as_object()
                .unwrap(),
        );
        let plan = plan(&config);
        let notes: Vec<&str> = plan
            .diagnostics
            .iter()
            .filter(|(level, _)| *level == LogLevel::Warning)
            .map(|(_, line)| line.as_str())
            .collect();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("enable_mjolnir"));
        assert_eq!(plan.statuses, [Status::active("no effect yet: enable_mjolnir option")]);
    }
}
