"""Asks real Synapse which registration sets it would load (JSON in on stdin, out on stdout).

Input: a list of cases, each a list of registration texts. A case loads when
`load_appservices` accepts all its files and the start-up step that joins every exclusive
user regex into one pattern (`_make_exclusive_regex`) compiles too.
"""
import json
import logging
import os
import sys
import tempfile

logging.disable(logging.CRITICAL)

from synapse.config.appservice import load_appservices  # noqa: E402
from synapse.storage.databases.main.appservice import _make_exclusive_regex  # noqa: E402

results = []
with tempfile.TemporaryDirectory() as directory:
    for number, texts in enumerate(json.load(sys.stdin)):
        paths = []
        for index, text in enumerate(texts):
            path = os.path.join(directory, f"case{number}-{index}.yaml")
            with open(path, "w", encoding="utf-8") as file:
                file.write(text)
            paths.append(path)
        try:
            _make_exclusive_regex(load_appservices("example.com", paths))
            results.append({"loads": True})
        except Exception as error:  # noqa: BLE001 - any failure stops Synapse
            results.append({"loads": False, "error": f"{type(error).__name__}: {error}"})
json.dump(results, sys.stdout)
