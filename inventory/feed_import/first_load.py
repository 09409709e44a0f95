"""Applying into an empty inventory: each item inserted once, the stock loaded with the indexes
and foreign keys built after it (PostgreSQL's "Populating a Database")."""

from inventory.feed_import.aggregates import (
    insert_items_from_keys,
    items_created_per_file,
    new_items_sql,
)
from inventory.feed_import.db import ITEM, STOCK, analyze, create_temp_as, drop_temp
from inventory.feed_import.feed import Feed


def apply_first_load(cursor, feeds: list[Feed], now) -> None:
    """Into an empty inventory: every item is new, so each is inserted once with its aggregates,
    and the stock goes in with the secondary indexes and foreign keys built after it."""
    create_temp_as(
        cursor,
        "fi_keys",
        new_items_sql("fi_all", feeds) + " GROUP BY r.line_code, r.part_number",
    )
    with rebuilt_after(cursor, [ITEM, STOCK]):
        insert_items_from_keys(cursor, now)
        analyze(cursor, ITEM)
        # Sorting 3 million rows for a merge join costs more than hashing a million items.
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute(
            f"""
            INSERT INTO {STOCK} (warehouse_id, item_id, qty, cost, changed_at)
            SELECT v.warehouse_id, i.id, v.qty, v.cost, %s
              FROM fi_all v
              JOIN {ITEM} i ON i.line_code = v.line_code AND i.part_number = v.part_number
            """,
            [now],
        )
        cursor.execute("SET LOCAL enable_mergejoin = on")
    analyze(cursor, ITEM, STOCK)
    items_created_per_file(cursor, feeds)
    for feed in feeds:
        # (len(feed.rejected) would do only up to the thousand rejected rows a report keeps.)
        feed.counts["stock_rows_written"] = feed.report.rows_read - feed.report.rows_rejected
        feed.counts["items_changed"] = 0
        # An empty inventory: every good row is new at its warehouse.
        feed.counts["stock_created"] = feed.report.rows_read - feed.report.rows_rejected
        feed.counts.update(stock_changed=0, stock_removed=0, stock_unchanged=0)
    drop_temp(cursor, "fi_keys")


class rebuilt_after:
    """Drop the tables' secondary indexes, unique constraints, foreign keys and any primary key
    no foreign key refers to, and build them again, from their own definitions in the catalog,
    when the block ends without an error."""

    def __init__(self, cursor, tables: list[str]):
        self.cursor = cursor
        self.tables = tables

    def __enter__(self):
        cursor = self.cursor
        cursor.execute(
            """
            SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
              FROM pg_constraint c
             WHERE conrelid = ANY(%s::regclass[])
               AND (contype IN ('u', 'f')
                    -- a primary key no foreign key refers to (the stock's): its index too
                    OR (contype = 'p' AND NOT EXISTS (
                            SELECT 1 FROM pg_constraint r
                             WHERE r.contype = 'f' AND r.confrelid = c.conrelid)))
            """,
            [self.tables],
        )
        self.constraints = cursor.fetchall()
        cursor.execute(
            """
            SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid)
              FROM pg_index
             WHERE indrelid = ANY(%s::regclass[]) AND NOT indisprimary
               AND indexrelid NOT IN (SELECT conindid FROM pg_constraint
                                       WHERE contype IN ('u', 'p'))
            """,
            [self.tables],
        )
        self.indexes = cursor.fetchall()
        cursor.execute(f"LOCK TABLE {', '.join(self.tables)} IN ACCESS EXCLUSIVE MODE")
        for table, name, _kind, _definition in self.constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in self.indexes:
            cursor.execute(f"DROP INDEX {name}")
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            return False  # the transaction rolls the drops back
        cursor = self.cursor
        for _name, definition in self.indexes:
            cursor.execute(definition)
        # Primary and unique keys first: nothing here refers to them, but they check the data.
        order = {"p": 0, "u": 1, "f": 2}
        for table, name, _kind, definition in sorted(self.constraints, key=lambda c: order[c[2]]):
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        return False
