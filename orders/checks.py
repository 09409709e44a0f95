"""Start-up checks of what orders need from the database."""

from django.core import checks
from django.db import connection

# Fulfillment decides a batch with UPDATE ... FROM (VALUES ...), which SQLite has since 3.33.
SQLITE_UPDATE_FROM = (3, 33, 0)


@checks.register(checks.Tags.database)
def sqlite_has_update_from(app_configs=None, **kwargs):
    if connection.vendor != "sqlite":
        return []
    from sqlite3 import sqlite_version_info

    if sqlite_version_info >= SQLITE_UPDATE_FROM:
        return []
    return [
        checks.Error(
            f"SQLite {'.'.join(map(str, sqlite_version_info))} is too old: fulfillment needs "
            "3.33 or newer (UPDATE ... FROM). Use a Python 3.11 built with a newer SQLite, or "
            "PostgreSQL (DATABASE_URL).",
            id="orders.E001",
        )
    ]
