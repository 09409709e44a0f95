"""PDF receipts, property-tested: hand-written PDFs carrying what runs (JavaScript, launch and
other actions, embedded files, script links) in many encodings and places are all refused; PDFs
shaped like accounting tools' output (a plain /OpenAction to a page, zoom, links to the
supplier's site, metadata) in the same encodings are all accepted."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claims.errors import ReceiptRefusedError
from claims.receipts import check_receipt
from tests.pdf_builder import (
    CATALOG,
    PAGE,
    base_objects,
    build,
    hexstring,
    literal,
    name,
    stream,
    utf16,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Objects that are not streams, so they may go into an object stream.
PACKABLE = {1, 2, 3, 5, 6}


@st.composite
def pdf_names(draw, text: str) -> bytes:
    """The name, with any of its characters written as #xx."""
    return name(text, draw(st.sets(st.integers(0, len(text) - 1))))


@st.composite
def pdf_strings(draw, text: str) -> bytes:
    """The text as a PDF string: literal, literal with octal escapes, hex (any case, spaced),
    or UTF-16BE (as hex or as a literal)."""
    raw = text.encode("latin-1")
    how = draw(st.sampled_from(["literal", "octal", "hex", "utf16-hex", "utf16-literal"]))
    if how == "literal" or not raw:
        return literal(raw)
    if how == "octal":
        return literal(raw, draw(st.sets(st.integers(0, len(raw) - 1), min_size=1)))
    if how == "hex":
        return hexstring(raw, upper=draw(st.booleans()), spaced=draw(st.booleans()))
    if how == "utf16-hex":
        return hexstring(utf16(text), upper=draw(st.booleans()))
    return literal(utf16(text))


@st.composite
def script_links(draw) -> str:
    scheme = draw(st.sampled_from(["javascript", "JavaScript", "JAVASCRIPT", "jAvAsCrIpT",
                                   "vbscript", "java\tscript", "java\nscript"]))  # fmt: skip
    lead = draw(st.sampled_from(["", " ", "\t", "\x01", "  \n"]))
    return f"{lead}{scheme}:{draw(st.sampled_from(['alert(1)', 'void(0)', 'fetch(1)']))}"


def refused(data: bytes) -> ReceiptRefusedError:
    with pytest.raises(ReceiptRefusedError) as caught:
        check_receipt(data=data, name="invoice.pdf")
    assert caught.value.code == "receipt_active_content", caught.value.message
    return caught.value


def accepted(data: bytes) -> None:
    assert check_receipt(data=data, name="invoice.pdf").kind == "pdf"


# --- Bad: what runs, carried every way -----------------------------------------------------------


