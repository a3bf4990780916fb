"""The charm scripts/pack writes: its entries, modes, manifest and `charmcraft analyse` findings.

Set SYNAPSE_K8S_CHARM to check an already packed charm (scripts/test does, right after
packing); otherwise the test packs one into a temporary directory.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import tempfile
import unittest
import zipfile
from pathlib import Path

import charmcraft
import yaml
from charmcraft import utils as charmcraft_utils
from charmcraft.models.manifest import Manifest
from charmcraft.models.project import CharmcraftProject

from common import (
    EXECUTABLES,
    HOOKS,
    METADATA_FILES,
    ROOT,
    analyse,
    cargo_target_dir,
    expected_charm_files,
    load_pack_script,
)

pack = load_pack_script()

REGULAR_FILE = 0o100000


class PackedCharmTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        given = os.environ.get("SYNAPSE_K8S_CHARM")
        if given:
            cls.charm = Path(given)
        else:
            cls.tmp = Path(tempfile.mkdtemp(prefix="synapse-k8s-pack-"))
            cls.addClassCleanup(shutil.rmtree, cls.tmp)
            cls.charm = cls.tmp / "synapse-k8s.charm"
            subprocess.run([str(ROOT / "scripts" / "pack"), "--output", str(cls.charm)], check=True)
        cls.archive = zipfile.ZipFile(cls.charm)
        cls.addClassCleanup(cls.archive.close)
        cls.findings = analyse(cls.charm)

    def read(self, name: str) -> bytes:
        return self.archive.read(name)

    def test_holds_exactly_the_charm_files(self):
        self.assertEqual(set(self.archive.namelist()), expected_charm_files())
        self.assertEqual(len(self.archive.namelist()), len(expected_charm_files()), "duplicates")

    def test_executables_keep_their_mode(self):
        for info in self.archive.infolist():
            mode = 0o755 if info.filename in EXECUTABLES else 0o644
            self.assertEqual(info.external_attr >> 16, REGULAR_FILE | mode, info.filename)

    def test_files_are_the_repository_files(self):
        dispatch = (ROOT / "dispatch").read_bytes()
        self.assertEqual(self.read("dispatch"), dispatch)
        for hook in HOOKS:
            self.assertEqual(self.read(f"hooks/{hook}"), dispatch, hook)
        for name in METADATA_FILES:
            self.assertEqual(self.read(name), (ROOT / name).read_bytes(), name)

    def test_binary_is_the_static_release_build(self):
        binary = self.read("bin/synapse-k8s")
        built = cargo_target_dir() / pack.static_target() / "release" / "synapse-k8s"
        self.assertEqual(binary, built.read_bytes())
        pack.check_static(built)

    def test_manifest_is_valid_for_charmcraft_and_matches_the_project(self):
        manifest = Manifest.unmarshal(yaml.safe_load(self.read("manifest.yaml")))
        project = CharmcraftProject.from_yaml_file(ROOT / "charmcraft.yaml")
        name, channel = project.base.split("@")
        [base] = manifest.bases
        self.assertEqual((base.name, base.channel), (name, channel))
        [platform] = project.platforms.values()
        self.assertEqual(base.architectures, platform.build_for)
        self.assertEqual(manifest.charmcraft_version, charmcraft.__version__)
        started = datetime.datetime.fromisoformat(manifest.charmcraft_started_at)
        self.assertLess(started, datetime.datetime.now() + datetime.timedelta(minutes=1))

    def test_manifest_is_rendered_as_charmcraft_renders_it(self):
        text = self.read("manifest.yaml").decode()
        manifest = Manifest.unmarshal(yaml.safe_load(text))
        rendered = charmcraft_utils.dump_yaml(
            manifest.model_dump(mode="json", by_alias=True, exclude_unset=False, exclude_none=True)
        )
        self.assertEqual(text, rendered)

    def test_manifest_attributes_are_what_analyse_finds(self):
        manifest = yaml.safe_load(self.read("manifest.yaml"))
        found = [
            {"name": f["name"], "result": f["result"]}
            for f in self.findings
            if f["check_type"] == "attribute"
        ]
        self.assertEqual(manifest["analysis"]["attributes"], found)

    def test_analyse_reports_no_errors(self):
        blocking = [f for f in self.findings if f["result"] in ("error", "fatal")]
        self.assertEqual(blocking, [])

    def test_analyse_accepts_entrypoint_metadata_config_and_actions(self):
        results = {f["name"]: f["result"] for f in self.findings}
        for linter in ("entrypoint", "metadata", "juju-config", "juju-actions"):
            self.assertEqual(results[linter], "ok", linter)

    def test_only_warning_is_the_upstream_snake_case_config_names(self):
        warnings = {f["name"]: f["text"] for f in self.findings if f["result"] == "warning"}
        self.assertEqual(set(warnings), {"naming-conventions"})
        text = warnings["naming-conventions"]
        self.assertIn("Some config-options", text)
        self.assertNotIn("actions", text.replace("config-options", ""))


if __name__ == "__main__":
    unittest.main()
