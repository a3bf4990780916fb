//! Removing units and applications exactly as Juju does: the departing unit's teardown, what
//! the remaining units see, leadership, `goal-state`, secrets, and unpublished departing
//! writes. Shell charms record, from inside every hook, the environment, `is-leader` and
//! `goal-state`.

mod common;

use common::{sim, ShellCharm};
use juju_sim::model::{Bag, SecretOwner};
use juju_sim::{AppSpec, HookRun, Simulator};
use serde_json::Value;

/// Logs one JSON record per hook: the hook, `JUJU_REMOTE_UNIT`, `JUJU_DEPARTING_UNIT`,
/// `is-leader` and the whole `goal-state`.
const RECORD: &str = r#"goal=$(goal-state --format=json | tr -d '\n')
juju-log "{\"hook\":\"$HOOK\",\"remote\":\"${JUJU_REMOTE_UNIT-unset}\",\"departing\":\"${JUJU_DEPARTING_UNIT-unset}\",\"leader\":\"$(is-leader)\",\"goal\":$goal}""#;

/// What a unit saw in one hook.
#[derive(Debug, Clone)]
struct Seen {
    hook: String,
    remote: String,
    departing: String,
    leader: bool,
    goal: Value,
}

impl Seen {
    /// `goal-state`'s status for one of the unit's own application's units.
    fn unit_goal(&self, unit: &str) -> &str {
        self.goal["units"][unit]["status"].as_str().unwrap_or("absent")
    }

    /// `goal-state`'s status for a unit on the other side of `endpoint`.
    fn relation_goal(&self, endpoint: &str, unit: &str) -> &str {
        self.goal["relations"][endpoint][unit]["status"].as_str().unwrap_or("absent")
    }
}

/// Every hook record of `unit`, oldest first.
fn seen(sim: &Simulator, unit: &str) -> Vec<Seen> {
    sim.logs(unit)
        .filter_map(|record| {
            let json = &record.message[record.message.find("{\"hook\"")?..];
            let value: Value = serde_json::from_str(json).expect("record is JSON");
            Some(Seen {
                hook: value["hook"].as_str()?.to_owned(),
                remote: value["remote"].as_str()?.to_owned(),
                departing: value["departing"].as_str()?.to_owned(),
                leader: value["leader"] == "True",
                goal: value["goal"].clone(),
            })
        })
        .collect()
}

/// Records of `unit` after the first `skip` (to look at one operation only).
fn seen_since(sim: &Simulator, unit: &str, skip: usize) -> Vec<Seen> {
    seen(sim, unit).into_iter().skip(skip).collect()
}

fn hooks_of(runs: &[HookRun], unit: &str) -> Vec<String> {
    runs.iter().filter(|run| run.unit == unit && !run.skipped).map(|run| run.hook.clone()).collect()
}

/// `(hook, remote, departing)` of the relation-departed hooks among `records`.
fn departures(records: &[Seen]) -> Vec<(String, String, String)> {
    records
        .iter()
        .filter(|seen| seen.hook.ends_with("-relation-departed"))
        .map(|seen| (seen.hook.clone(), seen.remote.clone(), seen.departing.clone()))
        .collect()
}

fn departure(hook: &str, remote: &str, departing: &str) -> (String, String, String) {
    (hook.to_owned(), remote.to_owned(), departing.to_owned())
}

/// Where `unit`'s `hook` ran in `runs`.
fn position(runs: &[HookRun], unit: &str, hook: &str) -> usize {
    runs.iter()
        .position(|run| run.unit == unit && run.hook == hook)
        .unwrap_or_else(|| panic!("{unit} never ran {hook}"))
}

fn web_charm(body: &str) -> ShellCharm {
    ShellCharm::new(
        "name: web\nrequires:\n  db: {interface: pg}\npeers:\n  peer: {interface: web-peers}\ncontainers:\n  app: {}\nstorage:\n  data: {type: filesystem}\n",
    )
    .dispatch(&format!("{RECORD}\n{body}"))
}

fn pg_charm(body: &str) -> ShellCharm {
    ShellCharm::new("name: pg\nprovides:\n  db: {interface: pg}\n").dispatch(&format!("{RECORD}\n{body}"))
}

