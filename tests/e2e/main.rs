//! The end-to-end suite: the charm binary under the simulated Juju configures and starts
//! real Synapse (matrix-synapse from PyPI) through a simulated Pebble that runs real
//! processes, each unit in a simulated pod (`pod-sim`), and the tests check the running
//! Synapse over HTTP on port 8008 of its pod.
//!
//! - [`model`]: the model, its pods, its Pebbles and the command shims; [`host`]: what the
//!   machine must provide (root, an empty `/data`, the venv); [`http`] and [`matrix`]: the
//!   calls the checks make.
//! - [`appservice`]: bridges through matrix-auth; [`actions`]: the user actions;
//!   [`config_table`]: every option through Synapse's loader and PyYAML; [`database`]: the
//!   `database` relation with a passive postgresql-k8s on a real PostgreSQL 15
//!   (`support::postgres`, on the host's address on the test's pod network): SQLite ported
//!   by the real `synapse_port_db`, password rotation, a wrong collation, refused
//!   credentials and a removed relation (`tests/e2e/run database` runs just these).
//! - [`edge`]: the ingress URL, well-known documents and client addresses through nginx;
//!   mail through a real SMTP server (`tests/e2e/run edge`).
//! - [`backup`]: the backup actions on a real S3 server (moto), gpg and real PostgreSQL: the
//!   restore drill and the failure cases (`tests/e2e/run backup`).
//! - [`media`]: media in a real S3 server (moto) through a passive s3-integrator, stored and
//!   served back by synapse-s3-storage-provider (`tests/e2e/run media`).
//! - [`observability`]: a real Prometheus scrapes the main and a worker from the jobs the
//!   charm published; every dashboard query works (`tests/e2e/run observability`).
//! - [`dropin`]: a `/data` made by real Synapse (`--generate-config`, a user registered),
//!   taken over by the charm with its identity (`tests/e2e/run dropin`).
//! - [`scale`]: three units with real Redis, PostgreSQL, nginx, a main and workers; main
//!   failover, scale-down and back (`tests/e2e/run scale`).
//! - [`downtime`]: a client polling every 100 ms through a day of deploy, bridges, a config
//!   change, no-op hooks and scaling: the seconds of unavailability and the restarts per step,
//!   against their targets (`tests/e2e/run downtime`).
//!
//! Synapse listens on the charm's port 8008 of its unit's pod (nginx on 8080), and every
//! test has its own pod network, so the tests share no port and run in parallel. Run the
//! suite with `tests/e2e/run`, as root.

#[path = "../support/mod.rs"]
mod support;

mod host;
mod http;
mod matrix;
mod model;

mod actions;
mod appservice;
mod backup;
mod config_table;
mod database;
mod downtime;
mod dropin;
mod edge;
mod media;
mod observability;
mod scale;
