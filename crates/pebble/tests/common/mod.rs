//! A simulated Pebble on a temporary socket, with a client pointed at it.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::collections::BTreeMap;

use pebble::{Client, Layer, Override, Service, Startup};
use pebble_sim::{PebbleSim, SimConfig};
use tempfile::TempDir;

/// A running simulator, dropped (stopped) before its directory is removed.
pub struct Fixture {
    pub sim: PebbleSim,
    pub client: Client,
    pub dir: TempDir,
}

pub fn start() -> Fixture {
    start_with(|_| {})
}

pub fn start_with(configure: impl FnOnce(&mut SimConfig)) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("container root");
    let socket = dir.path().join("pebble.socket");
    let mut config = SimConfig::new(&socket, &root);
    configure(&mut config);
    let sim = PebbleSim::start(config).expect("simulated Pebble starts");
    Fixture { sim, client: Client::new(&socket), dir }
}

/// A layer with one service per `(name, command, startup)`.
pub fn layer(services: &[(&str, &str, Startup)]) -> Layer {
    Layer {
        summary: Some("test layer".into()),
        services: services
            .iter()
            .map(|&(name, command, startup)| {
                let service = Service {
                    override_: Override::Replace,
                    command: Some(command.into()),
                    startup: Some(startup),
                    ..Service::default()
                };
                (name.to_owned(), service)
            })
            .collect::<BTreeMap<_, _>>(),
        ..Layer::default()
    }
}
