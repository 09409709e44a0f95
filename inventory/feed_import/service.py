"""Feed imports, as the rest of the system asks for them: create, upload, run one or many files.

A run is staged and applied by `inventory.feed_import.pipeline`, many files in one transaction
with set-based statements that write only the rows whose values changed. Anything that goes
wrong, a dying process included, rolls the whole run back: every warehouse's stock stays as it
was. `inventory.services` re-exports these, so callers import them from there.
"""

import hashlib
import logging
import time
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from inventory.errors import WarehouseUnknownError
from inventory.feed_import import pipeline
from inventory.feed_import.feed import Feed
from inventory.models import FeedImport, Warehouse

logger = logging.getLogger(__name__)

# How often an import publishes its progress (bytes read) for the admin page.
PROGRESS_EVERY_BYTES = 1 << 20
# Files one run stages and applies together (each holds an open file while the run lasts).
RUN_MAX_FILES = 300


def progress_cache_key(feed_import_id: int) -> str:
    return f"inventory:feed-import:{feed_import_id}:bytes-read"


# --- Feed import ------------------------------------------------------------------------------


def feed_import_create(
    *,
    file_name: str,
    warehouse_code: str = "",
    created_by=None,
    file=None,
    bytes_total: int = 0,
    allow_empty: bool = False,
    allow_empty_by: str = "",
) -> FeedImport:
    """A FeedImport waiting to run. `allow_empty` lets it empty its warehouse or remove most of
    it (feed_import.guards); `allow_empty_by` says who chose that, and is required with it."""
    if allow_empty and not allow_empty_by:
        raise ValueError("allow_empty needs allow_empty_by: who chose to let the feed empty it")
    return FeedImport.objects.create(
        file_name=file_name[:255],
        warehouse_code=warehouse_code,
        created_by=created_by,
        file=file,
        bytes_total=bytes_total,
        allow_empty=allow_empty,
        allow_empty_by=allow_empty_by[:200] if allow_empty else "",
    )


def _file_sha256(fileobj) -> str | None:
    """The file's SHA-256, read from where it stands and rewound; None if it cannot rewind."""
    try:
        start = fileobj.tell()
    except (AttributeError, OSError):
        return None
    digest = hashlib.sha256()
    for chunk in iter(lambda: fileobj.read(1 << 20), b""):
        digest.update(chunk)
    fileobj.seek(start)
    return digest.hexdigest()


def _same_as_last_feed(feed_import: FeedImport, sha256: str | None) -> FeedImport | None:
    """The warehouse's last applied import when this file is byte for byte the same and the
    warehouse's stock still counts: applying it again could change nothing."""
    if not sha256:
        return None
    warehouse = Warehouse.objects.filter(code=(feed_import.warehouse_code or "").upper()).first()
    if warehouse is None or not warehouse.counts_in_stock or warehouse.is_stale():
        return None
    last = (
        FeedImport.objects.filter(warehouse=warehouse, status=FeedImport.Status.APPLIED)
        .exclude(pk=feed_import.pk)
        .order_by("-finished_at", "-pk")
        .first()
    )
    return last if last is not None and last.content_sha256 == sha256 else None


def feed_import_run(
    *,
    feed_import: FeedImport,
    fileobj,
    on_progress: Callable[[int], None] | None = None,
    force: bool = False,
    create_warehouses: bool = True,
) -> FeedImport:
    """Apply one warehouse's feed as its whole new snapshot, or nothing of it.

    Rows with a bad value are reported with their line numbers and the rest is applied; a file
    that is not a feed (empty, binary, wrong header, an encoding we do not read) is rejected
    whole, and one that would cost stock (too many bad rows, no rows, most of the warehouse
    gone: inventory/feed_import/guards.py) is refused. A file that is byte for byte the warehouse's
    last applied feed only renews the feed's date, unless `force` asks for the full comparison.
    """
    return feed_imports_run(
        [(feed_import, fileobj)],
        on_progress=on_progress,
        force=force,
        create_warehouses=create_warehouses,
    )[0]


def feed_imports_run(
    files: list[tuple[FeedImport, object]],
    *,
    on_progress: Callable[[int], None] | None = None,
    force: bool = False,
    create_warehouses: bool = True,
) -> list[FeedImport]:
    """Apply many warehouses' feeds, each as its warehouse's whole new snapshot.

    The files are applied together, in one transaction (see `inventory.feed_import`): every file's
    snapshot is applied, or, if the database fails half-way, none, and then each file is tried
    again alone, so that one file the database cannot take fails alone; a file rejected whole,
    refused or with bad rows does not hold the others back. Two files for the same warehouse are
    applied one after the other, in the order given. Without `create_warehouses` a file for an
    unknown warehouse code is rejected. Returns the FeedImports, in the same order.
    """
    pending: list[Feed] = []
    for feed_import, fileobj in files:
        feed_import.status = FeedImport.Status.RUNNING
        feed_import.started_at = timezone.now()
        feed_import.content_sha256 = _file_sha256(fileobj) or ""
        feed_import.save(update_fields=["status", "started_at", "content_sha256"])
        same = None if force else _same_as_last_feed(feed_import, feed_import.content_sha256)
        if same is not None:
            _feed_import_unchanged(feed_import, same)
        else:
            pending.append(_feed(feed_import, fileobj, on_progress, create_warehouses))

    while pending:
        run, seen = [], set()
        for feed in pending:
            code = (feed.feed_import.warehouse_code or "").upper()
            if code not in seen and len(run) < RUN_MAX_FILES:
                seen.add(code)
                run.append(feed)
        pending = [f for f in pending if f not in run]
        _run(run)
    return [feed_import for feed_import, _ in files]


