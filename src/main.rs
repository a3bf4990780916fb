//! The Synapse charm: one binary for every hook and action Juju dispatches.
//!
//! `charm` routes the event: [`actions`] runs the user actions; every other hook reconciles.
//! A reconcile loads each component's state ([`state`]), has each of the [`components`] plan
//! its concern following the [`component`] contract, merges the plans in [`compose`], carries
//! them out in [`apply`], and reports the statuses (see [`juju::StatusReport`]).

mod actions;
mod app_secrets;
mod app_status;
mod apply;
mod charm;
mod component;
mod components;
mod compose;
mod config;
mod data_dir;
mod deployment;
mod health;
mod homeserver;
mod layer;
mod redact;
mod s3_relation;
mod s3_tool;
mod state;
mod status;
mod unsupported;
mod workload;

/// The packed charm is a static musl binary (see `scripts/pack`), whose own allocator is slow.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> std::process::ExitCode {
    juju::charm_main(charm::run)
}
