//! Redis through the `redis` relation with redis-k8s (the `redis-client` crate): where it
//! is becomes homeserver.yaml's `redis:`, which the main process and its workers replicate
//! through. The interface has no password.
//!
//! Every unit also asks Redis for a `PING` (a read, from the charm's container, as Synapse
//! would connect from its own): a Redis that does not answer, or an address that is not
//! Redis, is named in the status while Synapse keeps retrying on its own.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use juju::{HookContext, HookTools, LogLevel, RelationHook};
use redis_client::{RedisEndpoint, RedisView};
use serde_json::json;

use crate::component::ComponentPlan;
use crate::deployment::Deployment;
use crate::state::StateError;
use crate::status;

pub const NAME: &str = "redis";
/// The relation endpoint (metadata.yaml).
pub const ENDPOINT: &str = "redis";
/// How long the `PING` may take.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// What the hook found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RedisState {
    #[default]
    NotRelated,
    /// The provider's data (the relation's id for the log).
    Related { relation: String, view: RedisView, reachable: Result<(), String> },
}

/// Nothing when goal-state lists no `redis` relation; else `relation-ids`, the provider's
/// data (see [`RedisView::read`]) and, when it is ready, a `PING`.
pub fn load(
    tools: &HookTools,
    context: &HookContext,
    deployment: &Deployment,
) -> Result<RedisState, StateError> {
    if !deployment.related_endpoints.contains(ENDPOINT) {
        return Ok(RedisState::NotRelated);
    }
    let broken = match &context.event {
        juju::Event::Relation(event) if event.hook == RelationHook::Broken => Some(&event.relation),
        _ => None,
    };
    let Some(id) = tools.relation_ids(ENDPOINT)?.into_iter().find(|id| Some(id) != broken) else {
        return Ok(RedisState::NotRelated);
    };
    let view = RedisView::read(tools, &id).map_err(StateError::Redis)?;
    let reachable = match &view {
        RedisView::Ready(endpoint) => ping(endpoint),
        RedisView::NotReady(_) => Ok(()),
    };
    Ok(RedisState::Related { relation: id.to_string(), view, reachable })
}

/// `PING` over RESP; `Err` says why Redis did not answer `+PONG`.
fn ping(endpoint: &RedisEndpoint) -> Result<(), String> {
    let address = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {}: {error}", endpoint.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", endpoint.host))?;
    let mut stream = TcpStream::connect_timeout(&address, PING_TIMEOUT).map_err(|error| error.to_string())?;
    stream.set_read_timeout(Some(PING_TIMEOUT)).map_err(|error| error.to_string())?;
    stream.write_all(b"PING\r\n").map_err(|error| error.to_string())?;
    let mut reply = [0u8; 64];
    let read = stream.read(&mut reply).map_err(|error| error.to_string())?;
    let reply = String::from_utf8_lossy(&reply[..read]);
    match reply.trim_end() {
        "+PONG" => Ok(()),
        "" => Err("it closed the connection".into()),
        other => Err(format!("it answered {:?}", crate::status::excerpt(other))),
    }
}

/// The plan, and whether Redis is ready for workers.
#[derive(Debug)]
pub struct RedisPlan {
    pub plan: ComponentPlan,
    pub ready: bool,
}

pub fn plan(state: &RedisState) -> RedisPlan {
    let mut plan = ComponentPlan::default();
    let RedisState::Related { relation, view, reachable } = state else {
        return RedisPlan { plan, ready: false };
    };
    match view {
        RedisView::NotReady(reason) => {
            plan.log(LogLevel::Info, format!("redis: {relation} is not ready: {reason}"));
            plan.statuses.push(status::redis_not_ready(&reason.to_string()));
            RedisPlan { plan, ready: false }
        }
        RedisView::Ready(endpoint) => {
            plan.homeserver
                .set("redis", json!({"enabled": true, "host": endpoint.host, "port": endpoint.port}));
            if let Err(reason) = reachable {
                plan.log(
                    LogLevel::Warning,
                    format!("Redis at {endpoint} (from {relation}) does not answer: {reason}; Synapse keeps retrying"),
                );
                plan.statuses.push(status::redis_unreachable(&endpoint.to_string(), reason));
            }
            RedisPlan { plan, ready: true }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use juju::StatusKind;
    use redis_client::NotReady;

    fn related(view: RedisView, reachable: Result<(), String>) -> RedisState {
        RedisState::Related { relation: "redis:3".into(), view, reachable }
    }

    fn endpoint() -> RedisEndpoint {
        RedisEndpoint { host: "10.1.2.3".into(), port: 6379 }
    }

    #[test]
    fn a_ready_provider_becomes_homeserver_yaml_redis() {
        let planned = plan(&related(RedisView::Ready(endpoint()), Ok(())));
        assert!(planned.ready);
        assert_eq!(
            planned.plan.homeserver.0["redis"],
            json!({"enabled": true, "host": "10.1.2.3", "port": 6379})
        );
        assert!(planned.plan.statuses.is_empty());
        let none = plan(&RedisState::NotRelated);
        assert!(!none.ready && none.plan.homeserver.0.is_empty() && none.plan.statuses.is_empty());
    }

    #[test]
    fn a_provider_not_ready_waits_and_an_unreachable_redis_is_named() {
        let waiting = plan(&related(
            RedisView::NotReady(NotReady::UnitNotPublished { unit: "redis-k8s/0".into() }),
            Ok(()),
        ));
        assert!(!waiting.ready && waiting.plan.homeserver.0.is_empty());
        assert_eq!(waiting.plan.statuses[0].kind, StatusKind::Waiting);
        assert!(waiting.plan.statuses[0].message.contains("redis-k8s/0 has published no address yet"));
        let down = plan(&related(RedisView::Ready(endpoint()), Err("Connection refused".into())));
        assert!(down.ready, "Synapse is configured and retries by itself");
        assert_eq!(down.plan.statuses[0].kind, StatusKind::Blocked);
        assert_eq!(
            down.plan.statuses[0].message,
            "Redis at 10.1.2.3:6379 does not answer: Connection refused; check the redis-k8s application"
        );
    }

    #[test]
    fn ping_tells_redis_from_silence_and_from_something_else() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 16];
            let _ = stream.read(&mut request).unwrap();
            stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
        });
        let endpoint = RedisEndpoint { host: "127.0.0.1".into(), port };
        let answer = ping(&endpoint).unwrap_err();
        assert!(answer.contains("HTTP/1.1 400"), "{answer}");
        server.join().unwrap();
        let refused = ping(&endpoint).unwrap_err();
        assert!(refused.to_lowercase().contains("refused"), "{refused}");
    }
}
