"""Loading warehouse feeds into the master inventory: many files, one set-based pass.

A run stages every file first, each in its own savepoint. On PostgreSQL a file of printable ASCII
is first COPYed straight into a typed staging table whose CHECK constraints accept a row only when
its values are already in the exact form the Python checks of `inventory.feeds` would keep as they
are, so that such a file needs no checking pass at all. A file that COPY refuses (one row is
enough: PostgreSQL 15 has no COPY ON_ERROR) is COPYed again as text into a second staging table and
checked there in SQL; only the rows SQL cannot vouch for go through the Python checks, so every
reason reads the same. A file PostgreSQL's CSV reader will not take whole (a row of the wrong
width, a blank line, bytes that are not UTF-8), or whose line count does not match its rows (a
line break inside quotes), is read by the Python reader instead; on SQLite every file is. A file
that is not a feed at all is rejected whole: its savepoint is rolled back and nothing of it stays.

Then the files that passed are applied together, in one transaction and under the inventory lock:
each row's item is looked up once, new items are inserted with their aggregates already summed
over the whole run, only stock rows whose values differ are written, and every other touched item
has its aggregates recomputed once, however many of the run's warehouses stock it. Into an empty
inventory (the first load) the secondary indexes and foreign keys are dropped for the load and
built again after it, as PostgreSQL's "Populating a Database" advises.
"""

import csv
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from inventory.errors import FeedRejectedError
from inventory.feed_guards import feed_guard
from inventory.feeds import (
    COST_MAX,
    DESCRIPTION_MAX,
    LINE_CODE_MAX,
    PART_NUMBER_MAX,
    QTY_MAX,
    SNIFF_BYTES,
    FeedReport,
    FeedRow,
    check_fields,
    check_head,
    check_header,
    duplicate_reason,
    read_feed,
)
from inventory.locks import inventory_lock_exclusive
from inventory.models import FeedImport, Item, Stock, Warehouse

logger = logging.getLogger(__name__)

ITEM = Item._meta.db_table
STOCK = Stock._meta.db_table
WAREHOUSE = Warehouse._meta.db_table

# Rows sent to the staging table per COPY when the Python reader stages a file.
STAGE_BATCH_ROWS = 50_000
# Below this many rows a first load is not worth dropping and rebuilding indexes for.
BULK_LOAD_MIN_ROWS = 200_000
# Memory per sort or hash for the run's statements (the server default, 4 MB, spills to disk).
WORK_MEM = "256MB"
MAINTENANCE_WORK_MEM = "512MB"
# Line numbers handed out per call to the staging tables' sequence: one call per row otherwise
# costs a quarter of a COPY's time. The cache is discarded when the sequence restarts (per file).
LINE_SEQUENCE_CACHE = 10_000
# For the few statements that read every staged row (millions): with PostgreSQL's defaults
# (1000 and 0.1, set for short queries) the planner keeps them on one core, though starting two
# workers costs milliseconds and their join's output is a few changed rows.
WHOLE_RUN_PARALLEL = {"parallel_setup_cost": "0", "parallel_tuple_cost": "0.001"}
# A run with this many bytes of files for the typed COPY spreads them over STAGING_CONNECTIONS
# connections of their own: PostgreSQL parses and checks one COPY on one core, and below this a
# run's COPYs take under half a second, against about ten milliseconds to open a connection.
PARALLEL_STAGING_MIN_BYTES = 16 << 20
# The cores of the machines this runs on (two); each connection is one PostgreSQL backend.
STAGING_CONNECTIONS = 2
# Tables those connections COPY into: committed by them, so named with the run's own backend's
# process id, which tells an abandoned one (its run was killed) from one in use.
STAGE_TABLE_PREFIX = "fi_stage_"

# Bytes a "clean" file holds: printable ASCII and line breaks. Rows of such a file need no
# per-character check in SQL before the values are trusted.
_TEXT_BYTES = bytes(range(0x20, 0x7F)) + b"\r\n"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@dataclass
class Feed:
    """One file of a run, from staging to its FeedImport's final counts."""

    feed_import: FeedImport
    fileobj: object
    count_bytes: Callable[[int], None]
    rewind_bytes: Callable[[], None]
    file_no: int = 0
    report: FeedReport = field(
        default_factory=lambda: FeedReport(max_reported=FeedImport.MAX_REPORTED_REJECTS)
    )
    warehouse: Warehouse | None = None
    error: str = ""
    copied: bool = False  # staged by COPY (typed, or as text then checked in SQL)
    typed: bool = False  # staged by the typed COPY: every row already checked by its table
    clean: bool = False  # only printable ASCII and line breaks
    typed_table: str = ""  # the run's typed staging table, where there is one
    defer_typed: bool = False  # leave the typed COPY to the run's staging connections
    deferred: tuple | None = None  # (columns, head, start) for those connections
    warehouse_created: bool = False  # the run created the warehouse (undone if rejected late)
    may_create_warehouse: bool = True  # False: an unknown warehouse code rejects the file
    refused: str = ""  # the guard's code when the feed was checked but refused (feed_guards)
    start: int | None = None  # where the file starts, to read it again (None: it cannot be)
    counts_stock: bool = True  # its warehouse is active: its stock counts once applied
    rejected: list[tuple[int, str]] = field(default_factory=list)
    counts: dict = field(default_factory=dict)


