//! The packed charm's size: the archive `scripts/pack` writes, made by that script's own
//! functions (same files, layout and compression) from the binary under test. Only
//! `charmcraft analyse` is left out, so no charmcraft venv is needed.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context as _};

use crate::charms::{repo, rust_binary};

/// Loads scripts/pack as a module and writes the charm (argv: repo, binary, output).
const PACK: &str = r#"
import datetime, importlib.machinery, importlib.util, pathlib, sys
root, binary, output = sys.argv[1:4]
loader = importlib.machinery.SourceFileLoader("pack", f"{root}/scripts/pack")
module = importlib.util.module_from_spec(importlib.util.spec_from_loader("pack", loader))
sys.modules["pack"] = module  # dataclasses look their module up there
loader.exec_module(module)
now = datetime.datetime.now()
manifest = module.manifest_yaml("unknown", module.charm_architecture(), now)
module.write_charm(module.collect_entries(pathlib.Path(binary), manifest), pathlib.Path(output), now)
"#;

/// Sizes in bytes.
pub struct PackedSize {
    pub charm: u64,
    pub binary: u64,
}

pub fn packed_size() -> anyhow::Result<PackedSize> {
    let dir = tempfile::Builder::new().prefix("hook-bench-pack-").tempdir()?;
    let output = dir.path().join("synapse-k8s.charm");
    let result = Command::new("python3")
        .arg("-c")
        .arg(PACK)
        .arg(repo())
        .arg(rust_binary())
        .arg(&output)
        .output()
        .context("cannot run python3")?;
    ensure!(result.status.success(), "packing failed:\n{}", String::from_utf8_lossy(&result.stderr));
    Ok(PackedSize { charm: size(&output)?, binary: size(Path::new(rust_binary()))? })
}

fn size(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len())
}
