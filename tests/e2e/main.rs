//! The end-to-end suite: the charm binary under the simulated Juju configures and starts
//! real Synapse (matrix-synapse from PyPI) through a simulated Pebble that runs real
//! processes, and the tests check the running Synapse over HTTP on `localhost:8008`.
//!
//! Needs root and an empty `/data` (see `host`); Synapse listens on the charm's port 8008,
//! so the tests take turns (a lock serialises them across processes). Run it with
//! `tests/e2e/run`.

#[path = "../support/mod.rs"]
mod support;

mod host;
mod http;
mod matrix;
mod model;

mod actions;
mod appservice;
mod config_table;
mod units;
