"""Receipt photos: large camera-like JPEGs are accepted whatever their compressed data happens to
contain, and markup or script in a photo's metadata (comment, EXIF, XMP, PNG text) is refused.

The policy: compressed pixels are never searched for markers (they turn up there by chance);
every place of an image that a program reads as text is, and a marker there refuses the file.
"""

import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claims import receipts
from claims.errors import ReceiptRefusedError
from claims.receipts import check_receipt

# 250 photos of 3.1 megapixels, about 2 MB each at quality 90-95: together over 500 MB of
# compressed data, in which a byte search finds a script marker in about one photo in 25.
PHOTOS = 250
WIDTH, HEIGHT = 2048, 1536
SEED = 20261206


@pytest.fixture(scope="module")
def sensor_noise():
    """One frame of noise, larger than a photo; each photo crops its own window of it (making
    fresh noise for each photo would be most of the test's time)."""
    from PIL import Image

    rng = random.Random(SEED)
    size = (WIDTH + 512, HEIGHT + 512)
    return Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))


def camera_photo(seed: int, noise) -> bytes:
    """A photo-like JPEG: smooth colour areas (an 8 x 6 image scaled up) under sensor noise of
    a random strength, saved at a random quality from 90 to 95 like a phone camera."""
    from PIL import Image, ImageChops

    rng = random.Random(seed)
    scene = Image.frombytes("RGB", (8, 6), rng.randbytes(8 * 6 * 3))
    scene = scene.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    strength = rng.randint(60, 140)
    x, y = rng.randrange(512), rng.randrange(512)
    grain = noise.crop((x, y, x + WIDTH, y + HEIGHT)).point(lambda v: v * strength // 255)
    photo = ImageChops.add(scene, grain, offset=-strength // 2)
    out = io.BytesIO()
    photo.save(out, format="JPEG", quality=rng.randint(90, 95))
    return out.getvalue()


def has_marker_somewhere(data: bytes) -> bool:
    """What the old check did: any marker anywhere in the file, compressed pixels included."""
    lowered = data.lower()
    return any(marker in lowered for marker in receipts.ACTIVE_CONTENT)


def test_receipt_hundreds_of_large_camera_photos_are_all_accepted(sensor_noise):
    # given: seeded photos, a few of which contain a marker by chance in their pixel data
    refused, by_chance, sizes = [], 0, []
    for seed in range(SEED, SEED + PHOTOS):
        data = camera_photo(seed, sensor_noise)
        sizes.append(len(data))
        by_chance += has_marker_somewhere(data)
        # when
        try:
            check_receipt(data=data, name=f"IMG_{seed}.jpg")
        except ReceiptRefusedError as exc:
            refused.append((seed, exc.message))

    # then: none is refused, and the set did hold the photos a byte search refuses
    assert refused == []
    assert by_chance >= 3, "the photos no longer exercise markers in compressed data"
    assert min(sizes) > 1_000_000
    assert sum(sizes) / len(sizes) > 1_800_000


def jpeg(*, comment: bytes | None = None, exif=None, xmp: bytes | None = None) -> bytes:
    from PIL import Image

    extra = {}
    if comment is not None:
        extra["comment"] = comment
    if exif is not None:
        extra["exif"] = exif.tobytes()
    if xmp is not None:
        extra["xmp"] = xmp
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 190, 180)).save(out, format="JPEG", quality=92, **extra)
    return out.getvalue()


def exif_with(tag: int, value, ifd: int | None = None):
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "Phone Maker"  # Make
    exif[0x0110] = "Model 12"  # Model
    if ifd is None:
        exif[tag] = value
    else:
        exif.get_ifd(ifd)[tag] = value
    return exif


def refusal(data: bytes, name: str = "photo.jpg") -> ReceiptRefusedError:
    with pytest.raises(ReceiptRefusedError) as caught:
        check_receipt(data=data, name=name)
    assert caught.value.code == "receipt_active_content"
    return caught.value


def test_receipt_photo_with_ordinary_metadata_is_accepted():
    from PIL import ExifTags

    exif = exif_with(0x9003, "2026:12:01 10:15:00", ifd=ExifTags.IFD.Exif)  # DateTimeOriginal
    xmp = b'<?xpacket begin=""?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    data = jpeg(comment=b"Receipt from Main St Dealer", exif=exif, xmp=xmp)

    assert check_receipt(data=data, name="photo.jpg").kind == "jpeg"


@pytest.mark.parametrize(
    ("make", "where"),
    [
        (lambda: jpeg(comment=b"<script>alert(1)</script>"), "comment"),
        (lambda: jpeg(comment=b"<?php system($_GET[1]); ?>"), "comment"),
        (lambda: jpeg(exif=exif_with(0x010E, "<script>alert(1)</script>")), "EXIF"),
        (lambda: jpeg(exif=exif_with(0x013B, "javascript:alert(1)")), "EXIF"),  # Artist
        # XPComment: UTF-16LE bytes, as Windows writes it.
        (lambda: jpeg(exif=exif_with(0x9C9C, "<svg onload=alert(1)>".encode("utf-16-le"))), "EXIF"),
        (lambda: jpeg(xmp=b"<x:xmpmeta><rdf:RDF><html><script>1</script>"), "metadata"),
    ],
    ids=["comment-script", "comment-php", "exif-description", "exif-artist-link",
         "exif-xpcomment-utf16", "xmp"],
)  # fmt: skip
def test_receipt_photo_with_script_in_its_metadata_is_refused(make, where):
    error = refusal(make())

    assert f"in its {where}" in error.message


def test_receipt_photo_with_markup_after_the_image_is_refused():
    error = refusal(jpeg() + b"<html><script>alert(1)</script></html>")

    assert "after the image" in error.message


def test_receipt_png_with_script_in_a_compressed_text_chunk_is_refused():
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Description", "<script>alert(1)</script>", zip=True)  # zTXt: deflated
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "white").save(out, format="PNG", pnginfo=info)
    assert b"<script" not in out.getvalue()

    refusal(out.getvalue(), "receipt.png")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(["comment", "description", "artist", "xpcomment", "xmp"]),
    marker=st.sampled_from(["<script>", "<SCRIPT src=x>", "<svg/onload=1>", "<?php", "<iframe",
                            "java\tscript:alert(1)", " JavaScript:void(0)", "<%@ page %>"]),
    before=st.text(alphabet="abcdefghij 0123456789.,", max_size=20),
)  # fmt: skip
def test_receipt_photo_refuses_every_marker_in_every_metadata_place(where, marker, before):
    text = before + marker
    if where == "comment":
        data = jpeg(comment=text.encode())
    elif where == "description":
        data = jpeg(exif=exif_with(0x010E, text))
    elif where == "artist":
        data = jpeg(exif=exif_with(0x013B, text))
    elif where == "xpcomment":
        data = jpeg(exif=exif_with(0x9C9C, text.encode("utf-16-le")))
    else:
        data = jpeg(xmp=f"<x:xmpmeta>{text}</x:xmpmeta>".encode())

    refusal(data)
