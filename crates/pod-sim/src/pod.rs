//! [`Pod`]: a network namespace with one veth into its network's bridge, and the ways to
//! run code and processes in it.

use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use crate::ip::{self, ip, NETNS_DIR};
use crate::network::{etc_dir, Member, PodNetwork, Shared};
use crate::slot::PREFIX_LEN;
use crate::Error;

/// One simulated pod: the network namespace `<network>-<app>-<n>` with `lo` and `eth0` (the
/// pod address, next free one from `.2` on), whose processes see the network's
/// `/etc/hosts`. Other pods of the network reach it as `<app>-<n>.<app>-endpoints` (or
/// `<app>-<n>`); it reaches nothing outside its network's /24.
///
/// Dropping it kills every process left in it and removes its veth, namespace and
/// `/etc/netns` directory; the other pods' `/etc/hosts` no longer list it. Stop what runs
/// threads in it ([`Pod::inside`], such as a simulated Pebble) first.
#[derive(Debug)]
pub struct Pod {
    network: Arc<Shared>,
    member: Member,
    /// The host end of the veth pair, `<network>v<last octet>`.
    veth: String,
}

impl Pod {
    /// Makes pod `<app>-<number>` on `network`. `app` is a Juju application name.
    pub fn create(network: &PodNetwork, app: &str, number: u32) -> Result<Pod, Error> {
        let valid = app.starts_with(|c: char| c.is_ascii_lowercase())
            && !app.ends_with('-')
            && app.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(Error::InvalidApp(app.to_owned()));
        }
        let shared = Arc::clone(&network.shared);
        let mut members = shared.members();
        let name = format!("{app}-{number}");
        if members.iter().any(|member| member.app == app && member.number == number) {
            return Err(Error::DuplicatePod { network: shared.name.clone(), pod: name });
        }
        let free = (2..=254).find(|last| members.iter().all(|member| member.address.octets()[3] != *last));
        let last = free.ok_or_else(|| Error::Full { network: shared.name.clone(), pod: name })?;
        let member = Member {
            app: app.to_owned(),
            number,
            netns: format!("{}-{app}-{number}", shared.name),
            address: shared.address(last),
        };
        members.push(member.clone());
        drop(members);
        let pod = Pod { veth: format!("{}v{last}", shared.name), network: shared, member };
        // From here on, dropping `pod` removes whatever was made.
        pod.attach()?;
        Ok(pod)
    }

    /// Writes the hosts files, makes the namespace and plugs it into the bridge.
    fn attach(&self) -> Result<(), Error> {
        {
            let members = self.network.members();
            self.network.write_hosts(&members)?;
        }
        let netns = self.netns();
        let address = format!("{}/{PREFIX_LEN}", self.address());
        ip(&["netns", "add", netns])?;
        ip(&["link", "add", &self.veth, "type", "veth", "peer", "name", "eth0", "netns", netns])?;
        ip(&["link", "set", &self.veth, "master", &self.network.name, "up"])?;
        ip(&["-n", netns, "address", "add", &address, "dev", "eth0"])?;
        ip(&["-n", netns, "link", "set", "eth0", "up"])?;
        ip(&["-n", netns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// The name of the pod's network namespace, `<network>-<app>-<n>`, for `ip netns` and
    /// `nsenter --net=/run/netns/<name>`.
    pub fn netns(&self) -> &str {
        &self.member.netns
    }

    /// The pod's address.
    pub fn address(&self) -> Ipv4Addr {
        self.member.address
    }

    /// `<app>-<n>`.
    pub fn hostname(&self) -> String {
        self.member.hostname()
    }

    /// `<app>-<n>.<app>-endpoints`, the name other pods reach it by.
    pub fn dns_name(&self) -> String {
        self.member.dns_name()
    }

    /// A command running `program` in the pod: `ip netns exec <netns> program`, so as root
    /// (entering a namespace needs it), with the network's `/etc/hosts` over `/etc/hosts` in
    /// a mount namespace of its own. Add arguments, environment and stdio as usual.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", self.netns()]).arg(program);
        command
    }

    /// Runs `f` on a new thread that has entered the pod: the pod's network namespace and a
    /// mount namespace of its own with the network's `/etc/hosts` bind-mounted over
    /// `/etc/hosts` (what `ip netns exec` does). Threads `f` starts and processes they spawn
    /// stay in the pod whatever user they switch to, so a simulated Pebble started here
    /// (`pod.inside(|| PebbleSim::start(config))`) runs its services, exec commands and
    /// checks in the pod. Panics of `f` propagate.
    pub fn inside<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
        let path = Path::new(NETNS_DIR).join(self.netns());
        let netns = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        let hosts = etc_dir(self.netns()).join("hosts");
        let hosts = CString::new(hosts.as_os_str().as_bytes()).expect("a pod's hosts path has no NUL");
        std::thread::scope(|scope| {
            let thread = scope.spawn(|| {
                enter(&netns, &hosts)?;
                Ok(f())
            });
            thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let netns = self.netns().to_owned();
        if Path::new("/sys/class/net").join(&self.veth).exists() {
            ip::ip_teardown(&["link", "delete", &self.veth]);
        }
        ip::remove_netns(&netns);
        {
            let mut members = self.network.members();
            members.retain(|member| member.netns != netns);
            if let Err(error) = self.network.write_hosts(&members) {
                eprintln!("pod-sim: teardown: {error}");
            }
        }
        let dir = etc_dir(&netns);
        if let Err(error) = fs::remove_dir_all(&dir) {
            if error.kind() != std::io::ErrorKind::NotFound {
                eprintln!("pod-sim: teardown: cannot remove {}: {error}", dir.display());
            }
        }
    }
}

/// Moves the calling thread into the pod, as `ip netns exec` does for a process: a mount
/// namespace of its own in which the host's mounts still appear but its own never leave,
/// the pod's hosts file over `/etc/hosts`, and the pod's network namespace.
fn enter(netns: &File, hosts: &CString) -> Result<(), Error> {
    // SAFETY: unshare(2) and setns(2) change only the calling thread's namespaces (its
    // filesystem attributes are unshared with the mount namespace); mount(2) gets
    // NUL-terminated strings that outlive the calls, or null where it allows it.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(Error::last_os("unshare the mount namespace"));
        }
        let none = std::ptr::null();
        if libc::mount(none, c"/".as_ptr(), none, libc::MS_SLAVE | libc::MS_REC, std::ptr::null()) != 0 {
            return Err(Error::last_os("make the pod's mounts slaves of the host's"));
        }
        if libc::mount(hosts.as_ptr(), c"/etc/hosts".as_ptr(), none, libc::MS_BIND, std::ptr::null()) != 0 {
            return Err(Error::last_os("bind-mount the pod's hosts file over /etc/hosts"));
        }
        if libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
            return Err(Error::last_os("enter the pod's network namespace"));
        }
    }
    Ok(())
}
