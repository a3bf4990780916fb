//! Hook execution: handler discovery, environment, actions, timeouts, the tool binary itself,
//! passive applications, secret events and the in-process runner.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{sim, ShellCharm};
use juju::ToolRunner as _;
use juju_sim::model::{ActionStatus, Bag, GrantTarget, SecretOwner};
use juju_sim::{AppSpec, CharmMeta, Event, SimError};
use serde_json::{json, Map, Value};

/// Saves selected environment variables into the state store, one key per variable.
const ENV_DUMP: &str = r#"for var in JUJU_DISPATCH_PATH JUJU_HOOK_NAME JUJU_UNIT_NAME JUJU_MODEL_NAME JUJU_MODEL_UUID \
  JUJU_VERSION JUJU_CHARM_DIR CHARM_DIR JUJU_CONTEXT_ID JUJU_AGENT_SOCKET_NETWORK JUJU_RELATION JUJU_RELATION_ID \
  JUJU_REMOTE_APP JUJU_REMOTE_UNIT JUJU_DEPARTING_UNIT JUJU_WORKLOAD_NAME JUJU_NOTICE_ID JUJU_NOTICE_TYPE \
  JUJU_NOTICE_KEY JUJU_PEBBLE_CHECK_NAME JUJU_SECRET_ID JUJU_SECRET_LABEL JUJU_SECRET_REVISION \
  JUJU_STORAGE_ID JUJU_STORAGE_LOCATION JUJU_STORAGE_KIND JUJU_ACTION_NAME JUJU_ACTION_UUID JUJU_ACTION_TAG \
  LANG PEBBLE_SOCKET SIM_WIDE; do
  eval "value=\${$var-unset}"
  state-set "$HOOK.$var=$value"
done
state-set "$HOOK.cwd=$(pwd)""#;

fn env_of(sim: &juju_sim::Simulator, unit: &str, hook: &str) -> BTreeMap<String, String> {
    let prefix = format!("{hook}.");
    sim.state(unit)
        .unwrap()
        .iter()
        .filter_map(|(key, value)| Some((key.strip_prefix(&prefix)?.to_owned(), value.clone())))
        .collect()
}

