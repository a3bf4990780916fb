//! [`PodNetwork`]: a Linux bridge with its own /24, and the `/etc/hosts` its pods share.

use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::ip::{ip, ETC_NETNS_DIR};
use crate::slot::{cleanup_stale, Slot, PREFIX_LEN};
use crate::Error;

/// A private network for the pods of one test: a bridge named `podsim<index>` holding
/// `198.18.<index>.1/24` (or `198.19.<index - 256>.1/24`), the host's address there, and
/// the pods attached to it ([`crate::Pod::create`]). Pods have no route beyond the /24.
///
/// Dropping the network and all its pods removes every object named after it: the bridge,
/// the veths, the network namespaces (after killing the processes in them) and their
/// `/etc/netns` directories. The subnet is free again for other tests only then.
#[derive(Debug)]
pub struct PodNetwork {
    pub(crate) shared: Arc<Shared>,
}

/// What the network and its pods share; the last of them to go removes the network.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) name: String,
    /// The pods, in the order they were made; their `/etc/hosts` lists them all.
    members: Mutex<Vec<Member>>,
    slot: Slot,
}

/// A pod as the network's `/etc/hosts` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) app: String,
    pub(crate) number: u32,
    pub(crate) netns: String,
    pub(crate) address: Ipv4Addr,
}

impl Member {
    /// `<app>-<n>`, the pod's hostname in Kubernetes.
    pub(crate) fn hostname(&self) -> String {
        format!("{}-{}", self.app, self.number)
    }

    /// `<app>-<n>.<app>-endpoints`, its name in the application's headless service.
    pub(crate) fn dns_name(&self) -> String {
        format!("{}.{}-endpoints", self.hostname(), self.app)
    }
}

impl PodNetwork {
    /// Makes a network on the first subnet of 198.18.0.0/15 that no live process holds and
    /// nothing on the host routes. The first call of a process also removes what killed test
    /// runs left behind ([`cleanup_stale`]).
    pub fn create() -> Result<PodNetwork, Error> {
        static CLEANED: AtomicBool = AtomicBool::new(false);
        if !CLEANED.swap(true, Ordering::SeqCst) {
            cleanup_stale()?;
        }
        let slot = Slot::acquire()?;
        let shared = Shared { name: slot.name(), members: Mutex::new(Vec::new()), slot };
        // From here on, dropping `shared` removes whatever was made.
        let network = PodNetwork { shared: Arc::new(shared) };
        let name = network.name();
        let host = format!("{}/{PREFIX_LEN}", network.host_address());
        // A bridge takes the lowest MAC address of its ports unless it has one of its own:
        // then a pod leaving would change the gateway's MAC under the other pods' ARP
        // entries, and their packets to the host would be dropped until those expire.
        let mac = network.shared.slot.bridge_mac();
        ip(&["link", "add", name, "address", &mac, "type", "bridge"])?;
        ip(&["address", "add", &host, "dev", name])?;
        ip(&["link", "set", name, "up"])?;
        Ok(network)
    }

    /// The bridge's name, `podsim<index>`, which starts the name of every other object of
    /// the network.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The network's subnet, such as `198.18.3.0/24`.
    pub fn subnet(&self) -> String {
        format!("{}/{PREFIX_LEN}", self.shared.slot.subnet())
    }

    /// The host's address on the bridge (`.1`): processes of the host reach the pods
    /// through it, and pods reach it.
    pub fn host_address(&self) -> Ipv4Addr {
        self.shared.address(1)
    }

    /// The `/etc/hosts` every pod of the network sees right now.
    pub fn hosts(&self) -> String {
        render_hosts(&self.shared.name, &self.shared.members())
    }

    /// A `/bin/sh` script that runs `program` with its arguments in the pod of the Juju unit
    /// named by `$JUJU_UNIT_NAME`: unit `<app>/<n>` runs in pod `<app>-<n>` of this network
    /// (through `ip netns exec`, so as root). Put it where the simulated Juju runs the charm
    /// (the charm's `dispatch` target) so that each unit's hooks see its own pod's network,
    /// `localhost` included.
    pub fn unit_wrapper(&self, program: &str) -> String {
        format!(
            "#!/bin/sh\n\
             # Runs the program in the pod of the unit $JUJU_UNIT_NAME (pod-sim network {name}).\n\
             unit=${{JUJU_UNIT_NAME:?is not set}}\n\
             exec ip netns exec \"{name}-${{unit%/*}}-${{unit##*/}}\" {program} \"$@\"\n",
            name = self.name(),
            program = shell_quote(program),
        )
    }
}

impl Shared {
    /// The address with the given last octet in the network's subnet.
    pub(crate) fn address(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.slot.subnet()) | u32::from(last))
    }

    pub(crate) fn members(&self) -> MutexGuard<'_, Vec<Member>> {
        // A panic while the list was held leaves it consistent: each change is one push or
        // one retain.
        self.members.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Rewrites `/etc/netns/<netns>/hosts` of every member, in place: `ip netns exec` and
    /// [`crate::Pod::inside`] bind-mount that file, so a new file would go unseen.
    pub(crate) fn write_hosts(&self, members: &[Member]) -> Result<(), Error> {
        let hosts = render_hosts(&self.name, members);
        for member in members {
            let dir = etc_dir(&member.netns);
            fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
            let path = dir.join("hosts");
            fs::write(&path, &hosts).map_err(|e| Error::io("write", &path, e))?;
        }
        Ok(())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.slot.sweep();
    }
}

/// The `/etc/netns` directory of a pod's network namespace.
pub(crate) fn etc_dir(netns: &str) -> PathBuf {
    PathBuf::from(ETC_NETNS_DIR).join(netns)
}

/// Kubernetes' pod `/etc/hosts`, with every pod of the network under its headless-service
/// name and its hostname.
fn render_hosts(network: &str, members: &[Member]) -> String {
    let mut hosts = format!(
        "# The pods of pod-sim network {network}.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    );
    for member in members {
        hosts.push_str(&format!("{}\t{} {}\n", member.address, member.dns_name(), member.hostname()));
    }
    hosts
}

/// `text` as one single-quoted shell word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_list_every_pod_by_service_name_and_hostname() {
        let member = |app: &str, number, last| Member {
            app: app.into(),
            number,
            netns: format!("podsim3-{app}-{number}"),
            address: Ipv4Addr::new(198, 18, 3, last),
        };
        let hosts = render_hosts("podsim3", &[member("synapse", 0, 2), member("postgresql-k8s", 1, 3)]);
        assert_eq!(
            hosts,
            "# The pods of pod-sim network podsim3.\n\
             127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             198.18.3.2\tsynapse-0.synapse-endpoints synapse-0\n\
             198.18.3.3\tpostgresql-k8s-1.postgresql-k8s-endpoints postgresql-k8s-1\n"
        );
    }

    #[test]
    fn programs_are_quoted_as_one_shell_word() {
        assert_eq!(shell_quote("/usr/bin/python3"), "'/usr/bin/python3'");
        assert_eq!(shell_quote("/tmp/it's here"), r"'/tmp/it'\''s here'");
    }
}
