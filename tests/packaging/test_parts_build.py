"""charmcraft.yaml's part, run by craft-parts as `charmcraft pack` would, lays out the charm.

The lifecycle runs on this machine instead of charmcraft's LXD instance, so two things of
that instance are left to it: the rustup snap (`rust-channel` becomes `none`, using the
cargo found here) and apt build packages (craft-parts' apt backend needs python-apt, which
the venv lacks; the packages are present here). Everything else, from pulling the source
to priming, is craft-parts' own code on the real recipe.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest
from pathlib import Path

import craft_parts.packages
from charmcraft.application.main import APP_METADATA
from charmcraft.models.project import CharmcraftProject
from craft_parts import LifecycleManager, Step
from craft_parts.packages.base import DummyRepository

from common import (
    EXECUTABLES,
    ROOT,
    VENV_BIN,
    WRITTEN_BY_CHARMCRAFT,
    cargo_target_dir,
    expected_charm_files,
    load_pack_script,
)

pack = load_pack_script()


class PartsBuildTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = Path(tempfile.mkdtemp(prefix="synapse-k8s-parts-"))
        cls.addClassCleanup(shutil.rmtree, cls.work)
        project = CharmcraftProject.from_yaml_file(ROOT / "charmcraft.yaml")
        parts = {name: {**part, "rust-channel": "none"} for name, part in project.parts.items()}
        target = cargo_target_dir()
        ignore = [".craft", *APP_METADATA.source_ignore_patterns]
        if target.is_relative_to(ROOT):
            # charmcraft would copy an in-tree target dir too; here that only costs time.
            ignore.append(target.relative_to(ROOT).parts[0])
        environment = {
            # craftctl lives in the venv; the shared target dir lets cargo reuse built crates.
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
            "CARGO_TARGET_DIR": str(target),
        }
        saved = {key: os.environ.get(key) for key in environment}
        os.environ.update(environment)
        saved_cwd = os.getcwd()
        os.chdir(ROOT)  # craft-parts resolves `source: .` against the working directory
        original_repository = craft_parts.packages._get_repository_for_platform
        craft_parts.packages._get_repository_for_platform = lambda: DummyRepository
        try:
            manager = LifecycleManager(
                {"parts": parts},
                application_name="charmcraft",
                cache_dir=cls.work / "cache",
                work_dir=cls.work,
                base=project.base,
                ignore_local_sources=ignore,
            )
            with manager.action_executor() as executor:
                executor.execute(manager.plan(Step.PRIME))
        finally:
            craft_parts.packages._get_repository_for_platform = original_repository
            os.chdir(saved_cwd)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        cls.prime = cls.work / "prime"

    def primed_files(self) -> set[str]:
        return {
            str(path.relative_to(self.prime)) for path in self.prime.rglob("*") if path.is_file()
        }

    def test_primes_the_charm_layout_of_scripts_pack(self):
        self.assertEqual(self.primed_files(), expected_charm_files() - WRITTEN_BY_CHARMCRAFT)

    def test_primed_files_have_the_charm_modes(self):
        for name in self.primed_files():
            mode = (self.prime / name).stat().st_mode & 0o777
            self.assertEqual(mode, 0o755 if name in EXECUTABLES else 0o644, name)

    def test_hooks_run_dispatch(self):
        dispatch = (ROOT / "dispatch").read_bytes()
        self.assertEqual((self.prime / "dispatch").read_bytes(), dispatch)
        for hook in (self.prime / "hooks").iterdir():
            self.assertEqual(hook.read_bytes(), dispatch, hook.name)

    def test_binary_is_static_as_scripts_pack_builds_it(self):
        pack.check_static(self.prime / "bin" / "synapse-k8s")


if __name__ == "__main__":
    unittest.main()
