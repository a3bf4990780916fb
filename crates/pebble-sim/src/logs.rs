//! Log forwarding, as Pebble does it for the plan's `log-targets` of type `loki`: each line a
//! service writes (Process mode: the only services with output) goes to every target whose
//! `services` take that service, as Loki push API JSON
//! (`{"streams": [{"stream": {<labels>, "pebble_service": "<name>"}, "values": [["<unix ns>",
//! "<line>"]]}]}`), `POST`ed to the target's `location`.
//!
//! One gatherer task per target batches like Pebble's: a push 1 s after the first unsent line,
//! or at once when 100 lines arrived since the last push. At most the latest 100 lines wait
//! (older ones are dropped); a push that fails with a connection error, 429 or 5xx is retried
//! with the next push, one that gets another 4xx is dropped. Nothing blocks the service: a
//! gatherer that falls behind loses lines. Label values expand `$NAME` / `${NAME}` from the
//! service's environment. `opentelemetry` targets are accepted but not forwarded to.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout, Instant};

use crate::plan::schema::LogTarget;
use crate::state::{Shared, State};

/// Lines sent in one push, and the most kept waiting.
const MAX_BUFFERED: usize = 100;
/// How long the first unsent line waits for more.
const BUFFER_TIMEOUT: Duration = Duration::from_secs(1);
/// Limit of one push request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Limit of the last push of a target removed from the plan.
const FINAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Lines queued for a gatherer before new ones are dropped.
const QUEUE: usize = 1000;

/// One service output line on its way to a target.
#[derive(Debug)]
struct Entry {
    service: String,
    /// The target's labels evaluated for the service, `pebble_service` included.
    labels: BTreeMap<String, String>,
    unix_nanos: i128,
    message: String,
}

#[derive(Debug)]
struct Gatherer {
    location: String,
    queue: mpsc::Sender<Entry>,
}

/// The running gatherers, by target name (dropping one ends its task after a last push).
#[derive(Debug, Default)]
pub struct LogForwarding {
    gatherers: BTreeMap<String, Gatherer>,
}

/// Starts gatherers for new Loki targets and stops those of targets gone or changed. Call
/// from within the simulator's runtime.
pub fn plan_changed(shared: &Arc<Shared>) {
    let mut state = shared.lock();
    let targets: BTreeMap<String, String> = state
        .plan
        .combined()
        .log_targets
        .iter()
        .filter(|(_, target)| target.r#type.as_deref() == Some("loki"))
        .filter_map(|(name, target)| Some((name.clone(), target.location.clone()?)))
        .collect();
    let forwarding = &mut state.log_forwarding;
    forwarding.gatherers.retain(|name, gatherer| targets.get(name) == Some(&gatherer.location));
    for (name, location) in targets {
        if let std::collections::btree_map::Entry::Vacant(vacant) = forwarding.gatherers.entry(name) {
            let (queue, entries) = mpsc::channel(QUEUE);
            tokio::spawn(gather(location.clone(), entries));
            vacant.insert(Gatherer { location, queue });
        }
    }
}

/// Hands a line of `service`'s output to every target that takes it.
pub fn forward(state: &State, service: &str, message: &str) {
    if state.log_forwarding.gatherers.is_empty() {
        return;
    }
    let plan = state.plan.combined();
    let environment = plan.services.get(service).map(|s| &s.environment);
    let unix_nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    for (name, target) in &plan.log_targets {
        let Some(gatherer) = state.log_forwarding.gatherers.get(name) else {
            continue;
        };
        if !target.takes(service) {
            continue;
        }
        let entry = Entry {
            service: service.to_owned(),
            labels: labels(target, service, environment),
            unix_nanos,
            message: message.to_owned(),
        };
        // A full queue means the target is not keeping up: the line is lost, as in Pebble.
        let _ = gatherer.queue.try_send(entry);
    }
}

fn labels(
    target: &LogTarget,
    service: &str,
    environment: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let empty = BTreeMap::new();
    let environment = environment.unwrap_or(&empty);
    let mut labels: BTreeMap<String, String> =
        target.labels.iter().map(|(key, value)| (key.clone(), expand(value, environment))).collect();
    labels.insert("pebble_service".to_owned(), service.to_owned());
    labels
}

/// Go's `os.Expand`: `$NAME` and `${NAME}` become the variable's value (empty when unset).
fn expand(text: &str, environment: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, eaten) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(0) => (None, 2),
                Some(end) => (Some(&braced[..end]), end + 2),
                None => (None, 1),
            }
        } else if after.starts_with(|c: char| "*#$@!?-".contains(c) || c.is_ascii_digit()) {
            (Some(&after[..1]), 1)
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            if end == 0 {
                out.push('$');
                (None, 0)
            } else {
                (Some(&after[..end]), end)
            }
        };
        if let Some(name) = name {
            out.push_str(environment.get(name).map_or("", String::as_str));
        }
        rest = &after[eaten..];
    }
    out.push_str(rest);
    out
}

