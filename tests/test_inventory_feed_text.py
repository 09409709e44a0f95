"""Issue 11, item 3: what a feed's bytes can be. NUL bytes, control characters and undecodable
bytes are row errors on their line, never a database error; legacy encodings are read or refused
by name; BOM, CRLF, quoted fields and a header ending in a comma are handled. Property tests throw
random bytes at the reader and at the whole import, on both loader paths."""

import io

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from inventory.errors import FeedRejectedError
from inventory.feed_import import staging
from inventory.feed_import.fields import FeedReport
from inventory.feed_import.reading import read_feed
from inventory.models import FeedImport, Item, Stock, Warehouse
from inventory.services import feed_import_create, feed_import_run

HEADER = "line_code,part_number,qty,cost,description\n"


def good_rows(count: int, start: int = 0) -> str:
    return "".join(f"ACD,P{n},3,1.00,Part {n}\n" for n in range(start, start + count))


@pytest.fixture(params=["copy", "reader"])
def path(request, monkeypatch):
    """PostgreSQL's COPY path (on PostgreSQL) and the Python reader, SQLite's only path."""
    if request.param == "reader":
        monkeypatch.setattr(staging, "stage_by_copy", lambda cursor, feed: False)
    return request.param


def run(code: str, data: bytes) -> FeedImport:
    feed_import = feed_import_create(file_name=f"{code}.csv", warehouse_code=code)
    return feed_import_run(feed_import=feed_import, fileobj=io.BytesIO(data))


def described(part: str) -> str:
    return Item.objects.get(line_code="ACD", part_number=part).description


# --- Bad characters: row errors with their line numbers --------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        (b"ACD,NUL\x00PART,3,1.00,x\n", "part number holds a NUL byte (U+0000)"),
        (b"ACD,CTRL,3,1.00,bell\x07here\n", "description holds a control character (U+0007)"),
        (b"ACD,ESC,3\x1b,1.00,x\n", "qty holds a control character (U+001B)"),
        (b"A\x7fCD,DEL,3,1.00,x\n", "line code holds a control character (U+007F)"),
        ("ACD,C1,3,1.00,a\u0085b\n".encode(), "description holds a control character (U+0085)"),
        (b"ACD,BYTE,3,1.00,caf\xe9\n", "description holds bytes that are not UTF-8 text (byte 0xE"),
        (b"ACD,HALF,3,1.00,\xe2\x82\n", "description holds bytes that are not UTF-8 text"),
    ],
    ids=["nul", "bell", "escape", "del", "c1", "latin1-byte-in-utf8", "cut-sequence"],
)  # fmt: skip
def test_a_bad_character_is_a_row_error_on_its_line_and_the_rest_applies(path, bad_row, reason):
    # 30 good rows with UTF-8 descriptions, the bad one on line 12: one row in 31 (3%)
    good = "".join(f"ACD,P{n},3,1.00,Bremsbeläge {n}\n" for n in range(30))
    lines = good.splitlines(keepends=True)
    data = HEADER.encode() + "".join(lines[:10]).encode() + bad_row + "".join(lines[10:]).encode()

    result = run("WH1", data)

    assert result.status == FeedImport.Status.APPLIED
    assert [line for line, _ in result.rejected_rows] == [12]
    assert reason in result.rejected_rows[0][1]
    assert Stock.objects.count() == 30
    assert described("P0") == "Bremsbeläge 0"


@pytest.mark.django_db
def test_a_nul_byte_in_the_first_kilobytes_is_a_row_error_too(path):
    result = run("WH1", (HEADER + "ACD,A\x00,1,1,x\n" + good_rows(40)).encode())

    assert result.status == FeedImport.Status.APPLIED
    assert result.rejected_rows == [[2, "part number holds a NUL byte (U+0000)"]]


# --- Encodings --------------------------------------------------------------------------------

