"""Every change to the master inventory: feed imports, warehouse stock counting, aggregates.

A feed import is one transaction: stream the good rows into a temporary staging table (COPY on
PostgreSQL), then apply set-based statements that touch only the rows whose values changed, and
recompute the aggregates of only the items whose stock changed. Anything that goes wrong, a dying
process included, rolls the whole snapshot back: the warehouse's stock stays as it was.
"""

import hashlib
import io
import logging
import re
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from inventory.errors import FeedRejectedError
from inventory.feeds import FeedReport, FeedRow, read_feed
from inventory.models import FeedImport, Item, Stock, Warehouse

logger = logging.getLogger(__name__)

# Every apply step takes this PostgreSQL advisory lock (transaction-scoped), so imports and
# stock sweeps that touch the same items' aggregates run one after another; reading and staging
# a file happen before it, in parallel. The number is arbitrary, fixed, and ours alone.
INVENTORY_APPLY_LOCK = 7_301_001

# Rows sent to the staging table per batch, and how often progress is published.
STAGE_BATCH_ROWS = 50_000
PROGRESS_EVERY_BYTES = 1 << 20

WAREHOUSE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")

ITEM = Item._meta.db_table
STOCK = Stock._meta.db_table
WAREHOUSE = Warehouse._meta.db_table


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def progress_cache_key(feed_import_id: int) -> str:
    return f"inventory:feed-import:{feed_import_id}:bytes-read"


# --- Staging ----------------------------------------------------------------------------------

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _create_temp(cursor, name: str, columns: str) -> None:
    # Dropped explicitly at the end too: an import inside a longer transaction (a test, a batch)
    # must not find the previous import's table; ON COMMIT DROP is the safety net on a crash.
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    if _is_postgres():
        cursor.execute(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP")
    else:
        cursor.execute(f"CREATE TEMP TABLE {name} ({columns})")


def _drop_temp(cursor, *names: str) -> None:
    for name in names:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


STAGING_COLUMNS = "line_code, part_number, part_number_norm, qty, cost, description"


def _stage_batch(cursor, batch: list[FeedRow]) -> None:
    if _is_postgres():
        buffer = io.StringIO()
        buffer.writelines(
            f"{_copy_text(r.line_code)}\t{_copy_text(r.part_number)}\t{r.part_number_norm}\t"
            f"{r.qty}\t{r.cost}\t{_copy_text(r.description)}\n"
            for r in batch
        )
        buffer.seek(0)
        cursor.cursor.copy_expert(f"COPY fi_staging ({STAGING_COLUMNS}) FROM STDIN", buffer)
    else:
        cursor.executemany(
            f"INSERT INTO fi_staging ({STAGING_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (r.line_code, r.part_number, r.part_number_norm, r.qty, str(r.cost), r.description)
                for r in batch
            ],
        )


# --- Aggregates -------------------------------------------------------------------------------


def _recompute_changed_items(cursor, now) -> int:
    """Recompute stock, available qty and price of the items listed in fi_changed.

    Only rows whose values really change are written. Returns how many items changed.
    """
    if _is_postgres():
        cursor.execute("ANALYZE fi_changed")
        # Lock the items in primary-key order, the order orders lock them in, so an import and
        # an order placement never deadlock.
        cursor.execute(
            f"SELECT id FROM {ITEM} WHERE id IN (SELECT item_id FROM fi_changed) "
            "ORDER BY id FOR UPDATE"
        )
    markup = Decimal(settings.FBS_PRICE_MARKUP)
    cursor.execute(
        f"""
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
        """,
        [markup, now, markup],
    )
    return cursor.rowcount


def _take_apply_lock(cursor) -> None:
    if _is_postgres():
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [INVENTORY_APPLY_LOCK])


# --- Feed import ------------------------------------------------------------------------------


def feed_import_create(
    *, file_name: str, warehouse_code: str = "", created_by=None, file=None, bytes_total: int = 0
) -> FeedImport:
    return FeedImport.objects.create(
        file_name=file_name[:255],
        warehouse_code=warehouse_code,
        created_by=created_by,
        file=file,
        bytes_total=bytes_total,
    )


