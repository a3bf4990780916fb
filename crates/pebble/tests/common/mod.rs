//! The Pebble a test talks to, with a client pointed at it: pebble-sim, or a real Pebble when
//! `PEBBLE_REAL_BIN` names its binary (each test then starts `pebble run` in a throw-away
//! `$PEBBLE` directory with its own socket). Container paths go through
//! [`Fixture::path`]: a real Pebble's container is this machine, so they are put under the
//! test's directory.
//!
//! Tests of simulator-only features ([`Fixture::sim_only`]) always use pebble-sim.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use pebble::{Client, Layer, Override, Service, Startup};
use pebble_sim::{PebbleSim, SimConfig};
use tempfile::TempDir;

/// Names a real Pebble binary to run the tests against instead of pebble-sim.
pub const REAL_BIN_ENV: &str = "PEBBLE_REAL_BIN";

/// What the test talks to.
pub enum Backend {
    Sim(PebbleSim),
    Real(RealPebble),
}

/// A running Pebble, stopped before its directory is removed.
pub struct Fixture {
    pub backend: Backend,
    pub client: Client,
    /// Where container path `/x` is on this machine: `<root>/x`.
    root: PathBuf,
    pub dir: TempDir,
}

impl Fixture {
    /// The simulator, for assertions only it can answer; `None` against a real Pebble.
    pub fn sim(&self) -> Option<&PebbleSim> {
        match &self.backend {
            Backend::Sim(sim) => Some(sim),
            Backend::Real(_) => None,
        }
    }

    /// The simulator of a [`sim_only`] fixture.
    pub fn the_sim(&self) -> &PebbleSim {
        self.sim().expect("a pebble-sim fixture")
    }

    pub fn is_real(&self) -> bool {
        matches!(self.backend, Backend::Real(_))
    }

    /// The path Pebble knows container path `path` by.
    pub fn path(&self, path: &str) -> String {
        match self.backend {
            Backend::Sim(_) => path.to_owned(),
            Backend::Real(_) => self.host_path(path).to_string_lossy().into_owned(),
        }
    }

    /// Where container path `path` is on this machine.
    pub fn host_path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

/// A fixture on the Pebble the run selects (see the module documentation); `configure`
/// adjusts pebble-sim's configuration and is ignored for a real Pebble.
pub fn start_with(configure: impl FnOnce(&mut SimConfig)) -> Fixture {
    match std::env::var_os(REAL_BIN_ENV).filter(|bin| !bin.is_empty()) {
        Some(bin) => start_real(Path::new(&bin)),
        None => {
            static SAY: Once = Once::new();
            SAY.call_once(|| {
                eprintln!("pebble client tests: against pebble-sim (set {REAL_BIN_ENV}=/path/to/pebble to use a real Pebble)")
            });
            start_sim(configure)
        }
    }
}

/// [`start_with`] the default configuration.
pub fn start() -> Fixture {
    start_with(|_| {})
}

/// A pebble-sim fixture whatever the run selects: for tests of simulator features.
pub fn sim_only_with(configure: impl FnOnce(&mut SimConfig)) -> Fixture {
    start_sim(configure)
}

pub fn sim_only() -> Fixture {
    sim_only_with(|_| {})
}

fn start_sim(configure: impl FnOnce(&mut SimConfig)) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("container root");
    let socket = dir.path().join("pebble.socket");
    let mut config = SimConfig::new(&socket, &root);
    configure(&mut config);
    let sim = PebbleSim::start(config).expect("simulated Pebble starts");
    Fixture { backend: Backend::Sim(sim), client: Client::new(&socket), root, dir }
}

/// `pebble run` in `<dir>/pebble`, its log in `<dir>/pebble.log`.
pub struct RealPebble {
    child: Child,
    log: PathBuf,
}

impl RealPebble {
    /// What Pebble logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for RealPebble {
    fn drop(&mut self) {
        // SIGTERM lets Pebble stop its services; SIGKILL if it takes too long.
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal with `kill(1)`; a process already gone is fine.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
}

fn start_real(bin: &Path) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("container root");
    let pebble_dir = dir.path().join("pebble");
    std::fs::create_dir(&pebble_dir).expect("PEBBLE directory");
    let socket = pebble_dir.join(".pebble.socket");
    let log = dir.path().join("pebble.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(bin)
        .args(["run", "--create-dirs"])
        .env("PEBBLE", &pebble_dir)
        .env("PEBBLE_SOCKET", &socket)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let real = RealPebble { child, log };
    let client = Client::new(&socket);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client.can_connect() {
        assert!(
            Instant::now() < deadline,
            "{} did not answer on {}:\n{}",
            bin.display(),
            socket.display(),
            real.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Fixture { backend: Backend::Real(real), client, root, dir }
}

/// A layer with one service per `(name, command, startup)`.
pub fn layer(services: &[(&str, &str, Startup)]) -> Layer {
    Layer {
        summary: Some("test layer".into()),
        services: services
            .iter()
            .map(|&(name, command, startup)| {
                let service = Service {
                    override_: Override::Replace,
                    command: Some(command.into()),
                    startup: Some(startup),
                    ..Service::default()
                };
                (name.to_owned(), service)
            })
            .collect::<BTreeMap<_, _>>(),
        ..Layer::default()
    }
}

/// A command that runs until stopped, real enough for a real Pebble.
pub const LONG_RUNNING: &str = "/bin/sleep 600";
