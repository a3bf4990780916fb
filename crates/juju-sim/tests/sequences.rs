//! Event sequences and follow-up events, with shell charms recording what they saw.

mod common;

use std::collections::BTreeMap;

use common::{sim, ShellCharm};
use juju_sim::model::Bag;
use juju_sim::{AppSpec, Event, HookRun, SimError};

/// Logs every hook with the relation environment it got.
const RECORDER: &str = r#"juju-log "$HOOK remote=${JUJU_REMOTE_UNIT-unset} app=${JUJU_REMOTE_APP-unset} departing=${JUJU_DEPARTING_UNIT-unset}""#;

fn hooks(runs: &[HookRun]) -> Vec<String> {
    runs.iter().filter(|run| !run.skipped).map(|run| format!("{} {}", run.unit, run.hook)).collect()
}

fn hooks_of(runs: &[HookRun], unit: &str) -> Vec<String> {
    runs.iter().filter(|run| run.unit == unit && !run.skipped).map(|run| run.hook.clone()).collect()
}

fn log_lines(sim: &juju_sim::Simulator, unit: &str) -> Vec<String> {
    sim.logs(unit).map(|record| record.message.clone()).collect()
}

fn db_charm(name: &str, body: &str) -> ShellCharm {
    ShellCharm::new(&format!(
        "name: {name}\nrequires:\n  db: {{interface: pg}}\npeers:\n  peer: {{interface: {name}-peers}}\ncontainers:\n  app: {{}}\nstorage:\n  data: {{type: filesystem}}\n"
    ))
    .dispatch(&format!("{RECORDER}\n{body}"))
}

fn pg_charm(body: &str) -> ShellCharm {
    ShellCharm::new("name: pg\nprovides:\n  db: {interface: pg}\n").dispatch(&format!("{RECORDER}\n{body}"))
}

#[test]
fn deploy_order_matches_juju() {
    let charm = db_charm("web", "");
    let mut sim = sim();
    let runs = sim.deploy(AppSpec::charm("web", charm.path()).units(2)).unwrap();
    assert_eq!(
        hooks_of(&runs, "web/0"),
        [
            "install",
            "peer-relation-created",
            "leader-elected",
            "config-changed",
            "start",
            "data-storage-attached",
            "peer-relation-joined",
            "peer-relation-changed",
            "app-pebble-ready",
        ]
    );
    assert_eq!(hooks_of(&runs, "web/1")[2], "leader-settings-changed");
    assert!(log_lines(&sim, "web/0")
        .contains(&"peer:0: peer-relation-joined remote=web/1 app=web departing=unset".to_owned()));
}

#[test]
fn single_unit_peer_relation_is_created_but_never_joined() {
    let charm = db_charm("solo", "");
    let mut sim = sim();
    let runs = sim.deploy(AppSpec::charm("solo", charm.path())).unwrap();
    let names = hooks_of(&runs, "solo/0");
    assert!(names.contains(&"peer-relation-created".to_owned()));
    assert!(!names.iter().any(|hook| hook.contains("joined") || hook.contains("relation-changed")));
}

#[test]
fn integrate_then_data_changes_fire_relation_changed_on_the_other_side() {
    // pg's leader publishes app data and each unit its own bag when the relation is created;
    // web logs what it reads.
    let pg = pg_charm(
        r#"case "$HOOK" in
  db-relation-created)
    relation-set "host=$JUJU_UNIT_NAME"
    if [ "$(is-leader)" = True ]; then relation-set --app version=14; fi ;;
esac"#,
    );
    let web = db_charm(
        "web",
        r#"case "$HOOK" in
  db-relation-changed)
    juju-log "read app=$(relation-get --app version) unit=$(relation-get host "${JUJU_REMOTE_UNIT:-pg/0}")" ;;