class _NotForCopy(Exception):
    """The file must go through the Python reader instead."""


class _ScanningReader:
    """What COPY reads the file through: counts bytes and line breaks, notes odd bytes."""

    def __init__(self, raw, on_bytes):
        self.raw = raw
        self.on_bytes = on_bytes
        self.bytes = 0
        self.newlines = 0
        self.returns = 0
        self.clean = True
        self.last = b""

    def read(self, size=-1):
        data = self.raw.read(size if size and size > 0 else 1 << 20)
        if data:
            self.bytes += len(data)
            self.newlines += data.count(b"\n")
            self.returns += data.count(b"\r")
            if self.clean and data.translate(None, _TEXT_BYTES):
                self.clean = False
            self.last = data[-1:]
            self.on_bytes(len(data))
        return data

    def rows_expected(self) -> int:
        lines = self.newlines + (1 if self.bytes and self.last != b"\n" else 0)
        return lines - 1  # the header


# --- Temporary tables -------------------------------------------------------------------------


def create_temp(cursor, name: str, columns: str) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    suffix = " ON COMMIT DROP" if is_postgres() else ""
    cursor.execute(f"CREATE TEMP TABLE {name} ({columns}){suffix}")


def _create_temp_as(cursor, name: str, query: str, params=()) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    suffix = " ON COMMIT DROP" if is_postgres() else ""
    # Always with parameters, so that '%%' means '%' on every database.
    cursor.execute(f"CREATE TEMP TABLE {name}{suffix} AS {query}", list(params))


def drop_temp(cursor, *names: str) -> None:
    for name in names:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


# ANALYZE's sample of a staging table, a tenth of the default (3,000 rows instead of 30,000): the
# planner needs their number and rough key counts, and the full sample of millions of rows costs a
# third of a second.
STAGING_STATISTICS_TARGET = 10


def _analyze(cursor, *names: str) -> None:
    if is_postgres():
        for name in names:
            cursor.execute(f"ANALYZE {name}")


def _analyze_staging(cursor, *names: str) -> None:
    with _settings(cursor, {"default_statistics_target": str(STAGING_STATISTICS_TARGET)}):
        _analyze(cursor, *names)


def take_apply_lock(cursor) -> None:
    if is_postgres():
        inventory_lock_exclusive(cursor)


VALID_COLUMNS = "file_no, line, line_code, part_number, part_number_norm, qty, cost, description"


def _canonical_key(column: str) -> str:
    """A line code or part number as the Python checks keep it: not empty, no space at either
    end, no lower-case letter (the file is printable ASCII, so these are all that strip() and
    upper() could change)."""
    return (
        f"{column} <> '' AND ascii({column}) <> 32 AND {column} NOT LIKE '% ' "
        f'AND {column} = upper({column} COLLATE "C")'
    )


# The typed staging table. COPY fails on the first row these columns and constraints refuse,
# and the file then takes the text path, so each one must accept only what `check_fields`
# keeps exactly as it is, with the same value:
# - keys: varchar(n) refuses a longer value (one longer only by trailing spaces is cut to n,
#   and then ends with a space, which the check refuses);
# - qty starts with a digit (so no sign: int4 would take '+5' and '-0', Python does not) and
#   is an int4 (only trailing spaces may follow, which Python strips too) up to QTY_MAX;
# - cost is an unconstrained numeric, so it holds the exact value written ('-0.001' stays
#   negative, '1.005' keeps its third decimal, 'NaN' is above any limit); the readers round it to
#   cents half away from zero, as Python's ROUND_HALF_UP does for a number that is not negative;
# - description has no space at either end and at most DESCRIPTION_MAX characters.
_TYPED_COLUMNS = f"""
    file_no integer, line bigserial, warehouse_id bigint,
    line_code varchar({LINE_CODE_MAX}) NOT NULL CHECK ({_canonical_key("line_code")}),
    part_number varchar({PART_NUMBER_MAX}) NOT NULL CHECK ({_canonical_key("part_number")}),
    qty text NOT NULL CHECK (ascii(qty) BETWEEN 48 AND 57 AND qty::integer <= {QTY_MAX}),
    cost numeric NOT NULL CHECK (cost >= 0 AND cost <= {COST_MAX}),
    description varchar({DESCRIPTION_MAX}) NOT NULL DEFAULT ''
        CHECK (ascii(description) <> 32 AND description NOT LIKE '% ')
"""


