"""Reading a warehouse feed: a CSV snapshot `line_code,part_number,qty,cost[,description]`.

`read_feed` checks the file as a whole first (text, header) and raises FeedRejectedError when it is
not a feed. Then it yields one tuple per good row and records each bad row with its line number
and reason; bad rows never stop the rest of the file.
"""

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from inventory.errors import FeedRejectedError
from inventory.models import Item, normalise_part_number

REQUIRED_COLUMNS = ("line_code", "part_number", "qty", "cost")
OPTIONAL_COLUMNS = ("description",)

LINE_CODE_MAX = Item._meta.get_field("line_code").max_length
PART_NUMBER_MAX = Item._meta.get_field("part_number").max_length
DESCRIPTION_MAX = Item._meta.get_field("description").max_length
# Far above any real warehouse count, far below the 32-bit column limit.
QTY_MAX = 10_000_000
# Ten million dollars: above any part's cost, and low enough that its price at any markup
# settings allow (under 10, sophio_fbs/settings.py) fits Item.price's 8 integer digits. (At
# 99,999,999.99 a stocked row's price overflowed the column and failed the whole import run.)
COST_MAX = Decimal("9999999.99")
CENT = Decimal("0.01")
# How many bytes are looked at to tell a text file from a binary one.
SNIFF_BYTES = 8192


@dataclass
class FeedRow:
    line_code: str
    part_number: str
    part_number_norm: str
    qty: int
    cost: Decimal
    description: str


@dataclass
class FeedReport:
    rows_read: int = 0
    rows_rejected: int = 0
    # (line number, reason), the first FeedImport.MAX_REPORTED_REJECTS of them.
    rejected: list[tuple[int, str]] = field(default_factory=list)
    max_reported: int = 1000

    def reject(self, line: int, reason: str) -> None:
        self.rows_rejected += 1
        if len(self.rejected) < self.max_reported:
            self.rejected.append((line, reason))


class _CountingReader(io.RawIOBase):
    """Counts bytes as they are read, for the progress bar."""

    def __init__(self, raw, on_bytes: Callable[[int], None] | None):
        self.raw = raw
        self.on_bytes = on_bytes

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if n and self.on_bytes:
            self.on_bytes(n)
        return n


def check_header(header: list[str]) -> list[str]:
    columns = [c.strip().lower() for c in header]
    allowed = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in allowed]
    if missing or unknown or len(set(columns)) != len(columns):
        details = []
        if missing:
            details.append("missing " + ", ".join(missing))
        if unknown:
            details.append("unknown " + ", ".join(repr(c) for c in unknown[:5]))
        if len(set(columns)) != len(columns):
            details.append("a column appears twice")
        raise FeedRejectedError(
            "The first line must be the header line_code,part_number,qty,cost "
            f"(and optionally description): {'; '.join(details)}."
        )
    return columns


def _parse_qty(value: str) -> int | str:
    value = value.strip()
    if value.isascii() and value.isdigit():
        qty = int(value)
        return qty if qty <= QTY_MAX else f"qty {value} is too large"
    if value.startswith("-") and value[1:].strip().isdigit():
        return f"qty {value} is negative"
    if not value:
        return "qty is missing"
    return f"qty {value[:20]!r} is not a whole number"


def _parse_cost(value: str) -> Decimal | str:
    value = value.strip().lstrip("$")
    try:
        cost = Decimal(value)
    except InvalidOperation:
        return f"cost {value[:20]!r} is not a number" if value else "cost is missing"
    if not cost.is_finite():
        return f"cost {value[:20]!r} is not a number"
    if cost < 0:
        return f"cost {value} is negative"
    if cost > COST_MAX:
        return f"cost {value} is too large"
    return cost.quantize(CENT, rounding=ROUND_HALF_UP)


def check_head(head: bytes) -> None:
    """Reject a file whose first bytes show it is not a CSV text file at all."""
    if not head.strip():
        raise FeedRejectedError("The file is empty.")
    if b"\x00" in head:
        raise FeedRejectedError("The file is binary, not a CSV text file.")


def check_fields(
    line_code: str, part_number: str, qty: str, cost: str, description: str
) -> FeedRow | str:
    """One row's values checked and cleaned: a FeedRow, or the reason it is rejected."""
    line_code = line_code.strip().upper()
    part_number = part_number.strip().upper()
    if not part_number:
        return "part number is missing"
    if not line_code:
        return "line code is missing"
    if len(line_code) > LINE_CODE_MAX:
        return f"line code is longer than {LINE_CODE_MAX} characters"
    if len(part_number) > PART_NUMBER_MAX:
        return f"part number is longer than {PART_NUMBER_MAX} characters"
    parsed_qty = _parse_qty(qty)
    if isinstance(parsed_qty, str):
        return parsed_qty
    parsed_cost = _parse_cost(cost)
    if isinstance(parsed_cost, str):
        return parsed_cost
    return FeedRow(
        line_code,
        part_number,
        normalise_part_number(part_number),
        parsed_qty,
        parsed_cost,
        description.strip()[:DESCRIPTION_MAX],
    )


def duplicate_reason(line_code: str, part_number: str, first_line: int) -> str:
    return f"{line_code} {part_number} already appears on line {first_line}"


def read_feed(
    raw,
    report: FeedReport,
    *,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[FeedRow]:
    """Yield the good rows of the feed in `raw` (a binary file); record the bad ones in `report`.

    Raises FeedRejectedError before yielding anything when the file is empty, binary or has the
    wrong header, and during the read if it turns out not to be UTF-8 text; the caller must then
    apply nothing.
    """
    buffered = io.BufferedReader(_CountingReader(raw, on_bytes), buffer_size=1 << 20)
    check_head(buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES])
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
        columns = check_header(header)
        index = {name: columns.index(name) for name in columns}
        width = len(columns)
        i_line, i_part, i_qty, i_cost = (index[c] for c in REQUIRED_COLUMNS)
        i_desc = index.get("description")
        seen: dict[tuple[str, str], int] = {}
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line is not a row
            report.rows_read += 1
            if len(row) != width:
                report.reject(line, f"expected {width} fields, found {len(row)}")
                continue
            checked = check_fields(
                row[i_line],
                row[i_part],
                row[i_qty],
                row[i_cost],
                row[i_desc] if i_desc is not None else "",
            )
            if isinstance(checked, str):
                report.reject(line, checked)
                continue
            key = (checked.line_code, checked.part_number)
            first = seen.get(key)
            if first is not None:
                report.reject(line, duplicate_reason(*key, first))
                continue
            seen[key] = line
            yield checked
    except StopIteration as exc:  # no header line at all
        raise FeedRejectedError("The file is empty.") from exc
    except UnicodeDecodeError as exc:
        raise FeedRejectedError("The file is not UTF-8 text.") from exc
    except csv.Error as exc:
        raise FeedRejectedError(f"The file is not valid CSV: {exc}.") from exc
