//! The two charms under test, each in a charm directory of its own: the Rust charm as
//! `scripts/pack` lays it out (dispatch, metadata, the binary it builds), and the Python ops
//! reference (`tests/python/reference_provider`) run by the `scripts/python-env ops` venv,
//! with the Rust charm's database inspection script next to it ([`INSPECT_SCRIPT_SOURCE`]).

use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use test_support::PythonVenv;

/// The environment variable the reference's `dispatch` runs its interpreter from.
const PYTHON_VARIABLE: &str = "SYNAPSE_REFERENCE_PYTHON";
/// The script both charms run (`python3 -c`) to inspect a PostgreSQL database before Synapse
/// first uses it: the Rust charm embeds it, the reference reads its copy.
pub const INSPECT_SCRIPT_SOURCE: &str = "src/components/database/inspect.py";
/// Where the reference finds its copy, in its charm directory (`src/database.py`); a name no
/// `import` can pick up (`src/inspect.py` would shadow Python's own `inspect`).
const INSPECT_SCRIPT_COPY: &str = "inspect-database.py";

/// Which charm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flavor {
    Rust,
    Python,
}

impl Flavor {
    pub const BOTH: [Flavor; 2] = [Flavor::Rust, Flavor::Python];
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavor::Rust => "Rust",
            Flavor::Python => "Python",
        })
    }
}

/// The prepared charm directories.
pub struct Charms {
    dir: tempfile::TempDir,
    python: String,
    /// The database inspection script ([`INSPECT_SCRIPT_SOURCE`]).
    pub inspect_script: String,
}

impl Charms {
    /// Writes both charm directories; `wrap_rust` is a command prefix (a profiler) to run the
    /// Rust binary under.
    pub fn prepare(wrap_rust: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("hook-bench-charms-").tempdir()?;
        let rust = dir.path().join("rust");
        fs::create_dir_all(rust.join("bin"))?;
        for file in ["metadata.yaml", "config.yaml", "actions.yaml", "dispatch"] {
            copy(&repo().join(file), &rust.join(file))?;
        }
        let binary = crate::pack::rust_binary()?;
        match wrap_rust {
            None => copy(binary, &rust.join("bin/synapse-k8s"))?,
            Some(prefix) => {
                let script = format!("#!/bin/sh\nexec {prefix} {}\n", binary.display());
                fs::write(rust.join("bin/synapse-k8s"), script)?;
                fs::set_permissions(rust.join("bin/synapse-k8s"), fs::Permissions::from_mode(0o755))?;
            }
        }
        let python = dir.path().join("python");
        let source = repo().join("tests/python/reference_provider");
        fs::create_dir_all(python.join("src"))?;
        for file in ["metadata.yaml", "config.yaml", "dispatch"] {
            copy(&source.join(file), &python.join(file))?;
        }
        for entry in fs::read_dir(source.join("src"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|extension| extension == "py") {
                copy(&path, &python.join("src").join(path.file_name().context("a file name")?))?;
            }
        }
        let inspect_script = repo().join(INSPECT_SCRIPT_SOURCE);
        copy(&inspect_script, &python.join(INSPECT_SCRIPT_COPY))?;
        Ok(Self {
            dir,
            python: PythonVenv::find("ops").python().to_string_lossy().into_owned(),
            inspect_script: fs::read_to_string(&inspect_script)
                .with_context(|| format!("cannot read {}", inspect_script.display()))?,
        })
    }

    pub fn dir(&self, flavor: Flavor) -> PathBuf {
        self.dir.path().join(match flavor {
            Flavor::Rust => "rust",
            Flavor::Python => "python",
        })
    }

    /// Environment every hook of `flavor` needs besides Juju's.
    pub fn env(&self, flavor: Flavor) -> Vec<(&'static str, String)> {
        match flavor {
            Flavor::Rust => Vec::new(),
            Flavor::Python => vec![(PYTHON_VARIABLE, self.python.clone())],
        }
    }
}

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Copies a file keeping its mode (`dispatch` and the binary must stay executable).
fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    let mode = fs::metadata(from)?.permissions().mode();
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}