def _create_typed_staging(cursor) -> str:
    """The run's typed staging table: UNLOGGED, with a name of its own, so that the statements
    that read every staged row can use parallel workers (they cannot scan a temporary table).
    Created inside the run's transaction, it disappears with it, even when the process dies.
    Where the database user may not create tables, a temporary table does the same, slower."""
    name = f"fi_typed_{secrets.token_hex(8)}"
    try:
        with transaction.atomic():
            cursor.execute(f"CREATE UNLOGGED TABLE {name} ({_TYPED_COLUMNS})")
    except DatabaseError:
        cursor.execute(f"CREATE TEMP TABLE {name} ({_TYPED_COLUMNS}) ON COMMIT DROP")
    cursor.execute(f"ALTER SEQUENCE {name}_line_seq CACHE {LINE_SEQUENCE_CACHE}")
    return name


def _create_staging(cursor) -> str:
    """The run's staging tables; returns the typed one's name ("" on SQLite)."""
    typed = ""
    if is_postgres():
        create_temp(
            cursor,
            "fi_raw",
            "file_no integer, line bigserial, line_code text, part_number text, qty text, "
            "cost text, description text",
        )
        cursor.execute(f"ALTER SEQUENCE fi_raw_line_seq CACHE {LINE_SEQUENCE_CACHE}")
        typed = _create_typed_staging(cursor)
    create_temp(
        cursor,
        "fi_valid",
        "file_no integer, line bigint, line_code varchar(10), part_number varchar(50), "
        "part_number_norm varchar(50), qty integer, cost numeric(10, 2), "
        "description varchar(255)",
    )
    return typed


def _typed_tables(feeds: list["Feed"]) -> dict[str, list[int]]:
    """The typed tables `feeds` were staged into, with the file numbers each one holds."""
    tables: dict[str, list[int]] = {}
    for feed in feeds:
        if feed.typed:
            tables.setdefault(feed.typed_table, []).append(feed.file_no)
    return tables


def _staged_keys(feeds: list["Feed"]) -> tuple[str, list]:
    """SQL for (file_no, line, line_code, part_number) of the checked rows of `feeds`, from
    the typed table and fi_valid (only the tables some of them were staged into)."""
    other = [f.file_no for f in feeds if not f.typed]
    parts, params = [], []
    for table, numbers in _typed_tables(feeds).items():
        parts.append(
            f"SELECT file_no, line, line_code, part_number FROM {table} WHERE file_no = ANY(%s)"
        )
        params.append(numbers)
    if other:
        parts.append(
            "SELECT file_no, line, line_code, part_number FROM fi_valid WHERE file_no = ANY(%s)"
        )
        params.append(other)
    return " UNION ALL ".join(parts), params


def _create_all_view(cursor, feeds: list["Feed"]) -> list[str]:
    """fi_all: every checked row of the run with its warehouse, in fi_valid's types. Returns
    the tables behind it (to ANALYZE)."""
    parts, tables = [], []
    for typed in _typed_tables(feeds):
        parts.append(
            f"""
            SELECT file_no, line, warehouse_id, line_code, part_number,
                   NULL::varchar({PART_NUMBER_MAX}) AS part_number_norm, qty::integer AS qty,
                   cost::numeric(10, 2) AS cost, description
              FROM {typed}
            """
        )
        tables.append(typed)
    if not tables or not all(f.typed for f in feeds):
        parts.append(
            """
            SELECT v.file_no, v.line, f.warehouse_id, v.line_code, v.part_number,
                   v.part_number_norm, v.qty, v.cost, v.description
              FROM fi_valid v JOIN fi_files f ON f.file_no = v.file_no
            """
        )
        tables.append("fi_valid")
    cursor.execute("DROP VIEW IF EXISTS fi_all")
    cursor.execute(f"CREATE TEMP VIEW fi_all AS {' UNION ALL '.join(parts)}")
    return tables


class _settings:
    """PostgreSQL settings changed for a block of the run's statements, then put back."""

    def __init__(self, cursor, values: dict[str, str]):
        self.cursor = cursor
        self.values = values if is_postgres() else {}

    def __enter__(self):
        self.saved = {}
        for name, value in self.values.items():
            self.cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)",
                                [name, name, value])  # fmt: skip
            self.saved[name] = self.cursor.fetchone()[0]
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            for name, value in self.saved.items():
                self.cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        return False


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _stage_rows(cursor, file_no: int, rows: list[tuple[int, FeedRow]]) -> None:
    """Write checked rows into fi_valid."""
    if is_postgres():
        import io

        buffer = io.StringIO()
        buffer.writelines(
            f"{file_no}\t{line}\t{_copy_text(r.line_code)}\t{_copy_text(r.part_number)}\t"
            f"{r.part_number_norm}\t{r.qty}\t{r.cost}\t{_copy_text(r.description)}\n"
            for line, r in rows
        )
        buffer.seek(0)
        cursor.cursor.copy_expert(f"COPY fi_valid ({VALID_COLUMNS}) FROM STDIN", buffer)
    else:
        cursor.executemany(
            f"INSERT INTO fi_valid ({VALID_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    file_no,
                    line,
                    r.line_code,
                    r.part_number,
                    r.part_number_norm,
                    r.qty,
                    str(r.cost),
                    r.description,
                )
                for line, r in rows
            ],
        )


