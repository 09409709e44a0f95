"""Issue 11, items 1-2: the guard that keeps a bad feed from costing stock, as a pure rule and
through both loader paths (PostgreSQL's COPY and the Python reader, which SQLite always uses)."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inventory.feed_import import applying, parallel_staging, staging
from inventory.feed_import.guards import feed_guard
from inventory.models import FeedImport, Item, Stock, Warehouse
from inventory.services import feed_import_create, feed_import_run, feed_imports_run

# --- The rule --------------------------------------------------------------------------------


def guard(**kwargs):
    values = {"rows_read": 100, "rows_rejected": 0, "stocked": 100, "removed": 0}
    values.update(kwargs)
    return feed_guard(**values, max_bad_fraction=0.05, max_drop_fraction=0.5)


def test_feed_guard_applies_an_ordinary_feed():
    assert guard().applied
    assert guard(rows_rejected=5).applied  # 5%: not more than the limit
    assert guard(removed=50).applied  # half: not more than the limit
    assert guard(stocked=0, removed=0, rows_read=3).applied  # a new warehouse


def test_feed_guard_refuses_a_header_with_no_rows_unless_emptying_is_allowed():
    refused = guard(rows_read=0, removed=100)

    assert (refused.applied, refused.code) == (False, "no_rows")
    assert "100 items in stock" in refused.reason
    assert "--allow-empty" in refused.reason
    assert guard(rows_read=0, stocked=0).code == "no_rows"  # an empty warehouse too
    assert guard(rows_read=0, removed=100, allow_empty=True).applied


@pytest.mark.parametrize("allow_empty", [False, True])
def test_feed_guard_refuses_a_file_of_rejected_rows_whatever_is_allowed(allow_empty):
    every = guard(rows_read=7, rows_rejected=7, allow_empty=allow_empty)
    many = guard(rows_read=100, rows_rejected=6, allow_empty=allow_empty)

    assert (every.applied, every.code) == (False, "all_rejected")
    assert (many.applied, many.code) == (False, "too_many_rejected")
    assert "6 of 100 rows were rejected (6%, more than the 5% allowed)" in many.reason


def test_feed_guard_refuses_removing_most_of_a_warehouse_unless_allowed():
    refused = guard(removed=51)

    assert (refused.applied, refused.code) == (False, "drops_too_much")
    assert "51 of the warehouse's 100 items in stock" in refused.reason
    assert guard(removed=51, allow_empty=True).applied
    assert guard(removed=100, allow_empty=True).applied


def test_feed_guard_reads_its_limits_from_the_settings(settings):
    settings.FBS_FEED_MAX_BAD_FRACTION = 0.2
    settings.FBS_FEED_MAX_DROP_FRACTION = 0.9
    counts = {"rows_read": 10, "stocked": 10}

    assert feed_guard(**counts, rows_rejected=2, removed=9).applied
    assert feed_guard(**counts, rows_rejected=3, removed=0).code == "too_many_rejected"
    assert feed_guard(**counts, rows_rejected=0, removed=10).code == "drops_too_much"


@given(
    rows_read=st.integers(0, 10_000),
    bad=st.integers(0, 10_000),
    stocked=st.integers(0, 10_000),
    removed=st.integers(0, 10_000),
    allow_empty=st.booleans(),
    max_bad=st.floats(0, 1),
    max_drop=st.floats(0, 1),
)
def test_feed_guard_applies_exactly_what_the_limits_allow(
    rows_read, bad, stocked, removed, allow_empty, max_bad, max_drop
):
    bad, removed = min(bad, rows_read), min(removed, stocked)

    decision = feed_guard(
        rows_read=rows_read,
        rows_rejected=bad,
        stocked=stocked,
        removed=removed,
        allow_empty=allow_empty,
        max_bad_fraction=max_bad,
        max_drop_fraction=max_drop,
    )

    if rows_read == 0:
        assert decision.applied == allow_empty
    else:
        rows_ok = bad < rows_read and bad <= max_bad * rows_read
        stock_ok = allow_empty or stocked == 0 or removed <= max_drop * stocked
        assert decision.applied == (rows_ok and stock_ok)
    assert decision.applied or (decision.code and decision.reason)


# --- Through the loader, on both paths ---------------------------------------------------------


@pytest.fixture(params=["copy", "reader"])
def path(request, monkeypatch):
    """Each test runs through PostgreSQL's COPY path (where the database is PostgreSQL) and
    through the Python reader, SQLite's only path."""
    if request.param == "reader":
        monkeypatch.setattr(staging, "stage_by_copy", lambda cursor, feed: False)
    return request.param


