//! Integrations and options the charm declares (for compatibility with the upstream charm)
//! but does not act on yet. Relating one, or setting one, changes nothing; the charm says so
//! in the status message and in the log at every hook, so nobody waits for it.

use std::collections::BTreeSet;

use juju::Status;

use crate::config::SynapseConfig;

/// Endpoints of metadata.yaml the charm does not act on yet.
pub const ENDPOINTS: [&str; 1] = ["backup"];

/// What is related or set without effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unsupported {
    pub relations: Vec<&'static str>,
    pub options: Vec<&'static str>,
}

impl Unsupported {
    /// The unsupported endpoints among `related`, and the options of `config` set away from
    /// their default.
    pub fn find(related: &BTreeSet<String>, config: Option<&SynapseConfig>) -> Self {
        let relations = ENDPOINTS.into_iter().filter(|endpoint| related.contains(*endpoint)).collect();
        let mut options: Vec<&'static str> = Vec::new();
        if let Some(config) = config {
            if config.enable_mjolnir {
                options.push("enable_mjolnir");
            }
            if config.backup_passphrase_set {
                options.push("backup_passphrase");
            }
        }
        Self { relations, options }
    }

    /// Active, with a message naming everything that has no effect; `None` when nothing does.
    pub fn status(&self) -> Option<Status> {
        let mut parts = Vec::new();
        if !self.relations.is_empty() {
            let noun = if self.relations.len() == 1 { "relation" } else { "relations" };
            parts.push(format!("{} {noun}", self.relations.join(", ")));
        }
        if !self.options.is_empty() {
            let noun = if self.options.len() == 1 { "option" } else { "options" };
            parts.push(format!("{} {noun}", self.options.join(", ")));
        }
        (!parts.is_empty()).then(|| Status::active(format!("no effect yet: {}", parts.join("; "))))
    }

    /// One log line per relation and option, saying what the operator gets instead.
    pub fn log_lines(&self) -> Vec<String> {
        let relations = self.relations.iter().map(|endpoint| {
            format!(
                "the {endpoint} relation is not supported yet by this charm and has no effect ({})",
                instead(endpoint)
            )
        });
        let options = self.options.iter().map(|option| {
            format!("the option {option} is not supported yet by this charm and has no effect")
        });
        relations.chain(options).collect()
    }
}

fn instead(endpoint: &str) -> &'static str {
    match endpoint {
        "backup" => "back up the data storage yourself",
        _ => "no metrics or dashboards are published",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn related_unsupported_endpoints_and_set_options_are_named() {
        let related: BTreeSet<String> =
            ["matrix-auth", "media", "redis", "smtp", "ingress", "backup"].map(String::from).into();
        let config = crate::config::for_tests(json!({"enable_mjolnir": true, "backup_passphrase": "s3cret"}));
        let found = Unsupported::find(&related, Some(&config));
        assert_eq!(found.relations, ["backup"], "media, redis, smtp and ingress have effect");
        assert_eq!(found.options, ["enable_mjolnir", "backup_passphrase"]);
        assert_eq!(
            found.status(),
            Some(Status::active("no effect yet: backup relation; enable_mjolnir, backup_passphrase options"))
        );
        assert_eq!(found.log_lines().len(), 3);
        assert!(found.log_lines()[0].contains("back up the data storage yourself"));
    }

    #[test]
    fn nothing_unsupported_means_no_status() {
        let related: BTreeSet<String> = ["matrix-auth".to_string()].into();
        let found = Unsupported::find(&related, Some(&crate::config::for_tests(json!({}))));
        assert!(found.relations.is_empty() && found.options.is_empty());
        assert_eq!(found.status(), None);
        assert_eq!(
            Unsupported::find(&["backup".to_string()].into(), None).status(),
            Some(Status::active("no effect yet: backup relation"))
        );
    }
}
