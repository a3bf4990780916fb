//! The application's shape and each unit's role in it.
//!
//! The leader records one **main** unit in the peer application bag (`main_unit_id`, the key
//! the upstream charm uses): the recorded one while it is planned, else the planned unit
//! with the lowest number (the unit 0 of upstream's later revisions, and the unit that holds
//! a single-unit deployment's data). Other units only follow the record, so there is never
//! a second main: a unit runs the main process only when the record (or the leader's
//! decision, written in the same hook) names it, and a unit that is leaving a scaled
//! application stops its processes.
//!
//! With more than one planned unit, Redis and PostgreSQL, every unit but the main runs
//! `synapse.app.generic_worker` named `worker<N>` after its unit number, with its own
//! worker configuration (client and federation on the HTTP port, metrics); the main also
//! runs the federation sender `federationsender1` as a second Pebble service. All share
//! `instance_map` (the main and the federation sender, at the main unit's pod DNS name) and
//! `federation_sender_instances`; events are persisted by the main (Synapse's default
//! without `stream_writers`). Unlike upstream, whose
//! workers are all events writers (so every scale step restarts every process and a removed
//! worker leaves the others pointing at it), no worker is named in the shared keys: adding or
//! removing a worker restarts nothing else. A worker named in `workers_ignore_list` is taken
//! out of service: its unit runs no Synapse process and its nginx sends everything to the
//! main. Without Redis or on SQLite, only the main serves and the status names what is
//! missing.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

use juju::{Bag, Databag, Effect, HookContext, HookToolError, HookTools, LogLevel, RelationId};
use serde_json::json;

use crate::component::{ComponentPlan, Facts, Fragment, Hold, OwnedFiles, PlannedFile};
use crate::deployment::{unit_number, Deployment, PEER_RELATION};
use crate::homeserver::{worker_listeners, REPLICATION_PORT};
use crate::status;
use crate::workload::{versioned_path, ContainerFile, DATA_DIR, SERVICE};

pub const NAME: &str = "scale";

/// Peer application bag key naming the main unit.
pub const MAIN_UNIT_KEY: &str = "main_unit_id";
/// The Pebble service of the federation sender, on the main unit of a scaled application.
pub const FEDERATION_SENDER_SERVICE: &str = "synapse-federation-sender";
/// The federation sender's worker name.
pub const FEDERATION_SENDER: &str = "federationsender1";
/// Where the federation sender listens for replication.
pub const WORKER_REPLICATION_PORT: u16 = 8034;
/// The worker configurations the charm writes.
pub const WORKER_FILES: OwnedFiles = OwnedFiles { dir: DATA_DIR, pattern: "worker-*.yaml" };
pub const FEDERATION_SENDER_FILES: OwnedFiles =
    OwnedFiles { dir: DATA_DIR, pattern: "federation-sender-*.yaml" };

/// What the hook read: the peer relation and the main unit it records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolesState {
    pub peer_relation: Option<RelationId>,
    pub recorded_main: Option<String>,
    /// The recorded main is leaving (or gone) but its main process still answers on its
    /// pod's replication port: nobody may take over yet.
    pub leaving_main_serving: bool,
}

/// How long a hook waits for a leaving main's process to stop before it gives up for now.
const LEAVING_MAIN_WAIT: Duration = Duration::from_secs(30);

/// One `relation-ids` (shared with the other readers of the peer relation) and one
/// `relation-get` of the peer application bag. When the recorded main is leaving or gone,
/// whether its main process still answers (waiting a while for it to stop).
pub fn load(
    tools: &HookTools,
    context: &HookContext,
    deployment: &Deployment,
) -> Result<RolesState, HookToolError> {
    let Some(relation) = tools.relation_ids(PEER_RELATION)?.into_iter().next() else {
        return Ok(RolesState::default());
    };
    let bag = tools.relation_get_app(&relation, &context.app_name)?;
    let recorded_main =
        bag.get(MAIN_UNIT_KEY).map(|unit| unit.trim().to_string()).filter(|unit| !unit.is_empty());
    let leaving = recorded_main
        .as_deref()
        .filter(|main| *main != context.unit_name && !deployment.other_units.iter().any(|unit| unit == main));
    let leaving_main_serving = match leaving {
        Some(main) if !deployment.departing => still_serving(&unit_address(&context.app_name, main)),
        _ => false,
    };
    Ok(RolesState { peer_relation: Some(relation), recorded_main, leaving_main_serving })
}

