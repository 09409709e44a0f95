import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from inventory.models import FeedImport, Item, Stock, Warehouse
from inventory.services import warehouse_set_active, warehouse_stock_sweep
from tests.factories import import_feed

pytestmark = pytest.mark.django_db


def item(line_code="ACD", part="AB-1"):
    return Item.objects.get(line_code=line_code, part_number=part)


def test_feed_import_creates_warehouse_items_and_aggregates():
    result = import_feed("WH1", [("ACD", "AB-1", 3, "10.00", "Pad"), ("acd", "ab-2", 0, "5", "")])

    assert result.status == FeedImport.Status.APPLIED
    assert Warehouse.objects.get(code="WH1").counts_in_stock
    first = item()
    assert (first.stock_qty, first.available_qty, first.description) == (3, 3, "Pad")
    assert first.price == pytest.approx(12)  # cost plus the 20% margin
    assert item(part="AB-2").available_qty == 0  # line code and part number are upper-cased


def test_feed_import_aggregates_over_warehouses_and_prices_from_cheapest_in_stock():
    import_feed("WH1", [("ACD", "AB-1", 2, "10.00")], header="line_code,part_number,qty,cost")
    import_feed("WH2", [("ACD", "AB-1", 5, "8.00")], header="line_code,part_number,qty,cost")
    import_feed("WH3", [("ACD", "AB-1", 0, "1.00")], header="line_code,part_number,qty,cost")

    assert item().stock_qty == 7
    assert str(item().price) == "9.60"  # 8.00 * 1.20: a warehouse with 0 does not set the price


def test_feed_import_new_items_are_born_with_their_aggregates_and_existing_ones_recomputed():
    import_feed("WH1", [("ACD", "OLD", 3, "10.00")])

    result = import_feed("WH2", [("ACD", "OLD", 2, "8.00"), ("ACD", "NEW", 4, "5.00")])

    assert result.items_created == 1
    assert result.items_changed == 1  # only OLD was recomputed; NEW was inserted complete
    new, old = item(part="NEW"), item(part="OLD")
    assert (new.stock_qty, new.available_qty, str(new.price)) == (4, 4, "6.00")
    assert (old.stock_qty, old.available_qty, str(old.price)) == (5, 5, "9.60")


def test_feed_import_new_items_at_an_inactive_warehouse_have_no_stock():
    import_feed("WH1", [("ACD", "A", 1, "1.00")])
    warehouse_set_active(warehouse=Warehouse.objects.get(code="WH1"), is_active=False)

    import_feed("WH1", [("ACD", "A", 1, "1.00"), ("ACD", "B", 6, "1.00")])

    assert (item(part="B").stock_qty, item(part="B").available_qty) == (0, 0)


def test_feed_import_is_a_snapshot_missing_rows_are_zero():
    import_feed("WH1", [("ACD", "AB-1", 4, "10"), ("ACD", "AB-2", 6, "10")])
    import_feed("WH2", [("ACD", "AB-2", 1, "10")])

    result = import_feed("WH1", [("ACD", "AB-1", 4, "10")])

    assert result.status == FeedImport.Status.APPLIED
    assert item(part="AB-2").stock_qty == 1  # only WH2's unit is left
    assert not Stock.objects.filter(warehouse__code="WH1", item__part_number="AB-2").exists()
    assert result.items_changed == 1


@pytest.mark.parametrize("force", [False, True], ids=["identical-file", "row-by-row"])
def test_feed_import_same_file_twice_rewrites_nothing(force):
    rows = [("ACD", f"P{n}", n % 7, f"{n}.25", f"Part {n}") for n in range(200)]
    first = import_feed("WH1", rows)
    before = list(Stock.objects.order_by("pk").values_list("pk", "qty", "cost", "changed_at"))
    items_before = list(Item.objects.order_by("pk").values_list("pk", "updated_at"))

    again = import_feed("WH1", rows, force=force)

    assert again.status == FeedImport.Status.APPLIED
    assert again.same_as == (None if force else first)
    assert again.rows_read == 200
    assert Warehouse.objects.get(code="WH1").last_feed_at >= again.started_at

    assert (again.items_changed, again.stock_rows_written, again.items_created) == (0, 0, 0)
    assert (
        list(Stock.objects.order_by("pk").values_list("pk", "qty", "cost", "changed_at")) == before
    )
    assert list(Item.objects.order_by("pk").values_list("pk", "updated_at")) == items_before


