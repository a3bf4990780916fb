//! Forwarding service logs to Loki through the plan's `log-targets`, against a small Loki
//! push receiver (an HTTP server on 127.0.0.1 that records every push).

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, Fixture};
use pebble_sim::ServiceMode;
use serde_json::{json, Value};
use test_support::{eventually, POLL, TIMEOUT};

/// One push as received.
#[derive(Debug, Clone)]
struct Push {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
    /// What the receiver answered.
    status: u16,
    at: Instant,
}

impl Push {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `(stream labels, lines)` of each stream.
    fn streams(&self) -> Vec<(Value, Vec<String>)> {
        self.body["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .map(|stream| {
                let lines = stream["values"]
                    .as_array()
                    .expect("values")
                    .iter()
                    .map(|value| {
                        let nanos: i128 = value[0].as_str().expect("timestamp").parse().expect("unix ns");
                        assert!(nanos > 1_600_000_000_000_000_000, "a unix time in ns: {nanos}");
                        value[1].as_str().expect("line").to_owned()
                    })
                    .collect();
                (stream["stream"].clone(), lines)
            })
            .collect()
    }
}

/// A Loki push endpoint recording what it got; it answers the given statuses to the first
/// pushes, then 204.
struct Loki {
    port: u16,
    pushes: Arc<Mutex<Vec<Push>>>,
}

impl Loki {
    fn start() -> Loki {
        Loki::answering(&[])
    }

    fn answering(statuses: &[u16]) -> Loki {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let pushes = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&pushes);
        let statuses = Arc::new(Mutex::new(statuses.iter().copied().collect::<VecDeque<u16>>()));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (recorded, statuses) = (Arc::clone(&recorded), Arc::clone(&statuses));
                std::thread::spawn(move || serve(stream, &recorded, &statuses));
            }
        });
        Loki { port, pushes }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/loki/api/v1/push", self.port)
    }

    fn pushes(&self) -> Vec<Push> {
        self.pushes.lock().expect("pushes").clone()
    }

    /// Every line received for `service`, in order.
    fn lines_of(&self, service: &str) -> Vec<String> {
        self.pushes()
            .iter()
            .flat_map(|push| push.streams())
            .filter(|(labels, _)| labels["pebble_service"] == service)
            .flat_map(|(_, lines)| lines)
            .collect()
    }
}