esac"#,
    );
    let mut sim = sim();
    sim.deploy(AppSpec::charm("pg", pg.path()).units(2)).unwrap();
    sim.deploy(AppSpec::charm("web", web.path())).unwrap();
    let (id, runs) = sim.integrate("web:db", "pg:db").unwrap();
    let created: Vec<String> = hooks(&runs).into_iter().filter(|h| h.contains("created")).collect();
    assert_eq!(
        created,
        ["web/0 db-relation-created", "pg/0 db-relation-created", "pg/1 db-relation-created"]
    );
    let web_hooks = hooks_of(&runs, "web/0");
    let joined = web_hooks.iter().position(|h| h == "db-relation-joined").unwrap();
    assert_eq!(web_hooks[joined + 1], "db-relation-changed", "changed follows joined");
    let logs = log_lines(&sim, "web/0");
    assert!(
        logs.contains(&format!("db:{id}: db-relation-changed remote= app=pg departing=unset")),
        "{logs:#?}"
    );
    assert!(logs.contains(&format!("db:{id}: read app=14 unit=pg/0")));
    assert!(logs.contains(&format!("db:{id}: db-relation-changed remote=pg/1 app=pg departing=unset")));
    // pg never hears about its own writes.
    assert!(!log_lines(&sim, "pg/0").iter().any(|l| l.contains("db-relation-changed remote=pg/")));
    assert_eq!(sim.relation_data(id, &Bag::Unit("pg/1".into())).unwrap()["host"], "pg/1");
}

#[test]
fn peer_app_data_reaches_peers_but_not_the_leader() {
    let charm = db_charm(
        "web",
        r#"case "$HOOK" in
  leader-elected) relation-set -r "$(relation-ids peer)" --app leader="$JUJU_UNIT_NAME" ;;
esac"#,
    );
    let mut sim = sim();
    sim.deploy(AppSpec::charm("web", charm.path()).units(3)).unwrap();
    let runs = sim.set_leader("web/2").unwrap();
    let changed: Vec<String> =
        hooks(&runs).into_iter().filter(|h| h.ends_with("peer-relation-changed")).collect();
    assert_eq!(changed, ["web/0 peer-relation-changed", "web/1 peer-relation-changed"]);
    let peer = sim.relation_id("web:peer", "web:peer").unwrap();
    assert_eq!(sim.relation_data(peer, &Bag::App("web".into())).unwrap()["leader"], "web/2");
}

#[test]
fn failing_hooks_discard_changes_and_resolve_restores() {
    let charm = ShellCharm::new("name: flaky\nrequires:\n  db: {interface: pg}\n").dispatch(
        r#"if [ "$HOOK" = config-changed ]; then
  state-set tried=yes
  open-port 80
  status-set active written-before-failure
  juju-log "about to fail"
  if [ "$(config-get fail)" = True ]; then exit 3; fi
fi"#,
    );
    std::fs::write(charm.path().join("config.yaml"), "options:\n  fail: {type: boolean, default: true}\n")
        .unwrap();
    let mut sim = sim();
    let error = sim.deploy(AppSpec::charm("flaky", charm.path())).unwrap_err();
    let SimError::HookFailed(run) = error else { panic!("expected a hook failure") };
    assert_eq!((run.hook.as_str(), run.exit_code, run.committed), ("config-changed", 3, false));
    assert!(sim.state("flaky/0").unwrap().is_empty(), "state-set discarded");
    assert!(sim.ports("flaky/0").unwrap().is_empty(), "open-port discarded");
    assert!(sim.logs("flaky/0").any(|l| l.message == "about to fail"), "logs are immediate");
    let status = sim.unit_status("flaky/0").unwrap();
    assert_eq!(
        (status.status.as_str(), status.message.as_str()),
        ("error", "hook failed: \"config-changed\"")
    );
    assert!(matches!(sim.run_until_quiet(), Err(SimError::HookFailed(_))), "retried like Juju");
    // Fixing the config lets the retry succeed and commit.
    sim.model_mut().app_mut("flaky").unwrap().config.insert("fail".into(), false.into());
    sim.run_until_quiet().unwrap();
    assert_eq!(sim.state("flaky/0").unwrap()["tried"], "yes");
    assert_eq!(sim.ports("flaky/0").unwrap()[0].to_string(), "80/tcp");
    assert_eq!(sim.unit_status("flaky/0").unwrap().message, "written-before-failure");
}

#[test]
fn resolve_drops_the_failed_event() {
    let charm = ShellCharm::new("name: broken\n")
        .dispatch("[ \"$HOOK\" != install ] || exit 1\nstatus-set active fine");
    let mut sim = sim();
    assert!(sim.deploy(AppSpec::charm("broken", charm.path())).is_err());
    sim.resolve("broken/0").unwrap();
    let runs = sim.run_until_quiet().unwrap();
    assert_eq!(hooks_of(&runs, "broken/0")[0], "leader-elected");
    assert_eq!(sim.unit_status("broken/0").unwrap().message, "fine");
}