def _feed(feed_import: FeedImport, fileobj, on_progress, create_warehouses: bool = True) -> Feed:
    """A file of a run, with its progress published for the admin page as it is read."""
    key = progress_cache_key(feed_import.pk)
    read = {"bytes": 0, "published": 0}

    def count_bytes(n: int) -> None:
        read["bytes"] += n
        feed_import.bytes_read = read["bytes"]
        if on_progress:
            on_progress(n)
        if read["bytes"] - read["published"] >= PROGRESS_EVERY_BYTES:
            read["published"] = read["bytes"]
            cache.set(key, read["bytes"], timeout=3600)

    def rewind_bytes() -> None:
        # The file is read again from the start (by the Python reader): so is the progress.
        if on_progress:
            on_progress(-read["bytes"])
        read["bytes"] = read["published"] = 0

    try:
        start = fileobj.tell()
    except (AttributeError, OSError):
        start = None
    return Feed(
        feed_import=feed_import,
        fileobj=fileobj,
        count_bytes=count_bytes,
        rewind_bytes=rewind_bytes,
        may_create_warehouse=create_warehouses,
        start=start,
    )


# What a run writes into each of its FeedImports when it ends.
_REPORT_FIELDS = [
    "status", "error", "refusal", "warehouse", "finished_at", "bytes_read", "rows_read",
    "rows_rejected", "rejected_rows", "stock_rows_written", "items_created", "items_changed",
    "stock_created", "stock_changed", "stock_removed", "stock_unchanged",
]  # fmt: skip
_COUNTS = [
    "stock_rows_written", "items_created", "items_changed", "stock_created", "stock_changed",
    "stock_removed", "stock_unchanged",
]  # fmt: skip
# FeedImports updated per statement: each brings its rejected rows (up to a thousand) along.
REPORT_BATCH = 50


def _again(feed: Feed) -> Feed | None:
    """The same file, rewound, for a run of its own; None if it cannot be read again."""
    if feed.start is None:
        return None
    try:
        feed.fileobj.seek(feed.start)
    except (AttributeError, OSError, ValueError):
        return None
    feed.rewind_bytes()
    return Feed(
        feed_import=feed.feed_import,
        fileobj=feed.fileobj,
        count_bytes=feed.count_bytes,
        rewind_bytes=feed.rewind_bytes,
        may_create_warehouse=feed.may_create_warehouse,
        start=feed.start,
    )


def _run(feeds: list[Feed]) -> None:
    started = time.monotonic()
    failure = ""
    try:
        pipeline.run(feeds)
    except Exception as exc:
        logger.exception("Feed import run of %s files failed", len(feeds))
        failure = f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        for feed in feeds:
            cache.delete(progress_cache_key(feed.feed_import.pk))

    if failure and len(feeds) > 1:
        # Nothing of the run was applied. One file the database cannot take must not cost the
        # others their import: each is tried again alone, and only the culprit fails.
        alone = [_again(feed) for feed in feeds]
        if all(alone):
            for feed in alone:
                _run([feed])
            return

    changed = False
    for feed in feeds:
        changed = _record_outcome(feed, failure) or changed
    # One statement for the run's reports, not one per file (a quarter of a millisecond each, but
    # a first load has hundreds).
    FeedImport.objects.bulk_update(
        [feed.feed_import for feed in feeds], _REPORT_FIELDS, batch_size=REPORT_BATCH
    )
    if changed:
        _special_orders_recheck()
    logger.debug(
        "Feed import run: %s files, %s rows in %.2fs",
        len(feeds),
        sum(f.report.rows_read for f in feeds),
        time.monotonic() - started,
    )