DESCRIPTIONS = {
    "BP-1": "Bremsbeläge für Vorderachse",
    "BP-2": "Crème brûlée — “quoted” €5",
    "BP-3": "Señor niño à la carte",
}
# ISO-8859-1 has no dash, curly quotes or euro sign.
LATIN1 = {**DESCRIPTIONS, "BP-2": "Crème brûlée - «quoted» 5 ¢"}


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "iso8859-15", "utf-8", "utf-8-sig"])
def test_a_feed_in_a_western_legacy_encoding_is_read_correctly(path, encoding):
    descriptions = LATIN1 if encoding in ("latin-1", "iso8859-15") else DESCRIPTIONS
    text = HEADER + "".join(f"ACD,{part},3,1.00,{d}\n" for part, d in descriptions.items())

    result = run("WH1", text.encode(encoding))

    assert (result.status, result.rows_rejected) == (FeedImport.Status.APPLIED, 0)
    assert {part: described(part) for part in descriptions} == descriptions


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "named"),
    [("shift_jis", "cp932"), ("cp1251", "cp125"), ("euc_kr", "")],
)
def test_a_feed_in_another_encoding_is_refused_naming_it_and_how_to_convert(path, encoding, named):
    text = {
        "shift_jis": "日本製のブレーキパッド、前輪用",
        "cp1251": "Тормозные колодки передние, комплект",
        "euc_kr": "브레이크 패드 앞바퀴용 세트",
    }[encoding]
    data = (HEADER + "".join(f"ACD,P{n},3,1.00,{text} {n}\n" for n in range(5))).encode(encoding)

    result = run("WH1", data)

    assert result.status == FeedImport.Status.REJECTED
    assert "not UTF-8 text" in result.error
    assert named in result.error
    assert "iconv -f" in result.error
    assert "-t UTF-8" in result.error
    assert not Warehouse.objects.exists()


@pytest.mark.django_db
def test_a_utf16_file_is_refused_with_how_to_convert_it(path):
    result = run("WH1", (HEADER + good_rows(3)).encode("utf-16"))

    assert result.status == FeedImport.Status.REJECTED
    assert "UTF-16" in result.error
    assert "iconv" in result.error


# --- The CSV forms warehouses export ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        # a header ending in a comma, rows too (some exports end every line so)
        b"line_code,part_number,qty,cost,\nACD,A,1,1.00,\nACD,B,2,2.00,\n",
        # a header ending in a comma, rows without it
        b"line_code,part_number,qty,cost,\nACD,A,1,1.00\nACD,B,2,2.00\n",
        # a byte-order mark and Windows line ends
        b"\xef\xbb\xbfline_code,part_number,qty,cost\r\nACD,A,1,1.00\r\nACD,B,2,2.00\r\n",
        # every field quoted, one with a comma and an escaped quote
        b'"line_code","part_number","qty","cost"\r\n"ACD","A","1","1.00"\r\n"ACD","B","2","2.00"\r\n',
        # old Mac line ends
        b"line_code,part_number,qty,cost\rACD,A,1,1.00\rACD,B,2,2.00\r",
    ],
    ids=["trailing-comma", "trailing-comma-header-only", "bom-crlf", "quoted", "cr"],
)  # fmt: skip
def test_the_csv_forms_warehouses_export_are_read(path, data):
    result = run("WH1", data)

    assert (result.status, result.rows_read, result.rows_rejected) == ("applied", 2, 0)
    assert sorted(Stock.objects.values_list("item__part_number", "qty")) == [("A", 1), ("B", 2)]


@pytest.mark.django_db
def test_a_row_with_a_value_after_a_trailing_header_comma_is_a_row_error(path, settings):
    settings.FBS_FEED_MAX_BAD_FRACTION = 1.0
    result = run("WH1", b"line_code,part_number,qty,cost,\nACD,A,1,1.00,\nACD,B,2,2.00,oops\n")

    assert result.rejected_rows == [[3, "expected 4 to 5 fields, found 5"]]


@pytest.mark.django_db
def test_a_quote_that_never_closes_is_refused_with_its_line(path):
    result = run("WH1", b'line_code,part_number,qty,cost\nACD,A,1,1\nACD,"B' + b"x" * 200_000)

    assert result.status == FeedImport.Status.REJECTED
    assert "not valid CSV after line" in result.error
    assert "quote" in result.error


# --- Property tests ----------------------------------------------------------------------------

# Pieces a feed's bytes are made of: plain values, control characters, stray bytes, text in
# several encodings, separators, quotes and line breaks.
PIECES = st.one_of(
    st.sampled_from([b"ACD", b"P1", b"3", b"1.00", b"", b" ", b"-1", b"1e9", b"NaN", b"$2"]),
    st.sampled_from([b",", b'"', b'""', b"\n", b"\r\n", b"\r", b"\t", b"\\.", b"\xef\xbb\xbf"]),
    st.binary(min_size=1, max_size=4),
    st.sampled_from([bytes([c]) for c in [*range(32), 127]]),
    st.text(max_size=6).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(["cp1252", "latin-1", "utf-16", "shift_jis", "cp1251"]).map(
        lambda enc: "Brems-belä€ge".encode(enc, "replace")
    ),
)
FEED_BYTES = st.one_of(
    st.binary(max_size=300),
    st.tuples(
        st.sampled_from([b"line_code,part_number,qty,cost\n", HEADER.encode(), b""]),
        st.lists(PIECES, max_size=60).map(b"".join),
    ).map(b"".join),
)