@st.composite
def hostile_pdfs(draw):
    objects = base_objects()
    kind = draw(st.sampled_from(["javascript", "js-stream", "launch", "uri", "embedded",
                                 "submit", "import", "gotor", "gotoe", "rendition",
                                 "richmedia", "xfa", "3d-javascript", "3d-model", "sound",
                                 "movie", "uri-indirect", "action-indirect"]))  # fmt: skip
    n = lambda text: draw(pdf_names(text))  # noqa: E731
    s = lambda text: draw(pdf_strings(text))  # noqa: E731
    if kind == "javascript":
        action = b"<< /S " + n("JavaScript") + b" " + n("JS") + b" " + s("app.alert(1)") + b" >>"
    elif kind == "js-stream":
        objects[7] = stream(b"app.launchURL('x');", compress=draw(st.booleans()))
        action = b"<< /S " + n("JavaScript") + b" " + n("JS") + b" 7 0 R >>"
    elif kind == "launch":
        action = b"<< /S " + n("Launch") + b" /F " + s("calc.exe") + b" >>"
    elif kind == "uri":
        action = b"<< /S /URI " + n("URI") + b" " + s(draw(script_links())) + b" >>"
    elif kind == "embedded":
        objects[7] = stream(b"MZ\x90\x00", b" /Type " + n("EmbeddedFile"))
        action = b"<< /Type /Filespec /F (a.exe) /EF << /F 7 0 R >> >>"
        objects[CATALOG] = objects[CATALOG].replace(
            b" >>", b" /Names << " + n("EmbeddedFiles") + b" << /Names [(a.exe) 6 0 R] >> >> >>", 1
        )
    elif kind == "submit":
        action = b"<< /S " + n("SubmitForm") + b" /F << /FS /URL /F (https://x.example) >> >>"
    elif kind == "import":
        action = b"<< /S " + n("ImportData") + b" /F (data.fdf) >>"
    elif kind == "gotor":
        action = b"<< /S " + n("GoToR") + b" /F (other.pdf) /D [0 /Fit] >>"
    elif kind == "gotoe":
        action = b"<< /S " + n("GoToE") + b" /T << /R /C /N (a) >> >>"
    elif kind == "rendition":
        action = b"<< /S " + n("Rendition") + b" /OP 0 >>"
    elif kind == "richmedia":
        action = b"<< /Type /Annot /Subtype " + n("RichMedia") + b" /Rect [0 0 10 10] >>"
    elif kind == "3d-javascript":
        # A 3D annotation whose model runs a script when it is loaded (/OnInstantiate).
        objects[8] = stream(b"host.alert(1);", compress=draw(st.booleans()))
        objects[7] = stream(
            b"U3D\x00", b" /Type /3D /Subtype /U3D " + n("OnInstantiate") + b" 8 0 R"
        )
        action = b"<< /Type /Annot /Subtype /3D /Rect [0 0 10 10] /3DD 7 0 R >>"
    elif kind == "3d-model":
        objects[7] = stream(b"PRC\x00", b" /Subtype /PRC")
        action = (
            b"<< /Type /Annot /Subtype " + n("3D") + b" /Rect [0 0 9 9] " + n("3DD") + b" 7 0 R >>"
        )
    elif kind == "sound":
        objects[7] = stream(b"\x00\x01", b" /R 8000")
        action = b"<< /Type /Annot /Subtype " + n("Sound") + b" /Rect [0 0 9 9] /Sound 7 0 R >>"
    elif kind == "movie":
        action = b"<< /Type /Annot /Subtype " + n("Movie") + b" /Movie << /F (a.mov) >> >>"
    elif kind == "uri-indirect":
        # The link's target is an object of its own: still checked against the allowed schemes.
        scheme = draw(st.sampled_from(["file:///c:/x", "smb://host/share", "data:text/html,x",
                                       "FILE:x", "ms-msdt:/id"]))  # fmt: skip
        objects[8] = s(scheme)
        action = b"<< /S /URI " + n("URI") + b" 8 0 R >>"
    elif kind == "action-indirect":
        objects[8] = n(draw(st.sampled_from(["SubmitForm", "ImportData", "GoToR", "GoToE"])))
        action = b"<< /S 8 0 R /F (https://x.example) >>"
    else:
        action = b"<< /Fields [] " + n("XFA") + b" [(template) 7 0 R] >>"
        objects[7] = stream(b"<xdp:xdp/>")
    objects[6] = action
    # Where the action hangs: opened with the document, on the page, on a link, in the names,
    # or nowhere (an orphan object a reader may still find).
    place = draw(st.sampled_from(["open", "page-aa", "link", "names", "orphan"]))
    if place == "open":
        objects[CATALOG] = objects[CATALOG].replace(b" >>", b" /OpenAction 6 0 R >>", 1)
    elif place == "page-aa":
        objects[PAGE] = objects[PAGE][:-3] + b" /AA << /O 6 0 R >> >>"
    elif place == "link":
        objects[PAGE] = objects[PAGE][:-3] + (
            b" /Annots [<< /Type /Annot /Subtype /Link /Rect [0 0 100 20] /A 6 0 R >>] >>"
        )
    elif place == "names":
        objects[CATALOG] = objects[CATALOG].replace(
            b" >>", b" /Names << /JavaScript << /Names [(doc) 6 0 R] >> >> >>", 1
        )
    packed = draw(st.sets(st.sampled_from(sorted(PACKABLE))))
    return build(objects, packed=packed, compress_packed=draw(st.booleans()))


