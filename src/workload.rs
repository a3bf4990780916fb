//! The Synapse workload container: its names and paths, and the files the charm writes into it.

use std::fmt;

/// The workload container (metadata.yaml) and its Pebble service and layer.
pub const CONTAINER: &str = "synapse";
pub const SERVICE: &str = "synapse";
pub const LAYER_LABEL: &str = "synapse";

/// Synapse's data directory (the `data` storage) and the files the charm renders into it.
pub const DATA_DIR: &str = "/data";
pub const CONFIG_PATH: &str = "/data/homeserver.yaml";
/// Where a new homeserver.yaml is checked before it replaces the running one.
pub const CANDIDATE_CONFIG_PATH: &str = "/data/homeserver.yaml.candidate";

/// The `synapse` user and group of the upstream rock and the official image.
pub const SYNAPSE_UID: u32 = 991;
pub const SYNAPSE_GID: u32 = 991;

/// Prints the version of the Synapse the image runs.
pub const SYNAPSE_VERSION_COMMAND: [&str; 3] =
    ["python3", "-c", "import synapse; print(synapse.__version__)"];

/// The client and federation listener, also the Kubernetes service port.
pub const HTTP_PORT: u16 = 8008;

/// The signing key file Synapse reads for `server_name`.
pub fn signing_key_path(server_name: &str) -> String {
    format!("{DATA_DIR}/{server_name}.signing.key")
}

/// A path named after the content, `<dir>/<stem>-<16 hex digits of its SHA-256>.<extension>`,
/// for the files Synapse's loader reads: writing a new version never overwrites the file the
/// running configuration names, so a candidate configuration is checked with its own files
/// and the switch is the replacement of homeserver.yaml alone.
pub fn versioned_path(dir: &str, stem: &str, extension: &str, content: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    let hash = Sha256::digest(content);
    let hex: String = hash[..8].iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{dir}/{stem}-{hex}.{extension}")
}

/// A file the charm writes into the container, owned by the synapse user.
#[derive(Clone, PartialEq, Eq)]
pub struct ContainerFile {
    pub path: String,
    pub content: Vec<u8>,
    /// Secret-bearing files are written with mode 0600 and never printed.
    pub secret: bool,
}

impl ContainerFile {
    pub fn public(path: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        Self { path: path.into(), content: content.into(), secret: false }
    }

    pub fn secret(path: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        Self { path: path.into(), content: content.into(), secret: true }
    }

    /// The file mode: 0600 for secret-bearing files, 0644 otherwise.
    pub fn permissions(&self) -> u32 {
        if self.secret {
            0o600
        } else {
            0o644
        }
    }
}

impl fmt::Debug for ContainerFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ContainerFile");
        debug.field("path", &self.path).field("secret", &self.secret);
        if self.secret {
            debug.field("content", &format_args!("<{} bytes redacted>", self.content.len()));
        } else {
            debug.field("content", &String::from_utf8_lossy(&self.content));
        }
        debug.finish()
    }
}

/// The path without the content hash [`versioned_path`] put in it (`None` for other paths):
/// two versions of the same file share it.
pub fn version_stem(path: &str) -> Option<&str> {
    let (stem, _extension) = path.rsplit_once('.')?;
    let (base, hash) = stem.rsplit_once('-')?;
    (hash.len() == 16 && hash.bytes().all(|byte| byte.is_ascii_hexdigit())).then_some(base)
}

/// Whether `path` is the [`versioned_path`] of `content`.
pub fn named_after_content(path: &str, content: &[u8]) -> bool {
    let (Some((dir, stem)), Some((_, extension))) =
        (version_stem(path).and_then(|base| base.rsplit_once('/')), path.rsplit_once('.'))
    else {
        return false;
    };
    versioned_path(dir, stem, extension, content) == path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_paths_follow_the_content() {
        let first = versioned_path(DATA_DIR, "log", "config", b"version: 1\n");
        assert!(
            first.starts_with("/data/log-") && first.ends_with(".config") && first.len() == 33,
            "{first}"
        );
        assert_eq!(first, versioned_path(DATA_DIR, "log", "config", b"version: 1\n"));
        assert_ne!(first, versioned_path(DATA_DIR, "log", "config", b"version: 2\n"));
        assert_eq!(version_stem(&first), Some("/data/log"));
        assert_eq!(version_stem("/data/log.config"), None);
        assert_eq!(version_stem("/data/homeserver.yaml"), None);
        assert!(named_after_content(&first, b"version: 1\n"));
        assert!(!named_after_content(&first, b"version: 2\n"));
        assert!(!named_after_content("/data/log-0123456789abcdef.config", b"version: 1\n"));
        assert!(!named_after_content("/data/homeserver.yaml", b""));
    }

    #[test]
    fn secret_files_are_private_and_hidden_from_debug() {
        let key = ContainerFile::secret(signing_key_path("example.com"), "ed25519 a_abcd c2VjcmV0");
        assert_eq!(key.path, "/data/example.com.signing.key");
        assert_eq!(key.permissions(), 0o600);
        let shown = format!("{key:?}");
        assert!(!shown.contains("c2VjcmV0") && shown.contains("redacted"), "{shown}");
        let log = ContainerFile::public("/data/log.config", "version: 1\n");
        assert_eq!(log.permissions(), 0o644);
        assert!(format!("{log:?}").contains("version: 1"));
    }
}
