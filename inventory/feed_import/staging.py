"""Staging one file: COPYed into a typed table (PostgreSQL, a clean file), COPYed as text (checked
later in SQL: `sql_checks`), or read by the Python reader (`reading`; SQLite's only path)."""

import csv
import re
import secrets

from django.db import DatabaseError, transaction

from inventory.errors import FeedRejectedError
from inventory.feed_import.db import create_temp, is_postgres
from inventory.feed_import.feed import Feed
from inventory.feed_import.fields import (
    COST_MAX,
    DESCRIPTION_MAX,
    LINE_CODE_MAX,
    PART_NUMBER_MAX,
    QTY_MAX,
    FeedRow,
    check_header,
)
from inventory.feed_import.reading import SNIFF_BYTES, check_head, read_feed
from inventory.models import Warehouse

# Rows sent to the staging table per COPY when the Python reader stages a file.
STAGE_BATCH_ROWS = 50_000

# Line numbers handed out per call to the staging tables' sequence: one call per row otherwise
# costs a quarter of a COPY's time. The cache is discarded when the sequence restarts (per file).
LINE_SEQUENCE_CACHE = 10_000

# Bytes a "clean" file holds: printable ASCII and line breaks. Rows of such a file need no
# per-character check in SQL before the values are trusted.
_TEXT_BYTES = bytes(range(0x20, 0x7F)) + b"\r\n"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


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
TYPED_COLUMNS = f"""
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
            cursor.execute(f"CREATE UNLOGGED TABLE {name} ({TYPED_COLUMNS})")
    except DatabaseError:
        cursor.execute(f"CREATE TEMP TABLE {name} ({TYPED_COLUMNS}) ON COMMIT DROP")
    cursor.execute(f"ALTER SEQUENCE {name}_line_seq CACHE {LINE_SEQUENCE_CACHE}")
    return name


def create_staging(cursor) -> str:
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


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def stage_rows(cursor, file_no: int, rows: list[tuple[int, FeedRow]]) -> None:
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


WAREHOUSE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def _warehouse_for_code(code: str, create: bool = True) -> tuple[Warehouse, bool]:
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


def stage_by_copy(cursor, feed: Feed) -> bool:
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
    if stage_by_typed_copy(cursor, feed, columns, head, start):
        return True

    cursor.execute(f"ALTER TABLE fi_raw ALTER COLUMN file_no SET DEFAULT {int(feed.file_no)}")
    restart_lines(cursor, "fi_raw")
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
    feed.staged.clean = reader.clean and reader.returns in (0, reader.newlines)
    feed.staged.copied = True
    return True


def restart_lines(cursor, table: str) -> None:
    """The next row COPYed into `table` is line 2 (line 1 is the header). setval, unlike ALTER
    SEQUENCE ... RESTART, does not rewrite the sequence (a millisecond a file), and it too
    discards the numbers this session had cached."""
    cursor.execute("SELECT setval(%s, 2, false)", [f"{table}_line_seq"])


def stage_by_typed_copy(cursor, feed: Feed, columns: list[str], head: bytes, start: int) -> bool:
    """COPY the file into the run's typed table, whose constraints check every row as it comes.
    False (and nothing of it staged) when COPY refuses a row or the file turns out not to be
    printable ASCII: the text path then takes it."""
    table = feed.staged.table
    if not table or head.translate(None, _TEXT_BYTES):
        return False  # other characters: the text path's checks know what to do with them
    if feed.staged.defer:
        feed.staged.deferred = (columns, head, start)
        return True  # staged by the run's staging connections (or, failing that, later here)
    cursor.execute(
        f"ALTER TABLE {table} ALTER COLUMN file_no SET DEFAULT {int(feed.file_no)}, "
        f"ALTER COLUMN warehouse_id SET DEFAULT {int(feed.warehouse.pk)}"
    )
    restart_lines(cursor, table)
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
    feed.staged.clean = feed.staged.copied = feed.staged.typed = True
    return True


def stage_by_reader(cursor, feed: Feed) -> None:
    """The Python reader: checks every row and stages the good ones."""
    batch: list[tuple[int, FeedRow]] = []
    for row in read_feed(feed.fileobj, feed.report, on_bytes=feed.count_bytes):
        batch.append((0, row))
        if len(batch) >= STAGE_BATCH_ROWS:
            stage_rows(cursor, feed.file_no, batch)
            batch.clear()
    if batch:
        stage_rows(cursor, feed.file_no, batch)
    feed.rejected = list(feed.report.rejected)


def stage(cursor, feed: Feed) -> None:
    """Stage one file in its own savepoint; a file that is not a feed leaves nothing."""
    try:
        with transaction.atomic():
            feed.warehouse, feed.warehouse_created = _warehouse_for_code(
                feed.feed_import.warehouse_code, feed.may_create_warehouse
            )
            if not stage_by_copy(cursor, feed):
                stage_by_reader(cursor, feed)
    except FeedRejectedError as exc:
        feed.error = exc.message
        feed.warehouse = None
