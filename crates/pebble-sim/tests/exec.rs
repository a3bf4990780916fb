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

/// Pebble's `PATH` when neither the request nor a service context sets one.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
    // A command that does not read its input may have ended, and Pebble closed the stream,
    // before the end of the input is sent: nothing more to send then.
    let _ = stdio.send(Message::Text(r#"{"command":"end"}"#.into())).await;
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
    std::fs::create_dir(fx.root().join("data")).expect("mkdir");
    let client = fx.client();
    let body = json!({"command": ["/usr/bin/register_new_matrix_user", "-c", "/data/homeserver.yaml"], "environment": {"K": "v"}, "working-dir": "/data", "split-stderr": true});
    let response = client.post_json("/v1/exec", &body);
    let result = response.json()["result"].clone();
    assert_eq!(result["environment"], json!({"K": "v", "LANG": "C.UTF-8", "PATH": DEFAULT_PATH}));
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
async fn a_scripted_chown_gives_the_paths_it_names_their_owner() {
    let fx = Fixture::start();
    fx.sim.script_exec(ExecRule::new(["chown"]).changing_owner());
    std::fs::create_dir(fx.root().join("data")).expect("mkdir");
    let client = fx.client();
    let owner = |path: &str| {
        let listed = client.sync(client.get(&format!("/v1/files?action=list&path={path}&itself=true")));
        (listed[0]["user-id"].clone(), listed[0]["group-id"].clone())
    };
    let before = owner("/data");
    assert_ne!(before, (json!(991), json!(991)));
    let body = json!({"command": ["chown", "-R", "991:991", "/data", "/missing"]});
    let outcome = run(&client, body, b"").await;
    assert_eq!(outcome.change["tasks"][0]["data"]["exit-code"], 0);
    assert_eq!(owner("/data"), (json!(991), json!(991)));

    // A rule that does not change owners leaves them alone.
    fx.sim.script_exec(ExecRule::new(["chown", "0:0"]));
    run(&client, json!({"command": ["chown", "0:0", "/data"]}), b"").await;
    assert_eq!(owner("/data"), (json!(991), json!(991)));
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
    // One pipe for both streams, as in Pebble: the output keeps the order the process wrote.
    let script = "for i in 1 2 3 4 5 6 7 8; do echo out$i; echo err$i >&2; done";
    let body = json!({"command": ["sh", "-c", script], "split-stderr": false});
    let outcome = run(&client, body, b"").await;
    let expected: String = (1..=8).map(|i| format!("out{i}\nerr{i}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&outcome.stdout), expected);
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
    // Killed by a signal: 128 + the signal's number, as Pebble reports it (SIGTERM is 15).
    assert_eq!(done["tasks"][0]["data"]["exit-code"], 143);
    assert_eq!(done["status"], "Done");
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
    assert_eq!(
        result["environment"],
        json!({"A": "from-service", "B": "request", "LANG": "C.UTF-8", "PATH": DEFAULT_PATH})
    );
    assert_eq!(result["working-dir"], "/srv");
    let outcome = run(&client, body, b"").await;
    assert_eq!(String::from_utf8_lossy(&outcome.stdout), "from-service request srv 4242 4243\n");
    let unknown = client.post_json("/v1/exec", &json!({"command": ["true"], "service-context": "nope"}));
    assert_eq!(client.error(unknown), (400, r#"context service "nope" not found"#.into(), None));
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
    // SIGKILLed: 128 + 9.
    assert_eq!(done["tasks"][0]["data"]["exit-code"], 137);
}

#[tokio::test]
async fn timeout_kills_only_the_command_and_waits_for_its_output_to_close() {
    let fx = Fixture::with(|c| c.exec = ExecMode::Host);
    let client = fx.client();
    // `sh` is killed at 500 ms; its `sleep` child keeps the output open for 3 s more. Pebble
    // (Go's exec.CommandContext) SIGKILLs the command's process only and ends the task once
    // the output is closed, so the change fails with the timeout error only then.
    let started = std::time::Instant::now();
    let body = json!({"command": ["/bin/sh", "-c", "echo started; sleep 3; echo late"], "timeout": "0.500s", "split-stderr": true});
    let response = client.post_json("/v1/exec", &body);
    let envelope = response.json();
    let change = envelope["change"].as_str().expect("change").to_owned();
    let task = envelope["result"]["task-id"].as_str().expect("task").to_owned();
    let _control = connect(&client.socket, &task, "control").await;
    let mut stdio = connect(&client.socket, &task, "stdio").await;
    let mut stderr = connect(&client.socket, &task, "stderr").await;
    // A command that does not read its input may have ended, and Pebble closed the stream,
    // before the end of the input is sent: nothing more to send then.
    let _ = stdio.send(Message::Text(r#"{"command":"end"}"#.into())).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let pending = client.sync(client.get(&format!("/v1/changes/{change}")));
    assert_eq!(pending["ready"], false, "the output is still open: {pending}");
    assert_eq!(read_stream(&mut stdio).await, b"started\n", "the killed shell never wrote");
    assert_eq!(read_stream(&mut stderr).await, b"");
    let done = client.wait_change(&change);
    assert!(started.elapsed() >= std::time::Duration::from_secs(3), "ended when sleep ended");
    assert_eq!(done["status"], "Error");
    assert_eq!(
        done["err"],
        "cannot perform the following tasks:\n- exec command \"/bin/sh\" (timed out after 500ms: context deadline exceeded)"
    );
    assert_eq!(done["tasks"][0]["data"]["exit-code"], -1);
    assert_eq!(done["summary"], r#"Execute command "/bin/sh""#);
}

#[tokio::test]
async fn missing_working_or_home_directories_fail_the_exec() {
    let fx = Fixture::start();
    fx.sim.script_exec(ExecRule::new(["true"]));
    let etc = fx.root().join("etc");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(etc.join("group"), "root:x:0:\nalice:x:1000:\nbob:x:1001:\n").expect("group");
    std::fs::create_dir_all(fx.root().join("home/bob")).expect("bob's home");
    let client = fx.client();
    let exec = |body: Value| client.post_json("/v1/exec", &body);
    assert_eq!(
        client.error(exec(json!({"command": ["true"], "working-dir": "/nope"}))),
        (500, r#"cannot call exec: working directory "/nope" does not exist"#.into(), None)
    );
    // Without a working directory the command runs in the user's home, which must exist.
    assert_eq!(
        client.error(exec(json!({"command": ["true"], "user": "alice"}))),
        (500, r#"cannot call exec: home directory "/home/alice" does not exist"#.into(), None)
    );
    assert_eq!(
        client.error(exec(json!({"command": ["true"]}))),
        (500, r#"cannot call exec: home directory "/root" does not exist"#.into(), None)
    );
    // An unknown executable is found out first (400).
    assert_eq!(client.error(exec(json!({"command": ["nope"], "working-dir": "/nope"}))).0, 400);
    // The target user's HOME and USER are set (unless given), and reported.
    let result =
        client.async_result(exec(json!({"command": ["true"], "user-id": 1001, "environment": {"K": "v"}})));
    assert_eq!(result["working-dir"], "/home/bob");
    assert_eq!(
        result["environment"],
        json!({"HOME": "/home/bob", "K": "v", "LANG": "C.UTF-8", "PATH": DEFAULT_PATH, "USER": "bob"})
    );
    let result = client.async_result(exec(
        json!({"command": ["true"], "user": "bob", "environment": {"USER": "robert", "LANG": "fr_FR.UTF-8"}}),
    ));
    assert_eq!(result["environment"]["USER"], "robert");
    assert_eq!(result["environment"]["HOME"], "/home/bob");
    assert_eq!(result["environment"]["LANG"], "fr_FR.UTF-8");
    let log = fx.sim.exec_log();
    assert_eq!(log.last().expect("record").working_dir.as_deref(), Some("/home/bob"));
}

#[tokio::test]
async fn host_commands_see_the_users_home_and_name() {
    let fx = Fixture::with(|c| c.exec = ExecMode::Host);
    let etc = fx.root().join("etc");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::write(etc.join("passwd"), "root:x:0:0:root:/root:/bin/bash\n").expect("passwd");
    std::fs::create_dir_all(fx.root().join("root")).expect("root's home");
    let client = fx.client();
    let body = json!({"command": ["/bin/sh", "-c", "echo \"$USER $HOME $LANG\"; pwd"], "split-stderr": true});
    let outcome = run(&client, body, b"").await;
    // HOME and the working directory are the container's /root, under the simulator's root.
    let home = fx.root().join("root");
    let cwd = home.canonicalize().expect("home").display().to_string();
    let home = home.display();
    assert_eq!(String::from_utf8_lossy(&outcome.stdout), format!("root {home} C.UTF-8\n{cwd}\n"));
}

#[tokio::test]
async fn an_injected_timeout_fails_that_exec_as_pebble_fails_one_past_its_timeout() {
    let fx = Fixture::start();
    fx.sim.script_exec(ExecRule::new(["check"]).stdout("fine\n"));
    fx.sim.time_out_exec(2);
    let client = fx.client();
    let body = json!({"command": ["check"], "timeout": "2m0s"});
    let first = run(&client, body.clone(), b"").await;
    assert_eq!((first.change["status"].as_str(), first.stdout.as_slice()), (Some("Done"), &b"fine\n"[..]));
    assert!(fx.sim.fault_pending());
    let second = run(&client, body.clone(), b"").await;
    assert_eq!(second.change["status"], "Error");
    let err = second.change["err"].as_str().unwrap_or_default();
    assert!(err.contains("timed out after 2m0s: context deadline exceeded"), "{err}");
    assert!(second.stdout.is_empty(), "it did not run");
    assert!(!fx.sim.fault_pending());
    assert_eq!(run(&client, body, b"").await.change["status"], "Done", "later execs run");
}
