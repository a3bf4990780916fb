//! The file API against the simulated Pebble.

mod common;

use pebble::{Error, FileToPush, FileType, MakeDirOptions, PushOptions};

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
    let path = |p: &str| fixture.path(p);
    // Every byte value, multipart-looking lines, and enough data for several socket reads.
    let mut content: Vec<u8> = (0..=255u8).collect();
    content.extend_from_slice(b"\r\n--boundary\r\nContent-Disposition: form-data\r\n\r\n--");
    content = content.repeat(4096);
    let options = PushOptions { make_dirs: true, ..PushOptions::default() };
    client.push(&path("/data/blob.bin"), &content, &options).unwrap();
    assert_eq!(client.pull(&path("/data/blob.bin")).unwrap(), content);
    assert_eq!(std::fs::read(fixture.host_path("/data/blob.bin")).unwrap(), content);

    client.push(&path("/data/empty"), b"", &PushOptions::default()).unwrap();
    assert!(client.pull(&path("/data/empty")).unwrap().is_empty());
}

#[test]
fn push_applies_modes_and_owners() {
    // Owners other than the test's own need root with a real Pebble (as in a container).
    let fixture = common::start();
    let client = &fixture.client;
    let file = fixture.path("/data/conf/homeserver.yaml");
    let options = PushOptions {
        make_dirs: true,
        permissions: Some(0o600),
        user_id: Some(991),
        group_id: Some(991),
        ..PushOptions::default()
    };
    client.push(&file, b"server_name: example.com\n", &options).unwrap();
    let entries = client.list_files(&file, None, true).unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.file_type, FileType::File);
    assert_eq!(entry.permissions, 0o600);
    assert_eq!(entry.size, Some(25));
    assert_eq!(entry.name, "homeserver.yaml");
    assert_eq!(entry.user_id, Some(991));
    assert_eq!(entry.group_id, Some(991));
    if let Some(sim) = fixture.sim() {
        let meta = sim.file_meta("/data/conf/homeserver.yaml").unwrap();
        assert_eq!(meta.user_id, 991);
        assert_eq!(meta.group_id, 991);
    }

    // Overwriting with default options gives Pebble's default mode.
    client.push(&file, b"x", &PushOptions::default()).unwrap();
    let entry = &client.list_files(&file, None, true).unwrap()[0];
    assert_eq!(entry.permissions, 0o644);
}

#[test]
fn push_all_writes_every_file_in_one_request_each_with_its_options() {
    let fixture = common::start();
    let client = &fixture.client;
    let (key, config, empty) =
        (fixture.path("/data/keys/signing.key"), fixture.path("/data/log.yaml"), fixture.path("/data/empty"));
    let private = PushOptions { make_dirs: true, permissions: Some(0o600), ..PushOptions::default() };
    let public = PushOptions { make_dirs: true, ..PushOptions::default() };
    let files = [
        FileToPush { path: &key, content: b"ed25519 a_key seed\n", options: &private },
        FileToPush { path: &config, content: b"version: 1\n", options: &public },
        FileToPush { path: &empty, content: b"", options: &public },
    ];
    client.push_all(&files).unwrap();
    for file in &files {
        assert_eq!(client.pull(file.path).unwrap(), file.content, "{}", file.path);
        let mode = client.list_files(file.path, None, true).unwrap()[0].permissions;
        assert_eq!(mode, file.options.permissions.unwrap_or(0o644), "{}", file.path);
    }
    if let Some(sim) = fixture.sim() {
        let requests = sim.requests();
        let writes =
            requests.iter().filter(|r| r.method == "POST" && r.path.starts_with("/v1/files")).count();
        assert_eq!(writes, 1, "{requests:?}");
    }

    // A file that cannot be written is named; the others are written all the same.
    let (missing, other) = (fixture.path("/missing/dir/file"), fixture.path("/data/other"));
    let no_dirs = PushOptions::default();
    let files = [
        FileToPush { path: &other, content: b"o", options: &no_dirs },
        FileToPush { path: &missing, content: b"m", options: &no_dirs },
    ];
    let (reported, kind, _) = path_error(client.push_all(&files));
    assert_eq!((reported.as_str(), kind.as_str()), (missing.as_str(), "not-found"));
    assert_eq!(client.pull(&other).unwrap(), b"o");
    client.push_all(&[]).unwrap();
}

#[test]
fn remove_all_present_removes_in_one_request_and_accepts_missing_paths() {
    let fixture = common::start();
    let client = &fixture.client;
    let options = PushOptions { make_dirs: true, ..PushOptions::default() };
    let (a, b, dir) = (fixture.path("/data/a"), fixture.path("/data/b"), fixture.path("/data/dir"));
    client.push(&a, b"a", &options).unwrap();
    client.push(&b, b"b", &options).unwrap();
    client.push(&format!("{dir}/inner"), b"i", &options).unwrap();
    let before = fixture.sim().map(|sim| sim.requests().len());
    let missing = fixture.path("/data/missing");
    // The non-empty directory is named; the files around it are removed all the same.
    let error = client.remove_all_present(&[&a, &missing, &dir, &b]).unwrap_err();
    assert_eq!(path_error(Err::<(), _>(error)).0, dir);
    if let (Some(sim), Some(before)) = (fixture.sim(), before) {
        assert_eq!(sim.requests().len(), before + 1);
    }
    assert!(client.pull(&a).unwrap_err().is_not_found());
    assert!(client.pull(&b).unwrap_err().is_not_found());
    client.remove_all_present(&[&missing]).unwrap();
    client.remove_all_present(&[]).unwrap();
}

