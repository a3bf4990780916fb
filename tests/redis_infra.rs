//! The Redis test infrastructure itself: real `redis-server` processes (`support::redis`),
//! reached over TCP, and the passive redis-k8s provider (`support::redis_provider`), whose
//! bags must read back through `redis-client` exactly as `shared/specs/integrations.md` §2
//! says. The requirer here is passive too (it writes nothing, as the interface wants), so
//! these tests hold whatever the charm does.

mod support;

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use juju::{HookContext, HookTools, RelationId};
use juju_sim::model::Bag;
use juju_sim::{AppSpec, CharmMeta, Event, Simulator};
use redis_client::{NotReady, RedisEndpoint, RedisView};
use support::redis::{command_at, RedisServer, Reply};
use support::redis_provider::{RedisK8s, ENDPOINT, REDIS_APP};

/// The passive stand-in for the charm: the requirer application.
const REQUIRER: &str = "synapse";

fn text(reply: Reply) -> String {
    reply.text().unwrap_or_else(|| panic!("not text: {reply:?}"))
}

/// `CONFIG GET <name>`: the value.
fn config(server: &RedisServer, name: &str) -> String {
    match server.command(&["CONFIG", "GET", name]).expect("CONFIG GET") {
        Reply::Array(Some(pair)) if pair.len() == 2 => text(pair[1].clone()),
        other => panic!("CONFIG GET {name} answered {other:?}"),
    }
}

#[test]
fn the_server_answers_ping_over_tcp_on_its_own_address_only() {
    let mut server = RedisServer::start();
    assert_eq!(server.address(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(server.host(), "127.0.0.1");
    server.ping().expect("PING");
    assert!(server.is_running() && server.pid().is_some());

    // A bare inline PING on a plain socket, as any client sends it.
    let mut stream = TcpStream::connect(server.endpoint()).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"PING\r\n").unwrap();
    let mut answer = [0; 7];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"+PONG\r\n");

    assert_eq!(server.command(&["SET", "k", "v"]).unwrap(), Reply::Status("OK".into()));
    assert_eq!(server.command(&["GET", "k"]).unwrap(), Reply::Bulk(Some(b"v".to_vec())));
    assert_eq!(server.command(&["GET", "missing"]).unwrap(), Reply::Bulk(None));
    assert_eq!(server.command(&["INCR", "n"]).unwrap(), Reply::Integer(1));
    assert!(matches!(server.command(&["NOPE"]).unwrap(), Reply::Error(error) if error.starts_with("ERR")));
    // As redis-k8s serves a `redis` relation: no password, protected mode off.
    assert_eq!(config(&server, "requirepass"), "");
    assert_eq!(config(&server, "protected-mode"), "no");
    // No persistence, in its own directory, bound to its address only.
    assert_eq!(config(&server, "save"), "");
    assert_eq!(config(&server, "appendonly"), "no");
    assert_eq!(config(&server, "bind"), "127.0.0.1");
    assert_eq!(config(&server, "port"), server.port().to_string());
    assert_eq!(
        std::fs::canonicalize(config(&server, "dir")).unwrap(),
        std::fs::canonicalize(server.dir()).unwrap()
    );
    assert!(server.log().contains("Ready to accept connections"), "{}", server.log());
}

#[test]
fn start_on_listens_on_the_given_address_only() {
    // All of 127.0.0.0/8 is loopback on Linux: a second local address without setup.
    let address = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let server = RedisServer::start_on(address);
    assert_eq!(server.endpoint().ip(), address);
    assert_eq!(server.host(), "127.0.0.2");
    server.ping().expect("PING on 127.0.0.2");
    assert_eq!(config(&server, "bind"), "127.0.0.2");
    let elsewhere = (Ipv4Addr::LOCALHOST, server.port()).into();
    assert!(command_at(elsewhere, &["PING"]).is_err(), "nothing listens on 127.0.0.1:{}", server.port());
}

#[test]
fn servers_run_side_by_side_and_leave_nothing_behind() {
    let first = RedisServer::start();
    let second = RedisServer::start();
    assert_ne!(first.port(), second.port());
    assert_ne!(first.dir(), second.dir());
    first.command(&["SET", "which", "first"]).unwrap();
    assert_eq!(second.command(&["GET", "which"]).unwrap(), Reply::Bulk(None));
    let (dir, endpoint) = (first.dir().to_path_buf(), first.endpoint());
    drop(first);
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert!(TcpStream::connect(endpoint).is_err(), "the server still listens on {endpoint}");
    second.ping().expect("the other server is untouched");
}

#[test]
fn killing_or_stopping_the_server_is_observable() {
    let mut server = RedisServer::start();
    server.ping().unwrap();
    server.kill();
    assert!(!server.is_running() && server.pid().is_none());
    let error = server.ping().expect_err("a killed server answers nothing");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused, "{error}");
    server.kill(); // again: nothing to do

    let mut server = RedisServer::start();
    server.command(&["SET", "k", "v"]).unwrap();
    server.stop();
    assert!(!server.is_running());
    assert!(TcpStream::connect(server.endpoint()).is_err());
    assert!(server.log().contains("ready to exit"), "{}", server.log());
    assert!(
        std::fs::read_dir(server.dir()).unwrap().all(|entry| { entry.unwrap().file_name() == "redis.log" }),
        "no dump.rdb or AOF: nothing persisted"
    );
}

