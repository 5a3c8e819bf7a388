"""RFC 9457 problem+json responses and the one place errors are mapped to them."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from lastmile.core.errors import DomainError

PROBLEM = "application/problem+json"
log = structlog.get_logger("lastmile.api")


class ProblemField(BaseModel):
    field: str = Field(examples=["body.name"])
    message: str
    code: str = "invalid"


class Problem(BaseModel):
    """An RFC 9457 problem with the fields that went wrong."""

    type: str = Field(examples=["/problems/validation-error"])
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    request_id: str | None = None
    errors: list[ProblemField] = Field(default_factory=list)


def problem_response(
    request: Request | None,
    status: int,
    code: str,
    title: str,
    detail: str = "",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }
    hdrs = dict(headers or {})
    if request is not None:
        body["instance"] = request.url.path
        rid = getattr(request.state, "request_id", None)
        if rid:
            body["request_id"] = rid
        hdrs.update(getattr(request.state, "ratelimit_headers", None) or {})
    return JSONResponse(body, status_code=status, headers=hdrs, media_type=PROBLEM)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_response(
        request,
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        [e.as_dict() for e in exc.errors],
        exc.headers,
    )


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    malformed = False
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            malformed = True
        loc = list(err.get("loc", ()))
        errors.append(
            {
                "field": _loc(loc),
                "message": str(err.get("msg", "")),
                "code": str(err.get("type", "invalid")),
            }
        )
    if malformed:
        return problem_response(
            request,
            400,
            "malformed-json",
            "Malformed JSON",
            "the request body is not valid JSON",
            errors,
        )
    return problem_response(
        request,
        422,
        "validation-error",
        "Invalid input",
        f"{len(errors)} field(s) are invalid",
        errors,
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {
        404: "not-found",
        405: "method-not-allowed",
        413: "payload-too-large",
        415: "unsupported-media-type",
    }.get(exc.status_code, f"http-{exc.status_code}")
    title = {
        404: "Not found",
        405: "Method not allowed",
        413: "Payload too large",
    }.get(exc.status_code, "HTTP error")
    detail = exc.detail if isinstance(exc.detail, str) else ""
    return problem_response(
        request, exc.status_code, code, title, detail, None, dict(exc.headers or {})
    )


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    """The 500 problem for an error nothing else handled (logged with its traceback)."""
    log.error("unhandled_error", exc_info=exc, path=request.url.path)
    response = problem_response(
        request,
        500,
        "internal-error",
        "Internal error",
        "an unexpected error occurred; it has been logged",
    )
    # Unhandled errors are answered outside the request middleware: tag them here.
    rid = getattr(request.state, "request_id", None)
    if rid:
        response.headers["x-request-id"] = rid
    return response


def install(app: FastAPI) -> None:
    """Map every error to problem+json."""
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, unexpected)
