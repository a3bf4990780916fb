//! Tool-level tests against hook-tools.md: outputs, formats, exit codes and exact error texts.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::charm::CharmMeta;
use crate::context::{ActionRun, HookContext, HookInfo, HookRelation};
use crate::model::{
    Application, Bag, Change, GrantTarget, Model, Relation, RelationEnd, Role, Secret, SecretGrant,
    SecretOwner, SecretRevision, StatusInfo, StorageAttachment, Unit,
};

const APP_META: &str = "
name: app
provides:
  web: {interface: http}
requires:
  db: {interface: pg}
peers:
  peer: {interface: app-peers}
extra-bindings:
  metrics: {}
storage:
  data: {type: filesystem, location: /srv/data}
";

fn unit(name: &str, address: &str) -> Unit {
    Unit {
        name: name.to_owned(),
        status: StatusInfo::new("maintenance", "starting"),
        status_history: Vec::new(),
        workload_version: String::new(),
        state: BTreeMap::new(),
        opened_ports: BTreeMap::new(),
        address: address.to_owned(),
        env: BTreeMap::new(),
        storage: BTreeMap::new(),
        dying: false,
    }
}

fn application(name: &str, meta: CharmMeta, units: &[&str]) -> Application {
    Application {
        name: name.to_owned(),
        charm_dir: None,
        meta,
        config: BTreeMap::new(),
        units: units
            .iter()
            .enumerate()
            .map(|(i, u)| unit(u, &format!("10.0.{}.{}", name.len(), i + 1)))
            .collect(),
        leader: units.first().map(|u| (*u).to_owned()),
        status: StatusInfo::new("unknown", ""),
        status_history: Vec::new(),
        leader_settings: BTreeMap::new(),
        next_unit: units.len() as u32,
        trusted: false,
        resources: BTreeMap::new(),
        index: 0,
        unit_env: BTreeMap::new(),
    }
}

fn relation(id: u32, ends: Vec<RelationEnd>, units: &[&str]) -> Relation {
    let mut relation = Relation {
        id,
        ends,
        app_data: BTreeMap::new(),
        unit_data: BTreeMap::new(),
        scope: BTreeSet::new(),
        members: BTreeMap::new(),
        dying: false,
    };
    for unit in units {
        relation.enter_scope(unit, "10.9.9.9");
    }
    for unit in units {
        let remotes: BTreeSet<String> = relation.remote_units_in_scope(unit).into_iter().collect();
        relation.members.insert((*unit).to_owned(), remotes);
    }
    relation
}

fn end(app: &str, endpoint: &str, interface: &str, role: Role) -> RelationEnd {
    RelationEnd { app: app.to_owned(), endpoint: endpoint.to_owned(), interface: interface.to_owned(), role }
}

/// app (app/0 leader, app/1) related to pg (pg/0, pg/1) as relation 3 (`db`), with peer
/// relation 1 (`peer`). Config options: name (string, default "x"), port (int), debug (bool,
/// default false).
fn model() -> Model {
    let mut model = Model::new("tools");
    let mut meta = CharmMeta::from_yaml(APP_META).unwrap();
    let config: crate::charm::CharmMeta = serde_json::from_value(json!({
        "name": "app",
        "config": {
            "name": {"type": "string", "default": "x"},
            "port": {"type": "int", "default": null},
            "debug": {"type": "boolean", "default": false},
        }
    }))
    .unwrap();
    meta.config = config.config;
    let mut app = application("app", meta, &["app/0", "app/1"]);
    app.units[0].storage.insert(
        "data/0".into(),
        StorageAttachment { kind: "filesystem".into(), location: "/srv/data".into() },
    );
    app.resources.insert("image".into(), "/res/image.tar".into());
    model.applications.insert("app".into(), app);
    let pg_meta = CharmMeta::from_yaml("name: pg\nprovides:\n  db: {interface: pg}\n").unwrap();
    model.applications.insert("pg".into(), application("pg", pg_meta, &["pg/0", "pg/1"]));
    model
        .relations
        .insert(1, relation(1, vec![end("app", "peer", "app-peers", Role::Peer)], &["app/0", "app/1"]));
    let mut db = relation(
        3,
        vec![end("app", "db", "pg", Role::Requirer), end("pg", "db", "pg", Role::Provider)],
        &["app/0", "app/1", "pg/0", "pg/1"],
    );
    db.app_data.insert("pg".into(), BTreeMap::from([("host".into(), "pg.local".into())]));
    db.app_data.insert("app".into(), BTreeMap::from([("want".into(), "db1".into())]));
    db.unit_data.get_mut("pg/0").unwrap().insert("port".into(), "5432".into());
    model.relations.insert(3, db);
    model.next_relation_id = 4;
    model
}

fn ctx(unit: &str) -> HookContext {
    HookContext {
        id: "ctx".into(),
        unit: unit.into(),
        hook: HookInfo { name: "config-changed".into(), ..HookInfo::default() },
        model: model(),
        pending: Vec::new(),
        logs: Vec::new(),
        calls: Vec::new(),
        fault: None,
    }
}

fn relation_ctx(unit: &str, remote_unit: Option<&str>) -> HookContext {
    let mut ctx = ctx(unit);
    ctx.hook = HookInfo {
        name: "db-relation-changed".into(),
        relation: Some(HookRelation {
            id: 3,
            endpoint: "db".into(),
            remote_app: "pg".into(),
            remote_unit: remote_unit.map(str::to_owned),
            departing_unit: None,
            broken: false,
        }),
        ..HookInfo::default()
    };
    ctx
}

