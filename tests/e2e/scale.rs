//! Scale-out on real parts: three units, each a simulated pod with its own Pebble running
//! real Synapse and real nginx, with a passive postgresql-k8s answering from a real
//! PostgreSQL 15 and a passive redis-k8s publishing a real Redis, both on the host's address
//! on the test's pod network. The first unit is the main (with the federation sender), the
//! others run `synapse.app.generic_worker`; clients go through any pod's nginx on 8080.
//!
//! Every test's name starts with `scale_`, so `tests/e2e/run scale` runs them all.

use std::net::Ipv4Addr;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use synapse_admin::{generate_password, AdminClient, UserId};
use test_support::{assert_hooks_succeeded, poll_until};

use crate::http;
use crate::matrix;
use crate::model::{load_with_pyyaml, loopback_config, E2e, Services};
use crate::support::postgres::{Locale, PostgresServer};
use crate::support::postgresql_provider::PostgresqlK8s;
use crate::support::redis::RedisServer;
use crate::support::redis_provider::RedisK8s;
use crate::support::{APP, SERVER_NAME};

/// nginx, each pod's entry point.
const NGINX_PORT: u16 = 8080;
const FEDERATION_SENDER: &str = "synapse-federation-sender";
const NGINX: &str = "synapse-nginx";
const UNITS: [&str; 2] = ["synapse/0", "synapse/1"];
/// Hooks start Synapse processes on a loaded 2-core machine.
const HOOK_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a unit's Synapse and nginx may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// Synapse on `units` units with PostgreSQL and Redis, every process answering. Dropped in
/// field order: Synapse's pods first, then the servers.
pub struct Cluster {
    pub e2e: E2e,
    redis: RedisServer,
    _postgresql: PostgresServer,
}

impl Cluster {
    /// Deploys `units` units whose containers come up only once PostgreSQL and Redis are
    /// related and answering, the first unit first (its main prepares the database schema
    /// the workers need).
    pub fn new(units: u32) -> Self {
        let mut cluster = Self::before_pebble(units);
        cluster.start_units(units);
        cluster
    }

    /// [`Cluster::new`] up to the containers: `units` units deployed in their pods and
    /// related to PostgreSQL and Redis, no Pebble up yet.
    pub fn before_pebble(units: u32) -> Self {
        let mut e2e = E2e::new();
        e2e.harness.sim.set_hook_timeout(HOOK_TIMEOUT);
        let (address, subnet) = e2e.host_on_network();
        let postgresql = PostgresServer::start_for_pods(address.into(), &subnet);
        let redis = RedisServer::start_on(address.into());
        e2e.deploy_units_before_pebble(units, &loopback_config());
        let sim = &mut e2e.harness.sim;
        let postgresql_app = PostgresqlK8s::deploy(sim, 1);
        let (relation, runs) = postgresql_app.integrate(sim, APP);
        assert_hooks_succeeded(&runs);
        assert_hooks_succeeded(&postgresql_app.answer(sim, &postgresql, relation, Locale::C).runs);
        let redis_app = RedisK8s::deploy(sim, 1);
        let (redis_relation, runs) = redis_app.integrate(sim, APP);
        assert_hooks_succeeded(&runs);
        assert_hooks_succeeded(&redis_app.publish(sim, redis_relation, &redis));
        Self { e2e, redis, _postgresql: postgresql }
    }

    /// The rest of [`Cluster::new`]: the containers of the first `units` units come up, the
    /// first unit first, each answering before the next.
    pub fn start_units(&mut self, units: u32) {
        for number in 0..units {
            let unit = format!("{APP}/{number}");
            self.e2e.pebble_ready(&unit);
            self.wait_ready(&unit);
        }
        // The workers' pebble-ready hooks ran after the main's: settle every unit's status.
        assert_hooks_succeeded(&self.e2e.harness.sim.update_status().expect("update-status runs"));
    }

    pub fn address(&self, unit: &str) -> Ipv4Addr {
        self.e2e.pod_address(unit)
    }

    /// Points the checks at `unit`'s nginx.
    fn through(&self, unit: &str) {
        http::set_entry_point(self.address(unit), NGINX_PORT);
    }