/// Whether a main process answers at `host`'s replication port, for up to
/// [`LEAVING_MAIN_WAIT`] (a leaving main stops its processes in its own hooks); a name that
/// no longer resolves (its pod is gone) answers nothing.
fn still_serving(host: &str) -> bool {
    let deadline = Instant::now() + LEAVING_MAIN_WAIT;
    loop {
        let addresses: Vec<SocketAddr> =
            (host, REPLICATION_PORT).to_socket_addrs().map(Iterator::collect).unwrap_or_default();
        let answers = addresses
            .iter()
            .any(|address| TcpStream::connect_timeout(address, Duration::from_secs(1)).is_ok());
        if !answers {
            return false;
        }
        if Instant::now() >= deadline {
            tracing::info!("the leaving main at {host} still answers after {LEAVING_MAIN_WAIT:?}");
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What a scaled application needs, as the other components found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prerequisites {
    /// Redis is related and has published where it is.
    pub redis: bool,
    /// Synapse's database is PostgreSQL.
    pub postgresql: bool,
}

/// This unit's part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The main process; beside workers, with the federation sender and the path of its
    /// worker configuration.
    Main { federation_sender: Option<String> },
    /// A generic worker: its name and the path of its worker configuration.
    Worker { name: String, config_path: String },
    /// No Synapse process on this unit.
    Idle,
}

impl Role {
    /// What the status says of the role in a scaled application ("main", "worker 2").
    pub fn label(&self) -> Option<String> {
        match self {
            Self::Main { federation_sender: Some(_) } => Some("main".into()),
            Self::Worker { name, .. } => Some(name.replacen("worker", "worker ", 1)),
            Self::Main { federation_sender: None } | Self::Idle => None,
        }
    }
}

/// The plan, this unit's role and the main unit (when known).
#[derive(Debug)]
pub struct RolesPlan {
    pub plan: ComponentPlan,
    pub role: Role,
    pub main: Option<String>,
}

/// `log_config` is the path of the logging configuration the workers use.
pub fn plan(state: &RolesState, facts: &Facts, prerequisites: Prerequisites, log_config: &str) -> RolesPlan {
    let mut plan = ComponentPlan::default();
    let deployment = facts.deployment;
    if deployment.departing {
        plan.statuses.push(status::departing());
        plan.log(
            LogLevel::Info,
            "this unit is being removed: it leaves the application's secrets, relation data and files to the units \
             that remain",
        );
    }
    // The units that stay: this one unless it is leaving a scaled application (the last
    // unit keeps its role until it is gone).
    let mut planned: Vec<&str> = deployment.other_units.iter().map(String::as_str).collect();
    if !deployment.departing || deployment.other_units.is_empty() {
        planned.push(facts.unit);
    }
    planned.sort_by_key(|unit| unit_number(unit));
    let recorded = state.recorded_main.as_deref().filter(|unit| planned.contains(unit));
    // A new main only once the old one's process is gone: never two mains.
    let may_name = facts.speaks_for_app() && !state.leaving_main_serving;
    let main = if may_name {
        recorded.or_else(|| planned.first().copied()).map(str::to_string)
    } else {
        recorded.map(str::to_string)
    };
    if may_name {
        if let (Some(main), Some(relation)) = (&main, &state.peer_relation) {
            if state.recorded_main.as_deref() != Some(main.as_str()) {
                plan.log(
                    LogLevel::Info,
                    match &state.recorded_main {
                        Some(old) => format!("{main} becomes the main unit: {old} is leaving or gone"),
                        None => format!("{main} is the main unit"),
                    },
                );
                plan.effects.push(Effect::relation_set(
                    relation.clone(),
                    Bag::App,
                    Databag::from([(MAIN_UNIT_KEY.to_string(), main.clone())]),
                ));
            }
        }
    }
    let scaled = planned.len() > 1;
    let ready = prerequisites.redis && prerequisites.postgresql;
    if scaled && !ready {
        plan.statuses.push(status::scale_out_needs(planned.len(), prerequisites, main.as_deref(), facts.app));
        let serving = main.as_deref().map_or_else(
            || "no main unit is named yet".to_string(),
            |main| {
                format!("{main} serves alone, the other units run only nginx, which sends everything to it")
            },
        );
        plan.log(
            LogLevel::Warning,
            format!(
                "{} units are planned, but workers need Redis and PostgreSQL (redis: {}, postgresql: {}): {serving}",
                planned.len(),
                if prerequisites.redis { "ready" } else { "missing" },
                if prerequisites.postgresql { "in use" } else { "not in use" },
            ),
        );
    }
    let role = match &main {
        _ if deployment.departing && !deployment.other_units.is_empty() => Role::Idle,
        None if deployment.departing => Role::Idle,
        None => {
            match &state.recorded_main {
                // The main is leaving: keep running as is until the leader names another.
                Some(leaving) if state.leaving_main_serving => {
                    plan.statuses.push(status::leaving_main_serving(leaving));
                    plan.log(
                        LogLevel::Warning,
                        format!(
                            "the main unit {leaving} is leaving but its main process still answers: no other unit \
                             becomes the main until it stops; this unit keeps its processes as they are"
                        ),
                    );
                    plan.hold = Some(Hold::Keep);
                }
                Some(leaving) => {
                    plan.statuses.push(status::waiting_for_new_main(leaving));
                    plan.log(
                        LogLevel::Info,
                        format!("the main unit {leaving} is leaving; this unit keeps its processes as they are until the leader names another"),
                    );
                    plan.hold = Some(Hold::Keep);
                }
                None => plan.statuses.push(status::waiting_for_main()),
            }
            Role::Idle
        }
        Some(main) if main == facts.unit && scaled && ready => {
            let config =
                worker_config(FEDERATION_SENDER, worker_listeners(Some(WORKER_REPLICATION_PORT)), log_config);
            let path = versioned_path(DATA_DIR, "federation-sender", "yaml", config.as_bytes());
            plan.files.push(PlannedFile {
                file: ContainerFile::public(path.clone(), config),
                services: &[FEDERATION_SENDER_SERVICE],
                appservice_of: None,
            });
            Role::Main { federation_sender: Some(path) }
        }
        Some(main) if main == facts.unit => Role::Main { federation_sender: None },
        Some(_) if !scaled || !ready => Role::Idle,
        Some(_) if ignored(facts).contains(&worker_name(facts.unit)) => {
            let name = worker_name(facts.unit);
            plan.statuses.push(status::worker_ignored(&name));
            plan.log(
                LogLevel::Info,
                format!("{name} is in workers_ignore_list: it runs no Synapse process, nginx sends everything to the main"),
            );
            Role::Idle
        }
        Some(_) => {
            let name = worker_name(facts.unit);
            let config = worker_config(&name, worker_listeners(None), log_config);
            let config_path = versioned_path(DATA_DIR, "worker", "yaml", config.as_bytes());
            plan.files.push(PlannedFile {
                file: ContainerFile::public(config_path.clone(), config),
                services: &[SERVICE],
                appservice_of: None,
            });
            Role::Worker { name, config_path }
        }
    };
    plan.owned_files.extend([WORKER_FILES, FEDERATION_SENDER_FILES]);
    if let (Some(main), true) = (&main, scaled && ready && !matches!(role, Role::Idle)) {
        plan.homeserver = shared_fragment(facts.app, main);
    }
    if let Some(label) = role.label() {
        plan.log(LogLevel::Debug, format!("this unit's role: {label}"));
    }
    RolesPlan { plan, role, main }
}

/// The workers the operator takes out of service (`workers_ignore_list`).
fn ignored<'a>(facts: &Facts<'a>) -> &'a [String] {
    facts.config.map(|config| config.workers_ignore_list.as_slice()).unwrap_or_default()
}