def test_feed_import_rejects_bad_rows_with_line_numbers_and_applies_the_rest(settings):
    settings.FBS_FEED_MAX_BAD_FRACTION = 1.0  # the row checks, not the guard (its own tests)
    text = (
        "line_code,part_number,qty,cost\n"
        "ACD,GOOD-1,3,1.00\n"  # line 2
        "ACD,,3,1.00\n"  # 3: missing part number
        "ACD,NEG,-1,1.00\n"  # 4: negative qty
        "ACD,FRAC,2.5,1.00\n"  # 5: not a whole number
        "ACD,COST,2,abc\n"  # 6: bad cost
        "ACD,GOOD-1,9,1.00\n"  # 7: repeats line 2
        "ACD,SHORT,2\n"  # 8: a field missing
        "ACD,GOOD-2,5,2.50\n"  # 9
    )

    result = import_feed("WH1", text)

    assert result.status == FeedImport.Status.APPLIED
    assert (result.rows_read, result.rows_rejected) == (8, 6)
    lines = dict(result.rejected_rows)
    assert sorted(lines) == [3, 4, 5, 6, 7, 8]
    assert "part number is missing" in lines[3]
    assert "negative" in lines[4]
    assert "whole number" in lines[5]
    assert "cost" in lines[6]
    assert "line 2" in lines[7]
    assert "expected 4 fields" in lines[8]
    assert item(part="GOOD-1").stock_qty == 3  # the first of a repeated key is the one kept
    assert item(part="GOOD-2").stock_qty == 5
    assert not Item.objects.filter(part_number__in=["NEG", "FRAC", "COST", "SHORT"]).exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV text file"),
        (b"\x00\x00\x00\x00binary\nline_code,part_number,qty,cost\n", "binary"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook (XLSX)"),
        ("line_code,part_number,qty,cost\nACD,AB-1,3,1\n".encode("utf-16"), "UTF-16"),
        (b"sku,quantity\nAB,1\n", "header"),
        (b"line_code,part_number,qty\nACD,AB-1,3\n", "missing cost"),
        (
            "line_code,part_number,qty,cost\nACD,AB-1,3,1,日本製のブレーキパッド\n".encode(
                "shift_jis"
            ),
            "not UTF-8 text: it looks like cp932",
        ),
    ],
)
def test_feed_import_bad_file_is_rejected_whole_and_stock_stays(content, message):
    import_feed("WH1", [("ACD", "AB-1", 4, "10")])
    before = list(Stock.objects.values_list("warehouse_id", "item_id", "qty", "cost"))
    last_feed = Warehouse.objects.get(code="WH1").last_feed_at

    result = import_feed("WH1", content)

    assert result.status == FeedImport.Status.REJECTED
    assert message in result.error
    assert list(Stock.objects.values_list("warehouse_id", "item_id", "qty", "cost")) == before
    assert item().stock_qty == 4
    assert Warehouse.objects.get(code="WH1").last_feed_at == last_feed


def test_feed_import_unknown_warehouse_code_in_a_rejected_file_creates_nothing():
    result = import_feed("NEWWH", b"nonsense\n")

    assert result.status == FeedImport.Status.REJECTED
    assert not Warehouse.objects.filter(code="NEWWH").exists()


def test_feed_import_bad_warehouse_code_is_rejected():
    result = import_feed("../etc", [("ACD", "AB-1", 4, "10")])

    assert result.status == FeedImport.Status.REJECTED
    assert "not a warehouse code" in result.error


def test_stale_warehouse_counts_as_empty_until_its_next_feed():
    import_feed("WH1", [("ACD", "AB-1", 4, "10")])
    import_feed("WH2", [("ACD", "AB-1", 1, "10")])
    Warehouse.objects.filter(code="WH1").update(last_feed_at=timezone.now() - timedelta(hours=25))

    flipped = warehouse_stock_sweep()

    assert flipped == ["WH1"]
    assert item().stock_qty == 1
    assert not Warehouse.objects.get(code="WH1").counts_in_stock

    # when the stale warehouse's next feed arrives, unchanged, its stock counts again
    result = import_feed("WH1", [("ACD", "AB-1", 4, "10")])

    assert result.stock_rows_written == 0
    assert item().stock_qty == 5


