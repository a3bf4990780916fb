//! Exec over websockets (against the run's Pebble, see `common`; pebble-sim runs the
//! commands on the host).

mod common;

use std::time::{Duration, Instant};

use pebble::{ChangeSelect, Error, ExecRequest, EXEC_OUTPUT_GRACE};
use pebble_sim::{ExecMode, ExecRule};
use test_support::{eventually, POLL, TIMEOUT};

fn host() -> common::Fixture {
    common::start_with(|config| config.exec = ExecMode::Host)
}

fn sh(script: &str) -> ExecRequest {
    ExecRequest::new(["/bin/sh", "-c", script])
}

#[test]
fn exec_collects_stdout_stderr_and_the_exit_code() {
    let fixture = host();
    let output = fixture.client.exec(&sh("echo out; echo err >&2; printf more; exit 3")).unwrap();
    assert_eq!(output.exit_code, 3);
    assert!(!output.success());
    assert_eq!(output.stdout_text(), "out\nmore");
    assert_eq!(output.stderr_text(), "err\n");
}

#[test]
fn exec_streams_stdin_while_reading_output() {
    let fixture = host();
    // More than the socket buffers hold in either direction, so that writing stdin and
    // reading stdout must interleave.
    let stdin: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let request = ExecRequest { stdin: Some(stdin.clone()), ..sh("cat; echo done >&2") };
    let output = fixture.client.exec(&request).unwrap();
    assert_eq!(output.exit_code, 0);
    assert_eq!(output.stdout.len(), stdin.len());
    assert!(output.stdout == stdin);
    assert_eq!(output.stderr_text(), "done\n");

    // A command that ignores a large stdin still finishes.
    let request = ExecRequest { stdin: Some(stdin), ..sh("echo ignored") };
    assert_eq!(fixture.client.exec(&request).unwrap().stdout_text(), "ignored\n");

    // Without stdin the command reads end-of-file at once.
    let output = fixture.client.exec(&sh("cat; echo eof")).unwrap();
    assert_eq!(output.stdout_text(), "eof\n");
}

#[test]
fn exec_passes_the_environment() {
    let fixture = host();
    let request = ExecRequest {
        environment: [("GREETING", "hello there")].into_iter().collect(),
        ..sh("echo \"$GREETING\"")
    };
    assert_eq!(fixture.client.exec(&request).unwrap().stdout_text(), "hello there\n");
}

#[test]
fn exec_checked_maps_failures_to_exec_errors() {
    let fixture = host();
    let client = &fixture.client;
    assert_eq!(client.exec_checked(&sh("echo fine")).unwrap().stdout_text(), "fine\n");
    match client.exec_checked(&sh("echo bad >&2; exit 42")) {
        Err(Error::Exec { command, exit_code, stderr }) => {
            assert_eq!(command, ["/bin/sh", "-c", "echo bad >&2; exit 42"]);
            assert_eq!(exit_code, 42);
            assert_eq!(stderr, "bad\n");
        }
        other => panic!("expected an exec error, got {other:?}"),
    }
}

#[test]
fn a_timed_out_command_whose_child_holds_the_output_fails_without_waiting_for_it() {
    let fixture = host();
    // Pebble kills `sh` at 500 ms, but `sleep` keeps the output open for 8 s: the change
    // fails only then. The client gives up on the output after the timeout and a grace
    // period, and reports the timeout error the change is going to have.
    let request =
        ExecRequest { timeout: Some(Duration::from_millis(500)), ..sh("echo started; sleep 8; echo late") };
    let started = Instant::now();
    match fixture.client.exec(&request) {
        Err(Error::Change { err, change, change_id }) => {
            assert!(
                started.elapsed() < Duration::from_millis(500) + EXEC_OUTPUT_GRACE + Duration::from_secs(3)
            );
            assert_eq!(
                err,
                "cannot perform the following tasks:\n- exec command \"/bin/sh\" (timed out after 500ms: context deadline exceeded)"
            );
            assert_eq!(change.id, change_id);
            assert_eq!(change.kind, "exec");
            assert!(!change.ready, "the change waits for the output to close");
        }
        other => panic!("expected a change error, got {other:?}"),
    }
}

#[test]
fn a_command_past_its_timeout_fails_its_change() {
    let fixture = host();
    // `exec`: no child outlives the shell, so the output closes when Pebble kills it.
    let request =
        ExecRequest { timeout: Some(Duration::from_millis(500)), ..sh("echo started; exec sleep 30") };
    match fixture.client.exec(&request) {
        Err(Error::Change { err, change, .. }) => {
            assert!(err.contains("timed out after"), "{err}");
            let exit_code = change.tasks[0].data.as_ref().and_then(|data| data["exit-code"].as_i64());
            assert_eq!(exit_code, Some(-1));
        }
        other => panic!("expected a change error, got {other:?}"),
    }
}

#[test]
fn missing_executables_are_api_errors() {
    let fixture = host();
    match fixture.client.exec(&ExecRequest::new(["/no/such/tool", "--help"])) {
        Err(Error::Api { status_code: 400, message, .. }) => {
            assert_eq!(message, r#"cannot find executable "/no/such/tool""#)
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn scripted_commands_answer_as_scripted() {
    let fixture = common::sim_only();
    fixture.the_sim().script_exec(
        ExecRule::new(["synapse-admin", "register"])
            .exit_code(1)
            .stdout("partial")
            .stderr("user exists")
            .read_stdin(),
    );
    let request = ExecRequest {
        stdin: Some(b"password\n".to_vec()),
        ..ExecRequest::new(["synapse-admin", "register", "alice"])
    };
    let output = fixture.client.exec(&request).unwrap();
    assert_eq!(output.exit_code, 1);
    assert_eq!(output.stdout_text(), "partial");
    assert_eq!(output.stderr_text(), "user exists");
}

#[test]
fn waiting_for_a_running_change_times_out_then_completes() {
    let fixture = host();
    let client = &fixture.client;
    std::thread::scope(|scope| {
        let running = scope.spawn(|| client.exec(&sh("sleep 2; echo slept")));
        let exec_change = eventually("the exec change", TIMEOUT, POLL, || {
            client
                .changes(ChangeSelect::InProgress, None)
                .unwrap()
                .into_iter()
                .find(|change| change.kind == "exec")
        });
        let id = exec_change.id;
        match client.wait_change(&id, Duration::from_millis(200)) {
            Err(Error::Timeout { what }) => assert!(what.contains(&id), "{what}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        let change = client.wait_change(&id, Duration::from_secs(30)).unwrap();
        assert!(change.ready);
        assert_eq!(running.join().unwrap().unwrap().stdout_text(), "slept\n");
    });
}

#[test]
fn exec_with_progress_hands_over_each_line_of_each_stream() {
    let fixture = host();
    let mut lines = Vec::new();
    let script = "echo one; printf 'two\\nthr'; echo oops >&2; echo ee; printf last";
    let output =
        fixture.client.exec_with_progress(&sh(script), &mut |line| lines.push(line.to_string())).unwrap();
    assert!(output.success());
    assert_eq!(output.stdout_text(), "one\ntwo\nthree\nlast");
    lines.sort();
    assert_eq!(lines, ["one", "oops", "three", "two"], "a partial line waits for its own stream's newline");
}
