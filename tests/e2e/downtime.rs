//! Downtime as a number: a client polls Synapse's client API every 100 ms from a background
//! thread while the model goes through an operator's day (deploy on PostgreSQL and Redis,
//! two bridges, a configuration change, ten `update-status` hooks, scale to three units and
//! back to one), and the test records per step the seconds the API did not answer (the sum of
//! the failed polls' intervals) and the restarts of every Pebble service on every unit
//! (`PebbleSim::service_starts`; a service's first start in its unit's Pebble is no
//! restart). The client asks the main's Synapse on 8008 during the deploy (the time to its
//! first answer is startup, not downtime) and the main's nginx on 8080 afterwards. The test
//! asserts the targets: no restart and no unavailability for a step that concerns no process,
//! one restart of each process a step concerns, and prints the table (markdown, on stderr:
//! `tests/e2e/run downtime --no-capture`) that the README's "Downtime" section shows.
//!
//! Every test's name starts with `downtime_`, so `tests/e2e/run downtime` runs them all.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::{assert_hooks_succeeded, poll_until};

use crate::host::SYNAPSE_PORT;
use crate::http;
use crate::scale::Cluster;

/// What the client asks for: every process serves it, the main and the workers.
const PROBE_PATH: &str = "/_matrix/client/versions";
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long Synapse may take to answer again after a step (restarts on a loaded machine).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(180);
/// nginx, each pod's entry point.
const NGINX_PORT: u16 = 8080;
const SYNAPSE: &str = "synapse";
const FEDERATION_SENDER: &str = "synapse-federation-sender";
const NGINX: &str = "synapse-nginx";
/// Every Pebble service the charm runs.
const SERVICES: [&str; 3] = [SYNAPSE, FEDERATION_SENDER, NGINX];
const MAIN: &str = "synapse/0";

/// One poll: when it started and whether Synapse answered 200.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    ok: bool,
}

