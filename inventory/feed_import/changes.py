"""Applying into an inventory that has items: write only what differs, recompute only what moved."""

from inventory.feed_import.aggregates import (
    insert_items_from_keys,
    items_created_per_file,
    last_description,
    new_items_sql,
    recompute_items,
)
from inventory.feed_import.db import (
    ITEM,
    STOCK,
    analyze_staging,
    create_temp,
    create_temp_as,
    drop_temp,
    is_postgres,
    pg_settings,
)
from inventory.feed_import.feed import Feed
from inventory.feed_import.guards import guard_feeds

# For the few statements that read every staged row (millions): with PostgreSQL's defaults
# (1000 and 0.1, set for short queries) the planner keeps them on one core, though starting two
# workers costs milliseconds and their join's output is a few changed rows.
WHOLE_RUN_PARALLEL = {"parallel_setup_cost": "0", "parallel_tuple_cost": "0.001"}


def apply_changes(cursor, feeds: list[Feed], now) -> None:
    """Into an inventory that has items: write only what differs, recompute only what moved.

    The steps, in this order (the temporary tables each one leaves are the next one's input):
    the run's rows that change something (fi_rows); new items (fi_keys, fi_new); the stock rows
    to write (fi_written), judged by the guard before the first of them is written; the items
    whose aggregates may move (fi_touched, fi_changed), locked, their descriptions renewed and
    their aggregates recomputed (fi_item_changed); each file's summary.
    """
    _find_changed_rows(cursor)
    _insert_new_items(cursor, feeds, now)
    stocked = _find_stock_rows_to_write(cursor, feeds)
    _guard_removals(cursor, feeds, stocked)
    _write_stock(cursor, now)
    written, by_kind, described = _count_written(cursor)
    _find_touched_items(cursor)
    _lock_and_describe_items(cursor)
    per_warehouse = _recompute_touched_items(cursor, now)
    _record_counts(feeds, written, by_kind, described, per_warehouse)
    drop_temp(
        cursor, "fi_rows", "fi_keys", "fi_new", "fi_written", "fi_touched", "fi_changed",
        "fi_item_changed",
    )  # fmt: skip


def _find_changed_rows(cursor) -> None:
    # One pass over the run's rows: each row's item and its stock row at that warehouse. Only
    # the rows that change something are kept: a new item, a new or changed stock row, a new
    # description.
    with pg_settings(cursor, WHOLE_RUN_PARALLEL):
        create_temp_as(
            cursor,
            "fi_rows",
            f"""
        SELECT v.file_no, v.warehouse_id, i.id AS item_id, (i.id IS NULL) AS is_new,
               s.id AS stock_id, s.qty AS old_qty,
               (s.id IS NOT NULL AND (s.qty <> v.qty OR s.cost <> v.cost)) AS stock_changed,
               v.line_code, v.part_number, v.part_number_norm, v.qty, v.cost, v.description,
               (i.id IS NOT NULL AND v.description <> ''
                AND i.description <> v.description) AS description_changed
          FROM fi_all v
          LEFT JOIN {ITEM} i ON i.line_code = v.line_code AND i.part_number = v.part_number
          LEFT JOIN {STOCK} s ON s.warehouse_id = v.warehouse_id AND s.item_id = i.id
         WHERE i.id IS NULL OR s.id IS NULL OR s.qty <> v.qty OR s.cost <> v.cost
            OR (v.description <> '' AND i.description <> v.description)
            """,
        )
    analyze_staging(cursor, "fi_rows")


def _insert_new_items(cursor, feeds: list[Feed], now) -> None:
    # New items, born with their aggregates: only this run's warehouses have them.
    create_temp_as(
        cursor,
        "fi_keys",
        new_items_sql("fi_rows", feeds) + " WHERE r.is_new GROUP BY r.line_code, r.part_number",
    )
    items_created_per_file(cursor, feeds)
    insert_items_from_keys(cursor, now)
    create_temp(cursor, "fi_new", "item_id bigint PRIMARY KEY")
    if any(f.counts["items_created"] for f in feeds):
        cursor.execute(
            f"""
            UPDATE fi_rows SET item_id = i.id
              FROM {ITEM} i
             WHERE fi_rows.is_new
               AND i.line_code = fi_rows.line_code AND i.part_number = fi_rows.part_number
            """
        )
        cursor.execute(
            "INSERT INTO fi_new (item_id) SELECT DISTINCT item_id FROM fi_rows WHERE is_new"
        )


