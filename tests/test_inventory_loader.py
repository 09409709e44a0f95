"""The feed loader: runs of many files, the SQL checks against the Python reader, the first load."""

import io

import pytest
from django.db import DatabaseError, connection, transaction

from inventory.feed_import import applying, changes, db, first_load, parallel_staging, staging
from inventory.models import FeedImport, Item, Stock, Warehouse
from inventory.services import feed_import_create, feed_imports_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _every_bad_row_allowed(settings):
    # These tests compare the loader's paths row by row, with files made mostly of bad rows;
    # the guard that refuses such files is tested on its own (test_inventory_feed_guards).
    settings.FBS_FEED_MAX_BAD_FRACTION = 1.0


def feed(code: str, text: str | bytes) -> tuple[FeedImport, io.BytesIO]:
    data = text.encode() if isinstance(text, str) else text
    return feed_import_create(file_name=f"{code}.csv", warehouse_code=code), io.BytesIO(data)


def item(part: str, line_code: str = "ACD") -> Item:
    return Item.objects.get(line_code=line_code, part_number=part)


def test_a_run_applies_its_feeds_together_and_a_rejected_file_holds_nobody_back():
    runs = [
        feed("WH1", "line_code,part_number,qty,cost,description\nACD,A,2,10.00,Pad\nACD,B,1,3,\n"),
        feed("WH2", "line_code,part_number,qty,cost\nACD,A,5,8.00\nACD,C,0,1.00\n"),
        feed("WH3", b"\x00\x01binary"),
    ]

    first, second, rejected = feed_imports_run(runs)

    assert (first.status, second.status, rejected.status) == ("applied", "applied", "rejected")
    assert "binary" in rejected.error
    assert not Warehouse.objects.filter(code="WH3").exists()
    # items summed over the run's warehouses, priced from the cheapest in stock
    assert (item("A").stock_qty, item("A").available_qty, str(item("A").price)) == (7, 7, "9.60")
    assert item("A").description == "Pad"
    assert (item("B").stock_qty, item("C").stock_qty) == (1, 0)
    # each new item is counted once, by the first file that brought it
    assert (first.items_created, second.items_created) == (2, 1)
    assert (first.stock_rows_written, second.stock_rows_written) == (2, 2)
    assert Warehouse.objects.get(code="WH2").counts_in_stock


def test_two_feeds_of_one_warehouse_in_a_run_apply_in_the_order_given():
    runs = [
        feed("WH1", "line_code,part_number,qty,cost\nACD,A,2,1.00\nACD,B,4,1.00\n"),
        feed("WH1", "line_code,part_number,qty,cost\nACD,A,9,1.00\n"),
    ]

    older, newer = feed_imports_run(runs)

    assert (older.status, newer.status) == ("applied", "applied")
    assert (item("A").stock_qty, item("B").stock_qty) == (9, 0)
    assert not Stock.objects.filter(item=item("B")).exists()


def test_a_run_that_fails_while_applying_applies_nothing(monkeypatch):
    feed_imports_run([feed("WH1", "line_code,part_number,qty,cost\nACD,A,2,1.00\n")])
    before = list(Stock.objects.values_list("warehouse_id", "item_id", "qty"))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(changes, "apply_changes", broken)
    runs = [
        feed("WH1", "line_code,part_number,qty,cost\nACD,A,7,1.00\n"),
        feed("WH2", "line_code,part_number,qty,cost\nACD,Z,7,1.00\n"),
    ]

    results = feed_imports_run(runs)

    assert [r.status for r in results] == ["failed", "failed"]
    assert "disk full" in results[0].error
    assert list(Stock.objects.values_list("warehouse_id", "item_id", "qty")) == before
    assert not Item.objects.filter(part_number="Z").exists()