HEADER = "line_code,part_number,qty,cost\n"


def rows(count: int, qty: int = 3, start: int = 0) -> str:
    return "".join(f"ACD,P{n},{qty},1.00\n" for n in range(start, start + count))


def run(code: str, text: str | bytes, *, allow_empty: bool = False) -> FeedImport:
    data = text.encode() if isinstance(text, str) else text
    feed_import = feed_import_create(
        file_name=f"{code}.csv",
        warehouse_code=code,
        allow_empty=allow_empty,
        allow_empty_by="tester" if allow_empty else "",
    )
    return feed_import_run(feed_import=feed_import, fileobj=io.BytesIO(data))


def snapshot() -> dict:
    return {
        "stock": sorted(Stock.objects.values_list("warehouse_id", "item_id", "qty", "cost")),
        "items": sorted(Item.objects.values_list("id", "stock_qty", "available_qty", "price")),
        "warehouses": sorted(
            Warehouse.objects.values_list("code", "last_feed_at", "counts_in_stock")
        ),
    }


@pytest.fixture
def stocked(db):
    """WH1 holds 10 items, 3 of each."""
    result = run("WH1", HEADER + rows(10))
    assert result.status == FeedImport.Status.APPLIED
    return snapshot()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "code", "rejected"),
    [
        (HEADER, "no_rows", 0),
        (HEADER + "\n\n", "no_rows", 0),  # blank lines are not rows
        (HEADER + "ACD,,1,1\nACD,X,-1,1\nACD,Y,1,abc\n", "all_rejected", 3),
        # 2 of 20 rows rejected: 10%, above 5%
        (HEADER + rows(9) + "A,B,x,1\n" + rows(9, start=20) + "A,C,1,\n", "too_many_rejected", 2),
        # lists 4 of the 10 items: 6 would go, more than half
        (HEADER + rows(4), "drops_too_much", 0),
        # lists all 10 with qty 0: out of stock just the same
        (HEADER + rows(10, qty=0), "drops_too_much", 0),
        # 10 new items, but 6 of the 10 old ones gone
        (HEADER + rows(4) + rows(10, start=100), "drops_too_much", 0),
    ],
    ids=["header-only", "blank-lines", "all-bad", "tenth-bad", "six-gone", "all-zero", "swapped"],
)  # fmt: skip
def test_a_feed_that_would_cost_stock_is_refused_and_nothing_changes(
    path, stocked, text, code, rejected
):
    result = run("WH1", text)

    assert result.status == FeedImport.Status.REFUSED
    assert result.refusal == code
    assert "nothing was changed" in result.error.lower()
    assert result.rows_rejected == rejected == len(result.rejected_rows)
    assert result.warehouse == Warehouse.objects.get(code="WH1")  # staff see whose it was
    assert snapshot() == stocked  # stock, aggregates and the feed's date: all as before


@pytest.mark.django_db
def test_a_feed_within_the_limits_applies_and_reports_its_bad_rows(path, stocked):
    # 1 of 20 rows rejected (5%), 5 of the 10 items no longer listed (half)
    result = run("WH1", HEADER + rows(5) + rows(14, start=50) + "ACD,BAD,1,x\n")

    assert result.status == FeedImport.Status.APPLIED
    assert result.rejected_rows == [[21, "cost 'x' is not a number"]]
    assert Stock.objects.filter(warehouse__code="WH1").count() == 19
    assert (result.stock_created, result.stock_removed, result.stock_unchanged) == (14, 5, 5)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "left"),
    [(HEADER, 0), (HEADER + rows(2), 2), (HEADER + rows(10, qty=0), 0)],
    ids=["header-only", "two-left", "all-zero"],
)
def test_emptying_a_warehouse_on_purpose_is_allowed_and_recorded(path, stocked, text, left):
    result = run("WH1", text, allow_empty=True)

    assert result.status == FeedImport.Status.APPLIED
    assert (result.allow_empty, result.allow_empty_by) == (True, "tester")
    assert Stock.objects.filter(warehouse__code="WH1", qty__gt=0).count() == left
    assert Item.objects.filter(stock_qty__gt=0).count() == left


@pytest.mark.django_db
def test_allow_empty_never_lets_a_file_of_bad_rows_through(path, stocked):
    result = run("WH1", HEADER + "ACD,,1,1\nACD,X,-1,1\n", allow_empty=True)

    assert (result.status, result.refusal) == (FeedImport.Status.REFUSED, "all_rejected")
    assert snapshot() == stocked


