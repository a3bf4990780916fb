//! Real Synapse for tests: matrix-synapse from PyPI (through `scripts/python-env synapse`)
//! runs on a free loopback port with a minimal homeserver.yaml in a private temp dir: SQLite,
//! a fresh signing key and shared secret, no federation, no key servers.
//!
//! Synapse never outlives the test process:
//! - it is spawned with `PR_SET_PDEATHSIG` = `SIGKILL` from a thread that lives as long as the
//!   process (the signal follows the spawning *thread*, so spawning from a test's own thread
//!   would kill Synapse when that test ends), so the kernel kills it however the process dies;
//! - [`Synapse::stop`] kills it and removes its dir, and runs on drop of an owned instance and
//!   at process exit (`atexit`) for the [`Synapse::shared`] one.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use rand::distr::{Alphanumeric, SampleString};
use rand::RngCore;
use synapse_admin::SecretString;
use tempfile::TempDir;
use test_support::{poll_until, PythonVenv};

/// The server name every harness Synapse uses.
pub const SERVER_NAME: &str = "synapse.test";
/// How long Synapse may take to answer `/health`; it takes about 2 s on an idle machine.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Start attempts, for the rare case that another process takes the free port first.
const START_ATTEMPTS: usize = 3;

/// One running Synapse.
pub struct Synapse {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Its `registration_shared_secret`.
    pub shared_secret: SecretString,
    /// How long the start took, until `/health` answered.
    pub start_time: Duration,
    pid: u32,
    dir: PathBuf,
    running: Mutex<Option<Running>>,
}

struct Running {
    child: Child,
    dir: TempDir,
}

impl Synapse {
    /// The Synapse shared by all tests of this test binary, started on first use and stopped
    /// at process exit. (nextest runs each test in its own process, so there each test that
    /// calls this gets its own.)
    pub fn shared() -> &'static Synapse {
        static SHARED: OnceLock<Synapse> = OnceLock::new();
        extern "C" fn stop_shared() {
            if let Some(synapse) = SHARED.get() {
                synapse.stop();
            }
        }
        SHARED.get_or_init(|| {
            let synapse = Synapse::start();
            // SAFETY: `stop_shared` is a plain function that does not unwind.
            assert_eq!(unsafe { libc::atexit(stop_shared) }, 0, "atexit failed");
            synapse
        })
    }

    /// Starts a Synapse of its own, stopped when dropped.
    pub fn start() -> Synapse {
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            match try_start() {
                Ok(synapse) => return synapse,
                Err(failure) if failure.contains("Address already in use") => last_failure = failure,
                Err(failure) => panic!("{failure}"),
            }
        }
        panic!("{last_failure}")
    }

    /// The Synapse process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The temp dir holding its config, database and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills Synapse and removes its dir; does nothing the second time.
    pub fn stop(&self) {
        let running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(Running { mut child, dir }) = running {
            let _ = child.kill();
            let _ = child.wait();
            drop(dir);
        }
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One start attempt; on failure, the reason with the end of Synapse's log.
fn try_start() -> Result<Synapse, String> {
    let dir = tempfile::Builder::new()
        .prefix("synapse-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .map_err(|err| format!("cannot create the Synapse dir: {err}"))?;
    let port = free_port();
    let shared_secret = Alphanumeric.sample_string(&mut rand::rng(), 32);
    write_config(dir.path(), port, &shared_secret)
        .map_err(|err| format!("cannot write the config: {err}"))?;

    let log_path = dir.path().join("synapse.log");
    let log = fs::File::create(&log_path).map_err(|err| format!("cannot create the log: {err}"))?;
    let log_for_stderr = log.try_clone().map_err(|err| err.to_string())?;
    let mut command = Command::new(synapse_python());
    command
        .args(["-m", "synapse.app.homeserver", "--config-path"])
        .arg(dir.path().join("homeserver.yaml"))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_for_stderr);

    let started = Instant::now();
    let mut child = spawn_tied_to_process(command).map_err(|err| format!("cannot run Synapse: {err}"))?;
    let base_url = format!("http://127.0.0.1:{port}");
    if let Err(reason) = wait_for_health(&base_url, &mut child) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "Synapse did not start: {reason}\n--- end of its log ---\n{}",
            log_tail(&log_path)
        ));
    }
    Ok(Synapse {
        base_url,
        shared_secret: SecretString::from(shared_secret),
        start_time: started.elapsed(),
        pid: child.id(),
        dir: dir.path().to_owned(),
        running: Mutex::new(Some(Running { child, dir })),
    })
}

