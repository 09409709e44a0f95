"""Finance's claims export, streamed: rows go out as they are read, so 100,000 claims take a few
seconds and a few megabytes whatever their number (bench/claims_export.py measures it against
django-import-export's export of the same rows).

The columns are the ones of claims.resources.ClaimResource (the admin's CSV/XLSX export), and so
is the spreadsheet-formula escaping: every cell of both goes through
sophio_fbs.spreadsheets.spreadsheet_safe.
"""

import csv
import io
from collections.abc import Iterator
from itertools import islice

from django.db.models import QuerySet
from django.utils import timezone

from claims.models import Claim
from sophio_fbs.spreadsheets import spreadsheet_safe_row

# Rows written per chunk sent: big enough to keep the overhead low, small enough to stream.
ROWS_PER_CHUNK = 1000
# Rows fetched per round trip (a server-side cursor on PostgreSQL).
FETCH_SIZE = 2000

HEADERS = (
    "id",
    "affiliate",
    "order",
    "part",
    "supplier",
    "purchased_on",
    "amount",
    "approved_amount",
    "status",
    "auto_approved",
    "filed",
    "due",
    "decided",
    "paid",
    "payout_batch",
)
DATETIME_FORMAT = "%Y-%m-%d %H:%M"


def _local_minutes(tz):
    """A formatter of aware datetimes as local "YYYY-MM-DD HH:MM" (DATETIME_FORMAT). The zone is
    looked up once: timezone.localtime() looks it up for every value, which was most of the
    export's time."""

    def when(value) -> str:
        return value.astimezone(tz).isoformat(" ", "minutes")[:16] if value else ""

    return when


def _rows(claims: QuerySet[Claim]) -> Iterator[list]:
    labels = dict(Claim.Status.choices)
    _when = _local_minutes(timezone.get_current_timezone())
    # In filing order: the primary key's order, so PostgreSQL reads the rows without a sort.
    columns = claims.order_by("id").values_list(
        "id",
        "affiliate__name",
        "order_id",
        "line__line_code",
        "line__part_number",
        "supplier_name",
        "purchased_on",
        "amount",
        "approved_amount",
        "status",
        "auto_approved",
        "created_at",
        "due_at",
        "decided_at",
        "paid_at",
        "payout_batch_id",
    )
    for row in columns.iterator(chunk_size=FETCH_SIZE):
        (pk, affiliate, order_id, line_code, part_number, supplier, purchased_on, amount,
         approved, status, auto, created, due, decided, paid, batch) = row  # fmt: skip
        yield spreadsheet_safe_row(
            (
                pk,
                affiliate,
                f"FBS-{order_id:07d}",
                f"{line_code} {part_number}",
                supplier,
                purchased_on.isoformat(),
                amount,
                "" if approved is None else approved,
                labels.get(status, status),
                "yes" if auto else "no",
                _when(created),
                _when(due),
                _when(decided),
                _when(paid),
                batch or "",
            )
        )


def claims_csv(claims: QuerySet[Claim]) -> Iterator[str]:
    """The claims as CSV text, in chunks of ROWS_PER_CHUNK rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    rows = _rows(claims)
    while chunk := list(islice(rows, ROWS_PER_CHUNK)):
        writer.writerows(chunk)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
