"""Shared paths and helpers of the packaging tests (run with the charmcraft venv's python)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CHARMCRAFT = VENV_BIN / "charmcraft"
METADATA_FILES = ("metadata.yaml", "config.yaml", "actions.yaml")
HOOKS = ("install", "start", "upgrade-charm")


def load_yaml(path: Path):
    """Parse one YAML file of the project."""
    with path.open(encoding="utf-8") as file:
        return yaml.safe_load(file)


def cargo_target_dir() -> Path:
    """The workspace's cargo target dir (honours CARGO_TARGET_DIR), where scripts/pack builds."""
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return Path(json.loads(metadata.stdout)["target_directory"])


def analyse(charm: Path) -> list[dict]:
    """Findings of `charmcraft analyse --format json` (its exit code only mirrors the worst)."""
    result = subprocess.run(
        [str(CHARMCRAFT), "analyse", "--format", "json", str(charm)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"},
    )
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"charmcraft analyse exited with {result.returncode} without a JSON report:\n"
            f"{result.stdout}{result.stderr}"
        ) from None


def expected_charm_files() -> set[str]:
    """Names the packed charm must hold: the layout `charmcraft pack` gives this project."""
    optional = {name for name in ("README.md", "LICENSE") if (ROOT / name).is_file()}
    return {
        "dispatch",
        *(f"hooks/{hook}" for hook in HOOKS),
        *METADATA_FILES,
        "bin/synapse-k8s",
        "manifest.yaml",
        *optional,
    }


EXECUTABLES = {"dispatch", "bin/synapse-k8s", *(f"hooks/{hook}" for hook in HOOKS)}
# Files charmcraft's package service writes into the charm itself, not the build part.
WRITTEN_BY_CHARMCRAFT = {*METADATA_FILES, "manifest.yaml"}


def load_pack_script():
    """scripts/pack imported as a module, to test its checks on their own."""
    loader = importlib.machinery.SourceFileLoader("pack", str(ROOT / "scripts" / "pack"))
    spec = importlib.util.spec_from_loader("pack", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("pack", module)
    loader.exec_module(module)
    return module