# --- Staging one file -------------------------------------------------------------------------


def _warehouse_for_code(code: str, create: bool = True) -> tuple[Warehouse, bool]:
    from inventory.services import WAREHOUSE_CODE

    if not WAREHOUSE_CODE.match(code or ""):
        raise FeedRejectedError(
            f"{code!r} is not a warehouse code: use letters, digits, '-', '_' or '.', "
            "at most 40 characters (name the file after the warehouse, e.g. WH001.csv)."
        )
    if not create:
        warehouse = Warehouse.objects.filter(code=code.upper()).first()
        if warehouse is None:
            raise FeedRejectedError(
                f"There is no warehouse {code.upper()}: check the code, or add the warehouse "
                "first (Warehouses, Add)."
            )
        return warehouse, False
    return Warehouse.objects.get_or_create(code=code.upper(), defaults={"name": code})


def _stage_by_copy(cursor, feed: Feed) -> bool:
    """COPY the file as it stands into fi_raw. False when the Python reader must read it."""
    raw = feed.fileobj
    if not is_postgres():
        return False
    try:
        start = raw.tell()
        head = raw.read(SNIFF_BYTES)
        raw.seek(start)
    except (AttributeError, OSError):
        return False
    check_head(head)
    first, newline, _ = head.partition(b"\n")
    if not newline:
        return False
    try:
        header = next(csv.reader([first.decode("utf-8-sig").rstrip("\r")]))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return False
    columns = check_header(header)
    if len(columns) != len(header):
        return False  # a header ending in a comma: COPY wants one column per field
    if _stage_by_typed_copy(cursor, feed, columns, head, start):
        return True

    cursor.execute(f"ALTER TABLE fi_raw ALTER COLUMN file_no SET DEFAULT {int(feed.file_no)}")
    _restart_lines(cursor, "fi_raw")
    reader = _ScanningReader(raw, feed.count_bytes)
    import psycopg2

    try:
        with transaction.atomic():
            cursor.cursor.copy_expert(
                f"COPY fi_raw ({', '.join(columns)}) FROM STDIN "
                "(FORMAT csv, HEADER true, ENCODING 'UTF8')",
                reader,
                size=1 << 20,
            )
            rows = cursor.cursor.rowcount
            if rows != reader.rows_expected():
                raise _NotForCopy
    except (_NotForCopy, DatabaseError, psycopg2.Error):
        raw.seek(start)
        feed.rewind_bytes()
        return False
    feed.report.rows_read = rows
    feed.clean = reader.clean and reader.returns in (0, reader.newlines)
    feed.copied = True
    return True


def _restart_lines(cursor, table: str) -> None:
    """The next row COPYed into `table` is line 2 (line 1 is the header). setval, unlike ALTER
    SEQUENCE ... RESTART, does not rewrite the sequence (a millisecond a file), and it too
    discards the numbers this session had cached."""
    cursor.execute("SELECT setval(%s, 2, false)", [f"{table}_line_seq"])


def _stage_by_typed_copy(cursor, feed: Feed, columns: list[str], head: bytes, start: int) -> bool:
    """COPY the file into the run's typed table, whose constraints check every row as it comes.
    False (and nothing of it staged) when COPY refuses a row or the file turns out not to be
    printable ASCII: the text path then takes it."""
    table = feed.typed_table
    if not table or head.translate(None, _TEXT_BYTES):
        return False  # other characters: the text path's checks know what to do with them
    if feed.defer_typed:
        feed.deferred = (columns, head, start)
        return True  # staged by the run's staging connections (or, failing that, later here)
    cursor.execute(
        f"ALTER TABLE {table} ALTER COLUMN file_no SET DEFAULT {int(feed.file_no)}, "
        f"ALTER COLUMN warehouse_id SET DEFAULT {int(feed.warehouse.pk)}"
    )
    _restart_lines(cursor, table)
    reader = _ScanningReader(feed.fileobj, feed.count_bytes)
    listed = ", ".join(columns)
    import psycopg2

    try:
        with transaction.atomic():
            # FORCE_NOT_NULL: an empty field is '' (refused by the checks), never NULL.
            cursor.cursor.copy_expert(
                f"COPY {table} ({listed}) FROM STDIN "
                f"(FORMAT csv, HEADER true, ENCODING 'UTF8', FORCE_NOT_NULL ({listed}))",
                reader,
                size=1 << 20,
            )
            rows = cursor.cursor.rowcount
            clean = reader.clean and reader.returns in (0, reader.newlines)
            if rows != reader.rows_expected() or not clean:
                raise _NotForCopy
    except (_NotForCopy, DatabaseError, psycopg2.Error):
        feed.fileobj.seek(start)
        feed.rewind_bytes()
        return False
    feed.report.rows_read = rows
    feed.clean = feed.copied = feed.typed = True
    return True