#[test]
fn hooks_get_the_full_environment() {
    let charm = ShellCharm::new(
        "name: envy\nrequires:\n  db: {interface: pg}\ncontainers:\n  work: {}\nstorage:\n  data: {type: filesystem, location: /data}\n",
    )
    .dispatch(ENV_DUMP);
    let pg = ShellCharm::new("name: pg\nprovides:\n  db: {interface: pg}\n").dispatch("true");
    let mut sim = sim();
    sim.set_env("SIM_WIDE", "everywhere");
    sim.add_app(AppSpec::charm("envy", charm.path())).unwrap();
    sim.set_unit_env("envy/0", "PEBBLE_SOCKET", "/tmp/pebble.sock").unwrap();
    sim.deploy(AppSpec::charm("pg", pg.path())).unwrap();
    sim.fire("envy/0", Event::Install).unwrap();
    let install = env_of(&sim, "envy/0", "install");
    assert_eq!(install["JUJU_DISPATCH_PATH"], "hooks/install");
    assert_eq!(install["JUJU_HOOK_NAME"], "install");
    assert_eq!(install["JUJU_UNIT_NAME"], "envy/0");
    assert_eq!(install["JUJU_MODEL_NAME"], sim.model().name);
    assert_eq!(install["JUJU_MODEL_UUID"], sim.model().uuid);
    assert_eq!(install["JUJU_VERSION"], "3.6.4");
    assert_eq!(install["JUJU_CHARM_DIR"], install["CHARM_DIR"]);
    assert_eq!(install["cwd"], install["JUJU_CHARM_DIR"]);
    assert_eq!(install["JUJU_AGENT_SOCKET_NETWORK"], "unix");
    assert!(install["JUJU_CONTEXT_ID"].starts_with("envy/0-install-"));
    assert_eq!(install["JUJU_RELATION"], "unset");
    assert_eq!(install["LANG"], "C.UTF-8");
    assert_eq!(install["PEBBLE_SOCKET"], "/tmp/pebble.sock");
    assert_eq!(install["SIM_WIDE"], "everywhere");

    let (db, _) = sim.integrate("envy", "pg").unwrap();
    let created = env_of(&sim, "envy/0", "db-relation-created");
    assert_eq!(created["JUJU_RELATION"], "db");
    assert_eq!(created["JUJU_RELATION_ID"], format!("db:{db}"));
    assert_eq!(created["JUJU_REMOTE_APP"], "pg");
    assert_eq!(created["JUJU_REMOTE_UNIT"], "");
    assert_eq!(env_of(&sim, "envy/0", "db-relation-joined")["JUJU_REMOTE_UNIT"], "pg/0");

    sim.remove_relation(db).unwrap();
    let departed = env_of(&sim, "envy/0", "db-relation-departed");
    assert_eq!(departed["JUJU_DEPARTING_UNIT"], "pg/0");

    sim.fire(
        "envy/0",
        Event::PebbleCustomNotice {
            container: "work".into(),
            notice_id: "42".into(),
            key: "example.com/a".into(),
        },
    )
    .unwrap();
    let notice = env_of(&sim, "envy/0", "work-pebble-custom-notice");
    assert_eq!((notice["JUJU_WORKLOAD_NAME"].as_str(), notice["JUJU_NOTICE_ID"].as_str()), ("work", "42"));
    assert_eq!(
        (notice["JUJU_NOTICE_TYPE"].as_str(), notice["JUJU_NOTICE_KEY"].as_str()),
        ("custom", "example.com/a")
    );
    sim.fire("envy/0", Event::PebbleCheckFailed { container: "work".into(), check: "alive".into() }).unwrap();
    assert_eq!(env_of(&sim, "envy/0", "work-pebble-check-failed")["JUJU_PEBBLE_CHECK_NAME"], "alive");
    sim.fire("envy/0", Event::StorageAttached { storage: "data/0".into() }).unwrap();
    let storage = env_of(&sim, "envy/0", "data-storage-attached");
    assert_eq!(storage["JUJU_STORAGE_ID"], "data/0");
    assert_eq!(storage["JUJU_STORAGE_LOCATION"], "/data");
    assert_eq!(storage["JUJU_STORAGE_KIND"], "filesystem");
}

#[test]
fn legacy_hook_files_run_without_dispatch_and_missing_hooks_are_skipped() {
    let charm =
        ShellCharm::new("name: legacy\n").hook("install", "status-set active \"legacy $JUJU_DISPATCH_PATH\"");
    let mut sim = sim();
    let runs = sim.deploy(AppSpec::charm("legacy", charm.path())).unwrap();
    assert!(!runs[0].skipped);
    assert!(runs[1..].iter().all(|run| run.skipped));
    assert_eq!(sim.unit_status("legacy/0").unwrap().message, "legacy hooks/install");
}

#[test]
fn actions_report_results_output_and_failures() {
    let charm = ShellCharm::new("name: act\n")
        .file(
            "actions.yaml",
            "echo:\n  params:\n    word: {type: string, default: hi}\nboom: {}\nmissing: {}\nlegacy: {}\n",
        )
        .dispatch(
            r#"case "$HOOK" in
  echo) action-log "echoing"; action-set "said=$(action-get word)" nested.key=v; echo out; echo err >&2 ;;
  boom) action-set partial=1; state-set touched=yes; exit 3 ;;
  missing) exit 0 ;;