/// A model with a passive requirer (`synapse`, endpoint `redis`) and a passive redis-k8s
/// of `units` units, related: the simulator, the provider and the relation id.
fn model(units: u32) -> (Simulator, RedisK8s, u32) {
    let mut sim = Simulator::new().expect("juju-sim starts");
    let meta = CharmMeta::from_yaml(&format!(
        "name: {REQUIRER}\nrequires:\n  {ENDPOINT}:\n    interface: redis\n    limit: 1\n"
    ))
    .expect("requirer metadata");
    sim.add_app(AppSpec::passive(REQUIRER, meta).units(2)).expect("requirer added");
    let provider = RedisK8s::deploy(&mut sim, units);
    let (relation, runs) = provider.integrate(&mut sim, REQUIRER);
    assert!(runs.is_empty(), "passive applications run no hooks: {runs:?}");
    (sim, provider, relation)
}

/// `RedisView::read` in an in-process hook of `unit`.
fn read(sim: &mut Simulator, unit: &str, relation: u32) -> RedisView {
    let runner = Arc::new(sim.in_process(unit, Event::RelationChanged { relation, unit: None }).unwrap());
    let env = runner.env().clone();
    let context = HookContext::from_vars(|name| env.get(name).cloned(), None).unwrap();
    assert_eq!(context.app_name, REQUIRER);
    let tools = HookTools::from_shared(runner.clone());
    let view = RedisView::read(&tools, &RelationId::new(ENDPOINT, relation)).expect("no hook-tool failure");
    drop(tools);
    let runner = Arc::try_unwrap(runner).ok().expect("the hook tools are gone");
    let run = sim.finish_in_process(runner, 0).unwrap();
    assert_eq!(run.count("relation-set"), 0, "the requirer writes nothing");
    view
}

#[test]
fn the_provider_publishes_the_real_server_and_redis_client_reads_it() {
    let server = RedisServer::start();
    let (mut sim, provider, relation) = model(2);
    assert_eq!(provider.app, REDIS_APP);
    assert_eq!(
        read(&mut sim, "synapse/0", relation),
        RedisView::NotReady(NotReady::UnitNotPublished { unit: "redis-k8s/0".into() })
    );

    let runs = provider.publish(&mut sim, relation, &server);
    assert!(runs.is_empty(), "{runs:?}");
    let port = server.port().to_string();
    for unit in provider.units(&sim) {
        let bag = provider.unit_bag(&sim, relation, &unit);
        assert_eq!((bag["hostname"].as_str(), bag["port"].as_str()), ("127.0.0.1", port.as_str()), "{unit}");
    }
    assert_eq!(
        provider.app_bag(&sim, relation),
        [("leader-host".to_string(), "127.0.0.1".to_string())].into()
    );
    assert!(sim.relation_data(relation, &Bag::App(REQUIRER.into())).unwrap().is_empty());

    let expected = RedisEndpoint { host: "127.0.0.1".into(), port: server.port() };
    for unit in ["synapse/0", "synapse/1"] {
        let RedisView::Ready(endpoint) = read(&mut sim, unit, relation) else { panic!("{unit} not ready") };
        assert_eq!(endpoint, expected);
        // What the view names is the live server.
        let address = (endpoint.host.parse::<IpAddr>().unwrap(), endpoint.port).into();
        assert_eq!(command_at(address, &["PING"]).unwrap(), Reply::Status("PONG".into()));
        assert_eq!(endpoint.url(), format!("redis://127.0.0.1:{}", server.port()));
    }
}

#[test]
fn without_leader_host_the_units_address_is_read_and_malformed_ports_are_named() {
    let server = RedisServer::start();
    let (mut sim, provider, relation) = model(1);
    provider.publish_units(&mut sim, relation, &server);
    assert!(provider.app_bag(&sim, relation).is_empty());
    assert_eq!(
        read(&mut sim, "synapse/1", relation),
        RedisView::Ready(RedisEndpoint { host: server.host(), port: server.port() })
    );
    provider.set_unit(&mut sim, relation, "redis-k8s/0", &[("port", "sixty")]);
    assert_eq!(
        read(&mut sim, "synapse/1", relation),
        RedisView::NotReady(NotReady::PortMalformed { unit: "redis-k8s/0".into(), value: "sixty".into() })
    );
}

#[test]
fn redis_down_is_seen_at_the_address_the_relation_names() {
    let mut server = RedisServer::start();
    let (mut sim, provider, relation) = model(1);
    provider.publish(&mut sim, relation, &server);
    let RedisView::Ready(endpoint) = read(&mut sim, "synapse/0", relation) else { panic!("not ready") };
    let address = (endpoint.host.parse::<IpAddr>().unwrap(), endpoint.port).into();
    command_at(address, &["PING"]).expect("up");
    server.kill();
    assert!(command_at(address, &["PING"]).is_err(), "down");
    // The relation data does not change: the view stays Ready; only the server is gone.
    assert_eq!(read(&mut sim, "synapse/0", relation), RedisView::Ready(endpoint));
}
