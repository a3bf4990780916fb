//! Model-based soak: seeded random sequences of what operators and clusters do (scale up and
//! down, integrate and remove bridges, change options (some invalid), move leadership,
//! restart a container, publish garbage in a bridge's relation data), with invariants checked
//! after every step:
//!
//! - no hook fails;
//! - at most one unit runs Synapse's main process (nothing here gives scale-out its Redis);
//! - the application secret is never made again (one secret, one revision, the same id);
//! - the running Synapse loads the registration of every bridge related with valid data;
//! - the status names the problem: an invalid option, or a bridge's garbage.
//!
//! A failure prints its seed and steps; `SOAK_SEED=<seed> cargo nextest run --test soak`
//! replays it. CI runs `SOAK_SEQUENCES` sequences (default 3) of `SOAK_STEPS` steps (12).

mod support;

use std::collections::BTreeMap;

use juju_sim::model::Bag;
use juju_sim::{Event, SimError};
use pebble_sim::ServiceStatus;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{json, Value};
use support::requirers::versioned_registration_path;
use support::world::World;
use support::APP;

const BRIDGES: [&str; 2] = ["irc", "bot"];
const APP_SECRETS: &str = "synapse-app-secrets";
/// What a spoiled bridge publishes instead of its encrypted registration.
const GARBAGE: &str = "not a Fernet token";