esac"#,
        );
    let mut sim = sim();
    sim.add_app(AppSpec::charm("act", charm.path())).unwrap();
    let echo = sim.run_action("act/0", "echo", Map::new()).unwrap();
    let record = echo.record;
    assert_eq!(record.status, ActionStatus::Completed);
    assert_eq!(
        Value::Object(record.results),
        json!({"said": "hi", "nested": {"key": "v"}, "return-code": 0, "stdout": "out\n", "stderr": "err\n"})
    );
    assert_eq!(record.logs, ["echoing"]);
    assert_eq!(record.params["word"], "hi");
    assert_eq!(echo.run.count("action-set"), 1);
    let run = sim.history().last().unwrap();
    assert_eq!(run.action, Some(record.id));

    let boom = sim.run_action("act/0", "boom", Map::new()).unwrap().record;
    assert_eq!(boom.status, ActionStatus::Failed);
    assert_eq!(boom.message.as_deref(), Some("exit status 3"));
    assert_eq!(boom.results["return-code"], 3);
    assert!(sim.state("act/0").unwrap().is_empty(), "failed action discards changes");
    assert_eq!(sim.unit_status("act/0").unwrap().status, "waiting", "actions never put the unit in error");

    assert!(matches!(sim.run_action("act/0", "nope", Map::new()), Err(SimError::UnknownAction { .. })));
    let params: Map<String, Value> = json!({"word": 5}).as_object().cloned().unwrap();
    assert!(matches!(sim.run_action("act/0", "echo", params), Err(SimError::InvalidActionParams { .. })));

    let charm = ShellCharm::new("name: bare\n").file("actions.yaml", "ghost: {}\n");
    sim.add_app(AppSpec::charm("bare", charm.path())).unwrap();
    let ghost = sim.run_action("bare/0", "ghost", Map::new()).unwrap();
    assert!(ghost.run.skipped);
    assert_eq!(ghost.record.status, ActionStatus::Failed);
    assert_eq!(ghost.record.message.as_deref(), Some("action not implemented on unit \"bare/0\""));
}

#[test]
fn hooks_that_run_too_long_are_killed() {
    let charm = ShellCharm::new("name: slow\n").dispatch("sleep 30 &\nsleep 30");
    let mut sim = sim();
    sim.set_hook_timeout(Duration::from_millis(500));
    sim.add_app(AppSpec::charm("slow", charm.path())).unwrap();
    let SimError::HookFailed(run) = sim.fire("slow/0", Event::UpdateStatus).unwrap_err() else {
        panic!("expected a failure");
    };
    assert!(run.timed_out);
    assert!(run.duration < Duration::from_secs(20));
}

#[test]
fn the_tool_binary_reads_stdin_and_rejects_unknown_contexts() {
    // Run the binary by hand against a hook context written by the simulator mid-hook.
    let charm = ShellCharm::new("name: cli\n").dispatch(
        r#"printf '{"from-stdin": "yes"}' | state-set --file -
echo "$JUJU_AGENT_SOCKET_ADDRESS" > "$CAPTURE"
state-get --format=json > "$CAPTURE.out""#,
    );
    let capture = tempfile::tempdir().unwrap();
    let path = capture.path().join("ctx");
    let mut sim = sim();
    sim.set_env("CAPTURE", path.display().to_string());
    sim.add_app(AppSpec::charm("cli", charm.path())).unwrap();
    let run = sim.fire("cli/0", Event::Install).unwrap().remove(0);
    assert_eq!(run.count("state-set"), 1);
    assert_eq!(run.calls[0].stdin.as_deref(), Some("{\"from-stdin\": \"yes\"}"));
    assert_eq!(
        std::fs::read_to_string(capture.path().join("ctx.out")).unwrap(),
        "{\"from-stdin\":\"yes\"}\n"
    );
    assert_eq!(sim.state("cli/0").unwrap()["from-stdin"], "yes");

    let tool = env!("CARGO_BIN_EXE_juju-sim-tool");
    let stale = std::fs::read_to_string(&path).unwrap();
    let output = Command::new(tool)
        .arg("is-leader")
        .env("JUJU_CONTEXT_ID", "cli/0-install-1")
        .env("JUJU_AGENT_SOCKET_ADDRESS", stale.trim())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "ERROR bad request: unknown context \"cli/0-install-1\"\n"
    );
    let output = Command::new(tool).arg("is-leader").env_remove("JUJU_CONTEXT_ID").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stderr), "ERROR JUJU_CONTEXT_ID not set\n");
}

#[test]
fn passive_apps_drive_data_and_secrets() {
    // A v0-style requirer owns a secret and grants it; the charm reads it and tracks changes.
    let charm = ShellCharm::new("name: prov\nprovides:\n  auth: {interface: auth}\n").dispatch(
        r#"case "$HOOK" in
  auth-relation-changed)
    if [ -n "$JUJU_REMOTE_UNIT" ]; then juju-log "unit changed: $(relation-get token "$JUJU_REMOTE_UNIT")"; fi
    uri=$(relation-get --app secret "$JUJU_REMOTE_APP")
    if [ -n "$uri" ]; then state-set "key=$(secret-get "$uri" key --label client-key)"; fi ;;
  secret-changed) state-set "key=$(secret-get "$JUJU_SECRET_ID" key --refresh)" "label=$JUJU_SECRET_LABEL" ;;