#[test]
fn file_errors_are_path_errors() {
    let fixture = common::start();
    let client = &fixture.client;
    let path = |p: &str| fixture.path(p);
    let missing = path("/missing/dir/file");
    let (reported, kind, _) = path_error(client.push(&missing, b"x", &PushOptions::default()));
    assert_eq!((reported.as_str(), kind.as_str()), (missing.as_str(), "not-found"));

    let (_, kind, message) = path_error(client.pull(&path("/nope")));
    assert_eq!(kind, "not-found");
    assert!(message.contains("no such file or directory"), "{message}");
    assert!(client.pull(&path("/nope")).unwrap_err().is_not_found());

    client.make_dir(&path("/data"), &MakeDirOptions::default()).unwrap();
    let (_, kind, message) = path_error(client.pull(&path("/data")));
    assert_eq!(kind, "generic-file-error");
    assert_eq!(message, format!("can only read a regular file: {:?}", path("/data")));

    let (_, kind, _) = path_error(client.list_files(&path("/nope"), None, false));
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
    let path = |p: &str| fixture.path(p);
    let make_dirs = PushOptions { make_dirs: true, ..PushOptions::default() };
    for name in ["a.yaml", "b.yaml", "c.txt"] {
        client.push(&path(&format!("/etc/app/{name}")), name.as_bytes(), &make_dirs).unwrap();
    }
    client.make_dir(&path("/etc/app/sub"), &MakeDirOptions::default()).unwrap();

    let mut names: Vec<String> = client
        .list_files(&path("/etc/app"), None, false)
        .unwrap()
        .into_iter()
        .map(|entry| entry.name)
        .collect();
    names.sort();
    assert_eq!(names, ["a.yaml", "b.yaml", "c.txt", "sub"]);

    let mut yaml: Vec<String> = client
        .list_files(&path("/etc/app"), Some("*.yaml"), false)
        .unwrap()
        .into_iter()
        .map(|entry| entry.path)
        .collect();
    yaml.sort();
    assert_eq!(yaml, [path("/etc/app/a.yaml"), path("/etc/app/b.yaml")]);

    let itself = client.list_files(&path("/etc/app"), None, true).unwrap();
    assert_eq!(itself.len(), 1);
    assert_eq!(itself[0].file_type, FileType::Directory);
    assert!(client.list_files(&path("/etc/app/sub"), None, false).unwrap().is_empty());

    assert!(client.exists(&path("/etc/app/a.yaml")).unwrap());
    assert!(!client.exists(&path("/etc/app/z.yaml")).unwrap());
    assert!(client.is_dir(&path("/etc/app/sub")).unwrap());
    assert!(!client.is_dir(&path("/etc/app/a.yaml")).unwrap());
    assert!(!client.is_dir(&path("/etc/nope")).unwrap());
}

#[test]
fn make_dir_and_remove_path_follow_pebble_rules() {
    let fixture = common::start();
    let client = &fixture.client;
    let path = |p: &str| fixture.path(p);
    let (_, kind, _) = path_error(client.make_dir(&path("/a/b/c"), &MakeDirOptions::default()));
    assert_eq!(kind, "not-found");

    let parents = MakeDirOptions {
        make_parents: true,
        permissions: Some(0o750),
        user_id: Some(991),
        group_id: Some(991),
        ..MakeDirOptions::default()
    };
    client.make_dir(&path("/a/b/c"), &parents).unwrap();
    client.make_dir(&path("/a/b/c"), &parents).unwrap();
    let entry = &client.list_files(&path("/a/b/c"), None, true).unwrap()[0];
    assert_eq!(entry.permissions, 0o750);
    assert_eq!(entry.user_id, Some(991));
    if let Some(sim) = fixture.sim() {
        assert_eq!(sim.file_meta("/a/b/c").unwrap().user_id, 991);
    }
    let (_, kind, _) = path_error(client.make_dir(&path("/a/b/c"), &MakeDirOptions::default()));
    assert_eq!(kind, "generic-file-error");

    let (_, kind, _) = path_error(client.remove_path(&path("/a"), false));
    assert_eq!(kind, "generic-file-error", "a non-empty directory needs recursive");
    let (_, kind, _) = path_error(client.remove_path(&path("/nope"), false));
    assert_eq!(kind, "not-found");
    client.remove_path(&path("/nope"), true).unwrap();
    client.remove_path(&path("/a"), true).unwrap();
    assert!(!client.exists(&path("/a")).unwrap());
    assert!(!fixture.host_path("/a").exists());
}