/// `worker<N>` for unit `app/N`.
pub fn worker_name(unit: &str) -> String {
    format!("worker{}", unit.rsplit('/').next().unwrap_or(unit))
}

/// The pod DNS name of `unit` (`<app>-<n>.<app>-endpoints`, Kubernetes' headless service).
pub fn unit_address(app: &str, unit: &str) -> String {
    let number = unit.rsplit('/').next().unwrap_or(unit);
    format!("{app}-{number}.{app}-endpoints")
}

/// `instance_map` and the federation sender, the same on every unit and independent of the
/// number of workers: the main (at its replication listener) persists events, as it does by
/// default with no `stream_writers`, and the federation sender runs beside it. Workers are in none of them, so
/// adding or removing one changes no other process's configuration, and no unit ever
/// points at a worker that is gone.
fn shared_fragment(app: &str, main: &str) -> Fragment {
    let main_address = unit_address(app, main);
    let instances = json!({
        "main": {"host": main_address, "port": REPLICATION_PORT},
        FEDERATION_SENDER: {"host": main_address, "port": WORKER_REPLICATION_PORT},
    });
    let mut fragment = Fragment::default();
    fragment.set("instance_map", instances);
    fragment.set("federation_sender_instances", json!([FEDERATION_SENDER]));
    fragment
}