def _stage_by_reader(cursor, feed: Feed) -> None:
    """The Python reader: checks every row and stages the good ones."""
    batch: list[tuple[int, FeedRow]] = []
    for row in read_feed(feed.fileobj, feed.report, on_bytes=feed.count_bytes):
        batch.append((0, row))
        if len(batch) >= STAGE_BATCH_ROWS:
            _stage_rows(cursor, feed.file_no, batch)
            batch.clear()
    if batch:
        _stage_rows(cursor, feed.file_no, batch)
    feed.rejected = list(feed.report.rejected)


def stage(cursor, feed: Feed) -> None:
    """Stage one file in its own savepoint; a file that is not a feed leaves nothing."""
    try:
        with transaction.atomic():
            feed.warehouse, feed.warehouse_created = _warehouse_for_code(
                feed.feed_import.warehouse_code, feed.may_create_warehouse
            )
            if not _stage_by_copy(cursor, feed):
                _stage_by_reader(cursor, feed)
    except FeedRejectedError as exc:
        feed.error = exc.message
        feed.warehouse = None


def _parallel_staging_wanted(cursor, feeds: list[Feed], typed: str) -> bool:
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


def _copy_deferred(cursor, feeds: list[Feed], typed: str) -> list[str]:
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
                feed.typed = feed.copied = feed.clean = False
                feed.report.rows_read = 0
                feed.typed_table = typed
                feed.fileobj.seek(feed.deferred[2])
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
        feed.defer_typed = False
        if not feed.typed:
            if feed.typed_table != typed:
                feed.typed_table = ""  # refused by the typed COPY: it would refuse it again
            _stage_later(cursor, feed)
    return names


def _copy_in_own_transaction(name: str, group: list[Feed]) -> None:
    # `connection` is this thread's own: a second PostgreSQL backend, its own transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE UNLOGGED TABLE {name} ({_TYPED_COLUMNS})")
        cursor.execute(f"ALTER SEQUENCE {name}_line_seq CACHE {LINE_SEQUENCE_CACHE}")
        for feed in group:
            columns, head, start = feed.deferred
            feed.typed_table, feed.defer_typed = name, False
            _stage_by_typed_copy(cursor, feed, columns, head, start)


def _stage_later(cursor, feed: Feed) -> None:
    """A file the staging connections did not stage: the typed COPY of the run's own table if
    their connection failed, else the text path (or the Python reader), in its own savepoint.
    Rejected whole now, it takes back the warehouse it created."""
    try:
        with transaction.atomic():
            if not _stage_by_copy(cursor, feed):
                _stage_by_reader(cursor, feed)
    except FeedRejectedError as exc:
        feed.error = exc.message
        if feed.warehouse_created:
            # Not Model.delete(): its cascade would write to the stock table (no row, but a
            # write) before the run takes the inventory lock. A warehouse this run created has
            # no stock and no imports yet.
            cursor.execute(f"DELETE FROM {WAREHOUSE} WHERE id = %s", [feed.warehouse.pk])
        feed.warehouse = None


def _drop_stage_tables(names: list[str]) -> None:
    """After a run that failed: its staging connections committed these, its rollback kept them."""
    try:
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute(f"DROP TABLE IF EXISTS {name}")
    except Exception:
        # An outer transaction that is broken cannot run it; the next run drops them.
        logger.warning("Could not drop the staging tables %s", names, exc_info=True)


# --- Checking the COPYed rows -----------------------------------------------------------------

# A row SQL can vouch for: every value already in the form the Python checks would accept as is.
_ROW_OK = f"""
    length(btrim(line_code)) BETWEEN 1 AND {LINE_CODE_MAX}
    AND length(btrim(part_number)) BETWEEN 1 AND {PART_NUMBER_MAX}
    AND length(qty) BETWEEN 1 AND {len(str(QTY_MAX))} AND ltrim(qty, '0123456789') = ''
    AND (length(qty) < {len(str(QTY_MAX))} OR qty COLLATE "C" <= '{QTY_MAX}')
    AND cost ~ '^[0-9]{{1,{len(str(int(COST_MAX)))}}}(\\.[0-9]{{0,2}})?$'
"""
# Only printable ASCII, so that SQL's trimming and upper-casing are Python's.
_ROW_PLAIN = """
    line_code ~ '^[ -~]*$' AND part_number ~ '^[ -~]*$' AND COALESCE(description, '') ~ '^[ -~]*$'
"""


