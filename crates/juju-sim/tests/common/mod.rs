//! Helpers shared by the integration tests: throwaway shell charms and a simulator wired to
//! the freshly built `juju-sim-tool`.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use juju_sim::Simulator;

/// A simulator using this build's tool binary.
pub fn sim() -> Simulator {
    Simulator::with_tool(env!("CARGO_BIN_EXE_juju-sim-tool")).expect("simulator")
}

/// A charm directory written on the fly; hooks are POSIX shell scripts using the tools.
pub struct ShellCharm {
    dir: tempfile::TempDir,
}

impl ShellCharm {
    pub fn new(metadata: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("metadata.yaml"), metadata).expect("metadata");
        ShellCharm { dir }
    }

    pub fn file(self, name: &str, content: &str) -> Self {
        let path = self.dir.path().join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, content).expect("write");
        self
    }

    fn executable(self, name: &str, body: &str) -> Self {
        let charm = self.file(name, &format!("#!/bin/sh\n{body}\n"));
        let path = charm.dir.path().join(name);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        charm
    }

    /// Writes an executable `dispatch`; `$HOOK` holds the event name from JUJU_DISPATCH_PATH.
    pub fn dispatch(self, body: &str) -> Self {
        self.executable("dispatch", &format!("set -e\nHOOK=\"${{JUJU_DISPATCH_PATH#*/}}\"\n{body}"))
    }

    /// Writes an executable legacy hook `hooks/<name>`.
    pub fn hook(self, name: &str, body: &str) -> Self {
        self.executable(&format!("hooks/{name}"), body)
    }

    /// Writes an executable legacy action `actions/<name>`.
    pub fn action(self, name: &str, body: &str) -> Self {
        self.executable(&format!("actions/{name}"), body)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
