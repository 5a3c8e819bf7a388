"""Travel-time matrices for a tenant, and the tenant's routing settings.

The route planner calls `matrix_for`; the API calls `get_routing_settings` and
`put_routing_settings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import keystore
from lastmile.core.config import get_settings
from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.tenancy import TenantContext, owned, scoped
from lastmile.fleet.enums import VehicleType
from lastmile.routing.matrix import cache as matrix_cache
from lastmile.routing.matrix.base import (
    MISCONFIGURED,
    STABLE_REASONS,
    Matrix,
    Point,
    TableSource,
    check_points,
)
from lastmile.routing.matrix.google import GoogleRouteMatrix
from lastmile.routing.matrix.models import RoutingSettings
from lastmile.routing.matrix.offline import (
    DEFAULT_DETOUR_FACTOR,
    DEFAULT_SPEEDS_KMH,
    OfflineProvider,
)
from lastmile.routing.matrix.osrm import OsrmTable
from lastmile.routing.matrix.remote import RemoteProvider, record_fallback
from lastmile.routing.matrix.schemas import RoutingSettingsUpdate

__all__ = [
    "effective_speeds",
    "get_routing_settings",
    "matrix_for",
    "put_routing_settings",
]

_memory = matrix_cache.MatrixCache()


# -- settings --------------------------------------------------------------------------------


async def _settings(*, session: AsyncSession, tenant: TenantContext) -> RoutingSettings | None:
    return (await session.execute(scoped(RoutingSettings, tenant))).scalar_one_or_none()


async def get_routing_settings(*, session: AsyncSession, tenant: TenantContext) -> RoutingSettings:
    """The tenant's routing settings (the offline defaults when never set; not stored)."""
    found = await _settings(session=session, tenant=tenant)
    if found is None:
        return owned(
            RoutingSettings(
                id="", provider="offline", detour_factor=DEFAULT_DETOUR_FACTOR, speeds_kmh={}
            ),
            tenant,
        )
    return found


def effective_speeds(*, settings: RoutingSettings) -> dict[VehicleType, float]:
    """The km/h the offline estimate uses per vehicle type: the tenant's, else the default."""
    own = settings.speeds_kmh or {}
    return {
        vt: float(own.get(vt.value, DEFAULT_SPEEDS_KMH[vt]))
        for vt in VehicleType
        if vt in DEFAULT_SPEEDS_KMH
    }


def _check_base_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise ValidationFailed(
            "invalid base_url", [FieldError("body.base_url", "not a valid URL (host or port)")]
        ) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValidationFailed(
            "invalid base_url",
            [FieldError("body.base_url", "an http or https URL without query or fragment")],
        )


async def put_routing_settings(
    *, session: AsyncSession, tenant: TenantContext, data: RoutingSettingsUpdate
) -> RoutingSettings:
    """Set the tenant's provider and offline parameters; the API key is stored encrypted and
    kept when not sent. osrm needs a base_url, google an API key (422 naming the field)."""
    if data.base_url is not None:
        _check_base_url(data.base_url)
    if data.provider == "osrm" and data.base_url is None:
        raise ValidationFailed(
            "osrm needs a base_url",
            [FieldError("body.base_url", "required for osrm (the OSRM server's URL)")],
        )
    found = await _settings(session=session, tenant=tenant)
    if found is None:
        found = owned(RoutingSettings(id=new_id("rts")), tenant)
        session.add(found)
    found.provider = data.provider
    found.detour_factor = data.detour_factor
    found.speeds_kmh = {vt.value: speed for vt, speed in sorted(data.speeds_kmh.items())}
    if data.provider == "offline":
        found.base_url = None
        found.api_key_encrypted = None
    else:
        found.base_url = data.base_url
        if "api_key" in data.model_fields_set:
            found.api_key_encrypted = (
                keystore.encrypt(
                    data.api_key, secret_key=get_settings().secret_key, purpose=keystore.ROUTING
                )
                if data.api_key is not None
                else None
            )
    if found.provider == "google" and not found.api_key_encrypted:
        raise ValidationFailed(
            "google needs an API key", [FieldError("body.api_key", "required for google")]
        )
    await session.flush()
    return found