#[test]
fn scale_up_and_down_follow_juju() {
    let pg = pg_charm("");
    let web = db_charm("web", "");
    let mut sim = sim();
    sim.deploy(AppSpec::charm("pg", pg.path())).unwrap();
    sim.deploy(AppSpec::charm("web", web.path())).unwrap();
    let (db, _) = sim.integrate("web:db", "pg:db").unwrap();
    let (new_unit, runs) = sim.add_unit("pg").unwrap();
    assert_eq!(new_unit, "pg/1");
    let new_hooks = hooks_of(&runs, "pg/1");
    assert_eq!(&new_hooks[..2], ["install", "db-relation-created"]);
    assert!(new_hooks.contains(&"db-relation-joined".to_owned()));
    assert_eq!(hooks_of(&runs, "web/0"), ["db-relation-joined", "db-relation-changed"]);
    assert!(log_lines(&sim, "web/0")
        .contains(&format!("db:{db}: db-relation-joined remote=pg/1 app=pg departing=unset")));

    let runs = sim.remove_unit("pg/1").unwrap();
    assert_eq!(hooks_of(&runs, "web/0"), ["db-relation-departed"]);
    assert_eq!(hooks_of(&runs, "pg/1"), ["stop", "db-relation-departed", "db-relation-broken", "remove"]);
    assert!(log_lines(&sim, "web/0")
        .contains(&format!("db:{db}: db-relation-departed remote=pg/1 app=pg departing=pg/1")));
    assert!(log_lines(&sim, "pg/1")
        .contains(&format!("db:{db}: db-relation-departed remote=web/0 app=web departing=pg/1")));
    assert!(sim.unit("pg/1").is_err());
    // Departed units' settings stay readable for the relation's lifetime.
    assert!(sim.relation_data(db, &Bag::Unit("pg/1".into())).unwrap().contains_key("private-address"));
}

#[test]
fn removing_the_leader_elects_a_new_one() {
    let web = db_charm("web", "");
    let mut sim = sim();
    sim.deploy(AppSpec::charm("web", web.path()).units(2)).unwrap();
    let runs = sim.remove_unit("web/0").unwrap();
    assert_eq!(sim.app("web").unwrap().leader.as_deref(), Some("web/1"));
    assert!(hooks_of(&runs, "web/1").contains(&"leader-elected".to_owned()));
    assert!(hooks_of(&runs, "web/1").contains(&"peer-relation-departed".to_owned()));
    assert!(!hooks_of(&runs, "web/0").contains(&"peer-relation-broken".to_owned()), "peers never break");
}

#[test]
fn remove_relation_departs_then_breaks_and_drops_grants() {
    let pg = pg_charm(
        r#"if [ "$HOOK" = db-relation-created ] && [ "$(is-leader)" = True ]; then
  uri=$(secret-add --label creds password=s3cret)
  secret-grant "$uri" -r "$JUJU_RELATION_ID"
  relation-set --app "secret=$uri"
fi"#,
    );
    let web = db_charm(
        "web",
        r#"case "$HOOK" in
  db-relation-broken) juju-log "broken ids=[$(relation-ids db)] list=[$(relation-list)]" ;;
esac"#,
    );
    let mut sim = sim();
    sim.deploy(AppSpec::charm("pg", pg.path())).unwrap();
    sim.deploy(AppSpec::charm("web", web.path()).units(2)).unwrap();
    let (db, _) = sim.integrate("web:db", "pg:db").unwrap();
    let uri = sim.relation_data(db, &Bag::App("pg".into())).unwrap()["secret"].clone();
    assert_eq!(sim.secret(&uri).unwrap().grants.len(), 1);
    let runs = sim.remove_relation(db).unwrap();
    assert_eq!(hooks_of(&runs, "web/0"), ["db-relation-departed", "db-relation-broken"]);
    assert_eq!(
        hooks_of(&runs, "pg/0"),
        ["db-relation-departed", "db-relation-departed", "db-relation-broken"]
    );
    assert!(log_lines(&sim, "web/1").contains(&format!("db:{db}: broken ids=[] list=[]")));
    assert!(sim.relation(db).is_err());
    assert!(sim.secret(&uri).unwrap().grants.is_empty());
    assert!(matches!(sim.remove_relation(0), Err(SimError::PeerRelation(0))));
}