esac"#,
    );
    let mut sim = sim();
    sim.deploy(AppSpec::charm("prov", charm.path())).unwrap();
    let meta = CharmMeta::from_yaml("name: client\nrequires:\n  auth: {interface: auth}\n").unwrap();
    sim.deploy(AppSpec::passive("client", meta).units(2)).unwrap();
    let (auth, _) = sim.integrate("prov", "client").unwrap();
    assert_eq!(sim.relation(auth).unwrap().members_of("client/0"), ["prov/0"]);

    let uri = sim
        .add_secret(
            SecretOwner::Application("client".into()),
            BTreeMap::from([("key".into(), "k1".into())]),
            None,
        )
        .unwrap();
    sim.grant_secret(&uri, auth, GrantTarget::Application("prov".into())).unwrap();
    let runs = sim
        .set_relation_data(auth, Bag::App("client".into()), BTreeMap::from([("secret".into(), uri.clone())]))
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].event, Some(Event::RelationChanged { relation: auth, unit: None }));
    assert_eq!(sim.state("prov/0").unwrap()["key"], "k1");

    let runs = sim
        .set_relation_data(
            auth,
            Bag::Unit("client/1".into()),
            BTreeMap::from([("token".into(), "abc".into())]),
        )
        .unwrap();
    assert_eq!(runs[0].event, Some(Event::RelationChanged { relation: auth, unit: Some("client/1".into()) }));
    assert!(sim.logs("prov/0").any(|l| l.message.ends_with("unit changed: abc")));

    let runs = sim.update_secret(&uri, BTreeMap::from([("key".into(), "k2".into())])).unwrap();
    assert_eq!(runs[0].hook, "secret-changed");
    assert_eq!(sim.state("prov/0").unwrap()["key"], "k2");
    assert_eq!(sim.state("prov/0").unwrap()["label"], "client-key");
    assert!(
        sim.update_secret(&uri, BTreeMap::from([("key".into(), "k2".into())])).unwrap().is_empty(),
        "unchanged content"
    );
}

#[test]
fn owners_hear_about_obsolete_revisions_rotation_and_expiry() {
    let charm = ShellCharm::new("name: own\nprovides:\n  api: {interface: api}\n").dispatch(
        r#"case "$HOOK" in
  api-relation-created) uri=$(secret-add --label cred pass=one); secret-grant -r "$JUJU_RELATION_ID" "$uri"; relation-set --app "uri=$uri" ;;
  secret-rotate) secret-set "$JUJU_SECRET_ID" pass=rotated ;;
  secret-remove) juju-log "remove $JUJU_SECRET_REVISION label=$JUJU_SECRET_LABEL"; secret-remove "$JUJU_SECRET_ID" --revision "$JUJU_SECRET_REVISION" ;;
  secret-expired) juju-log "expired $JUJU_SECRET_REVISION" ;;
esac"#,
    );
    let mut sim = sim();
    sim.deploy(AppSpec::charm("own", charm.path())).unwrap();
    let meta = CharmMeta::from_yaml("name: user\nrequires:\n  api: {interface: api}\n").unwrap();
    sim.deploy(AppSpec::passive("user", meta)).unwrap();
    let (api, _) = sim.integrate("own", "user").unwrap();
    let uri = sim.relation_data(api, &Bag::App("own".into())).unwrap()["uri"].clone();
    // Nobody consumes revision 1, so rotating makes it obsolete at once.
    let runs = sim.trigger_secret_rotate(&uri).unwrap();
    let hooks: Vec<&str> = runs.iter().map(|run| run.hook.as_str()).collect();
    assert_eq!(hooks, ["secret-rotate", "secret-remove"]);
    assert!(sim.logs("own/0").any(|l| l.message == "remove 1 label=cred"));
    let revisions: Vec<u32> = sim.secret(&uri).unwrap().revisions.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, [2]);
    sim.trigger_secret_expired(&uri, 2).unwrap();
    assert!(sim.logs("own/0").any(|l| l.message == "expired 2"));
}

