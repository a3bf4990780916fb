//! Pods of one network reach each other by name; nothing else reaches them or is reached.

use std::fs;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs as _};
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::Duration;

use pod_sim::{Error, Pod, PodNetwork};

use crate::support::{fetch, fetch_from_host, nothing_left_of, pods_available, Server, PORT};

/// Connects to `address` from inside `pod`.
fn connect_from(pod: &Pod, address: SocketAddr) -> std::io::Result<TcpStream> {
    pod.inside(|| TcpStream::connect_timeout(&address, Duration::from_secs(3))).expect("enter the pod")
}

#[test]
fn pods_reach_each_other_by_pod_name_and_nothing_else() {
    if !pods_available("pods reaching each other") {
        return;
    }
    let network = PodNetwork::create().expect("a pod network");
    let web = Pod::create(&network, "web", 0).expect("pod web-0");
    let db = Pod::create(&network, "db", 0).expect("pod db-0");
    assert_eq!((web.hostname(), web.dns_name()), ("web-0".to_owned(), "web-0.web-endpoints".to_owned()));
    assert_eq!(web.netns(), format!("{}-web-0", network.name()));
    let base = u32::from(network.host_address()) & !0xff;
    assert_eq!(network.subnet(), format!("{}/24", Ipv4Addr::from(base)));
    assert_eq!(network.host_address(), Ipv4Addr::from(base + 1));
    assert_eq!((web.address(), db.address()), (Ipv4Addr::from(base + 2), Ipv4Addr::from(base + 3)));
    assert!(
        (u32::from(Ipv4Addr::new(198, 18, 0, 0))..u32::from(Ipv4Addr::new(198, 20, 0, 0))).contains(&base)
    );

    let _server = Server::start(&web);
    let url = format!("http://web-0.web-endpoints:{PORT}/");
    assert_eq!(fetch(&db, &url), Ok("web-0".to_owned()), "db-0 reaches web-0 by its pod DNS name");
    assert_eq!(fetch(&db, &format!("http://web-0:{PORT}/")), Ok("web-0".to_owned()), "and by its hostname");

    // Both pods, and no other process, see the network's hosts file.
    for pod in [&web, &db] {
        let hosts = pod.command("cat").arg("/etc/hosts").output().expect("cat /etc/hosts in the pod");
        assert_eq!(String::from_utf8_lossy(&hosts.stdout), network.hosts());
    }
    let hosts = network.hosts();
    assert!(hosts.contains(&format!("{}\tweb-0.web-endpoints web-0\n", web.address())), "{hosts}");
    assert!(hosts.contains(&format!("{}\tdb-0.db-endpoints db-0\n", db.address())), "{hosts}");
    let resolved =
        db.inside(|| ("web-0.web-endpoints", PORT).to_socket_addrs().map(Iterator::collect::<Vec<_>>));
    assert_eq!(
        resolved.expect("enter db-0").expect("web-0 resolves in db-0"),
        [SocketAddr::from((web.address(), PORT))]
    );
    assert!(!fs::read_to_string("/etc/hosts").expect("the host's /etc/hosts").contains("-endpoints"));
    assert!(("web-0.web-endpoints", PORT).to_socket_addrs().is_err(), "the host does not know pod names");

    // The host reaches pods at their addresses, through its own on the bridge.
    assert_eq!(fetch_from_host(&format!("http://{}:{PORT}/", web.address())), Ok("web-0".to_owned()));
    // The server uses no host port: the host's loopback does not lead to it.
    let from_host = fetch_from_host(&format!("http://127.0.0.1:{PORT}/"));
    assert_ne!(from_host, Ok("web-0".to_owned()), "the host's 127.0.0.1:{PORT} is not web-0's server");
    // The pod's loopback is its own, and the pod reaches nothing outside its network.
    let refused = connect_from(&web, SocketAddr::from(([127, 0, 0, 1], PORT)))
        .expect_err("nothing on web-0's loopback");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    // Another /24 of the range, and an address of the documentation range.
    for outside in [Ipv4Addr::from((base ^ 0x100) | 2), Ipv4Addr::new(192, 0, 2, 1)] {
        let error =
            connect_from(&web, SocketAddr::from((outside, PORT))).expect_err("no route out of the network");
        assert_eq!(error.kind(), ErrorKind::NetworkUnreachable, "{outside}: {error}");
    }

    // Names are unique in a network, and must be Juju application names.
    assert!(matches!(Pod::create(&network, "web", 0), Err(Error::DuplicatePod { .. })));
    for bad in ["Web", "web-", "9web", "we b", "", "web/0"] {
        assert!(matches!(Pod::create(&network, bad, 1), Err(Error::InvalidApp(_))), "{bad:?}");
    }

    // A pod that goes leaves the others' hosts file; its address is free again.
    let db_address = db.address();
    drop(db);
    let hosts = web.command("cat").arg("/etc/hosts").output().expect("cat /etc/hosts in web-0");
    assert!(!String::from_utf8_lossy(&hosts.stdout).contains("db-0"), "db-0 is gone from web-0's hosts");
    let cache = Pod::create(&network, "cache", 3).expect("pod cache-3");
    assert_eq!(cache.address(), db_address);
    assert!(network.hosts().contains(&format!("{db_address}\tcache-3.cache-endpoints cache-3\n")));

    let name = network.name().to_owned();
    drop((cache, web, network));
    nothing_left_of(&name).unwrap();
}

