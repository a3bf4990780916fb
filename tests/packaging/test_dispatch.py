"""dispatch runs bin/synapse-k8s from the charm dir with Juju's environment, also via hooks/.

A probe stands in for the charm binary: it records its working directory, argv and
environment, echoes stdin and exits with the code it is asked for.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from common import HOOKS, ROOT

PROBE = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["PROBE_REPORT"], "w") as report:
    json.dump({{"cwd": os.getcwd(), "argv": sys.argv[1:], "env": dict(os.environ)}}, report)
sys.stdout.write(sys.stdin.read())
sys.exit(int(os.environ.get("PROBE_EXIT", "0")))
"""
# Variables a shell maintains itself; everything else must reach the binary unchanged.
SHELL_VARIABLES = {"PWD", "OLDPWD", "SHLVL", "_"}


class DispatchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="synapse-k8s dispatch "))  # a space on purpose
        self.addCleanup(shutil.rmtree, self.tmp)
        self.charm = self.tmp / "charm"
        (self.charm / "bin").mkdir(parents=True)
        shutil.copy2(ROOT / "dispatch", self.charm / "dispatch")
        shutil.copytree(ROOT / "hooks", self.charm / "hooks", symlinks=True)
        probe = self.charm / "bin" / "synapse-k8s"
        probe.write_text(PROBE)
        probe.chmod(0o755)
        self.report = self.tmp / "report.json"
        self.elsewhere = self.tmp / "elsewhere"
        self.elsewhere.mkdir()

    def environment(self, **env: str) -> dict[str, str]:
        """This process's environment without Juju's variables, plus the probe's and `env`."""
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("JUJU_") and key != "CHARM_DIR"
        }
        return {**base, "PROBE_REPORT": str(self.report), **env}

    def run_charm(
        self, entry: str, stdin: str = "", **env: str
    ) -> tuple[subprocess.CompletedProcess, dict]:
        """Run `entry` (relative to the charm dir) from another directory, as a hook would be."""
        result = subprocess.run(
            [str(self.charm / entry)],
            cwd=self.elsewhere,
            env=self.environment(**env),
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
        report = json.loads(self.report.read_text()) if self.report.exists() else {}
        return result, report

    def test_runs_the_binary_in_the_charm_dir_with_the_environment_unchanged(self):
        env = {
            "JUJU_CHARM_DIR": str(self.charm),
            "JUJU_DISPATCH_PATH": "hooks/config-changed",
            "JUJU_UNIT_NAME": "synapse/0",
            "ODD_VALUE": " spaces, $dollars and 'quotes' ",
        }
        result, report = self.run_charm("dispatch", **env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(report["cwd"], str(self.charm))
        self.assertEqual(report["argv"], [])
        expected = {k: v for k, v in self.environment(**env).items() if k not in SHELL_VARIABLES}
        seen = {k: v for k, v in report["env"].items() if k not in SHELL_VARIABLES}
        self.assertEqual({k: seen.get(k) for k in expected}, expected)
        self.assertEqual(set(seen) - set(expected), set(), "dispatch added variables")

    def test_passes_stdin_stdout_and_the_exit_code_through(self):
        result, _ = self.run_charm(
            "dispatch", stdin="hello\n", JUJU_CHARM_DIR=str(self.charm), PROBE_EXIT="7"
        )
        self.assertEqual(result.returncode, 7)
        self.assertEqual(result.stdout, "hello\n")

    def test_falls_back_to_its_own_directory_without_juju_charm_dir(self):
        result, report = self.run_charm("dispatch", JUJU_DISPATCH_PATH="hooks/start")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(report["cwd"], str(self.charm))
        self.assertEqual(report["env"]["JUJU_DISPATCH_PATH"], "hooks/start")

    def test_legacy_hook_symlink_names_the_hook(self):
        result, report = self.run_charm("hooks/install")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(report["cwd"], str(self.charm))
        self.assertEqual(report["env"]["JUJU_DISPATCH_PATH"], "hooks/install")

    def test_legacy_hook_copy_as_packed_behaves_the_same(self):
        hook = self.charm / "hooks" / "upgrade-charm"
        hook.unlink()
        shutil.copy2(ROOT / "dispatch", hook)
        result, report = self.run_charm("hooks/upgrade-charm")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(report["cwd"], str(self.charm))
        self.assertEqual(report["env"]["JUJU_DISPATCH_PATH"], "hooks/upgrade-charm")

    def test_legacy_hook_keeps_a_dispatch_path_juju_set(self):
        result, report = self.run_charm("hooks/install", JUJU_DISPATCH_PATH="hooks/start")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(report["env"]["JUJU_DISPATCH_PATH"], "hooks/start")

    def test_missing_binary_fails_the_hook(self):
        (self.charm / "bin" / "synapse-k8s").unlink()
        result, _ = self.run_charm("dispatch", JUJU_CHARM_DIR=str(self.charm))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("synapse-k8s", result.stderr)


class RepositoryLayoutTest(unittest.TestCase):
    def test_dispatch_is_an_executable_posix_script(self):
        dispatch = ROOT / "dispatch"
        self.assertTrue(os.access(dispatch, os.X_OK))
        self.assertTrue(dispatch.read_text().startswith("#!/bin/sh\n"))
        subprocess.run(["sh", "-n", str(dispatch)], check=True)

    def test_hooks_are_the_mandatory_ones_linked_to_dispatch(self):
        hooks = sorted((ROOT / "hooks").iterdir())
        self.assertEqual([hook.name for hook in hooks], sorted(HOOKS))
        for hook in hooks:
            self.assertTrue(hook.is_symlink(), hook.name)
            self.assertEqual(os.readlink(hook), "../dispatch", hook.name)


if __name__ == "__main__":
    unittest.main()
