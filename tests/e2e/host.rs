//! What the machine must provide before a test starts Synapse: root (mount namespaces,
//! files owned by uid 991), an empty `/data` mount point, a free port 8008, matrix-synapse
//! in a venv the synapse user can read, and exclusive use of port 8008 among the e2e tests
//! running at the same time.

use std::ffi::OsStr;
use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use test_support::{eventually, poll_until, PythonVenv};

/// The port of the charm's Synapse listener, which every e2e test's Synapse uses.
pub const SYNAPSE_PORT: u16 = 8008;
/// The uid the charm runs Synapse's configuration check as (the image's synapse user).
const SYNAPSE_UID: u32 = 991;
/// The interpreter for a venv the synapse user can use, when the default one is not.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";
/// How long a test waits for another e2e test (another process) to release port 8008.
const LOCK_TIMEOUT: Duration = Duration::from_secs(900);
/// How long a stopped Synapse may hold port 8008.
pub const PORT_TIMEOUT: Duration = Duration::from_secs(30);

/// Held while a test may run Synapse: the name of an abstract unix socket, which the kernel
/// releases however the process ends.
pub struct PortLock {
    _listener: UnixListener,
}

impl PortLock {
    /// Waits until no other e2e test holds the lock, then checks that port 8008 is free.
    pub fn acquire() -> Self {
        let address = SocketAddr::from_abstract_name(b"synapse-k8s-e2e-port-8008")
            .expect("a valid abstract socket name");
        let what = format!("the other e2e tests to release the lock on port {SYNAPSE_PORT}");
        let listener = eventually(&what, LOCK_TIMEOUT, Duration::from_millis(200), || {
            match UnixListener::bind_addr(&address) {
                Ok(listener) => Some(listener),
                Err(error) if error.kind() == ErrorKind::AddrInUse => None,
                Err(error) => panic!("cannot take the e2e lock on port {SYNAPSE_PORT}: {error}"),
            }
        });
        assert!(
            wait_for_free_port(PORT_TIMEOUT),
            "port {SYNAPSE_PORT} stays taken; is a Synapse of an earlier run still running?"
        );
        Self { _listener: listener }
    }
}

/// Polls until port 8008 can be bound (a killed Synapse releases it a moment after its
/// Pebble stopped); false if it is still taken after `timeout`.
pub fn wait_for_free_port(timeout: Duration) -> bool {
    poll_until(timeout, Duration::from_millis(50), || TcpListener::bind(("::", SYNAPSE_PORT)).is_ok())
        .is_some()
}

/// Checks that the tests run as root and that `/data` is an empty directory (created if
/// absent) that the shims can mount the containers' data directories on.
pub fn check_prerequisites() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let euid = fs::metadata("/proc/self").expect("/proc is mounted").uid();
        assert_eq!(euid, 0, "the e2e suite needs root (mount namespaces, files owned by uid {SYNAPSE_UID}); run tests/e2e/run as root");
        let data = Path::new("/data");
        match fs::symlink_metadata(data) {
            Err(error) if error.kind() == ErrorKind::NotFound => {
                fs::create_dir(data).expect("create the /data mount point");
                fs::set_permissions(data, fs::Permissions::from_mode(0o755)).expect("chmod /data");
            }
            Err(error) => panic!("cannot inspect /data: {error}"),
            Ok(meta) => {
                assert!(meta.is_dir(), "/data exists and is not a directory; the e2e suite mounts over /data");
                let mut entries = fs::read_dir(data).expect("read /data");
                assert!(entries.next().is_none(), "refusing to run: /data exists and is not empty");
            }
        }
        for tool in ["unshare", "setpriv", "mount"] {
            let found = Command::new(tool).arg("--version").output().is_ok_and(|out| out.status.success());
            assert!(found, "{tool} (util-linux) is missing");
        }
    });
}

/// The venv python with matrix-synapse from `scripts/python-env synapse`, usable by the
/// synapse user. When the default venv's interpreter is out of its reach (a pyenv build
/// under `/root`, say), the venv is made from the system's `/usr/bin/python3` in a cache in
/// the target directory instead.
pub fn synapse_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let default = python_env(&[]);
        if usable_by_synapse_user(&default) {
            return default;
        }
        let system = Path::new(SYSTEM_PYTHON);
        assert!(system.exists(), "{SYSTEM_PYTHON} is missing: install python3 and python3-venv");
        let cache = target_dir().join("e2e-python-system");
        let base = cache.join("base");
        fs::create_dir_all(&base).expect("create the e2e python cache");
        let link = base.join("python3");
        if fs::read_link(&link).ok().as_deref() != Some(system) {
            let _ = fs::remove_file(&link);
            std::os::unix::fs::symlink(system, &link).expect("link the system python");
        }
        let path = format!("{}:{}", base.display(), std::env::var("PATH").unwrap_or_default());
        let python = python_env(&[("SYNAPSE_K8S_CACHE", cache.as_os_str()), ("PATH", path.as_ref())]);
        assert!(
            usable_by_synapse_user(&python),
            "{} cannot be run by the synapse user (uid {SYNAPSE_UID}); set SYNAPSE_K8S_CACHE to a directory everybody can read",
            python.display()
        );
        python
    })
}

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The interpreter of the `synapse` venv, made with the given environment.
fn python_env(env: &[(&str, &OsStr)]) -> PathBuf {
    PythonVenv::find_with_env("synapse", env).python().to_path_buf()
}

/// Whether the synapse user can run `python` and import Synapse with it.
fn usable_by_synapse_user(python: &Path) -> bool {
    let uid = SYNAPSE_UID.to_string();
    Command::new("setpriv")
        .args(["--reuid", &uid, "--regid", &uid, "--clear-groups", "--"])
        .arg(python)
        .args(["-c", "import synapse"])
        .current_dir("/")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The target directory of the running test executable (`<target>/<profile>/deps/e2e-*`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.ancestors().nth(3).expect("the target directory").to_path_buf()
}

/// A fresh directory under the target's temp dir that every user may enter.
pub fn shared_temp_dir(prefix: &str) -> tempfile::TempDir {
    let dir =
        tempfile::Builder::new().prefix(prefix).tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
    dir
}
