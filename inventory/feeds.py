"""Reading a warehouse feed: a CSV snapshot `line_code,part_number,qty,cost[,description]`.

`read_feed` checks the file as a whole first (text, encoding, header) and raises FeedRejectedError
when it is not a feed. Then it yields one tuple per good row and records each bad row with its
line number and reason; bad rows never stop the rest of the file.

Text: UTF-8 (with or without a byte-order mark), or a Western legacy encoding (Windows-1252,
ISO-8859-1/15, as warehouse systems and Excel export) recognised by charset-normalizer and read as
such; any other encoding is refused with its name and how to convert it. A byte the file's
encoding cannot decode, a NUL or another control character is a row error on its line, never a
database error: no such character reaches a staging table.
"""

import csv
import io
import re
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
# Lines of a non-UTF-8 file handed to charset-normalizer: its lines that are not UTF-8, up to this
# many bytes (the evidence; the ASCII lines around them tell it nothing).
ENCODING_SAMPLE_BYTES = 64 * 1024
# What a field may not hold: C0 controls but tab and line breaks (a quoted field may span lines),
# DEL, C1 controls (in a text file they are always a decoding accident), and lone surrogates,
# which stand for the bytes the file's encoding could not decode (errors="surrogateescape").
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# The legacy encoding we read: Windows-1252, which is also how the WHATWG Encoding Standard decodes
# text labelled ISO-8859-1 (the two differ only in 0x80-0x9F: control characters in ISO-8859-1,
# letters and punctuation in Windows-1252).
LEGACY_ENCODING = "cp1252"
# How much "mess" (charset-normalizer's chaos: odd letter sequences, symbols among letters) a
# sample read as Windows-1252 may show. Measured on 300 random cp1252 and latin-1 samples of
# German, French, Spanish and Nordic words with symbols (™, dashes, quotes, € ½ °): at most 0.33.
# Cyrillic, Greek, Korean and Polish text read as Windows-1252 measured 1.0 to 1.9.
LEGACY_MAX_CHAOS = 0.5
ENCODING_NAMES = {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252"}
# Signatures of files people send instead of a CSV.
_NOT_CSV = (
    (b"PK\x03\x04", "an Excel workbook (XLSX) or another zip file: save it as CSV UTF-8"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (XLS): save it as CSV UTF-8"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "an image"),
    (b"\xff\xd8\xff", "an image"),
    (b"GIF8", "an image"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


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
    """The header's column names; raises FeedRejectedError when it is not the feed's header. Empty
    names at the end (a header ending in a comma, as some exports write every line) are not
    columns: the caller knows them by the header being longer than what is returned."""
    columns = [c.strip().lower() for c in header]
    while len(columns) > 1 and not columns[-1]:
        columns.pop()
    if any(_BAD_CHARS.search(c) for c in columns):
        raise FeedRejectedError(
            "The header line holds control characters or bytes that are not text: "
            "the file is not a CSV text file."
        )
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
        if len(value.lstrip("0")) > len(str(QTY_MAX)):
            return f"qty {value[:20]} is too large"  # and int() would refuse 4,300 digits
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
    """Reject a file whose first bytes show it is not a CSV text file at all. A NUL further on
    is only a bad row: it is reported on its line."""
    if not head.strip():
        raise FeedRejectedError("The file is empty.")
    if head.startswith(_UTF16_BOMS):
        raise FeedRejectedError(
            "The file is UTF-16 text (Excel's 'Unicode text'); save it as CSV UTF-8, or convert "
            "it with: iconv -f UTF-16 -t UTF-8 feed.csv > feed-utf8.csv"
        )
    for signature, what in _NOT_CSV:
        if head.startswith(signature):
            raise FeedRejectedError(f"The file is {what}, not a CSV text file.")
    first_line = head.split(b"\n", 1)[0]
    if b"\x00" in first_line or head.count(b"\x00") * 10 > len(head):
        raise FeedRejectedError(
            "The file is binary (or UTF-16 without a byte-order mark), not a CSV text file."
        )


def bad_characters(value: str, encoding: str = "UTF-8") -> str | None:
    """Why a field cannot be stored: a byte the encoding could not decode or a control character
    (None when it is text)."""
    found = _BAD_CHARS.search(value)
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        byte = ord(char) - 0xDC00 if ord(char) >= 0xDC80 else None
        shown = f" (byte 0x{byte:02X})" if byte is not None else ""
        return f"bytes that are not {encoding} text{shown}"
    if char == "\x00":
        return "a NUL byte (U+0000)"
    return f"a control character (U+{ord(char):04X})"


def check_fields(
    line_code: str,
    part_number: str,
    qty: str,
    cost: str,
    description: str,
    *,
    encoding: str = "UTF-8",
) -> FeedRow | str:
    """One row's values checked and cleaned: a FeedRow, or the reason it is rejected."""
    for name, value in (
        ("line code", line_code),
        ("part number", part_number),
        ("qty", qty),
        ("cost", cost),
        ("description", description),
    ):
        bad = bad_characters(value, encoding)
        if bad:
            return f"{name} holds {bad}"
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


def _non_utf8_lines(raw) -> tuple[int, int, bytes]:
    """Read `raw` to its end: (non-ASCII lines that are UTF-8, lines that are not, a sample of
    the latter). Only the chunks that are not plain ASCII are split into lines."""
    decodes = not_utf8 = 0
    sample = bytearray()
    carry = b""
    for chunk in iter(lambda: raw.read(1 << 20), b""):
        if not carry and chunk.isascii():
            continue
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        data, carry = data[:cut], data[cut:]
        for line in data.splitlines():
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                decodes += 1
            except UnicodeDecodeError:
                not_utf8 += 1
                if len(sample) < ENCODING_SAMPLE_BYTES:
                    sample += line + b"\n"
    if carry and not carry.isascii():
        try:
            carry.decode("utf-8")
            decodes += 1
        except UnicodeDecodeError:
            not_utf8 += 1
            sample += carry
    return decodes, not_utf8, bytes(sample)


def detect_encoding(raw) -> str:
    """The codec to read the seekable binary file `raw` with, which is left where it was.

    UTF-8 unless most of its non-ASCII lines are not UTF-8 (then a few bad lines are row errors,
    not a reason to guess); then Windows-1252 when those lines read as Western text in it
    (charset-normalizer's measure), and anything else is refused, named by charset-normalizer's
    best guess, with how to convert it. (Asked to name the encoding outright, charset-normalizer
    picks cp1250, cp1257 or mac_latin2 for one cp1252 sample in five: those decode most Western
    letters alike, so the question asked is only "is this Windows-1252 text?")
    """
    try:
        start = raw.tell()
    except (AttributeError, OSError):
        return "utf-8-sig"  # cannot be read twice: bad bytes become row errors
    try:
        decodes, not_utf8, sample = _non_utf8_lines(raw)
    finally:
        raw.seek(start)
    if not_utf8 <= decodes:
        return "utf-8-sig"
    from charset_normalizer import from_bytes

    western = from_bytes(
        sample, cp_isolation=[LEGACY_ENCODING], threshold=LEGACY_MAX_CHAOS, enable_fallback=False
    ).best()
    if western is not None:
        return LEGACY_ENCODING
    best = from_bytes(sample).best()
    if best is not None:
        names = [best.encoding, *(n for n in best.could_be_from_charset if n != best.encoding)]
        found = f"looks like {' or '.join(names[:3])}"
        convert = best.encoding
    else:
        found, convert = "is in an encoding that could not be recognised", "<ENCODING>"
    raise FeedRejectedError(
        f"The file is not UTF-8 text: it {found}. Save it as CSV UTF-8, or convert it with: "
        f"iconv -f {convert} -t UTF-8 feed.csv > feed-utf8.csv"
    )


def read_feed(
    raw,
    report: FeedReport,
    *,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[FeedRow]:
    """Yield the good rows of the feed in `raw` (a binary file); record the bad ones in `report`.

    Raises FeedRejectedError before yielding anything when the file is empty, binary, in an
    encoding we do not read or has the wrong header, and during the read if it turns out not to
    be CSV (a field longer than the csv module's limit: a quote that never closes); the caller
    must then apply nothing.
    """
    head = None
    try:
        seekable = raw.seekable()
    except (AttributeError, OSError, ValueError):
        seekable = False
    if seekable:
        start = raw.tell()
        head = raw.read(SNIFF_BYTES)
        raw.seek(start)
    if head is not None:
        check_head(head)
        encoding = detect_encoding(raw)
    else:
        encoding = "utf-8-sig"
    label = ENCODING_NAMES.get(encoding, encoding)
    buffered = io.BufferedReader(_CountingReader(raw, on_bytes), buffer_size=1 << 20)
    if head is None:
        check_head(buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES])
    # surrogateescape: an undecodable byte becomes a lone surrogate, found by check_fields on
    # its own row, instead of an exception that would end the file.
    text = io.TextIOWrapper(buffered, encoding=encoding, errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
        columns = check_header(header)
        index = {name: columns.index(name) for name in columns}
        width = len(columns)
        # A header ending in commas: rows may end in as many empty fields.
        full_width = max(width, len(header))
        i_line, i_part, i_qty, i_cost = (index[c] for c in REQUIRED_COLUMNS)
        i_desc = index.get("description")
        seen: dict[tuple[str, str], int] = {}
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line is not a row
            report.rows_read += 1
            if not width <= len(row) <= full_width or any(v.strip() for v in row[width:]):
                expected = f"{width}" if width == full_width else f"{width} to {full_width}"
                report.reject(line, f"expected {expected} fields, found {len(row)}")
                continue
            checked = check_fields(
                row[i_line],
                row[i_part],
                row[i_qty],
                row[i_cost],
                row[i_desc] if i_desc is not None else "",
                encoding=label,
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
    except csv.Error as exc:
        raise FeedRejectedError(
            f"The file is not valid CSV after line {reader.line_num}: {exc} (a quote that is "
            "opened and never closed?)."
        ) from exc