def _warehouse_for_code(code: str) -> Warehouse:
    if not WAREHOUSE_CODE.match(code or ""):
        raise FeedRejectedError(
            f"{code!r} is not a warehouse code: use letters, digits, '-', '_' or '.', "
            "at most 40 characters (name the file after the warehouse, e.g. WH001.csv)."
        )
    warehouse, _ = Warehouse.objects.get_or_create(code=code.upper(), defaults={"name": code})
    return warehouse


def _file_sha256(fileobj) -> str | None:
    """The file's SHA-256, read from where it stands and rewound; None if it cannot rewind."""
    try:
        start = fileobj.tell()
    except (AttributeError, OSError):
        return None
    digest = hashlib.sha256()
    for chunk in iter(lambda: fileobj.read(1 << 20), b""):
        digest.update(chunk)
    fileobj.seek(start)
    return digest.hexdigest()


def _same_as_last_feed(feed_import: FeedImport, sha256: str | None) -> FeedImport | None:
    """The warehouse's last applied import when this file is byte for byte the same and the
    warehouse's stock still counts: applying it again could change nothing."""
    if not sha256:
        return None
    warehouse = Warehouse.objects.filter(code=(feed_import.warehouse_code or "").upper()).first()
    if warehouse is None or not warehouse.counts_in_stock or warehouse.is_stale():
        return None
    last = (
        FeedImport.objects.filter(warehouse=warehouse, status=FeedImport.Status.APPLIED)
        .exclude(pk=feed_import.pk)
        .order_by("-finished_at", "-pk")
        .first()
    )
    return last if last is not None and last.content_sha256 == sha256 else None


def feed_import_run(
    *,
    feed_import: FeedImport,
    fileobj,
    on_progress: Callable[[int], None] | None = None,
    force: bool = False,
) -> FeedImport:
    """Apply one warehouse's feed as its whole new snapshot, or nothing of it.

    Rows with a bad value are reported with their line numbers and the rest is applied; a file
    that is not a feed (empty, binary, wrong header, not UTF-8) is rejected whole. A file that
    is byte for byte the warehouse's last applied feed only renews the feed's date, unless
    `force` asks for the full comparison.
    """
    feed_import.status = FeedImport.Status.RUNNING
    feed_import.started_at = timezone.now()
    feed_import.content_sha256 = _file_sha256(fileobj) or ""
    feed_import.save(update_fields=["status", "started_at", "content_sha256"])
    same = None if force else _same_as_last_feed(feed_import, feed_import.content_sha256)
    if same is not None:
        return _feed_import_unchanged(feed_import, same)
    report = FeedReport(max_reported=FeedImport.MAX_REPORTED_REJECTS)
    started = time.monotonic()
    read = {"bytes": 0, "published": 0}
    key = progress_cache_key(feed_import.pk)

    def count_bytes(n: int) -> None:
        read["bytes"] += n
        if on_progress:
            on_progress(n)
        if read["bytes"] - read["published"] >= PROGRESS_EVERY_BYTES:
            read["published"] = read["bytes"]
            cache.set(key, read["bytes"], timeout=3600)

    try:
        with transaction.atomic():
            warehouse = _warehouse_for_code(feed_import.warehouse_code)
            counts = _apply_feed(warehouse, fileobj, report, count_bytes)
    except FeedRejectedError as exc:
        feed_import.status = FeedImport.Status.REJECTED
        feed_import.error = exc.message
        counts = {}
        warehouse = None
    except Exception as exc:
        logger.exception("Feed import %s failed", feed_import.pk)
        feed_import.status = FeedImport.Status.FAILED
        feed_import.error = f"{type(exc).__name__}: {exc}"[:2000]
        counts = {}
        warehouse = None
    else:
        feed_import.status = FeedImport.Status.APPLIED
    finally:
        cache.delete(key)

    feed_import.warehouse = warehouse
    feed_import.finished_at = timezone.now()
    feed_import.bytes_read = read["bytes"]
    feed_import.rows_read = report.rows_read
    feed_import.rows_rejected = report.rows_rejected
    feed_import.rejected_rows = [[line, reason] for line, reason in report.rejected]
    feed_import.stock_rows_written = counts.get("stock_rows_written", 0)
    feed_import.items_created = counts.get("items_created", 0)
    feed_import.items_changed = counts.get("items_changed", 0)
    feed_import.save()
    if feed_import.status == FeedImport.Status.APPLIED and feed_import.items_changed:
        _special_orders_recheck()
    logger.debug(
        "Feed import %s %s: %s rows, %s rejected, %s items changed in %.2fs",
        feed_import.pk,
        feed_import.status,
        report.rows_read,
        report.rows_rejected,
        feed_import.items_changed,
        time.monotonic() - started,
    )
    return feed_import