def _find_stock_rows_to_write(cursor, feeds: list[Feed]) -> dict[int, int]:
    """Fill fi_written; returns the items each warehouse holds in stock now (by its id)."""
    # The stock rows to write: new and changed ones from the pass above, and the rows a
    # warehouse's new snapshot no longer lists. Those are looked for only at the warehouses
    # whose rows found in the feed fall short of what they hold now.
    create_temp(
        cursor,
        "fi_written",
        "warehouse_id bigint, item_id bigint, stock_id bigint, kind char(1), qty integer, "
        "cost numeric(10, 2), old_qty integer",
    )
    cursor.execute(
        """
        INSERT INTO fi_written (warehouse_id, item_id, stock_id, kind, qty, cost, old_qty)
        SELECT warehouse_id, item_id, stock_id, CASE WHEN stock_id IS NULL THEN 'i' ELSE 'u' END,
               qty, cost, old_qty
          FROM fi_rows WHERE stock_id IS NULL OR stock_changed
        """
    )
    with pg_settings(cursor, WHOLE_RUN_PARALLEL):
        listed = ", ".join(["%s"] * len(feeds))
        cursor.execute(
            f"SELECT warehouse_id, count(*), SUM(CASE WHEN qty > 0 THEN 1 ELSE 0 END) "
            f"FROM {STOCK} WHERE warehouse_id IN ({listed}) GROUP BY warehouse_id",
            [f.warehouse.pk for f in feeds],
        )
        counted = cursor.fetchall()
        held = {warehouse_id: rows for warehouse_id, rows, _ in counted}
        stocked = {warehouse_id: in_stock for warehouse_id, _, in_stock in counted}
    cursor.execute("SELECT warehouse_id, count(*) FROM fi_rows WHERE stock_id IS NULL GROUP BY 1")
    new_rows = dict(cursor.fetchall())
    short = [
        f.warehouse.pk
        for f in feeds
        if f.report.rows_read - f.report.rows_rejected - new_rows.get(f.warehouse.pk, 0)
        != held.get(f.warehouse.pk, 0)
    ]
    if short:
        cursor.execute(
            f"""
            INSERT INTO fi_written (warehouse_id, item_id, stock_id, kind, old_qty)
            SELECT s.warehouse_id, s.item_id, s.id, 'd', s.qty
              FROM {STOCK} s
             WHERE s.warehouse_id IN ({", ".join(["%s"] * len(short))})
               AND NOT EXISTS (
                   SELECT 1 FROM fi_all v
                     JOIN {ITEM} i ON i.line_code = v.line_code AND i.part_number = v.part_number
                    WHERE v.warehouse_id = s.warehouse_id AND i.id = s.item_id)
            """,
            short,
        )
    return stocked


def _guard_removals(cursor, feeds: list[Feed], stocked: dict[int, int]) -> None:
    # The guard, before the first stock row is written: per warehouse, the items in stock that
    # this snapshot takes out of stock (no longer listed, or listed with qty 0).
    cursor.execute(
        "SELECT warehouse_id, count(*) FROM fi_written "
        "WHERE old_qty > 0 AND (kind = 'd' OR qty = 0) GROUP BY warehouse_id"
    )
    removed = dict(cursor.fetchall())
    guard_feeds(feeds, {pk: (n, removed.get(pk, 0)) for pk, n in stocked.items()})


def _write_stock(cursor, now) -> None:
    cursor.execute("SELECT kind, count(*) FROM fi_written GROUP BY kind")
    kinds = dict(cursor.fetchall())
    if kinds.get("d"):
        cursor.execute(
            f"DELETE FROM {STOCK} WHERE id IN (SELECT stock_id FROM fi_written WHERE kind = 'd')"
        )
    if kinds.get("u"):
        cursor.execute(
            f"""
            UPDATE {STOCK} SET qty = w.qty, cost = w.cost, changed_at = %s
              FROM fi_written w
             WHERE w.kind = 'u' AND {STOCK}.id = w.stock_id
            """,
            [now],
        )
    if kinds.get("i"):
        cursor.execute(
            f"""
            INSERT INTO {STOCK} (warehouse_id, item_id, qty, cost, changed_at)
            SELECT warehouse_id, item_id, qty, cost, %s FROM fi_written WHERE kind = 'i'
            """,
            [now],
        )