@FUZZ
@given(data=hostile_pdfs())
def test_receipt_pdf_refuses_active_content_in_any_encoding_and_place(data):
    refused(data)


@FUZZ
@given(link=script_links(), data=st.data())
def test_receipt_pdf_refuses_a_script_link_in_any_string_encoding(link, data):
    # A script link as a plain string anywhere (here: the document's title), in any encoding.
    title = data.draw(pdf_strings(f"Invoice {link}"))
    packed = data.draw(st.sets(st.sampled_from(sorted(PACKABLE - {6}))))
    pdf = build(base_objects(), packed=packed, info=b"<< /Title " + title + b" >>")

    assert "script code" in refused(pdf).message


@pytest.mark.parametrize(
    "action",
    [
        b"<< /S /J#61vaScript /J#53 <6170702E616C657274283129> >>",  # hex string, escaped names
        b"<< /S /URI /URI <6A617661736372697074 3A616C657274283129> >>",  # spaced hex
        b"<< /S /URI /URI (\\152\\141\\166\\141script:alert\\(1\\)) >>",  # octal escapes
        b"<< /S /URI /URI <FEFF006A006100760061007300630072006900700074003A0031> >>",  # UTF-16BE
        b"<< /S #2FLaunch /F (cmd.exe) >>".replace(b"#2F", b"/"),
        b"<< /S /L#61unch /Win << /F (cmd.exe) >> >>",
    ],
    ids=["js-hex", "uri-hex", "uri-octal", "uri-utf16", "launch", "launch-escaped"],
)
@pytest.mark.parametrize("packed", [False, True], ids=["plain", "in-object-stream"])
def test_receipt_pdf_refuses_the_known_disguises(action, packed):
    objects = base_objects(catalog_extra=b" /OpenAction 6 0 R")
    objects[6] = action

    refused(build(objects, packed={1, 2, 3, 6} if packed else set()))


@pytest.mark.parametrize(
    ("objects", "what"),
    [
        (
            {
                6: b"<< /Type /Annot /Subtype /3D /Rect [0 0 9 9] /3DD 7 0 R >>",
                7: stream(b"U3D", b" /Type /3D /Subtype /U3D /OnInstantiate 8 0 R"),
                8: stream(b"host.alert(1);"),
            },
            "JavaScript in a 3D model",
        ),
        ({6: b"<< /Type /Annot /Subtype /3D /Rect [0 0 9 9] >>"}, "a 3D model"),
        ({6: b"<< /S /URI /URI 8 0 R >>", 8: b"(file:///c:/windows/win.ini)"}, "file:"),
        ({6: b"<< /S /URI /URI 8 0 R >>", 8: b"<736d623a2f2f682f73>"}, "smb:"),
        ({6: b"<< /S 8 0 R /F (https://x.example) >>", 8: b"/SubmitForm"}, "sends data"),
        ({6: b"<< /Type /Annot /Subtype /Sound /Sound 7 0 R >>", 7: stream(b"\x00")}, "media"),
    ],
    ids=[
        "3d-on-instantiate",
        "3d-annotation",
        "uri-indirect-file",
        "uri-indirect-smb",
        "action-indirect",
        "sound",
    ],
)
def test_receipt_pdf_refuses_3d_media_and_what_hides_behind_a_reference(objects, what):
    pdf_objects = base_objects(page_extra=b" /Annots [6 0 R]")
    pdf_objects.update(objects)

    assert what in refused(build(pdf_objects)).message