# Rows that exercise every check, in forms the SQL can vouch for and forms it must leave to
# Python: padding, case, '$', three decimals, '+', non-ASCII, tabs, quotes, repeats, limits.
TRICKY = (
    "line_code,part_number,qty,cost,description\n"
    "acd,ab-1,3,10.00,Brake pad\n"
    " ACD , AB-2 , 4 , 2.5 ,  padded  \n"
    "ACD,AB-3,5,$7.25,dollar cost\n"
    "ACD,AB-4,6,1.005,three decimals\n"
    "ACD,AB-5,+5,1.00,plus sign\n"
    "ACD,AB-6,10000000,1.00,the qty limit\n"
    "ACD,AB-6B,3,9999999.99,the cost limit\n"
    "ACD,AB-7,10000001,1.00,qty too large\n"
    "ACD,AB-8,1,10000000,cost too large\n"
    "ACD,ÄB-9,2,1.00,Bremsbeläge\n"
    "ACD,straße,2,1.00,sharp s\n"
    "ACD,AB-10,2,1.00,\tTabbed\t\n"
    'ACD,"AB,11",2,1.00,"quoted, with comma"\n'
    "ACD,AB-1,9,1.00,repeats line 2\n"
    "ACD,ab-1,9,1.00,repeats line 2 in lower case\n"
    ",AB-12,1,1.00,no line code\n"
    "ACD,,1,1.00,no part number\n"
    "ACDEFGHIJKL,AB-13,1,1.00,line code too long\n"
    f"ACD,{'P' * 51},1,1.00,part number too long\n"
    "ACD,AB-14,-2,1.00,negative\n"
    "ACD,AB-15,2.0,1.00,not whole\n"
    "ACD,AB-16,,1.00,no qty\n"
    "ACD,AB-17,1,,no cost\n"
    "ACD,AB-18,1,-1,negative cost\n"
    "ACD,AB-19,1,NaN,not a number\n"
    "ACD,AB-20,1,1e2,exponent\n"
    f"ACD,AB-21,1,1.00,{'d' * 300}\n"
    "ACD,AB-22,0012,01.5,leading zeros\n"
    "ACD,AB-23,1,1.00,\n"
)


def outcome(result: FeedImport) -> dict:
    return {
        "status": result.status,
        "rows": (result.rows_read, result.rows_rejected),
        "rejected": [tuple(r) for r in result.rejected_rows],
        "items": sorted(
            Item.objects.values_list(
                "line_code", "part_number", "part_number_norm", "description", "stock_qty", "price"
            )
        ),
        "stock": sorted(
            Stock.objects.values_list("item__line_code", "item__part_number", "qty", "cost")
        ),
    }


def run_both_ways(monkeypatch, text: str | bytes) -> tuple[dict, dict, list[bool]]:
    """The same feed through the COPY-and-SQL path and through the Python reader."""
    used = []
    copy = staging.stage_by_copy

    def spy(cursor, one):
        used.append(copy(cursor, one))
        return used[-1]

    monkeypatch.setattr(staging, "stage_by_copy", spy)
    (fast,) = feed_imports_run([feed("WH1", text)])
    by_sql = outcome(fast)
    Stock.objects.all().delete()
    Item.objects.all().delete()
    Warehouse.objects.all().delete()

    monkeypatch.setattr(staging, "stage_by_copy", lambda cursor, one: False)
    (slow,) = feed_imports_run([feed("WH1", text)])
    return by_sql, outcome(slow), used


@pytest.mark.postgres
def test_the_sql_checks_give_exactly_what_the_python_reader_gives(monkeypatch):
    by_sql, by_python, used = run_both_ways(monkeypatch, TRICKY)

    assert used == [True]  # the first run really went through COPY and the SQL checks
    assert by_sql["status"] == "applied"
    assert by_sql == by_python
    assert by_sql["rows"] == (29, 15)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "text",
    [
        # a line break inside quotes: line numbers must still be the file's
        'line_code,part_number,qty,cost,description\nACD,A,1,1.00,"two\nlines"\nACD,B,-1,1,x\n',
        # a row of the wrong width, and a blank line
        "line_code,part_number,qty,cost\nACD,A,1,1.00\nACD,B,1\n\nACD,C,x,1\n",
        # Windows line ends, a byte-order mark, columns in another order
        "\ufeffqty,cost,part_number,line_code\r\n3,1.00,A,ACD\r\n-1,1,B,ACD\r\n",
        # PostgreSQL's end-of-data marker is just a row to us
        "line_code,part_number,qty,cost\nACD,A,1,1.00\n\\.\nACD,B,2,1.00\n",
        # no line break after the last row
        "line_code,part_number,qty,cost\nACD,A,1,1.00\nACD,B,2,x",
    ],
)
def test_files_the_copy_path_cannot_take_as_they_are_give_the_same_result(monkeypatch, text):
    by_sql, by_python, _ = run_both_ways(monkeypatch, text)

    assert by_sql["status"] == "applied"
    assert by_sql == by_python