def check_copied(cursor, feeds: list[Feed]) -> None:
    """Move the COPYed rows SQL can vouch for into fi_valid; check the others in Python; reject
    keys repeated within a file."""
    copied = [f for f in feeds if f.copied and not f.error]
    if not copied:
        return
    by_no = {f.file_no: f for f in copied}
    as_text = [f for f in copied if not f.typed]
    for clean in (True, False):
        numbers = [f.file_no for f in as_text if f.clean is clean]
        if not numbers:
            continue
        ok = _ROW_OK if clean else f"{_ROW_OK} AND {_ROW_PLAIN}"
        cursor.execute(
            f"""
            INSERT INTO fi_valid ({VALID_COLUMNS})
            SELECT file_no, line, upper(btrim(line_code)), upper(btrim(part_number)), NULL,
                   qty::integer, cost::numeric(10, 2),
                   left(btrim(COALESCE(description, '')), {DESCRIPTION_MAX})
              FROM fi_raw
             WHERE file_no = ANY(%s) AND {ok}
            """,
            [numbers],
        )
        odd = []
        if cursor.rowcount != sum(by_no[n].report.rows_read for n in numbers):
            cursor.execute(
                "SELECT file_no, count(*) FROM fi_valid WHERE file_no = ANY(%s) GROUP BY 1",
                [numbers],
            )
            vouched = dict(cursor.fetchall())
            odd = [n for n in numbers if vouched.get(n, 0) != by_no[n].report.rows_read]
        if odd:
            cursor.execute(
                f"""
                SELECT file_no, line, COALESCE(line_code, ''), COALESCE(part_number, ''),
                       COALESCE(qty, ''), COALESCE(cost, ''), COALESCE(description, '')
                  FROM fi_raw
                 WHERE file_no = ANY(%s) AND NOT COALESCE({ok}, false)
                 ORDER BY file_no, line
                """,
                [odd],
            )
            good: dict[int, list] = {}
            for file_no, line, *values in cursor.fetchall():
                checked = check_fields(*values)
                if isinstance(checked, str):
                    by_no[file_no].rejected.append((line, checked))
                else:
                    good.setdefault(file_no, []).append((line, checked))
            for file_no, rows in good.items():
                _stage_rows(cursor, file_no, rows)

    _reject_repeated(cursor, copied)
    cursor.execute("TRUNCATE fi_raw")


def _reject_repeated(cursor, feeds: list[Feed]) -> None:
    """Reject the rows whose key an earlier good row of the same file already had (as the
    Python reader does while it reads), from the typed table and fi_valid."""
    by_no = {f.file_no: f for f in feeds}
    rows, params = _staged_keys(feeds)
    # A key repeated within a file makes two equal 64-bit hashes, so fewer distinct hashes
    # than rows is certain to catch it; sorting integers is several times cheaper than grouping
    # the text keys. A false alarm (a hash collision) only costs the exact query below. (The
    # line code's hash seeds the part number's: no string is built per row.)
    cursor.execute(
        f"""
        SELECT count(*) - count(DISTINCT hashtextextended(
                   part_number, (file_no::bigint << 32) + hashtext(line_code)))
          FROM ({rows}) r
        """,
        params,
    )
    if not cursor.fetchone()[0]:
        return
    repeated = f"""
        SELECT file_no, line, line_code, part_number, first_line FROM (
            SELECT file_no, line, line_code, part_number,
                   min(line) OVER (PARTITION BY file_no, line_code, part_number) AS first_line
              FROM ({rows}) r) d
         WHERE line > first_line
    """
    cursor.execute(repeated, params)
    found = cursor.fetchall()
    for file_no, line, line_code, part_number, first_line in found:
        by_no[file_no].rejected.append((line, duplicate_reason(line_code, part_number, first_line)))
    for table in [*_typed_tables(feeds), "fi_valid"]:
        lines = [
            (file_no, line)
            for file_no, line, *_ in found
            if (by_no[file_no].typed_table if by_no[file_no].typed else "fi_valid") == table
        ]
        if lines:
            cursor.execute(
                f"DELETE FROM {table} WHERE (file_no, line) IN "
                f"(SELECT * FROM unnest(%s::integer[], %s::bigint[]))",
                [[n for n, _ in lines], [line for _, line in lines]],
            )


def finish_report(feed: Feed) -> None:
    """The file's rejected rows in line order, as many as a FeedImport keeps."""
    if not feed.copied:
        return  # the Python reader reported them as it read
    feed.rejected.sort()
    feed.report.rows_rejected = len(feed.rejected)
    feed.report.rejected = feed.rejected[: feed.report.max_reported]


# --- Guarding ---------------------------------------------------------------------------------


class _Refused(Exception):
    """Raised inside `apply`, before the first stock row is written, when the guard refuses some
    of the run's feeds: the caller rolls the apply back and applies the others again."""

    def __init__(self, feeds: list[Feed]):
        super().__init__(f"{len(feeds)} feeds refused")
        self.feeds = feeds


