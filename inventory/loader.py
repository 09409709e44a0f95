"""Moved: feed imports live in `inventory.feed_import`, the inventory's locks in `inventory.locks`.

Only `INVENTORY_APPLY_LOCK` is still importable from here, for `orders.services`, until it
imports it from `inventory.locks`.
"""

from inventory.locks import INVENTORY_APPLY_LOCK

__all__ = ["INVENTORY_APPLY_LOCK"]
