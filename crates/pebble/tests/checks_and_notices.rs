//! Checks, health and notices (against the run's Pebble, see `common`).

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use pebble::{Check, CheckLevel, CheckStatus, Error, NoticeType, NoticesQuery, Override, Startup, TcpCheck};
use pebble_sim::CheckMode;
use test_support::{eventually, POLL, TIMEOUT};

#[test]
fn checks_and_health_follow_what_they_probe() {
    // pebble-sim probes checks for real here, as Pebble does, so the run's Pebble and the
    // simulator see the same: up while this test listens on the port, down after.
    let fixture = common::start_with(|config| config.checks = CheckMode::Probe);
    let client = &fixture.client;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut layer = common::layer(&[("web", common::LONG_RUNNING, Startup::Enabled)]);
    layer.checks.insert(
        "web-up".into(),
        Check {
            override_: Override::Replace,
            level: Some(CheckLevel::Ready),
            period: Some("100ms".into()),
            timeout: Some("50ms".into()),
            threshold: Some(1),
            tcp: Some(TcpCheck { port: Some(port), host: Some("127.0.0.1".into()) }),
            ..Check::default()
        },
    );
    client.add_layer("base", &layer, false).unwrap();
    client.replan().unwrap();

    eventually("a successful probe", TIMEOUT, POLL, || client.checks(None, &[]).unwrap()[0].successes > 0);
    let checks = client.checks(Some(CheckLevel::Ready), &["web-up"]).unwrap();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].name, "web-up");
    assert_eq!(checks[0].status, CheckStatus::Up);
    assert_eq!(checks[0].level, Some(CheckLevel::Ready));
    assert_eq!(checks[0].threshold, 1);
    assert!(client.checks(Some(CheckLevel::Alive), &[]).unwrap().is_empty());
    assert!(client.health(None, &[]).unwrap());

    assert_eq!(client.stop_checks(&["web-up"]).unwrap(), ["web-up"]);
    // Nothing to stop: Pebble answers `{"changed": null}`.
    assert!(client.stop_checks(&["web-up"]).unwrap().is_empty(), "already stopped");
    assert_eq!(client.checks(None, &["web-up"]).unwrap()[0].status, CheckStatus::Inactive);
    assert_eq!(client.start_checks(&["web-up"]).unwrap(), ["web-up"]);
    assert!(client.start_checks(&["web-up"]).unwrap().is_empty(), "already running");
    match client.start_checks(&[]) {
        Err(Error::Api { status_code: 400, message, .. }) => {
            assert_eq!(message, "must specify checks for start action")
        }
        other => panic!("expected a 400, got {other:?}"),
    }

    drop(listener);
    eventually("the check to be down", TIMEOUT, POLL, || {
        client.checks(None, &["web-up"]).unwrap()[0].status == CheckStatus::Down
    });
    assert!(!client.health(Some(CheckLevel::Ready), &[]).unwrap());
}

#[test]
fn custom_notices_round_trip() {
    let fixture = common::start();
    let client = &fixture.client;
    let data = BTreeMap::from([("reason".to_owned(), "config".to_owned())]);
    let id = client.notify("example.com/synapse/reload", &data, Some(Duration::from_secs(3600))).unwrap();
    let notice = client.notice(&id).unwrap();
    assert_eq!(notice.notice_type, NoticeType::Custom);
    assert_eq!(notice.key, "example.com/synapse/reload");
    assert_eq!(notice.last_data, data);
    assert_eq!(notice.occurrences, 1);

    let again = client.notify("example.com/synapse/reload", &BTreeMap::new(), None).unwrap();
    assert_eq!(again, id, "the same key is the same notice");
    let query = NoticesQuery {
        types: vec![NoticeType::Custom],
        keys: vec!["example.com/synapse/reload".into()],
        ..NoticesQuery::default()
    };
    let notices = client.notices(&query).unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].occurrences, 2);

    match client.notify("NotAKey", &BTreeMap::new(), None) {
        Err(Error::Api { status_code: 400, message, .. }) => {
            assert_eq!(message, r#"invalid key "NotAKey" (must be in "example.com/path" format)"#)
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    assert!(matches!(client.notice("999999"), Err(Error::Api { status_code: 404, .. })));
}