/// A worker's configuration: its app, name, listeners and logging.
fn worker_config(name: &str, listeners: serde_json::Value, log_config: &str) -> String {
    let document = json!({
        "worker_app": "synapse.app.generic_worker",
        "worker_name": name,
        "worker_listeners": listeners,
        "worker_log_config": log_config,
    });
    safe_yaml::to_string(&document).expect("JSON values always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::tests::facts;
    use crate::deployment::Deployment;
    use juju::StatusKind;

    const READY: Prerequisites = Prerequisites { redis: true, postgresql: true };
    const LOG: &str = "/data/log-0.config";

    fn deployment(others: &[&str], departing: bool) -> Deployment {
        let mut deployment = Deployment::single();
        deployment.other_units = others.iter().map(|unit| unit.to_string()).collect();
        deployment.planned_units = others.len() + usize::from(!departing);
        deployment.departing = departing;
        deployment
    }

    fn recorded(main: Option<&str>) -> RolesState {
        RolesState {
            peer_relation: Some(RelationId::new(PEER_RELATION, 1)),
            recorded_main: main.map(str::to_string),
            leaving_main_serving: false,
        }
    }

    fn written_main(plan: &ComponentPlan) -> Option<String> {
        plan.effects.iter().find_map(|effect| match effect {
            Effect::RelationSet { data, .. } => data.get(MAIN_UNIT_KEY).map(|value| format!("{value:?}")),
            _ => None,
        })
    }

    #[test]
    fn the_leader_names_the_lowest_unit_once_and_keeps_a_recorded_main() {
        let three = deployment(&["synapse/1", "synapse/2"], false);
        let fresh = plan(&recorded(None), &facts(&three, "synapse/2", true), READY, LOG);
        assert_eq!(fresh.main.as_deref(), Some("synapse/1"), "not the leader: the lowest planned unit");
        assert!(written_main(&fresh.plan).unwrap().contains("synapse/1"));
        assert!(matches!(fresh.role, Role::Worker { ref name, .. } if name == "worker2"));
        let kept = plan(&recorded(Some("synapse/2")), &facts(&three, "synapse/2", true), READY, LOG);
        assert_eq!(kept.main.as_deref(), Some("synapse/2"));
        assert!(written_main(&kept.plan).is_none(), "nothing to write when the record stands");
        assert!(matches!(kept.role, Role::Main { federation_sender: Some(_) }));
    }

    #[test]
    fn a_follower_only_follows_the_record_so_there_is_never_a_second_main() {
        let three = deployment(&["synapse/0", "synapse/2"], false);
        let unknown = plan(&recorded(None), &facts(&three, "synapse/1", false), READY, LOG);
        assert_eq!((unknown.main, unknown.role), (None, Role::Idle));
        assert_eq!(unknown.plan.statuses, [status::waiting_for_main()]);
        // The recorded main is gone: only the leader may name another.
        let gone = plan(&recorded(Some("synapse/5")), &facts(&three, "synapse/1", false), READY, LOG);
        assert_eq!(gone.plan.hold, Some(Hold::Keep), "its processes stay as they are meanwhile");
        assert!(gone.plan.effects.is_empty());
        assert_eq!(gone.plan.statuses, [status::waiting_for_new_main("synapse/5")]);
        let follows = plan(&recorded(Some("synapse/0")), &facts(&three, "synapse/1", false), READY, LOG);
        assert!(matches!(follows.role, Role::Worker { ref name, .. } if name == "worker1"));
    }

    #[test]
    fn when_the_main_leaves_the_leader_takes_over_and_the_leaving_main_stops() {
        // synapse/0 (the main) is dying; synapse/1 leads.
        let remaining = deployment(&["synapse/2"], false);
        let leader = plan(&recorded(Some("synapse/0")), &facts(&remaining, "synapse/1", true), READY, LOG);
        assert_eq!(leader.main.as_deref(), Some("synapse/1"));
        assert!(written_main(&leader.plan).unwrap().contains("synapse/1"));
        assert!(leader
            .plan
            .diagnostics
            .iter()
            .any(|(_, line)| line.contains("synapse/0 is leaving or gone")));
        let leaving = deployment(&["synapse/1", "synapse/2"], true);
        let old_main = plan(&recorded(Some("synapse/0")), &facts(&leaving, "synapse/0", false), READY, LOG);
        assert_eq!(old_main.role, Role::Idle, "a leaving unit runs nothing");
        assert_eq!(old_main.plan.statuses[0], status::departing());
        // The last unit of an application being removed keeps its role until it is gone.
        let last = deployment(&[], true);
        let alone = plan(&recorded(Some("synapse/0")), &facts(&last, "synapse/0", false), READY, LOG);
        assert_eq!(alone.role, Role::Main { federation_sender: None });
    }

    #[test]
    fn scale_out_without_redis_or_postgresql_blocks_and_only_the_main_serves() {
        let two = deployment(&["synapse/1"], false);
        let missing = Prerequisites { redis: false, postgresql: true };
        let main = plan(&recorded(Some("synapse/0")), &facts(&two, "synapse/0", true), missing, LOG);
        assert_eq!(main.role, Role::Main { federation_sender: None });
        assert!(main.plan.homeserver.0.is_empty(), "no instance_map without workers");
        assert_eq!(main.plan.statuses[0].kind, StatusKind::Blocked);
        assert_eq!(
            main.plan.statuses[0].message,
            "2 units planned: scale-out needs Redis (juju integrate synapse redis-k8s); only synapse/0 serves"
        );
        let other = plan(&recorded(Some("synapse/0")), &facts(&two, "synapse/1", false), missing, LOG);
        assert_eq!(other.role, Role::Idle);
        let single = plan(
            &recorded(Some("synapse/0")),
            &facts(&Deployment::single(), "synapse/0", true),
            missing,
            LOG,
        );
        assert!(single.plan.statuses.is_empty(), "one unit needs neither");
    }

    #[test]
    fn roles_have_labels_and_workers_their_names() {
        assert_eq!(worker_name("synapse/12"), "worker12");
        assert_eq!(unit_address("synapse", "synapse/3"), "synapse-3.synapse-endpoints");
        let worker = Role::Worker { name: "worker2".into(), config_path: String::new() };
        assert_eq!(worker.label().as_deref(), Some("worker 2"));
        assert_eq!(Role::Main { federation_sender: Some(String::new()) }.label().as_deref(), Some("main"));
        assert_eq!(Role::Main { federation_sender: None }.label(), None);
    }

    #[test]
    fn the_leader_names_no_new_main_while_the_leaving_one_still_serves() {
        let remaining = deployment(&["synapse/2"], false);
        let mut state = recorded(Some("synapse/0"));
        state.leaving_main_serving = true;
        let leader = plan(&state, &facts(&remaining, "synapse/1", true), READY, LOG);
        assert_eq!((leader.main, leader.role), (None, Role::Idle));
        assert!(leader.plan.effects.is_empty(), "nothing written");
        assert_eq!(leader.plan.hold, Some(Hold::Keep));
        assert_eq!(leader.plan.statuses, [status::leaving_main_serving("synapse/0")]);
    }

    /// One unit of the model the property test drives.
    #[derive(Debug, Clone)]
    struct SimUnit {
        name: String,
        /// Juju is removing it: its hooks see it departing.
        dying: bool,
        /// Whether its container runs the main process now.
        runs_main: bool,
    }

    /// A small xorshift generator: the same seed, the same sequence.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Random sequences of Juju events (a hook on any unit, a unit added, a unit removed,
    /// the leader changing) against the role logic: a hook's plan takes effect in its unit's
    /// container (held containers keep what they run; a leaving unit stops), the leader's
    /// writes land in the peer bag, and a leaving main's process answers until its own hook
    /// stopped it. At no point do two containers run the main process, and every sequence
    /// ends with exactly one main once the hooks settle.
    #[test]
    fn never_two_mains_in_any_order_of_events() {
        for seed in 1..=300u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut units: Vec<SimUnit> = (0..3)
                .map(|n| SimUnit { name: format!("synapse/{n}"), dying: false, runs_main: false })
                .collect();
            let mut next = 3;
            let mut leader = "synapse/0".to_string();
            let mut bag: Option<String> = None;
            let mut trace = Vec::new();
            let hook = |unit: usize, units: &mut Vec<SimUnit>, bag: &mut Option<String>, leader: &str| {
                let me = units[unit].clone();
                let others: Vec<&str> =
                    units.iter().filter(|u| u.name != me.name && !u.dying).map(|u| u.name.as_str()).collect();
                let deployment = deployment(&others, me.dying);
                let leaving_main_serving = bag.as_deref().is_some_and(|main| {
                    main != me.name
                        && !others.contains(&main)
                        && units.iter().any(|u| u.name == main && u.runs_main)
                });
                let state = RolesState {
                    peer_relation: Some(RelationId::new(PEER_RELATION, 1)),
                    recorded_main: bag.clone(),
                    leaving_main_serving,
                };
                let planned = plan(&state, &facts(&deployment, &me.name, me.name == leader), READY, LOG);
                for effect in &planned.plan.effects {
                    if let Effect::RelationSet { data, .. } = effect {
                        if let Some(juju::effects::Value::Text(main)) = data.get(MAIN_UNIT_KEY) {
                            *bag = Some(main.clone());
                        }
                    }
                }
                if planned.plan.hold != Some(Hold::Keep) {
                    units[unit].runs_main = matches!(planned.role, Role::Main { .. });
                }
            };
            for _ in 0..40 {
                match rng.below(10) {
                    0 if units.len() < 6 => {
                        units.push(SimUnit {
                            name: format!("synapse/{next}"),
                            dying: false,
                            runs_main: false,
                        });
                        next += 1;
                        trace.push("add".to_string());
                    }
                    1 if units.iter().filter(|u| !u.dying).count() > 1 => {
                        let alive: Vec<usize> = (0..units.len()).filter(|i| !units[*i].dying).collect();
                        let victim = alive[rng.below(alive.len())];
                        units[victim].dying = true;
                        trace.push(format!("dying {}", units[victim].name));
                    }
                    2 => {
                        // A dying unit's removal completes (its last hook ran); a leader that
                        // goes is replaced by an election.
                        if let Some(gone) = units.iter().position(|u| u.dying && !u.runs_main) {
                            let name = units.remove(gone).name;
                            trace.push(format!("removed {name}"));
                            if name == leader {
                                let alive: Vec<&SimUnit> = units.iter().filter(|u| !u.dying).collect();
                                leader = alive[rng.below(alive.len())].name.clone();
                                trace.push(format!("leader {leader}"));
                            }
                        }
                    }
                    3 => {
                        let alive: Vec<&SimUnit> = units.iter().filter(|u| !u.dying).collect();
                        if alive.iter().all(|u| u.name != leader) || rng.below(2) == 0 {
                            leader = alive[rng.below(alive.len())].name.clone();
                            trace.push(format!("leader {leader}"));
                        }
                    }
                    _ => {
                        let unit = rng.below(units.len());
                        trace.push(format!("hook {}", units[unit].name));
                        hook(unit, &mut units, &mut bag, &leader);
                    }
                }
                let mains: Vec<&str> =
                    units.iter().filter(|u| u.runs_main).map(|u| u.name.as_str()).collect();
                assert!(mains.len() <= 1, "seed {seed}: two mains {mains:?} after {trace:?}");
            }
            // Settle: every unit runs its hooks, the leaving ones go (a leader among them is
            // replaced by an election), and the rest run theirs again.
            for unit in 0..units.len() {
                hook(unit, &mut units, &mut bag, &leader);
            }
            units.retain(|unit| !unit.dying);
            if units.iter().all(|unit| unit.name != leader) {
                leader = units[rng.below(units.len())].name.clone();
            }
            for _ in 0..3 {
                for unit in 0..units.len() {
                    hook(unit, &mut units, &mut bag, &leader);
                }
            }
            let mains: Vec<&str> = units.iter().filter(|u| u.runs_main).map(|u| u.name.as_str()).collect();
            assert_eq!(mains.len(), 1, "seed {seed}: mains {mains:?} once settled, after {trace:?}");
        }
    }
}