/// A target's gatherer: batches entries and pushes them until the target goes away.
async fn gather(location: String, mut entries: mpsc::Receiver<Entry>) {
    let mut buffer: VecDeque<Entry> = VecDeque::new();
    let mut written = 0;
    let mut flush_at: Option<Instant> = None;
    loop {
        tokio::select! {
            entry = entries.recv() => match entry {
                Some(entry) => {
                    if buffer.len() == MAX_BUFFERED {
                        buffer.pop_front();
                    }
                    buffer.push_back(entry);
                    written += 1;
                    if written >= MAX_BUFFERED {
                        (written, flush_at) = (0, None);
                        push(&location, &mut buffer, REQUEST_TIMEOUT).await;
                    } else if flush_at.is_none() {
                        flush_at = Some(Instant::now() + BUFFER_TIMEOUT);
                    }
                }
                None => {
                    push(&location, &mut buffer, FINAL_FLUSH_TIMEOUT).await;
                    return;
                }
            },
            () = sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                (written, flush_at) = (0, None);
                push(&location, &mut buffer, REQUEST_TIMEOUT).await;
            }
        }
    }
}

/// Pushes the buffered entries; clears them on success or on a request Loki will never
/// accept (4xx other than 429), keeps them for the next push otherwise.
async fn push(location: &str, buffer: &mut VecDeque<Entry>, limit: Duration) {
    if buffer.is_empty() {
        return;
    }
    let body = request_body(buffer);
    let keep = match timeout(limit, post(location, body)).await {
        Ok(Ok(200 | 204)) => false,
        Ok(Ok(429)) => true,
        Ok(Ok(status)) if (400..500).contains(&status) => false,
        Ok(Ok(_)) | Ok(Err(_)) | Err(_) => true,
    };
    if !keep {
        buffer.clear();
    }
}

/// Loki's push body: one stream per service (and label set), services in name order.
fn request_body(buffer: &VecDeque<Entry>) -> Bytes {
    let mut streams: BTreeMap<(&str, &BTreeMap<String, String>), Vec<Value>> = BTreeMap::new();
    for entry in buffer {
        streams
            .entry((&entry.service, &entry.labels))
            .or_default()
            .push(json!([entry.unix_nanos.to_string(), entry.message]));
    }
    let streams: Vec<Value> = streams
        .into_iter()
        .map(|((_, labels), values)| json!({"stream": labels, "values": values}))
        .collect();
    Bytes::from(json!({ "streams": streams }).to_string())
}

/// POSTs JSON to an `http://` URL; returns the status code.
async fn post(location: &str, body: Bytes) -> Result<u16, String> {
    let rest = location
        .strip_prefix("http://")
        .ok_or_else(|| format!("unsupported location {location:?} (only http:// is forwarded to)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let address = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
    let stream =
        TcpStream::connect(&address).await.map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(hyper::header::USER_AGENT, format!("pebble/{}", crate::PEBBLE_VERSION))
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_bodies_have_one_stream_per_service_in_name_order() {
        let entry = |service: &str, nanos: i128, message: &str| Entry {
            service: service.to_owned(),
            labels: BTreeMap::from([("pebble_service".to_owned(), service.to_owned())]),
            unix_nanos: nanos,
            message: message.to_owned(),
        };
        let buffer = VecDeque::from([entry("web", 1, "w1"), entry("api", 2, "a1"), entry("web", 3, "w2")]);
        let body: Value = serde_json::from_slice(&request_body(&buffer)).unwrap();
        assert_eq!(
            body,
            json!({"streams": [
                {"stream": {"pebble_service": "api"}, "values": [["2", "a1"]]},
                {"stream": {"pebble_service": "web"}, "values": [["1", "w1"], ["3", "w2"]]},
            ]})
        );
    }

    #[test]
    fn expands_variables_like_go() {
        let env = BTreeMap::from([("JUJU_UNIT".to_owned(), "synapse/0".to_owned())]);
        assert_eq!(expand("unit=$JUJU_UNIT", &env), "unit=synapse/0");
        assert_eq!(expand("${JUJU_UNIT}-x", &env), "synapse/0-x");
        assert_eq!(expand("$MISSING.", &env), ".");
        assert_eq!(expand("cost $ 5", &env), "cost $ 5");
        assert_eq!(expand("a${}b", &env), "ab");
        assert_eq!(expand("plain", &env), "plain");
    }
}