/// `web` with `web_units` units related to `pg` with `pg_units` units. The charms must
/// outlive the simulator.
fn related(web: &ShellCharm, web_units: u32, pg: &ShellCharm, pg_units: u32) -> (Simulator, u32) {
    let mut sim = sim();
    sim.deploy(AppSpec::charm("web", web.path()).units(web_units)).unwrap();
    sim.deploy(AppSpec::charm("pg", pg.path()).units(pg_units)).unwrap();
    let (db, _) = sim.integrate("web:db", "pg:db").unwrap();
    (sim, db)
}

#[test]
fn departing_unit_departs_from_every_remote_unit_then_breaks_and_others_see_it_depart() {
    let (web, pg) = (web_charm(""), pg_charm(""));
    let (mut sim, _) = related(&web, 2, &pg, 2);
    let skip: Vec<usize> = ["web/0", "web/1", "pg/0", "pg/1"].iter().map(|u| seen(&sim, u).len()).collect();
    let runs = sim.remove_unit("web/1").unwrap();

    // a. The departing unit: stop, departed once per remote unit of each relation (itself as
    // the departing unit), broken for the non-peer relation, storage-detaching, remove.
    assert_eq!(
        hooks_of(&runs, "web/1"),
        [
            "stop",
            "peer-relation-departed",
            "db-relation-departed",
            "db-relation-departed",
            "db-relation-broken",
            "data-storage-detaching",
            "remove",
        ]
    );
    assert_eq!(
        departures(&seen_since(&sim, "web/1", skip[1])),
        [
            departure("peer-relation-departed", "web/0", "web/1"),
            departure("db-relation-departed", "pg/0", "web/1"),
            departure("db-relation-departed", "pg/1", "web/1"),
        ]
    );
    let broken: Vec<Seen> =
        seen_since(&sim, "web/1", skip[1]).into_iter().filter(|s| s.hook == "db-relation-broken").collect();
    assert_eq!(broken.len(), 1);
    assert_eq!((broken[0].remote.as_str(), broken[0].departing.as_str()), ("", "unset"));

    // b. Every remaining unit sees it depart once, peers included; nobody else breaks.
    assert_eq!(hooks_of(&runs, "web/0"), ["peer-relation-departed"]);
    assert_eq!(
        departures(&seen_since(&sim, "web/0", skip[0])),
        [departure("peer-relation-departed", "web/1", "web/1")]
    );
    for (index, unit) in [(2, "pg/0"), (3, "pg/1")] {
        assert_eq!(hooks_of(&runs, unit), ["db-relation-departed"]);
        assert_eq!(
            departures(&seen_since(&sim, unit, skip[index])),
            [departure("db-relation-departed", "web/1", "web/1")]
        );
    }
    assert!(sim.unit("web/1").is_err());
    assert_eq!(sim.app("web").unwrap().leader.as_deref(), Some("web/0"));
    assert!(runs.iter().all(|run| run.hook != "leader-elected"), "the leader stayed");
}

/// Three `web` units related to one `pg` unit; the leader `web/0` is removed.
fn remove_the_leader() -> (ShellCharm, ShellCharm, Simulator, Vec<HookRun>, Vec<usize>) {
    let (web, pg) = (web_charm(""), pg_charm(""));
    let (mut sim, _) = related(&web, 3, &pg, 1);
    assert_eq!(sim.app("web").unwrap().leader.as_deref(), Some("web/0"));
    let skip = ["web/0", "web/1", "web/2", "pg/0"].iter().map(|u| seen(&sim, u).len()).collect();
    let runs = sim.remove_unit("web/0").unwrap();
    (web, pg, sim, runs, skip)
}

#[test]
fn departing_leader_keeps_leadership_until_it_is_removed() {
    let (_web, _pg, sim, runs, skip) = remove_the_leader();
    let teardown = seen_since(&sim, "web/0", skip[0]);
    assert_eq!(
        teardown.iter().map(|seen| seen.hook.as_str()).collect::<Vec<_>>(),
        [
            "stop",
            "peer-relation-departed",
            "peer-relation-departed",
            "db-relation-departed",
            "db-relation-broken",
            "data-storage-detaching",
            "remove",
        ]
    );
    assert!(teardown.iter().all(|seen| seen.leader), "is-leader stays True: {teardown:#?}");
    // Nobody else leads while it departs.
    for (index, unit) in [(1, "web/1"), (2, "web/2")] {
        let departed: Vec<Seen> = seen_since(&sim, unit, skip[index])
            .into_iter()
            .filter(|seen| seen.hook == "peer-relation-departed")
            .collect();
        assert_eq!(departed.len(), 1);
        assert!(!departed[0].leader, "{unit} is not leader yet");
    }
    // Only after its remove hook is a new leader elected.
    let removed = position(&runs, "web/0", "remove");
    assert!(position(&runs, "web/1", "leader-elected") > removed);
    assert!(position(&runs, "web/2", "leader-settings-changed") > removed);
    assert_eq!(runs.iter().filter(|run| run.hook == "leader-elected").count(), 1);
    let elected = seen_since(&sim, "web/1", skip[1]);
    let elected = elected.iter().find(|seen| seen.hook == "leader-elected").unwrap();
    assert!(elected.leader);
    assert_eq!(sim.app("web").unwrap().leader.as_deref(), Some("web/1"));
}

