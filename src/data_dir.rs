//! Whose server `/data` holds. The charm writes a marker file before anything else; a
//! `/data` that holds a Synapse server (configuration, signing key, database, media) without
//! that marker was set up by someone else, for example the upstream Python charm, and the
//! charm must not write over it until it can adopt it.

use pebble::FileType;

use crate::workload::DATA_DIR;

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
    /// A server the charm did not set up: the names of what was found.
    Foreign(Vec<String>),
}

impl DataDir {
    /// One Pebble request: the listing of `/data`.
    pub fn inspect(pebble: &pebble::Client) -> pebble::Result<Self> {
        let entries = match pebble.list_files(DATA_DIR, None, false) {
            Ok(entries) => entries,
            Err(error) if error.is_not_found() => return Ok(Self::Fresh),
            Err(error) => return Err(error),
        };
        let names: Vec<(String, bool)> =
            entries.into_iter().map(|entry| (entry.name, entry.file_type == FileType::Directory)).collect();
        Ok(Self::classify(&names))
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
}
