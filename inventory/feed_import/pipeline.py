"""A run, stage by stage: stage every file, check the COPYed rows, finish the reports, apply."""

import time

from django.db import connection, transaction
from django.utils import timezone

from inventory.feed_import import applying, parallel_staging, staging
from inventory.feed_import.db import drop_temp, is_postgres
from inventory.feed_import.feed import Feed
from inventory.feed_import.sql_checks import check_copied, finish_report

# Memory per sort or hash for the run's statements (the server default, 4 MB, spills to disk).
WORK_MEM = "256MB"
MAINTENANCE_WORK_MEM = "512MB"


def run(feeds: list[Feed]) -> None:
    """Stage, check and apply `feeds` (distinct warehouses); fill in each one's outcome.

    Raises what the apply raised (nothing of the run is then applied); the caller records it.
    """
    now = timezone.now()
    stage_tables: list[str] = []
    try:
        _run(feeds, now, stage_tables)
    except BaseException:
        if stage_tables:
            parallel_staging.drop_stage_tables(stage_tables)
        raise


def _run(feeds: list[Feed], now, stage_tables: list[str]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        if is_postgres():
            # Whole-run sorts and hashes fit in memory instead of spilling to disk.
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            cursor.execute(f"SET LOCAL maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
            # Small runs touch items by key; with the default random_page_cost (4, for spinning
            # disks) the planner would rather scan the whole item table each time.
            cursor.execute("SET LOCAL random_page_cost = 1.1")
            # Every statement here is one long pass; compiling each one costs more than it saves.
            cursor.execute("SET LOCAL jit = off")
        typed = staging.create_staging(cursor)
        parallel = parallel_staging.parallel_staging_wanted(cursor, feeds, typed)
        for number, feed in enumerate(feeds, start=1):
            feed.file_no = number
            feed.staged.table = typed
            feed.staged.defer = parallel
            staging.stage(cursor, feed)
        if parallel:
            stage_tables.extend(
                parallel_staging.copy_deferred(
                    cursor, [f for f in feeds if f.staged.deferred and not f.error], typed
                )
            )
        check_copied(cursor, feeds)
        good = [f for f in feeds if not f.error]
        for feed in good:
            finish_report(feed)
        if good:
            started = time.monotonic()
            good = applying.apply_guarded(cursor, good, now)
            for feed in good:
                feed.counts["apply_seconds"] = time.monotonic() - started
        cursor.execute("DROP VIEW IF EXISTS fi_all")
        drop_temp(
            cursor, "fi_raw", "fi_valid", "fi_files", *([typed] if typed else []), *stage_tables
        )