#[test]
fn goal_state_shows_the_departing_unit_dying() {
    let (_web, _pg, sim, _runs, skip) = remove_the_leader();
    // From inside every hook of the departing unit.
    let teardown = seen_since(&sim, "web/0", skip[0]);
    assert_eq!(teardown.len(), 7);
    for seen in &teardown {
        assert_eq!(
            [seen.unit_goal("web/0"), seen.unit_goal("web/1"), seen.unit_goal("web/2")],
            ["dying", "active", "active"],
            "{} of web/0: {}",
            seen.hook,
            seen.goal
        );
    }
    let departed = teardown.iter().find(|seen| seen.hook == "db-relation-departed").unwrap();
    assert_eq!(departed.relation_goal("db", "pg/0"), "active");
    // From the peers that stay.
    for (index, unit) in [(1, "web/1"), (2, "web/2")] {
        let records = seen_since(&sim, unit, skip[index]);
        let departed = records.iter().find(|seen| seen.hook == "peer-relation-departed").unwrap();
        assert_eq!(
            [departed.unit_goal("web/0"), departed.unit_goal("web/1"), departed.unit_goal("web/2")],
            ["dying", "active", "active"],
            "{unit}: {}",
            departed.goal
        );
        // Once it is gone, goal-state no longer lists it.
        let after = records.iter().rfind(|seen| seen.hook.starts_with("leader-")).unwrap();
        assert_eq!(after.unit_goal("web/0"), "absent", "{}", after.goal);
    }
    // From the other side of the relation.
    let records = seen_since(&sim, "pg/0", skip[3]);
    let departed = records.iter().find(|seen| seen.hook == "db-relation-departed").unwrap();
    assert_eq!(
        [
            departed.relation_goal("db", "web/0"),
            departed.relation_goal("db", "web/1"),
            departed.relation_goal("db", "web/2"),
        ],
        ["dying", "active", "active"],
        "{}",
        departed.goal
    );
}

#[test]
fn units_removed_together_depart_from_each_other_once() {
    let (web, pg) = (web_charm(""), pg_charm(""));
    let (mut sim, _) = related(&web, 3, &pg, 1);
    let skip: Vec<usize> = ["web/0", "web/1", "web/2", "pg/0"].iter().map(|u| seen(&sim, u).len()).collect();
    let runs = sim.remove_units(&["web/0", "web/1"]).unwrap();
    let teardown = [
        "stop",
        "peer-relation-departed",
        "peer-relation-departed",
        "db-relation-departed",
        "db-relation-broken",
        "data-storage-detaching",
        "remove",
    ];
    assert_eq!(hooks_of(&runs, "web/0"), teardown);
    assert_eq!(hooks_of(&runs, "web/1"), teardown);
    // A dying unit names itself as the departing unit, whoever leaves.
    assert_eq!(
        departures(&seen_since(&sim, "web/0", skip[0])),
        [
            departure("peer-relation-departed", "web/1", "web/0"),
            departure("peer-relation-departed", "web/2", "web/0"),
            departure("db-relation-departed", "pg/0", "web/0"),
        ]
    );
    assert_eq!(
        departures(&seen_since(&sim, "web/1", skip[1])),
        [
            departure("peer-relation-departed", "web/0", "web/1"),
            departure("peer-relation-departed", "web/2", "web/1"),
            departure("db-relation-departed", "pg/0", "web/1"),
        ]
    );
    assert_eq!(
        departures(&seen_since(&sim, "web/2", skip[2])),
        [
            departure("peer-relation-departed", "web/0", "web/0"),
            departure("peer-relation-departed", "web/1", "web/1"),
        ]
    );
    assert_eq!(
        departures(&seen_since(&sim, "pg/0", skip[3])),
        [
            departure("db-relation-departed", "web/0", "web/0"),
            departure("db-relation-departed", "web/1", "web/1"),
        ]
    );
    assert!(seen_since(&sim, "web/0", skip[0]).iter().all(|seen| seen.leader));
    assert!(seen_since(&sim, "web/1", skip[1]).iter().all(|seen| !seen.leader));
    assert!(position(&runs, "web/2", "leader-elected") > position(&runs, "web/0", "remove"));
    assert_eq!(sim.app("web").unwrap().leader.as_deref(), Some("web/2"));
}

