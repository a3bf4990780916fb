//! `/v1/exec` with its websockets: scripted and host commands, stdin/stdout/stderr, exit
//! codes, timeouts, signals and the connect window.

mod common;

use std::path::Path;

use common::{Client, Fixture};
use futures_util::{SinkExt, StreamExt};
use pebble_sim::{ExecMode, ExecRule};
use serde_json::{json, Value};
use tokio::net::UnixStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<UnixStream>;

async fn connect(socket: &Path, task: &str, id: &str) -> Ws {
    let stream = UnixStream::connect(socket).await.expect("connect");
    let url = format!("ws://localhost/v1/tasks/{task}/websocket/{id}");
    tokio_tungstenite::client_async(url, stream).await.expect("websocket").0
}

/// Reads binary frames until the `{"command":"end"}` text frame.
async fn read_stream(ws: &mut Ws) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        match ws.next().await.expect("frame before end").expect("frame") {
            Message::Binary(data) => out.extend_from_slice(&data),
            Message::Text(text) => {
                assert_eq!(
                    serde_json::from_str::<Value>(text.as_str()).expect("json"),
                    json!({"command": "end"})
                );
                return out;
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

struct Outcome {
    change: Value,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// POSTs the exec, connects control→stdio→stderr like ops, sends stdin, reads output,
/// then waits for the change.
async fn run(client: &Client, body: Value, stdin: &[u8]) -> Outcome {
    let split = body["split-stderr"].as_bool().unwrap_or(false);
    let response = client.post_json("/v1/exec", &body);
    let envelope = response.json();
    assert_eq!(response.status, 202, "{envelope}");
    let change = envelope["change"].as_str().expect("change").to_owned();
    let task = envelope["result"]["task-id"].as_str().expect("task id").to_owned();
    let _control = connect(&client.socket, &task, "control").await;
    let mut stdio = connect(&client.socket, &task, "stdio").await;
    let mut stderr_ws = if split { Some(connect(&client.socket, &task, "stderr").await) } else { None };
    if !stdin.is_empty() {
        stdio.send(Message::Binary(stdin.to_vec().into())).await.expect("stdin");
    }
    stdio.send(Message::Text(r#"{"command":"end"}"#.into())).await.expect("end");
    let stdout = read_stream(&mut stdio).await;
    let stderr = match stderr_ws.as_mut() {
        Some(ws) => read_stream(ws).await,
        None => Vec::new(),
    };
    let change = client.wait_change(&change);
    Outcome { change, stdout, stderr }
}

#[tokio::test]
async fn scripted_rule_answers_with_output_and_exit_code() {
    let fx = Fixture::start();
    fx.sim.script_exec(ExecRule::new(["/usr/bin/register_new_matrix_user"]).exit_code(1).stdout("general\n"));
    fx.sim.script_exec(
        ExecRule::new(["/usr/bin/register_new_matrix_user", "-c"])
            .exit_code(3)
            .stdout("registered\n")
            .stderr("warning\n")
            .read_stdin(),
    );
    let client = fx.client();
    let body = json!({"command": ["/usr/bin/register_new_matrix_user", "-c", "/data/homeserver.yaml"], "environment": {"K": "v"}, "working-dir": "/data", "split-stderr": true});
    let response = client.post_json("/v1/exec", &body);
    let result = response.json()["result"].clone();
    assert_eq!(result["environment"], json!({"K": "v"}));
    assert_eq!(result["working-dir"], "/data");

    let outcome = run(&client, body, b"secret-password\n").await;
    assert_eq!(outcome.stdout, b"registered\n");
    assert_eq!(outcome.stderr, b"warning\n");
    let change = outcome.change;
    assert_eq!(change["kind"], "exec");
    assert_eq!(change["status"], "Done");
    assert!(change.get("err").is_none());
    assert_eq!(change["tasks"][0]["data"]["exit-code"], 3);
    let log = fx.sim.exec_log();
    let last = log.last().expect("record");
    assert_eq!(last.argv[2], "/data/homeserver.yaml");
    assert_eq!(last.stdin, b"secret-password\n");
    assert!(!format!("{last:?}").contains("secret-password"));
}

#[tokio::test]
async fn the_latest_of_equally_long_rules_wins() {
    let fx = Fixture::start();
    fx.sim.script_exec(ExecRule::new(["python3", "-m", "synapse.config"]).exit_code(0).read_stdin());
    fx.sim.script_exec(
        ExecRule::new(["python3", "-m", "synapse.config"]).exit_code(1).stderr("bad\n").read_stdin(),
    );
    let client = fx.client();
    let body = json!({"command": ["python3", "-m", "synapse.config", "-c", "/data/x"], "split-stderr": true});
    let outcome = run(&client, body, b"").await;
    assert_eq!(outcome.change["tasks"][0]["data"]["exit-code"], 1);
    assert_eq!(outcome.stderr, b"bad\n");
}

#[tokio::test]
async fn exec_request_errors() {
    let fx = Fixture::start();
    let client = fx.client();
    let cases = [
        (json!({"command": []}), "must specify command".to_owned()),
        (json!({"command": ["nope"]}), r#"cannot find executable "nope""#.to_owned()),
    ];
    for (body, message) in cases {
        assert_eq!(client.error(client.post_json("/v1/exec", &body)), (400, message, None));
    }
    let (status, message, _) =
        client.error(client.post_json("/v1/exec", &json!({"command": ["x"], "timeout": "soon"})));
    assert_eq!(status, 400);
    assert!(message.starts_with("invalid timeout: "), "{message}");
    let unknown = client
        .raw(
            "GET",
            "/v1/tasks/999/websocket/stdio",
            &[
                ("Connection", "Upgrade"),
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
            b"",
        )
        .expect("request");
    assert_eq!(client.error(unknown), (404, r#"cannot find task "999""#.into(), None));
}

#[tokio::test]
async fn second_websocket_is_refused_and_missing_ones_time_out() {
    let fx = Fixture::start();
    fx.sim.script_exec(ExecRule::new(["true"]));
    let client = fx.client();
    let response = client.post_json("/v1/exec", &json!({"command": ["true"], "split-stderr": true}));
    let envelope = response.json();
    let change = envelope["change"].as_str().expect("change").to_owned();
    let task = envelope["result"]["task-id"].as_str().expect("task").to_owned();
    let _stdio = connect(&client.socket, &task, "stdio").await;
    let again = client
        .raw(
            "GET",
            &format!("/v1/tasks/{task}/websocket/stdio"),
            &[
                ("Connection", "Upgrade"),
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
            b"",
        )
        .expect("request");
    assert_eq!(client.error(again), (400, "stdio websocket already connected".into(), None));
    // control and stderr never connect: the 5 s window expires.
    let failed = client.wait_change(&change);
    assert_eq!(failed["status"], "Error");
    let err = failed["err"].as_str().expect("err");
    assert!(
        err.contains(&format!(
            "exec {task}: timeout waiting for websocket connections: context deadline exceeded"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn host_command_gets_stdin_env_and_exit_code() {
    let fx = Fixture::with(|c| c.exec = ExecMode::Host);
    std::fs::create_dir(fx.root().join("work")).expect("mkdir");
    let client = fx.client();
    let script = "read line; echo \"out:$line:$FOO\"; echo \"err:$(basename \"$PWD\")\" >&2; exit 7";
    let body = json!({"command": ["/bin/sh", "-c", script], "environment": {"FOO": "bar"}, "working-dir": "/work", "split-stderr": true});
    let outcome = run(&client, body, b"hello\n").await;
    assert_eq!(String::from_utf8_lossy(&outcome.stdout), "out:hello:bar\n");
    assert_eq!(String::from_utf8_lossy(&outcome.stderr), "err:work\n");
    assert_eq!(outcome.change["tasks"][0]["data"]["exit-code"], 7);
    assert_eq!(outcome.change["status"], "Done");
}

#[tokio::test]
async fn host_command_with_combined_stderr_and_path_lookup() {
    let fx = Fixture::with(|c| c.exec = ExecMode::Host);
    let client = fx.client();
    let body = json!({"command": ["sh", "-c", "echo one; echo two >&2"], "split-stderr": false});
    let outcome = run(&client, body, b"").await;
    let text = String::from_utf8_lossy(&outcome.stdout).into_owned();
    assert!(text.contains("one\n") && text.contains("two\n"), "{text}");
    assert_eq!(outcome.change["tasks"][0]["data"]["exit-code"], 0);
}

#[tokio::test]
async fn host_command_timeout_kills_it() {
    let fx = Fixture::with(|c| c.exec = ExecMode::Host);
    let client = fx.client();
    let body = json!({"command": ["/bin/sleep", "30"], "timeout": "0.300s", "split-stderr": true});
    let outcome = run(&client, body, b"").await;
    let err = outcome.change["err"].as_str().expect("err");
    assert!(err.contains("timed out after 300ms: context deadline exceeded"), "{err}");
    assert_eq!(outcome.change["tasks"][0]["data"]["exit-code"], -1);
}

#[tokio::test]
async fn control_signal_reaches_the_process() {
    let fx = Fixture::with(|c| c.exec = ExecMode::Host);
    let client = fx.client();
    let response =
        client.post_json("/v1/exec", &json!({"command": ["/bin/sleep", "30"], "split-stderr": true}));
    let envelope = response.json();
    let change = envelope["change"].as_str().expect("change").to_owned();
    let task = envelope["result"]["task-id"].as_str().expect("task").to_owned();
    let mut control = connect(&client.socket, &task, "control").await;
    let mut stdio = connect(&client.socket, &task, "stdio").await;
    let mut stderr = connect(&client.socket, &task, "stderr").await;
    control
        .send(Message::Text(r#"{"command":"signal","signal":{"name":"SIGTERM"}}"#.into()))
        .await
        .expect("signal");
    assert_eq!(read_stream(&mut stdio).await, b"");
    assert_eq!(read_stream(&mut stderr).await, b"");
    let done = client.wait_change(&change);
    assert_eq!(done["tasks"][0]["data"]["exit-code"], -1);
}

#[tokio::test]
async fn command_map_rewrites_argv0_on_the_host() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("fake-synapse");
    std::fs::write(&script, "#!/bin/sh\necho mapped \"$@\"\n").expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let fx = Fixture::with(|c| {
        c.exec = ExecMode::Host;
        c.command_map.insert("/usr/local/bin/synapse".into(), script.clone());
    });
    let client = fx.client();
    let outcome =
        run(&client, json!({"command": ["/usr/local/bin/synapse", "--version"], "split-stderr": true}), b"")
            .await;
    assert_eq!(String::from_utf8_lossy(&outcome.stdout), "mapped --version\n");
}

#[tokio::test]
async fn service_context_supplies_env_working_dir_and_user() {
    let fx = Fixture::with(|c| c.exec = ExecMode::Host);
    std::fs::create_dir(fx.root().join("srv")).expect("mkdir");
    let client = fx.client();
    let layer = "services:\n  synapse: {override: replace, command: /start.py, environment: {A: from-service, B: service}, working-dir: /srv, user-id: 4242, group-id: 4243}\n";
    client.sync(client.add_layer("base", layer, false));
    let body = json!({"command": ["/bin/sh", "-c", "echo $A $B $(basename $PWD) $(id -u) $(id -g)"], "service-context": "synapse", "environment": {"B": "request"}, "split-stderr": true});
    let response = client.post_json("/v1/exec", &body);
    let result = response.json()["result"].clone();
    assert_eq!(result["environment"], json!({"A": "from-service", "B": "request"}));
    assert_eq!(result["working-dir"], "/srv");
    let outcome = run(&client, body, b"").await;
    assert_eq!(String::from_utf8_lossy(&outcome.stdout), "from-service request srv 4242 4243\n");
    let unknown = client.post_json("/v1/exec", &json!({"command": ["true"], "service-context": "nope"}));
    assert_eq!(client.error(unknown), (400, r#"cannot find service-context service "nope""#.into(), None));
}

#[tokio::test]
async fn abnormal_close_of_control_kills_the_process() {
    let fx = Fixture::with(|c| c.exec = ExecMode::Host);
    let client = fx.client();
    let response =
        client.post_json("/v1/exec", &json!({"command": ["/bin/sleep", "30"], "split-stderr": true}));
    let envelope = response.json();
    let change = envelope["change"].as_str().expect("change").to_owned();
    let task = envelope["result"]["task-id"].as_str().expect("task").to_owned();
    let control = connect(&client.socket, &task, "control").await;
    let mut stdio = connect(&client.socket, &task, "stdio").await;
    let mut stderr = connect(&client.socket, &task, "stderr").await;
    // Dropping the stream closes the connection without a close frame.
    drop(control);
    assert_eq!(read_stream(&mut stdio).await, b"");
    assert_eq!(read_stream(&mut stderr).await, b"");
    let done = client.wait_change(&change);
    assert_eq!(done["tasks"][0]["data"]["exit-code"], -1);
}
