"""The affiliate feed export (`catalog_csv`), consumed whole in a fresh process."""

import json
import os
import subprocess
import sys

from bench import pgstats
from bench.environment import ROOT


def _run_worker(affiliate_id: int, *extra: str) -> dict:
    completed = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.export_worker", str(affiliate_id), *extra],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def measure_export(affiliate, *, with_tracemalloc: bool = True) -> dict:
    visible = pgstats.run(
        "SELECT count(*) FROM inventory_item WHERE available_qty >= %s", [affiliate.min_stock]
    )[0][0]
    result = _run_worker(affiliate.pk)
    result["rows_per_second"] = result["rows"] / result["seconds"]
    result["visible_items"] = visible
    if with_tracemalloc:
        # A second run only for Python's own allocations; tracemalloc slows it down, so its
        # speed is not reported.
        result["tracemalloc_peak_mib"] = _run_worker(affiliate.pk, "--tracemalloc")[
            "tracemalloc_peak_mib"
        ]
    return result