def _feed_import_unchanged(feed_import: FeedImport, same: FeedImport) -> FeedImport:
    with transaction.atomic():
        warehouse = Warehouse.objects.select_for_update().get(pk=same.warehouse_id)
        warehouse.last_feed_at = timezone.now()
        warehouse.save(update_fields=["last_feed_at"])
        feed_import.warehouse = warehouse
        feed_import.same_as = same
        feed_import.status = FeedImport.Status.APPLIED
        feed_import.finished_at = timezone.now()
        feed_import.bytes_read = same.bytes_read
        feed_import.rows_read = same.rows_read
        feed_import.rows_rejected = same.rows_rejected
        feed_import.rejected_rows = same.rejected_rows
        feed_import.save()
    return feed_import


def _special_orders_recheck() -> None:
    """New stock may be what a special order waits for: let orders look (after commit)."""
    from orders.tasks import special_orders_restock_task

    def send():
        try:
            special_orders_restock_task.delay()
        except Exception:
            # Beat runs the same check every few minutes; a broker outage only delays it.
            logger.exception("Could not queue the special-order check")

    transaction.on_commit(send)


def _apply_feed(warehouse: Warehouse, fileobj, report: FeedReport, count_bytes) -> dict:
    now = timezone.now()
    with connection.cursor() as cursor:
        _create_temp(
            cursor,
            "fi_staging",
            "line_code varchar(10), part_number varchar(50), part_number_norm varchar(50), "
            "qty integer, cost numeric(10, 2), description varchar(255)",
        )
        batch: list[FeedRow] = []
        for row in read_feed(fileobj, report, on_bytes=count_bytes):
            batch.append(row)
            if len(batch) >= STAGE_BATCH_ROWS:
                _stage_batch(cursor, batch)
                batch.clear()
        if batch:
            _stage_batch(cursor, batch)

        # From here on the file is fully read and valid: apply it, one import at a time.
        _take_apply_lock(cursor)
        warehouse = Warehouse.objects.select_for_update().get(pk=warehouse.pk)
        counts = warehouse.is_active
        if _is_postgres():
            cursor.execute("ANALYZE fi_staging")
            # Each statement below touches a few thousand items among a million, by key. With
            # the default random_page_cost (4, tuned for spinning disks) the planner would
            # rather scan the whole item table per statement; 1.1 is the usual SSD value.
            cursor.execute("SET LOCAL random_page_cost = 1.1")

        # One lookup of each row's item: existing items get their id and whether the feed
        # brings a better description; new ones have none yet.
        _create_temp(
            cursor,
            "fi_staged",
            "item_id bigint, is_new boolean, line_code varchar(10), part_number varchar(50), "
            "part_number_norm varchar(50), qty integer, cost numeric(10, 2), "
            "description varchar(255), description_changed boolean",
        )
        cursor.execute(
            f"""
            INSERT INTO fi_staged (item_id, is_new, line_code, part_number, part_number_norm,
                                   qty, cost, description, description_changed)
            SELECT i.id, i.id IS NULL, s.line_code, s.part_number, s.part_number_norm,
                   s.qty, s.cost, s.description,
                   (i.id IS NOT NULL AND s.description <> '' AND i.description <> s.description)
              FROM fi_staging s
              LEFT JOIN {ITEM} i ON i.line_code = s.line_code AND i.part_number = s.part_number
            """
        )
        # New items are born with their aggregates: this warehouse is the only one that has
        # them, so they need no recompute (and are written once, not twice).
        markup = Decimal(settings.FBS_PRICE_MARKUP)
        cursor.execute(
            f"""
            INSERT INTO {ITEM} (line_code, part_number, part_number_norm, description, price,
                                stock_qty, committed_qty, available_qty, updated_at)
            SELECT line_code, part_number, part_number_norm, description,
                   CASE WHEN %s AND qty > 0 THEN ROUND(cost * %s, 2) ELSE 0 END,
                   CASE WHEN %s THEN qty ELSE 0 END, 0, CASE WHEN %s THEN qty ELSE 0 END, %s
              FROM fi_staged WHERE is_new
            """,
            [counts, markup, counts, counts, now],
        )
        items_created = cursor.rowcount
        if items_created:
            cursor.execute(
                f"""
                UPDATE fi_staged SET item_id = i.id
                  FROM {ITEM} i
                 WHERE fi_staged.is_new
                   AND i.line_code = fi_staged.line_code AND i.part_number = fi_staged.part_number
                """
            )
        cursor.execute("CREATE UNIQUE INDEX fi_staged_item ON fi_staged (item_id)")
        if _is_postgres():
            cursor.execute("ANALYZE fi_staged")

        # A better description replaces the old one; an empty one never blanks it.
        cursor.execute(
            f"""
            UPDATE {ITEM} SET description = st.description
              FROM fi_staged st
             WHERE st.description_changed AND {ITEM}.id = st.item_id
            """
        )

        _create_temp(cursor, "fi_changed", "item_id bigint PRIMARY KEY")
        # Rows missing from the new snapshot: that warehouse has none of them now.
        cursor.execute(
            f"""
            INSERT INTO fi_changed (item_id)
            SELECT s.item_id FROM {STOCK} s
             WHERE s.warehouse_id = %s
               AND NOT EXISTS (SELECT 1 FROM fi_staged st WHERE st.item_id = s.item_id)
            """,
            [warehouse.pk],
        )
        cursor.execute(
            f"""
            DELETE FROM {STOCK}
             WHERE warehouse_id = %s AND item_id IN (SELECT item_id FROM fi_changed)
            """,
            [warehouse.pk],
        )
        deleted = cursor.rowcount
        # Rows whose qty or cost changed.
        cursor.execute(
            f"""
            UPDATE {STOCK} SET qty = st.qty, cost = st.cost, changed_at = %s
              FROM fi_staged st
             WHERE {STOCK}.warehouse_id = %s AND {STOCK}.item_id = st.item_id
               AND ({STOCK}.qty <> st.qty OR {STOCK}.cost <> st.cost)
            """,
            [now, warehouse.pk],
        )
        updated = cursor.rowcount
        # Rows new to this warehouse.
        cursor.execute(
            f"""
            INSERT INTO {STOCK} (warehouse_id, item_id, qty, cost, changed_at)
            SELECT %s, st.item_id, st.qty, st.cost, %s
              FROM fi_staged st
             WHERE NOT EXISTS (SELECT 1 FROM {STOCK} s
                                WHERE s.warehouse_id = %s AND s.item_id = st.item_id)
            """,
            [warehouse.pk, now, warehouse.pk],
        )
        inserted = cursor.rowcount

        # The items whose aggregates may move: every item of the warehouse when it starts to
        # count again (first feed, back from stale), otherwise only the rows written just now.
        starts_counting = warehouse.is_active and not warehouse.counts_in_stock
        # New items already hold their aggregates: they are left out.
        if starts_counting:
            cursor.execute(
                f"""
                INSERT INTO fi_changed (item_id)
                SELECT s.item_id FROM {STOCK} s
                 WHERE s.warehouse_id = %s
                   AND NOT EXISTS (SELECT 1 FROM fi_staged st
                                    WHERE st.item_id = s.item_id AND st.is_new)
                ON CONFLICT (item_id) DO NOTHING
                """,
                [warehouse.pk],
            )
        elif updated or inserted:
            cursor.execute(
                f"""
                INSERT INTO fi_changed (item_id)
                SELECT s.item_id FROM {STOCK} s
                 WHERE s.warehouse_id = %s AND s.changed_at = %s
                   AND NOT EXISTS (SELECT 1 FROM fi_staged st
                                    WHERE st.item_id = s.item_id AND st.is_new)
                ON CONFLICT (item_id) DO NOTHING
                """,
                [warehouse.pk, now],
            )

        warehouse.last_feed_at = now
        warehouse.counts_in_stock = warehouse.is_active
        warehouse.save(update_fields=["last_feed_at", "counts_in_stock"])

        items_changed = _recompute_changed_items(cursor, now)
        _drop_temp(cursor, "fi_staging", "fi_staged", "fi_changed")

    return {
        "items_created": items_created,
        "items_changed": items_changed,
        "stock_rows_written": deleted + updated + inserted,
    }


