//! The project's Python virtualenvs. `scripts/python-env <profile>` is their only maker: it
//! installs `tests/python/requirements-<profile>.txt` into
//! `$SYNAPSE_K8S_CACHE/venv-<profile>-<hash of that file>` (the cache defaults to
//! `${XDG_CACHE_HOME:-$HOME/.cache}/synapse-k8s`) on first use, under a lock, and prints the
//! venv's interpreter. Tests ask it rather than guess the path, so both always agree.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The script that creates and finds the venvs, relative to the repository root.
const SCRIPT: &str = "scripts/python-env";

/// A venv of `scripts/python-env`.
#[derive(Debug, Clone)]
pub struct PythonVenv {
    python: PathBuf,
}

impl PythonVenv {
    /// The venv of `profile` (`ops`, `ops2`, `synapse`, `charmcraft`). Panics, naming
    /// `scripts/python-env` and its error, if the venv cannot be had.
    #[track_caller]
    pub fn find(profile: &str) -> Self {
        Self::find_with_env(profile, &[])
    }

    /// [`PythonVenv::find`] with extra environment for `scripts/python-env`, such as another
    /// `SYNAPSE_K8S_CACHE`.
    #[track_caller]
    pub fn find_with_env(profile: &str, env: &[(&str, &OsStr)]) -> Self {
        match locate(profile, env) {
            Ok(venv) => venv,
            Err(error) => panic!("{error}"),
        }
    }

    /// The opt-out of [`PythonVenv::find`] for tests that may be skipped on a machine that
    /// cannot build the venv: `None` after a loud `SKIP` line saying that `what` is not
    /// tested. With `CI` set it panics like `find`: CI fails, it never skips.
    #[track_caller]
    pub fn find_or_skip(profile: &str, what: &str) -> Option<Self> {
        match locate(profile, &[]) {
            Ok(venv) => Some(venv),
            Err(error) if std::env::var_os("CI").is_some() => {
                panic!("{error}\n(CI is set, so {what} is not skipped)")
            }
            Err(error) => {
                eprintln!("\n!!!!!!!! SKIP: {what} NOT tested: {error} !!!!!!!!\n");
                None
            }
        }
    }

    /// The venv's interpreter.
    pub fn python(&self) -> &Path {
        &self.python
    }
}

/// Runs `scripts/python-env profile`: the venv, or why there is none.
fn locate(profile: &str, env: &[(&str, &OsStr)]) -> Result<PythonVenv, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(SCRIPT);
    let output = Command::new(&script)
        .arg(profile)
        .envs(env.iter().copied())
        .output()
        .map_err(|error| format!("cannot run {}: {error}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{SCRIPT} {profile}, which installs the venv with tests/python/requirements-{profile}.txt, \
             failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let python = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(PythonVenv { python })
}
