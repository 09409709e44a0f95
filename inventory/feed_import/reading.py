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
from collections.abc import Callable, Iterator

from inventory.errors import FeedRejectedError
from inventory.feed_import.fields import (
    REQUIRED_COLUMNS,
    FeedReport,
    FeedRow,
    check_fields,
    check_header,
    duplicate_reason,
)

# How many bytes are looked at to tell a text file from a binary one.
SNIFF_BYTES = 8192
# Lines of a non-UTF-8 file handed to charset-normalizer: its lines that are not UTF-8, up to this
# many bytes (the evidence; the ASCII lines around them tell it nothing).
ENCODING_SAMPLE_BYTES = 64 * 1024

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


def _no_evidence(best, sample: bytes) -> bool:
    """Whether charset-normalizer's best guess says nothing: UTF-16 or UTF-32 for CSV lines with
    no NUL byte (their commas and digits would give NULs in either). It is its answer on a few
    accented letters ("à à à" in Windows-1252 measured chaos 0.57, above LEGACY_MAX_CHAOS); such
    text is read as Windows-1252, the legacy encoding of warehouse exports, if every byte of it
    is defined there."""
    if best is None or not best.encoding.startswith(("utf_16", "utf_32")) or b"\x00" in sample:
        return False
    try:
        sample.decode(LEGACY_ENCODING)
    except UnicodeDecodeError:
        return False
    return True


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
    if _no_evidence(best, sample):
        return LEGACY_ENCODING
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
    text, label = _open_text(raw, on_bytes)
    reader = csv.reader(text)
    try:
        header = next(reader)
        yield from _good_rows(reader, header, report, label)
    except StopIteration as exc:  # no header line at all
        raise FeedRejectedError("The file is empty.") from exc
    except csv.Error as exc:
        raise FeedRejectedError(
            f"The file is not valid CSV after line {reader.line_num}: {exc} (a quote that is "
            "opened and never closed?)."
        ) from exc


def _open_text(raw, on_bytes: Callable[[int], None] | None) -> tuple[io.TextIOWrapper, str]:
    """The binary file `raw` as text in its encoding, once its first bytes show it is text; and
    the encoding's name as reasons give it."""
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
    return text, label


def _good_rows(reader, header: list[str], report: FeedReport, label: str) -> Iterator[FeedRow]:
    """The rows after the header, checked: the good ones yielded, the bad ones reported."""
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
