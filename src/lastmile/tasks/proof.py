"""Proof-of-delivery images: checked by content, stripped of metadata, stored, signed.

Used by the `complete` action (photos and signature) and by incident photos. The order
matters for "nothing half-stored": validate every image and every other requirement first,
then call `store_proof` last, inside the request's unit of work.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

from anyio import to_thread
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.errors import FieldError, PayloadTooLarge, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.tenancy import TenantContext, owned, scoped
from lastmile.storage import Storage, StorageError, StorageUnavailable
from lastmile.storage.signing import signed_url
from lastmile.tasks.models import ProofFile

__all__ = [
    "ACCEPTED_TYPES",
    "MAX_PIXELS",
    "CleanImage",
    "ImageTooLarge",
    "InvalidImage",
    "StorageUnavailable",
    "list_proofs",
    "proof_view",
    "read_upload",
    "store_proof",
    "validate_image",
    "validate_image_async",
]

# Largest image decoded, in pixels (a 200-megapixel phone photo is refused; 48 MP is fine).
MAX_PIXELS = 50_000_000
ACCEPTED_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_PIL_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
PROOF_KINDS = ("photo", "signature")


class ImageTooLarge(PayloadTooLarge):
    code, title = "image-too-large", "Image too large"


class InvalidImage(ValidationFailed):
    code, title = "invalid-image", "Invalid image"


@dataclass(frozen=True)
class CleanImage:
    """An image re-encoded from its pixels alone: no EXIF, XMP, ICC, GPS or text chunks."""

    content_type: str
    data: bytes
    width: int
    height: int

    @property
    def extension(self) -> str:
        return ACCEPTED_TYPES[self.content_type]


def sniff(data: bytes) -> str | None:
    """The image type the leading bytes announce (JPEG, PNG, WebP), else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _describe(data: bytes) -> str:
    if data[:5] == b"%PDF-":
        return "a PDF document"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "a GIF image"
    if data[:2] in (b"II", b"MM") and data[2:4] in (b"*\x00", b"\x00*"):
        return "a TIFF image"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "a HEIC/AVIF image"
    return "not a JPEG, PNG or WebP image"


def _invalid(field: str, message: str, code: str = "invalid_image") -> InvalidImage:
    return InvalidImage(f"{field}: {message}", [FieldError(field, message, code)])


def _too_large(field: str, size: int, max_bytes: int) -> ImageTooLarge:
    message = f"the file is {size} bytes; at most {max_bytes} bytes are accepted"
    return ImageTooLarge(f"{field}: {message}", [FieldError(field, message, "too_large")])