@settings(max_examples=400, deadline=None)
@given(data=FEED_BYTES)
def test_the_reader_only_ever_refuses_a_file_or_reports_a_row(data):
    report = FeedReport()
    try:
        rows = list(read_feed(io.BytesIO(data), report))
    except FeedRejectedError as exc:
        rows, refusal = [], exc.message
    else:
        refusal = None
    if refusal is not None:
        assert refusal.strip()
        return
    for row in rows:
        for value in (row.line_code, row.part_number, row.description):
            assert not any(ord(c) < 32 and c not in "\t\r\n" for c in value)
            assert not any(0xD800 <= ord(c) <= 0xDFFF or 0x7F <= ord(c) <= 0x9F for c in value)
    assert report.rows_read == len(rows) + report.rows_rejected
    assert all(isinstance(line, int) and line >= 2 for line, _ in report.rejected)


class _Rollback(Exception):
    pass


def _state() -> list:
    return [
        sorted(Stock.objects.values_list("warehouse__code", "item_id", "qty", "cost")),
        sorted(Item.objects.values_list("id", "stock_qty", "available_qty", "price")),
        sorted(Warehouse.objects.values_list("code", "last_feed_at")),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("reader_only", [False, True], ids=["copy", "reader"])
def test_any_bytes_through_the_whole_import_apply_or_change_nothing(monkeypatch, reader_only):
    if reader_only:
        monkeypatch.setattr(staging, "stage_by_copy", lambda cursor, feed: False)
    run("WH1", (HEADER + good_rows(4)).encode())
    before = _state()

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(data=FEED_BYTES)
    def check(data):
        try:
            with transaction.atomic():
                result = run("WH1", data)
                assert result.status in ("applied", "rejected", "refused"), result.error
                if result.status != "applied":
                    assert result.error
                    assert _state() == before
                else:
                    # what is stored is consistent: each item's stock is its rows' sum
                    for item in Item.objects.all():
                        total = sum(s.qty for s in item.stock.all())
                        assert (item.stock_qty, item.available_qty) == (total, total)
                raise _Rollback
        except _Rollback:
            pass

    check()


# Western words and symbols, with the punctuation Windows-1252 has and ISO-8859-1 lacks (en
# dash, curly single quotes), as escapes.
WESTERN_TEXT = (
    "Bremsbeläge für Vorderachse Crème brûlée café naïve Señor niño à la carte Größe Öl "
    "Übergröße façade déjà smörgåsbord Ærø ½ inch ° ± 5% © ® ™ — “x” € £ ¥ … brake pad"
)
WESTERN_WORDS = [*WESTERN_TEXT.split(), "\u2013", "\u2018y\u2019"]


@settings(max_examples=150, deadline=None)
@given(
    descriptions=st.lists(
        st.lists(st.sampled_from(WESTERN_WORDS), min_size=1, max_size=6).map(" ".join),
        min_size=1,
        max_size=40,
    ),
    encoding=st.sampled_from(["cp1252", "latin-1"]),
)
# Found by this test: three letters of evidence, which charset-normalizer took for UTF-16.
@example(descriptions=["\u00e0 \u00e0 \u00e0"], encoding="cp1252")
@example(descriptions=["\u00bd \u00b0 \u00b1"], encoding="latin-1")
def test_western_text_in_a_legacy_encoding_reads_back_exactly(descriptions, encoding):
    if encoding == "latin-1":
        descriptions = [d.encode("latin-1", "ignore").decode("latin-1") for d in descriptions]
    text = HEADER + "".join(f"ACD,P{n},1,1.00,{d}\n" for n, d in enumerate(descriptions))
    report = FeedReport()

    rows = list(read_feed(io.BytesIO(text.encode(encoding)), report))

    assert report.rejected == []
    assert [row.description for row in rows] == [d.strip() for d in descriptions]


class _Pipe(io.RawIOBase):
    """A file that can be read once, front to back (a pipe, a socket)."""

    def __init__(self, data: bytes):
        self.data = io.BytesIO(data)

    def readable(self):
        return True

    def seekable(self):
        return False

    def readinto(self, buffer):
        chunk = self.data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_a_feed_that_can_be_read_only_once_is_read_whole_as_utf8():
    report = FeedReport()
    data = (HEADER + good_rows(2) + "ACD,X,1,1.00,caf\xe9\n").encode("latin-1")

    rows = list(read_feed(_Pipe(data), report))

    assert [row.part_number for row in rows] == ["P0", "P1"]
    assert report.rejected == [(4, "description holds bytes that are not UTF-8 text (byte 0xE9)")]
