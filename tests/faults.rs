//! Every hook converges after any single fault. For each main scenario (deploy, a config
//! change, integrating a bridge, removing it, integrating the database, scaling out, removing
//! the leader unit) and for **every** k:
//!
//! - hook-tool call k (of Synapse's hooks) fails as Juju's tools do when the agent loses its API connection
//!   (`ERROR connection is shut down`);
//! - the hook process is killed (SIGKILL) right after call k;
//! - Pebble drops the connection of request k on a unit, once it handled it, unanswered;
//! - exec k on a unit times out (the configuration check, nginx's, the version).
//!
//! The faulty hook fails cleanly (nothing it buffered is committed) or succeeds; Juju then
//! retries the failed hook, and the model (statuses, relation data, secrets and their
//! revisions, unit state, ports) and every container (files with their modes, the Pebble
//! plan) end exactly as in the fault-free run. A Pebble fault is transient for the charm:
//! the hook succeeds and says the next hook resumes, so those runs are compared after one
//! `update-status`, as is the fault-free run they are compared with.
//!
//! Every fault runs by default; `scripts/test` runs one in `FAULTS_EVERY` (3) from an offset
//! that changes with the day (`FAULTS_OFFSET`), to keep CI within its budget.
//!
//! Runs differ in their random secrets, so the comparison replaces every secret value and
//! secret id with its name, the model's uuid, the bridge's Fernet tokens and every hex digest
//! with placeholders; a secret made twice shows as an extra secret or revision.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;

use juju_sim::context::ToolFaultKind;
use juju_sim::SimError;
use regex::Regex;
use serde_json::{json, Value};
use support::postgres::PostgresServer;
use support::world::{retried_as_juju_does, World, BRIDGE};
use support::APP;

/// A scenario: what is there before, and the operation the faults hit.
struct Scenario {
    setup: fn(&mut World) -> Result<(), SimError>,
    operation: fn(&mut World) -> Result<(), SimError>,
    /// Whether postgresql-k8s needs a real PostgreSQL server (one for all the runs).
    database: bool,
}

fn nothing(_: &mut World) -> Result<(), SimError> {
    Ok(())
}

fn one_unit(world: &mut World) -> Result<(), SimError> {
    world.deploy(1).map(drop)
}

fn one_unit_and_a_bridge(world: &mut World) -> Result<(), SimError> {
    one_unit(world)?;
    world.deploy_bridge(BRIDGE).map(drop)
}

fn bridged(world: &mut World) -> Result<(), SimError> {
    one_unit_and_a_bridge(world)?;
    world.harness.sim.integrate(BRIDGE, APP).map(drop)
}

const DEPLOY: Scenario =
    Scenario { setup: nothing, operation: |world| world.deploy(1).map(drop), database: false };

const CONFIG_CHANGE: Scenario = Scenario {
    setup: one_unit,
    operation: |world| {
        let values = BTreeMap::from([("block_non_admin_invites".to_string(), json!(true))]);
        world.harness.sim.set_config(APP, values).map(drop)
    },
    database: false,
};

const INTEGRATE_A_BRIDGE: Scenario = Scenario {
    setup: one_unit_and_a_bridge,
    operation: |world| world.harness.sim.integrate(BRIDGE, APP).map(drop),
    database: false,
};

const REMOVE_A_RELATION: Scenario = Scenario {
    setup: bridged,
    operation: |world| {
        let relation = world.harness.sim.relation_id(BRIDGE, APP).expect("the bridge's relation");
        world.harness.sim.remove_relation(relation).map(drop)
    },
    database: false,
};

const SCALE_OUT: Scenario =
    Scenario { setup: one_unit, operation: |world| world.add_unit().map(drop), database: false };

const REMOVE_THE_LEADER: Scenario = Scenario {
    setup: |world| world.deploy(2).map(drop),
    operation: |world| world.harness.sim.remove_units(&[&format!("{APP}/0")]).map(drop),
    database: false,
};

const INTEGRATE_THE_DATABASE: Scenario = Scenario {
    setup: |world| {
        one_unit(world)?;
        world.deploy_postgresql();
        Ok(())
    },
    operation: |world| world.integrate_database().map(drop),
    database: true,
};

/// Which fault, where.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Tool(usize, ToolFaultKind),
    /// Pebble drops request k of the unit (its index among Synapse's units).
    Pebble(usize, u64),
    /// Exec k of the unit times out.
    Exec(usize, u64),
}

/// What an operation did: its hook-tool calls, and per unit its Pebble requests and execs.
struct Counts {
    calls: usize,
    requests: Vec<usize>,
    execs: Vec<usize>,
}