def schema(table: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = %s::regclass
            UNION ALL
            SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
             WHERE indrelid = %s::regclass
            """,
            [table, table],
        )
        return sorted(cursor.fetchall())


@pytest.mark.postgres
def test_a_first_load_rebuilds_exactly_the_indexes_and_constraints_it_dropped(monkeypatch):
    monkeypatch.setattr(applying, "BULK_LOAD_MIN_ROWS", 1)
    before = {table: schema(table) for table in (db.ITEM, db.STOCK)}
    rebuilt = []
    monkeypatch.setattr(
        first_load, "apply_first_load", _recording(first_load.apply_first_load, rebuilt)
    )
    runs = [
        feed("WH1", "line_code,part_number,qty,cost,description\nACD,A,2,10.00,Pad\nACD,B,1,3,\n"),
        feed("WH2", "line_code,part_number,qty,cost\nACD,A,5,8.00\nACD,B,x,1\n"),
    ]

    first, second = feed_imports_run(runs)

    assert rebuilt, "the first load did not take the bulk path"
    assert {table: schema(table) for table in (db.ITEM, db.STOCK)} == before
    assert (first.status, second.status) == ("applied", "applied")
    assert (first.items_created, second.items_created) == (2, 0)
    assert (first.stock_rows_written, second.stock_rows_written) == (2, 1)
    assert second.rejected_rows == [[3, "qty 'x' is not a whole number"]]
    assert (item("A").stock_qty, str(item("A").price), item("A").description) == (7, "9.60", "Pad")
    assert Stock.objects.count() == 3
    # and what comes next goes through the ordinary path, on the rebuilt constraints
    (again,) = feed_imports_run([feed("WH1", "line_code,part_number,qty,cost\nACD,A,1,10.00\n")])
    assert (again.status, item("A").stock_qty, item("B").stock_qty) == ("applied", 6, 0)
    assert len(rebuilt) == 1


def _recording(function, calls: list):
    def wrapper(*args, **kwargs):
        calls.append(True)
        return function(*args, **kwargs)

    return wrapper


# Rows the typed COPY takes as they are, in every form its columns and checks accept: each must
# be stored exactly as the Python reader stores it.
TYPED_OK = (
    "line_code,part_number,qty,cost,description\n"
    "ACD,AB-1,3,10.00,Brake pad\n"
    "ACD,AB-2,0012,2.5,leading zeros\n"
    "ACD,AB-3,5 ,1.005,space after qty; three decimals round half up\n"
    "ACD,AB-4,6,1e2,exponent\n"
    "ACD,AB-5,7,+1.5,plus sign on the cost\n"
    "ACD,AB-6,8, 3.25 ,spaces around the cost\n"
    "ACD,AB-7,9,.5,no integer digits\n"
    "ACD,AB-8,1,5.,no decimals\n"
    "ACD,AB-9,2,-0,negative zero\n"
    "ACD,AB-10,10000000,1.00,the qty limit\n"
    "ACD,AB-10B,3,9999999.99,the cost limit\n"
    "ACD,AB-11,0,0.004,rounds to zero\n"
    "ACD,AB-12,1,1E-3,small exponent\n"
    '"ACD","AB 13",1,1.00,"quoted, with comma"\n'
    "ACD,AB-14,1,1.00,\n"
    "ACDEFGHIJK ,AB-15,1,1.00,line code at its limit and a space\n"
    f"ACD,{'P' * 50} ,1,1.00,part number at its limit and a space\n"
    f"ACD,AB-16,1,1.00,{'d' * 255}\n"
    f"ACD,AB-17,1,1.00,{'e' * 255} \n"
    "ACD,AB-18,1,1.00,inner  spaces  kept\n"
    "ACD,A.B/C_D#E,1,2.00,punctuation\n"
    "ACD,AB-1,9,1.00,repeats line 2\n"
)


def run_three_ways(monkeypatch, text: str | bytes) -> tuple[dict, dict, dict, list[bool]]:
    """The same feed through the typed COPY, the text COPY checked in SQL and the Python
    reader; also whether the first run's file went through the typed COPY."""
    used = []
    typed = staging.stage_by_typed_copy

    def spy(*args):
        used.append(typed(*args))
        return used[-1]

    def clear():
        Stock.objects.all().delete()
        Item.objects.all().delete()
        Warehouse.objects.all().delete()

    monkeypatch.setattr(staging, "stage_by_typed_copy", spy)
    (first,) = feed_imports_run([feed("WH1", text)])
    by_typed = outcome(first)
    clear()
    monkeypatch.setattr(staging, "stage_by_typed_copy", lambda *args: False)
    (second,) = feed_imports_run([feed("WH1", text)])
    by_text = outcome(second)
    clear()
    monkeypatch.setattr(staging, "stage_by_copy", lambda cursor, one: False)
    (third,) = feed_imports_run([feed("WH1", text)])
    return by_typed, by_text, outcome(third), used


@pytest.mark.postgres
def test_the_typed_copy_stores_exactly_what_the_python_reader_stores(monkeypatch):
    by_typed, by_text, by_python, used = run_three_ways(monkeypatch, TYPED_OK)

    assert used == [True]  # the whole file went through the typed COPY
    assert by_typed["status"] == "applied"
    assert by_typed == by_python
    assert by_text == by_python
    assert by_typed["rows"] == (22, 1)
    assert by_typed["rejected"] == [(23, "ACD AB-1 already appears on line 2")]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "row",
    [
        "ACD,AB-X,+5,1.00,plus sign on the qty",
        "ACD,AB-X,-0,1.00,negative zero qty",
        "ACD,AB-X, 5,1.00,space before the qty",
        "ACD,AB-X,1.0,1.00,not whole",
        "ACD,AB-X,10000001,1.00,qty too large",
        "ACD,AB-X,99999999999,1.00,beyond a 32-bit integer",
        "ACD,AB-X,,1.00,no qty",
        "acd,AB-X,1,1.00,lower-case line code",
        "ACD,ab-x,1,1.00,lower-case part number",
        " ACD,AB-X,1,1.00,space before the line code",
        "ACD,AB-X ,1,1.00,space after the part number",
        ",AB-X,1,1.00,no line code",
        "ACD,,1,1.00,no part number",
        "ACDEFGHIJKL,AB-X,1,1.00,line code too long",
        "ACD,AB-X,1,NaN,not a number",
        "ACD,AB-X,1,Infinity,infinite",
        "ACD,AB-X,1,-0.001,a little below zero",
        "ACD,AB-X,1,9999999.994,above the limit before rounding",
        "ACD,AB-X,1,1e400,huge",
        "ACD,AB-X,1,$5,dollar sign",
        "ACD,AB-X,1,1_0,underscore",
        "ACD,AB-X,1,,no cost",
        f"ACD,AB-X,1,1.00,{'d' * 256}",
        "ACD,AB-X,1,1.00, space before the description",
        "ACD,AB-X,1,1.00,space after the description ",
        "ACD,AB-X,1,1.00,a\ttab",
        "ACD,AB-X,1,1.00,one field,too many",
        "ACD,AB-X,1",
    ],
)
def test_a_row_the_typed_copy_refuses_sends_its_file_to_the_text_path(monkeypatch, row):
    text = "line_code,part_number,qty,cost,description\nACD,AB-1,3,10.00,Brake pad\n" + row + "\n"

    by_typed, by_text, by_python, used = run_three_ways(monkeypatch, text)

    assert used == [False]  # refused, and nothing of that try stayed
    assert by_typed["status"] == "applied"
    assert by_typed == by_python
    assert by_text == by_python


