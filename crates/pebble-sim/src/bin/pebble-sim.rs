//! `pebble-sim --socket S --root R [--process] [--host-exec] [--probe-checks]
//! [--map /start.py=/path]`: serves a simulated Pebble until SIGTERM/SIGINT.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;
use pebble_sim::{CheckMode, ExecMode, PebbleSim, ServiceMode, SimConfig};

#[derive(Debug, Parser)]
#[command(about = "Simulated Pebble server on a unix socket")]
struct Args {
    /// Unix socket to serve the API on.
    #[arg(long)]
    socket: PathBuf,
    /// Directory standing for the container filesystem root.
    #[arg(long)]
    root: PathBuf,
    /// Run services as real host processes (and exec commands on the host).
    #[arg(long)]
    process: bool,
    /// Run exec commands on the host (implied by --process).
    #[arg(long)]
    host_exec: bool,
    /// Probe checks for real even with simulated services (implied by --process; without
    /// it a check follows the state of its services).
    #[arg(long)]
    probe_checks: bool,
    /// Rewrite a command's argv[0]: CONTAINER_PATH=HOST_PATH (repeatable).
    #[arg(long = "map", value_name = "FROM=TO")]
    maps: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut command_map = BTreeMap::new();
    for map in &args.maps {
        let Some((from, to)) = map.split_once('=') else {
            bail!("--map expects FROM=TO, got {map:?}");
        };
        command_map.insert(from.to_owned(), PathBuf::from(to));
    }
    let config = SimConfig {
        services: if args.process { ServiceMode::Process } else { ServiceMode::default() },
        exec: if args.process || args.host_exec { ExecMode::Host } else { ExecMode::Scripted },
        checks: if args.probe_checks { CheckMode::Probe } else { CheckMode::Auto },
        command_map,
        ..SimConfig::new(&args.socket, &args.root)
    };
    let sim = PebbleSim::start(config).context("cannot start pebble-sim")?;
    eprintln!("pebble-sim: serving on {}", sim.socket().display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot create the signal runtime")?;
    runtime.block_on(async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch SIGTERM")?;
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        anyhow::Ok(())
    })?;
    sim.stop();
    eprintln!("pebble-sim: stopped");
    Ok(())
}
