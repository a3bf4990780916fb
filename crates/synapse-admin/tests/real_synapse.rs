//! The client against real Synapse (see `harness`): every call, its error mapping, and that no
//! error text carries a secret.

mod harness;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use harness::{Synapse, SERVER_NAME};
use secrecy::ExposeSecret;
use synapse_admin::{generate_password, AdminClient, Error, Registered, SecretString, UserId};
use test_support::{eventually, POLL, TIMEOUT};

fn client(synapse: &Synapse) -> AdminClient {
    AdminClient::new(&synapse.base_url).expect("valid base URL")
}

/// A user id no other test uses, even on a shared Synapse.
fn fresh_user(role: &str) -> UserId {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    UserId::new(&format!("{role}-{}-{n}", std::process::id()), SERVER_NAME).expect("valid user id")
}

fn register(synapse: &Synapse, user: &UserId, admin: bool) -> Registered {
    client(synapse).register(&synapse.shared_secret, user, &generate_password(), admin).expect("registration")
}

fn admin_token(synapse: &Synapse) -> SecretString {
    register(synapse, &fresh_user("admin"), true).access_token
}

#[test]
fn registers_a_user_who_is_not_an_admin() {
    let synapse = Synapse::shared();
    let user = fresh_user("alice");
    let registered = register(synapse, &user, false);
    assert_eq!(registered.user_id, user.as_str());

    let client = client(synapse);
    assert_eq!(client.whoami(&registered.access_token).unwrap(), user.as_str());
    assert!(!client.is_admin_token_valid(&registered.access_token).unwrap());
    let info = client.get_user(&admin_token(synapse), &user).unwrap();
    assert_eq!((info.name.as_str(), info.admin, info.deactivated), (user.as_str(), false, false));
}

#[test]
fn registers_an_admin_whose_token_is_a_valid_admin_token() {
    let synapse = Synapse::shared();
    let user = fresh_user("root");
    let registered = register(synapse, &user, true);

    let client = client(synapse);
    assert!(client.is_admin_token_valid(&registered.access_token).unwrap());
    assert!(client.get_user(&registered.access_token, &user).unwrap().admin);
}

#[test]
fn the_password_given_at_registration_logs_in() {
    let synapse = Synapse::shared();
    let user = fresh_user("bob");
    let password = generate_password();
    client(synapse).register(&synapse.shared_secret, &user, &password, false).unwrap();

    let login = serde_json::json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user.as_str()},
        "password": password.expose_secret(),
    });
    let agent = ureq::Agent::config_builder().proxy(None).http_status_as_error(false).build().new_agent();
    let mut response = agent
        .post(format!("{}/_matrix/client/v3/login", synapse.base_url))
        .content_type("application/json")
        .send(login.to_string())
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_mut().read_to_string().unwrap());
}

#[test]
fn registering_an_existing_user_fails_with_user_exists() {
    let synapse = Synapse::shared();
    let user = fresh_user("carol");
    register(synapse, &user, false);

    let again = client(synapse).register(&synapse.shared_secret, &user, &generate_password(), true);
    assert!(matches!(&again, Err(Error::UserExists { user_id }) if user_id == user.as_str()), "{again:?}");
}

#[test]
fn synapse_refuses_a_leading_underscore_as_an_invalid_username() {
    let synapse = Synapse::shared();
    let user = UserId::new(&format!("_{}", fresh_user("hidden").localpart()), SERVER_NAME).unwrap();

    let result = client(synapse).register(&synapse.shared_secret, &user, &generate_password(), false);
    match result {
        Err(Error::InvalidUsername { username, reason }) => {
            assert_eq!(username, user.localpart());
            assert!(reason.contains("may not begin with _"), "{reason}");
        }
        other => panic!("expected InvalidUsername, got {other:?}"),
    }
}