/// What the test expects of the model it drives.
#[derive(Debug, Default)]
struct Expected {
    /// Each integrated bridge's relation.
    bridges: BTreeMap<&'static str, u32>,
    /// The invalid option set, if any.
    invalid_option: Option<&'static str>,
    /// The application secret's id, once made.
    app_secret: Option<String>,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

#[test]
fn random_operations_keep_every_invariant() {
    let seeds: Vec<u64> = match std::env::var("SOAK_SEED") {
        Ok(seed) => vec![seed.parse().expect("SOAK_SEED is a number")],
        Err(_) => (1..=env_number("SOAK_SEQUENCES", 3)).map(|n| 0x5eed_0000 + n).collect(),
    };
    for seed in seeds {
        soak(seed, env_number("SOAK_STEPS", 12) as usize);
    }
}

fn soak(seed: u64, steps: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut world = World::new();
    let mut done: Vec<String> = vec!["deploy 1 unit".into()];
    let mut expected = Expected::default();
    let fail = |done: &[String], what: String| -> ! {
        panic!(
            "seed {seed}: {what}\nsteps:\n  {}\nreplay: SOAK_SEED={seed} cargo nextest run --test soak",
            done.join("\n  ")
        )
    };
    let check = |outcome: Result<(), SimError>, done: &[String]| {
        if let Err(error) = outcome {
            fail(done, format!("a hook failed: {error}"));
        }
    };
    check(world.deploy(1).map(drop), &done);
    for bridge in BRIDGES {
        check(world.deploy_bridge(bridge).map(drop), &done);
    }
    invariants(&world, &mut expected).unwrap_or_else(|problem| fail(&done, problem));
    for _ in 0..steps {
        let units = world.synapse_units();
        let (step, outcome) = match rng.random_range(0..8) {
            0 if units.len() < 3 => ("add-unit".to_string(), world.add_unit().map(drop)),
            1 if units.len() > 1 => {
                let unit = units[rng.random_range(0..units.len())].clone();
                (format!("remove-unit {unit}"), world.harness.sim.remove_units(&[&unit]).map(drop))
            }
            2 | 3 => {
                let bridge = BRIDGES[rng.random_range(0..BRIDGES.len())];
                match expected.bridges.remove(bridge) {
                    Some(relation) => (
                        format!("remove-relation {bridge}"),
                        world.harness.sim.remove_relation(relation).map(drop),
                    ),
                    None => {
                        let outcome = world.harness.sim.integrate(bridge, APP);
                        if let Ok((relation, _)) = &outcome {
                            expected.bridges.insert(bridge, *relation);
                        }
                        (format!("integrate {bridge}"), outcome.map(drop))
                    }
                }
            }
            4 => {
                let (option, value, invalid) = match rng.random_range(0..5) {
                    0 => ("public_baseurl", json!("not a URL"), true),
                    1 => ("public_baseurl", Value::Null, false),
                    2 => ("block_non_admin_invites", json!(rng.random_bool(0.5)), false),
                    3 => ("enable_room_list_search", json!(rng.random_bool(0.5)), false),
                    _ => ("allow_public_rooms_over_federation", json!(rng.random_bool(0.5)), false),
                };
                if option == "public_baseurl" {
                    expected.invalid_option = invalid.then_some(option);
                }
                let values = BTreeMap::from([(option.to_string(), value.clone())]);
                (format!("config {option}={value}"), world.harness.sim.set_config(APP, values).map(drop))
            }
            5 if units.len() > 1 => {
                let unit = units[rng.random_range(0..units.len())].clone();
                (format!("leader {unit}"), world.harness.sim.set_leader(&unit).map(drop))
            }
            6 => {
                let unit = units[rng.random_range(0..units.len())].clone();
                world.harness.pebble(&unit).restart_container();
                let event = Event::PebbleReady { container: "synapse".into() };
                (format!("restart the container of {unit}"), world.harness.sim.fire(&unit, event).map(drop))
            }
            7 => match expected.bridges.iter().next() {
                Some((bridge, relation)) => {
                    let garbage = BTreeMap::from([("registration_secret".to_string(), GARBAGE.to_string())]);
                    let outcome =
                        world.harness.sim.set_relation_data(*relation, Bag::App(bridge.to_string()), garbage);
                    (format!("garbage in {bridge}'s registration"), outcome.map(drop))
                }
                None => continue,
            },
            _ => continue,
        };
        done.push(step);
        check(outcome, &done);
        invariants(&world, &mut expected).unwrap_or_else(|problem| fail(&done, problem));
    }
}

fn invariants(world: &World, expected: &mut Expected) -> Result<(), String> {
    let sim = &world.harness.sim;
    let units = world.synapse_units();
    let serving: Vec<&String> = units
        .iter()
        .filter(|unit| world.harness.pebble(unit).service_state("synapse") == Some(ServiceStatus::Active))
        .collect();
    if serving.len() > 1 {
        return Err(format!("two mains: {serving:?}"));
    }
    let app_secrets: Vec<_> =
        sim.model().secrets.values().filter(|s| s.label.as_deref() == Some(APP_SECRETS)).collect();
    match (&app_secrets[..], &expected.app_secret) {
        ([secret], None) if secret.revisions.len() == 1 => expected.app_secret = Some(secret.id.clone()),
        ([secret], Some(id)) if &secret.id == id && secret.revisions.len() == 1 => {}
        (found, _) => {
            let revisions: Vec<usize> = found.iter().map(|secret| secret.revisions.len()).collect();
            return Err(format!("the application secret was made again: revisions {revisions:?}"));
        }
    }
    let leader = sim.app(APP).ok().and_then(|app| app.leader.clone()).ok_or("no leader")?;
    let (kind, message) = world.harness.status(&leader);
    if let Some(option) = expected.invalid_option {
        if kind != "blocked" || !message.contains(option) {
            return Err(format!("{option} is invalid but {leader} says {kind} {message:?}"));
        }
        return Ok(());
    }
    let Some(main) = serving.first() else {
        if units.len() == 1 {
            return Err(format!("nothing serves; {leader} says {kind} {message:?}"));
        }
        return Ok(());
    };
    for (bridge, relation) in &expected.bridges {
        // The bridge may have sent a good registration again since the garbage.
        let bag = sim.relation_data(*relation, &Bag::App(bridge.to_string())).unwrap_or_default();
        let spoiled = bag.get("registration_secret").map(String::as_str) == Some(GARBAGE);
        let loaded = versioned_registration_path(&world.harness, main, *relation)
            .is_some_and(|path| world.harness.read(main, "/data/homeserver.yaml").contains(&path));
        if spoiled {
            let named = [&message, &world.harness.app_status().1].iter().any(|text| text.contains(bridge));
            if units.len() == 1 && !named {
                return Err(format!("{bridge}'s garbage is not named: {leader} says {kind} {message:?}"));
            }
        } else if !loaded {
            return Err(format!("{main} does not load {bridge}'s registration (relation {relation})"));
        }
    }
    Ok(())
}
