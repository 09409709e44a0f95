"""The inventory lock: one PostgreSQL advisory lock, held for the rest of the transaction.

- Exclusive: a feed import's apply and the stock sweep rewrite stock rows and item totals with
  set-based statements, one of them at a time (`inventory_lock_exclusive`).
- Shared: a fulfillment decision of the orders app takes stock rows and items row by row under it
  (`inventory_lock_shared`). Sharers run together; none of them interleaves its row locks with an
  exclusive holder's, so the two cannot deadlock whatever order their statements lock rows in.

Other apps take it only through these two functions. On SQLite (no advisory locks, and one
writer at a time anyway) both do nothing.
"""

from django.db import connection

# Fixed, arbitrary and ours alone: imports and stock sweeps that touch aggregates run one at a time.
INVENTORY_APPLY_LOCK = 7_301_001

_TAKE = {
    "exclusive": "SELECT pg_advisory_xact_lock(%s)",
    "shared": "SELECT pg_advisory_xact_lock_shared(%s)",
}


def _take(mode: str, cursor=None) -> None:
    if connection.vendor != "postgresql":
        return
    if cursor is not None:
        cursor.execute(_TAKE[mode], [INVENTORY_APPLY_LOCK])
        return
    with connection.cursor() as own:
        own.execute(_TAKE[mode], [INVENTORY_APPLY_LOCK])


def inventory_lock_exclusive(cursor=None) -> None:
    """Hold the inventory lock alone until the transaction ends (on `cursor`, if given)."""
    _take("exclusive", cursor)


def inventory_lock_shared(cursor=None) -> None:
    """Hold the inventory lock shared until the transaction ends (on `cursor`, if given)."""
    _take("shared", cursor)