# --- Warehouses -------------------------------------------------------------------------------


def warehouse_stock_sweep(*, warehouse_ids: list[int] | None = None) -> list[str]:
    """Make each warehouse's stock count exactly when it is active and its feed is fresh.

    Runs from beat every minute (stale feeds) and right after a warehouse is switched on or off.
    Returns the codes of the warehouses whose stock started or stopped counting.
    """
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        _take_apply_lock(cursor)
        warehouses = Warehouse.objects.select_for_update().order_by("pk")
        if warehouse_ids is not None:
            warehouses = warehouses.filter(pk__in=warehouse_ids)
        flipped = []
        for warehouse in warehouses:
            should_count = warehouse.is_active and not warehouse.is_stale(now)
            if should_count != warehouse.counts_in_stock:
                warehouse.counts_in_stock = should_count
                warehouse.save(update_fields=["counts_in_stock"])
                flipped.append(warehouse)
        if not flipped:
            return []
        _create_temp(cursor, "fi_changed", "item_id bigint PRIMARY KEY")
        cursor.execute(
            f"""
            INSERT INTO fi_changed (item_id)
            SELECT DISTINCT item_id FROM {STOCK} WHERE warehouse_id IN ({
                ", ".join(["%s"] * len(flipped))
            })
            """,
            [w.pk for w in flipped],
        )
        _recompute_changed_items(cursor, now)
        _drop_temp(cursor, "fi_changed")
    return [w.code for w in flipped]