#[test]
fn config_upgrade_and_teardown_sequences() {
    let web = db_charm("web", "");
    std::fs::write(web.path().join("config.yaml"), "options:\n  port: {type: int, default: 80}\n").unwrap();
    let mut sim = sim();
    sim.deploy(AppSpec::charm("web", web.path()).units(2)).unwrap();
    let runs = sim.set_config("web", BTreeMap::from([("port".into(), "8080".into())])).unwrap();
    assert_eq!(hooks(&runs), ["web/0 config-changed", "web/1 config-changed"]);
    assert_eq!(sim.app("web").unwrap().config["port"], 8080);
    assert!(matches!(
        sim.set_config("web", BTreeMap::from([("nope".into(), 1.into())])),
        Err(SimError::InvalidConfig { .. })
    ));
    let runs = sim.upgrade("web", None).unwrap();
    assert_eq!(hooks_of(&runs, "web/0"), ["upgrade-charm", "config-changed", "app-pebble-ready"]);
    let runs = sim.remove_app("web").unwrap();
    assert_eq!(
        hooks_of(&runs, "web/0"),
        ["stop", "peer-relation-departed", "data-storage-detaching", "remove"]
    );
    assert!(sim.app("web").is_err());
    assert!(sim.model().relations.is_empty());
}

#[test]
fn endless_ping_pong_is_reported() {
    let charm = |name: &str, endpoint: &str, role: &str| {
        ShellCharm::new(&format!("name: {name}\n{role}:\n  {endpoint}: {{interface: ping}}\n")).dispatch(
            r#"case "$HOOK" in *-relation-changed) relation-set "n=$(date +%s%N)" ;; *-relation-created) relation-set n=0 ;; esac"#,
        )
    };
    let a = charm("ping", "out", "provides");
    let b = charm("pong", "in", "requires");
    let mut sim = sim();
    sim.set_max_hooks(40);
    sim.deploy(AppSpec::charm("ping", a.path())).unwrap();
    sim.deploy(AppSpec::charm("pong", b.path())).unwrap();
    assert!(matches!(sim.integrate("ping", "pong"), Err(SimError::NotQuiet { ran: 40, .. })));
}

#[test]
fn queued_duplicate_events_are_merged() {
    let web = db_charm("web", "");
    let mut sim = sim();
    sim.add_app(AppSpec::charm("web", web.path())).unwrap();
    sim.queue("web/0", Event::UpdateStatus).unwrap();
    sim.queue("web/0", Event::UpdateStatus).unwrap();
    assert_eq!(sim.queued().count(), 1);
    assert_eq!(sim.run_until_quiet().unwrap().len(), 1);
}

#[test]
fn leader_set_notifies_the_other_units() {
    let charm = db_charm(
        "web",
        r#"case "$HOOK" in
  config-changed) [ "$(is-leader)" = False ] || leader-set "token=$(date +%s%N)" ;;
  leader-settings-changed) juju-log "token=$(leader-get token)" ;;
esac"#,
    );
    let mut sim = sim();
    sim.deploy(AppSpec::charm("web", charm.path()).units(2)).unwrap();
    let runs = sim.set_config("web", BTreeMap::new()).unwrap();
    assert_eq!(
        hooks(&runs),
        ["web/0 config-changed", "web/1 config-changed", "web/1 leader-settings-changed"]
    );
    let token = sim.app("web").unwrap().leader_settings["token"].clone();
    assert!(log_lines(&sim, "web/1").contains(&format!("token={token}")));
}