def _guard(feeds: list[Feed], held: dict[int, tuple[int, int]]) -> None:
    """Ask `feed_guards.feed_guard` about every feed, with (stocked, removed) of its warehouse
    from `held` (by warehouse id; none held: nothing to lose); raise _Refused naming those it
    refuses."""
    refused = []
    for feed in feeds:
        stocked, removed = held.get(feed.warehouse.pk, (0, 0))
        decision = feed_guard(
            rows_read=feed.report.rows_read,
            rows_rejected=feed.report.rows_rejected,
            stocked=stocked,
            removed=removed,
            allow_empty=feed.feed_import.allow_empty,
        )
        if not decision.applied:
            feed.refused, feed.error = decision.code, decision.reason
            refused.append(feed)
    if refused:
        raise _Refused(refused)


def _apply_guarded(cursor, feeds: list[Feed], now) -> list[Feed]:
    """Apply `feeds`, less those the guard refuses; returns those applied.

    The guard's numbers come from the apply's own pass over the rows (what it would delete or
    set to 0), so it costs no second pass; a refusal rolls the apply's savepoint back, drops the
    refused files' staged rows and applies the rest again (once: each file's decision depends
    only on its own warehouse). A refused file's warehouse keeps its last good snapshot."""
    while feeds:
        try:
            with transaction.atomic():
                apply(cursor, feeds, now)
            return feeds
        except _Refused as refusal:
            for feed in refusal.feeds:
                table = feed.typed_table if feed.typed else "fi_valid"
                cursor.execute(f"DELETE FROM {table} WHERE file_no = %s", [feed.file_no])
                if feed.warehouse_created:
                    # As in _stage_later: a warehouse this run created has no stock or imports.
                    cursor.execute(f"DELETE FROM {WAREHOUSE} WHERE id = %s", [feed.warehouse.pk])
                    feed.warehouse = None
            feeds = [f for f in feeds if not f.refused]
    return feeds


# --- Applying ---------------------------------------------------------------------------------


def _last_description(alias: str = "") -> str:
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


def apply(cursor, feeds: list[Feed], now) -> None:
    """Apply every staged feed as its warehouse's whole new snapshot, together."""
    take_apply_lock(cursor)
    ids = sorted(f.warehouse.pk for f in feeds)
    locked = {
        w.pk: w
        for w in Warehouse.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
    }
    for feed in feeds:
        feed.counts_stock = locked[feed.warehouse.pk].is_active
    create_temp(
        cursor,
        "fi_files",
        "file_no integer PRIMARY KEY, warehouse_id bigint, counts boolean, starts boolean",
    )
    cursor.executemany(
        "INSERT INTO fi_files (file_no, warehouse_id, counts, starts) VALUES (%s, %s, %s, %s)",
        [
            (
                f.file_no,
                f.warehouse.pk,
                locked[f.warehouse.pk].is_active,
                locked[f.warehouse.pk].is_active and not locked[f.warehouse.pk].counts_in_stock,
            )
            for f in feeds
        ],
    )
    _analyze_staging(cursor, *_create_all_view(cursor, feeds), "fi_files")
    # Each warehouse's feed is fresh now, so its stock counts exactly when it is active.
    cursor.execute(
        f"""
        UPDATE {WAREHOUSE} SET last_feed_at = %s, counts_in_stock = f.counts
          FROM fi_files f WHERE {WAREHOUSE}.id = f.warehouse_id
        """,
        [now],
    )
    rows = sum(f.report.rows_read for f in feeds)
    if is_postgres() and rows >= BULK_LOAD_MIN_ROWS and not Item.objects.exists():
        _guard(feeds, {})  # an empty inventory: no stock to lose, only the rows to judge
        _apply_first_load(cursor, feeds, now)
    else:
        _apply_changes(cursor, feeds, now)


def _part_number_norm(alias: str) -> str:
    """A group's normalised part number: the Python reader's rows bring theirs; for the rows
    checked in SQL (printable ASCII, already upper case) it is the same character filter."""
    if is_postgres():
        return (
            f"COALESCE(min({alias}.part_number_norm), "
            f"regexp_replace({alias}.part_number, '[^0-9A-Z]', '', 'g'))"
        )
    return f"min({alias}.part_number_norm)"