#[test]
fn in_process_runner_shares_the_tool_semantics() {
    let charm = ShellCharm::new("name: inproc\nrequires:\n  db: {interface: pg}\n").dispatch("true");
    let mut sim = sim();
    sim.add_app(AppSpec::charm("inproc", charm.path())).unwrap();
    let meta = CharmMeta::from_yaml("name: pg\nprovides:\n  db: {interface: pg}\n").unwrap();
    sim.add_app(AppSpec::passive("pg", meta)).unwrap();
    let db = sim.add_relation("inproc", "pg").unwrap();
    let runner =
        sim.in_process("inproc/0", Event::RelationJoined { relation: db, unit: "pg/0".into() }).unwrap();
    assert_eq!(runner.env()["JUJU_REMOTE_UNIT"], "pg/0");
    assert_eq!(runner.env()["JUJU_HOOK_NAME"], "db-relation-joined");
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let leader = runner.run("is-leader", &args(&["--format=json"]), None).unwrap();
    assert_eq!((leader.code, leader.stdout), (0, b"true\n".to_vec()));
    let set = runner.run("relation-set", &args(&["--file", "-"]), Some(b"{\"ready\": \"yes\"}")).unwrap();
    assert_eq!(set.code, 0);
    let bad = runner.run("relation-get", &args(&["-", "pg"]), None).unwrap();
    assert_eq!(
        (bad.code, String::from_utf8(bad.stderr).unwrap()),
        (2, "ERROR expected unit name, got application name \"pg\"\n".to_owned())
    );
    assert_eq!(runner.context().pending.len(), 1);
    let run = sim.finish_in_process(runner, 0).unwrap();
    assert_eq!(run.count("relation-set"), 1);
    assert_eq!(sim.relation_data(db, &Bag::Unit("inproc/0".into())).unwrap()["ready"], "yes");
    assert_eq!(sim.relation(db).unwrap().members_of("inproc/0"), ["pg/0"]);

    // A failing in-process hook discards its writes.
    let runner = sim.in_process("inproc/0", Event::UpdateStatus).unwrap();
    runner.run("state-set", &args(&["k=v"]), None).unwrap();
    assert!(matches!(sim.finish_in_process(runner, 1), Err(SimError::HookFailed(_))));
    assert!(sim.state("inproc/0").unwrap().is_empty());
}

#[test]
fn unknown_things_are_reported() {
    let mut sim = sim();
    assert!(matches!(sim.fire("ghost/0", Event::Install), Err(SimError::UnknownUnit(_))));
    assert!(matches!(
        sim.add_app(AppSpec::charm("Bad_Name", "/nonexistent")),
        Err(SimError::InvalidAppName(_))
    ));
    let meta = CharmMeta::from_yaml("name: a\nprovides:\n  x: {interface: one}\n").unwrap();
    sim.add_app(AppSpec::passive("a", meta)).unwrap();
    let meta = CharmMeta::from_yaml("name: b\nrequires:\n  y: {interface: two}\n").unwrap();
    sim.add_app(AppSpec::passive("b", meta)).unwrap();
    assert!(matches!(sim.integrate("a", "b"), Err(SimError::CannotRelate(..))));
    assert!(matches!(sim.integrate("a:nope", "b"), Err(SimError::UnknownEndpoint { .. })));
    assert!(matches!(sim.secret("secret:cq9bs3fmp25c76ut1s6g"), Err(SimError::UnknownSecret(_))));
}

#[test]
fn the_tool_binary_is_found_or_built_next_to_the_test_executable() {
    let path = juju_sim::tool_path().unwrap();
    assert_eq!(path.file_name().unwrap(), "juju-sim-tool");
    let output = Command::new(&path).arg("is-leader").env_remove("JUJU_CONTEXT_ID").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let mut sim = juju_sim::Simulator::new().unwrap();
    let charm = ShellCharm::new("name: found\n").dispatch("status-set active found");
    sim.deploy(AppSpec::charm("found", charm.path())).unwrap();
    assert_eq!(sim.unit_status("found/0").unwrap().message, "found");
}