/// Runs `scenario` with `fault` (if any), retries what failed as Juju does, and returns what
/// the model and containers hold, and what the operation did.
fn run(
    scenario: &Scenario,
    fault: Option<Fault>,
    database: Option<&Arc<PostgresServer>>,
) -> (String, Counts) {
    let mut world = database.map_or_else(World::new, |server| World::with_database_server(server.clone()));
    (scenario.setup)(&mut world).expect("the setup succeeds without faults");
    let units = world.synapse_units();
    let requests_before: Vec<usize> = units.iter().map(|unit| world.harness.request_count(unit)).collect();
    let execs_before: Vec<usize> =
        units.iter().map(|unit| world.harness.pebble(unit).exec_log().len()).collect();
    let synapse_calls = |world: &World| -> usize {
        let runs = world.harness.sim.history().iter().filter(|run| run.unit.starts_with(&format!("{APP}/")));
        runs.map(|run| run.calls.len()).sum()
    };
    let calls_before = synapse_calls(&world);
    match fault {
        Some(Fault::Tool(call, kind)) => world.harness.sim.inject_tool_fault_in(APP, call, kind),
        Some(Fault::Pebble(unit, request)) => {
            world.harness.pebble(&units[unit]).drop_connection_at_request(request)
        }
        Some(Fault::Exec(unit, exec)) => world.harness.pebble(&units[unit]).time_out_exec(exec),
        None => {}
    }
    let outcome = (scenario.operation)(&mut world);
    if let Err(error) = retried_as_juju_does(&mut world.harness.sim, outcome) {
        panic!("{fault:?}: the scenario does not converge: {error}");
    }
    assert!(!world.harness.sim.tool_fault_pending(), "{fault:?} never happened");
    assert!(units.iter().all(|unit| !world.harness.pebble(unit).fault_pending()), "{fault:?} never happened");
    let calls = synapse_calls(&world) - calls_before;
    let requests: Vec<usize> = units
        .iter()
        .zip(&requests_before)
        .map(|(unit, before)| world.harness.pebble(unit).requests().len() - before)
        .collect();
    let execs: Vec<usize> = units
        .iter()
        .zip(&execs_before)
        .map(|(unit, before)| world.harness.pebble(unit).exec_log().len() - before)
        .collect();
    if matches!(fault, Some(Fault::Pebble(..) | Fault::Exec(..)) | None) {
        world.harness.sim.update_status().expect("update-status succeeds");
    }
    (snapshot(&world), Counts { calls, requests, execs })
}

/// Runs the scenario without faults, then with each fault at every k, comparing each end
/// state with the fault-free one.
fn converges_after_any_single_fault(scenario: Scenario) {
    let database = scenario.database.then(|| Arc::new(PostgresServer::start()));
    let (expected, counts) = run(&scenario, None, database.as_ref());
    assert!(counts.calls > 0, "the operation makes tool calls");
    let mut faults: Vec<Fault> = Vec::new();
    for call in 1..=counts.calls {
        faults.push(Fault::Tool(call, ToolFaultKind::Fail));
        faults.push(Fault::Tool(call, ToolFaultKind::KillHook));
    }
    for (unit, count) in counts.requests.iter().enumerate() {
        faults.extend((1..=*count as u64).map(|request| Fault::Pebble(unit, request)));
    }
    for (unit, count) in counts.execs.iter().enumerate() {
        faults.extend((1..=*count as u64).map(|exec| Fault::Exec(unit, exec)));
    }
    // `FAULTS_EVERY=n` runs one fault in n, from `FAULTS_OFFSET` (scripts/test's budget,
    // rotating the offset day by day); by default every one runs.
    let every = env_number("FAULTS_EVERY", 1).max(1);
    let offset = env_number("FAULTS_OFFSET", 0) % every;
    let chosen = faults.into_iter().enumerate().filter(|(index, _)| *index % every == offset);
    for (_, fault) in chosen {
        let (got, _) = run(&scenario, Some(fault), database.as_ref());
        if got != expected {
            let diff: Vec<String> = diff_lines(&expected, &got);
            panic!("after {fault:?} the end state differs from the fault-free run:\n{}", diff.join("\n"));
        }
    }
}

/// The lines only one side has; for long lines (a file), the part around the first
/// difference.
fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn diff_lines(expected: &str, got: &str) -> Vec<String> {
    let expected: Vec<&str> = expected.lines().collect();
    let got: Vec<&str> = got.lines().collect();
    let missing: Vec<&str> = expected.iter().filter(|line| !got.contains(line)).copied().collect();
    let extra: Vec<&str> = got.iter().filter(|line| !expected.contains(line)).copied().collect();
    let excerpt = |line: &str, other: Option<&&str>| -> String {
        let Some(other) = other.filter(|_| line.len() > 200) else { return line.to_string() };
        let chars: Vec<char> = line.chars().collect();
        let at = line.chars().zip(other.chars()).take_while(|(a, b)| a == b).count();
        let head: String = chars.iter().take(60).collect();
        let around: String = chars.iter().skip(at.saturating_sub(80)).take(240).collect();
        format!("{head} …{around}…")
    };
    let mut lines = Vec::new();
    for (index, line) in missing.iter().enumerate() {
        lines.push(format!("- {}", excerpt(line, extra.get(index))));
    }
    for (index, line) in extra.iter().enumerate() {
        lines.push(format!("+ {}", excerpt(line, missing.get(index))));
    }
    lines.truncate(40);
    lines
}

