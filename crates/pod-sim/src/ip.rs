//! The `ip` tool (iproute2), which makes and removes every network object, and what
//! teardown and allocation need besides: the processes in a namespace, the host's routes.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::Error;

/// Where `ip netns add` mounts the named network namespaces.
pub(crate) const NETNS_DIR: &str = "/run/netns";
/// Where `ip netns exec <name>` finds files to bind-mount over `/etc/<file>`.
pub(crate) const ETC_NETNS_DIR: &str = "/etc/netns";
/// How long a teardown waits for the killed processes of a pod to be gone.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `ip args...`; its standard output, or the command and what it printed on failure.
pub(crate) fn ip(args: &[&str]) -> Result<String, Error> {
    let command = format!("ip {}", args.join(" "));
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| Error::Sys { action: "run ip (iproute2)", source })?;
    if !output.status.success() {
        return Err(Error::Command {
            command,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// [`ip`] for a teardown step: a failure is reported on stderr and teardown goes on.
pub(crate) fn ip_teardown(args: &[&str]) {
    if let Err(error) = ip(args) {
        eprintln!("pod-sim: teardown: {error}");
    }
}

/// The names of the network namespaces `ip netns add` made.
pub(crate) fn netns_names() -> Vec<String> {
    fs::read_dir(NETNS_DIR)
        .map(|entries| entries.flatten().filter_map(|entry| entry.file_name().into_string().ok()).collect())
        .unwrap_or_default()
}

/// The names of the host's network interfaces.
pub(crate) fn link_names() -> Result<Vec<String>, Error> {
    Ok(ip(&["-o", "link", "show"])?.lines().filter_map(link_name).map(str::to_owned).collect())
}

/// The interface name of a line of `ip -o link show` (`7: name@if6: <...`).
fn link_name(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once(": ")?;
    let end = rest.find([':', '@'])?;
    Some(&rest[..end])
}

/// The IPv4 prefixes routed on the host in any table, except default routes: what a new
/// pod subnet must not overlap.
pub(crate) fn routed_prefixes() -> Result<Vec<(Ipv4Addr, u8)>, Error> {
    Ok(ip(&["-4", "route", "show", "table", "all"])?.lines().filter_map(route_prefix).collect())
}

/// The destination of a line of `ip -4 route show table all`, if it is a prefix.
fn route_prefix(line: &str) -> Option<(Ipv4Addr, u8)> {
    const TYPES: [&str; 10] = [
        "unicast",
        "local",
        "broadcast",
        "multicast",
        "anycast",
        "unreachable",
        "prohibit",
        "blackhole",
        "throw",
        "nat",
    ];
    let mut words = line.split_whitespace();
    let mut destination = words.next()?;
    if TYPES.contains(&destination) {
        destination = words.next()?;
    }
    let (address, length) = destination.split_once('/').unwrap_or((destination, "32"));
    Some((address.parse().ok()?, length.parse().ok().filter(|length| *length <= 32)?))
}

/// Whether two IPv4 prefixes share an address.
pub(crate) fn overlap(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let shorter = a.1.min(b.1);
    let mask = if shorter == 0 { 0 } else { u32::MAX << (32 - u32::from(shorter)) };
    u32::from(a.0) & mask == u32::from(b.0) & mask
}

/// Removes the named network namespace and ends every process in it but this one
/// (SIGKILL), so that no server of a test outlives its pod: those in it first, then, once
/// its name is gone, any that entered it through a handle opened before.
pub(crate) fn remove_netns(netns: &str) {
    let path = Path::new(NETNS_DIR).join(netns);
    let Ok(namespace) = fs::metadata(&path).map(|meta| (meta.dev(), meta.ino())) else {
        return;
    };
    kill_processes_in(netns, namespace);
    ip_teardown(&["netns", "delete", netns]);
    kill_processes_in(netns, namespace);
}

/// Kills the processes whose network namespace is `namespace` (device and inode, as
/// `/proc/<pid>/ns/net` shows them) and waits until they are gone.
fn kill_processes_in(netns: &str, namespace: (u64, u64)) {
    let own = std::process::id();
    let deadline = Instant::now() + KILL_TIMEOUT;
    loop {
        let pids: Vec<u32> = fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| *pid != own)
            .filter(|pid| {
                // Zombies and processes that are gone have no namespace to show.
                fs::metadata(format!("/proc/{pid}/ns/net"))
                    .is_ok_and(|meta| (meta.dev(), meta.ino()) == namespace)
            })
            .collect();
        if pids.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("pod-sim: teardown: processes {pids:?} in {netns} survive SIGKILL");
            return;
        }
        for pid in pids {
            let Ok(pid) = libc::pid_t::try_from(pid) else { continue };
            // SAFETY: kill(2) has no memory effects; a pid that is gone already gives ESRCH.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_are_read_from_one_line_listings() {
        assert_eq!(link_name("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536"), Some("lo"));
        assert_eq!(link_name("9: podsim3v2@if8: <BROADCAST,MULTICAST,UP> mtu 1500"), Some("podsim3v2"));
        assert_eq!(link_name("garbage"), None);
    }

    #[test]
    fn route_destinations_are_prefixes_and_default_routes_are_skipped() {
        let ip = |text: &str| text.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            route_prefix("198.18.3.0/24 dev podsim3 proto kernel scope link src 198.18.3.1"),
            Some((ip("198.18.3.0"), 24))
        );
        assert_eq!(
            route_prefix("local 198.18.3.1 dev podsim3 table local proto kernel"),
            Some((ip("198.18.3.1"), 32))
        );
        assert_eq!(
            route_prefix("broadcast 127.255.255.255 dev lo table local"),
            Some((ip("127.255.255.255"), 32))
        );
        assert_eq!(route_prefix("default via 192.0.2.1 dev eth0"), None);
        assert_eq!(route_prefix("unreachable default table 7"), None);
    }

    #[test]
    fn prefixes_overlap_when_the_shorter_one_contains_the_other() {
        let net = |text: &str, length| (text.parse::<Ipv4Addr>().unwrap(), length);
        assert!(overlap(net("198.18.3.0", 24), net("198.18.3.1", 32)));
        assert!(overlap(net("198.18.0.0", 15), net("198.19.200.0", 24)));
        assert!(overlap(net("0.0.0.0", 0), net("198.18.3.0", 24)));
        assert!(!overlap(net("198.18.3.0", 24), net("198.18.4.0", 24)));
        assert!(!overlap(net("192.0.2.0", 24), net("198.18.0.0", 24)));
    }
}