#[test]
fn hook_runs_report_the_resource_usage_of_the_process_tree_and_of_the_tools() {
    // The charm process holds 64 MiB and has used at least 0.2 s of CPU when it runs its
    // second tool: the tree's peak and what the tools saw of their caller show both, the
    // tools' own peaks do not (a spawned process inherits its parent's memory in `ru_maxrss`,
    // which is why tools report `VmHWM`).
    let charm = ShellCharm::new("name: hungry\n").dispatch(
        "status-set active\nexec python3 -c 'import subprocess, time\nblock = bytearray(64 << 20)\n\
         start = time.process_time()\nwhile time.process_time() - start < 0.2: pass\n\
         subprocess.run([\"is-leader\", \"--format=json\"], check=True, stdout=subprocess.DEVNULL)'",
    );
    let mut sim = sim();
    sim.add_app(AppSpec::charm("hungry", charm.path())).unwrap();
    let run = sim.run_hook("hungry/0", Event::UpdateStatus).unwrap();
    assert!(run.succeeded(), "{}", run.stderr);
    assert!(run.usage.max_rss_kib >= 64 * 1024, "peak of the tree: {:?}", run.usage);
    let tools = run.tools_usage;
    assert_eq!(tools.processes, 2);
    assert!(tools.max_rss_kib > 0 && tools.max_rss_kib < 64 * 1024, "{tools:?}");
    assert!(tools.max_caller_rss_kib >= 64 * 1024, "{tools:?}");
    assert!(tools.max_caller_cpu >= Duration::from_millis(200), "{tools:?}");
    assert!(run.usage.cpu() >= tools.cpu() + tools.max_caller_cpu, "the tree's CPU time includes both");

    let quiet = ShellCharm::new("name: quiet\n").dispatch("true");
    sim.add_app(AppSpec::charm("quiet", quiet.path())).unwrap();
    let run = sim.run_hook("quiet/0", Event::UpdateStatus).unwrap();
    assert_eq!(run.tools_usage, juju_sim::ToolsUsage::default(), "no tool ran");
    assert!(run.usage.max_rss_kib > 0);
}

/// A charm whose every hook sets two state keys, then fails if the second call failed.
fn two_calls_charm() -> ShellCharm {
    ShellCharm::new("name: faulty\n").dispatch("set -e\nstate-set first=1\nstate-set second=2\n")
}

#[test]
fn an_injected_tool_failure_fails_that_call_as_juju_does_and_the_hook_commits_nothing() {
    let charm = two_calls_charm();
    let mut sim = sim();
    sim.add_app(AppSpec::charm("faulty", charm.path())).unwrap();
    sim.inject_tool_fault(2, juju_sim::context::ToolFaultKind::Fail);
    let Err(SimError::HookFailed(run)) = sim.fire("faulty/0", Event::Install) else {
        panic!("the hook fails")
    };
    assert_eq!(run.calls.len(), 2);
    assert_eq!(
        (run.calls[1].exit_code, run.calls[1].stderr.as_str()),
        (1, "ERROR connection is shut down\n")
    );
    assert!(!run.committed && sim.state("faulty/0").unwrap().is_empty(), "nothing committed");
    assert!(!sim.tool_fault_pending());
    // Juju retries the hook; the fault happened once.
    let runs = sim.run_until_quiet().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(sim.state("faulty/0").unwrap().len(), 2);
}

#[test]
fn an_injected_kill_ends_the_hook_process_right_after_the_call_and_counts_across_hooks() {
    let charm = two_calls_charm();
    let mut sim = sim();
    sim.add_app(AppSpec::charm("faulty", charm.path())).unwrap();
    sim.fire("faulty/0", Event::Install).unwrap();
    // Call 3 from now: the first call of the second hook from now.
    sim.inject_tool_fault(3, juju_sim::context::ToolFaultKind::KillHook);
    sim.fire("faulty/0", Event::UpdateStatus).unwrap();
    let Err(SimError::HookFailed(run)) = sim.fire("faulty/0", Event::UpdateStatus) else {
        panic!("the second hook dies")
    };
    assert_eq!(run.exit_code, -9, "killed by SIGKILL");
    assert_eq!(run.calls.len(), 1, "nothing after the call");
    assert_eq!(run.calls[0].exit_code, 0, "the call itself succeeded");
    assert!(!run.committed);
}
