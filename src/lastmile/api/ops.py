"""Operational endpoints: liveness, readiness, Prometheus metrics, offline API docs."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from lastmile.api.problems import problem_response
from lastmile.migrations import runner

router = APIRouter()


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: str


@router.get("/healthz", response_model=Health, tags=["ops"])
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    tags=["ops"],
    responses={503: {"model": Readiness, "description": "Not ready."}},
)
async def readyz(request: Request) -> JSONResponse:
    """The database answers and its schema is at the code's migration head."""
    engine = request.app.state.engine
    db, mig = "ok", "unknown"
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
            rev = (await conn.execute(text("select version_num from alembic_version"))).scalar()
        mig = "current" if rev == runner.head() else f"behind ({rev} != {runner.head()})"
    except Exception as exc:  # readiness reports, it does not raise
        db = f"error: {type(exc).__name__}"
    ok = db == "ok" and mig == "current"
    body = Readiness(status="ok" if ok else "unavailable", database=db, migrations=mig)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def swagger_dir(configured: str | None) -> Path:
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "node_modules" / "swagger-ui-dist"


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> Response:
    if not (request.app.state.swagger_dir / "swagger-ui-bundle.js").exists():
        return problem_response(
            request,
            503,
            "docs-assets-missing",
            "API docs assets missing",
            "run `make install` to fetch swagger-ui-dist from npm",
        )
    html: HTMLResponse = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="lastmile API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
    )
    return html
