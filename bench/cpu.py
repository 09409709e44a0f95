"""Whether the machine was quiet: CPU used by this run against CPU used by everything else.

The bench wants an idle machine. Each measurement records the cores busy on the whole machine,
the cores this run used (this process, its children, its PostgreSQL backend), PostgreSQL's own
background processes (checkpointer, writers: they also work for this run) and the rest: other
processes, shown beside the numbers.
"""

import os
import re
import time
from contextlib import contextmanager
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PG_BACKGROUND = re.compile(
    r"^postgres: (\S+: )?(checkpointer|background writer|walwriter|autovacuum|logical "
    r"replication|archiver|stats)"
)


def _machine_busy_seconds() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS


def _process_seconds(pid: int | str, *, children: bool = False) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        used += int(fields[13]) + int(fields[14])  # cutime, cstime (waited-for children)
    return used / TICKS


def _pg_background_pids() -> list[str]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if PG_BACKGROUND.match(cmdline):
                pids.append(entry.name)
    return pids


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _snapshot(backend: int, background: list[str]) -> tuple[float, float, float]:
    mine = _process_seconds("self", children=True) + _process_seconds(backend)
    return _machine_busy_seconds(), mine, sum(_process_seconds(pid) for pid in background)


@contextmanager
def cpu_usage():
    """Yields a dict filled on exit: wall seconds and cores busy (machine, this run, PostgreSQL
    background, other processes)."""
    usage: dict[str, float] = {}
    backend = _backend_pid()
    background = _pg_background_pids()
    started = time.perf_counter()
    before = _snapshot(backend, background)
    try:
        yield usage
    finally:
        wall = time.perf_counter() - started
        after = _snapshot(backend, background)
        machine, mine, pg = (b - a for a, b in zip(before, after, strict=True))
        usage.update(
            wall_seconds=round(wall, 2),
            machine_cores_busy=round(machine / wall, 2),
            this_run_cores=round(mine / wall, 2),
            pg_background_cores=round(pg / wall, 2),
            other_cores=round(max(machine - mine - pg, 0) / wall, 2),
        )