/// `web` keeps an application-owned secret (created by the first leader, read by label by
/// every later one), peer application data seeded with it, `db` application data, and one
/// unit-owned secret per unit.
const KEEPER: &str = r#"case "$HOOK" in
  install) secret-add --owner unit --label mine "owner=$JUJU_UNIT_NAME" >/dev/null ;;
  leader-elected)
    peer=$(relation-ids peer)
    if content=$(secret-get --label app-creds --format=json 2>&1); then
      juju-log "app-creds found $content seed=$(relation-get -r "$peer" --app seed web)"
    else
      secret-add --label app-creds token=t0k3n >/dev/null
      relation-set -r "$peer" --app seed=first
      juju-log "app-creds created"
    fi ;;
  db-relation-created) [ "$(is-leader)" = False ] || [ -n "$(relation-get --app api web)" ] || relation-set --app "api=$JUJU_UNIT_NAME" ;;
esac"#;

fn owned_by(sim: &Simulator, owner: &SecretOwner) -> Vec<String> {
    sim.model()
        .secrets
        .values()
        .filter(|secret| &secret.owner == owner)
        .map(|secret| secret.label.clone().unwrap_or_default())
        .collect()
}

fn messages(sim: &Simulator, unit: &str) -> Vec<String> {
    sim.logs(unit).map(|record| record.message.clone()).collect()
}

/// Whether `unit` logged `text` (relation hooks' lines start with `<endpoint>:<id>: `).
fn logged(sim: &Simulator, unit: &str, text: &str) -> bool {
    sim.logs(unit).any(|record| record.message.ends_with(text))
}

#[test]
fn scaling_to_zero_keeps_the_application_its_secrets_and_relation_data() {
    let (web, pg) = (web_charm(KEEPER), pg_charm(""));
    let (mut sim, db) = related(&web, 2, &pg, 1);
    let app_owner = SecretOwner::Application("web".into());
    assert_eq!(owned_by(&sim, &app_owner), ["app-creds"]);
    assert_eq!(owned_by(&sim, &SecretOwner::Unit("web/1".into())), ["mine"]);
    let peer = sim.relation_id("web:peer", "web:peer").unwrap();

    let check_kept = |sim: &Simulator| {
        let app = sim.app("web").expect("the application stays");
        assert!(app.units.is_empty());
        assert_eq!(app.leader, None);
        assert_eq!(owned_by(sim, &app_owner), ["app-creds"], "the app-owned secret stays");
        assert!(
            sim.model().secrets.values().all(|secret| !matches!(&secret.owner, SecretOwner::Unit(_))),
            "unit-owned secrets go with their units"
        );
        assert_eq!(sim.relation_data(db, &Bag::App("web".into())).unwrap()["api"], "web/0");
        assert_eq!(sim.relation_data(peer, &Bag::App("web".into())).unwrap()["seed"], "first");
    };
    let found = "app-creds found {\"token\":\"t0k3n\"} seed=first";

    // One unit after the other: the second unit takes over and finds the secret as owner.
    sim.remove_unit("web/0").unwrap();
    assert!(logged(&sim, "web/1", found), "{:#?}", messages(&sim, "web/1"));
    sim.remove_unit("web/1").unwrap();
    check_kept(&sim);
    let (unit, _) = sim.add_unit("web").unwrap();
    assert_eq!(unit, "web/2");
    assert_eq!(sim.app("web").unwrap().leader.as_deref(), Some("web/2"));
    assert!(logged(&sim, "web/2", found), "{:#?}", messages(&sim, "web/2"));
    assert_eq!(owned_by(&sim, &app_owner), ["app-creds"], "no second secret");

    // All at once.
    sim.add_unit("web").unwrap();
    sim.remove_units(&["web/2", "web/3"]).unwrap();
    check_kept(&sim);
    let (unit, _) = sim.add_unit("web").unwrap();
    assert_eq!(sim.app("web").unwrap().leader.as_deref(), Some(unit.as_str()));
    assert!(logged(&sim, &unit, found), "{:#?}", messages(&sim, &unit));
    assert!(!logged(&sim, &unit, "app-creds created"));
    assert_eq!(owned_by(&sim, &app_owner), ["app-creds"]);
}

