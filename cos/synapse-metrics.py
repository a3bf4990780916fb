#!/usr/bin/env python3
"""Lists the metric names a Synapse process exposes, one a line, for cos/check.

Run with the Python that has matrix-synapse installed (`scripts/python-env synapse`):

    $(scripts/python-env synapse) cos/synapse-metrics.py > cos/synapse-metrics.txt

Every module of the `synapse` package is imported so that its metrics register; each
family is then expanded to the sample names Prometheus stores (counters with `_total`,
histograms with `_bucket`, `_sum` and `_count`).
"""

import importlib
import pkgutil
import sys
import warnings

import synapse
from prometheus_client import REGISTRY

warnings.filterwarnings("ignore")
for module in pkgutil.walk_packages(synapse.__path__, "synapse."):
    try:
        importlib.import_module(module.name)
    except BaseException:  # optional dependencies (SAML, OIDC, ...) are not installed
        pass

SUFFIXES = {
    "counter": ["_total"],
    "histogram": ["_bucket", "_sum", "_count"],
    "gaugehistogram": ["_bucket", "_gsum", "_gcount"],
    "summary": ["", "_sum", "_count"],
    "info": ["_info"],
}
names = set()
for collector in list(REGISTRY._collector_to_names):
    families = []
    try:
        families = collector.describe() if hasattr(collector, "describe") else []
    except Exception:
        pass
    if not families:
        try:
            families = list(collector.collect())
        except Exception:
            families = []
    for family in families:
        for suffix in SUFFIXES.get(family.type, [""]):
            names.add(family.name + suffix)
print(f"# Metric names exposed by matrix-synapse {synapse.__version__} (cos/synapse-metrics.py).")
print("\n".join(sorted(names)))