    /// Waits until `unit`'s Synapse process answers `/health` on 8008 (when it runs one) and
    /// its nginx on 8080.
    pub fn wait_ready(&self, unit: &str) {
        let address = self.address(unit);
        let runs_synapse = self.e2e.pebble(unit).service_state("synapse").is_some();
        let ready = poll_until(READY_TIMEOUT, Duration::from_millis(200), || {
            http::set_entry_point(address, NGINX_PORT);
            let nginx = http::synapse("GET", "/health", None, None).is_ok_and(|r| r.status == 204);
            http::set_synapse_address(address);
            let synapse =
                !runs_synapse || http::synapse("GET", "/health", None, None).is_ok_and(|r| r.status == 200);
            (nginx && synapse).then_some(())
        });
        assert!(
            ready.is_some(),
            "{unit} did not answer (status {:?});\nthe charm's warnings and errors:\n{}\nSynapse's log:\n{}",
            self.e2e.harness.status(unit),
            self.e2e.charm_problems(unit),
            self.e2e.synapse_log(unit)
        );
    }

    fn status(&self, unit: &str) -> (String, String) {
        self.e2e.harness.status(unit)
    }

    fn assert_status(&self, unit: &str, expected: (&str, &str)) {
        assert_eq!(
            self.status(unit),
            (expected.0.to_string(), expected.1.to_string()),
            "{unit}; the charm's warnings and errors:\n{}",
            self.e2e.charm_problems(unit)
        );
    }

    /// The registration shared secret, from `unit`'s homeserver.yaml.
    fn shared_secret(&self, unit: &str) -> SecretString {
        let config = load_with_pyyaml(&self.e2e.container_path(unit, "/data/homeserver.yaml"));
        SecretString::from(config["registration_shared_secret"].as_str().expect("a string").to_string())
    }

    /// Registers `localpart` through `unit`'s nginx (the admin API, which goes to the main):
    /// its password.
    fn register(&self, unit: &str, localpart: &str) -> String {
        self.through(unit);
        let client = AdminClient::new(&http::synapse_url()).expect("a client");
        let user = UserId::new(localpart, SERVER_NAME).expect("a user id");
        let password = generate_password();
        let secret = self.shared_secret(unit);
        client.register(&secret, &user, &password, false).expect("registration through nginx");
        password.expose_secret().to_string()
    }

    /// Logs in through `unit`'s nginx: the access token.
    fn login(&self, unit: &str, localpart: &str, password: &str) -> String {
        self.through(unit);
        matrix::login(localpart, password).unwrap_or_else(|error| panic!("login through {unit}: {error}"))
    }

    /// The Synapse log lines of `service` on `unit`.
    pub fn log(&self, unit: &str, service: &str) -> String {
        let path = format!("/v1/logs?services={service}&n=-1");
        let response = http::pebble_get(self.e2e.pebble(unit).socket(), &path).expect("Pebble serves logs");
        response
            .text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|entry| entry["message"].as_str().map(str::to_string))
            .collect()
    }

    /// The command of `unit`'s `synapse` service.
    fn command(&self, unit: &str) -> String {
        let plan = self.e2e.pebble_client(unit).plan().expect("Pebble answers");
        plan.services["synapse"].command.clone().expect("a command")
    }

    fn starts(&self, unit: &str, service: &str) -> u32 {
        self.e2e.pebble(unit).service_starts(service)
    }

    fn running(&self, unit: &str, service: &str) -> bool {
        self.e2e.pebble(unit).service_state(service) == Some(pebble_sim::ServiceStatus::Active)
    }
}

