"""Reads of the master inventory that pages, the API and the feed share.

Everything an affiliate reads goes through `Item.objects.visible_to(affiliate)`: an item below the
affiliate's threshold does not exist for it, in the catalog, search, the feed, the API or a URL.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import CharField, F, Func, QuerySet, Value
from django.db.models.functions import Cast

from inventory.models import Item, normalise_part_number
from sophio_fbs.cursors import (  # noqa: F401 (CursorInvalidError: what callers catch)
    CursorInvalidError,
    decode_cursor,
    encode_cursor,
)
from sophio_fbs.spreadsheets import spreadsheet_safe

CATALOG_PAGE_SIZE = 50
CATALOG_PAGE_MAX = 200
FEED_HEADER = ("line_code", "part_number", "description", "qty", "price")
# Rows fetched from the server-side cursor and written per chunk of the streamed feed.
FEED_CHUNK_ROWS = 5000

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest normalised string above every string starting with `prefix`.

    Normalised part numbers use only 0-9 and A-Z, which sort the same way under every collation,
    so `prefix <= x < bound` is a prefix match that can use a plain b-tree index.
    """
    chars = list(prefix)
    while chars:
        position = _ALPHABET.find(chars[-1])
        if 0 <= position < len(_ALPHABET) - 1:
            chars[-1] = _ALPHABET[position + 1]
            return "".join(chars)
        chars.pop()
    return None


def visible_items(*, affiliate) -> QuerySet[Item]:
    return Item.objects.visible_to(affiliate)


def item_for_affiliate(*, affiliate, item_id: int) -> Item:
    """One visible item; Item.DoesNotExist for a hidden or unknown one."""
    return visible_items(affiliate=affiliate).get(pk=item_id)


@dataclass
class CatalogPage:
    items: list[Item]
    next_cursor: str | None
    search: str
    line_code: str


def _encode_cursor(values) -> str:
    return encode_cursor(values)


def _decode_cursor(cursor: str) -> list:
    """(first key, second key, id): two storable strings and a bigint, or CursorInvalidError."""
    return decode_cursor(cursor, (str, str, int))


def catalog_page(
    *,
    affiliate,
    search: str = "",
    line_code: str = "",
    cursor: str | None = None,
    limit: int = CATALOG_PAGE_SIZE,
) -> CatalogPage:
    """One page of the affiliate's catalog, in keyset order.

    With a search, part numbers are compared normalised (case, spaces, dashes, dots ignored):
    the exact match sorts first, then longer part numbers that start with it. Without, items are
    listed by line code. Paging is by keyset, so page 10,000 costs what page 1 costs.
    """
    limit = max(1, min(limit, CATALOG_PAGE_MAX))
    items = visible_items(affiliate=affiliate)
    norm = normalise_part_number(search)
    line_code = (line_code or "").strip().upper()
    if line_code:
        items = items.filter(line_code=line_code)
    if norm:
        items = items.filter(part_number_norm__gte=norm)
        bound = _prefix_upper_bound(norm)
        if bound:
            items = items.filter(part_number_norm__lt=bound)
        order = ("part_number_norm", "line_code", "id")
    else:
        order = ("line_code", "part_number_norm", "id")
    if cursor:
        after = _decode_cursor(cursor)
        # A row-value comparison, which PostgreSQL answers from the (a, b, id) index directly.
        items = items.extra(where=[f"({', '.join(order)}) > (%s, %s, %s)"], params=after)  # noqa: S610
    rows = list(
        items.order_by(*order).only(
            "id", "line_code", "part_number", "part_number_norm", "description", "price",
            "available_qty",
        )[: limit + 1]
    )  # fmt: skip
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor([getattr(last, order[0]), getattr(last, order[1]), last.id])
    return CatalogPage(items=rows, next_cursor=next_cursor, search=search, line_code=line_code)


def catalog_line_codes(*, affiliate) -> list[str]:
    return list(
        visible_items(affiliate=affiliate)
        .order_by("line_code")
        .values_list("line_code", flat=True)
        .distinct()
    )


def catalog_csv(*, affiliate) -> Iterator[str]:
    """The affiliate's whole feed as CSV text, in chunks, in constant memory.

    The rows come from a server-side cursor on PostgreSQL; the price is cast to text in SQL so
    no Decimal is built per row.
    """
    if connection.vendor == "postgresql":
        price_text = Cast("price", CharField())  # numeric(10, 2) prints two decimals
    else:
        price_text = Func(Value("%.2f"), F("price"), function="printf", output_field=CharField())
    rows = (
        visible_items(affiliate=affiliate)
        .order_by("line_code", "part_number_norm", "id")
        .annotate(price_text=price_text)
        .values_list("line_code", "part_number", "description", "available_qty", "price_text")
    )
    buffer = io.StringIO()
    # CRLF, as RFC 4180 has it: Python's writer quotes a field that holds a character of the line
    # terminator, so with "\n" alone a bare CR in a description went out unquoted and split the
    # row in a spreadsheet (the next "row" could start with a formula).
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FEED_HEADER)
    # Inside a transaction PostgreSQL streams the cursor as it goes; outside one it must be a
    # WITH HOLD cursor, materialised whole before the first row (1.4 s for 800,000 rows).
    with transaction.atomic():
        for count, (line_code, part_number, description, qty, price) in enumerate(
            rows.iterator(chunk_size=FEED_CHUNK_ROWS), start=1
        ):
            # The text cells come from warehouse feeds: a spreadsheet must never run one. Only
            # those three go through the rule: qty is an int and the price numeric text, and
            # this loop runs once per visible item (800,000 and more).
            writer.writerow(
                (
                    spreadsheet_safe(line_code),
                    spreadsheet_safe(part_number),
                    spreadsheet_safe(description),
                    qty,
                    price,
                )
            )
            if count % FEED_CHUNK_ROWS == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
