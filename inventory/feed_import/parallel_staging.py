"""The typed COPY of a large run spread over connections of their own (one COPY uses one core)."""

import logging
import secrets
import threading

from django.db import connection, transaction

from inventory.errors import FeedRejectedError
from inventory.feed_import import staging
from inventory.feed_import.db import WAREHOUSE
from inventory.feed_import.feed import Feed

logger = logging.getLogger(__name__)

# A run with this many bytes of files for the typed COPY spreads them over STAGING_CONNECTIONS
# connections of their own: PostgreSQL parses and checks one COPY on one core, and below this a
# run's COPYs take under half a second, against about ten milliseconds to open a connection.
PARALLEL_STAGING_MIN_BYTES = 16 << 20
# The cores of the machines this runs on (two); each connection is one PostgreSQL backend.
STAGING_CONNECTIONS = 2
# Tables those connections COPY into: committed by them, so named with the run's own backend's
# process id, which tells an abandoned one (its run was killed) from one in use.
STAGE_TABLE_PREFIX = "fi_stage_"


def parallel_staging_wanted(cursor, feeds: list[Feed], typed: str) -> bool:
    if not typed or len(feeds) < 2:
        return False
    cursor.execute("SELECT relpersistence FROM pg_class WHERE oid = %s::regclass", [typed])
    if cursor.fetchone()[0] != "u":
        return False  # a temporary table: this user may not create the tables to share
    size = 0
    for feed in feeds:
        try:
            size += feed.feed_import.bytes_total or 0
        except (AttributeError, TypeError):
            return False
    return size >= PARALLEL_STAGING_MIN_BYTES


def _drop_abandoned_stages(cursor) -> None:
    """Drop the staging tables of runs whose process is gone (killed half-way: their tables
    were committed by their staging connections, and nobody dropped them)."""
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND starts_with(relname, %s) "
        "AND relnamespace = current_schema()::regnamespace",
        [STAGE_TABLE_PREFIX],
    )
    names = [name for (name,) in cursor.fetchall()]
    if not names:
        return
    cursor.execute("SELECT pid FROM pg_stat_activity")
    alive = {str(pid) for (pid,) in cursor.fetchall()}
    for name in names:
        if name[len(STAGE_TABLE_PREFIX) :].split("_", 1)[0] not in alive:
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')


def copy_deferred(cursor, feeds: list[Feed], typed: str) -> list[str]:
    """The typed COPY of `feeds` over STAGING_CONNECTIONS connections of their own, each into a
    table it creates and commits; the files they refuse take the text path here, in the run's
    transaction, and those of a connection that failed (none to be had, say) the run's own typed
    table (`typed`). Returns the tables, which the caller drops."""
    _drop_abandoned_stages(cursor)
    cursor.execute("SELECT pg_backend_pid()")
    pid = cursor.fetchone()[0]
    groups: list[list[Feed]] = [[] for _ in range(STAGING_CONNECTIONS)]
    sizes = [0] * STAGING_CONNECTIONS
    for feed in sorted(feeds, key=lambda f: f.feed_import.bytes_total or 0, reverse=True):
        lightest = sizes.index(min(sizes))
        groups[lightest].append(feed)
        sizes[lightest] += max(feed.feed_import.bytes_total or 0, 1)  # unknown sizes: by count
    groups = [g for g in groups if g]
    names = [f"{STAGE_TABLE_PREFIX}{pid}_{secrets.token_hex(6)}" for _ in groups]

    def work(name: str, group: list[Feed]) -> None:
        try:
            _copy_in_own_transaction(name, group)
            with connection.cursor() as own:
                # Rows another transaction committed cost their first reader a commit-status
                # lookup and a page write each (hint bits): here, both connections at once, not
                # in the run's first statement over them.
                own.execute(f"VACUUM {name}")
        except Exception:
            # Nothing of this connection's transaction stayed: its files are staged again below.
            logger.warning("A staging connection failed; its files are staged by the run's own")
            for feed in group:
                feed.staged.typed = feed.staged.copied = feed.staged.clean = False
                feed.report.rows_read = 0
                feed.staged.table = typed
                feed.fileobj.seek(feed.staged.deferred[2])
                feed.rewind_bytes()
        finally:
            connection.close()  # this thread's own connection

    threads = [
        threading.Thread(target=work, args=(name, group), name=f"feed-staging-{n}")
        for n, (name, group) in enumerate(zip(names, groups, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for feed in feeds:
        feed.staged.defer = False
        if not feed.staged.typed:
            if feed.staged.table != typed:
                feed.staged.table = ""  # refused by the typed COPY: it would refuse it again
            stage_later(cursor, feed)
    return names


def _copy_in_own_transaction(name: str, group: list[Feed]) -> None:
    # `connection` is this thread's own: a second PostgreSQL backend, its own transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE UNLOGGED TABLE {name} ({staging.TYPED_COLUMNS})")
        cursor.execute(f"ALTER SEQUENCE {name}_line_seq CACHE {staging.LINE_SEQUENCE_CACHE}")
        for feed in group:
            columns, head, start = feed.staged.deferred
            feed.staged.table, feed.staged.defer = name, False
            staging.stage_by_typed_copy(cursor, feed, columns, head, start)


def stage_later(cursor, feed: Feed) -> None:
    """A file the staging connections did not stage: the typed COPY of the run's own table if
    their connection failed, else the text path (or the Python reader), in its own savepoint.
    Rejected whole now, it takes back the warehouse it created."""
    try:
        with transaction.atomic():
            if not staging.stage_by_copy(cursor, feed):
                staging.stage_by_reader(cursor, feed)
    except FeedRejectedError as exc:
        feed.error = exc.message
        if feed.warehouse_created:
            # Not Model.delete(): its cascade would write to the stock table (no row, but a
            # write) before the run takes the inventory lock. A warehouse this run created has
            # no stock and no imports yet.
            cursor.execute(f"DELETE FROM {WAREHOUSE} WHERE id = %s", [feed.warehouse.pk])
        feed.warehouse = None


def drop_stage_tables(names: list[str]) -> None:
    """After a run that failed: its staging connections committed these, its rollback kept them."""
    try:
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute(f"DROP TABLE IF EXISTS {name}")
    except Exception:
        # An outer transaction that is broken cannot run it; the next run drops them.
        logger.warning("Could not drop the staging tables %s", names, exc_info=True)
