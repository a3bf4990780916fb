//! Which network a process may make: one of the 512 /24 subnets of 198.18.0.0/15, each
//! guarded by an exclusive `flock` on `/run/pod-sim/<index>.lock`. The kernel releases the
//! lock however the holder ends, so a free lock with objects still named after its index
//! means leftovers of a killed run; whoever takes the lock next removes them first, and
//! [`cleanup_stale`] removes them all.
//!
//! Every object of network `<index>` carries the name `podsim<index>`: the bridge itself,
//! the host ends of the pods' veth pairs `podsim<index>v<last octet>`, the network
//! namespaces `podsim<index>-<app>-<n>` and their `/etc/netns` directories.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd as _;
use std::path::PathBuf;

use crate::ip::{self, ETC_NETNS_DIR, NETNS_DIR};
use crate::Error;

/// The first address of the range the pod subnets come from (RFC 2544 benchmarking).
const BASE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
/// How many /24 subnets 198.18.0.0/15 holds.
const SUBNETS: u16 = 512;
/// The prefix length of a pod network.
pub(crate) const PREFIX_LEN: u8 = 24;
/// Where the locks live: a tmpfs, emptied with the network objects at boot.
const LOCK_DIR: &str = "/run/pod-sim";
/// What every object of a network is named after.
const NAME_PREFIX: &str = "podsim";

/// A subnet this process holds until the value is dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    index: u16,
    _lock: File,
}

impl Slot {
    /// Takes the first subnet no live process holds and nothing on the host routes, after
    /// removing what a killed holder left of it.
    pub(crate) fn acquire() -> Result<Slot, Error> {
        fs::create_dir_all(LOCK_DIR).map_err(|e| Error::io("create", LOCK_DIR, e))?;
        let mut routed = ip::routed_prefixes()?;
        for index in 0..SUBNETS {
            let Some(mut lock) = try_lock(index)? else {
                continue;
            };
            if !sweep(index).is_empty() {
                routed = ip::routed_prefixes()?;
            }
            let subnet = (subnet_address(index), PREFIX_LEN);
            if routed.iter().any(|prefix| ip::overlap(*prefix, subnet)) {
                continue;
            }
            // For whoever looks at the lock: who holds it.
            let holder = format!("pid {}\n", std::process::id());
            let written = lock.set_len(0).and_then(|()| lock.write_all(holder.as_bytes()));
            written.map_err(|e| Error::io("write", lock_path(index), e))?;
            return Ok(Slot { index, _lock: lock });
        }
        Err(Error::Exhausted)
    }

    /// The name of the network: its bridge, and the prefix of all its other objects.
    pub(crate) fn name(&self) -> String {
        network_name(self.index)
    }

    /// The bridge's own MAC address: locally administered, unicast, unique per network
    /// (`02:70:64:00:<index>`).
    pub(crate) fn bridge_mac(&self) -> String {
        let [high, low] = self.index.to_be_bytes();
        format!("02:70:64:00:{high:02x}:{low:02x}")
    }

    /// The subnet's first address (`198.18.<index>.0` or `198.19.<index - 256>.0`).
    pub(crate) fn subnet(&self) -> Ipv4Addr {
        subnet_address(self.index)
    }

    /// Removes every object of the network (see [`sweep`]); the lock stays held until drop.
    pub(crate) fn sweep(&self) {
        sweep(self.index);
    }
}

/// Removes the objects of networks whose process is gone (killed test runs) and kills the
/// processes still running in their pods; the names of what it removed. Networks of live
/// processes, in this process or another, are left alone.
///
/// [`crate::PodNetwork::create`] calls it once per process; call it directly to clean up a
/// machine.
pub fn cleanup_stale() -> Result<Vec<String>, Error> {
    let links = ip::link_names()?;
    let netns = ip::netns_names();
    let etc = fs::read_dir(ETC_NETNS_DIR)
        .map(|entries| entries.flatten().filter_map(|entry| entry.file_name().into_string().ok()).collect())
        .unwrap_or_else(|_| Vec::new());
    let mut indices: Vec<u16> =
        links.iter().chain(&netns).chain(&etc).filter_map(|name| index_of(name)).collect();
    indices.sort_unstable();
    indices.dedup();
    let mut removed = Vec::new();
    for index in indices {
        // Held: a live network. Free: leftovers, removed while holding the lock.
        if let Some(_lock) = try_lock(index)? {
            removed.extend(sweep(index));
        }
    }
    Ok(removed)
}