/// The client: a thread polling [`PROBE_PATH`] at the current target every
/// [`POLL_INTERVAL`], one connection per request.
struct Probe {
    target: Arc<Mutex<(Ipv4Addr, u16)>>,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Probe {
    fn start(address: Ipv4Addr, port: u16) -> Self {
        let target = Arc::new(Mutex::new((address, port)));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (target, samples, stop) = (target.clone(), samples.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let at = Instant::now();
                    let (address, port) = *target.lock().expect("the target");
                    http::set_entry_point(address, port);
                    let ok = http::synapse("GET", PROBE_PATH, None, None).is_ok_and(|r| r.status == 200);
                    samples.lock().expect("the samples").push(Sample { at, ok });
                    std::thread::sleep(POLL_INTERVAL.saturating_sub(at.elapsed()));
                }
            }
        });
        Self { target, samples, stop, thread: Some(thread) }
    }

    /// Polls `address:port` from now on.
    fn aim(&self, address: Ipv4Addr, port: u16) {
        *self.target.lock().expect("the target") = (address, port);
    }

    /// Waits for a poll started after now that succeeded (Synapse answers again after the
    /// step): its start, the end of the step. Panics after [`SETTLE_TIMEOUT`].
    fn settle(&self) -> Instant {
        let mark = Instant::now();
        poll_until(SETTLE_TIMEOUT, Duration::from_millis(50), || {
            let samples = self.samples.lock().expect("the samples");
            samples.iter().find(|sample| sample.at >= mark && sample.ok).map(|sample| sample.at)
        })
        .expect("Synapse answers the client again")
    }

    /// The polls started in `from..to`, each with its interval (until the next poll).
    fn intervals(&self, from: Instant, to: Instant) -> Vec<(Sample, Duration)> {
        let samples = self.samples.lock().expect("the samples");
        samples
            .iter()
            .enumerate()
            .filter(|(_, sample)| sample.at >= from && sample.at < to)
            .map(|(index, sample)| {
                let next = samples.get(index + 1).map_or(to, |next| next.at);
                (*sample, next.duration_since(sample.at))
            })
            .collect()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `(unit, service)` → how often Pebble started it.
type Starts = BTreeMap<(String, String), u32>;

fn starts(cluster: &Cluster, units: &[String]) -> Starts {
    units
        .iter()
        .flat_map(|unit| {
            SERVICES.iter().map(move |service| {
                ((unit.clone(), service.to_string()), cluster.e2e.pebble(unit).service_starts(service))
            })
        })
        .collect()
}

/// What a step cost.
struct Step {
    name: String,
    /// The step's wall time, until the client was served again.
    took: Duration,
    /// Failed polls after the first successful one.
    unavailable: Duration,
    /// For the deploy step: how long until Synapse first answered.
    first_answer: Option<Duration>,
    /// Starts of services that had run before in their unit's Pebble.
    restarts: BTreeMap<(String, String), u32>,
    /// Services started for the first time in their unit's Pebble.
    first_starts: Vec<(String, String)>,
}

impl Step {
    fn measure(
        name: &str,
        probe: &Probe,
        window: (Instant, Instant),
        before: &Starts,
        after: &Starts,
    ) -> Self {
        let intervals = probe.intervals(window.0, window.1);
        // Every step but the deploy starts with the poll that ended the one before, a success;
        // the deploy's first success may be the one that ends it.
        let first_ok =
            intervals.iter().find(|(sample, _)| sample.ok).map_or(window.1, |(sample, _)| sample.at);
        let unavailable = intervals
            .iter()
            .filter(|(sample, _)| !sample.ok && sample.at > first_ok)
            .map(|(_, gap)| *gap)
            .sum();
        let first_answer = (first_ok > window.0).then(|| first_ok.duration_since(window.0));
        let mut restarts = BTreeMap::new();
        let mut first_starts = Vec::new();
        for (key, count) in after {
            let previous = before.get(key).copied().unwrap_or(0);
            let delta = count - previous;
            if previous == 0 && delta > 0 {
                first_starts.push(key.clone());
            }
            let again = if previous == 0 { delta.saturating_sub(1) } else { delta };
            if again > 0 {
                restarts.insert(key.clone(), again);
            }
        }
        let took = window.1.duration_since(window.0);
        Self { name: name.to_string(), took, unavailable, first_answer, restarts, first_starts }
    }

    fn row(&self) -> String {
        let mut unavailable = format!("{:.1}", self.unavailable.as_secs_f64());
        if let Some(first) = self.first_answer {
            write!(unavailable, " (first answer after {:.1} s)", first.as_secs_f64()).expect("a string");
        }
        let restarts = if self.restarts.is_empty() {
            "0".to_string()
        } else {
            self.restarts
                .iter()
                .map(|((unit, service), count)| format!("{unit} {service} ×{count}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let first_starts = if self.first_starts.is_empty() {
            "—".to_string()
        } else {
            self.first_starts
                .iter()
                .map(|(unit, service)| format!("{unit} {service}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "| {} | {unavailable} | {restarts} | {first_starts} | {:.1} |",
            self.name,
            self.took.as_secs_f64()
        )
    }
}

/// The example requirer in IRC-bridge mode (as in `appservice.rs`).
fn bridge(prefix: &str, nickname: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("external-url", json!("http://127.0.0.1:8090")),
        ("namespace-prefix", json!(prefix)),
        ("bot-nickname", json!(nickname)),
    ]
}

fn key(unit: &str, service: &str) -> (String, String) {
    (unit.to_string(), service.to_string())
}

/// `(unit, service, restarts)` in a step's target.
type Restarted = (&'static str, &'static str, u32);
/// `(unit, service)` started for the first time in a step's target.
type Started = (&'static str, &'static str);

fn restarts(entries: &[Restarted]) -> BTreeMap<(String, String), u32> {
    entries.iter().map(|(unit, service, count)| (key(unit, service), *count)).collect()
}

#[test]
fn downtime_of_an_operators_day_is_measured_and_on_target() {
    let mut cluster = Cluster::before_pebble(1);
    let mut units = vec![MAIN.to_string()];
    // Deploy: the client asks the main's Synapse itself (nginx waits for it).
    let probe = Probe::start(cluster.address(MAIN), SYNAPSE_PORT);
    let mut steps: Vec<Step> = Vec::new();
    let mut begin = Instant::now();
    let mut before = Starts::new();
    cluster.start_units(1);
    let end = probe.settle();
    let after = starts(&cluster, &units);
    steps.push(Step::measure("deploy (1 unit, PostgreSQL, Redis)", &probe, (begin, end), &before, &after));
    // From now on through the main's nginx, as a client would.
    probe.aim(cluster.address(MAIN), NGINX_PORT);
    begin = probe.settle();
    before = after;

    // Runs a step, then waits until every unit answers and the client is served again.
    let mut step =
        |cluster: &mut Cluster, units: &[String], name: &str, action: &mut dyn FnMut(&mut Cluster)| {
            action(cluster);
            for unit in units {
                cluster.wait_ready(unit);
            }
            let end = probe.settle();
            let after = starts(cluster, units);
            steps.push(Step::measure(name, &probe, (begin, end), &before, &after));
            begin = end;
            before = after;
        };

    for (app, prefix, nickname) in [("irc", "libera_", "libera-bot"), ("oftc", "oftc_", "oftc-bot")] {
        step(&mut cluster, &units, &format!("integrate bridge `{app}` (its registration)"), &mut |cluster| {
            cluster.e2e.deploy_bridge(app, &bridge(prefix, nickname));
            cluster.e2e.integrate(app);
        });
    }
    step(&mut cluster, &units, "`juju config enable_room_list_search=false`", &mut |cluster| {
        assert_hooks_succeeded(&cluster.e2e.harness.configure(&[("enable_room_list_search", json!(false))]));
    });
    step(&mut cluster, &units, "10 × `update-status` (nothing changed)", &mut |cluster| {
        for _ in 0..10 {
            assert_hooks_succeeded(&cluster.e2e.harness.sim.update_status().expect("update-status runs"));
        }
    });
    for (from, to) in [(1, 2), (2, 3)] {
        let unit = format!("synapse/{from}");
        units.push(unit.clone());
        step(&mut cluster, &units, &format!("`juju add-unit` ({from} → {to} units)"), &mut |cluster| {
            assert_eq!(cluster.e2e.add_unit(), unit);
        });
    }
    units.truncate(1);
    step(&mut cluster, &units, "`juju remove-unit` of both workers (3 → 1)", &mut |cluster| {
        cluster.e2e.remove_units(&["synapse/1", "synapse/2"]);
    });
    drop(probe);

    let mut table = String::from(
        "| step | client API unavailable (s) | restarts | first starts | took (s) |\n|---|---|---|---|---|\n",
    );
    for step in &steps {
        table.push_str(&step.row());
        table.push('\n');
    }
    eprintln!("\n{table}");

    // The targets.
    let expected: [(&[Restarted], &[Started]); 8] = [
        // Deploy: every process starts once, with its final configuration.
        (&[], &[(MAIN, SYNAPSE), (MAIN, NGINX)]),
        // A bridge's registration: Synapse loads it with one restart.
        (&[(MAIN, SYNAPSE, 1)], &[]),
        (&[(MAIN, SYNAPSE, 1)], &[]),
        // homeserver.yaml changed: one restart of the one Synapse process.
        (&[(MAIN, SYNAPSE, 1)], &[]),
        // Nothing changed: nothing restarts.
        (&[], &[]),
        // The first worker makes the main scaled (instance_map, the federation sender): one
        // restart of the main, whose federation sender starts.
        (&[(MAIN, SYNAPSE, 1)], &[(MAIN, FEDERATION_SENDER), ("synapse/1", SYNAPSE), ("synapse/1", NGINX)]),
        // A second worker concerns no running process.
        (&[], &[("synapse/2", SYNAPSE), ("synapse/2", NGINX)]),
        // Back to one unit: the main alone again, one restart.
        (&[(MAIN, SYNAPSE, 1)], &[]),
    ];
    assert_eq!(steps.len(), expected.len());
    for (step, (restarted, first)) in steps.iter().zip(expected) {
        assert_eq!(step.restarts, restarts(restarted), "restarts of {}\n{table}", step.name);
        let first: Vec<_> = first.iter().map(|(unit, service)| key(unit, service)).collect();
        let mut measured = step.first_starts.clone();
        measured.sort();
        let mut wanted = first.clone();
        wanted.sort();
        assert_eq!(measured, wanted, "first starts of {}\n{table}", step.name);
        let main_restarted = step.restarts.contains_key(&key(MAIN, SYNAPSE));
        if main_restarted {
            // The client sees the main's restart: the probe measures what it must.
            assert!(
                step.unavailable > Duration::ZERO,
                "{}: a restart the client did not see\n{table}",
                step.name
            );
        } else {
            assert_eq!(
                step.unavailable,
                Duration::ZERO,
                "{}: unavailable without a restart\n{table}",
                step.name
            );
        }
    }
}