/// The model and the containers as text, with secret values and ids named and digests
/// blanked (see the module documentation).
fn snapshot(world: &World) -> String {
    let model = world.harness.sim.model();
    let mut names: Vec<(String, String)> = Vec::new();
    let mut values: Vec<(String, String)> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for secret in model.secrets.values() {
        let keys: Vec<String> =
            secret.latest().map(|revision| revision.decoded().into_keys().collect()).unwrap_or_default();
        let name = match &secret.label {
            Some(label) => format!("{:?}/{label}", secret.owner),
            None => format!("{:?}/{}", secret.owner, keys.join(",")),
        };
        for revision in &secret.revisions {
            for (key, value) in revision.decoded() {
                if value.len() >= 8 {
                    values.push((value, format!("<{name}/{key}>")));
                }
            }
        }
        lines.push(format!("secret {name}: {} revisions, keys {keys:?}", secret.revisions.len()));
        names.push((secret.id.clone(), format!("<secret {name}>")));
    }
    // A value in several secrets (the shared secret is) gets one name whatever their order.
    values.sort_by(|(a, a_name), (b, b_name)| b.len().cmp(&a.len()).then(a.cmp(b)).then(a_name.cmp(b_name)));
    values.dedup_by(|later, earlier| later.0 == earlier.0);
    for application in model.applications.values() {
        let status = &application.status;
        lines.push(format!("app {} status {} {:?}", application.name, status.status, status.message));
        for unit in &application.units {
            let status = &unit.status;
            let version = &unit.workload_version;
            lines.push(format!(
                "unit {} status {} {:?} version {version:?}",
                unit.name, status.status, status.message
            ));
            lines.extend(
                unit.state.iter().map(|(key, value)| format!("unit {} state {key}={value}", unit.name)),
            );
            lines.push(format!("unit {} ports {:?}", unit.name, unit.opened_ports));
        }
    }
    for relation in model.relations.values() {
        for (owner, bag) in relation.app_data.iter().chain(&relation.unit_data) {
            lines.extend(
                bag.iter().map(|(key, value)| format!("relation {} {owner} {key}={value}", relation.id)),
            );
        }
    }
    for unit in world.synapse_units() {
        let root = world.harness.container_path(&unit, "/");
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        lines.extend(files.into_iter().map(|line| format!("{unit} {line}")));
        if let Ok(plan) = pebble::Client::new(world.harness.socket(&unit)).plan() {
            lines.push(format!("{unit} plan {}", serde_json::to_string(&plan).expect("JSON")));
        }
    }
    let mut text = lines.join("\n");
    for (value, name) in values.iter().chain(&names) {
        text = text.replace(value.as_str(), name);
    }
    text = text.replace(&model.uuid, "<model>");
    // The bridge encrypts its registration anew in each run.
    let tokens = Regex::new("gAAAAA[A-Za-z0-9_=-]+").expect("a regex");
    text = tokens.replace_all(&text, "<Fernet token>").into_owned();
    let digests = Regex::new("[0-9a-f]{16,64}").expect("a regex");
    // Sorted: secrets are kept by their random ids.
    let mut lines: Vec<String> = digests.replace_all(&text, "<hex>").lines().map(str::to_string).collect();
    lines.sort();
    lines.join("\n")
}

/// Every file under `dir` (but `/tmp`) with its mode and content.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|entry| entry.path());
    for entry in entries {
        let path = entry.path();
        let relative = path.strip_prefix(root).expect("under the root").display().to_string();
        if relative == "tmp" {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            walk(root, &path, out);
        } else if meta.is_file() {
            let content = fs::read(&path).unwrap_or_default();
            out.push(format!(
                "/{relative} {:o} {}",
                meta.permissions().mode() & 0o7777,
                Value::from(String::from_utf8_lossy(&content).into_owned())
            ));
        }
    }
}

#[test]
fn deploy_converges_after_any_single_fault() {
    converges_after_any_single_fault(DEPLOY);
}

#[test]
fn a_config_change_converges_after_any_single_fault() {
    converges_after_any_single_fault(CONFIG_CHANGE);
}

#[test]
fn integrating_a_bridge_converges_after_any_single_fault() {
    converges_after_any_single_fault(INTEGRATE_A_BRIDGE);
}

#[test]
fn removing_a_relation_converges_after_any_single_fault() {
    converges_after_any_single_fault(REMOVE_A_RELATION);
}

#[test]
fn scaling_out_converges_after_any_single_fault() {
    converges_after_any_single_fault(SCALE_OUT);
}

#[test]
fn removing_the_leader_unit_converges_after_any_single_fault() {
    converges_after_any_single_fault(REMOVE_THE_LEADER);
}

#[test]
fn integrating_the_database_converges_after_any_single_fault() {
    converges_after_any_single_fault(INTEGRATE_THE_DATABASE);
}