#[test]
fn a_wrong_shared_secret_is_rejected_without_leaking_any_secret() {
    let synapse = Synapse::shared();
    let wrong_secret = SecretString::from("wrong-shared-secret-value");
    let password = generate_password();

    let result = client(synapse).register(&wrong_secret, &fresh_user("mallory"), &password, true);
    let error = result.expect_err("registration with a wrong secret");
    assert!(matches!(error, Error::SharedSecretRejected), "{error:?}");
    for text in [error.to_string(), format!("{error:?}")] {
        for secret in
            [wrong_secret.expose_secret(), synapse.shared_secret.expose_secret(), password.expose_secret()]
        {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[test]
fn set_admin_promotes_and_demotes() {
    let synapse = Synapse::shared();
    let client = client(synapse);
    let admin = admin_token(synapse);
    let user = fresh_user("dave");
    let registered = register(synapse, &user, false);

    client.set_admin(&admin, &user, true).unwrap();
    assert!(client.get_user(&admin, &user).unwrap().admin);
    assert!(client.is_admin_token_valid(&registered.access_token).unwrap());

    client.set_admin(&admin, &user, false).unwrap();
    assert!(!client.get_user(&admin, &user).unwrap().admin);
    assert!(!client.is_admin_token_valid(&registered.access_token).unwrap());
}

#[test]
fn admin_calls_with_a_non_admin_token_are_forbidden() {
    let synapse = Synapse::shared();
    let user = fresh_user("eve");
    let registered = register(synapse, &user, false);

    let result = client(synapse).set_admin(&registered.access_token, &user, true);
    match result {
        Err(Error::Forbidden { error, .. }) => assert!(error.contains("not a server admin"), "{error}"),
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[test]
fn deactivate_with_erase_anonymizes_and_revokes_the_token() {
    let synapse = Synapse::shared();
    let client = client(synapse);
    let admin = admin_token(synapse);
    let user = fresh_user("frank");
    let registered = register(synapse, &user, false);

    client.deactivate(&admin, &user, true).unwrap();

    let whoami = client.whoami(&registered.access_token);
    assert!(
        matches!(&whoami, Err(Error::Unauthorized { reason }) if reason == "M_UNKNOWN_TOKEN"),
        "{whoami:?}"
    );
    let info = client.get_user(&admin, &user).unwrap();
    assert!(info.deactivated && info.erased, "{info:?}");
}

#[test]
fn calls_about_unknown_users_fail_with_user_not_found() {
    let synapse = Synapse::shared();
    let client = client(synapse);
    let admin = admin_token(synapse);
    let ghost = fresh_user("ghost");

    let results = [
        client.get_user(&admin, &ghost).map(drop),
        client.set_admin(&admin, &ghost, true),
        client.deactivate(&admin, &ghost, true),
    ];
    for result in results {
        assert!(
            matches!(&result, Err(Error::UserNotFound { user_id }) if user_id == ghost.as_str()),
            "{result:?}"
        );
    }
}

#[test]
fn unknown_tokens_are_unauthorized_and_never_echoed() {
    let synapse = Synapse::shared();
    let client = client(synapse);
    let token = SecretString::from("syt_not_a_real_token_value");

    let error = client.whoami(&token).unwrap_err();
    assert!(matches!(&error, Error::Unauthorized { reason } if reason == "M_UNKNOWN_TOKEN"), "{error:?}");
    assert!(!format!("{error} {error:?}").contains(token.expose_secret()));
    assert!(!client.is_admin_token_valid(&token).unwrap());

    let error = client.get_user(&token, &fresh_user("anyone")).unwrap_err();
    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
}

#[test]
fn server_version_is_the_installed_synapse() {
    let synapse = Synapse::shared();
    let installed = Command::new(harness::synapse_python())
        .args(["-c", "import synapse; print(synapse.__version__)"])
        .output()
        .unwrap();
    assert!(installed.status.success());
    let installed = String::from_utf8(installed.stdout).unwrap();

    assert_eq!(client(synapse).server_version().unwrap(), installed.trim());
}

#[test]
fn a_stopped_synapse_is_unavailable_and_leaves_nothing_behind() {
    let synapse = Synapse::start();
    eprintln!("Synapse started in {:?}", synapse.start_time);
    let client = client(&synapse);
    client.server_version().unwrap();

    synapse.stop();
    assert!(!process_alive(synapse.pid(), synapse.dir()));
    assert!(!synapse.dir().exists());
    let error = client.server_version().unwrap_err();
    assert!(
        matches!(&error, Error::SynapseUnavailable { url, .. } if url.starts_with(&synapse.base_url)),
        "{error:?}"
    );
}

/// Run in a child process by `synapse_does_not_outlive_the_test_process`.
#[test]
#[ignore = "helper: run by synapse_does_not_outlive_the_test_process"]
fn child_starts_the_shared_synapse() {
    let synapse = Synapse::shared();
    println!("SYNAPSE {} {}", synapse.pid(), synapse.dir().display());
    if std::env::var_os("HARNESS_CHILD_HANG").is_some() {
        loop {
            std::thread::park();
        }
    }
    // The parent looks at the Synapse first, then closes stdin to let this process end.
    std::io::copy(&mut std::io::stdin(), &mut std::io::sink()).expect("read stdin to its end");
}

#[test]
fn synapse_does_not_outlive_the_test_process() {
    for hang in [false, true] {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--ignored", "--exact", "child_starts_the_shared_synapse", "--nocapture"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if hang {
            command.env("HARNESS_CHILD_HANG", "1");
        }
        let mut child = command.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines().map(Result::unwrap);
        let line = stdout.find(|line| line.starts_with("SYNAPSE ")).expect("the child reports its Synapse");
        // Keep reading so that the child's later output does not hit a closed pipe.
        let drain = std::thread::spawn(move || stdout.for_each(drop));
        let mut fields = line.split(' ').skip(1);
        let pid: u32 = fields.next().unwrap().parse().unwrap();
        let dir = std::path::PathBuf::from(fields.next().unwrap());
        assert!(process_alive(pid, &dir));

        drop(child.stdin.take());
        if hang {
            // SIGKILL: no atexit, no destructors; only the kernel's parent-death signal is left.
            child.kill().unwrap();
        }
        assert_eq!(child.wait().unwrap().success(), !hang);
        drain.join().unwrap();
        let what = format!("Synapse {pid} to end with the test process (hang: {hang})");
        eventually(&what, TIMEOUT, POLL, || !process_alive(pid, &dir));
        if hang {
            // Killed processes cannot clean up; the dir is removed here instead.
            std::fs::remove_dir_all(&dir).unwrap();
        } else {
            assert!(!dir.exists(), "atexit cleanup left {}", dir.display());
        }
    }
}

/// Whether process `pid` is alive and is the Synapse whose files are in `dir` (a zombie has an
/// empty command line, and a reused pid a different one).
fn process_alive(pid: u32, dir: &std::path::Path) -> bool {
    let config = dir.join("homeserver.yaml");
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| cmdline.split(|b| *b == 0).any(|arg| arg == config.as_os_str().as_encoded_bytes()))
        .unwrap_or(false)
}