fn action_ctx(unit: &str, params: Value) -> HookContext {
    let mut ctx = ctx(unit);
    ctx.hook = HookInfo {
        name: String::new(),
        action: Some(ActionRun {
            id: 7,
            name: "do".into(),
            params: params.as_object().cloned().unwrap_or_default(),
            results: serde_json::Map::new(),
            failed: false,
            message: None,
            logs: Vec::new(),
        }),
        ..HookInfo::default()
    };
    ctx
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_with(ctx: &mut HookContext, tool: &str, args: &[&str], stdin: &str) -> Out {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let input = stdin.as_bytes().to_vec();
    let output = ctx.invoke(tool, &args, &mut || Ok(input.clone()));
    Out {
        code: output.code,
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn run(ctx: &mut HookContext, tool: &str, args: &[&str]) -> Out {
    run_with(ctx, tool, args, "")
}

/// Asserts success and returns stdout.
fn ok(ctx: &mut HookContext, tool: &str, args: &[&str]) -> String {
    let out = run(ctx, tool, args);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{tool} {args:?}");
    out.stdout
}

fn json_out(ctx: &mut HookContext, tool: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--format=json");
    serde_json::from_str(&ok(ctx, tool, &all)).unwrap()
}

/// Asserts the exit code and the exact `ERROR ...` line.
fn fails(ctx: &mut HookContext, tool: &str, args: &[&str], code: i32, message: &str) {
    let out = run(ctx, tool, args);
    assert_eq!(
        (out.code, out.stderr.as_str(), out.stdout.as_str()),
        (code, format!("ERROR {message}\n").as_str(), ""),
        "{tool} {args:?}"
    );
}

fn committed(ctx: &HookContext) -> Model {
    ctx.effective_model()
}

// ----- flags and formats ----------------------------------------------------------------

#[test]
fn flag_errors_exit_2_with_gnuflag_messages() {
    let mut c = ctx("app/0");
    fails(&mut c, "config-get", &["--nope"], 2, "flag provided but not defined: --nope");
    fails(&mut c, "relation-get", &["-r"], 2, "flag needs an argument: -r");
    fails(
        &mut c,
        "config-get",
        &["--format", "xml"],
        2,
        "invalid value \"xml\" for flag --format: unknown format \"xml\"",
    );
    fails(
        &mut c,
        "secret-get",
        &["x", "--format=smart"],
        2,
        "invalid value \"smart\" for flag --format: unknown format \"smart\"",
    );
    fails(&mut c, "is-leader", &["extra", "args"], 2, "unrecognized args: [\"extra\" \"args\"]");
}

#[test]
fn relation_flag_accepts_int_and_endpoint_forms() {
    let mut c = ctx("app/0");
    for form in [&["-r", "3"][..], &["-r3"], &["--relation=db:3"], &["-r", "anything:3"]] {
        let mut args = form.to_vec();
        args.extend(["-", "pg/0"]);
        assert_eq!(json_out(&mut c, "relation-get", &args)["port"], "5432", "{form:?}");
    }
    fails(
        &mut c,
        "relation-get",
        &["-r", "db:99", "-", "pg/0"],
        2,
        "invalid value \"db:99\" for flag -r: relation not found",
    );
    fails(
        &mut c,
        "relation-list",
        &["--relation", "x"],
        2,
        "invalid value \"x\" for flag --relation: invalid relation id",
    );
    fails(&mut c, "relation-list", &[], 2, "no relation id specified");
}

#[test]
fn formats_follow_juju() {
    let mut c = ctx("app/0");
    assert_eq!(ok(&mut c, "is-leader", &[]), "True\n");
    assert_eq!(ok(&mut c, "is-leader", &["--format=json"]), "true\n");
    assert_eq!(ok(&mut c, "is-leader", &["--format", "yaml"]), "true\n");
    assert_eq!(ok(&mut c, "config-get", &["name"]), "x\n");
    assert_eq!(ok(&mut c, "config-get", &["debug"]), "False\n");
    assert_eq!(ok(&mut c, "config-get", &["port"]), "");
    assert_eq!(ok(&mut c, "config-get", &["port", "--format=json"]), "null\n");
    assert_eq!(ok(&mut c, "config-get", &[]), "debug: false\nname: x\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    assert_eq!(ok(&mut c, "is-leader", &["-o", path.to_str().unwrap()]), "");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "True\n");
}

#[test]
fn help_prints_usage_and_defaults() {
    let mut c = ctx("app/0");
    c.hook.storage = Some("data/0".into());
    let help = ok(&mut c, "storage-get", &["--help"]);
    assert!(help.starts_with("Usage: storage-get"));
    assert!(help.lines().any(|line| line == "-s  (= data/0)"), "{help}");
}

#[test]
fn unknown_tools_fail() {
    let mut c = ctx("app/0");
    fails(&mut c, "juju-reboot", &[], 1, "unknown command \"juju-reboot\"");
}

// ----- relations --------------------------------------------------------------------------

#[test]
fn relation_ids_lists_sorted_fake_ids() {
    let mut c = ctx("app/0");
    assert_eq!(json_out(&mut c, "relation-ids", &["db"]), json!(["db:3"]));
    assert_eq!(json_out(&mut c, "relation-ids", &["nope"]), json!([]));
    assert_eq!(ok(&mut c, "relation-ids", &["peer"]), "peer:1\n");
    fails(&mut c, "relation-ids", &[], 2, "no endpoint name specified");
    let mut r = relation_ctx("app/0", Some("pg/0"));
    assert_eq!(json_out(&mut r, "relation-ids", &[]), json!(["db:3"]));
    r.hook.relation.as_mut().unwrap().broken = true;
    assert_eq!(json_out(&mut r, "relation-ids", &[]), json!([]));
}

#[test]
fn relation_list_shows_members_and_remote_app() {
    let mut c = relation_ctx("app/0", Some("pg/0"));
    assert_eq!(json_out(&mut c, "relation-list", &[]), json!(["pg/0", "pg/1"]));
    assert_eq!(json_out(&mut c, "relation-list", &["--app"]), json!("pg"));
    assert_eq!(json_out(&mut c, "relation-list", &["-r", "peer:1"]), json!(["app/1"]));
    assert_eq!(ok(&mut c, "relation-list", &[]), "pg/0\npg/1\n");
}

#[test]
fn relation_get_resolves_targets_like_juju() {
    let mut c = relation_ctx("app/1", Some("pg/0"));
    assert_eq!(json_out(&mut c, "relation-get", &["port"]), json!("5432"));
    assert_eq!(json_out(&mut c, "relation-get", &["missing"]), Value::Null);
    assert_eq!(json_out(&mut c, "relation-get", &["--app"])["host"], "pg.local");
    assert_eq!(json_out(&mut c, "relation-get", &["--app", "-", "pg/1"])["host"], "pg.local");
    fails(&mut c, "relation-get", &["-", "pg"], 2, "expected unit name, got application name \"pg\"");
    fails(&mut c, "relation-get", &["-", "Bad!"], 2, "invalid unit name \"Bad!\"");
    let mut app_level = relation_ctx("app/1", None);
    assert_eq!(json_out(&mut app_level, "relation-get", &[])["host"], "pg.local");
    let mut outside = ctx("app/0");
    fails(&mut outside, "relation-get", &["-r", "3"], 2, "no unit or application specified");
    fails(&mut outside, "relation-get", &["-r", "3", "--app"], 2, "no unit or application specified");
}

#[test]
fn relation_get_enforces_databag_acls() {
    let mut follower = ctx("app/1");
    fails(&mut follower, "relation-get", &["-r", "3", "--app", "-", "app"], 1, "permission denied");
    fails(&mut follower, "relation-get", &["-r", "3", "-", "app/0"], 1, "permission denied");
    let mut leader = ctx("app/0");
    assert_eq!(json_out(&mut leader, "relation-get", &["-r", "3", "--app", "-", "app"])["want"], "db1");
    // Peer app data is readable by every unit.
    leader.pending.push(Change::RelationSet {
        relation: 1,
        bag: Bag::App("app".into()),
        settings: BTreeMap::from([("k".into(), Some("v".into()))]),
    });
    let mut model = leader.effective_model();
    let mut peer = ctx("app/1");
    std::mem::swap(&mut peer.model, &mut model);
    assert_eq!(json_out(&mut peer, "relation-get", &["-r", "1", "--app", "-", "app"])["k"], "v");
    assert_eq!(
        json_out(&mut peer, "relation-get", &["-r", "1", "-", "app/0"])["private-address"],
        "10.9.9.9"
    );
    // Units not in the relation at all.
    let mut pg = ctx("pg/0");
    fails(
        &mut pg,
        "relation-get",
        &["-r", "1", "-", "app/0"],
        2,
        "invalid value \"1\" for flag -r: relation not found",
    );
}

#[test]
fn relation_set_buffers_and_own_reads_see_pending_writes() {
    let mut c = ctx("app/0");
    assert_eq!(ok(&mut c, "relation-set", &["-r", "3", "a=1", "b=2"]), "");
    let out = run_with(
        &mut c,
        "relation-set",
        &["-r", "db:3", "--file", "-", "c=override"],
        "c: file\nd: 4\ne: true\n",
    );
    assert_eq!(out.code, 0);
    ok(&mut c, "relation-set", &["-r", "3", "a="]);
    let own = json_out(&mut c, "relation-get", &["-r", "3", "-", "app/0"]);
    assert_eq!(own["b"], "2");
    assert_eq!(own["c"], "override");
    assert_eq!(own["d"], "4");
    assert_eq!(own["e"], "true");
    assert!(own.get("a").is_none());
    // Nothing is committed yet.
    assert!(!c.model.relation(3).unwrap().unit_data["app/0"].contains_key("b"));
    assert_eq!(committed(&c).relation(3).unwrap().unit_data["app/0"]["b"], "2");
    // App bag: leader only; the leader reads its pending write.
    ok(&mut c, "relation-set", &["-r", "3", "--app", "x=y"]);
    assert_eq!(json_out(&mut c, "relation-get", &["-r", "3", "--app", "x", "app"]), json!("y"));
    let mut follower = ctx("app/1");
    fails(&mut follower, "relation-set", &["-r", "3", "--app", "x=y"], 1, "cannot write relation settings");
    fails(
        &mut follower,
        "relation-set",
        &["-r", "3", "novalue"],
        2,
        "expected \"key=value\", got \"novalue\"",
    );
    fails(&mut follower, "relation-set", &["-r", "3", "k=1", "k=2"], 2, "key \"k\" specified more than once");
    fails(&mut follower, "relation-set", &["k=1"], 2, "no relation id specified");
    let out = run(&mut follower, "relation-set", &["-r", "3", "--format", "json", "k=1"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, "--format flag deprecated for command \"relation-set\""));
}

#[test]
fn relation_model_get_returns_the_model_uuid() {
    let mut c = relation_ctx("app/0", Some("pg/0"));
    let uuid = c.model.uuid.clone();
    assert_eq!(json_out(&mut c, "relation-model-get", &[]), json!({"uuid": uuid}));
}

// ----- config, leadership, status, logs ------------------------------------------------------

#[test]
fn config_get_handles_all_and_keys() {
    let mut c = ctx("app/0");
    assert_eq!(json_out(&mut c, "config-get", &[]), json!({"debug": false, "name": "x"}));
    assert_eq!(
        json_out(&mut c, "config-get", &["--all"]),
        json!({"debug": false, "name": "x", "port": null})
    );
    assert_eq!(json_out(&mut c, "config-get", &["-a"])["port"], Value::Null);
    assert_eq!(json_out(&mut c, "config-get", &["unknown"]), Value::Null);
    fails(
        &mut c,
        "config-get",
        &["name", "--all"],
        2,
        "cannot use argument --all together with key \"name\"",
    );
}

#[test]
fn status_set_and_get() {
    let mut c = ctx("app/0");
    ok(&mut c, "status-set", &["--application=False", "active", "--", "-all good"]);
    assert_eq!(c.model.unit("app/0").unwrap().status.message, "-all good");
    assert_eq!(ok(&mut c, "status-get", &[]), "active\n");
    assert_eq!(
        json_out(&mut c, "status-get", &["--include-data"]),
        json!({"status": "active", "message": "-all good", "status-data": {}})
    );
    assert_eq!(json_out(&mut c, "status-get", &[]), json!({"status": "active"}));
    ok(&mut c, "status-set", &["--application", "blocked", "need db"]);
    let app = json_out(&mut c, "status-get", &["--application=true", "--include-data"]);
    assert_eq!(app["application-status"]["message"], "need db");
    assert_eq!(app["units"]["app/1"]["status"], "maintenance");
    fails(&mut c, "status-set", &[], 2, "invalid args, require <status> [message]");
    fails(
        &mut c,
        "status-set",
        &["error"],
        2,
        "invalid status \"error\", expected one of [maintenance blocked waiting active]",
    );
    fails(&mut c, "status-set", &["active", "a", "b"], 2, "unrecognized args: [\"b\"]");
    let mut follower = ctx("app/1");
    fails(
        &mut follower,
        "status-set",
        &["--application=True", "active", ""],
        1,
        "this unit is not the leader",
    );
    fails(
        &mut follower,
        "status-get",
        &["--application"],
        1,
        "finding application status: this unit is not the leader",
    );
    // Status history is kept.
    assert_eq!(c.model.unit("app/0").unwrap().status_history.len(), 1);
}

#[test]
fn application_version_set_is_immediate() {
    let mut c = ctx("app/0");
    ok(&mut c, "application-version-set", &["--", "-1.0"]);
    assert_eq!(c.model.unit("app/0").unwrap().workload_version, "-1.0");
    fails(&mut c, "application-version-set", &[], 2, "no version specified");
}

#[test]
fn juju_log_levels_and_relation_prefix() {
    let mut c = relation_ctx("app/0", Some("pg/0"));
    ok(&mut c, "juju-log", &["--log-level", "WARNING", "--", "hello", "there"]);
    ok(&mut c, "juju-log", &["-l", "bogus", "x"]);
    ok(&mut c, "juju-log", &["--debug", "y"]);
    let logs: Vec<(String, String)> = c.logs.iter().map(|l| (l.level.clone(), l.message.clone())).collect();
    assert_eq!(
        logs,
        [
            ("WARNING".into(), "db:3: hello there".into()),
            ("WARNING".into(), "Specified log level of \"bogus\" is not valid".into()),
            ("INFO".into(), "db:3: x".into()),
            ("DEBUG".into(), "db:3: y".into()),
        ]
    );
    fails(&mut c, "juju-log", &[], 2, "no message specified");
}

#[test]
fn leader_get_and_set() {
    let mut c = ctx("app/0");
    ok(&mut c, "leader-set", &["a=1", "b=2"]);
    ok(&mut c, "leader-set", &["b="]);
    assert_eq!(json_out(&mut c, "leader-get", &[]), json!({"a": "1"}));
    assert_eq!(ok(&mut c, "leader-get", &["a"]), "1\n");
    fails(&mut c, "leader-get", &["a=b"], 2, "invalid key \"a=b\"");
    let mut follower = ctx("app/1");
    fails(
        &mut follower,
        "leader-set",
        &["a=1"],
        1,
        "cannot write leadership settings: cannot write settings: not the leader",
    );
}

// ----- actions ------------------------------------------------------------------------------

#[test]
fn action_tools_fail_outside_actions() {
    let mut c = ctx("app/0");
    for tool in ["action-get", "action-fail"] {
        fails(&mut c, tool, &[], 1, "not running an action");
    }
    fails(&mut c, "action-set", &["a=b"], 1, "not running an action");
    fails(&mut c, "action-log", &["hi"], 1, "not running an action");
}

#[test]
fn action_get_set_fail_log() {
    let mut c = action_ctx("app/0", json!({"name": "bob", "opts": {"deep": {"x": 1}}}));
    assert_eq!(json_out(&mut c, "action-get", &[])["name"], "bob");
    assert_eq!(json_out(&mut c, "action-get", &["opts.deep.x"]), json!(1));
    assert_eq!(json_out(&mut c, "action-get", &["opts.nope"]), Value::Null);
    ok(&mut c, "action-set", &["a.b=1", "c=x=y"]);
    ok(&mut c, "action-log", &["--", "step", "one"]);
    ok(&mut c, "action-fail", &[]);
    let action = c.hook.action.clone().unwrap();
    assert_eq!(Value::Object(action.results), json!({"a": {"b": "1"}, "c": "x=y"}));
    assert_eq!(action.logs, ["step one"]);
    assert!(action.failed);
    assert_eq!(
        action.message.as_deref(),
        Some("action failed without reason given, check action for errors")
    );
    fails(&mut c, "action-set", &["nokey"], 2, "argument \"nokey\" must be of the form key...=value");
    fails(&mut c, "action-set", &["Bad=1"], 2, "key \"Bad\" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods");
    fails(&mut c, "action-set", &["stdout=1"], 2, "cannot set reserved action key \"stdout\"");
    fails(
        &mut c,
        "action-set",
        &["a.stderr-encoding=1"],
        2,
        "cannot set reserved action key \"stderr-encoding\"",
    );
    fails(&mut c, "action-fail", &["one", "two"], 2, "unrecognized args: [\"two\"]");
    fails(&mut c, "action-log", &[], 2, "no message specified");
    let mut empty = action_ctx("app/0", json!({}));
    assert_eq!(ok(&mut empty, "action-get", &["--format=json"]), "{}\n");
}

// ----- state --------------------------------------------------------------------------------

#[test]
fn state_store_is_buffered_and_readable() {
    let mut c = ctx("app/0");
    assert_eq!(ok(&mut c, "state-get", &["--format=json"]), "null\n");
    ok(&mut c, "state-set", &["a=1", "b=2"]);
    run_with(&mut c, "state-set", &["--file", "-"], "{\"c\": \"3\"}");
    ok(&mut c, "state-delete", &["b"]);
    ok(&mut c, "state-delete", &[]);
    assert_eq!(json_out(&mut c, "state-get", &[]), json!({"a": "1", "c": "3"}));
    assert_eq!(ok(&mut c, "state-get", &["a"]), "1\n");
    assert_eq!(json_out(&mut c, "state-get", &["zz"]), Value::Null);
    fails(&mut c, "state-get", &["zz", "--strict"], 1, "\"zz\" not found");
    assert!(c.model.unit("app/0").unwrap().state.is_empty());
    assert_eq!(committed(&c).unit("app/0").unwrap().state["c"], "3");
    let long_key = "k".repeat(257);
    fails(&mut c, "state-set", &[&format!("{long_key}=1")], 1, "max allowed key length (256) exceeded");
    let big = format!("v={}", "x".repeat(64 * 1024 + 1));
    fails(&mut c, "state-set", &[&big], 1, "max allowed value length (65536) exceeded");
}

// ----- ports ---------------------------------------------------------------------------------

#[test]
fn ports_are_buffered_and_listed_from_committed_state() {
    let mut c = ctx("app/0");
    ok(&mut c, "open-port", &["80"]);
    ok(&mut c, "open-port", &["53/UDP", "--endpoints", "web,db"]);
    ok(&mut c, "open-port", &["icmp"]);
    assert_eq!(json_out(&mut c, "opened-ports", &[]), json!([]));
    let committed_model = committed(&c);
    c.model = committed_model;
    c.pending.clear();
    assert_eq!(json_out(&mut c, "opened-ports", &[]), json!(["icmp", "80/tcp", "53/udp"]));
    assert_eq!(
        json_out(&mut c, "opened-ports", &["--endpoints"]),
        json!(["icmp (*)", "80/tcp (*)", "53/udp (db, web)"])
    );
    ok(&mut c, "close-port", &["80/tcp"]);
    assert_eq!(committed(&c).unit("app/0").unwrap().ports().len(), 2);
    fails(&mut c, "open-port", &[], 2, "no port or range specified");
    fails(
        &mut c,
        "open-port",
        &["http"],
        2,
        "invalid port \"http\": strconv.Atoi: parsing \"http\": invalid syntax",
    );
    fails(
        &mut c,
        "open-port",
        &["80/sctp"],
        2,
        "invalid protocol \"sctp\", expected \"tcp\", \"udp\", or \"icmp\"",
    );
    fails(
        &mut c,
        "open-port",
        &["1000-2000"],
        1,
        "port ranges are not supported for k8s applications, please specify a single port",
    );
}

// ----- network, goal state, unit-get, storage, resources, credentials --------------------------

#[test]
fn network_get_reports_the_unit_address() {
    let mut c = ctx("app/0");
    let address = c.model.unit("app/0").unwrap().address.clone();
    let info = json_out(&mut c, "network-get", &["db"]);
    assert_eq!(info["bind-addresses"][0]["addresses"][0]["value"], address.as_str());
    assert_eq!(info["ingress-addresses"], json!([address.clone()]));
    assert_eq!(info["egress-subnets"], json!([format!("{address}/32")]));
    assert_eq!(json_out(&mut c, "network-get", &["metrics", "--ingress-address"]), json!(address.clone()));
    let both = json_out(&mut c, "network-get", &["db", "--bind-address", "--egress-subnets"]);
    assert_eq!(both["bind-address"], address.as_str());
    fails(&mut c, "network-get", &[], 2, "no arguments specified");
    fails(&mut c, "network-get", &["nope"], 1, "no network config found for binding \"nope\"");
    fails(
        &mut c,
        "network-get",
        &["-r", "9", "db"],
        2,
        "invalid value \"9\" for flag -r: relation not found",
    );
    assert_eq!(ok(&mut c, "unit-get", &["private-address"]), format!("{address}\n"));
    fails(&mut c, "unit-get", &[], 2, "no setting specified");
    fails(&mut c, "unit-get", &["zone"], 2, "unknown setting \"zone\"");
}

#[test]
fn goal_state_lists_units_and_relations() {
    let mut c = ctx("app/0");
    let goal = json_out(&mut c, "goal-state", &[]);
    assert_eq!(goal["units"]["app/1"]["status"], "active");
    assert_eq!(goal["relations"]["db"]["pg"]["status"], "joined");
    assert_eq!(goal["relations"]["db"]["pg/1"]["status"], "active");
    assert!(goal["units"]["app/0"]["since"].as_str().unwrap().ends_with('Z'));
    assert!(ok(&mut c, "goal-state", &[]).starts_with("relations:"));
}

#[test]
fn storage_resources_credentials() {
    let mut c = ctx("app/0");
    assert_eq!(json_out(&mut c, "storage-list", &[]), json!(["data/0"]));
    assert_eq!(json_out(&mut c, "storage-list", &["other"]), json!([]));
    assert_eq!(
        json_out(&mut c, "storage-get", &["-s", "data/0"]),
        json!({"kind": "filesystem", "location": "/srv/data"})
    );
    assert_eq!(ok(&mut c, "storage-get", &["-s", "data/0", "location"]), "/srv/data\n");
    fails(&mut c, "storage-get", &[], 2, "no storage instance specified");
    fails(
        &mut c,
        "storage-get",
        &["-s", "bad"],
        2,
        "invalid value \"bad\" for flag -s: invalid storage ID \"bad\"",
    );
    fails(&mut c, "storage-get", &["-s", "data/0", "size"], 1, "invalid storage attribute \"size\"");
    assert_eq!(ok(&mut c, "resource-get", &["image"]), "/res/image.tar");
    fails(&mut c, "resource-get", &[], 2, "missing required resource name");
    fails(&mut c, "resource-get", &["nope"], 1, "could not download resource: resource \"nope\" not found");
    fails(&mut c, "credential-get", &[], 1, "cannot access cloud credentials: permission denied");
    c.model.app_mut("app").unwrap().trusted = true;
    assert_eq!(json_out(&mut c, "credential-get", &[])["type"], "kubernetes");
}

// ----- secrets -------------------------------------------------------------------------------

fn add_secret(c: &mut HookContext, args: &[&str]) -> String {
    let uri = ok(c, "secret-add", args).trim().to_owned();
    assert!(uri.starts_with("secret:") && uri.len() == 27, "{uri}");
    uri
}

/// Commits the pending changes and continues as another unit of the same model.
fn commit_as(c: &HookContext, unit: &str) -> HookContext {
    let mut next = ctx(unit);
    next.model = c.effective_model();
    next
}

#[test]
fn secret_add_validates_and_buffers() {
    let mut c = ctx("app/0");
    fails(&mut c, "secret-add", &[], 2, "missing secret value or filename");
    fails(
        &mut c,
        "secret-add",
        &["--rotate", "sometimes", "key=v"],
        2,
        "rotate policy \"sometimes\" not valid",
    );
    fails(&mut c, "secret-add", &["--owner", "model", "key=v"], 2, "secret owner \"model\" not valid");
    fails(
        &mut c,
        "secret-add",
        &["--expire", "later", "key=v"],
        2,
        "expire time or duration \"later\" not valid",
    );
    fails(
        &mut c,
        "secret-add",
        &["--expire", "-1h", "key=v"],
        2,
        "negative expire duration \"-1h\" not valid",
    );
    fails(&mut c, "secret-add", &["=v"], 2, "key value \"=v\" not valid");
    fails(&mut c, "secret-add", &["ab=v"], 2, "key \"ab\" not valid");
    let uri = add_secret(
        &mut c,
        &[
            "--label",
            "pw",
            "--description",
            "d",
            "--rotate",
            "daily",
            "--expire",
            "24h",
            "password=hunter2",
            "raw#base64=aGk=",
        ],
    );
    assert!(c.model.secrets.is_empty(), "buffered until commit");
    let model = committed(&c);
    let secret = model.secret(&uri[7..]).unwrap();
    assert_eq!(secret.owner, SecretOwner::Application("app".into()));
    assert_eq!(
        secret.latest().unwrap().decoded(),
        BTreeMap::from([("password".into(), "hunter2".into()), ("raw".into(), "hi".into())])
    );
    assert_eq!(secret.latest().unwrap().content["password"], STANDARD.encode("hunter2"));
    fails(&mut c, "secret-add", &["--label", "pw", "other=v"], 1, "secret with label \"pw\" already exists");
    let mut follower = ctx("app/1");
    fails(&mut follower, "secret-add", &["key=v"], 1, "this unit is not the leader");
    add_secret(&mut follower, &["--owner", "unit", "key=v"]);
    // Secret values never appear in recorded calls.
    assert!(c.calls.iter().all(|call| !call.args.iter().any(|a| a.contains("hunter2"))));
}

#[test]
fn secret_get_by_owner_reads_latest_and_sets_labels() {
    let mut c = ctx("app/0");
    let uri = add_secret(&mut c, &["--label", "pw", "password=one"]);
    assert_eq!(json_out(&mut c, "secret-get", &[&uri]), json!({"password": "one"}));
    assert_eq!(json_out(&mut c, "secret-get", &["--label", "pw"]), json!({"password": "one"}));
    assert_eq!(ok(&mut c, "secret-get", &[&uri, "password"]), "one\n");
    assert_eq!(ok(&mut c, "secret-get", &[&uri, "password#base64"]), format!("{}\n", STANDARD.encode("one")));
    assert_eq!(ok(&mut c, "secret-get", &[&uri]), "password: one\n");
    fails(&mut c, "secret-get", &[], 2, "require either a secret URI or label");
    fails(
        &mut c,
        "secret-get",
        &[&uri, "--peek", "--refresh"],
        2,
        "specify one of --peek or --refresh but not both",
    );
    fails(&mut c, "secret-get", &["secret:bogus"], 2, "secret URI \"secret:bogus\" not valid");
    fails(
        &mut c,
        "secret-get",
        &["secret:cq9bs3fmp25c76ut1s6g"],
        1,
        "secret \"cq9bs3fmp25c76ut1s6g\" not found",
    );
    fails(&mut c, "secret-get", &["--label", "nope"], 1, "consumer label \"nope\" not found");
    // The recorded output is redacted.
    assert!(c
        .calls
        .iter()
        .filter(|call| call.tool == "secret-get" && call.exit_code == 0)
        .all(|call| call.stdout == "<redacted>"));
}

#[test]
fn consumers_need_grants_and_are_pinned_until_refresh() {
    let mut owner = ctx("app/0");
    let uri = add_secret(&mut owner, &["password=one"]);
    let id = uri[7..].to_owned();
    let mut consumer = commit_as(&owner, "pg/0");
    fails(&mut consumer, "secret-get", &[&uri], 1, "permission denied");
    ok(&mut owner, "secret-grant", &["-r", "3", &uri]);
    fails(&mut owner, "secret-grant", &[&uri], 2, "no relation id specified");
    fails(
        &mut owner,
        "secret-grant",
        &["-r", "3", "--unit", "app/1", &uri],
        2,
        "cannot specify unit \"app/1\" in relation to application \"pg\"",
    );
    fails(&mut owner, "secret-grant", &["-r", "3", "--unit", "bad", &uri], 2, "unit \"bad\" not valid");
    fails(&mut owner, "secret-grant", &[], 2, "missing secret URI");
    let mut consumer = commit_as(&owner, "pg/0");
    assert_eq!(json_out(&mut consumer, "secret-get", &[&uri, "--label", "db"]), json!({"password": "one"}));
    assert_eq!(consumer.model.secret(&id).unwrap().consumers["pg/0"].revision, 1);
    // The owner publishes revision 2; the consumer stays on 1 until --refresh.
    let mut owner = commit_as(&consumer, "app/0");
    ok(&mut owner, "secret-set", &[&uri, "password=two"]);
    ok(&mut owner, "secret-set", &[&uri, "--description", "metadata only"]);
    let mut consumer = commit_as(&owner, "pg/0");
    assert_eq!(consumer.model.secret(&id).unwrap().latest_revision(), 2);
    assert_eq!(json_out(&mut consumer, "secret-get", &["--label", "db"]), json!({"password": "one"}));
    assert_eq!(json_out(&mut consumer, "secret-get", &[&uri, "--peek"]), json!({"password": "two"}));
    assert_eq!(consumer.model.secret(&id).unwrap().consumers["pg/0"].revision, 1);
    assert_eq!(json_out(&mut consumer, "secret-get", &[&uri, "--refresh"]), json!({"password": "two"}));
    assert_eq!(json_out(&mut consumer, "secret-get", &[&uri]), json!({"password": "two"}));
    assert_eq!(consumer.model.secret(&id).unwrap().consumers["pg/0"].revision, 2);
    // Unchanged content adds no revision.
    let mut owner = commit_as(&consumer, "app/0");
    ok(&mut owner, "secret-set", &[&uri, "password=two"]);
    assert_eq!(committed(&owner).secret(&id).unwrap().latest_revision(), 2);
    // Consumers cannot manage it; followers cannot either.
    fails(&mut consumer, "secret-set", &[&uri, "password=x"], 1, &format!("secret \"{id}\" not found"));
    let mut follower = commit_as(&owner, "app/1");
    fails(&mut follower, "secret-set", &[&uri, "password=x"], 1, "this unit is not the leader");
    fails(&mut follower, "secret-grant", &["-r", "3", &uri], 1, "this unit is not the leader");
    // Unit grants block an application grant until revoked.
    let mut owner = commit_as(&owner, "app/0");
    ok(&mut owner, "secret-revoke", &[&uri, "--app", "pg"]);
    ok(&mut owner, "secret-grant", &["-r", "3", "--unit", "pg/1", &uri]);
    let mut owner = commit_as(&owner, "app/0");
    fails(
        &mut owner,
        "secret-grant",
        &["-r", "3", &uri],
        1,
        "any unit level grants need to be revoked before granting access to the corresponding application",
    );
    let mut consumer = commit_as(&owner, "pg/0");
    fails(&mut consumer, "secret-get", &[&uri], 1, "permission denied");
    let mut other = commit_as(&owner, "pg/1");
    assert_eq!(json_out(&mut other, "secret-get", &[&uri]), json!({"password": "two"}));
}

#[test]
fn secret_revoke_and_remove_validate() {
    let mut c = ctx("app/0");
    let uri = add_secret(&mut c, &["password=one"]);
    let mut c = commit_as(&c, "app/0");
    fails(&mut c, "secret-revoke", &[], 2, "missing secret URI");
    fails(&mut c, "secret-revoke", &[&uri], 2, "missing relation or application or unit");
    fails(
        &mut c,
        "secret-revoke",
        &[&uri, "--app", "pg", "--unit", "pg/0"],
        2,
        "specify only one of application or unit",
    );
    fails(
        &mut c,
        "secret-revoke",
        &[&uri, "-r", "3", "--app", "pg"],
        2,
        "do not specify both relation and app",
    );
    fails(&mut c, "secret-revoke", &[&uri, "--unit", "x"], 2, "unit \"x\" not valid");
    ok(&mut c, "secret-revoke", &[&uri, "--relation", "3"]);
    ok(&mut c, "secret-set", &[&uri, "password=two"]);
    let mut c = commit_as(&c, "app/0");
    ok(&mut c, "secret-remove", &[&uri, "--revision", "1"]);
    fails(
        &mut c,
        "secret-remove",
        &[&uri, "--revision", "x"],
        2,
        "invalid value \"x\" for flag --revision: strconv.ParseInt: parsing \"x\": invalid syntax",
    );
    let id = uri[7..].to_owned();
    let revisions: Vec<u32> =
        committed(&c).secret(&id).unwrap().revisions.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, [2]);
    ok(&mut c, "secret-remove", &[&uri]);
    assert!(committed(&c).secret(&id).is_none());
    fails(&mut c, "secret-remove", &[], 2, "missing secret URI");
}

#[test]
fn secret_ids_and_info_get() {
    let mut c = ctx("app/0");
    assert_eq!(ok(&mut c, "secret-ids", &["--format=json"]), "null\n");
    let uri = add_secret(
        &mut c,
        &["--label", "pw", "--rotate", "weekly", "--expire", "2030-01-01T00:00:00Z", "password=one"],
    );
    let id = uri[7..].to_owned();
    assert_eq!(json_out(&mut c, "secret-ids", &[]), json!([id.clone()]));
    ok(&mut c, "secret-grant", &["-r", "3", &uri]);
    let info = json_out(&mut c, "secret-info-get", &[&uri]);
    let entry = &info[&id];
    assert_eq!(entry["revision"], 1);
    assert_eq!(entry["label"], "pw");
    assert_eq!(entry["owner"], "application");
    assert_eq!(entry["rotation"], "weekly");
    assert_eq!(entry["expiry"], "2030-01-01T00:00:00Z");
    assert!(entry["rotates"].is_string());
    assert_eq!(
        entry["access"],
        json!([{"target": "application-pg", "scope": "relation-app.db#pg.db", "role": "view"}])
    );
    assert_eq!(json_out(&mut c, "secret-info-get", &["--label", "pw"])[&id]["revision"], 1);
    assert!(ok(&mut c, "secret-info-get", &[&uri]).starts_with(&format!("{id}:\n")));
    fails(&mut c, "secret-info-get", &[], 2, "require either a secret URI or label");
    fails(
        &mut c,
        "secret-info-get",
        &[&uri, "--label", "pw"],
        2,
        "specify either a secret URI or label but not both",
    );
    fails(&mut c, "secret-info-get", &["--label", "zz"], 1, "secret \"zz\" not found");
    let mut consumer = commit_as(&c, "pg/0");
    fails(&mut consumer, "secret-info-get", &[&uri], 1, &format!("secret \"{id}\" not found"));
}

#[test]
fn secrets_owned_by_another_app_grant_to_peers_of_consumer() {
    // A passive owner's secret granted to app: every unit of app may read it.
    let mut c = ctx("app/1");
    let secret = Secret {
        id: "cq9bs3fmp25c76ut1s6g".into(),
        owner: SecretOwner::Application("pg".into()),
        label: None,
        description: None,
        expiry: None,
        rotate: None,
        next_rotation: None,
        revisions: vec![SecretRevision {
            revision: 1,
            content: crate::model::SecretContent::encode(&BTreeMap::from([("token".into(), "t".into())])),
            obsolete: false,
        }],
        grants: vec![SecretGrant { relation_id: 3, target: GrantTarget::Application("app".into()) }],
        consumers: BTreeMap::new(),
    };
    c.model.secrets.insert(secret.id.clone(), secret);
    assert_eq!(json_out(&mut c, "secret-get", &["secret:cq9bs3fmp25c76ut1s6g"]), json!({"token": "t"}));
    assert_eq!(ok(&mut c, "secret-ids", &[]), "");
}
