"""Import atomicity and concurrency, on PostgreSQL with real processes and threads."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection

from inventory.models import FeedImport, Item, Stock
from inventory.services import progress_cache_key
from tests.factories import import_feed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent


def stock_snapshot():
    return sorted(Stock.objects.values_list("warehouse__code", "item_id", "qty", "cost"))


def test_feed_import_killed_half_way_leaves_stock_exactly_as_before(tmp_path, settings):
    # given a warehouse with stock, and a big new feed for it
    import_feed("WHK", [("ACD", f"P{n}", 5, "1.00") for n in range(1000)])
    before = stock_snapshot()
    items_before = sorted(Item.objects.values_list("id", "stock_qty", "available_qty"))
    big = tmp_path / "WHK.csv"
    with big.open("w") as handle:
        handle.write("line_code,part_number,qty,cost\n")
        for n in range(600_000):
            handle.write(f"ACD,P{n},{n % 9},2.00\n")

    # when an import_feeds process is killed with SIGKILL in the middle of it
    env = os.environ | {"DATABASE_URL": _database_url(settings)}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "import_feeds", str(big), "--no-progress"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # wait (polling the other process) until it has read well into the file: its progress is
    # published in the shared cache every megabyte
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = FeedImport.objects.filter(file_name="WHK.csv", status="running").first()
        if running and (cache.get(progress_cache_key(running.pk)) or 0) >= 2 * 1024 * 1024:
            break
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("the import never got two megabytes into the file")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    # then nothing of the new snapshot is there
    assert process.returncode == -signal.SIGKILL
    assert stock_snapshot() == before
    assert sorted(Item.objects.values_list("id", "stock_qty", "available_qty")) == items_before
    assert Item.objects.count() == 1000


def _database_url(settings) -> str:
    db = settings.DATABASES["default"]
    # the test database, not the one DATABASE_URL names
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}"


def test_concurrent_imports_of_warehouses_sharing_items_keep_aggregates_exact():
    parts = [f"P{n}" for n in range(300)]
    # Half the items exist already; the other half are new to every import at once.
    new_parts = [f"N{n}" for n in range(300)]
    codes = [f"W{n}" for n in range(6)]
    for code in codes:
        import_feed(code, [("ACD", p, 1, "1.00") for p in parts])
    errors = []
    barrier = threading.Barrier(len(codes))

    def run(code, qty):
        try:
            barrier.wait()
            result = import_feed(code, [("ACD", p, qty, "1.00") for p in parts + new_parts])
            assert result.status == FeedImport.Status.APPLIED, result.error
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c, i + 2)) for i, c in enumerate(codes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    expected = sum(range(2, 2 + len(codes)))
    assert Item.objects.count() == 600
    assert set(Item.objects.values_list("stock_qty", flat=True)) == {expected}
