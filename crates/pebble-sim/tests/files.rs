//! `/v1/files`: list, pull, push, make-dirs, remove; modes and owners.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{push_body, Fixture, BOUNDARY};
use pebble_sim::FileKind;
use serde_json::json;

fn passwd(fx: &Fixture) {
    let etc = fx.root().join("etc");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::write(etc.join("passwd"), "synapse:x:991:991::/srv/synapse:/bin/false\n").expect("passwd");
    std::fs::write(etc.join("group"), "synapse:x:991:\n").expect("group");
}

#[test]
fn push_writes_atomically_with_mode_and_owner() {
    let fx = Fixture::start();
    passwd(&fx);
    let client = fx.client();
    let request = json!({"action": "write", "files": [{"path": "/data/conf/homeserver.yaml", "make-dirs": true, "permissions": "600", "user-id": 991, "group-id": 991}]});
    let result = client.sync(client.push(&request, &[("/data/conf/homeserver.yaml", b"server_name: x\n")]));
    assert_eq!(result, json!([{"path": "/data/conf/homeserver.yaml"}]));
    let host = fx.root().join("data/conf/homeserver.yaml");
    assert_eq!(std::fs::read(&host).expect("written"), b"server_name: x\n");
    assert_eq!(std::fs::metadata(&host).expect("meta").permissions().mode() & 0o777, 0o600);
    let meta = fx.sim.file_meta("/data/conf/homeserver.yaml").expect("meta");
    assert_eq!(meta.kind, FileKind::File);
    assert_eq!((meta.permissions, meta.user_id, meta.group_id), (0o600, 991, 991));
    assert_eq!(meta.user.as_deref(), Some("synapse"));
    assert_eq!(meta.group.as_deref(), Some("synapse"));
    // make-dirs created the parents with 0755 and the same owner.
    let dir = fx.sim.file_meta("/data/conf").expect("dir meta");
    assert_eq!((dir.kind, dir.permissions, dir.user_id), (FileKind::Directory, 0o755, 991));
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(fx.root().join("data/conf"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["homeserver.yaml"]);

    // By name only: the group is the user's primary group; default mode 644.
    let request = json!({"action": "write", "files": [{"path": "/data/named", "user": "synapse"}]});
    client.sync(client.push(&request, &[("/data/named", b"n")]));
    let meta = fx.sim.file_meta("/data/named").expect("meta");
    assert_eq!((meta.permissions, meta.user_id, meta.group_id), (0o644, 991, 991));
}

#[test]
fn push_per_file_errors() {
    let fx = Fixture::start();
    passwd(&fx);
    let client = fx.client();
    let request = json!({"action": "write", "files": [
        {"path": "/missing/dir/f"},
        {"path": "/p", "permissions": "7777"},
        {"path": "/g", "group-id": 5},
        {"path": "/u", "user": "synapse", "user-id": 2},
        {"path": "/x", "user": "nobody-here"},
        {"path": "/nocontent"},
        {"path": "/ok"}
    ]});
    let files: [(&str, &[u8]); 6] =
        [("/missing/dir/f", b"a"), ("/p", b"b"), ("/g", b"c"), ("/u", b"d"), ("/x", b"e"), ("/ok", b"f")];
    let result = client.sync(client.push(&request, &files));
    let error = |i: usize| {
        (
            result[i]["error"]["kind"].as_str().unwrap_or("").to_owned(),
            result[i]["error"]["message"].as_str().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(error(0), ("not-found".into(), "open /missing/dir/f: no such file or directory".into()));
    assert_eq!(
        error(1),
        ("generic-file-error".into(), r#"permissions must be a 3-digit octal string, got "7777""#.into())
    );
    assert_eq!(
        error(2),
        (
            "generic-file-error".into(),
            "cannot look up user and group: must specify user, not just group".into()
        )
    );
    assert_eq!(
        error(3),
        (
            "generic-file-error".into(),
            r#"cannot look up user and group: user "synapse" UID (991) does not match user-id (2)"#.into()
        )
    );
    assert_eq!(
        error(4),
        ("generic-file-error".into(), "cannot look up user and group: user: unknown user nobody-here".into())
    );
    assert_eq!(error(5), ("generic-file-error".into(), r#"no file content for path "/nocontent""#.into()));
    assert_eq!(result[6], json!({"path": "/ok"}));
    assert!(fx.root().join("ok").exists() && !fx.root().join("p").exists());
}

#[test]
fn push_request_level_errors() {
    let fx = Fixture::start();
    let client = fx.client();
    let post = |content_type: &str, body: &[u8]| {
        client
            .error(client.raw("POST", "/v1/files", &[("Content-Type", content_type)], body).expect("request"))
    };
    let short = "multipart/form-data; boundary=short";
    assert_eq!(post(short, b""), (400, r#"invalid boundary "short""#.into(), None));
    let multipart = format!("multipart/form-data; boundary={BOUNDARY}");
    let write = json!({"action": "write", "files": [{"path": "/a"}]});

    let body = push_body(BOUNDARY, &write, &[]);
    let renamed = String::from_utf8(body).expect("utf8").replace("name=\"request\"", "name=\"meta\"");
    assert_eq!(
        post(&multipart, renamed.as_bytes()),
        (400, r#"metadata field name must be "request", got "meta""#.into(), None)
    );

    let body = push_body(BOUNDARY, &json!({"action": "read", "files": [{"path": "/a"}]}), &[]);
    assert_eq!(
        post(&multipart, &body),
        (400, r#"multipart action must be "write", got "read""#.into(), None)
    );
    let body = push_body(BOUNDARY, &json!({"action": "write", "files": []}), &[]);
    assert_eq!(post(&multipart, &body), (400, "must specify one or more files".into(), None));
    let body = push_body(BOUNDARY, &write, &[("/other", b"x")]);
    assert_eq!(post(&multipart, &body), (400, r#"no metadata for path "/other""#.into(), None));
    let body = String::from_utf8(push_body(BOUNDARY, &write, &[("/a", b"x")]))
        .expect("utf8")
        .replace("name=\"files\"", "name=\"file\"");
    assert_eq!(
        post(&multipart, body.as_bytes()),
        (400, r#"field name must be "files", got "file""#.into(), None)
    );

    assert_eq!(post("text/plain", b"x"), (400, r#"invalid media type "text/plain""#.into(), None));
    let json_write = client.post_json("/v1/files", &json!({"action": "write"}));
    assert_eq!(client.error(json_write), (400, r#"must use multipart with "write" action"#.into(), None));
    let other = client.post_json("/v1/files", &json!({"action": "chmod"}));
    assert_eq!(client.error(other), (400, r#"invalid action "chmod""#.into(), None));
}

#[test]
fn pull_returns_files_and_a_response_part() {
    let fx = Fixture::start();
    let client = fx.client();
    std::fs::create_dir(fx.root().join("data")).expect("mkdir");
    std::fs::write(fx.root().join("data/a.yaml"), b"binary\r\n--\x00ok").expect("write");
    let (files, envelope) = client.pull(&["/data/a.yaml", "/data/missing", "/data", "relative"]);
    assert_eq!(files, [("/data/a.yaml".to_owned(), b"binary\r\n--\x00ok".to_vec())]);
    assert_eq!(envelope["type"], "sync");
    assert_eq!(envelope["status-code"], 200);
    let result = &envelope["result"];
    assert_eq!(result[0], json!({"path": "/data/a.yaml"}));
    assert_eq!(
        result[1]["error"],
        json!({"kind": "not-found", "message": "open /data/missing: no such file or directory"})
    );
    assert_eq!(
        result[2]["error"],
        json!({"kind": "generic-file-error", "message": r#"can only read a regular file: "/data""#})
    );
    assert_eq!(
        result[3]["error"],
        json!({"kind": "generic-file-error", "message": r#"paths must be absolute, got "relative""#})
    );

    let no_accept = client.get("/v1/files?action=read&path=/data/a.yaml");
    assert_eq!(client.error(no_accept), (400, "must accept multipart/form-data".into(), None));
    let no_path = client
        .raw("GET", "/v1/files?action=read", &[("Accept", "multipart/form-data")], b"")
        .expect("request");
    assert_eq!(client.error(no_path), (400, "must specify one or more paths".into(), None));
    assert_eq!(
        client.error(client.get("/v1/files?action=peek")),
        (400, r#"invalid action "peek""#.into(), None)
    );
}

#[test]
fn push_then_pull_round_trips_and_overwrites() {
    let fx = Fixture::start();
    let client = fx.client();
    let request = json!({"action": "write", "files": [{"path": "/f"}]});
    client.sync(client.push(&request, &[("/f", b"one")]));
    client.sync(client.push(&request, &[("/f", b"two")]));
    let (files, _) = client.pull(&["/f"]);
    assert_eq!(files[0].1, b"two");
}

#[test]
fn list_directories_files_patterns_and_errors() {
    let fx = Fixture::start();
    let client = fx.client();
    let data = fx.root().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::write(data.join("b.yaml"), b"12345").expect("write");
    std::fs::write(data.join("a.key"), b"k").expect("write");
    std::fs::create_dir(data.join("media")).expect("mkdir");

    let listed = client.sync(client.get("/v1/files?action=list&path=/data"));
    let names: Vec<&str> =
        listed.as_array().expect("list").iter().map(|e| e["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["a.key", "b.yaml", "media"]);
    let b = &listed[1];
    assert_eq!(b["path"], "/data/b.yaml");
    assert_eq!(b["type"], "file");
    assert_eq!(b["size"], 5);
    assert_eq!(b["user-id"], 0);
    assert_eq!(b["user"], "root");
    assert!(b["last-modified"].is_string() && b["permissions"].as_str().expect("perm").len() == 3);
    assert_eq!(listed[2]["type"], "directory");
    assert!(listed[2].get("size").is_none());

    let yaml = client.sync(client.get("/v1/files?action=list&path=/data&pattern=*.yaml"));
    assert_eq!(yaml.as_array().expect("list").len(), 1);
    let itself = client.sync(client.get("/v1/files?action=list&path=/data&itself=true"));
    assert_eq!(itself[0]["name"], "data");
    assert_eq!(itself[0]["type"], "directory");
    let file = client.sync(client.get("/v1/files?action=list&path=/data/a.key"));
    assert_eq!(file[0]["path"], "/data/a.key");
    assert_eq!(client.sync(client.get("/v1/files?action=list&path=/data/media")), json!([]));

    assert_eq!(
        client.error(client.get("/v1/files?action=list&path=/nope")),
        (404, "stat /nope: no such file or directory".into(), Some("not-found".into()))
    );
    assert_eq!(client.error(client.get("/v1/files?action=list")), (400, "must specify path".into(), None));
    assert_eq!(
        client.error(client.get("/v1/files?action=list&path=data")),
        (400, r#"path must be absolute, got "data""#.into(), None)
    );
    assert_eq!(
        client.error(client.get("/v1/files?action=list&path=/data&itself=yes")),
        (400, r#"itself parameter must be "true" or "false""#.into(), None)
    );
}

#[test]
fn make_dirs_and_remove() {
    let fx = Fixture::start();
    passwd(&fx);
    let client = fx.client();
    let made = client.sync(client.post_json(
        "/v1/files",
        &json!({"action": "make-dirs", "dirs": [
            {"path": "/srv/a/b", "make-parents": true, "permissions": "750", "user": "synapse"},
            {"path": "/srv/a"},
            {"path": "/none/x"},
            {"path": "/srv/a/b", "make-parents": true}
        ]}),
    ));
    assert_eq!(made[0], json!({"path": "/srv/a/b"}));
    assert_eq!(
        made[1]["error"],
        json!({"kind": "generic-file-error", "message": "mkdir /srv/a: file exists"})
    );
    assert_eq!(made[2]["error"]["kind"], "not-found");
    assert_eq!(made[3], json!({"path": "/srv/a/b"}));
    let meta = fx.sim.file_meta("/srv/a/b").expect("meta");
    assert_eq!(
        (meta.kind, meta.permissions, meta.user_id, meta.group_id),
        (FileKind::Directory, 0o750, 991, 991)
    );
    assert_eq!(fx.sim.file_meta("/srv").expect("meta").permissions, 0o750);

    std::fs::write(fx.root().join("srv/a/b/f"), b"x").expect("write");
    let removed = client.sync(client.post_json(
        "/v1/files",
        &json!({"action": "remove", "paths": [
            {"path": "/srv/a"},
            {"path": "/gone"},
            {"path": "/gone", "recursive": true},
            {"path": "/srv/a", "recursive": true}
        ]}),
    ));
    assert_eq!(
        removed[0]["error"],
        json!({"kind": "generic-file-error", "message": "remove /srv/a: directory not empty"})
    );
    assert_eq!(
        removed[1]["error"],
        json!({"kind": "not-found", "message": "remove /gone: no such file or directory"})
    );
    assert_eq!(removed[2], json!({"path": "/gone"}));
    assert_eq!(removed[3], json!({"path": "/srv/a"}));
    assert!(!fx.root().join("srv/a").exists());
    assert!(fx.sim.file_meta("/srv/a/b").is_none());
}

#[test]
fn the_files_written_through_the_api_are_known_until_removed_through_it() {
    let fx = Fixture::start();
    let client = fx.client();
    std::fs::create_dir_all(fx.root().join("data")).expect("data");
    std::fs::write(fx.root().join("data/seeded"), b"put there by the test").expect("seed");
    for path in ["/data/a/key", "/data/b"] {
        let request = json!({"action": "write", "files": [{"path": path, "make-dirs": true}]});
        client.sync(client.push(&request, &[(path, b"x")]));
    }
    assert_eq!(fx.sim.written_files(), ["/data/a/key", "/data/b"], "neither the seeded file nor a directory");
    client.sync(client.post_json(
        "/v1/files",
        &json!({"action": "remove", "paths": [{"path": "/data/a", "recursive": true}]}),
    ));
    assert_eq!(fx.sim.written_files(), ["/data/b"]);
}
