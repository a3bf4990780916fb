//! Options the charm declares (for compatibility with the upstream charm) but does not act
//! on yet. Setting one changes nothing; the charm says so in the status message and in the
//! log at every hook, so nobody waits for it.

use juju::Status;

use crate::config::SynapseConfig;

/// What is set without effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unsupported {
    pub options: Vec<&'static str>,
}

impl Unsupported {
    /// The options of `config` set away from their default that have no effect.
    pub fn find(config: Option<&SynapseConfig>) -> Self {
        let mut options: Vec<&'static str> = Vec::new();
        if config.is_some_and(|config| config.enable_mjolnir) {
            options.push("enable_mjolnir");
        }
        Self { options }
    }

    /// Active, with a message naming everything that has no effect; `None` when nothing does.
    pub fn status(&self) -> Option<Status> {
        let noun = if self.options.len() == 1 { "option" } else { "options" };
        (!self.options.is_empty())
            .then(|| Status::active(format!("no effect yet: {} {noun}", self.options.join(", "))))
    }

    /// One log line per option.
    pub fn log_lines(&self) -> Vec<String> {
        self.options
            .iter()
            .map(|option| format!("the option {option} is not supported yet by this charm and has no effect"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_options_without_effect_are_named() {
        let config = crate::config::for_tests(json!({"enable_mjolnir": true, "backup_passphrase": "s3cret"}));
        let found = Unsupported::find(Some(&config));
        assert_eq!(found.options, ["enable_mjolnir"], "the backup passphrase has effect");
        assert_eq!(found.status(), Some(Status::active("no effect yet: enable_mjolnir option")));
        assert_eq!(found.log_lines().len(), 1);
    }

    #[test]
    fn nothing_unsupported_means_no_status() {
        let found = Unsupported::find(Some(&crate::config::for_tests(json!({}))));
        assert!(found.options.is_empty());
        assert_eq!(found.status(), None);
        assert_eq!(Unsupported::find(None).status(), None);
    }
}
