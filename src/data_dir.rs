//! Whose server `/data` holds. The charm writes a marker file before anything else; a
//! `/data` that holds a Synapse server (configuration, signing key, database, media) without
//! that marker was set up by someone else, for example the upstream Python charm. With its
//! homeserver.yaml the charm adopts that server (the leader keeps its identity, see
//! [`crate::components::secrets`]); without one it writes nothing there.

use pebble::FileType;

use crate::homeserver::{existing_homeserver, ExistingHomeserver};
use crate::workload::{CONFIG_PATH, DATA_DIR};

/// The marker the charm writes into `/data` before its first file.
pub const MARKER_PATH: &str = "/data/.synapse-k8s-charm";
pub const MARKER_CONTENT: &str = "This Synapse data directory is managed by the synapse-k8s charm.\n";

/// What `/data` holds, as far as the charm is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDir {
    /// Not looked at: the running plan already is the charm's, so the charm set it up.
    NotInspected,
    /// Nothing of a Synapse server: the charm may set one up.
    Fresh,
    /// The charm's own marker is there.
    Ours,
    /// Parts of a server the charm did not set up, without a homeserver.yaml it can read:
    /// the names of what was found.
    Foreign(Vec<String>),
    /// A server the charm did not set up, with its homeserver.yaml: the charm adopts it.
    Upstream(Box<Upstream>),
}

/// A server someone else set up in `/data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The names of what was found (as for [`DataDir::Foreign`]).
    pub found: Vec<String>,
    /// What its homeserver.yaml says.
    pub homeserver: ExistingHomeserver,
}

impl DataDir {
    /// One Pebble request, the listing of `/data`; a second one, homeserver.yaml, when the
    /// listing shows a server the charm did not set up.
    pub fn inspect(pebble: &pebble::Client) -> pebble::Result<Self> {
        let entries = match pebble.list_files(DATA_DIR, None, false) {
            Ok(entries) => entries,
            Err(error) if error.is_not_found() => return Ok(Self::Fresh),
            Err(error) => return Err(error),
        };
        let names: Vec<(String, bool)> =
            entries.into_iter().map(|entry| (entry.name, entry.file_type == FileType::Directory)).collect();
        let found = match Self::classify(&names) {
            Self::Foreign(found) if found.iter().any(|name| Some(name.as_str()) == config_name()) => found,
            other => return Ok(other),
        };
        let text = match pebble.pull(CONFIG_PATH) {
            Ok(bytes) => String::from_utf8(bytes).ok(),
            Err(error) if error.is_not_found() => None,
            Err(error) => return Err(error),
        };
        Ok(Self::with_homeserver(found, text.as_deref()))
    }

    /// A foreign `/data` (what was `found`) with the text of its homeserver.yaml, if any:
    /// [`DataDir::Upstream`] when that names a server, else [`DataDir::Foreign`].
    pub fn with_homeserver(found: Vec<String>, homeserver: Option<&str>) -> Self {
        match homeserver.and_then(existing_homeserver) {
            Some(homeserver) => Self::Upstream(Box::new(Upstream { found, homeserver })),
            None => Self::Foreign(found),
        }
    }

    /// Classifies the names (and whether each is a directory) found in `/data`.
    pub fn classify(entries: &[(String, bool)]) -> Self {
        let marker = MARKER_PATH.rsplit('/').next().unwrap_or_default();
        if entries.iter().any(|(name, _)| name == marker) {
            return Self::Ours;
        }
        let found: Vec<String> = entries
            .iter()
            .filter(|(name, directory)| is_server_state(name, *directory))
            .map(|(name, _)| name.clone())
            .collect();
        if found.is_empty() {
            Self::Fresh
        } else {
            Self::Foreign(found)
        }
    }
}

/// The file name of homeserver.yaml.
fn config_name() -> Option<&'static str> {
    CONFIG_PATH.strip_prefix(DATA_DIR)?.strip_prefix('/')
}

/// Files and directories that belong to a Synapse server's identity or data.
fn is_server_state(name: &str, directory: bool) -> bool {
    if directory {
        return matches!(name, "media" | "media_store" | "uploads");
    }
    name == "homeserver.yaml"
        || name.starts_with("homeserver.db")
        || name.ends_with(".signing.key")
        || name.ends_with(".macaroon.key")
        || name.ends_with(".registration.key")
        || name.starts_with("appservice-registration-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(names: &[(&str, bool)]) -> Vec<(String, bool)> {
        names.iter().map(|(name, directory)| (name.to_string(), *directory)).collect()
    }

    #[test]
    fn an_empty_or_unrelated_directory_is_fresh() {
        assert_eq!(DataDir::classify(&[]), DataDir::Fresh);
        assert_eq!(
            DataDir::classify(&entries(&[("lost+found", true), ("notes.txt", false)])),
            DataDir::Fresh
        );
    }

    #[test]
    fn the_marker_makes_it_ours_whatever_else_is_there() {
        let found = entries(&[(".synapse-k8s-charm", false), ("homeserver.yaml", false), ("media", true)]);
        assert_eq!(DataDir::classify(&found), DataDir::Ours);
    }

    #[test]
    fn an_upstream_layout_is_foreign_and_named() {
        let upstream = entries(&[
            ("homeserver.yaml", false),
            ("log.config", false),
            ("example.com.signing.key", false),
            ("example.com.macaroon.key", false),
            ("media", true),
            ("homeserver.db", false),
        ]);
        assert_eq!(
            DataDir::classify(&upstream),
            DataDir::Foreign(vec![
                "homeserver.yaml".into(),
                "example.com.signing.key".into(),
                "example.com.macaroon.key".into(),
                "media".into(),
                "homeserver.db".into(),
            ])
        );
    }

    #[test]
    fn a_foreign_server_with_a_readable_homeserver_yaml_is_adoptable() {
        let found = vec!["homeserver.yaml".to_string(), "example.com.signing.key".to_string()];
        let text = "server_name: example.com\nmacaroon_secret_key: m\ndatabase:\n  name: psycopg2\n";
        let DataDir::Upstream(upstream) = DataDir::with_homeserver(found.clone(), Some(text)) else {
            panic!("not adoptable")
        };
        assert_eq!(upstream.found, found);
        assert_eq!(upstream.homeserver.server_name, "example.com");
        assert_eq!(upstream.homeserver.database.as_deref(), Some("psycopg2"));
        for unreadable in [None, Some("- a list\n"), Some("report_stats: false\n"), Some(": not yaml: [")] {
            assert_eq!(DataDir::with_homeserver(found.clone(), unreadable), DataDir::Foreign(found.clone()));
        }
    }
}
