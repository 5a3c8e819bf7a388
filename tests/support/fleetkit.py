"""Build a small fleet through the API: a team, a driver (with login), a dispatcher, a zone."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tests.support.factories import PASSWORD, TenantHandle

BERLIN = (52.52, 13.405)


@dataclass
class Crew:
    team_id: str
    driver_id: str
    driver_token: str
    dispatcher_token: str
    zone_id: str


def square(lat: float, lng: float, d: float = 0.05) -> dict[str, Any]:
    ring = [
        [lng - d, lat - d],
        [lng + d, lat - d],
        [lng + d, lat + d],
        [lng - d, lat + d],
        [lng - d, lat - d],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def ok(r: Any, status: int = 201) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def driver(t: TenantHandle, team_id: str, **fields: Any) -> tuple[str, str]:
    """A driver of the team; returns (driver id, access token)."""
    user = t.user("driver")
    d = ok(t.post("/v1/drivers", json={"user_id": user["id"], "team_ids": [team_id], **fields}))
    return str(d["id"]), str(t.login(user["email"])["access_token"])


def crew(t: TenantHandle, lat: float = BERLIN[0], lng: float = BERLIN[1]) -> Crew:
    team = ok(t.post("/v1/teams", json={"name": f"Team {secrets.token_hex(3)}"}))
    driver_id, driver_token = driver(t, team["id"], skills=["cold_chain"])
    disp = t.user("dispatcher")
    ok(
        t.client.put(
            f"/v1/teams/{team['id']}/dispatchers",
            json={"user_ids": [disp["id"]]},
            headers=t.headers(),
        ),
        200,
    )
    zone = ok(
        t.post(
            "/v1/zones",
            json={
                "name": f"Z {secrets.token_hex(3)}",
                "geometry": square(lat, lng),
                "team_ids": [team["id"]],
            },
        )
    )
    return Crew(
        team["id"],
        driver_id,
        driver_token,
        t.login(disp["email"], PASSWORD)["access_token"],
        zone["id"],
    )


def image(fmt: str = "JPEG", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, fmt)
    return buf.getvalue()