def _record_outcome(feed: Feed, failure: str) -> bool:
    """Write what became of `feed` into its FeedImport (saved by the caller); True when it
    created or changed items."""
    feed_import, report = feed.feed_import, feed.report
    feed_import.refusal = ""
    if feed.refused:
        feed_import.status = FeedImport.Status.REFUSED
        feed_import.refusal = feed.refused
        feed_import.error = feed.error
    elif feed.error:
        feed_import.status = FeedImport.Status.REJECTED
        feed_import.error = feed.error
    elif failure:
        feed_import.status = FeedImport.Status.FAILED
        feed_import.error = failure
    else:
        feed_import.status = FeedImport.Status.APPLIED
    applied = feed_import.status == FeedImport.Status.APPLIED
    counts = feed.counts if applied else {}
    refused = feed_import.status == FeedImport.Status.REFUSED
    feed_import.warehouse = feed.warehouse if applied or refused else None
    feed_import.finished_at = timezone.now()
    feed_import.rows_read = report.rows_read
    feed_import.rows_rejected = report.rows_rejected
    feed_import.rejected_rows = [[line, reason] for line, reason in report.rejected]
    for name in _COUNTS:
        setattr(feed_import, name, counts.get(name, 0))
    if refused:
        logger.warning(
            "Feed %s for %s refused (%s): %s",
            feed_import.file_name,
            feed_import.warehouse_code,
            feed.refused,
            feed.error,
        )
    return bool(feed_import.items_changed or feed_import.items_created)


def _feed_import_unchanged(feed_import: FeedImport, same: FeedImport) -> FeedImport:
    with transaction.atomic():
        warehouse = Warehouse.objects.select_for_update(no_key=True).get(pk=same.warehouse_id)
        warehouse.last_feed_at = timezone.now()
        warehouse.save(update_fields=["last_feed_at"])
        feed_import.warehouse = warehouse
        feed_import.same_as = same
        feed_import.status = FeedImport.Status.APPLIED
        feed_import.finished_at = timezone.now()
        feed_import.bytes_read = same.bytes_read
        feed_import.rows_read = same.rows_read
        feed_import.rows_rejected = same.rows_rejected
        feed_import.rejected_rows = same.rejected_rows
        feed_import.stock_unchanged = same.rows_read - same.rows_rejected
        feed_import.save()
    return feed_import


def _special_orders_recheck() -> None:
    """New stock may be what a special order waits for: let orders look (after commit)."""
    from orders.tasks import special_orders_restock_task

    def send():
        try:
            special_orders_restock_task.delay()
        except Exception:
            # Beat runs the same check every few minutes; a broker outage only delays it.
            logger.exception("Could not queue the special-order check")

    transaction.on_commit(send)


def feed_import_run_pending(*, feed_import_id: int) -> FeedImport | None:
    """Run an uploaded feed that waits for the worker (feed_import_task). Safe to call twice: an
    import that is no longer pending (run, or being run) is not run again, and None is returned.
    """
    with transaction.atomic():
        feed_import = (
            FeedImport.objects.select_for_update(skip_locked=True)
            .filter(pk=feed_import_id, status=FeedImport.Status.PENDING)
            .first()
        )
        if feed_import is None:
            return None
        feed_import.status = FeedImport.Status.RUNNING
        feed_import.save(update_fields=["status"])
    with feed_import.file.open("rb") as fileobj:
        # An upload names a warehouse that existed when it was sent; never create one here.
        return feed_import_run(feed_import=feed_import, fileobj=fileobj, create_warehouses=False)


def feed_upload_warehouse_code(*, file_name: str, warehouse_code: str = "") -> str:
    """The warehouse an uploaded feed is for: the code given, or the file's name (WH001.csv)."""
    name = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    return (warehouse_code or name.rsplit(".", 1)[0]).strip()


def feed_import_upload(
    *, uploaded_file, warehouse_code: str = "", user=None, allow_empty: bool = False
) -> FeedImport:
    """Keep an uploaded feed under a name we make, and queue its import after commit.

    The warehouse must exist: a typo in a code must not create one (adding a warehouse is its
    own step, warehouse_register). `allow_empty` lets the feed empty it, recorded as `user`'s
    choice."""
    from inventory.tasks import feed_import_task

    name = uploaded_file.name.replace("\\", "/").rsplit("/", 1)[-1]
    code = feed_upload_warehouse_code(file_name=name, warehouse_code=warehouse_code)
    if not Warehouse.objects.filter(code=code.upper()).exists():
        raise WarehouseUnknownError(
            f"There is no warehouse {code.upper()!r}: check the code, or add the warehouse first "
            "(Warehouses, Add)."
        )
    who = ""
    if allow_empty:
        who = f"{user.get_username()} (admin upload)" if user is not None else "admin upload"
    with transaction.atomic():
        feed_import = feed_import_create(
            file_name=name,
            warehouse_code=code,
            created_by=user,
            bytes_total=uploaded_file.size,
            allow_empty=allow_empty,
            allow_empty_by=who,
        )
        feed_import.file.save(f"feed-{feed_import.pk}-{uuid.uuid4().hex}.csv", uploaded_file)
        transaction.on_commit(lambda: feed_import_task.delay(feed_import.pk))
    return feed_import