#[test]
fn scale_three_units_serve_as_one_server_through_any_pod() {
    let mut cluster = Cluster::new(3);
    let [main, worker1, worker2] = ["synapse/0", "synapse/1", "synapse/2"];
    cluster.assert_status(main, ("active", "main"));
    cluster.assert_status(worker1, ("active", "worker 1"));
    cluster.assert_status(worker2, ("active", "worker 2"));
    assert!(cluster.running(main, FEDERATION_SENDER), "the main runs the federation sender");
    for worker in [worker1, worker2] {
        assert!(cluster.e2e.pebble(worker).service_state(FEDERATION_SENDER).is_none(), "{worker}");
        let command = cluster.command(worker);
        assert!(command.contains("synapse.app.generic_worker"), "{command}");
    }

    // A user registered through the second unit's nginx logs in through the third.
    let password = cluster.register(worker1, "alice");
    let token = cluster.login(worker2, "alice", &password);
    cluster.through(worker2);
    assert_eq!(matrix::whoami(&token), Ok(matrix::user_id("alice")));

    // A message sent through the first unit arrives in a sync through the second, which its
    // worker served.
    let token0 = cluster.login(main, "alice", &password);
    cluster.through(main);
    let room = matrix::create_room(&token0, "scale");
    matrix::send_text(&token0, &room, "t1", "hello from the main's pod");
    cluster.through(worker1);
    let arrived = poll_until(Duration::from_secs(30), Duration::from_millis(250), || {
        matrix::synced_texts(&token, &room).contains(&"hello from the main's pod".to_string()).then_some(())
    });
    assert!(arrived.is_some(), "the message never reached a sync through {worker1}");
    let worker_log = cluster.log(worker1, "synapse");
    assert!(worker_log.contains("GET /_matrix/client/v3/sync"), "worker1 served no sync:\n{worker_log}");
    let main_log = cluster.log(main, "synapse");
    assert!(!main_log.contains("GET /_matrix/client/v3/sync"), "the main served a sync");
    // A message sent through a worker (which hands it to the main, the events writer).
    cluster.through(worker2);
    matrix::send_text(&token, &room, "t2", "hello from a worker's pod");
    cluster.through(main);
    let history = matrix::texts(&matrix::messages(&token0, &room));
    assert_eq!(history.len(), 2, "{history:?}");

    // Redis goes down: every unit names it.
    cluster.redis.kill();
    assert_hooks_succeeded(&cluster.e2e.harness.sim.update_status().expect("update-status runs"));
    for unit in [main, worker1, worker2] {
        let (kind, message) = cluster.status(unit);
        assert_eq!(kind, "blocked", "{unit}: {message}");
        assert!(
            message.starts_with(&format!("Redis at {} does not answer", cluster.redis.endpoint())),
            "{message}"
        );
    }
}

#[test]
fn scale_main_failover_and_scale_down_and_up_lose_nothing() {
    let mut cluster = Cluster::new(3);
    let password = cluster.register("synapse/0", "bob");
    let token = cluster.login("synapse/0", "bob", &password);
    cluster.through("synapse/0");
    let room = matrix::create_room(&token, "failover");
    matrix::send_text(&token, &room, "t1", "before failover");

    // The main (and leader) goes: the lowest remaining unit becomes the main, its process
    // turns from worker into main, and the other worker follows it; that worker's nginx
    // reloads its routes (checked with `nginx -t` first) without a restart.
    let nginx_starts = cluster.starts("synapse/2", NGINX);
    cluster.e2e.remove_units(&["synapse/0"]);
    assert_hooks_succeeded(&cluster.e2e.harness.sim.update_status().expect("update-status runs"));
    cluster.wait_ready("synapse/1");
    cluster.wait_ready("synapse/2");
    cluster.assert_status("synapse/1", ("active", "main"));
    cluster.assert_status("synapse/2", ("active", "worker 2"));
    assert!(cluster.running("synapse/1", FEDERATION_SENDER));
    assert_eq!(cluster.command("synapse/1"), "/start.py", "the new main runs the main process");
    assert_eq!(cluster.starts("synapse/2", NGINX), nginx_starts, "nginx reloaded, not restarted");
    let routes = cluster.e2e.harness.read("synapse/2", "/etc/nginx/synapse-k8s.conf");
    assert!(routes.contains("proxy_pass http://synapse-1.synapse-endpoints:8008;"), "{routes}");
    assert!(!routes.contains("synapse-0"), "nginx still points at the unit that left");
    let checks = cluster.e2e.pebble("synapse/2").exec_log();
    assert!(
        checks
            .iter()
            .any(|record| record.argv.starts_with(&["/usr/sbin/nginx".to_string(), "-t".to_string()])),
        "nginx -t never ran: {checks:?}"
    );
    let token = cluster.login("synapse/2", "bob", &password);
    cluster.through("synapse/2");
    matrix::send_text(&token, &room, "t2", "after failover");
    // What only the main serves (the admin API) goes through the reloaded nginx to the new main.
    let carol = cluster.register("synapse/2", "carol");
    cluster.login("synapse/1", "carol", &carol);

    // Scale down to one unit: it serves alone, without the federation sender.
    cluster.e2e.remove_units(&["synapse/2"]);
    assert_hooks_succeeded(&cluster.e2e.harness.sim.update_status().expect("update-status runs"));
    cluster.wait_ready("synapse/1");
    cluster.assert_status("synapse/1", ("active", ""));
    assert!(!cluster.running("synapse/1", FEDERATION_SENDER), "no federation sender on a single unit");
    let token = cluster.login("synapse/1", "bob", &password);
    cluster.through("synapse/1");
    matrix::send_text(&token, &room, "t3", "alone");

    // Back to three: the first new unit makes the main scaled (one restart, and its
    // federation sender starts); the second restarts nothing on the others.
    let first = cluster.e2e.add_unit();
    cluster.wait_ready(&first);
    let main_starts = cluster.starts("synapse/1", "synapse");
    let sender_starts = cluster.starts("synapse/1", FEDERATION_SENDER);
    let worker_starts = cluster.starts(&first, "synapse");
    let second = cluster.e2e.add_unit();
    cluster.wait_ready(&second);
    assert_hooks_succeeded(&cluster.e2e.harness.sim.update_status().expect("update-status runs"));
    assert_eq!(cluster.starts("synapse/1", "synapse"), main_starts, "adding a worker restarted the main");
    assert_eq!(cluster.starts("synapse/1", FEDERATION_SENDER), sender_starts);
    assert_eq!(cluster.starts(&first, "synapse"), worker_starts, "adding a worker restarted another");
    cluster.assert_status("synapse/1", ("active", "main"));
    cluster.assert_status(&second, ("active", &format!("worker {}", second.trim_start_matches("synapse/"))));

    // Nothing was lost.
    let token = cluster.login(&second, "bob", &password);
    cluster.through(&second);
    let history = matrix::texts(&matrix::messages(&token, &room));
    let bodies: Vec<&str> = history.iter().map(|(_, body)| body.as_str()).collect();
    assert_eq!(bodies, ["before failover", "after failover", "alone"]);
}

