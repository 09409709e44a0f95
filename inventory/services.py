"""Every change to the master inventory: feed imports, warehouse stock counting, aggregates.

Feed imports live in `inventory.feed_import` (one module per stage); their services are
re-exported here, so that views, admin, commands and tasks ask one module. Anything that goes
wrong in a run, a dying process included, rolls the whole run back.
"""

from django.db import connection, transaction
from django.utils import timezone

from inventory.feed_import import aggregates, db
from inventory.feed_import.service import (
    PROGRESS_EVERY_BYTES,
    RUN_MAX_FILES,
    feed_import_create,
    feed_import_run,
    feed_import_run_pending,
    feed_import_upload,
    feed_imports_run,
    feed_upload_warehouse_code,
    progress_cache_key,
)
from inventory.locks import inventory_lock_exclusive
from inventory.models import Stock, Warehouse

__all__ = [
    "PROGRESS_EVERY_BYTES",
    "RUN_MAX_FILES",
    "feed_import_create",
    "feed_import_run",
    "feed_import_run_pending",
    "feed_import_upload",
    "feed_imports_run",
    "feed_upload_warehouse_code",
    "progress_cache_key",
    "warehouse_register",
    "warehouse_set_active",
    "warehouse_stock_sweep",
    "warehouse_update",
]

STOCK = Stock._meta.db_table


# --- Warehouses -------------------------------------------------------------------------------


def warehouse_stock_sweep(*, warehouse_ids: list[int] | None = None) -> list[str]:
    """Make each warehouse's stock count exactly when it is active and its feed is fresh.

    Runs from beat every minute (stale feeds) and right after a warehouse is switched on or off.
    Returns the codes of the warehouses whose stock started or stopped counting.
    """
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        inventory_lock_exclusive()
        warehouses = Warehouse.objects.select_for_update(no_key=True).order_by("pk")
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
        db.create_temp(cursor, "fi_changed", "item_id bigint PRIMARY KEY")
        cursor.execute(
            f"""
            INSERT INTO fi_changed (item_id)
            SELECT DISTINCT item_id FROM {STOCK} WHERE warehouse_id IN ({
                ", ".join(["%s"] * len(flipped))
            })
            """,
            [w.pk for w in flipped],
        )
        aggregates.recompute_items(cursor, now)
        db.drop_temp(cursor, "fi_changed")
    return [w.code for w in flipped]


def warehouse_update(*, warehouse: Warehouse, **fields) -> Warehouse:
    """Change a warehouse's name, location or freshness limit. A new limit can make its feed
    stale or fresh at once, so its stock is re-counted now rather than at the next sweep."""
    allowed = {"name", "state", "postal_code", "feed_max_age"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"warehouse_update cannot change {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = Warehouse.objects.select_for_update(no_key=True).get(pk=warehouse.pk)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(fields))
    warehouse_stock_sweep(warehouse_ids=[locked.pk])
    locked.refresh_from_db()
    return locked


def warehouse_set_active(*, warehouse: Warehouse, is_active: bool) -> Warehouse:
    with transaction.atomic():
        warehouse = Warehouse.objects.select_for_update(no_key=True).get(pk=warehouse.pk)
        warehouse.is_active = is_active
        warehouse.save(update_fields=["is_active"])
    warehouse_stock_sweep(warehouse_ids=[warehouse.pk])
    warehouse.refresh_from_db()
    return warehouse


def warehouse_register(
    *, code: str, name: str = "", state: str = "", postal_code: str = ""
) -> Warehouse:
    """Create a warehouse or update where it is; its stock comes only from its feeds."""
    warehouse, _ = Warehouse.objects.update_or_create(
        code=code.upper(),
        defaults={"name": name or code, "state": state.upper(), "postal_code": postal_code},
    )
    return warehouse