/// Reads HTTP/1.1 requests (keep-alive or not) and answers each (204 unless scripted).
fn serve(stream: TcpStream, pushes: &Mutex<Vec<Push>>, statuses: &Mutex<VecDeque<u16>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line.split(' ').nth(1).unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = serde_json::from_slice(&body).expect("JSON push body");
        let status = statuses.lock().expect("statuses").pop_front().unwrap_or(204);
        pushes.lock().expect("pushes").push(Push { path, headers, body, status, at: Instant::now() });
        let answer = format!("HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\n\r\n");
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn process_fixture() -> Fixture {
    Fixture::with(|c| c.services = ServiceMode::Process)
}

/// A service printing `count` lines `<prefix>-<n>`, then sleeping.
fn printer(prefix: &str, count: u32) -> String {
    format!("/bin/sh -c 'for i in $(seq 1 {count}); do echo {prefix}-$i; done; exec sleep 60'")
}

fn add_layer(client: &Client, label: &str, yaml: &str) {
    client.sync(client.add_layer(label, yaml, false));
}

#[test]
fn lines_are_pushed_with_labels_in_batches_of_at_most_100() {
    let loki = Loki::start();
    let fx = process_fixture();
    let client = fx.client();
    let layer = format!(
        "services:\n  web:\n    override: replace\n    command: {}\n    environment: {{JUJU_UNIT: synapse/0}}\nlog-targets:\n  synapse-0:\n    override: merge\n    type: loki\n    location: {}\n    services: [all]\n    labels:\n      juju_model: test\n      juju_application: synapse\n      juju_unit: $JUJU_UNIT\n      charm: synapse-k8s\n",
        printer("line", 250),
        loki.url()
    );
    add_layer(&client, "base", &layer);
    client.wait_change(&client.services_action("start", &["web"]));
    eventually("all lines forwarded", TIMEOUT, POLL, || loki.lines_of("web").len() == 250);
    let expected: Vec<String> = (1..=250).map(|i| format!("line-{i}")).collect();
    assert_eq!(loki.lines_of("web"), expected, "every line, in order, once");

    let pushes = loki.pushes();
    // 100 lines push at once; the 50 left go 1 s after they arrived.
    let sizes: Vec<usize> = pushes.iter().map(|p| p.streams().iter().map(|(_, l)| l.len()).sum()).collect();
    assert_eq!(sizes, [100, 100, 50], "{sizes:?}");
    let push = &pushes[0];
    assert_eq!(push.path, "/loki/api/v1/push");
    assert_eq!(push.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(push.header("user-agent"), Some(format!("pebble/{}", pebble_sim::PEBBLE_VERSION).as_str()));
    let (labels, _) = &push.streams()[0];
    assert_eq!(
        labels,
        &json!({
            "charm": "synapse-k8s",
            "juju_application": "synapse",
            "juju_model": "test",
            "juju_unit": "synapse/0",
            "pebble_service": "web",
        })
    );
    assert!(pushes[2].at - pushes[1].at >= Duration::from_millis(900), "the tail waited for the 1 s timer");
}

#[test]
fn services_select_what_each_target_gets() {
    let (all, only_b) = (Loki::start(), Loki::start());
    let fx = process_fixture();
    let client = fx.client();
    let layer = format!(
        "services:\n  a: {{override: replace, command: \"{}\"}}\n  b: {{override: replace, command: \"{}\"}}\n  c: {{override: replace, command: \"{}\"}}\nlog-targets:\n  all-but-c: {{override: replace, type: loki, location: '{}', services: [all, -c]}}\n  only-b: {{override: replace, type: loki, location: '{}', services: [b]}}\n",
        printer("a", 3),
        printer("b", 3),
        printer("c", 3),
        all.url(),
        only_b.url()
    );
    add_layer(&client, "base", &layer);
    client.wait_change(&client.services_action("start", &["a", "b", "c"]));
    eventually("a and b forwarded", TIMEOUT, POLL, || {
        all.lines_of("a").len() == 3 && all.lines_of("b").len() == 3 && only_b.lines_of("b").len() == 3
    });
    // One stream per service in a push, services in name order.
    for push in all.pushes() {
        let services: Vec<String> = push
            .streams()
            .iter()
            .map(|(labels, _)| labels["pebble_service"].as_str().expect("service").to_owned())
            .collect();
        assert!(services.windows(2).all(|pair| pair[0] < pair[1]), "{services:?}");
    }
    assert_eq!(all.lines_of("a"), ["a-1", "a-2", "a-3"]);
    assert!(all.lines_of("c").is_empty());
    assert!(only_b.lines_of("a").is_empty() && only_b.lines_of("c").is_empty());
    assert_eq!(only_b.lines_of("b"), ["b-1", "b-2", "b-3"]);
}

#[test]
fn a_later_layer_can_take_services_away_and_the_plan_shows_the_targets() {
    let loki = Loki::start();
    let fx = process_fixture();
    let client = fx.client();
    // A service printing one line every 100 ms.
    let ticker = "/bin/sh -c 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.1; done'";
    let layer = format!(
        "services:\n  tick: {{override: replace, command: \"{ticker}\"}}\nlog-targets:\n  loki: {{override: replace, type: loki, location: '{}', services: [all]}}\n",
        loki.url()
    );
    add_layer(&client, "base", &layer);
    client.wait_change(&client.services_action("start", &["tick"]));
    eventually("ticks forwarded", TIMEOUT, POLL, || loki.lines_of("tick").len() >= 3);

    // Merged services append: "-tick" after "all" takes the service away.
    add_layer(&client, "off", "log-targets:\n  loki: {override: merge, services: [-tick]}\n");
    let yaml = client.sync(client.get("/v1/plan?format=yaml"));
    let plan: Value = serde_norway::from_str(yaml.as_str().expect("yaml")).expect("plan");
    assert_eq!(plan["log-targets"]["loki"]["services"], json!(["all", "-tick"]));
    assert_eq!(plan["log-targets"]["loki"]["location"], loki.url());
    // Lines already buffered still go out with the next push; then nothing more.
    std::thread::sleep(Duration::from_millis(1500));
    let settled = loki.lines_of("tick").len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(loki.lines_of("tick").len(), settled, "no lines after the target stopped taking the service");

    // A replacing layer brings it back (with new labels, expanded from the environment).
    add_layer(
        &client,
        "on",
        &format!(
            "log-targets:\n  loki: {{override: replace, type: loki, location: '{}', services: [tick], labels: {{unit: '${{UNIT}}x'}}}}\n",
            loki.url()
        ),
    );
    eventually("ticks forwarded again", TIMEOUT, POLL, || loki.lines_of("tick").len() > settled + 2);
    let last = loki.pushes().last().expect("push").streams()[0].0.clone();
    assert_eq!(last, json!({"pebble_service": "tick", "unit": "x"}));
}

#[test]
fn failed_pushes_are_retried_or_dropped_like_pebble() {
    // 503 and 429: the lines stay and go with the next push; 400: they are dropped.
    let loki = Loki::answering(&[503, 429, 400]);
    let fx = process_fixture();
    let client = fx.client();
    let ticker = "/bin/sh -c 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.05; done'";
    let layer = format!(
        "services:\n  tick: {{override: replace, command: \"{ticker}\"}}\nlog-targets:\n  loki: {{override: replace, type: loki, location: '{}', services: [all]}}\n",
        loki.url()
    );
    add_layer(&client, "base", &layer);
    client.wait_change(&client.services_action("start", &["tick"]));
    eventually("five pushes", TIMEOUT, POLL, || loki.pushes().len() >= 5);
    let pushes = loki.pushes();
    let lines = |push: &Push| -> Vec<String> { push.streams().into_iter().flat_map(|(_, l)| l).collect() };
    let statuses: Vec<u16> = pushes.iter().map(|p| p.status).collect();
    assert_eq!(statuses[..4], [503, 429, 400, 204]);
    // Each retry starts with the lines of the failed push before it (at most 100 kept).
    assert_eq!(lines(&pushes[0])[0], "tick-1");
    assert_eq!(lines(&pushes[1])[0], "tick-1");
    assert_eq!(lines(&pushes[2])[0], "tick-1");
    // The 400 dropped them: the next push starts after its last line.
    let dropped_last = lines(&pushes[2]).last().cloned().expect("line");
    let next_first: u32 = lines(&pushes[3])[0].trim_start_matches("tick-").parse().expect("number");
    let dropped_last: u32 = dropped_last.trim_start_matches("tick-").parse().expect("number");
    assert_eq!(next_first, dropped_last + 1);
}

#[test]
fn an_unreachable_target_does_not_hold_the_service_up() {
    // A port nobody listens on: pushes fail, lines wait (at most 100), the service runs on.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let fx = process_fixture();
    let client = fx.client();
    let layer = format!(
        "services:\n  web: {{override: replace, command: \"{}\"}}\nlog-targets:\n  down: {{override: replace, type: loki, location: 'http://127.0.0.1:{port}/loki/api/v1/push', services: [all]}}\n",
        printer("x", 500)
    );
    add_layer(&client, "base", &layer);
    let started = client.wait_change(&client.services_action("start", &["web"]));
    assert_eq!(started["status"], "Done");
    assert_eq!(client.service_current("web"), "active");
    eventually("all output logged", TIMEOUT, POLL, || {
        String::from_utf8_lossy(&client.get("/v1/logs?services=web&n=-1").body).lines().count() == 500
    });
}
