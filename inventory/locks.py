"""Every lock the inventory takes, and the advisory-lock SQL, written once.

Imports and stock sweeps rewrite stock rows and item totals holding the inventory lock alone
(exclusive); a fulfillment decision holds it shared. The two never interleave their row locks, so
they cannot deadlock whatever order their set-based statements lock rows in. Advisory locks are
PostgreSQL's; on SQLite (one writer at a time) there is nothing to take.
"""

from django.db import connection

# Fixed, arbitrary and ours alone: imports and stock sweeps that touch aggregates run one at a time.
INVENTORY_APPLY_LOCK = 7_301_001


def inventory_lock_exclusive() -> None:
    """Until the transaction ends: no other import, sweep or fulfillment decision runs."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [INVENTORY_APPLY_LOCK])


def inventory_lock_shared() -> None:
    """Until the transaction ends: no import or sweep runs (other shared holders may)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [INVENTORY_APPLY_LOCK])
