"""The route class every endpoint uses: one unit of work per request, committed on success."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from lastmile.api.deps import ReplayResponse, principal
from lastmile.api.params import QueryRules
from lastmile.api.problems import PROBLEM, Problem
from lastmile.core import idempotency
from lastmile.core.errors import DomainError, ValidationFailed
from lastmile.core.uow import UnitOfWork

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_KEEP_HEADERS = ("content-type", "location")


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {PROBLEM: {}}}


COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("Malformed request (bad JSON, NUL bytes, invalid header)."),
    401: _problem("Missing or invalid credentials."),
    403: _problem("The caller's role or scopes do not allow this."),
    404: _problem("No such object in the caller's tenant."),
    413: _problem("Request body too large."),
    422: _problem("Invalid input; `errors` names each field."),
    429: _problem("Rate limit exceeded; see `Retry-After`."),
}
CREATE_ERRORS: dict[int | str, dict[str, Any]] = {
    409: _problem("Conflict, or a request with the same Idempotency-Key is in progress."),
}


class LastmileRoute(APIRoute):
    """Runs the endpoint inside a unit of work; commits 2xx/3xx, rolls back everything else."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        rules = QueryRules.of(self.dependant, principal)

        async def run(request: Request) -> Response:
            bad_query = rules.problems(request.query_params)
            if bad_query and not rules.authenticated:
                raise ValidationFailed("invalid query parameters", bad_query)
            # Authenticated operations report them once the caller is known (401 comes first).
            request.state.query_problems = bad_query
            app_state = request.app.state
            maker = app_state.sessions_ro if request.method in _READS else app_state.sessions
            async with UnitOfWork(maker) as uow:
                request.state.uow = uow
                try:
                    response = await handler(request)
                except ReplayResponse as replay:
                    return _replayed(replay.replay)
                except DomainError as exc:
                    if exc.commit_changes:
                        await uow.commit()
                    await _release(request, uow)
                    raise
                except BaseException:
                    await _release(request, uow)
                    raise
                if response.status_code >= 400:
                    await _release(request, uow)
                    return response
                record = getattr(request.state, "idempotency", None)
                if record is not None:
                    await idempotency.complete(
                        session=uow.session,
                        record=record,
                        status_code=response.status_code,
                        headers={k: v for k, v in response.headers.items() if k in _KEEP_HEADERS},
                        body=bytes(response.body),
                    )
                await uow.commit()
            for name, value in (getattr(request.state, "ratelimit_headers", None) or {}).items():
                response.headers[name] = value
            return response

        return run


async def _release(request: Request, uow: UnitOfWork) -> None:
    record = getattr(request.state, "idempotency", None)
    tenant = getattr(request.state, "tenant", None)
    if record is None or tenant is None:
        return
    record_id = record.id  # read before the rollback expires the object
    await uow.rollback()
    await idempotency.release(session=uow.session, tenant=tenant, record_id=record_id)
    await uow.commit()


def _replayed(replay: idempotency.Replay) -> Response:
    headers = dict(replay.headers)
    headers["Idempotent-Replayed"] = "true"
    media = headers.pop("content-type", "application/json")
    return Response(replay.body, status_code=replay.status_code, headers=headers, media_type=media)


async def commit_now(request: Request) -> None:
    """Commit what the request has done so far: for an endpoint that then awaits a job which
    reads it from sessions of its own. The rest of the request commits as usual."""
    uow: UnitOfWork = request.state.uow
    await uow.commit()


def make_router(**kwargs: Any) -> APIRouter:
    """An APIRouter using `LastmileRoute` and documenting the common problem responses."""
    responses = {**COMMON_ERRORS, **kwargs.pop("responses", {})}
    return APIRouter(route_class=LastmileRoute, responses=responses, **kwargs)