#[test]
fn removing_the_application_deletes_the_secrets_it_and_its_units_own() {
    let web = web_charm(
        r#"case "$HOOK" in
  install) secret-add --owner unit --label mine "owner=$JUJU_UNIT_NAME" >/dev/null ;;
  db-relation-created)
    if [ "$(is-leader)" = True ]; then
      uri=$(secret-add --label app-creds token=t0k3n)
      secret-grant "$uri" -r "$JUJU_RELATION_ID"
      relation-set --app "secret=$uri"
    fi ;;
  remove) juju-log "remove reads $(secret-get --label app-creds --format=json 2>&1) and $(secret-get --label mine --format=json 2>&1)" ;;
esac"#,
    );
    let pg = pg_charm(
        r#"case "$HOOK" in
  db-relation-changed)
    uri=$(relation-get --app secret web)
    if [ -n "$uri" ]; then state-set "uri=$uri"; juju-log "consumer reads $(secret-get "$uri" token)"; fi ;;
  update-status) juju-log "after removal: $(secret-get "$(state-get uri)" token 2>&1 || true)" ;;
esac"#,
    );
    let (mut sim, db) = related(&web, 2, &pg, 1);
    let uri = sim.relation_data(db, &Bag::App("web".into())).unwrap()["secret"].clone();
    assert!(logged(&sim, "pg/0", "consumer reads t0k3n"), "{:#?}", messages(&sim, "pg/0"));
    assert_eq!(owned_by(&sim, &SecretOwner::Unit("web/0".into())), ["mine"]);

    let runs = sim.remove_app("web").unwrap();
    assert!(sim.app("web").is_err());
    // The secrets existed until the application was gone: its units read them in `remove`.
    for unit in ["web/0", "web/1"] {
        assert_eq!(hooks_of(&runs, unit).last().map(String::as_str), Some("remove"));
        let line = format!(r#"remove reads {{"token":"t0k3n"}} and {{"owner":"{unit}"}}"#);
        assert!(logged(&sim, unit, &line), "{:#?}", messages(&sim, unit));
    }
    assert!(sim.secret(&uri).is_err(), "the app-owned secret is deleted");
    assert!(
        sim.model()
            .secrets
            .values()
            .all(|secret| !secret.owner.includes("web/0") && !secret.owner.includes("web/1")),
        "no secret of web or its units is left"
    );
    // The consumer now gets "not found" (ops: SecretNotFoundError), not "permission denied".
    sim.update_status().unwrap();
    let xid = uri.trim_start_matches("secret:");
    let expected = format!("after removal: ERROR secret \"{xid}\" not found");
    assert!(logged(&sim, "pg/0", &expected), "{:#?}", messages(&sim, "pg/0"));
}

#[test]
fn writes_of_the_departing_unit_in_departed_and_broken_are_not_published() {
    // Every web unit writes its unit bag (and, as leader, the app bag) in each departed and
    // broken hook it gets; only the units that stay have their writes published.
    let web = web_charm(
        r#"case "$HOOK" in
  *-relation-departed|*-relation-broken)
    relation-set "seen-$(echo "${JUJU_REMOTE_UNIT:-broken}" | tr / -)=$JUJU_UNIT_NAME"
    [ "$(is-leader)" = False ] || relation-set --app "left=${JUJU_REMOTE_UNIT:-broken}" ;;
esac"#,
    );
    let pg = pg_charm("");
    let (mut sim, _) = related(&web, 3, &pg, 1);
    let skip: Vec<usize> = ["web/1", "web/2"].iter().map(|u| seen(&sim, u).len()).collect();
    let runs = sim.remove_unit("web/0").unwrap();
    assert_eq!(
        hooks_of(&runs, "pg/0"),
        ["db-relation-departed"],
        "nothing web/0 wrote in db-relation-departed/broken reaches pg"
    );
    // The peers that stay hear about each other's writes, never about web/0's.
    for (index, unit, other) in [(0, "web/1", "web/2"), (1, "web/2", "web/1")] {
        let changed: Vec<String> = seen_since(&sim, unit, skip[index])
            .into_iter()
            .filter(|seen| seen.hook == "peer-relation-changed")
            .map(|seen| seen.remote)
            .collect();
        assert_eq!(changed, [other], "{unit}");
    }
}