def _count_written(cursor) -> tuple[dict, dict, dict]:
    """(rows written, rows written by kind, rows only described anew), per warehouse."""
    cursor.execute("SELECT warehouse_id, count(*) FROM fi_written GROUP BY warehouse_id")
    written = dict(cursor.fetchall())
    # The summary per warehouse: rows new there, changed (qty, cost or a new description),
    # removed (no longer listed); every other good row is unchanged.
    cursor.execute("SELECT warehouse_id, kind, count(*) FROM fi_written GROUP BY 1, 2")
    by_kind = {(warehouse_id, kind): n for warehouse_id, kind, n in cursor.fetchall()}
    cursor.execute(
        "SELECT warehouse_id, count(*) FROM fi_rows WHERE stock_id IS NOT NULL "
        "AND NOT stock_changed AND description_changed GROUP BY 1"
    )
    described = dict(cursor.fetchall())
    return written, by_kind, described


def _find_touched_items(cursor) -> None:
    # The items whose aggregates may move: those with a row written, and every item of a
    # warehouse that starts to count (its first feed, or back from stale). New items already
    # hold theirs.
    create_temp(cursor, "fi_touched", "warehouse_id bigint, item_id bigint")
    cursor.execute("INSERT INTO fi_touched SELECT warehouse_id, item_id FROM fi_written")
    cursor.execute(
        f"""
        INSERT INTO fi_touched
        SELECT s.warehouse_id, s.item_id
          FROM {STOCK} s JOIN fi_files f ON f.warehouse_id = s.warehouse_id
         WHERE f.starts
        """
    )
    create_temp(cursor, "fi_changed", "item_id bigint PRIMARY KEY")
    cursor.execute(
        """
        INSERT INTO fi_changed (item_id)
        SELECT DISTINCT t.item_id FROM fi_touched t
         WHERE NOT EXISTS (SELECT 1 FROM fi_new n WHERE n.item_id = t.item_id)
        """
    )


def _lock_and_describe_items(cursor) -> None:
    if is_postgres():
        # Every existing item this run writes, locked in primary-key order before the first
        # write, the order orders lock them in: an import and an order never deadlock. (New
        # items are invisible to everyone else until the run commits.)
        cursor.execute(
            f"""
            SELECT id FROM {ITEM}
             WHERE id IN (SELECT item_id FROM fi_changed
                          UNION SELECT item_id FROM fi_rows WHERE description_changed)
             ORDER BY id FOR NO KEY UPDATE
            """
        )
    # A new description replaces the old one; an empty one never blanks it. When several of
    # the run's files bring a new one for an item, the last file's wins.
    cursor.execute(
        f"""
        UPDATE {ITEM} SET description = d.description
          FROM (SELECT r.item_id, {last_description("r")} AS description
                  FROM fi_rows r WHERE r.description_changed
                 GROUP BY r.item_id) d
         WHERE {ITEM}.id = d.item_id AND {ITEM}.description <> d.description
        """,
        [],
    )


def _recompute_touched_items(cursor, now) -> dict[int, int]:
    """Recompute the aggregates of fi_changed; returns the items that changed per warehouse."""
    create_temp(cursor, "fi_item_changed", "item_id bigint PRIMARY KEY")
    changed = recompute_items(cursor, now, record=True)
    per_warehouse: dict[int, int] = {}
    if changed:
        cursor.execute(
            """
            SELECT t.warehouse_id, count(DISTINCT t.item_id)
              FROM fi_touched t JOIN fi_item_changed c ON c.item_id = t.item_id
             GROUP BY t.warehouse_id
            """
        )
        per_warehouse = dict(cursor.fetchall())
    return per_warehouse


def _record_counts(feeds: list[Feed], written, by_kind, described, per_warehouse) -> None:
    for feed in feeds:
        pk = feed.warehouse.pk
        feed.counts["stock_rows_written"] = written.get(pk, 0)
        feed.counts["items_changed"] = per_warehouse.get(pk, 0)
        feed.counts["stock_created"] = by_kind.get((pk, "i"), 0)
        feed.counts["stock_changed"] = by_kind.get((pk, "u"), 0) + described.get(pk, 0)
        feed.counts["stock_removed"] = by_kind.get((pk, "d"), 0)
        feed.counts["stock_unchanged"] = (
            feed.report.rows_read
            - feed.report.rows_rejected
            - feed.counts["stock_created"]
            - feed.counts["stock_changed"]
        )
