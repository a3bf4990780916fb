//! What we write is what Synapse reads: every value goes through real PyYAML (`yaml.safe_load`,
//! the YAML 1.1 reader Synapse uses) and must come back identical.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use test_support::PythonVenv;

/// Loads YAML with PyYAML and returns it as JSON.
fn read_with_pyyaml(yaml: &str) -> Value {
    let mut child = Command::new(PythonVenv::find("ops").python())
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "PyYAML rejected:\n{yaml}\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn pyyaml_reads_back_exactly_what_was_meant() {
    let tricky_strings = [
        "yes",
        "Yes",
        "YES",
        "no",
        "No",
        "on",
        "On",
        "off",
        "OFF",
        "y",
        "Y",
        "n",
        "N",
        "true",
        "False",
        "null",
        "Null",
        "~",
        "",
        " ",
        "1_000",
        "1000",
        "0x1F",
        "0o17",
        "012",
        "0b101",
        "1:30",
        "190:20:30",
        ".inf",
        "-.Inf",
        ".nan",
        "1e3",
        "1.5",
        "+1",
        "-0",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "=",
        "<<",
        "a: b",
        "a #b",
        "#comment",
        "- item",
        "[x]",
        "{x: y}",
        "*alias",
        "&anchor",
        "!tag",
        "|",
        ">",
        "'",
        "\"",
        "\\",
        "%directive",
        "@at",
        "`tick",
        " leading",
        "trailing ",
        "tab\there",
        "multi\nline\n",
        "crlf\r\n",
        "nul\u{0}byte",
        "del\u{7f}",
        "c1\u{85}\u{86}",
        "ls\u{2028}ps\u{2029}",
        "bom\u{feff}",
        "é ü 漢字",
        "emoji 🎉",
        "https://matrix.example.org/",
        "@libera_.*:example\\.org",
        "!room:example.org",
    ];
    let keys_that_resolve = ["yes", "on", "off", "y", "n", "true", "null", "1", "1.5", "~", "", "a b"];
    let mut map = serde_json::Map::new();
    for (index, text) in tricky_strings.iter().enumerate() {
        map.insert(format!("s{index}"), json!(text));
    }
    for key in keys_that_resolve {
        map.insert(key.to_string(), json!(key));
    }
    map.insert("list".into(), json!(tricky_strings.to_vec()));
    map.insert("floats".into(), json!([0.01, 5.0, 1e-7, 1e300, -2.5, 0.0]));
    map.insert("ints".into(), json!([0, -1, 1_000_000, u64::MAX, i64::MIN]));
    map.insert("bools".into(), json!([true, false]));
    map.insert("nested".into(), json!({"list_of_maps": [{"a": "yes", "b": [1, "2"]}, {}], "empty": []}));
    let value = Value::Object(map);

    let yaml = safe_yaml::to_string(&value).unwrap();
    let read = read_with_pyyaml(&yaml);
    assert_eq!(read, value, "PyYAML read something else than was written:\n{yaml}");
}

#[test]
fn a_plain_emitter_would_fail_this_test() {
    // Guard that the check above can fail: PyYAML does turn plain `yes` and `1_000` into
    // other types, so quoting is what makes the round trip work.
    assert_eq!(read_with_pyyaml("a: yes\nb: 1_000\nc: 1:30\n"), json!({"a": true, "b": 1000, "c": 90}));
}