def validate_image(data: bytes, *, field: str, max_bytes: int) -> CleanImage:
    """A JPEG, PNG or WebP image checked by its content and re-encoded without metadata.

    413 (naming `field`) over `max_bytes`; 422 (naming `field`) for anything that is not a
    whole, decodable JPEG/PNG/WebP of at most MAX_PIXELS pixels, whatever its file name says.
    The EXIF orientation is applied to the pixels before the metadata is dropped.
    """
    if len(data) > max_bytes:
        raise _too_large(field, len(data), max_bytes)
    if not data:
        raise _invalid(field, "the file is empty")
    content_type = sniff(data)
    if content_type is None:
        raise _invalid(
            field, f"{_describe(data)}; only JPEG, PNG and WebP are accepted", "unsupported_type"
        )
    fmt = _PIL_FORMAT[content_type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as probe:
                width, height = probe.size
                if width * height > MAX_PIXELS or width <= 0 or height <= 0:
                    raise _invalid(
                        field,
                        f"{width}x{height} pixels; at most {MAX_PIXELS} pixels are accepted",
                        "too_many_pixels",
                    )
                probe.verify()
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                img.load()
                clean = _strip(img, content_type)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _invalid(field, "the image has too many pixels", "too_many_pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _invalid(
            field, f"the {fmt} image is damaged or truncated ({type(exc).__name__})"
        ) from None
    out = io.BytesIO()
    _save(clean, out, content_type)
    return CleanImage(content_type, out.getvalue(), clean.width, clean.height)


async def validate_image_async(data: bytes, *, field: str, max_bytes: int) -> CleanImage:
    """`validate_image` in a worker thread, so decoding never blocks the event loop."""
    return await to_thread.run_sync(lambda: validate_image(data, field=field, max_bytes=max_bytes))


def _strip(img: Image.Image, content_type: str) -> Image.Image:
    """The pixels alone, oriented as EXIF said, in a mode the format can write."""
    try:
        oriented = ImageOps.exif_transpose(img) or img
    except (ValueError, TypeError, KeyError, SyntaxError):
        oriented = img  # unreadable EXIF: keep the pixels as stored
    if content_type == "image/jpeg":
        mode = "L" if oriented.mode in ("L", "1") else "RGB"
    else:
        has_alpha = oriented.mode in ("RGBA", "LA", "PA") or "transparency" in oriented.info
        mode = "RGBA" if has_alpha else ("L" if oriented.mode in ("L", "1") else "RGB")
    clean = oriented.convert(mode)
    clean.info = {}  # ICC profile, text chunks, XMP, EXIF: gone
    return clean


def _save(img: Image.Image, out: io.BytesIO, content_type: str) -> None:
    if content_type == "image/jpeg":
        img.save(out, "JPEG", quality=90)
    elif content_type == "image/png":
        img.save(out, "PNG")
    else:
        img.save(out, "WEBP", quality=90)


class _Readable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


async def read_upload(upload: _Readable, *, field: str, max_bytes: int) -> bytes:
    """The bytes of an uploaded file, reading at most one byte past `max_bytes` (then 413)."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(field, len(data), max_bytes)
    return data


def proof_key(*, tenant_id: str, task_id: str, proof_id: str, extension: str) -> str:
    return f"{tenant_id}/proofs/{task_id}/{proof_id}.{extension}"


async def store_proof(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    storage: Storage,
    task_id: str,
    kind: str,
    image: CleanImage,
) -> ProofFile:
    """Put a validated image in storage and record it as a proof of the task."""
    if kind not in PROOF_KINDS:
        raise ValueError(f"proof kind must be one of {PROOF_KINDS}, not {kind!r}")
    proof_id = new_id("prf")
    key = proof_key(
        tenant_id=tenant.tenant_id, task_id=task_id, proof_id=proof_id, extension=image.extension
    )
    try:
        await storage.put(key, image.data, image.content_type)
    except StorageError as exc:
        raise StorageUnavailable("the image could not be stored; retry later") from exc
    row = owned(
        ProofFile(
            id=proof_id,
            task_id=task_id,
            kind=kind,
            storage_key=key,
            content_type=image.content_type,
            size=len(image.data),
            sha256=hashlib.sha256(image.data).hexdigest(),
        ),
        tenant,
    )
    session.add(row)
    await session.flush()
    return row


async def list_proofs(
    *, session: AsyncSession, tenant: TenantContext, task_id: str
) -> list[ProofFile]:
    """The task's stored proofs, oldest first."""
    stmt = (
        scoped(ProofFile, tenant)
        .where(ProofFile.task_id == task_id)
        .order_by(ProofFile.created_at, ProofFile.id)
    )
    return list((await session.execute(stmt)).scalars().all())


def proof_view(proof: ProofFile, *, ttl: int | None = None) -> dict[str, Any]:
    """A proof as the API shows it, with a fresh signed URL and the URL's expiry."""
    url, expires = signed_url(
        tenant_id=proof.tenant_id,
        storage_key=proof.storage_key,
        content_type=proof.content_type,
        ttl=ttl,
    )
    return {
        "id": proof.id,
        "kind": proof.kind,
        "content_type": proof.content_type,
        "size": proof.size,
        "sha256": proof.sha256,
        "created_at": proof.created_at,
        "url": url,
        "url_expires_at": expires,
    }
