"""scripts/pack's own checks refuse what would break on a real deployment."""

from __future__ import annotations

import contextlib
import datetime
import io
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

from common import ROOT, load_pack_script

pack = load_pack_script()


class PackChecksTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="synapse-k8s-pack-checks-"))
        self.addCleanup(shutil.rmtree, self.tmp)

    def fake_binary(self, *versions: str) -> Path:
        binary = self.tmp / "synapse-k8s"
        needs = b"".join(f"GLIBC_{version}\x00".encode() for version in versions)
        binary.write_bytes(b"\x7fELF" + b"\x00" * 64 + needs)
        return binary

    def test_glibc_of_the_base_or_older_is_accepted(self):
        pack.check_glibc(self.fake_binary("2.2.5", "2.34", "2.39"))

    def test_glibc_newer_than_the_base_is_refused(self):
        with self.assertRaisesRegex(pack.PackError, r"GLIBC_2\.40 .* ships 2\.39"):
            pack.check_glibc(self.fake_binary("2.2.5", "2.40"))

    def test_missing_metadata_file_is_refused(self):
        for name in ("dispatch", "metadata.yaml", "actions.yaml"):
            shutil.copy(ROOT / name, self.tmp / name)
        shutil.copytree(ROOT / "hooks", self.tmp / "hooks", symlinks=True)
        original_root = pack.ROOT
        pack.ROOT = self.tmp
        self.addCleanup(setattr, pack, "ROOT", original_root)
        with self.assertRaisesRegex(pack.PackError, "missing config.yaml"):
            pack.collect_entries(self.fake_binary(), b"")

    def test_charm_with_analyse_errors_is_refused(self):
        binary = self.fake_binary("2.34")
        binary.chmod(0o755)
        entries = [
            entry
            if entry.name != "config.yaml"
            else pack.Entry("config.yaml", b"settings: {}\n", 0o644)
            for entry in pack.collect_entries(binary, b"charmcraft-version: test\n")
        ]
        charm = self.tmp / "broken.charm"
        pack.write_charm(entries, charm, datetime.datetime.now(datetime.timezone.utc))
        report = io.StringIO()
        with self.assertRaisesRegex(pack.PackError, "errors in: juju-config"):
            with contextlib.redirect_stdout(report):
                pack.analyse(Path(sys.executable), charm)
        self.assertIn("juju-config: error", report.getvalue())


if __name__ == "__main__":
    unittest.main()
