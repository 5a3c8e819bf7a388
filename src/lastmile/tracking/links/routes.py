"""The recipient's tracking link: `GET /t/{token}` (the page) and
`GET /v1/tracking-links/{link_token}` (the JSON it polls). No credentials: the token is the
permission. Every request counts against a per-client-address rate limit, so guessing tokens is
throttled; a wrong, malformed or expired token gets one and the same 404."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session
from lastmile.api.problems import PROBLEM, Problem
from lastmile.api.routing import LastmileRoute
from lastmile.core.errors import RateLimited
from lastmile.tracking.links import page, service
from lastmile.tracking.links.schemas import TrackingLinkRead

REQUESTS = Counter(
    "lastmile_tracking_link_requests_total",
    "Tracking-link requests (page and JSON) by outcome: found, not_found, rate_limited.",
    ["outcome"],
)
Session = Annotated[AsyncSession, Depends(get_session)]
PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
# One body for every unknown, malformed or expired token: nothing tells them apart.
GONE: dict[str, Any] = {
    "type": "/problems/not-found",
    "title": "Not found",
    "status": 404,
    "detail": page.NOT_FOUND_TEXT,
    "errors": [],
}


async def throttle(request: Request) -> None:
    """The per-client-address token bucket of tracking links (429 with Retry-After)."""
    ip = request.client.host if request.client else "unknown"
    s = request.app.state.settings
    decision = await request.app.state.limiter.hit(
        f"tracking-link:{ip}", s.tracking_link_rate_per_second, s.tracking_link_burst
    )
    if not decision.allowed:
        REQUESTS.labels("rate_limited").inc()
        raise RateLimited("too many tracking link requests", headers=decision.headers())


def _rules(request: Request) -> service.LinkRules:
    s = request.app.state.settings
    return service.LinkRules(
        ttl=timedelta(seconds=s.tracking_link_ttl_seconds),
        eta_margin=timedelta(minutes=s.tracking_link_eta_margin_minutes),
    )


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {PROBLEM: {}}}


# Not make_router(): no credentials here, so only the problems this endpoint can answer.
router = APIRouter(
    route_class=LastmileRoute,
    tags=["tracking links"],
    dependencies=[Depends(throttle)],
    responses={
        400: _problem("Malformed request (NUL bytes)."),
        404: _problem("Unknown, malformed or expired link: one answer for all."),
        422: _problem("Invalid input (FastAPI's default; a token is never refused as such)."),
        429: _problem("Too many requests from this address; see `Retry-After`."),
    },
)


@router.get(
    "/v1/tracking-links/{link_token}",
    response_model=TrackingLinkRead,
    summary="A drop-off as its recipient sees it",
)
async def read_tracking_link(
    link_token: Annotated[
        str,
        Path(description="The token of a drop-off's `tracking_url` (`…/t/<token>`)."),
    ],
    request: Request,
    session: Session,
) -> Response:
    """What a drop-off's recipient may see: status, ETA window, the driver's first name and
    vehicle type, the driver's position while this delivery is under way, and a proof summary
    once delivered; nothing else. No credentials: the token is the permission. The link expires
    `LASTMILE_TRACKING_LINK_TTL_SECONDS` after the delivery ends; rate-limited per client
    address."""
    view = await service.read(session=session, token=link_token, rules=_rules(request))
    if view is None:
        REQUESTS.labels("not_found").inc()
        return JSONResponse(GONE, status_code=404, media_type=PROBLEM, headers=PRIVATE)
    REQUESTS.labels("found").inc()
    return JSONResponse(view.model_dump(mode="json"), headers=PRIVATE)


@router.get("/t/{token}", include_in_schema=False, response_class=HTMLResponse)
async def tracking_page(token: str, request: Request, session: Session) -> Response:
    """The recipient's page of a drop-off."""
    headers = {**PRIVATE, "Content-Security-Policy": page.CSP}
    view = await service.read(session=session, token=token, rules=_rules(request))
    if view is None:
        REQUESTS.labels("not_found").inc()
        return HTMLResponse(page.NOT_FOUND_PAGE, status_code=404, headers=headers)
    REQUESTS.labels("found").inc()
    source = f"/v1/tracking-links/{token}"
    return HTMLResponse(page.render(view, source=source), headers=headers)