#[test]
fn network_get_answers_the_address_a_test_gave_each_unit() {
    let charm = db_charm(
        "web",
        r#"if [ "$HOOK" = install ] || [ "$HOOK" = update-status ]; then
  juju-log "net $(network-get db --format json)"
  juju-log "ingress $(network-get peer --ingress-address)"
fi"#,
    );
    // What each unit's last `network-get db --format json` and `--ingress-address` said.
    let seen = |sim: &juju_sim::Simulator, unit: &str| {
        let lines = log_lines(sim, unit);
        let last = |prefix: &str| {
            lines.iter().rev().find_map(|line| line.strip_prefix(prefix)).map(str::to_owned).expect(prefix)
        };
        (serde_json::from_str::<serde_json::Value>(&last("net ")).unwrap(), last("ingress "))
    };
    let answer = |address: &str| {
        serde_json::json!({
            "bind-addresses": [{
                "mac-address": "",
                "interface-name": "eth0",
                "addresses": [{"hostname": "", "value": address, "cidr": "198.18.7.0/24"}],
            }],
            "egress-subnets": [format!("{address}/32")],
            "ingress-addresses": [address],
        })
    };
    let pod = |last: u8| std::net::Ipv4Addr::new(198, 18, 7, last);
    let mut sim = sim();
    let spec = AppSpec::charm("web", charm.path()).units(2).unit_address(0, pod(2)).unit_address(1, pod(3));
    sim.deploy(spec).unwrap();
    assert_eq!(seen(&sim, "web/0"), (answer("198.18.7.2"), "198.18.7.2".to_owned()));
    assert_eq!(seen(&sim, "web/1"), (answer("198.18.7.3"), "198.18.7.3".to_owned()));
    let peer = sim.relation_id("web", "web").unwrap();
    assert_eq!(sim.relation_data(peer, &Bag::Unit("web/1".into())).unwrap()["ingress-address"], "198.18.7.3");

    // A unit to come gets its address when it is created.
    sim.set_unit_address("web/2", pod(4)).unwrap();
    let (unit, _) = sim.add_unit("web").unwrap();
    assert_eq!(unit, "web/2");
    assert_eq!(seen(&sim, "web/2").0, answer("198.18.7.4"));

    // A unit that exists takes the new address at once, in its relation bags too.
    sim.set_unit_address("web/0", pod(9)).unwrap();
    let bag = sim.relation_data(peer, &Bag::Unit("web/0".into())).unwrap();
    assert_eq!(
        [&bag["private-address"], &bag["ingress-address"], &bag["egress-subnets"]],
        ["198.18.7.9", "198.18.7.9", "198.18.7.9/32"]
    );
    sim.update_status().unwrap();
    assert_eq!(seen(&sim, "web/0"), (answer("198.18.7.9"), "198.18.7.9".to_owned()));

    for unknown in ["web/1x", "web/01", "web/1.5", "nope/0", "web"] {
        assert!(
            matches!(
                sim.set_unit_address(unknown, pod(5)),
                Err(SimError::UnknownUnit(_) | SimError::UnknownApp(_))
            ),
            "{unknown}"
        );
    }
    // Numbers already used (web/1 exists, a removed unit's number is never reused).
    sim.remove_unit("web/2").unwrap();
    assert!(matches!(sim.set_unit_address("web/2", pod(5)), Err(SimError::UnknownUnit(_))));
}

#[test]
fn a_unit_to_come_gets_its_own_environment_from_its_first_hook() {
    let charm = db_charm("web", r#"juju-log "env $HOOK ${SOCKET_DIR-unset}""#);
    // The environment each hook of `unit` saw.
    let seen = |sim: &juju_sim::Simulator, unit: &str| -> Vec<String> {
        log_lines(sim, unit).iter().filter_map(|line| line.strip_prefix("env ")).map(str::to_owned).collect()
    };
    let mut sim = sim();
    sim.deploy(AppSpec::charm("web", charm.path()).unit_env("SOCKET_DIR", "/app")).unwrap();
    sim.set_unit_env("web/1", "SOCKET_DIR", "/one").unwrap();
    let (unit, runs) = sim.add_unit("web").unwrap();
    assert_eq!(unit, "web/1");
    assert!(runs.iter().all(|run| run.succeeded()));
    let new = seen(&sim, "web/1");
    assert_eq!(new.first().map(String::as_str), Some("install /one"), "from its first hook on");
    assert!(new.iter().all(|line| line.ends_with(" /one")), "{new:?}");
    assert!(seen(&sim, "web/0").iter().all(|line| line.ends_with(" /app")), "the others keep theirs");

    // Later units without one get the application's; an existing unit's is replaced at once.
    let (unit, _) = sim.add_unit("web").unwrap();
    assert!(seen(&sim, &unit).iter().all(|line| line.ends_with(" /app")));
    sim.set_unit_env("web/0", "SOCKET_DIR", "/zero").unwrap();
    sim.update_status().unwrap();
    assert_eq!(seen(&sim, "web/0").last().map(String::as_str), Some("update-status /zero"));

    // Only numbers still to come, of applications that exist.
    for unknown in ["web/03", "web/x", "nope/5", "web"] {
        assert!(
            matches!(
                sim.set_unit_env(unknown, "SOCKET_DIR", "/bad"),
                Err(SimError::UnknownUnit(_) | SimError::UnknownApp(_))
            ),
            "{unknown}"
        );
    }
}