# -- matrices --------------------------------------------------------------------------------


def _offline(settings: RoutingSettings | None) -> OfflineProvider:
    if settings is None:
        return OfflineProvider()
    return OfflineProvider(
        detour_factor=settings.detour_factor, speeds_kmh=effective_speeds(settings=settings)
    )


def _source(settings: RoutingSettings) -> TableSource | None:
    """The remote adapter of the settings; None when its API key cannot be read."""
    if settings.provider == "osrm" and settings.base_url:
        return OsrmTable(base_url=settings.base_url)
    if settings.provider == "google" and settings.api_key_encrypted:
        key = keystore.decrypt(
            settings.api_key_encrypted,
            secret_key=get_settings().secret_key,
            purpose=keystore.ROUTING,
        )
        if key is not None:
            return GoogleRouteMatrix(api_key=key, base_url=settings.base_url)
    return None


def _redis() -> matrix_cache.RedisMatrixStore | None:
    url = get_settings().redis_url
    return matrix_cache.RedisMatrixStore(url) if url else None


def _estimated(offline: OfflineProvider, points: Sequence[Point], profile: VehicleType) -> Matrix:
    """The offline matrix, marked as standing in for a misconfigured provider."""
    m = offline.compute(points, profile)
    n = len(m)
    return Matrix(
        m.durations,
        m.distances,
        m.provider,
        fallback_cells=n * n - n,
        fallback_reasons=frozenset({MISCONFIGURED}),
    )


async def matrix_for(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    points: Sequence[Point],
    profile: VehicleType | str,
) -> Matrix:
    """Travel durations (s) and distances (m) between every pair of (lat, lng) `points` for the
    vehicle type `profile`, from the tenant's provider.

    Always answers: a remote provider's errors, timeouts, quota answers and unreachable pairs
    are filled in by the offline estimate (see `Matrix.fallback_cells`), logged and counted.
    Remote answers are cached (in process, and in Redis when configured) for 24 hours.
    Raises ValueError for an unknown profile or coordinates outside WGS 84 ranges.
    """
    vehicle = VehicleType(profile)
    check_points(points)
    settings = await _settings(session=session, tenant=tenant)
    offline = _offline(settings)
    if settings is None or settings.provider == "offline" or len(points) < 2:
        return offline.compute(points, vehicle)
    source = _source(settings)
    if source is None:
        n = len(points)
        record_fallback(
            provider=settings.provider,
            reason=MISCONFIGURED,
            detail="the stored API key cannot be read (was LASTMILE_SECRET_KEY changed?); "
            "set it again with PUT /v1/routing-settings",
            cells=n * n - n,
            points=n,
            profile=vehicle.value,
        )
        return _estimated(offline, points, vehicle)
    distinct, where = matrix_cache.canonical(points)
    # The configuration's version is part of the key: a new provider, URL, key or speed asks
    # afresh. The key itself never goes in (only the row's id and update time).
    key = matrix_cache.key_for(
        (
            tenant.tenant_id,
            settings.id,
            settings.updated_at.isoformat(),
            settings.provider,
            settings.base_url or "",
            vehicle.value,
        ),
        distinct,
    )
    found = _memory.get(key)
    if found is not None:
        matrix_cache.LOOKUPS.labels(result="memory").inc()
        return matrix_cache.expand(found, where)
    shared = _redis()
    if shared is not None:
        found = await shared.get(key)
        if found is not None and len(found) == len(distinct):
            matrix_cache.LOOKUPS.labels(result="redis").inc()
            _memory.put(key, found)
            return matrix_cache.expand(found, where)
    matrix_cache.LOOKUPS.labels(result="miss").inc()
    found = await RemoteProvider(source, offline).matrix(distinct, vehicle)
    if found.fallback_reasons <= STABLE_REASONS:  # never keep an outage's estimate
        _memory.put(key, found)
        if shared is not None:
            await shared.put(key, found)
    return matrix_cache.expand(found, where)