def warehouse_update(*, warehouse: Warehouse, **fields) -> Warehouse:
    """Change a warehouse's name, location or freshness limit. A new limit can make its feed
    stale or fresh at once, so its stock is re-counted now rather than at the next sweep."""
    allowed = {"name", "state", "postal_code", "feed_max_age"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"warehouse_update cannot change {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = Warehouse.objects.select_for_update().get(pk=warehouse.pk)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(fields))
    warehouse_stock_sweep(warehouse_ids=[locked.pk])
    locked.refresh_from_db()
    return locked


def warehouse_set_active(*, warehouse: Warehouse, is_active: bool) -> Warehouse:
    with transaction.atomic():
        warehouse = Warehouse.objects.select_for_update().get(pk=warehouse.pk)
        warehouse.is_active = is_active
        warehouse.save(update_fields=["is_active"])
    warehouse_stock_sweep(warehouse_ids=[warehouse.pk])
    warehouse.refresh_from_db()
    return warehouse


def feed_import_upload(*, uploaded_file, warehouse_code: str = "", user=None) -> FeedImport:
    """Keep an uploaded feed under a name we make, and queue its import after commit."""
    from inventory.tasks import feed_import_task

    name = uploaded_file.name.replace("\\", "/").rsplit("/", 1)[-1]
    code = warehouse_code or name.rsplit(".", 1)[0]
    with transaction.atomic():
        feed_import = feed_import_create(
            file_name=name, warehouse_code=code, created_by=user, bytes_total=uploaded_file.size
        )
        feed_import.file.save(f"feed-{feed_import.pk}-{uuid.uuid4().hex}.csv", uploaded_file)
        transaction.on_commit(lambda: feed_import_task.delay(feed_import.pk))
    return feed_import


def warehouse_register(
    *, code: str, name: str = "", state: str = "", postal_code: str = ""
) -> Warehouse:
    """Create a warehouse or update where it is; its stock comes only from its feeds."""
    warehouse, _ = Warehouse.objects.update_or_create(
        code=code.upper(),
        defaults={"name": name or code, "state": state.upper(), "postal_code": postal_code},
    )
    return warehouse
