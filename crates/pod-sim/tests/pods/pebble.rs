//! A simulated Pebble started inside a pod runs its services, exec commands (as another
//! user too) and checks in the pod.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;

use pebble::{Check, CheckLevel, CheckStatus, ExecRequest, HttpCheck, Layer, Override, Service, Startup};
use pebble_sim::{ExecMode, PebbleSim, ServiceMode, SimConfig};
use pod_sim::{Pod, PodNetwork};
use test_support::{eventually, POLL, TIMEOUT};

use crate::support::{fetch, pods_available, soon, PORT, PYTHON};

/// The uid of the synapse user, which the charm runs its commands as.
const SYNAPSE_UID: u32 = 991;

#[test]
fn a_pebble_started_inside_a_pod_runs_everything_there() {
    if !pods_available("Pebble inside a pod") {
        return;
    }
    let network = PodNetwork::create().expect("a pod network");
    let web = Pod::create(&network, "web", 0).expect("pod web-0");
    let peer = Pod::create(&network, "peer", 0).expect("pod peer-0");
    // The synapse user's commands start in the container root, so it must get there.
    let dir = tempfile::tempdir().expect("a directory for the Pebble");
    std::fs::create_dir(dir.path().join("root")).expect("the container root");
    for path in [dir.path().to_owned(), dir.path().join("root")] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod 755");
    }
    let mut config = SimConfig::new(dir.path().join("pebble.socket"), dir.path().join("root"));
    (config.services, config.exec) = (ServiceMode::Process, ExecMode::Host);
    let pebble = web.inside(|| PebbleSim::start(config)).expect("enter web-0").expect("Pebble starts");
    let client = pebble::Client::new(pebble.socket());

    // A service run as the synapse user binds the pod's name, which resolves in the pod.
    let url = format!("http://web-0.web-endpoints:{PORT}/");
    let service = Service {
        override_: Override::Replace,
        command: Some(format!("{PYTHON} -m http.server --bind web-0.web-endpoints {PORT}")),
        startup: Some(Startup::Enabled),
        user_id: Some(SYNAPSE_UID),
        group_id: Some(SYNAPSE_UID),
        ..Service::default()
    };
    let check = Check {
        override_: Override::Replace,
        level: Some(CheckLevel::Ready),
        period: Some("100ms".into()),
        threshold: Some(1),
        http: Some(HttpCheck { url: url.clone(), headers: BTreeMap::new() }),
        ..Check::default()
    };
    let layer = Layer {
        services: [("web".to_owned(), service)].into(),
        checks: [("web-ready".to_owned(), check)].into(),
        ..Layer::default()
    };
    client.add_layer("pod", &layer, false).expect("add the layer");
    client.replan().expect("replan");
    // Pebble's own check, by the pod name, from inside the pod.
    eventually("the check of web-0's service to be up", TIMEOUT, POLL, || {
        client.checks(None, &["web-ready"]).expect("the checks")[0].status == CheckStatus::Up
    });
    assert!(fetch(&peer, &url).is_ok(), "peer-0 reaches the service");

    // An exec command run as the synapse user, which could not enter a namespace itself.
    let script = "import socket\n\
                  print(open('/proc/self/net/dev').read())\n\
                  print(socket.gethostbyname('peer-0.peer-endpoints'))";
    let request = ExecRequest {
        user_id: Some(SYNAPSE_UID),
        group_id: Some(SYNAPSE_UID),
        ..ExecRequest::new([PYTHON, "-c", script])
    };
    let output = client.exec(&request).expect("exec in the pod");
    let stdout = output.stdout_text();
    assert!(output.success(), "{}", output.stderr_text());
    assert!(stdout.contains("eth0:") && !stdout.contains(&format!("{}:", network.name())), "{stdout}");
    assert!(stdout.ends_with(&format!("{}\n", peer.address())), "{stdout}");

    // Stopping the Pebble stops the service (its socket goes a moment after the kill).
    drop(pebble);
    soon("the stopped Pebble's service to release its port", || {
        web.inside(|| std::net::TcpListener::bind((web.address(), PORT)).is_ok()).expect("enter web-0")
    });
}
