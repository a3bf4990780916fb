//! Reaching Pebble: connect errors, availability and request counting.

mod common;

use pebble::{Client, Error};

#[test]
fn a_missing_socket_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pebble.socket");
    let client = Client::new(&socket);
    match client.system_info() {
        Err(err @ Error::Connect { .. }) => {
            assert!(err.is_connection_error());
            assert!(err.to_string().contains(&*socket.to_string_lossy()), "{err}");
            let Error::Connect { socket: reported, source } = err else { unreachable!() };
            assert_eq!(reported, socket);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
    assert!(!client.can_connect());
    assert!(client.replan().unwrap_err().is_connection_error());
}

#[test]
fn an_unavailable_pebble_is_a_connect_error_until_it_returns() {
    // Taking the socket away is a simulator feature.
    let fixture = common::sim_only();
    assert!(fixture.client.can_connect());
    fixture.the_sim().set_available(false).unwrap();
    assert!(fixture.client.plan().unwrap_err().is_connection_error());
    assert!(!fixture.client.can_connect());
    fixture.the_sim().set_available(true).unwrap();
    assert!(fixture.client.can_connect());
}

#[test]
fn requests_are_counted() {
    let fixture = common::start();
    let client = &fixture.client;
    assert_eq!(client.request_count(), 0);
    let info = client.system_info().unwrap();
    assert!(info.version.starts_with('v'), "{info:?}");
    assert!(!info.boot_id.is_empty());
    assert_eq!(client.request_count(), 1);
    client.plan().unwrap();
    assert_eq!(client.request_count(), 2);
    let served_before = fixture.sim().map(|sim| sim.requests().len());
    client
        .add_layer("l", &common::layer(&[("s", common::LONG_RUNNING, pebble::Startup::Enabled)]), false)
        .unwrap();
    client.replan().unwrap();
    // Adding the layer, posting the replan, and waiting for its change.
    assert_eq!(client.request_count(), 5);
    if let (Some(sim), Some(before)) = (fixture.sim(), served_before) {
        assert_eq!(sim.requests().len() - before, 3);
    }
}
