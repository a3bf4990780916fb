//! The standalone `pebble-sim` binary.

mod common;

use std::process::{Command, Stdio};

use common::Client;
use serde_json::json;
use test_support::{eventually, POLL, TIMEOUT};

#[test]
fn binary_serves_until_sigterm_and_counts_requests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("root");
    let socket = dir.path().join("pebble.socket");
    let child = Command::new(env!("CARGO_BIN_EXE_pebble-sim"))
        .arg("--socket")
        .arg(&socket)
        .arg("--root")
        .arg(&root)
        .args(["--map", "/start.py=/bin/true"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pebble-sim");
    eventually("socket", TIMEOUT, POLL, || socket.exists());
    let client = Client { socket: socket.clone() };
    client.sync(client.get("/v1/system-info"));
    client.sync(client.add_layer("l", "services:\n  s: {override: replace, command: /start.py}\n", false));
    let requests = client.sync(client.get("/v1/x-sim/requests"));
    assert_eq!(
        requests,
        json!([
            {"method": "GET", "path": "/v1/system-info", "status": 200},
            {"method": "POST", "path": "/v1/layers", "status": 200}
        ])
    );
    rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::TERM)
        .expect("SIGTERM");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("serving on"), "{stderr}");
    assert!(!socket.exists());
}

#[test]
fn binary_rejects_a_bad_map() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_pebble-sim"))
        .arg("--socket")
        .arg(dir.path().join("s"))
        .arg("--root")
        .arg(dir.path())
        .args(["--map", "nonsense"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--map expects FROM=TO"));
}
