//! Simulated Kubernetes pods for tests that run real servers as several units: each unit is
//! a network namespace with its own address, reachable by its pod DNS name from the other
//! pods of its network and from nothing else. Linux only, and root only (see
//! [`unavailable`]).
//!
//! # The model
//!
//! - A [`PodNetwork`] is a Linux bridge `podsim<index>` with its own /24 out of the
//!   benchmarking range 198.18.0.0/15 (`198.18.<index>.0/24`, then `198.19.…`); the host
//!   holds `.1` on it ([`PodNetwork::host_address`]), so test code reaches the pods directly.
//! - A [`Pod`] (`Pod::create(&network, "synapse", 0)`) is the network namespace
//!   `podsim<index>-synapse-0` with `lo` and `eth0` at the next free address from `.2` on,
//!   a veth into the bridge and no route beyond the /24: pods talk to each other and to the
//!   host's `.1`, and send nothing anywhere else.
//! - Every pod sees the network's `/etc/hosts` ([`PodNetwork::hosts`]) listing every pod as
//!   `<ip> <app>-<n>.<app>-endpoints <app>-<n>`, Kubernetes' names for a unit's pod. It is
//!   `/etc/netns/<netns>/hosts`, which `ip netns exec` bind-mounts over `/etc/hosts` in a
//!   mount namespace of the process's own, rewritten in place when pods come and go.
//! - Servers in a pod listen on the pod's address or its loopback: no host port is used, so
//!   tests with pods run in parallel, each with its own network.
//!
//! # Getting processes into a pod
//!
//! - [`Pod::command`]: a [`std::process::Command`] running a program through
//!   `ip netns exec <netns>`, as root.
//! - [`Pod::inside`]: runs a closure on a thread that entered the pod (network namespace and
//!   the pod's `/etc/hosts`, as `ip netns exec` does). Everything that thread starts stays in
//!   the pod, threads and processes alike, whatever user a process later switches to. A
//!   simulated Pebble started there runs its services, exec commands (also those run as
//!   the synapse user, which could not enter a namespace themselves) and health checks
//!   (`localhost:8008` is the pod's) in the pod, while its API socket, a file, stays
//!   reachable from the test:
//!
//!   ```no_run
//!   # fn main() -> Result<(), Box<dyn std::error::Error>> {
//!   use pebble_sim::{ExecMode, PebbleSim, ServiceMode, SimConfig};
//!   use pod_sim::{Pod, PodNetwork};
//!
//!   let network = PodNetwork::create()?;
//!   let pod = Pod::create(&network, "synapse", 0)?;
//!   let mut config = SimConfig::new("/tmp/synapse-0/pebble.socket", "/tmp/synapse-0/root");
//!   (config.services, config.exec) = (ServiceMode::Process, ExecMode::Host);
//!   let pebble = pod.inside(|| PebbleSim::start(config))??;
//!   // ... the test; then the Pebble goes first, the pod next, the network last:
//!   drop(pebble);
//!   drop(pod);
//!   # Ok(())
//!   # }
//!   ```
//! - [`PodNetwork::unit_wrapper`]: a shell script that runs a program in the pod of the
//!   Juju unit named by `$JUJU_UNIT_NAME`, for the charm binary the simulated Juju runs, so
//!   that each unit's hooks and actions see their own pod (`http://localhost:8008`).
//!
//! # With the simulated Juju
//!
//! Give each unit its pod's address before it is created, so that `network-get` answers it:
//! `AppSpec::charm(..).unit_address(n, pod.address())`, or
//! `Simulator::set_unit_address("<app>/<n>", ip)` for a unit that exists or the next one
//! `add_unit` makes.
//!
//! # Parallel runs
//!
//! The subnet, and with it every name, comes from an index 0–511 held through an exclusive
//! `flock` on `/run/pod-sim/<index>.lock` for the network's lifetime. The kernel releases it
//! however the process ends, so parallel tests, in one process or many, never share a
//! subnet or a name, and a subnet that something else on the host routes is skipped.
//!
//! # Cleanup
//!
//! Dropping a [`Pod`] kills the processes still in it (SIGKILL) and removes its veth,
//! namespace and `/etc/netns` directory; dropping the last of a [`PodNetwork`] and its pods
//! removes everything named after the network, the bridge last. Drops also run when a test
//! panics. What a killed run left behind (its lock is free but objects named after it
//! remain) is removed by whoever takes that index next and by [`cleanup_stale`], which the
//! first [`PodNetwork::create`] of each process runs.
//!
//! # Limits
//!
//! Pods share the host's hostname, users, filesystem and process table; only the network and
//! `/etc/hosts` are the pod's (a unit's `/data` stays the job of the e2e shims' mount
//! namespaces). A hosts file is rewritten in place (the bind mounts follow the
//! file, not its name), so a lookup at that very moment may find it empty. IPv6 link-local
//! addresses exist on the links, as on any Linux link; nothing routes IPv6 further.

mod error;
mod ip;
mod network;
mod pod;
mod slot;

pub use error::Error;
pub use network::PodNetwork;
pub use pod::Pod;
pub use slot::cleanup_stale;

/// The address range pod networks come from: RFC 2544's benchmarking range, never routed
/// on the internet.
pub const RANGE: &str = "198.18.0.0/15";

/// Why pods cannot be made on this machine, or `None` if they can: they need root (network
/// namespaces, mounts, links) and iproute2's `ip`.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Some(format!("simulated pods need root (network namespaces and links), not uid {euid}"));
    }
    match std::process::Command::new("ip").arg("-V").output() {
        Ok(output) if output.status.success() => None,
        _ => Some("simulated pods need iproute2's `ip`, which is missing".to_owned()),
    }
}
