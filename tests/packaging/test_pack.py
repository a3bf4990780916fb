"""scripts/pack's own checks refuse what would break on a real deployment."""

from __future__ import annotations

import contextlib
import datetime
import io
import shutil
import struct
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

    def fake_binary(self, *program_headers: int) -> Path:
        """A 64-bit ELF file with program headers of the given types (1 = PT_LOAD)."""
        binary = self.tmp / "synapse-k8s"
        header = bytearray(64)
        header[:6] = b"\x7fELF\x02\x01"
        struct.pack_into("<Q", header, 0x20, 64)  # e_phoff
        struct.pack_into("<HH", header, 0x36, 56, len(program_headers))  # e_phentsize, e_phnum
        table = b"".join(struct.pack("<I", kind) + bytes(52) for kind in program_headers)
        binary.write_bytes(bytes(header) + table)
        return binary

    def test_a_static_binary_is_accepted(self):
        pack.check_static(self.fake_binary(6, 1, 1, 2))

    def test_a_binary_asking_for_a_dynamic_loader_is_refused(self):
        with self.assertRaisesRegex(pack.PackError, "dynamically linked"):
            pack.check_static(self.fake_binary(6, 3, 1, 1, 2))

    def test_what_is_not_an_elf_file_is_refused(self):
        binary = self.tmp / "synapse-k8s"
        binary.write_bytes(b"#!/bin/sh\nexit 0\n" + bytes(64))
        with self.assertRaisesRegex(pack.PackError, "not a 64-bit little-endian ELF"):
            pack.check_static(binary)

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
        binary = self.fake_binary(1)
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