/// Removes everything named after network `index` (killing the processes in its pods
/// first); the names of what it removed. The caller holds the network's lock.
fn sweep(index: u16) -> Vec<String> {
    let name = network_name(index);
    let ours = |object: &String| index_of(object) == Some(index);
    let mut removed = Vec::new();
    for netns in ip::netns_names().into_iter().filter(ours) {
        ip::remove_netns(&netns);
        removed.push(format!("{NETNS_DIR}/{netns}"));
    }
    // The veths first: deleting one end deletes the other, even in a namespace still in use.
    let mut links: Vec<String> = ip::link_names().unwrap_or_default().into_iter().filter(ours).collect();
    links.sort_by_key(|link| *link == name);
    for link in links {
        ip::ip_teardown(&["link", "delete", &link]);
        removed.push(format!("link {link}"));
    }
    let entries =
        fs::read_dir(ETC_NETNS_DIR).map(|entries| entries.flatten().collect()).unwrap_or_else(|_| Vec::new());
    for entry in entries {
        if entry.file_name().into_string().is_ok_and(|dir| ours(&dir)) {
            if let Err(error) = fs::remove_dir_all(entry.path()) {
                eprintln!("pod-sim: teardown: cannot remove {}: {error}", entry.path().display());
            }
            removed.push(entry.path().display().to_string());
        }
    }
    removed
}

/// The lock of network `index` if no other holder has it.
fn try_lock(index: u16) -> Result<Option<File>, Error> {
    let path = lock_path(index);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    // SAFETY: flock(2) on a descriptor this function owns; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(file));
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(None);
    }
    Err(Error::io("lock", path, error))
}

fn lock_path(index: u16) -> PathBuf {
    PathBuf::from(LOCK_DIR).join(format!("{index}.lock"))
}

fn network_name(index: u16) -> String {
    format!("{NAME_PREFIX}{index}")
}

fn subnet_address(index: u16) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(BASE) + (u32::from(index) << 8))
}

/// The network an object belongs to, from its name: `podsim<index>` alone, or followed by
/// `v` (a veth) or `-` (a namespace or its `/etc/netns` directory).
fn index_of(object: &str) -> Option<u16> {
    let rest = object.strip_prefix(NAME_PREFIX)?;
    let digits = rest.find(|c: char| !c.is_ascii_digit()).map_or(rest, |end| &rest[..end]);
    let tail = &rest[digits.len()..];
    let canonical = !digits.is_empty() && (digits == "0" || !digits.starts_with('0'));
    let index: u16 = digits.parse().ok().filter(|index| canonical && *index < SUBNETS)?;
    (tail.is_empty() || tail.starts_with('v') || tail.starts_with('-')).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_cover_the_benchmarking_range_in_order() {
        assert_eq!(subnet_address(0), Ipv4Addr::new(198, 18, 0, 0));
        assert_eq!(subnet_address(255), Ipv4Addr::new(198, 18, 255, 0));
        assert_eq!(subnet_address(256), Ipv4Addr::new(198, 19, 0, 0));
        assert_eq!(subnet_address(SUBNETS - 1), Ipv4Addr::new(198, 19, 255, 0));
    }

    #[test]
    fn objects_are_told_apart_by_the_index_in_their_name() {
        assert_eq!(index_of("podsim7"), Some(7));
        assert_eq!(index_of("podsim17v254"), Some(17));
        assert_eq!(index_of("podsim0-synapse-1"), Some(0));
        assert_eq!(index_of("podsim511-redis-k8s-0"), Some(511));
        for foreign in ["podsim", "podsim512", "podsim07", "podsim7x", "eth0", "br-podsim7", "podsimv2"] {
            assert_eq!(index_of(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn interface_names_fit_the_kernel_limit() {
        // IFNAMSIZ is 16 with the terminating NUL.
        assert!(format!("{}v254", network_name(SUBNETS - 1)).len() <= 15);
    }
}
