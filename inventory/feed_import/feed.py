"""The object a run passes from stage to stage: one file and what became of it."""

from collections.abc import Callable
from dataclasses import dataclass, field

from inventory.feed_import.fields import FeedReport
from inventory.models import FeedImport, Warehouse


@dataclass
class Staged:
    """How the run staged a file: set by `staging` and `parallel_staging`, read by `sql_checks`
    and `applying`. A file none of these marks was read by the Python reader into fi_valid."""

    copied: bool = False  # staged by COPY (typed, or as text then checked in SQL)
    typed: bool = False  # staged by the typed COPY: every row already checked by its table
    clean: bool = False  # only printable ASCII and line breaks
    table: str = ""  # the run's typed staging table, where there is one
    defer: bool = False  # leave the typed COPY to the run's staging connections
    deferred: tuple | None = None  # (columns, head, start) for those connections


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
    staged: Staged = field(default_factory=Staged)
    warehouse_created: bool = False  # the run created the warehouse (undone if rejected late)
    may_create_warehouse: bool = True  # False: an unknown warehouse code rejects the file
    refused: str = ""  # the guard's code when the feed was checked but refused (guards)
    start: int | None = None  # where the file starts, to read it again (None: it cannot be)
    counts_stock: bool = True  # its warehouse is active: its stock counts once applied
    rejected: list[tuple[int, str]] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
