//! The file API against the simulated Pebble.

mod common;

use pebble::{Error, FileType, MakeDirOptions, PushOptions};

fn path_error(result: Result<impl std::fmt::Debug, Error>) -> (String, String, String) {
    match result {
        Err(Error::Path { path, kind, message }) => (path, kind, message),
        other => panic!("expected a path error, got {other:?}"),
    }
}

#[test]
fn pushed_bytes_pull_back_unchanged() {
    let fixture = common::start();
    let client = &fixture.client;
    // Every byte value, multipart-looking lines, and enough data for several socket reads.
    let mut content: Vec<u8> = (0..=255u8).collect();
    content.extend_from_slice(b"\r\n--boundary\r\nContent-Disposition: form-data\r\n\r\n--");
    content = content.repeat(4096);
    let options = PushOptions { make_dirs: true, ..PushOptions::default() };
    client.push("/data/blob.bin", &content, &options).unwrap();
    assert_eq!(client.pull("/data/blob.bin").unwrap(), content);
    assert_eq!(std::fs::read(fixture.dir.path().join("root/data/blob.bin")).unwrap(), content);

    client.push("/data/empty", b"", &PushOptions::default()).unwrap();
    assert!(client.pull("/data/empty").unwrap().is_empty());
}

#[test]
fn push_applies_modes_and_owners() {
    let fixture = common::start();
    let client = &fixture.client;
    let options = PushOptions {
        make_dirs: true,
        permissions: Some(0o600),
        user_id: Some(991),
        group_id: Some(991),
        ..PushOptions::default()
    };
    client.push("/data/conf/homeserver.yaml", b"server_name: example.com\n", &options).unwrap();
    let entries = client.list_files("/data/conf/homeserver.yaml", None, true).unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.file_type, FileType::File);
    assert_eq!(entry.permissions, 0o600);
    assert_eq!(entry.size, Some(25));
    assert_eq!(entry.name, "homeserver.yaml");
    assert_eq!(entry.user_id, Some(991));
    assert_eq!(entry.group_id, Some(991));
    let meta = fixture.sim.file_meta("/data/conf/homeserver.yaml").unwrap();
    assert_eq!(meta.user_id, 991);
    assert_eq!(meta.group_id, 991);

    // Overwriting with default options gives Pebble's default mode.
    client.push("/data/conf/homeserver.yaml", b"x", &PushOptions::default()).unwrap();
    let entry = &client.list_files("/data/conf/homeserver.yaml", None, true).unwrap()[0];
    assert_eq!(entry.permissions, 0o644);
}

#[test]
fn file_errors_are_path_errors() {
    let fixture = common::start();
    let client = &fixture.client;
    let (path, kind, _) = path_error(client.push("/missing/dir/file", b"x", &PushOptions::default()));
    assert_eq!((path.as_str(), kind.as_str()), ("/missing/dir/file", "not-found"));

    let (_, kind, message) = path_error(client.pull("/nope"));
    assert_eq!(kind, "not-found");
    assert!(message.contains("no such file or directory"), "{message}");
    assert!(client.pull("/nope").unwrap_err().is_not_found());

    client.make_dir("/data", &MakeDirOptions::default()).unwrap();
    let (_, kind, message) = path_error(client.pull("/data"));
    assert_eq!(kind, "generic-file-error");
    assert_eq!(message, r#"can only read a regular file: "/data""#);

    let (_, kind, _) = path_error(client.list_files("/nope", None, false));
    assert_eq!(kind, "not-found");

    match client.list_files("relative", None, false) {
        Err(Error::Api { status_code: 400, message, .. }) => {
            assert_eq!(message, r#"path must be absolute, got "relative""#)
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn listing_filters_by_pattern_and_itself() {
    let fixture = common::start();
    let client = &fixture.client;
    let make_dirs = PushOptions { make_dirs: true, ..PushOptions::default() };
    for name in ["a.yaml", "b.yaml", "c.txt"] {
        client.push(&format!("/etc/app/{name}"), name.as_bytes(), &make_dirs).unwrap();
    }
    client.make_dir("/etc/app/sub", &MakeDirOptions::default()).unwrap();

    let mut names: Vec<String> =
        client.list_files("/etc/app", None, false).unwrap().into_iter().map(|entry| entry.name).collect();
    names.sort();
    assert_eq!(names, ["a.yaml", "b.yaml", "c.txt", "sub"]);

    let mut yaml: Vec<String> = client
        .list_files("/etc/app", Some("*.yaml"), false)
        .unwrap()
        .into_iter()
        .map(|entry| entry.path)
        .collect();
    yaml.sort();
    assert_eq!(yaml, ["/etc/app/a.yaml", "/etc/app/b.yaml"]);

    let itself = client.list_files("/etc/app", None, true).unwrap();
    assert_eq!(itself.len(), 1);
    assert_eq!(itself[0].file_type, FileType::Directory);
    assert!(client.list_files("/etc/app/sub", None, false).unwrap().is_empty());

    assert!(client.exists("/etc/app/a.yaml").unwrap());
    assert!(!client.exists("/etc/app/z.yaml").unwrap());
    assert!(client.is_dir("/etc/app/sub").unwrap());
    assert!(!client.is_dir("/etc/app/a.yaml").unwrap());
    assert!(!client.is_dir("/etc/nope").unwrap());
}

#[test]
fn make_dir_and_remove_path_follow_pebble_rules() {
    let fixture = common::start();
    let client = &fixture.client;
    let (_, kind, _) = path_error(client.make_dir("/a/b/c", &MakeDirOptions::default()));
    assert_eq!(kind, "not-found");

    let parents = MakeDirOptions {
        make_parents: true,
        permissions: Some(0o750),
        user_id: Some(991),
        group_id: Some(991),
        ..MakeDirOptions::default()
    };
    client.make_dir("/a/b/c", &parents).unwrap();
    client.make_dir("/a/b/c", &parents).unwrap();
    let entry = &client.list_files("/a/b/c", None, true).unwrap()[0];
    assert_eq!(entry.permissions, 0o750);
    assert_eq!(fixture.sim.file_meta("/a/b/c").unwrap().user_id, 991);
    let (_, kind, _) = path_error(client.make_dir("/a/b/c", &MakeDirOptions::default()));
    assert_eq!(kind, "generic-file-error");

    let (_, kind, _) = path_error(client.remove_path("/a", false));
    assert_eq!(kind, "generic-file-error", "a non-empty directory needs recursive");
    let (_, kind, _) = path_error(client.remove_path("/nope", false));
    assert_eq!(kind, "not-found");
    client.remove_path("/nope", true).unwrap();
    client.remove_path("/a", true).unwrap();
    assert!(!client.exists("/a").unwrap());
    assert!(!fixture.dir.path().join("root/a").exists());
}
