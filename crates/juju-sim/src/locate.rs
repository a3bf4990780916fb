//! Finding the `juju-sim-tool` binary: `JUJU_SIM_TOOL`, else next to the running executable
//! in its Cargo target directory, else built there with `$CARGO build`.
//!
//! The build selects the whole workspace (`--workspace --bin juju-sim-tool`), so dependencies
//! get the features `cargo build --workspace` gives them and their builds are reused;
//! `-p juju-sim` would resolve other features and compile a second copy of them. Outside this
//! workspace, set `JUJU_SIM_TOOL`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// The environment variable naming an explicit `juju-sim-tool` path.
pub const TOOL_ENV: &str = "JUJU_SIM_TOOL";
const TOOL_NAME: &str = "juju-sim-tool";

/// The tool binary could not be found or built.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("{TOOL_ENV} points to {0}, which does not exist")]
    MissingExplicit(PathBuf),
    #[error("cannot determine the running executable: {0}")]
    CurrentExe(io::Error),
    #[error("cannot run `{command}`: {source}")]
    Spawn { command: String, source: io::Error },
    #[error("`{command}` failed with exit code {code:?}: {stderr}")]
    BuildFailed { command: String, code: Option<i32>, stderr: String },
    #[error("`{command}` succeeded but {path} does not exist")]
    NotBuilt { command: String, path: PathBuf },
}

/// Finds `juju-sim-tool` (building it if needed); the result is cached per process.
///
/// Order: the `JUJU_SIM_TOOL` environment variable; then the Cargo profile directory of the
/// running executable (`<target>/<profile>/juju-sim-tool`, where test executables live in
/// `<target>/<profile>/deps`), if the binary there is at least as new as the executable;
/// otherwise `$CARGO build --workspace --bin juju-sim-tool` into that target directory
/// (`CARGO` is set by Cargo for tests; `CARGO_TARGET_DIR` is inherited).
pub fn tool_path() -> Result<PathBuf, LocateError> {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    if let Some(path) = FOUND.get() {
        return Ok(path.clone());
    }
    let path = locate()?;
    Ok(FOUND.get_or_init(|| path).clone())
}

fn locate() -> Result<PathBuf, LocateError> {
    if let Some(explicit) = std::env::var_os(TOOL_ENV) {
        let path = PathBuf::from(explicit);
        return if path.exists() { Ok(path) } else { Err(LocateError::MissingExplicit(path)) };
    }
    let exe = std::env::current_exe().map_err(LocateError::CurrentExe)?;
    let profile_dir = profile_dir(&exe);
    let candidate = profile_dir.join(TOOL_NAME);
    if is_fresh(&candidate, &exe) {
        return Ok(candidate);
    }
    build(&profile_dir)?;
    if !candidate.exists() {
        return Err(LocateError::NotBuilt { command: build_command_text(&profile_dir), path: candidate });
    }
    // Mark it fresh so later test processes need not ask Cargo again.
    if let Ok(file) = std::fs::File::options().write(true).open(&candidate) {
        let _ = file.set_modified(SystemTime::now());
    }
    Ok(candidate)
}

/// `<target>/<profile>` for an executable in it or in its `deps`/`examples` subdirectory.
fn profile_dir(exe: &Path) -> PathBuf {
    let dir = exe.parent().unwrap_or(Path::new("."));
    match dir.file_name().and_then(|name| name.to_str()) {
        Some("deps" | "examples") => dir.parent().unwrap_or(dir).to_owned(),
        _ => dir.to_owned(),
    }
}

fn is_fresh(tool: &Path, exe: &Path) -> bool {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|meta| meta.modified()).ok();
    match (modified(tool), modified(exe)) {
        (Some(tool), Some(exe)) => tool >= exe,
        (Some(_), None) => true,
        _ => false,
    }
}

fn build_args(profile_dir: &Path) -> Vec<String> {
    let mut args: Vec<String> =
        ["build", "--quiet", "--workspace", "--bin", TOOL_NAME].map(str::to_owned).to_vec();
    let profile = profile_dir.file_name().and_then(|name| name.to_str());
    match profile {
        Some("debug") | None => {}
        Some("release") => args.push("--release".to_owned()),
        Some(other) => {
            args.push("--profile".to_owned());
            args.push(other.to_owned());
        }
    }
    if let Some(target) = profile_dir.parent() {
        args.push("--target-dir".to_owned());
        args.push(target.display().to_string());
    }
    args
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn build_command_text(profile_dir: &Path) -> String {
    format!("{} {}", cargo(), build_args(profile_dir).join(" "))
}

fn build(profile_dir: &Path) -> Result<(), LocateError> {
    let command = build_command_text(profile_dir);
    let output = Command::new(cargo())
        .args(build_args(profile_dir))
        .output()
        .map_err(|source| LocateError::Spawn { command: command.clone(), source })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(LocateError::BuildFailed {
            command,
            code: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_dir_skips_deps() {
        assert_eq!(profile_dir(Path::new("/t/debug/deps/test-abc")), PathBuf::from("/t/debug"));
        assert_eq!(profile_dir(Path::new("/t/release/juju-sim")), PathBuf::from("/t/release"));
    }

    #[test]
    fn build_args_follow_the_profile() {
        let args = build_args(Path::new("/t/release"));
        assert!(args.contains(&"--release".to_owned()));
        assert!(args.contains(&"--workspace".to_owned()) && !args.contains(&"-p".to_owned()));
        assert!(args.ends_with(&["--target-dir".to_owned(), "/t".to_owned()]));
        let args = build_args(Path::new("/t/bench"));
        assert!(args.windows(2).any(|w| w == ["--profile", "bench"]));
    }
}