def _new_items_sql(source: str, feeds: list[Feed]) -> str:
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
        SELECT r.line_code, r.part_number, {_part_number_norm("r")} AS part_number_norm,
               min(r.file_no) AS first_file, {_last_description("r")} AS description,
               SUM({qty}) AS qty, MIN(CASE WHEN {cost} THEN r.cost END) AS min_cost
          FROM {source} r
    """


def _insert_items_from_keys(cursor, now) -> None:
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


def _items_created_per_file(cursor, feeds: list[Feed]) -> None:
    cursor.execute("SELECT first_file, count(*) FROM fi_keys GROUP BY first_file")
    created = dict(cursor.fetchall())
    for feed in feeds:
        feed.counts["items_created"] = created.get(feed.file_no, 0)


def _apply_first_load(cursor, feeds: list[Feed], now) -> None:
    """Into an empty inventory: every item is new, so each is inserted once with its aggregates,
    and the stock goes in with the secondary indexes and foreign keys built after it."""
    _create_temp_as(
        cursor,
        "fi_keys",
        _new_items_sql("fi_all", feeds) + " GROUP BY r.line_code, r.part_number",
    )
    with _rebuilt_after(cursor, [ITEM, STOCK]):
        _insert_items_from_keys(cursor, now)
        _analyze(cursor, ITEM)
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
    _analyze(cursor, ITEM, STOCK)
    _items_created_per_file(cursor, feeds)
    for feed in feeds:
        # (len(feed.rejected) would do only up to the thousand rejected rows a report keeps.)
        feed.counts["stock_rows_written"] = feed.report.rows_read - feed.report.rows_rejected
        feed.counts["items_changed"] = 0
        # An empty inventory: every good row is new at its warehouse.
        feed.counts["stock_created"] = feed.report.rows_read - feed.report.rows_rejected
        feed.counts.update(stock_changed=0, stock_removed=0, stock_unchanged=0)
    drop_temp(cursor, "fi_keys")


class _rebuilt_after:
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


def _apply_changes(cursor, feeds: list[Feed], now) -> None:
    """Into an inventory that has items: write only what differs, recompute only what moved."""
    # One pass over the run's rows: each row's item and its stock row at that warehouse. Only
    # the rows that change something are kept: a new item, a new or changed stock row, a new
    # description.
    with _settings(cursor, WHOLE_RUN_PARALLEL):
        _create_temp_as(
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
    _analyze_staging(cursor, "fi_rows")

    # New items, born with their aggregates: only this run's warehouses have them.
    _create_temp_as(
        cursor,
        "fi_keys",
        _new_items_sql("fi_rows", feeds) + " WHERE r.is_new GROUP BY r.line_code, r.part_number",
    )
    _items_created_per_file(cursor, feeds)
    _insert_items_from_keys(cursor, now)
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
    with _settings(cursor, WHOLE_RUN_PARALLEL):
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
    # The guard, before the first stock row is written: per warehouse, the items in stock that
    # this snapshot takes out of stock (no longer listed, or listed with qty 0).
    cursor.execute(
        "SELECT warehouse_id, count(*) FROM fi_written "
        "WHERE old_qty > 0 AND (kind = 'd' OR qty = 0) GROUP BY warehouse_id"
    )
    removed = dict(cursor.fetchall())
    _guard(feeds, {pk: (n, removed.get(pk, 0)) for pk, n in stocked.items()})
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
          FROM (SELECT r.item_id, {_last_description("r")} AS description
                  FROM fi_rows r WHERE r.description_changed
                 GROUP BY r.item_id) d
         WHERE {ITEM}.id = d.item_id AND {ITEM}.description <> d.description
        """,
        [],
    )

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
    drop_temp(
        cursor, "fi_rows", "fi_keys", "fi_new", "fi_written", "fi_touched", "fi_changed",
        "fi_item_changed",
    )  # fmt: skip


# --- A run ------------------------------------------------------------------------------------


def run(feeds: list[Feed]) -> None:
    """Stage, check and apply `feeds` (distinct warehouses); fill in each one's outcome.

    Raises what the apply raised (nothing of the run is then applied); the caller records it.
    """
    now = timezone.now()
    stage_tables: list[str] = []
    try:
        _run(feeds, now, stage_tables)
    except BaseException:
        if stage_tables:
            _drop_stage_tables(stage_tables)
        raise


def _run(feeds: list[Feed], now, stage_tables: list[str]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        if is_postgres():
            # Whole-run sorts and hashes fit in memory instead of spilling to disk.
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            cursor.execute(f"SET LOCAL maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
            # Small runs touch items by key; with the default random_page_cost (4, for spinning
            # disks) the planner would rather scan the whole item table each time.
            cursor.execute("SET LOCAL random_page_cost = 1.1")
            # Every statement here is one long pass; compiling each one costs more than it saves.
            cursor.execute("SET LOCAL jit = off")
        typed = _create_staging(cursor)
        parallel = _parallel_staging_wanted(cursor, feeds, typed)
        for number, feed in enumerate(feeds, start=1):
            feed.file_no = number
            feed.typed_table = typed
            feed.defer_typed = parallel
            stage(cursor, feed)
        if parallel:
            stage_tables.extend(
                _copy_deferred(cursor, [f for f in feeds if f.deferred and not f.error], typed)
            )
        check_copied(cursor, feeds)
        good = [f for f in feeds if not f.error]
        for feed in good:
            finish_report(feed)
        if good:
            started = time.monotonic()
            good = _apply_guarded(cursor, good, now)
            for feed in good:
                feed.counts["apply_seconds"] = time.monotonic() - started
        cursor.execute("DROP VIEW IF EXISTS fi_all")
        drop_temp(
            cursor, "fi_raw", "fi_valid", "fi_files", *([typed] if typed else []), *stage_tables
        )
