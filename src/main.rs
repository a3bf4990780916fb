//! The Synapse charm: one binary for every hook and action Juju dispatches.
//!
//! `charm` routes the event: [`actions`] runs the user actions; a reconcile reads
//! [`state`], decides in [`reconcile`] what Synapse's container should hold ([`config`],
//! [`homeserver`], [`layer`], [`app_secrets`], the bridges' registrations of
//! [`matrix_auth`]) and makes it so in [`apply`], reporting one [`status`].

mod actions;
mod app_secrets;
mod app_status;
mod apply;
mod charm;
mod config;
mod data_dir;
mod deployment;
mod health;
mod homeserver;
mod layer;
mod matrix_auth;
mod reconcile;
mod redact;
mod state;
mod status;
mod unsupported;
mod workload;

fn main() -> std::process::ExitCode {
    juju::charm_main(charm::run)
}