def test_receipt_pdf_with_a_link_to_an_indirect_web_address_or_a_hide_action_is_accepted():
    # /Hide only shows or hides the document's own annotations: nothing runs, nothing is
    # fetched, so it is not active content.
    objects = base_objects(page_extra=b" /Annots [6 0 R 9 0 R]")
    objects[6] = b"<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI 8 0 R >> >>"
    objects[8] = b"(https://supplier.example/invoices/1001)"
    objects[9] = b"<< /Type /Annot /Subtype /Link /Rect [9 9 19 19] /A << /S /Hide /T 6 0 R >> >>"

    accepted(build(objects))
    accepted(build(objects, packed={1, 2, 3, 6, 8, 9}))


# --- Good: what accounting tools write -----------------------------------------------------------

PRODUCERS = ["QuickBooks Online", "Xero", "Sage 50 Accounting", "FreshBooks", "Zoho Invoice",
             "Microsoft® Word for Microsoft 365", "Microsoft® Excel® 2016", "Wave Financial",
             "LibreOffice 7.6", "Skia/PDF m120", "macOS Version 14.1 Quartz PDFContext",
             "iText® 7.2.5 ©2000-2023 iText Group NV", "Rechnungsprogramm für Händler"]  # fmt: skip
SAFE_TEXT = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ 0123456789.,-#/()&'", max_size=40
)


CATALOG_EXTRAS = [
    b"",
    b" /PageMode /UseNone",
    b" /PageLayout /SinglePage",
    b" /ViewerPreferences << /DisplayDocTitle true >>",
]
LINKS = [
    "https://supplier.example/invoices/1001",
    "http://www.supplier.example",
    "mailto:billing@supplier.example",
    "www.supplier.example/pay",
]
XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'pdf:Producer="Xero"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


@st.composite
def open_actions(draw) -> bytes:
    """A plain /OpenAction: open at a page, at a zoom, fitted; as a destination or a /GoTo."""
    n = lambda text: draw(pdf_names(text))  # noqa: E731
    zoom = draw(st.sampled_from([b"null", b"0", b"1", b"1.25", b"0.5"]))
    destination = draw(st.sampled_from([
        b"[3 0 R " + n("XYZ") + b" null null " + zoom + b"]",
        b"[3 0 R " + n("XYZ") + b" 0 792 " + zoom + b"]",
        b"[3 0 R " + n("Fit") + b"]",
        b"[3 0 R " + n("FitH") + b" 792]",
        b"[3 0 R " + n("FitV") + b" 0]",
        b"[3 0 R " + n("FitR") + b" 0 0 612 792]",
        b"[3 0 R " + n("FitB") + b"]",
        b"[3 0 R " + n("FitBH") + b" null]",
    ]))  # fmt: skip
    form = draw(st.sampled_from(["array", "goto", "goto-typed", "named"]))
    if form == "array":
        return destination
    if form == "goto":
        return b"<< /S " + n("GoTo") + b" /D " + destination + b" >>"
    if form == "goto-typed":
        return b"<< /Type /Action /S /GoTo /D " + destination + b" >>"
    return b"<< /S /GoTo /D " + draw(pdf_strings("page1")) + b" >>"


