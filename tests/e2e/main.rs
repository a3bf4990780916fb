//! The end-to-end suite: the charm binary under the simulated Juju configures and starts
//! real Synapse (matrix-synapse from PyPI) through a simulated Pebble that runs real
//! processes, and the tests check the running Synapse over HTTP on `localhost:8008`.
//!
//! - [`model`]: the model, its Pebbles and the command shims; [`host`]: what the machine
//!   must provide (root, an empty `/data`, port 8008, the venv); [`http`] and [`matrix`]:
//!   the calls the checks make.
//! - [`appservice`]: bridges through matrix-auth; [`actions`]: the user actions;
//!   [`config_table`]: every option through Synapse's loader and PyYAML; [`units`]: two
//!   units share their secrets.
//!
//! Synapse listens on the charm's port 8008, so the tests take turns (a lock serialises
//! them across processes). Run the suite with `tests/e2e/run`, as root.

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