/// Writes homeserver.yaml and the signing key. Strings are JSON-quoted, which YAML reads as-is.
fn write_config(dir: &Path, port: u16, shared_secret: &str) -> io::Result<()> {
    let quoted = |path: PathBuf| serde_json::to_string(&path.to_string_lossy()).expect("strings serialize");
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let signing_key = dir.join("signing.key");
    fs::write(&signing_key, format!("ed25519 a_test {}\n", STANDARD_NO_PAD.encode(seed)))?;
    let config = format!(
        r#"server_name: "{SERVER_NAME}"
report_stats: false
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {database}
media_store_path: {media}
signing_key_path: {signing_key}
registration_shared_secret: "{shared_secret}"
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
# Password hashing at the default 12 rounds dominates registration time.
bcrypt_rounds: 4
"#,
        database = quoted(dir.join("homeserver.db")),
        media = quoted(dir.join("media")),
        signing_key = quoted(signing_key),
    );
    fs::write(dir.join("homeserver.yaml"), config)
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// The venv python with matrix-synapse (`scripts/python-env synapse`, made on first use).
pub fn synapse_python() -> &'static Path {
    static VENV: OnceLock<PythonVenv> = OnceLock::new();
    VENV.get_or_init(|| PythonVenv::find("synapse")).python()
}

/// Polls `/health` until it answers 200, failing early if Synapse exits.
pub fn wait_for_health(base_url: &str, child: &mut Child) -> Result<(), String> {
    let agent = ureq::Agent::config_builder()
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent();
    let healthy =
        || matches!(agent.get(format!("{base_url}/health")).call(), Ok(response) if response.status() == 200);
    let outcome = poll_until(START_TIMEOUT, Duration::from_millis(50), || match child.try_wait() {
        Ok(Some(status)) => Some(Err(format!("it exited with {status}"))),
        Err(error) => Some(Err(error.to_string())),
        Ok(None) => healthy().then_some(Ok(())),
    });
    outcome.unwrap_or_else(|| Err(format!("/health did not answer within {START_TIMEOUT:?}")))
}

fn log_tail(path: &Path) -> String {
    const TAIL: u64 = 4000;
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(path) {
        let length = file.metadata().map(|meta| meta.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(length.saturating_sub(TAIL)));
        let _ = file.read_to_string(&mut text);
    }
    text
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `command` so that the kernel kills it when this process dies: with
/// `PR_SET_PDEATHSIG`, from one spawner thread that lives until the process exits.
pub fn spawn_tied_to_process(mut command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("synapse-spawner".to_owned())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
                // The senders live in a static, so the loop above never ends; parking keeps
                // this thread, the children's parent, alive in any case.
                loop {
                    thread::park();
                }
            })
            .expect("start the spawner thread");
        requests
    });
    let parent = std::process::id();
    // SAFETY: the hook only makes async-signal-safe calls (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl took effect.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::other("the test process exited during the spawn"));
            }
            Ok(())
        });
    }
    let (reply, answer) = mpsc::channel();
    spawner.send((command, reply)).map_err(|_| io::Error::other("the spawner thread is gone"))?;
    answer.recv().map_err(|_| io::Error::other("the spawner thread is gone"))?
}