/// The bridge's MAC address, as the host sees it.
fn bridge_mac(network: &PodNetwork) -> String {
    let path = format!("/sys/class/net/{}/address", network.name());
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}")).trim().to_owned()
}

#[test]
fn the_gateway_keeps_its_mac_address_as_pods_come_and_go() {
    if !pods_available("the gateway's MAC address") {
        return;
    }
    let network = PodNetwork::create().expect("a pod network");
    let mac = bridge_mac(&network);
    // A port with a lower MAC than the bridge's would become the bridge's MAC without one of
    // its own; with a few pods, one of their random MACs is almost surely the lowest.
    let mut pods: Vec<Pod> =
        (0..4).map(|number| Pod::create(&network, "app", number).expect("a pod")).collect();
    assert_eq!(bridge_mac(&network), mac, "a pod joining changed the gateway's MAC");
    let listener = std::net::TcpListener::bind((network.host_address(), 0)).expect("a host listener");
    let address = listener.local_addr().expect("its address");
    let last = pods.pop().expect("a pod");
    connect_from(&last, address).expect("the host is reachable");
    pods.clear();
    assert_eq!(bridge_mac(&network), mac, "pods leaving changed the gateway's MAC");
    // Its ARP entry for the gateway is still good: the host answers at once.
    connect_from(&last, address).expect("the host is still reachable after the others left");
}

#[test]
fn parallel_networks_do_not_see_each_other() {
    if !pods_available("parallel pod networks") {
        return;
    }
    let ((one, a), (two, b)) = std::thread::scope(|scope| {
        let make = |app: &'static str| {
            scope.spawn(move || {
                let network = PodNetwork::create().expect("a pod network");
                let pod = Pod::create(&network, app, 0).expect("a pod");
                (network, pod)
            })
        };
        let (first, second) = (make("a"), make("b"));
        (first.join().expect("the first network"), second.join().expect("the second network"))
    });
    assert_ne!(one.name(), two.name());
    assert_ne!(one.subnet(), two.subnet());
    // The same port on both sides at once, and the same pod names would not clash either.
    let _server_a = Server::start(&a);
    let _server_b = Server::start(&b);
    for (from, to) in [(&a, &b), (&b, &a)] {
        let error = connect_from(from, SocketAddr::from((to.address(), PORT))).expect_err("another network");
        assert_eq!(
            error.kind(),
            ErrorKind::NetworkUnreachable,
            "{} -> {}: {error}",
            from.hostname(),
            to.hostname()
        );
    }
    let other_host = connect_from(&a, SocketAddr::from((two.host_address(), PORT)));
    assert_eq!(
        other_host.expect_err("the host's address on the other network").kind(),
        ErrorKind::NetworkUnreachable
    );
    assert!(!one.hosts().contains("b-0"), "{}", one.hosts());
    assert!(fetch(&a, &format!("http://b-0.b-endpoints:{PORT}/")).is_err());
    let names = [one.name().to_owned(), two.name().to_owned()];
    drop((a, b, one, two));
    for name in names {
        nothing_left_of(&name).unwrap();
    }
}

#[test]
fn the_unit_wrapper_runs_each_unit_in_its_own_pod() {
    if !pods_available("the unit wrapper") {
        return;
    }
    let network = PodNetwork::create().expect("a pod network");
    let pods: Vec<Pod> = (0..2).map(|number| Pod::create(&network, "web", number).expect("a pod")).collect();
    let dir = tempfile::tempdir().expect("a directory for the wrapper");
    let wrapper = dir.path().join("charm");
    fs::write(&wrapper, network.unit_wrapper("ip")).expect("write the wrapper");
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod the wrapper");
    for pod in &pods {
        let unit = format!("web/{}", pod.hostname().rsplit_once('-').expect("app-n").1);
        let output = Command::new(&wrapper)
            .args(["-4", "-o", "address", "show"])
            .env("JUJU_UNIT_NAME", &unit)
            .output()
            .expect("run the wrapper");
        let addresses = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{unit}: {}", String::from_utf8_lossy(&output.stderr));
        let interfaces: Vec<&str> =
            addresses.lines().filter_map(|line| line.split_whitespace().nth(1)).collect();
        assert_eq!(interfaces, ["lo", "eth0"], "{unit} sees only its pod's interfaces:\n{addresses}");
        assert!(addresses.contains(&format!(" {}/24 ", pod.address())), "{unit}:\n{addresses}");
    }
    let output = Command::new(&wrapper).env_remove("JUJU_UNIT_NAME").output().expect("run the wrapper");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("JUJU_UNIT_NAME"));
}
