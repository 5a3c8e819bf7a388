"""`GET /v1/files/{token}`: stored files, served only through short-lived signed URLs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request, Response

from lastmile.api.routing import make_router
from lastmile.core import clock
from lastmile.core.errors import NotFound
from lastmile.storage import (
    ObjectNotFound,
    Storage,
    StorageError,
    StorageUnavailable,
    storage_for,
)
from lastmile.storage.signing import verify_token

router = make_router(prefix="/v1")

Token = Annotated[
    str,
    Path(
        min_length=16,
        max_length=2048,
        pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
        description="The signed token of a URL handed out by the API (e.g. a proof's `url`).",
    ),
]
_IMAGE = {"schema": {"type": "string", "format": "binary"}}


def get_storage(request: Request) -> Storage:
    """The app's storage adapter (a FastAPI dependency for routes that store files)."""
    return storage_for(request.app.state.settings)


class FileNotFound(NotFound):
    title = "File not found"


@router.get(
    "/files/{token}",
    tags=["files"],
    response_class=Response,
    responses={
        200: {
            "description": "The file, with its stored content type.",
            "content": {"image/jpeg": _IMAGE, "image/png": _IMAGE, "image/webp": _IMAGE},
        }
    },
)
async def get_file(token: Token, request: Request) -> Response:
    """A stored file behind a signed URL; no credentials needed, the URL is the permission.

    Expired, tampered or unknown tokens are a 404 (never a 403), so nothing is confirmed.
    """
    grant = verify_token(token)
    if grant is None:
        raise FileNotFound("no such file, or the link has expired")
    try:
        data, content_type = await get_storage(request).get(grant.storage_key)
    except ObjectNotFound:
        raise FileNotFound("no such file, or the link has expired") from None
    except StorageError as exc:
        raise StorageUnavailable("the file storage did not answer; retry later") from exc
    max_age = max(0, int((grant.expires_at - clock.now()).total_seconds()))
    return Response(
        content=data,
        media_type=content_type,
        headers={
            "Cache-Control": f"private, max-age={max_age}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Content-Disposition": "inline",
        },
    )
