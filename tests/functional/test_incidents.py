"""Incidents over HTTP: reporting, visibility, filters, photos, resolution, bad input."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import ExifTags, Image

from lastmile.api.app import create_app
from lastmile.core.metrics import POOLS
from tests.conftest import settings_for
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle
from tests.support.objects_fleet import make_driver
from tests.support.objects_incidents import make_incident
from tests.support.objects_tasks import make_task
from tests.support.server import LiveServer

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server(database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own: drivers sign in more often than the per-IP limit allows, and
    photos go to a throwaway storage directory."""
    previous = POOLS.pools.get("main")
    settings = settings_for(
        database,
        login_rate_per_second=1000.0,
        login_burst=1000,
        storage_dir=str(tmp_path_factory.mktemp("storage")),
    )
    live = LiveServer(create_app(settings))
    url = live.start()
    try:
        yield url
    finally:
        live.stop()
        if previous is not None:
            POOLS.pools["main"] = previous


def _jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (180, 40, 40)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 255)).save(out, "PNG")
    return out.getvalue()


def _upload(
    t: TenantHandle, incident_id: str, data: bytes, key: str | None = None, name: str = "p.jpg"
) -> Any:
    return t.post(
        f"/v1/incidents/{incident_id}/photo",
        key=key,
        files={"photo": (name, io.BytesIO(data), "image/jpeg")},
    )


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    return dict(r.json())


def _fields(r: Any) -> set[str]:
    return {e["field"] for e in r.json()["errors"]}


def _ids(t: TenantHandle, key: str | None = None, **params: Any) -> list[str]:
    r = t.get("/v1/incidents", key=key, params=params)
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["data"]]


def _driver_token(t: TenantHandle, driver: dict[str, Any]) -> str:
    return str(t.login(driver["user"]["email"])["access_token"])


@pytest.fixture
def setup(tenant: TenantHandle) -> dict[str, Any]:
    """Two drivers of one team, each with an assigned task."""
    team = tenant.post("/v1/teams", json={"name": f"T {secrets.token_hex(3)}"}).json()
    d1, d2 = make_driver(tenant, [team["id"]]), make_driver(tenant, [team["id"]])
    t1 = make_task(tenant, team_id=team["id"])
    t2 = make_task(tenant, team_id=team["id"])
    for task, driver in ((t1, d1), (t2, d2)):
        r = tenant.post(f"/v1/tasks/{task}/assign", json={"driver_id": driver["id"]})
        assert r.status_code == 200, r.text
    return {"team": team, "d1": d1, "d2": d2, "t1": t1, "t2": t2, "tok1": _driver_token(tenant, d1)}


def test_dispatcher_reports_on_a_task_and_the_tasks_driver_is_linked(
    tenant: TenantHandle, setup: dict[str, Any]
) -> None:
    """A report naming only a task is open, keeps notes and location, and links the task's driver."""
    body = {
        "type": "damaged_goods",
        "task_id": setup["t1"],
        "notes": "Box crushed",
        "location": {"lat": 52.52, "lng": 13.405},
    }
    r = tenant.post("/v1/incidents", json=body)
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["id"].startswith("inc_")
    assert (inc["type"], inc["status"], inc["task_id"]) == ("damaged_goods", "open", setup["t1"])
    assert inc["driver_id"] == setup["d1"]["id"]
    assert inc["location"] == {"lat": 52.52, "lng": 13.405}
    assert inc["notes"] == "Box crushed" and inc["photo"] is None
    assert inc["reported_by"] and inc["resolved_at"] is None
    assert tenant.get(f"/v1/incidents/{inc['id']}").json() == inc


def test_report_about_a_driver_only(tenant: TenantHandle, setup: dict[str, Any]) -> None:
    """A report naming only a driver has no task and no location."""
    inc = make_incident(tenant, driver_id=setup["d2"]["id"], type="accident")
    assert inc["task_id"] is None and inc["driver_id"] == setup["d2"]["id"]
    assert inc["location"] is None


def test_driver_reports_on_own_task_and_is_linked_by_default(
    tenant: TenantHandle, setup: dict[str, Any]
) -> None:
    """A driver's report needs no driver_id: it is theirs, and they are the reporter."""
    r = tenant.post(
        "/v1/incidents",
        key=setup["tok1"],
        json={"type": "recipient_absent", "task_id": setup["t1"]},
    )
    assert r.status_code == 201, r.text
    assert r.json()["driver_id"] == setup["d1"]["id"]
    assert r.json()["reported_by"] == setup["d1"]["user"]["id"]
    alone = tenant.post("/v1/incidents", key=setup["tok1"], json={"type": "vehicle_breakdown"})
    assert alone.status_code == 201, alone.text
    assert alone.json()["driver_id"] == setup["d1"]["id"] and alone.json()["task_id"] is None


