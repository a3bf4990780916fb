//! `Client::for_container` honours `CHARM_CONTAINERS_DIR` (the only test in this binary, as
//! it sets the process environment).

use std::path::Path;

use pebble::{Client, CONTAINERS_DIR_ENV, DEFAULT_CONTAINERS_DIR};

#[test]
fn container_sockets_live_under_the_containers_dir() {
    std::env::remove_var(CONTAINERS_DIR_ENV);
    assert_eq!(
        Client::for_container("synapse").socket(),
        Path::new(DEFAULT_CONTAINERS_DIR).join("synapse/pebble.socket")
    );
    assert_eq!(DEFAULT_CONTAINERS_DIR, "/charm/containers");
    std::env::set_var(CONTAINERS_DIR_ENV, "/tmp/containers");
    assert_eq!(Client::for_container("synapse").socket(), Path::new("/tmp/containers/synapse/pebble.socket"));
}
