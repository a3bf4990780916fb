//! The charm binary `scripts/pack` ships (built by that script's own function: static, for
//! this machine's musl target) and the packed charm's size: the archive the script writes,
//! made by its own functions (same files, layout and compression). Only `charmcraft
//! analyse` is left out, so no charmcraft venv is needed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{ensure, Context as _};

use crate::charms::repo;

/// Loads scripts/pack as the module `module` (argv[1]: the repository).
const LOAD_PACK: &str = r#"
import datetime, importlib.machinery, importlib.util, pathlib, sys
root = sys.argv[1]
loader = importlib.machinery.SourceFileLoader("pack", f"{root}/scripts/pack")
module = importlib.util.module_from_spec(importlib.util.spec_from_loader("pack", loader))
sys.modules["pack"] = module  # dataclasses look their module up there
loader.exec_module(module)
"#;

/// Builds the binary and prints its path last.
const BUILD: &str = r#"
print(module.build_binary())
"#;

/// Writes the charm (argv: repo, binary, output).
const PACK: &str = r#"
binary, output = sys.argv[2:4]
now = datetime.datetime.now()
manifest = module.manifest_yaml("unknown", module.charm_architecture(), now)
module.write_charm(module.collect_entries(pathlib.Path(binary), manifest), pathlib.Path(output), now)
"#;

/// Sizes in bytes.
pub struct PackedSize {
    pub charm: u64,
    pub binary: u64,
}

/// The charm binary `scripts/pack` builds, built once per run.
pub fn rust_binary() -> anyhow::Result<&'static Path> {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    if let Some(binary) = BINARY.get() {
        return Ok(binary);
    }
    let result = Command::new("python3")
        .arg("-c")
        .arg(format!("{LOAD_PACK}{BUILD}"))
        .arg(repo())
        .output()
        .context("cannot run python3")?;
    ensure!(
        result.status.success(),
        "building the charm failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let stdout = String::from_utf8_lossy(&result.stdout);
    let binary = stdout.lines().last().context("scripts/pack's build printed no path")?;
    Ok(BINARY.get_or_init(|| PathBuf::from(binary)))
}

pub fn packed_size() -> anyhow::Result<PackedSize> {
    let dir = tempfile::Builder::new().prefix("hook-bench-pack-").tempdir()?;
    let output = dir.path().join("synapse-k8s.charm");
    let binary = rust_binary()?;
    let result = Command::new("python3")
        .arg("-c")
        .arg(format!("{LOAD_PACK}{PACK}"))
        .arg(repo())
        .arg(binary)
        .arg(&output)
        .output()
        .context("cannot run python3")?;
    ensure!(result.status.success(), "packing failed:\n{}", String::from_utf8_lossy(&result.stderr));
    Ok(PackedSize { charm: size(&output)?, binary: size(binary)? })
}

fn size(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len())
}