/// Two units without Redis or PostgreSQL: both are Blocked saying what is missing, only
/// the first runs Synapse, the second runs nothing that writes a server, and scaling back
/// to one unit makes the first active again without a restart.
#[test]
fn scale_without_redis_and_postgresql_only_the_main_serves() {
    let mut e2e = E2e::new();
    e2e.deploy(&[Services::Real, Services::Simulated], &loopback_config());
    for unit in UNITS {
        let (kind, message) = e2e.harness.status(unit);
        assert_eq!(kind, "blocked", "{unit}: {}", e2e.charm_problems(unit));
        assert!(
            message.starts_with("2 units planned: scale-out needs Redis")
                && message.contains("only synapse/0 serves"),
            "{message}"
        );
    }
    assert!(
        !e2e.container_path(UNITS[1], "/data/homeserver.yaml").exists(),
        "the second unit wrote a server"
    );
    assert_eq!(e2e.pebble(UNITS[1]).service_starts("synapse"), 0);

    let first = load_with_pyyaml(&e2e.container_path(UNITS[0], "/data/homeserver.yaml"));
    e2e.wait_for_synapse(UNITS[0]);
    let shared =
        SecretString::from(first["registration_shared_secret"].as_str().expect("a string").to_string());
    let client = AdminClient::new(&crate::http::synapse_url()).expect("a client");
    let user = UserId::new("erin", SERVER_NAME).expect("a user id");
    let registered =
        client.register(&shared, &user, &generate_password(), false).expect("registration works");
    assert_eq!(registered.user_id, "@erin:example.com");

    let starts = e2e.pebble(UNITS[0]).service_starts("synapse");
    for run in e2e.harness.sim.remove_unit(UNITS[1]).expect("scale down") {
        assert!(run.succeeded(), "{} on {}: {}", run.hook, run.unit, run.stderr);
    }
    for run in e2e.harness.sim.update_status().expect("update-status") {
        assert!(run.succeeded(), "{}: {}", run.hook, run.stderr);
    }
    assert_eq!(
        e2e.harness.status(UNITS[0]),
        ("active".into(), String::new()),
        "{}",
        e2e.charm_problems(UNITS[0])
    );
    assert_eq!(e2e.pebble(UNITS[0]).service_starts("synapse"), starts, "no restart");
}