@pytest.mark.django_db
def test_a_refused_feed_of_a_new_warehouse_creates_no_warehouse(path):
    result = run("NEWWH", HEADER + "ACD,,1,1\n")

    assert result.status == FeedImport.Status.REFUSED
    assert result.warehouse is None
    assert not Warehouse.objects.filter(code="NEWWH").exists()
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_a_refused_feed_holds_no_other_file_of_its_run_back(path, stocked):
    runs = [
        (
            feed_import_create(file_name="WH1.csv", warehouse_code="WH1"),
            io.BytesIO(HEADER.encode()),
        ),
        (
            feed_import_create(file_name="WH2.csv", warehouse_code="WH2"),
            io.BytesIO((HEADER + rows(3, qty=7)).encode()),
        ),
    ]

    refused, applied = feed_imports_run(runs)

    assert (refused.status, applied.status) == ("refused", "applied")
    assert Item.objects.get(part_number="P0").stock_qty == 10  # 3 at WH1 (kept) + 7 at WH2
    assert Stock.objects.filter(warehouse__code="WH1").count() == 10


# --- Item 5: the summary counts ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_summary_counts_new_changed_removed_and_unchanged_items(path, stocked):
    text = (
        "line_code,part_number,qty,cost,description\n"
        "ACD,P0,3,1.00,\n"  # unchanged
        "ACD,P1,3,1.00,\n"  # unchanged
        "ACD,P2,9,1.00,\n"  # qty changed
        "ACD,P3,3,2.00,\n"  # cost changed
        "ACD,P4,3,1.00,A new description\n"  # description changed
        "ACD,P5,0,1.00,\n"  # out of stock: changed
        "ACD,NEW1,1,1.00,\n"  # new
        "ACD,NEW2,1,1.00,\n"  # new
        # P6..P9 not listed: removed (4 of 10, within the limit)
    )

    result = run("WH1", text)

    assert result.status == FeedImport.Status.APPLIED
    counts = (
        result.stock_created,
        result.stock_changed,
        result.stock_removed,
        result.stock_unchanged,
    )
    assert counts == (2, 4, 4, 2)
    assert sum(counts) - result.stock_removed == result.rows_read - result.rows_rejected


@pytest.mark.django_db
def test_the_summary_of_a_first_load_and_of_an_identical_file(path, monkeypatch):
    monkeypatch.setattr(applying, "BULK_LOAD_MIN_ROWS", 1)  # the bulk path, on PostgreSQL
    first = run("WH1", HEADER + rows(6))
    again = run("WH1", HEADER + rows(6))

    assert (first.stock_created, first.stock_changed, first.stock_unchanged) == (6, 0, 0)
    assert again.same_as_id == first.pk
    assert (again.stock_created, again.stock_changed, again.stock_unchanged) == (0, 0, 6)


@pytest.mark.django_db
def test_a_refused_feed_in_a_first_load_leaves_nothing_of_itself(path, monkeypatch):
    monkeypatch.setattr(applying, "BULK_LOAD_MIN_ROWS", 1)  # the bulk path, on PostgreSQL
    runs = [
        (feed_import_create(file_name="WH1.csv", warehouse_code="WH1"), rows(3)),
        (feed_import_create(file_name="WH2.csv", warehouse_code="WH2"), "ACD,X,-1,1\n"),
    ]

    applied, refused = feed_imports_run([(f, io.BytesIO((HEADER + t).encode())) for f, t in runs])

    assert (applied.status, refused.status, refused.refusal) == (
        "applied",
        "refused",
        "all_rejected",
    )
    assert list(Warehouse.objects.values_list("code", flat=True)) == ["WH1"]
    assert Stock.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refused_feed_staged_by_the_staging_connections_leaves_nothing_of_itself(monkeypatch):
    monkeypatch.setattr(parallel_staging, "PARALLEL_STAGING_MIN_BYTES", 0)
    run("WH2", HEADER + rows(10))
    files = {"WH1": rows(5), "WH2": rows(2), "WH3": rows(4, qty=9)}  # WH2 would lose 8 of 10
    runs = [
        (feed_import_create(file_name=f"{code}.csv", warehouse_code=code), text)
        for code, text in files.items()
    ]

    results = feed_imports_run([(f, io.BytesIO((HEADER + t).encode())) for f, t in runs])

    assert [r.status for r in results] == ["applied", "refused", "applied"]
    assert Stock.objects.filter(warehouse__code="WH2").count() == 10
    assert Item.objects.get(part_number="P0").stock_qty == 3 + 3 + 9
    assert Item.objects.get(part_number="P9").stock_qty == 3  # WH2's, kept