def test_driver_cannot_report_on_others_tasks_or_drivers(
    tenant: TenantHandle, setup: dict[str, Any]
) -> None:
    """Another driver's task or another driver is a 404 naming the field, and nothing is stored."""
    before = _ids(tenant)
    r = tenant.post(
        "/v1/incidents", key=setup["tok1"], json={"type": "other", "task_id": setup["t2"]}
    )
    assert _problem(r, 404) and _fields(r) == {"body.task_id"}
    r = tenant.post(
        "/v1/incidents", key=setup["tok1"], json={"type": "other", "driver_id": setup["d2"]["id"]}
    )
    assert _problem(r, 404) and _fields(r) == {"body.driver_id"}
    assert _ids(tenant) == before


def test_driver_without_driver_record_cannot_report(tenant: TenantHandle) -> None:
    """A driver-role API key (nobody's driver record) is refused with 403."""
    r = tenant.post("/v1/incidents", key=tenant.key("driver"), json={"type": "other"})
    _problem(r, 403)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"type": "alien_abduction", "driver_id": "DRIVER"}, {"body.type"}),
        (
            {"type": "other", "driver_id": "DRIVER", "location": {"lat": 91, "lng": 0}},
            {"body.location.lat"},
        ),
        (
            {"type": "other", "driver_id": "DRIVER", "location": {"lat": 0, "lng": -180.5}},
            {"body.location.lng"},
        ),
        ({"type": "other", "driver_id": "DRIVER", "location": {"lat": 10}}, {"body.location.lng"}),
        ({"type": "other"}, {"body.task_id", "body.driver_id"}),
        ({"type": "other", "notes": "a\x00b", "driver_id": "DRIVER"}, {"body.notes"}),
        ({"type": "other", "driver_id": "DRIVER", "severity": "high"}, {"body.severity"}),
        ({"type": "other", "task_id": "not an id"}, {"body.task_id"}),
    ],
)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    tenant: TenantHandle, setup: dict[str, Any], body: dict[str, Any], fields: set[str]
) -> None:
    """Unknown type, latitude 91, a lone coordinate, neither task nor driver... are precise 422s."""
    body = {k: (setup["d1"]["id"] if v == "DRIVER" else v) for k, v in body.items()}
    before = _ids(tenant)
    r = tenant.post("/v1/incidents", json=body)
    _problem(r, 422)
    assert _fields(r) == fields
    assert _ids(tenant) == before


def test_other_tenants_task_or_driver_is_404_and_stores_nothing(
    tenant: TenantHandle, other_tenant: TenantHandle, setup: dict[str, Any]
) -> None:
    """Naming tenant A's task or driver from tenant B is a 404 naming the field; B stores nothing."""
    for field, value in (("task_id", setup["t1"]), ("driver_id", setup["d1"]["id"])):
        r = other_tenant.post("/v1/incidents", json={"type": "other", field: value})
        assert _problem(r, 404) and _fields(r) == {f"body.{field}"}
    assert _ids(other_tenant) == []


def test_viewer_reads_but_cannot_report_or_resolve(
    tenant: TenantHandle, setup: dict[str, Any]
) -> None:
    """A viewer lists incidents but gets 403 on reporting and resolving."""
    inc = make_incident(tenant, driver_id=setup["d1"]["id"])
    viewer = tenant.key("viewer")
    assert inc["id"] in _ids(tenant, key=viewer)
    _problem(
        tenant.post(
            "/v1/incidents", key=viewer, json={"type": "other", "driver_id": setup["d1"]["id"]}
        ),
        403,
    )
    _problem(tenant.post(f"/v1/incidents/{inc['id']}/resolve", key=viewer, json={}), 403)


def test_drivers_see_only_their_own_incidents(tenant: TenantHandle, setup: dict[str, Any]) -> None:
    """A driver's list and reads show incidents about them only; others' are 404."""
    mine = make_incident(tenant, task_id=setup["t1"])
    theirs = make_incident(tenant, task_id=setup["t2"])
    assert _ids(tenant, key=setup["tok1"]) == [mine["id"]]
    assert tenant.get(f"/v1/incidents/{mine['id']}", key=setup["tok1"]).status_code == 200
    _problem(tenant.get(f"/v1/incidents/{theirs['id']}", key=setup["tok1"]), 404)
    assert {mine["id"], theirs["id"]} <= set(_ids(tenant))


