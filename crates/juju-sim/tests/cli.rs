//! The `juju-sim` CLI runs scenario files against any charm directory.

mod common;

use std::process::Command;

use common::ShellCharm;
use serde_json::Value;

fn juju_sim(args: &[&str]) -> (i32, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_juju-sim"))
        .args(args)
        .env("JUJU_SIM_TOOL", env!("CARGO_BIN_EXE_juju-sim-tool"))
        .output()
        .expect("run juju-sim");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let value = if args.contains(&"json") {
        serde_json::from_str(&stdout).unwrap_or(Value::Null)
    } else {
        serde_norway::from_str(&stdout).unwrap_or(Value::Null)
    };
    (output.status.code().unwrap_or(-1), value, String::from_utf8_lossy(&output.stderr).into_owned())
}

const WEB: &str = r#"case "$HOOK" in
  start) status-set active "serving on $(config-get port)"; open-port "$(config-get port)" ;;
  db-relation-changed)
    uri=$(relation-get --app secret "$JUJU_REMOTE_APP")
    [ -z "$uri" ] || status-set active "db password has $(secret-get "$uri" password | wc -c) bytes" ;;
  backup) action-set "target=$(action-get target)" ;;
esac"#;

fn scenario_dir() -> (tempfile::TempDir, ShellCharm) {
    let charm = ShellCharm::new("name: web\nrequires:\n  db: {interface: pg}\n")
        .file("config.yaml", "options:\n  port: {type: int, default: 80}\n")
        .file("actions.yaml", "backup:\n  params:\n    target: {type: string, default: local}\n")
        .dispatch(WEB);
    let dir = tempfile::tempdir().unwrap();
    let scenario = format!(
        r#"model:
  name: demo
apps:
  web:
    charm: {charm}
    config: {{port: 8080}}
  db:
    metadata:
      provides:
        db: {{interface: pg}}
steps:
  - deploy: [web, db]
  - integrate: [web:db, db:db]
  - secret: {{owner: db, content: {{password: hunter22}}, grant: [web:db, db:db], publish-as: secret}}
  - run-action: {{unit: web/0, action: backup, params: {{target: s3}}}}
  - scale: {{app: web, units: 2}}
"#,
        charm = charm.path().display()
    );
    std::fs::write(dir.path().join("demo.yaml"), scenario).unwrap();
    (dir, charm)
}

#[test]
fn runs_a_scenario_and_reports_the_model() {
    let (dir, _charm) = scenario_dir();
    let path = dir.path().join("demo.yaml");
    let (code, report, stderr) = juju_sim(&["run", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{stderr} {report:#}");
    assert_eq!(report["model"]["name"], "demo");
    let web0 = &report["applications"]["web"]["units"]["web/0"];
    assert_eq!(web0["message"], "db password has 9 bytes");
    assert_eq!(web0["ports"][0], "8080/tcp");
    assert!(report["applications"]["web"]["units"]["web/1"].is_object());
    assert_eq!(report["applications"]["db"]["charm"], "passive");
    assert_eq!(report["actions"][0]["results"]["target"], "s3");
    assert_eq!(report["secrets"][0]["revisions"]["1"]["password"], "<redacted>");
    assert!(!report.to_string().contains("hunter22"));
    assert!(report["hooks"].as_array().unwrap().iter().any(|h| h == "web/0 db-relation-changed 0"));

    let (_, shown, _) = juju_sim(&["run", path.to_str().unwrap(), "--show-secrets", "--format=json"]);
    assert_eq!(shown["secrets"][0]["revisions"]["1"]["password"], "hunter22");
    let (code, yaml, _) = juju_sim(&["run", path.to_str().unwrap()]);
    assert_eq!((code, &yaml["model"]["name"]), (0, &Value::from("demo")));
}

#[test]
fn failing_steps_and_bad_input_are_reported() {
    let (dir, _charm) = scenario_dir();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apps:\n  db: {}\nsteps:\n  - deploy: db\n  - leader: nope/0\n").unwrap();
    let (code, report, _) = juju_sim(&["run", bad.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(report["error"], "step 1 (leader): unit \"nope/0\" not found");
    let (code, _, stderr) = juju_sim(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("usage: juju-sim run"));
    std::fs::write(&bad, "steps:\n  - {deploy: a, leader: b}\n").unwrap();
    let (code, _, stderr) = juju_sim(&["run", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("exactly one action"), "{stderr}");
}
