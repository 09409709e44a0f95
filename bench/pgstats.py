"""What PostgreSQL saw: time per SQL statement, rows written per table, query plans."""

import re
import time
from collections import defaultdict
from contextlib import contextmanager

from django.db import connection

INVENTORY_TABLES = ("inventory_item", "inventory_stock")
_SPACES = re.compile(r"\s+")


class SqlTimer:
    """Wall time spent in cursor.execute(), per statement shape (COPY through the raw psycopg2
    cursor is not seen: it counts as time outside these statements)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = _SPACES.sub(" ", sql).strip()[:90]
            self.seconds[key] += time.perf_counter() - started
            self.calls[key] += 1

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def top(self, n: int = 8) -> list[dict]:
        ranked = sorted(self.seconds.items(), key=lambda kv: kv[1], reverse=True)[:n]
        return [
            {"sql": sql, "seconds": round(seconds, 3), "calls": self.calls[sql]}
            for sql, seconds in ranked
        ]


@contextmanager
def sql_timer():
    timer = SqlTimer()
    with connection.execute_wrapper(timer):
        yield timer


def run(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def table_writes(tables=INVENTORY_TABLES) -> dict[str, dict[str, int]]:
    """Cumulative inserted/updated/deleted tuples per table, after flushing this backend's
    pending statistics (they are flushed asynchronously, at most once a second)."""
    run("SELECT pg_stat_force_next_flush()")
    time.sleep(1.1)
    run("SELECT pg_stat_clear_snapshot()")
    rows = run(
        "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
        "WHERE relname = ANY(%s)",
        [list(tables)],
    )
    return {name: {"ins": ins, "upd": upd, "del": dele} for name, ins, upd, dele in rows}


def writes_between(before: dict, after: dict) -> dict[str, dict[str, int]]:
    return {
        table: {kind: after[table][kind] - before[table][kind] for kind in after[table]}
        for table in after
    }


def dead_tuples(tables=INVENTORY_TABLES) -> dict[str, dict[str, int]]:
    rows = run(
        "SELECT relname, n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relname = ANY(%s)",
        [list(tables)],
    )
    return {name: {"live": live, "dead": dead} for name, live, dead in rows}


def vacuum_analyze(tables=(*INVENTORY_TABLES, "inventory_warehouse")) -> float:
    """What autovacuum would have done after a large load (it is off on the bench server)."""
    started = time.perf_counter()
    for table in tables:
        run(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - started


@contextmanager
def capture_queries():
    """Collect (sql, params) of every statement run inside the block."""
    seen: list[tuple[str, tuple]] = []

    def wrapper(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


def explain_analyze(sql: str, params) -> str:
    rows = run(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
    return "\n".join(row[0] for row in rows)