def test_filters_and_pagination(tenant: TenantHandle, setup: dict[str, Any]) -> None:
    """The list filters by status, type, task and driver, and pages newest first without repeats."""
    a = make_incident(tenant, task_id=setup["t1"], type="wrong_address")
    b = make_incident(tenant, driver_id=setup["d2"]["id"], type="accident")
    c = make_incident(tenant, task_id=setup["t2"], type="accident")
    assert tenant.post(f"/v1/incidents/{c['id']}/resolve", json={}).status_code == 200
    assert _ids(tenant, type="accident") == [c["id"], b["id"]]
    assert _ids(tenant, type="accident", status="open") == [b["id"]]
    assert _ids(tenant, status="resolved") == [c["id"]]
    assert _ids(tenant, task_id=setup["t1"]) == [a["id"]]
    assert _ids(tenant, driver_id=setup["d2"]["id"]) == [c["id"], b["id"]]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = tenant.get("/v1/incidents", params=params).json()
        seen += [i["id"] for i in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [c["id"], b["id"], a["id"]]
    _problem(tenant.get("/v1/incidents", params={"status": "closed"}), 422)


def test_resolve_once_then_409(tenant: TenantHandle, setup: dict[str, Any]) -> None:
    """Resolving records notes, resolver and time; a second resolve is 409 and changes nothing."""
    inc = make_incident(tenant, driver_id=setup["d1"]["id"])
    dispatcher = tenant.key("dispatcher")
    r = tenant.post(
        f"/v1/incidents/{inc['id']}/resolve", key=dispatcher, json={"resolution_notes": "Towed"}
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "resolved" and done["resolution_notes"] == "Towed"
    assert done["resolved_by"] and done["resolved_at"]
    again = tenant.post(f"/v1/incidents/{inc['id']}/resolve", json={"resolution_notes": "Again"})
    assert _problem(again, 409)["type"] == "/problems/incident-resolved"
    assert tenant.get(f"/v1/incidents/{inc['id']}").json() == done


def test_driver_cannot_resolve(tenant: TenantHandle, setup: dict[str, Any]) -> None:
    """Drivers report incidents but do not resolve them (403), even their own."""
    inc = make_incident(tenant, task_id=setup["t1"])
    _problem(tenant.post(f"/v1/incidents/{inc['id']}/resolve", key=setup["tok1"], json={}), 403)
    assert tenant.get(f"/v1/incidents/{inc['id']}").json()["status"] == "open"


def test_photo_is_stripped_and_served_through_a_signed_url(
    tenant: TenantHandle, setup: dict[str, Any]
) -> None:
    """A driver's JPEG with GPS is stored without EXIF and served only by its short-lived URL."""
    inc = make_incident(tenant, task_id=setup["t1"])
    r = _upload(tenant, inc["id"], _jpeg_with_gps(), key=setup["tok1"])
    assert r.status_code == 200, r.text
    photo = r.json()["photo"]
    assert photo["content_type"] == "image/jpeg"
    assert photo["url"].startswith("/v1/files/")
    got = tenant.client.get(photo["url"])  # no credentials
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    img = Image.open(io.BytesIO(got.content))
    assert img.size == (32, 24) and not img.getexif()
    assert b"SpyCam" not in got.content
    # Each read signs a fresh URL for the same object.
    again = tenant.get(f"/v1/incidents/{inc['id']}").json()["photo"]
    assert tenant.client.get(again["url"]).content == got.content


def test_replacing_the_photo_retires_the_old_object(
    tenant: TenantHandle, setup: dict[str, Any]
) -> None:
    """A second photo replaces the first; the first one's URL then answers 404."""
    inc = make_incident(tenant, driver_id=setup["d1"]["id"])
    first = _upload(tenant, inc["id"], _jpeg_with_gps()).json()["photo"]
    second = _upload(tenant, inc["id"], _png(), name="p.png").json()["photo"]
    assert second["content_type"] == "image/png"
    assert tenant.client.get(second["url"]).status_code == 200
    _problem(tenant.client.get(first["url"]), 404)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", 422),
        (b"\xff\xd8\xff\xe0" + b"\x00" * (30 * 1000 * 1000), 413),
        (b"", 422),
    ],
    ids=["pdf-named-jpg", "30MB", "empty"],
)
def test_bad_photos_are_refused_and_nothing_is_stored(
    tenant: TenantHandle, setup: dict[str, Any], data: bytes, status: int
) -> None:
    """A PDF named .jpg (422), a 30 MB file (413) or an empty file: a problem naming body.photo."""
    inc = make_incident(tenant, driver_id=setup["d1"]["id"])
    r = _upload(tenant, inc["id"], data)
    _problem(r, status)
    assert _fields(r) == {"body.photo"}
    assert tenant.get(f"/v1/incidents/{inc['id']}").json() == inc


def test_photo_upload_needs_the_file_and_an_open_visible_incident(
    tenant: TenantHandle, setup: dict[str, Any]
) -> None:
    """No file is 422; a resolved incident is 409; another driver's incident is 404."""
    inc = make_incident(tenant, driver_id=setup["d1"]["id"])
    r = tenant.post(f"/v1/incidents/{inc['id']}/photo", data={"other": "x"})
    _problem(r, 422)
    assert _fields(r) == {"body.photo"}
    theirs = make_incident(tenant, driver_id=setup["d2"]["id"])
    _problem(_upload(tenant, theirs["id"], _png(), key=setup["tok1"]), 404)
    assert tenant.post(f"/v1/incidents/{inc['id']}/resolve", json={}).status_code == 200
    _problem(_upload(tenant, inc["id"], _png()), 409)


def test_report_is_idempotent(tenant: TenantHandle, setup: dict[str, Any]) -> None:
    """A retried report with the same Idempotency-Key replays the first and stores one incident."""
    h = {"Idempotency-Key": secrets.token_hex(8)}
    body = {"type": "other", "driver_id": setup["d1"]["id"]}
    first = tenant.post("/v1/incidents", json=body, headers=h)
    second = tenant.post("/v1/incidents", json=body, headers=h)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert _ids(tenant, driver_id=setup["d1"]["id"]) == [first.json()["id"]]
