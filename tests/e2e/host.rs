//! What the machine must provide before a test starts Synapse: root (mount namespaces,
//! network namespaces for the pods, files owned by uid 991), an empty `/data` mount point,
//! and matrix-synapse in a venv the synapse user can read. Each test's Synapse listens on
//! port 8008 of its own simulated pod, so the tests share no port and run in parallel.

use std::ffi::OsStr;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use test_support::PythonVenv;

/// The port of the charm's Synapse listener, in each unit's pod.
pub const SYNAPSE_PORT: u16 = 8008;
/// The uid the charm runs Synapse's configuration check as (the image's synapse user).
const SYNAPSE_UID: u32 = 991;
/// Debian's nginx, which each unit's Pebble runs as the pod's entry point.
pub const NGINX: &str = "/usr/sbin/nginx";
/// The interpreter for a venv the synapse user can use, when the default one is not.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

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
                // Another test process may create it at the same time.
                if let Err(error) = fs::create_dir(data) {
                    assert_eq!(error.kind(), ErrorKind::AlreadyExists, "create the /data mount point: {error}");
                }
                fs::set_permissions(data, fs::Permissions::from_mode(0o755)).expect("chmod /data");
            }
            Err(error) => panic!("cannot inspect /data: {error}"),
            Ok(meta) => {
                assert!(meta.is_dir(), "/data exists and is not a directory; the e2e suite mounts over /data");
                let mut entries = fs::read_dir(data).expect("read /data");
                assert!(entries.next().is_none(), "refusing to run: /data exists and is not empty");
            }
        }
        if let Some(reason) = pod_sim::unavailable() {
            panic!("the e2e suite runs each unit in a simulated pod: {reason}");
        }
        assert!(Path::new(NGINX).exists(), "{NGINX} is missing: install Debian's nginx (scripts/test does)");
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
            // Test processes start side by side: each makes its own link and renames it into
            // place, so none finds another's half-made link or fails on it existing.
            let own = base.join(format!("python3.{}", std::process::id()));
            let _ = fs::remove_file(&own);
            std::os::unix::fs::symlink(system, &own).expect("link the system python");
            fs::rename(&own, &link).expect("move the system python's link into place");
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
