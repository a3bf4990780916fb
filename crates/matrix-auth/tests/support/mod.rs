//! Running the Python side of interop tests with the project's cached virtualenvs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The interpreter of `scripts/python-env <profile>`, or `None` (after a loud message) when
/// the environment cannot be built here.
pub fn python(profile: &str) -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/python-env");
    let output = Command::new(&script).arg(profile).stderr(Stdio::inherit()).output();
    match output {
        Ok(output) if output.status.success() => {
            Some(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        }
        other => {
            // In CI a missing Python environment is a failure, never a silent skip.
            assert!(std::env::var_os("CI").is_none(), "scripts/python-env {profile} failed: {other:?}");
            eprintln!(
                "!!!!! SKIPPED: `{} {profile}` failed ({other:?}); Python interop NOT tested !!!!!",
                script.display()
            );
            None
        }
    }
}

/// Runs `tests/python/<name>` with `input` on stdin and returns its stdout as JSON.
pub fn run_script(python: &Path, name: &str, input: &serde_json::Value) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(name);
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("write stdin");
    let output = child.wait_with_output().expect("python finishes");
    assert!(output.status.success(), "{name} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON output")
}
