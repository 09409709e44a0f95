"""Consume the streamed affiliate feed in a fresh process and report speed and peak memory.

Run by bench.export as `python -m bench.export_worker AFFILIATE_ID [--tracemalloc]`; prints one
line of JSON. The environment (database, settings) is the parent's.
"""

import argparse
import json
import resource
import time
import tracemalloc
from pathlib import Path

from bench import environment


def _vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _maxrss_mib() -> float:
    """Reported too, but read VmHWM: Linux keeps ru_maxrss across exec, so it can include the
    parent's memory at fork time; VmHWM starts afresh with the new program."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("affiliate_id", type=int)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()

    environment.setup_django()
    from django.db import connection

    from affiliates.models import Affiliate
    from inventory.selectors import catalog_csv

    affiliate = Affiliate.objects.get(pk=args.affiliate_id)
    connection.ensure_connection()
    baseline = {"maxrss_mib": _maxrss_mib(), "vm_hwm_mib": _vm_hwm_mib()}
    if args.tracemalloc:
        tracemalloc.start()

    rows = size = chunks = 0
    first_chunk = None
    started = time.perf_counter()
    for chunk in catalog_csv(affiliate=affiliate):
        if first_chunk is None:
            first_chunk = time.perf_counter() - started
        chunks += 1
        size += len(chunk)
        rows += chunk.count("\n")
    seconds = time.perf_counter() - started

    result = {
        "rows": rows - 1,  # the header line
        "seconds": seconds,
        "first_chunk_seconds": first_chunk,
        "chars": size,
        "chunks": chunks,
        "baseline": baseline,
        "peak": {"maxrss_mib": _maxrss_mib(), "vm_hwm_mib": _vm_hwm_mib()},
    }
    if args.tracemalloc:
        result["tracemalloc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 1024 / 1024
        tracemalloc.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
