//! Running the Python side of interop tests with the project's cached virtualenvs.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

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
