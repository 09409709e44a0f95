"""Feed import measurements (a) to (d): the COPY floor, the first load, re-imports."""

import io
import time
from pathlib import Path

from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Max, Sum

from bench import pgstats
from inventory.models import FeedImport, Item, Stock
from inventory.services import feed_import_create, feed_import_run

FLOOR_TABLE = "bench_floor"


def measure_copy_floor(paths: list[Path]) -> dict:
    """(a) PostgreSQL COPY of the feed files into an UNLOGGED table of text columns."""
    pgstats.run(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
    pgstats.run(
        f"CREATE UNLOGGED TABLE {FLOOR_TABLE} "
        "(line_code text, part_number text, qty text, cost text, description text)"
    )
    connection.ensure_connection()
    raw = connection.connection  # psycopg2, autocommit: each COPY commits
    started = time.perf_counter()
    with raw.cursor() as cursor:
        for path in paths:
            with path.open("rb") as handle:
                cursor.copy_expert(
                    f"COPY {FLOOR_TABLE} FROM STDIN WITH (FORMAT csv, HEADER true)", handle
                )
    seconds = time.perf_counter() - started
    rows = pgstats.run(f"SELECT count(*) FROM {FLOOR_TABLE}")[0][0]  # noqa: S608
    pgstats.run(f"DROP TABLE {FLOOR_TABLE}")
    return {"seconds": seconds, "rows": rows, "files": len(paths)}


def _imports_since(last_id: int) -> dict:
    imports = FeedImport.objects.filter(id__gt=last_id)
    totals = imports.aggregate(
        files=Count("id"),
        rows_read=Sum("rows_read"),
        rows_rejected=Sum("rows_rejected"),
        stock_rows_written=Sum("stock_rows_written"),
        items_created=Sum("items_created"),
        items_changed=Sum("items_changed"),
    )
    totals["not_applied"] = imports.exclude(status=FeedImport.Status.APPLIED).count()
    slowest = max((fi.duration_seconds or 0 for fi in imports), default=0)
    totals["slowest_file_seconds"] = round(slowest, 3)
    return totals


def _last_import_id() -> int:
    return FeedImport.objects.aggregate(last=Max("id"))["last"] or 0


def _import_folder(folder: Path, *extra: str) -> tuple[float, dict, list[dict], str]:
    """Run the import_feeds command in-process on every file of `folder`, timed end to end."""
    last_id = _last_import_id()
    out = io.StringIO()
    with pgstats.sql_timer() as timer:
        started = time.perf_counter()
        try:
            call_command(
                "import_feeds", str(folder), "--no-progress", *extra, stdout=out, stderr=out
            )
        except SystemExit as exc:  # the command exits 1 when a file was rejected
            out.write(f"import_feeds exited with {exc.code}\n")
        seconds = time.perf_counter() - started
    totals = _imports_since(last_id)
    totals["sql_seconds"] = round(timer.total, 3)
    return seconds, totals, timer.top(), out.getvalue().splitlines()[-1]


def measure_first_load(folder: Path, *, expected_rows: int) -> dict:
    """(b) import_feeds of every file into the empty database."""
    seconds, totals, top_sql, summary = _import_folder(folder)
    return {
        "seconds": seconds,
        **totals,
        "stock_rows_in_db": Stock.objects.count(),
        "items_in_db": Item.objects.count(),
        "expected_rows": expected_rows,
        "top_sql": top_sql,
        "command_summary": summary,
    }


def measure_reimport_unchanged(folder: Path, *, force: bool = False) -> dict:
    """(c) import_feeds of the same files again: nothing may be rewritten. By default identical
    files are recognised by their SHA-256; with force every row is compared in SQL."""
    before = pgstats.table_writes()
    seconds, totals, top_sql, summary = _import_folder(folder, *(["--force"] if force else []))
    after = pgstats.table_writes()
    writes = pgstats.writes_between(before, after)
    return {
        "seconds": seconds,
        **totals,
        "rows_rewritten_by_counts": totals["stock_rows_written"] + totals["items_changed"],
        "pg_stat_writes": writes,
        "rows_rewritten_by_pg_stat": sum(sum(kinds.values()) for kinds in writes.values()),
        "top_sql": top_sql,
        "command_summary": summary,
    }


def measure_one_warehouse(path: Path, *, warehouse_code: str, rows: int, changed: int) -> dict:
    """(d) one large warehouse's feed with a share of its rows changed, through the service."""
    before = pgstats.table_writes()
    with pgstats.sql_timer() as timer:
        started = time.perf_counter()
        feed_import = feed_import_create(
            file_name=path.name, warehouse_code=warehouse_code, bytes_total=path.stat().st_size
        )
        with path.open("rb") as handle:
            feed_import = feed_import_run(feed_import=feed_import, fileobj=handle)
        seconds = time.perf_counter() - started
    writes = pgstats.writes_between(before, pgstats.table_writes())
    return {
        "seconds": seconds,
        "warehouse": warehouse_code,
        "rows": rows,
        "rows_changed_in_file": changed,
        "status": feed_import.status,
        "stock_rows_written": feed_import.stock_rows_written,
        "items_changed": feed_import.items_changed,
        "pg_stat_writes": writes,
        "sql_seconds": round(timer.total, 3),
        "top_sql": timer.top(),
    }
