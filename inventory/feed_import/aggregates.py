"""Item aggregates (stock, available qty, price) and the SQL that makes new items with theirs."""

from decimal import Decimal

from django.conf import settings

from inventory.feed_import.db import ITEM, STOCK, WAREHOUSE, is_postgres
from inventory.feed_import.feed import Feed


def last_description(alias: str = "") -> str:
    """The last non-empty description of a group of rows, in the run's file order."""
    p = f"{alias}." if alias else ""
    if is_postgres():
        keyed = f"lpad({p}file_no::text, 6, '0') || {p}description"
        return (
            f"COALESCE(substr(max((CASE WHEN {p}description <> '' THEN {keyed} END) "
            "COLLATE \"C\"), 7), '')"
        )
    keyed = f"printf('%%06d', {p}file_no) || {p}description"
    return f"COALESCE(substr(max(CASE WHEN {p}description <> '' THEN {keyed} END), 7), '')"


def recompute_items(cursor, now, *, record: bool = False) -> int:
    """Recompute stock, available qty and price of the items listed in fi_changed.

    Only rows whose values really change are written; with `record`, their ids go to
    fi_item_changed. Returns how many items changed.
    """
    if is_postgres():
        cursor.execute("ANALYZE fi_changed")
        # Lock the items in primary-key order, the order orders lock them in, so an import and
        # an order placement never deadlock; FOR NO KEY UPDATE, as orders take them (an item's
        # key never changes), so that rows referring to an item can still be inserted.
        cursor.execute(
            f"SELECT id FROM {ITEM} WHERE id IN (SELECT item_id FROM fi_changed) "
            "ORDER BY id FOR NO KEY UPDATE"
        )
    markup = Decimal(settings.FBS_PRICE_MARKUP)
    update = f"""
        UPDATE {ITEM}
           SET stock_qty = agg.qty,
               available_qty = agg.qty - {ITEM}.committed_qty,
               price = COALESCE(ROUND(agg.min_cost * %s, 2), {ITEM}.price),
               updated_at = %s
          FROM (
                SELECT c.item_id,
                       COALESCE(SUM(CASE WHEN w.counts_in_stock THEN s.qty ELSE 0 END), 0) AS qty,
                       MIN(CASE WHEN w.counts_in_stock AND s.qty > 0 THEN s.cost END) AS min_cost
                  FROM fi_changed c
                  LEFT JOIN {STOCK} s ON s.item_id = c.item_id
                  LEFT JOIN {WAREHOUSE} w ON w.id = s.warehouse_id
                 GROUP BY c.item_id
               ) agg
         WHERE {ITEM}.id = agg.item_id
           AND ({ITEM}.stock_qty <> agg.qty
                OR {ITEM}.price <> COALESCE(ROUND(agg.min_cost * %s, 2), {ITEM}.price))
    """
    params = [markup, now, markup]
    if not record:
        cursor.execute(update, params)
        return cursor.rowcount
    if is_postgres():
        cursor.execute(
            f"WITH u AS ({update} RETURNING {ITEM}.id) "
            "INSERT INTO fi_item_changed SELECT id FROM u",
            params,
        )
        return cursor.rowcount
    cursor.execute(f"{update} RETURNING {ITEM}.id", params)
    ids = [(row[0],) for row in cursor.fetchall()]
    cursor.executemany("INSERT INTO fi_item_changed (item_id) VALUES (%s)", ids)
    return len(ids)


def part_number_norm(alias: str) -> str:
    """A group's normalised part number: the Python reader's rows bring theirs; for the rows
    checked in SQL (printable ASCII, already upper case) it is the same character filter."""
    if is_postgres():
        return (
            f"COALESCE(min({alias}.part_number_norm), "
            f"regexp_replace({alias}.part_number, '[^0-9A-Z]', '', 'g'))"
        )
    return f"min({alias}.part_number_norm)"


def new_items_sql(source: str, feeds: list[Feed]) -> str:
    """Items of `source` (rows with file_no, line_code, part_number, ...) grouped by key, with
    their aggregates over the run's counting warehouses. Which files do not count is written
    into the statement rather than joined from fi_files: the join cost 0.7 s per 2.9 M rows."""
    idle = [int(f.file_no) for f in feeds if not f.counts_stock]
    if idle:
        counting = f"r.file_no NOT IN ({', '.join(map(str, idle))})"
        qty, cost = f"CASE WHEN {counting} THEN r.qty ELSE 0 END", f"{counting} AND r.qty > 0"
    else:
        qty, cost = "r.qty", "r.qty > 0"
    return f"""
        SELECT r.line_code, r.part_number, {part_number_norm("r")} AS part_number_norm,
               min(r.file_no) AS first_file, {last_description("r")} AS description,
               SUM({qty}) AS qty, MIN(CASE WHEN {cost} THEN r.cost END) AS min_cost
          FROM {source} r
    """


def insert_items_from_keys(cursor, now) -> None:
    markup = Decimal(settings.FBS_PRICE_MARKUP)
    cursor.execute(
        f"""
        INSERT INTO {ITEM} (line_code, part_number, part_number_norm, description, price,
                            stock_qty, committed_qty, available_qty, updated_at)
        SELECT line_code, part_number, part_number_norm, description,
               COALESCE(ROUND(min_cost * %s, 2), 0), qty, 0, qty, %s
          FROM fi_keys
        """,
        [markup, now],
    )


def items_created_per_file(cursor, feeds: list[Feed]) -> None:
    cursor.execute("SELECT first_file, count(*) FROM fi_keys GROUP BY first_file")
    created = dict(cursor.fetchall())
    for feed in feeds:
        feed.counts["items_created"] = created.get(feed.file_no, 0)