@st.composite
def ordinary_pdfs(draw):
    extra = b""
    if draw(st.booleans()):
        extra += b" /OpenAction " + draw(open_actions())
    extra += draw(st.sampled_from(CATALOG_EXTRAS))
    metadata = draw(st.booleans())
    if metadata:
        extra += b" /Metadata 7 0 R"
    objects = base_objects(catalog_extra=extra, text=b"Invoice 1001 - Total $84.50")
    if draw(st.booleans()):
        link = draw(st.sampled_from(LINKS))
        objects[6] = b"<< /S /URI /URI " + draw(pdf_strings(link)) + b" >>"
        objects[PAGE] = objects[PAGE][:-3] + (
            b" /Annots [<< /Type /Annot /Subtype /Link /Rect [72 700 300 720] /Border [0 0 0] "
            b"/A 6 0 R >>] >>"
        )
    if metadata:
        objects[7] = stream(XMP, b" /Type /Metadata /Subtype /XML", compress=draw(st.booleans()))
    producer = draw(st.sampled_from(PRODUCERS))
    info = (
        b"<< /Producer " + draw(pdf_strings(producer if producer.isascii() else "x")) +
        (b" /Title " + literal(utf16(producer)) if not producer.isascii() else b"") +
        b" /Author " + draw(pdf_strings(draw(SAFE_TEXT))) +
        b" /CreationDate (D:20261201101500Z) >>"
    )  # fmt: skip
    packed = draw(st.sets(st.sampled_from(sorted(PACKABLE & set(objects) - {7}))))
    return build(objects, packed=packed, info=info, compress_packed=draw(st.booleans()))


@FUZZ
@given(data=ordinary_pdfs())
def test_receipt_pdf_accepts_what_accounting_tools_write(data):
    accepted(data)


@pytest.mark.parametrize(
    "open_action",
    [b"[3 0 R /XYZ null null 0]", b"[3 0 R /Fit]", b"<< /S /GoTo /D [3 0 R /FitH 792] >>"],
    ids=["xyz", "fit", "goto"],
)
def test_receipt_pdf_with_a_plain_open_action_is_accepted(open_action):
    accepted(build(base_objects(catalog_extra=b" /OpenAction " + open_action)))


def test_receipt_pdf_written_by_pypdf_with_open_destination_and_link_is_accepted():
    from pypdf import PdfWriter
    from pypdf.annotations import Link

    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    writer.open_destination = writer.pages[0]
    writer.add_annotation(0, Link(rect=(50, 50, 200, 70), url="https://supplier.example/i/1"))
    writer.add_metadata({"/Producer": "QuickBooks Online", "/Title": "Invoice 1001"})
    out = io.BytesIO()
    writer.write(out)
    assert b"/OpenAction" in out.getvalue()

    accepted(out.getvalue())


@pytest.mark.parametrize(
    "open_action",
    [
        b"<< /S /GoTo /D [3 0 R /Fit] /Next << /S /JavaScript /JS (1) >> >>",  # chained script
        b"<< /S /Named /N /Print >>",  # prints on opening
        b"[3 0 R /Fit (x)]",  # not a destination
        b"<< /S /GoTo /D [3 0 R /Fit] /JS (1) >>",
    ],
    ids=["goto-then-js", "named-print", "bad-destination", "goto-with-js"],
)
def test_receipt_pdf_open_action_that_does_more_than_open_is_refused(open_action):
    error = refused(build(base_objects(catalog_extra=b" /OpenAction " + open_action)))

    assert "opened" in error.message or "JavaScript" in error.message


def test_receipt_pdf_with_another_file_after_its_end_is_refused():
    data = build(base_objects()) + b"PK\x03\x04" + b"\x00" * 40

    with pytest.raises(ReceiptRefusedError) as caught:
        check_receipt(data=data, name="invoice.pdf")
    assert caught.value.code == "receipt_polyglot"


def test_receipt_pdf_with_an_incremental_update_is_accepted():
    # given: a second revision appended after the first %%EOF, as an editor saves it
    first = build(base_objects())
    first_xref = first.rindex(b"\nxref\n") + 1
    second = first + b"6 0 obj\n<< /Producer (Xero) >>\nendobj\n"
    xref = len(second)
    second += b"xref\n0 1\n0000000000 65535 f \n6 1\n%010d 00000 n \n" % len(first)
    second += b"trailer\n<< /Size 7 /Root 1 0 R /Info 6 0 R /Prev %d >>\n" % first_xref
    second += b"startxref\n%d\n%%%%EOF\n" % xref

    accepted(second)