def test_deactivated_warehouse_stock_stops_counting():
    import_feed("WH1", [("ACD", "AB-1", 4, "10")])

    warehouse_set_active(warehouse=Warehouse.objects.get(code="WH1"), is_active=False)
    assert item().stock_qty == 0

    warehouse_set_active(warehouse=Warehouse.objects.get(code="WH1"), is_active=True)
    assert item().stock_qty == 4


def test_import_feeds_command_summary_and_exit_status(tmp_path, capsys, settings):
    settings.FBS_FEED_MAX_BAD_FRACTION = 0.5
    (tmp_path / "WH7.csv").write_text("line_code,part_number,qty,cost\nACD,AB-1,3,1\nACD,,1,1\n")
    (tmp_path / "WH8.csv").write_bytes(b"\x00\x01binary")
    (tmp_path / "notes.txt").write_text("not a feed, not a .csv: ignored")

    with pytest.raises(SystemExit) as exit_info:
        call_command("import_feeds", str(tmp_path), "--no-progress")

    out, err = capsys.readouterr()
    assert exit_info.value.code == 1
    assert "WH7.csv: applied to WH7: 2 rows read, 1 rows rejected" in out
    assert "line 3: part number is missing" in out
    assert "WH8.csv: rejected whole" in err
    assert "1 of 2 files not applied: WH8.csv (rejected whole)" in err
    assert item(part="AB-1").stock_qty == 3


def test_import_feeds_command_all_good_exits_zero(tmp_path, capsys):
    path = tmp_path / "anything.csv"
    path.write_text("line_code,part_number,qty,cost\nACD,AB-1,3,1\n")

    call_command("import_feeds", str(path), "--warehouse", "WH9", "--no-progress")

    assert "applied to WH9" in capsys.readouterr().out


def test_feed_upload_in_admin_queues_the_import_after_commit(
    client, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group

    from inventory.tasks import feed_import_task
    from tests.factories import StaffFactory

    staff = StaffFactory()
    staff.groups.add(Group.objects.get(name="Support"))
    client.force_login(staff)
    Warehouse.objects.create(code="WH5")
    upload = io.BytesIO(b"line_code,part_number,qty,cost\nACD,AB-1,3,1\n")
    upload.name = "WH5.csv"

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/admin/inventory/feedimport/add/", {"upload": upload})

    feed_import = FeedImport.objects.get()
    assert response.status_code == 302
    assert len(callbacks) == 1
    assert feed_import.status == FeedImport.Status.PENDING
    # stored under a name we make, not the uploader's
    assert re.fullmatch(r"feeds/\d{4}/\d{2}/feed-\d+-[0-9a-f]{32}\.csv", feed_import.file.name)
    assert feed_import.created_by == staff

    # when the worker runs the task (twice: it is safe to run again)
    feed_import_task(feed_import.pk)
    feed_import_task(feed_import.pk)

    feed_import.refresh_from_db()
    assert feed_import.status == FeedImport.Status.APPLIED
    assert FeedImport.objects.count() == 1
    detail = client.get(f"/admin/inventory/feedimport/{feed_import.pk}/change/")
    assert b"Applied" in detail.content


def test_admin_changing_the_freshness_limit_recounts_the_warehouse_at_once(client):
    from tests.factories import StaffFactory

    import_feed("WH1", [("ACD", "AB-1", 4, "10")])
    Warehouse.objects.filter(code="WH1").update(last_feed_at=timezone.now() - timedelta(hours=3))
    client.force_login(StaffFactory(group="Support"))
    warehouse = Warehouse.objects.get(code="WH1")

    response = client.post(
        f"/admin/inventory/warehouse/{warehouse.pk}/change/",
        {"name": "Dallas", "state": "TX", "postal_code": "75001", "feed_max_age": "02:00:00"},
    )

    assert response.status_code == 302
    warehouse.refresh_from_db()
    assert (warehouse.name, warehouse.counts_in_stock) == ("Dallas", False)
    assert item().stock_qty == 0  # a 3-hour-old feed is stale under a 2-hour limit