@pytest.mark.postgres
def test_typed_copies_of_several_files_keep_each_file_its_lines_and_warehouse(monkeypatch):
    used = []
    typed = staging.stage_by_typed_copy
    monkeypatch.setattr(
        staging, "stage_by_typed_copy", lambda *a: used.append(typed(*a)) or used[-1]
    )
    runs = [
        feed("WH1", "line_code,part_number,qty,cost\nACD,A,1,1.00\nACD,B,2,2.00\n"),
        feed("WH2", "qty,cost,part_number,line_code\n3,3.00,A,ACD\n4,4.00,C,ACD\n5,5.00,A,ACD\n"),
    ]

    first, second = feed_imports_run(runs)

    assert used == [True, True]
    assert first.rejected_rows == []
    assert second.rejected_rows == [[4, "ACD A already appears on line 2"]]
    assert sorted(Stock.objects.values_list("warehouse__code", "item__part_number", "qty")) == [
        ("WH1", "A", 1),
        ("WH1", "B", 2),
        ("WH2", "A", 3),
        ("WH2", "C", 4),
    ]
    assert (item("A").stock_qty, str(item("A").price)) == (4, "1.20")


@pytest.mark.parametrize("first_load", [False, True], ids=["changes", "first-load"])
def test_a_new_item_described_differently_takes_the_last_files_description(monkeypatch, first_load):
    if first_load:
        if connection.vendor != "postgresql":
            pytest.skip("the first-load path is PostgreSQL's")
        monkeypatch.setattr(applying, "BULK_LOAD_MIN_ROWS", 1)
    header = "line_code,part_number,qty,cost,description\n"
    runs = [
        feed("WH1", header + "ACD,A,1,1.00,Zeta pad\nACD,B,1,1.00,Same\n"),
        feed("WH2", header + "ACD,A,1,1.00,Alpha pad\nACD,B,1,1.00,Same\n"),
        feed("WH3", header + "ACD,A,1,1.00,\nACD,B,1,1.00,\nACD,C,1,1.00,\n"),
    ]

    feed_imports_run(runs)

    # the greatest is "Zeta pad", the least "Alpha pad": the last file with one gave "Alpha pad"
    assert item("A").description == "Alpha pad"
    assert (item("B").description, item("C").description) == ("Same", "")


