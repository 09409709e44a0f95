"""Applying the checked feeds of a run together, under the inventory lock, less those the guard
refuses: into an empty inventory (`first_load`) or one that has items (`changes`)."""

from django.db import transaction

from inventory.feed_import import changes, first_load
from inventory.feed_import.db import (
    WAREHOUSE,
    analyze_staging,
    create_temp,
    is_postgres,
)
from inventory.feed_import.feed import Feed
from inventory.feed_import.fields import PART_NUMBER_MAX
from inventory.feed_import.guards import FeedsRefused, guard_feeds
from inventory.feed_import.sql_checks import typed_tables
from inventory.locks import inventory_lock_exclusive
from inventory.models import Item, Warehouse

# Below this many rows a first load is not worth dropping and rebuilding indexes for.
BULK_LOAD_MIN_ROWS = 200_000


def create_all_view(cursor, feeds: list["Feed"]) -> list[str]:
    """fi_all: every checked row of the run with its warehouse, in fi_valid's types. Returns
    the tables behind it (to ANALYZE)."""
    parts, tables = [], []
    for typed in typed_tables(feeds):
        parts.append(
            f"""
            SELECT file_no, line, warehouse_id, line_code, part_number,
                   NULL::varchar({PART_NUMBER_MAX}) AS part_number_norm, qty::integer AS qty,
                   cost::numeric(10, 2) AS cost, description
              FROM {typed}
            """
        )
        tables.append(typed)
    if not tables or not all(f.staged.typed for f in feeds):
        parts.append(
            """
            SELECT v.file_no, v.line, f.warehouse_id, v.line_code, v.part_number,
                   v.part_number_norm, v.qty, v.cost, v.description
              FROM fi_valid v JOIN fi_files f ON f.file_no = v.file_no
            """
        )
        tables.append("fi_valid")
    cursor.execute("DROP VIEW IF EXISTS fi_all")
    cursor.execute(f"CREATE TEMP VIEW fi_all AS {' UNION ALL '.join(parts)}")
    return tables


def apply_guarded(cursor, feeds: list[Feed], now) -> list[Feed]:
    """Apply `feeds`, less those the guard refuses; returns those applied.

    The guard's numbers come from the apply's own pass over the rows (what it would delete or
    set to 0), so it costs no second pass; a refusal rolls the apply's savepoint back, drops the
    refused files' staged rows and applies the rest again (once: each file's decision depends
    only on its own warehouse). A refused file's warehouse keeps its last good snapshot."""
    while feeds:
        try:
            with transaction.atomic():
                apply(cursor, feeds, now)
            return feeds
        except FeedsRefused as refusal:
            for feed in refusal.feeds:
                table = feed.staged.table if feed.staged.typed else "fi_valid"
                cursor.execute(f"DELETE FROM {table} WHERE file_no = %s", [feed.file_no])
                if feed.warehouse_created:
                    # As in stage_later: a warehouse this run created has no stock or imports.
                    cursor.execute(f"DELETE FROM {WAREHOUSE} WHERE id = %s", [feed.warehouse.pk])
                    feed.warehouse = None
            feeds = [f for f in feeds if not f.refused]
    return feeds


def apply(cursor, feeds: list[Feed], now) -> None:
    """Apply every staged feed as its warehouse's whole new snapshot, together."""
    inventory_lock_exclusive()
    ids = sorted(f.warehouse.pk for f in feeds)
    locked = {
        w.pk: w
        for w in Warehouse.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
    }
    for feed in feeds:
        feed.counts_stock = locked[feed.warehouse.pk].is_active
    create_temp(
        cursor,
        "fi_files",
        "file_no integer PRIMARY KEY, warehouse_id bigint, counts boolean, starts boolean",
    )
    cursor.executemany(
        "INSERT INTO fi_files (file_no, warehouse_id, counts, starts) VALUES (%s, %s, %s, %s)",
        [
            (
                f.file_no,
                f.warehouse.pk,
                locked[f.warehouse.pk].is_active,
                locked[f.warehouse.pk].is_active and not locked[f.warehouse.pk].counts_in_stock,
            )
            for f in feeds
        ],
    )
    analyze_staging(cursor, *create_all_view(cursor, feeds), "fi_files")
    # Each warehouse's feed is fresh now, so its stock counts exactly when it is active.
    cursor.execute(
        f"""
        UPDATE {WAREHOUSE} SET last_feed_at = %s, counts_in_stock = f.counts
          FROM fi_files f WHERE {WAREHOUSE}.id = f.warehouse_id
        """,
        [now],
    )
    rows = sum(f.report.rows_read for f in feeds)
    if is_postgres() and rows >= BULK_LOAD_MIN_ROWS and not Item.objects.exists():
        guard_feeds(feeds, {})  # an empty inventory: no stock to lose, only the rows to judge
        first_load.apply_first_load(cursor, feeds, now)
    else:
        changes.apply_changes(cursor, feeds, now)
