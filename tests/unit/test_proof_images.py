"""Proof images: checked by content, size- and pixel-limited, stripped of metadata."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo

from lastmile.core.errors import PayloadTooLarge, ValidationFailed
from lastmile.tasks.proof import MAX_PIXELS, validate_image

pytestmark = pytest.mark.unit

MiB = 1024 * 1024
LIMIT = 10 * MiB


def _jpeg_with_gps(size: tuple[int, int] = (40, 20), orientation: int | None = None) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, icc_profile=b"fake-icc-profile" * 4)
    return out.getvalue()


def _png_chunks(data: bytes) -> list[bytes]:
    pos, names = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        names.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return names


def _png(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG of any announced size (a bomb when large), written by hand."""

    def chunk(name: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", idat or zlib.compress(b"\x00" * 4096))
        + chunk(b"IEND", b"")
    )


def test_jpeg_exif_and_gps_are_stripped() -> None:
    """A JPEG carrying EXIF with GPS coordinates comes out as a JPEG without any EXIF or ICC."""
    raw = _jpeg_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    clean = validate_image(raw, field="photos[0]", max_bytes=LIMIT)
    assert clean.content_type == "image/jpeg"
    out = Image.open(io.BytesIO(clean.data))
    assert out.format == "JPEG"
    assert not out.getexif()
    assert "exif" not in out.info and "icc_profile" not in out.info
    assert b"Exif\x00\x00" not in clean.data and b"SpyCam" not in clean.data
    assert (clean.width, clean.height) == (40, 20)


def test_jpeg_orientation_is_applied_before_stripping() -> None:
    """An EXIF orientation of 6 (rotate 90°) is applied to the pixels, so the photo stays upright."""
    clean = validate_image(_jpeg_with_gps((40, 20), orientation=6), field="photo", max_bytes=LIMIT)
    assert (clean.width, clean.height) == (20, 40)
    assert not Image.open(io.BytesIO(clean.data)).getexif()


def test_png_text_icc_and_exif_chunks_are_stripped() -> None:
    """A PNG's tEXt/iTXt/zTXt, iCCP and eXIf chunks are dropped; pixels and alpha are kept."""
    img = Image.new("RGBA", (16, 8), (0, 128, 255, 100))
    info = PngInfo()
    info.add_text("Comment", "home address: 1 Secret Lane")
    info.add_text("Author", "someone", zip=True)
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>gps</x:xmpmeta>")
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    out = io.BytesIO()
    img.save(out, "PNG", pnginfo=info, icc_profile=b"fake-icc" * 8, exif=exif)
    raw = out.getvalue()
    assert {b"tEXt", b"zTXt", b"iTXt", b"iCCP", b"eXIf"} <= set(_png_chunks(raw))
    clean = validate_image(raw, field="signature", max_bytes=LIMIT)
    assert clean.content_type == "image/png"
    chunks = set(_png_chunks(clean.data))
    assert not chunks & {b"tEXt", b"zTXt", b"iTXt", b"iCCP", b"eXIf"}, chunks
    result = Image.open(io.BytesIO(clean.data))
    assert result.mode == "RGBA" and result.getpixel((3, 3)) == (0, 128, 255, 100)
    assert b"Secret Lane" not in clean.data


def test_webp_is_accepted_and_stripped() -> None:
    """A WebP photo stays a WebP, with its size, and loses its EXIF and XMP chunks."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    out = io.BytesIO()
    Image.new("RGB", (30, 10), (10, 200, 10)).save(
        out, "WEBP", exif=exif, xmp=b"<x:xmpmeta>gps</x:xmpmeta>"
    )
    raw = out.getvalue()
    assert b"EXIF" in raw
    clean = validate_image(raw, field="photos[1]", max_bytes=LIMIT)
    assert clean.content_type == "image/webp" and clean.extension == "webp"
    assert (clean.width, clean.height) == (30, 10)
    assert b"EXIF" not in clean.data and b"XMP " not in clean.data
    assert Image.open(io.BytesIO(clean.data)).format == "WEBP"


def test_pdf_named_as_photo_is_422_naming_the_field() -> None:
    """A PDF (whatever its file name) is a 422 naming the field, code unsupported_type."""
    with pytest.raises(ValidationFailed) as exc:
        validate_image(
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
            field="photos[0]",
            max_bytes=LIMIT,
        )
    assert exc.value.status == 422
    [err] = exc.value.errors
    assert err.field == "photos[0]" and err.code == "unsupported_type"
    assert "PDF" in err.message


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"",
        b"\x00" * 64,
    ],
)
def test_other_content_is_422(data: bytes) -> None:
    """GIF, SVG, empty and random bytes are refused with a 422 naming the field."""
    with pytest.raises(ValidationFailed) as exc:
        validate_image(data, field="photo", max_bytes=LIMIT)
    assert exc.value.errors[0].field == "photo"


def test_truncated_jpeg_is_422() -> None:
    """A JPEG cut in half (valid header, missing data) is a 422, not a 500 or a half image."""
    out = io.BytesIO()
    Image.effect_noise((256, 256), 64).convert("RGB").save(out, "JPEG", quality=95)
    raw = out.getvalue()
    with pytest.raises(ValidationFailed) as exc:
        validate_image(raw[: len(raw) // 2], field="photos[2]", max_bytes=LIMIT)
    assert exc.value.errors[0].field == "photos[2]"


def test_damaged_png_is_422() -> None:
    """A PNG whose compressed data is garbage is a 422."""
    with pytest.raises(ValidationFailed):
        validate_image(_png(64, 64, idat=b"not zlib at all"), field="photo", max_bytes=LIMIT)


def test_30_mb_input_is_413_naming_the_field() -> None:
    """A 30 MB upload is refused with 413 naming the field, before any decoding."""
    data = b"\xff\xd8\xff\xe0" + b"\x00" * (30 * 1000 * 1000)
    with pytest.raises(PayloadTooLarge) as exc:
        validate_image(data, field="photos[0]", max_bytes=LIMIT)
    assert exc.value.status == 413
    [err] = exc.value.errors
    assert err.field == "photos[0]" and err.code == "too_large"


def test_decompression_bomb_is_422() -> None:
    """A tiny PNG announcing 100000 x 100000 pixels is refused with a 422 without being decoded."""
    bomb = _png(100_000, 100_000)
    assert len(bomb) < 1000
    with pytest.raises(ValidationFailed) as exc:
        validate_image(bomb, field="photo", max_bytes=LIMIT)
    assert exc.value.errors[0].code == "too_many_pixels"


def test_pixel_cap_is_just_above_phone_photos() -> None:
    """An image one row over MAX_PIXELS is refused while 48 MP passes the pixel check."""
    width = 10_000
    with pytest.raises(ValidationFailed) as exc:
        validate_image(_png(width, MAX_PIXELS // width + 1), field="photo", max_bytes=LIMIT)
    assert exc.value.errors[0].code == "too_many_pixels"
    assert MAX_PIXELS >= 8000 * 6000