def stage_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE starts_with(relname, %s)",
            [parallel_staging.STAGE_TABLE_PREFIX],
        )
        return [name for (name,) in cursor.fetchall()]


def run_outcome(results: list[FeedImport]) -> dict:
    return {
        "files": [(r.status, r.rows_read, r.rows_rejected, r.rejected_rows) for r in results],
        "items": sorted(
            Item.objects.values_list(
                "line_code", "part_number", "description", "stock_qty", "price"
            )
        ),
        "stock": sorted(
            Stock.objects.values_list("warehouse__code", "item__part_number", "qty", "cost")
        ),
        "warehouses": sorted(Warehouse.objects.values_list("code", flat=True)),
    }


# A run of files for every path: the typed COPY, a row it refuses (the text path), columns in
# another order, a file that turns out not to be CSV after its first 8 KB (a quote that never
# closes: rejected whole, late), a binary one (rejected at once).
MIXED_RUN = [
    ("WH1", TYPED_OK.encode()),
    ("WH2", b"line_code,part_number,qty,cost\nACD,AB-1,2,1.00\nACD,AB-2,+5,1.00\nACD,AB-3,1,2\n"),
    ("WH3", b"qty,cost,part_number,line_code\n4,3.00,AB-1,ACD\n5,1.50,AB-30,ACD\n"),
    (
        "WH4",
        b"line_code,part_number,qty,cost\n"
        + b"ACD,AB-1,1,1.00\n" * 600
        + b'ACD,"'
        + b"x" * 140_000,
    ),
    ("WH5", b"\x00\x01binary"),
]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_staged_over_several_connections_gives_what_one_connection_gives(monkeypatch):
    serial = run_outcome(feed_imports_run([feed(code, data) for code, data in MIXED_RUN]))
    Stock.objects.all().delete()
    Item.objects.all().delete()
    Warehouse.objects.all().delete()
    monkeypatch.setattr(parallel_staging, "PARALLEL_STAGING_MIN_BYTES", 0)
    spread = []
    copy_deferred = parallel_staging.copy_deferred
    monkeypatch.setattr(
        parallel_staging,
        "copy_deferred",
        lambda c, feeds, typed: spread.append(len(feeds)) or copy_deferred(c, feeds, typed),
    )

    parallel = run_outcome(feed_imports_run([feed(code, data) for code, data in MIXED_RUN]))

    assert spread == [4]  # every file that got past its first 8 KB went to the connections
    assert parallel == serial
    assert [f[0] for f in parallel["files"]] == ["applied"] * 3 + ["rejected"] * 2
    assert parallel["warehouses"] == ["WH1", "WH2", "WH3"]  # the late rejection took WH4 back
    assert stage_tables() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failed_run_staged_over_several_connections_applies_nothing_and_drops_its_tables(
    monkeypatch,
):
    feed_imports_run([feed("WH1", "line_code,part_number,qty,cost\nACD,A,2,1.00\n")])
    before = sorted(Stock.objects.values_list("warehouse_id", "item_id", "qty"))
    monkeypatch.setattr(parallel_staging, "PARALLEL_STAGING_MIN_BYTES", 0)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(changes, "apply_changes", broken)

    results = feed_imports_run(
        [
            feed("WH1", "line_code,part_number,qty,cost\nACD,A,7,1.00\n"),
            feed("WH2", "line_code,part_number,qty,cost\nACD,Z,7,1.00\n"),
        ]
    )

    assert [r.status for r in results] == ["failed", "failed"]
    assert sorted(Stock.objects.values_list("warehouse_id", "item_id", "qty")) == before
    assert stage_tables() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_staging_tables_of_a_run_whose_process_died_are_dropped_by_the_next(monkeypatch):
    with connection.cursor() as cursor:
        # a process id no backend has (pids are below 2**22 on Linux)
        cursor.execute(
            f"CREATE UNLOGGED TABLE {parallel_staging.STAGE_TABLE_PREFIX}99999999_abc (a int)"
        )
    monkeypatch.setattr(parallel_staging, "PARALLEL_STAGING_MIN_BYTES", 0)

    feed_imports_run(
        [
            feed("WH1", "line_code,part_number,qty,cost\nACD,A,7,1.00\n"),
            feed("WH2", "line_code,part_number,qty,cost\nACD,Z,7,1.00\n"),
        ]
    )

    assert stage_tables() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_staging_connection_that_fails_leaves_its_files_to_the_run(monkeypatch):
    serial = run_outcome(feed_imports_run([feed(code, data) for code, data in MIXED_RUN]))
    Stock.objects.all().delete()
    Item.objects.all().delete()
    Warehouse.objects.all().delete()
    monkeypatch.setattr(parallel_staging, "PARALLEL_STAGING_MIN_BYTES", 0)
    copy = parallel_staging._copy_in_own_transaction
    calls = []

    def one_fails(name, group):
        calls.append(name)
        if len(calls) == 1:
            with transaction.atomic():
                copy(name, group[:1])  # some of it done, then the connection is lost
                raise DatabaseError("too many connections")
        copy(name, group)

    monkeypatch.setattr(parallel_staging, "_copy_in_own_transaction", one_fails)

    parallel = run_outcome(feed_imports_run([feed(code, data) for code, data in MIXED_RUN]))

    assert len(calls) == 2
    assert parallel == serial
    assert stage_tables() == []
