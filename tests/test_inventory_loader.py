"""The feed loader: runs of many files, the SQL checks against the Python reader, the first load."""

import io

import pytest
from django.db import connection

from inventory import loader
from inventory.models import FeedImport, Item, Stock, Warehouse
from inventory.services import feed_import_create, feed_imports_run

pytestmark = pytest.mark.django_db


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

    monkeypatch.setattr(loader, "_apply_changes", broken)
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
    "ACD,AB-6,10000000,99999999.99,the limits\n"
    "ACD,AB-7,10000001,1.00,qty too large\n"
    "ACD,AB-8,1,100000000,cost too large\n"
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
    copy = loader._stage_by_copy

    def spy(cursor, one):
        used.append(copy(cursor, one))
        return used[-1]

    monkeypatch.setattr(loader, "_stage_by_copy", spy)
    (fast,) = feed_imports_run([feed("WH1", text)])
    by_sql = outcome(fast)
    Stock.objects.all().delete()
    Item.objects.all().delete()
    Warehouse.objects.all().delete()

    monkeypatch.setattr(loader, "_stage_by_copy", lambda cursor, one: False)
    (slow,) = feed_imports_run([feed("WH1", text)])
    return by_sql, outcome(slow), used


@pytest.mark.postgres
def test_the_sql_checks_give_exactly_what_the_python_reader_gives(monkeypatch):
    by_sql, by_python, used = run_both_ways(monkeypatch, TRICKY)

    assert used == [True]  # the first run really went through COPY and the SQL checks
    assert by_sql == by_python
    assert by_sql["rows"] == (28, 15)


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
    monkeypatch.setattr(loader, "BULK_LOAD_MIN_ROWS", 1)
    before = {table: schema(table) for table in (loader.ITEM, loader.STOCK)}
    rebuilt = []
    monkeypatch.setattr(loader, "_apply_first_load", _recording(loader._apply_first_load, rebuilt))
    runs = [
        feed("WH1", "line_code,part_number,qty,cost,description\nACD,A,2,10.00,Pad\nACD,B,1,3,\n"),
        feed("WH2", "line_code,part_number,qty,cost\nACD,A,5,8.00\nACD,B,x,1\n"),
    ]

    first, second = feed_imports_run(runs)

    assert rebuilt, "the first load did not take the bulk path"
    assert {table: schema(table) for table in (loader.ITEM, loader.STOCK)} == before
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
