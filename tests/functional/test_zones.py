"""Zones: CRUD, GeoJSON validation, point lookup and tenant isolation (issue 3, point 2)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.factories import TenantHandle
from tests.support.objects_fleet import make_team
from tests.support.objects_places import box, make_zone, polygon

CENTRE = polygon(box(4.88, 52.36, 4.92, 52.38))


def _zone_ids(t: TenantHandle, **params: Any) -> list[str]:
    r = t.get("/v1/zones", params=params)
    assert r.status_code == 200, r.text
    return [z["id"] for z in r.json()["data"]]


def _lookup(t: TenantHandle, lat: float, lng: float) -> list[str]:
    r = t.get("/v1/zones/lookup", params={"lat": lat, "lng": lng})
    assert r.status_code == 200, r.text
    return [z["id"] for z in r.json()["data"]]


def test_zone_create_get_list_patch_delete(tenant: TenantHandle) -> None:
    """A zone is created with its bbox, read back, listed, changed, and 404 once deleted."""
    r = tenant.post(
        "/v1/zones", json={"name": "Centre", "description": "canals", "geometry": CENTRE}
    )
    assert r.status_code == 201, r.text
    zone = r.json()
    assert zone["id"].startswith("zon_")
    assert zone["geometry"] == CENTRE
    assert zone["bbox"] == [4.88, 52.36, 4.92, 52.38]
    assert zone["team_ids"] == []
    assert tenant.get(f"/v1/zones/{zone['id']}").json() == zone
    assert _zone_ids(tenant) == [zone["id"]]

    moved = polygon(box(5.0, 52.0, 5.1, 52.2))
    r = tenant.patch(f"/v1/zones/{zone['id']}", json={"name": "Moved", "geometry": moved})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Moved"
    assert r.json()["description"] == "canals"
    assert r.json()["bbox"] == [5.0, 52.0, 5.1, 52.2]
    assert _lookup(tenant, 52.37, 4.9) == []
    assert _lookup(tenant, 52.1, 5.05) == [zone["id"]]

    r = tenant.request("DELETE", f"/v1/zones/{zone['id']}")
    assert r.status_code == 204, r.text
    r = tenant.get(f"/v1/zones/{zone['id']}")
    assert r.status_code == 404
    assert r.json()["type"] == "/problems/not-found"
    assert _zone_ids(tenant) == []
    assert _lookup(tenant, 52.1, 5.05) == []
    assert tenant.request("DELETE", f"/v1/zones/{zone['id']}").status_code == 404


def test_dispatcher_creates_zones_and_viewer_only_reads(tenant: TenantHandle) -> None:
    """Dispatchers create and delete zones; viewers list them but get 403 on writes."""
    dispatcher, viewer = tenant.key("dispatcher"), tenant.key("viewer")
    zone = make_zone(tenant, key=dispatcher)
    assert tenant.get("/v1/zones", key=viewer).json()["data"][0]["id"] == zone["id"]
    r = tenant.post("/v1/zones", key=viewer, json={"name": "V", "geometry": CENTRE})
    assert r.status_code == 403
    r = tenant.request("DELETE", f"/v1/zones/{zone['id']}", key=dispatcher)
    assert r.status_code == 204


def test_geometry_is_normalised_to_the_right_hand_rule(tenant: TenantHandle) -> None:
    """A clockwise shell is stored counter-clockwise (RFC 7946), integers become floats, altitudes go."""
    clockwise = [[0, 0, 10], [0, 1, 10], [1, 1, 10], [1, 0, 10], [0, 0, 10]]
    zone = make_zone(tenant, geometry=polygon(clockwise))
    assert zone["geometry"] == {
        "type": "Polygon",
        "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]],
    }


def _ring_of(n: int) -> list[list[float]]:
    """A closed ring of n positions around a circle-ish square (valid, no self-intersection)."""
    side = (n - 1) // 4
    pts: list[list[float]] = []
    for i in range(side):
        pts.append([i / side, 0.0])
    for i in range(side):
        pts.append([1.0, i / side])
    for i in range(side):
        pts.append([1.0 - i / side, 1.0])
    for i in range(n - 1 - 3 * side):
        pts.append([0.0, 1.0 - i / (n - 1 - 3 * side)])
    return [*pts, pts[0]]


BAD_GEOMETRIES = [
    pytest.param(
        polygon([[0, 0], [1, 0], [1, 1], [0, 1]]),
        "body.geometry.coordinates[0]",
        "ring_not_closed",
        id="unclosed-ring",
    ),
    pytest.param(
        polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]),
        "body.geometry.coordinates[0]",
        "self_intersection",
        id="bow-tie",
    ),
    pytest.param(
        polygon([[0, 0], [1, 0], [1, 91], [0, 0]]),
        "body.geometry.coordinates[0][2][1]",
        "latitude",
        id="lat-91",
    ),
    pytest.param(
        polygon([[0, 0], [181, 0], [1, 1], [0, 0]]),
        "body.geometry.coordinates[0][1][0]",
        "longitude",
        id="lng-181",
    ),
    pytest.param(
        {"type": "Point", "coordinates": [4.9, 52.37]},
        "body.geometry.type",
        "geometry_type",
        id="point",
    ),
    pytest.param(
        polygon([[0, 0], [1, 0], [0, 0]]),
        "body.geometry.coordinates[0]",
        "ring_too_short",
        id="too-few-positions",
    ),
    pytest.param(
        polygon([[0, 0], ["1", 0], [1, 1], [0, 0]]),
        "body.geometry.coordinates[0][1][0]",
        "number",
        id="string-coordinate",
    ),
    pytest.param(
        polygon([[0, 0], [1, 0], [1, None], [0, 0]]),
        "body.geometry.coordinates[0][2][1]",
        "number",
        id="null-coordinate",
    ),
    pytest.param(
        polygon([[0, 0], [1, 0], 7, [0, 0]]),
        "body.geometry.coordinates[0][2]",
        "position",
        id="position-not-array",
    ),
    pytest.param(
        polygon([[0, 0], [1, 1], [2, 2], [0, 0]]),
        "body.geometry.coordinates[0]",
        "zero_area",
        id="collinear",
    ),
    pytest.param(
        polygon(box(0, 0, 1, 1), box(2, 2, 3, 3)),
        "body.geometry.coordinates[1]",
        "hole_outside_shell",
        id="hole-outside-shell",
    ),
    pytest.param(
        {
            "type": "MultiPolygon",
            "coordinates": [[box(0, 0, 2, 2)], [box(1, 1, 3, 3)]],
        },
        "body.geometry.coordinates",
        "invalid_multipolygon",
        id="overlapping-multipolygon",
    ),
    pytest.param(
        {"type": "MultiPolygon", "coordinates": [[box(0, 0, 1, 1)], [[[5, 5], [6, 5], [5, 5]]]]},
        "body.geometry.coordinates[1][0]",
        "ring_too_short",
        id="multipolygon-part",
    ),
    pytest.param(
        polygon(_ring_of(10_001)), "body.geometry.coordinates", "too_many_positions", id="huge"
    ),
    pytest.param({"type": "Polygon"}, "body.geometry.coordinates", "missing", id="no-coordinates"),
    pytest.param(
        {"type": "Polygon", "coordinates": []}, "body.geometry.coordinates", "polygon", id="empty"
    ),
]


@pytest.mark.parametrize(("geometry", "field", "code"), BAD_GEOMETRIES)
def test_invalid_geometry_is_a_422_naming_the_field_and_stores_nothing(
    tenant: TenantHandle, geometry: dict[str, Any], field: str, code: str
) -> None:
    """Each kind of invalid GeoJSON is a 422 problem naming the exact field; no zone is stored."""
    r = tenant.post("/v1/zones", json={"name": "Bad", "geometry": geometry})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"] == "/problems/invalid-geometry"
    assert (field, code) in [(e["field"], e["code"]) for e in problem["errors"]], problem
    assert _zone_ids(tenant) == []


def test_geometry_must_be_an_object(tenant: TenantHandle) -> None:
    """A geometry that is not a JSON object is refused by the schema with a 422 naming it."""
    r = tenant.post("/v1/zones", json={"name": "Bad", "geometry": [1, 2]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.geometry"


def test_self_intersection_message_says_where(tenant: TenantHandle) -> None:
    """The self-intersection problem carries shapely's explanation with the crossing point."""
    bow_tie = polygon([[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]])
    r = tenant.post("/v1/zones", json={"name": "Bad", "geometry": bow_tie})
    assert "Self-intersection[1 1]" in r.json()["errors"][0]["message"]


def test_invalid_patch_leaves_the_zone_unchanged(tenant: TenantHandle) -> None:
    """A PATCH with an invalid geometry is a 422 and changes neither the geometry nor the name."""
    zone = make_zone(tenant)
    bad = polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]])
    r = tenant.patch(f"/v1/zones/{zone['id']}", json={"name": "X", "geometry": bad})
    assert r.status_code == 422
    assert tenant.get(f"/v1/zones/{zone['id']}").json() == zone


def test_lookup_inside_outside_and_on_the_boundary(tenant: TenantHandle) -> None:
    """Lookup finds the zone for a point inside or on its edge, and nothing outside it."""
    zone = make_zone(tenant, geometry=polygon([[0, 0], [4, 0], [0, 4], [0, 0]]))
    assert _lookup(tenant, 1, 1) == [zone["id"]]
    assert _lookup(tenant, 0, 2) == [zone["id"]]  # on the western edge
    assert _lookup(tenant, 3, 3) == []  # inside the bbox, outside the triangle
    assert _lookup(tenant, 10, 10) == []


def test_lookup_excludes_holes(tenant: TenantHandle) -> None:
    """A point inside a polygon's hole is not in the zone; a point between shell and hole is."""
    zone = make_zone(tenant, geometry=polygon(box(0, 0, 10, 10), box(4, 4, 6, 6)))
    assert _lookup(tenant, 5, 5) == []
    assert _lookup(tenant, 2, 2) == [zone["id"]]


def test_lookup_in_each_part_of_a_multipolygon(tenant: TenantHandle) -> None:
    """Both parts of a MultiPolygon belong to the zone, the gap between them does not."""
    multi = {"type": "MultiPolygon", "coordinates": [[box(0, 0, 1, 1)], [box(5, 5, 6, 6)]]}
    zone = make_zone(tenant, geometry=multi)
    assert zone["bbox"] == [0.0, 0.0, 6.0, 6.0]
    assert _lookup(tenant, 0.5, 0.5) == [zone["id"]]
    assert _lookup(tenant, 5.5, 5.5) == [zone["id"]]
    assert _lookup(tenant, 3, 3) == []


def test_lookup_lists_nested_zones_smallest_first(tenant: TenantHandle) -> None:
    """Overlapping zones are all returned, smallest area first, whatever their creation order."""
    small = make_zone(tenant, name="small", geometry=polygon(box(1, 1, 2, 2)))
    big = make_zone(tenant, name="big", geometry=polygon(box(0, 0, 10, 10)))
    middle = make_zone(tenant, name="middle", geometry=polygon(box(0, 0, 5, 5)))
    assert _lookup(tenant, 1.5, 1.5) == [small["id"], middle["id"], big["id"]]
    assert _lookup(tenant, 7, 7) == [big["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": 91, "lng": 0}, "query.lat"),
        ({"lat": -90.5, "lng": 0}, "query.lat"),
        ({"lat": 0, "lng": 180.1}, "query.lng"),
        ({"lat": "north", "lng": 0}, "query.lat"),
        ({"lng": 0}, "query.lat"),
    ],
)
def test_lookup_validates_coordinates(
    tenant: TenantHandle, params: dict[str, Any], field: str
) -> None:
    """Out-of-range, non-numeric or missing coordinates are a 422 naming the query parameter."""
    r = tenant.get("/v1/zones/lookup", params=params)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == field


def test_other_tenant_never_sees_the_zone(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    """Tenant B's lookup at a point inside tenant A's zone finds nothing, nor does its list or get."""
    zone = make_zone(tenant)
    assert _lookup(tenant, 52.37, 4.9) == [zone["id"]]
    assert _lookup(other_tenant, 52.37, 4.9) == []
    assert _zone_ids(other_tenant) == []
    assert other_tenant.get(f"/v1/zones/{zone['id']}").status_code == 404
    theirs = make_zone(other_tenant)
    assert _lookup(tenant, 52.37, 4.9) == [zone["id"]]
    assert _lookup(other_tenant, 52.37, 4.9) == [theirs["id"]]


def test_teams_are_linked_replaced_and_filtered(tenant: TenantHandle) -> None:
    """team_ids link zones to teams, PATCH replaces them, and the list filters by team_id."""
    north, south = make_team(tenant)["id"], make_team(tenant)["id"]
    a = make_zone(tenant, team_ids=[north, north])
    b = make_zone(tenant, team_ids=[north, south])
    assert a["team_ids"] == [north]
    assert sorted(b["team_ids"]) == sorted([north, south])
    assert sorted(_zone_ids(tenant, team_id=north)) == sorted([a["id"], b["id"]])
    assert _zone_ids(tenant, team_id=south) == [b["id"]]
    r = tenant.patch(f"/v1/zones/{a['id']}", json={"team_ids": [south]})
    assert r.status_code == 200, r.text
    assert r.json()["team_ids"] == [south]
    assert _zone_ids(tenant, team_id=north) == [b["id"]]
    assert tenant.patch(f"/v1/zones/{a['id']}", json={"team_ids": []}).json()["team_ids"] == []


def test_unknown_or_foreign_team_is_a_422_and_stores_nothing(
    tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    """A team id that is not a team of the caller's tenant is a 422 naming its position."""
    mine, foreign = make_team(tenant)["id"], make_team(other_tenant)["id"]
    r = tenant.post(
        "/v1/zones", json={"name": "Z", "geometry": CENTRE, "team_ids": [mine, foreign]}
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["body.team_ids[1]"]
    assert _zone_ids(tenant) == []


def test_pagination_walks_every_zone_once(tenant: TenantHandle) -> None:
    """limit and next_cursor page through the zones newest first, each exactly once."""
    made = [make_zone(tenant, name=f"z{i}")["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = tenant.get("/v1/zones", params=params).json()
        seen += [z["id"] for z in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/zones", {"colour": "red"}, "query.colour"),
        ("/v1/zones/lookup", [("lat", "1"), ("lat", "2"), ("lng", "0")], "query.lat"),
    ],
)
def test_unknown_or_repeated_query_parameters_are_refused(
    tenant: TenantHandle, path: str, params: Any, field: str
) -> None:
    """A query parameter the operation does not take, or one given twice, is a 422 naming it."""
    r = tenant.get(path, params=params)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


def test_deleting_a_zone_keeps_its_tasks_tagged(tenant: TenantHandle) -> None:
    """A zone with tasks can be deleted: its tasks keep the tag, new tasks there get none."""
    zone = make_zone(tenant)
    r = tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.37, "lng": 4.9})
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["zone_id"] == zone["id"]
    assert tenant.request("DELETE", f"/v1/zones/{zone['id']}").status_code == 204
    assert tenant.get(f"/v1/tasks/{task['id']}").json()["zone_id"] == zone["id"]
    assert tenant.get(f"/v1/zones/{zone['id']}").status_code == 404
    assert tenant.patch(f"/v1/zones/{zone['id']}", json={"name": "back"}).status_code == 404
    r = tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.37, "lng": 4.9})
    assert r.json()["zone_id"] is None


def test_task_is_tagged_with_the_smallest_zone(tenant: TenantHandle) -> None:
    """A task created inside nested zones is tagged with the smallest one containing it."""
    make_zone(tenant, name="city", geometry=polygon(box(4.7, 52.2, 5.1, 52.5)))
    centre = make_zone(tenant, name="centre")
    r = tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.37, "lng": 4.9})
    assert r.json()["zone_id"] == centre["id"]


def test_batch_tasks_are_tagged_with_their_smallest_zone(tenant: TenantHandle) -> None:
    """Each task of a batch gets the smallest zone containing it, a hole or outside gets none."""
    city = make_zone(tenant, geometry=polygon(box(0, 0, 10, 10), box(8, 8, 9, 9)))
    centre = make_zone(tenant, geometry=polygon(box(4, 4, 6, 6)))
    points = [(5, 5), (1, 1), (8.5, 8.5), (20, 20), (0, 0), (4, 5)]
    body = {"tasks": [{"kind": "dropoff", "lat": lat, "lng": lng} for lat, lng in points]}
    r = tenant.post("/v1/tasks/batch", json=body)
    assert r.status_code == 200, r.text
    tags = [row["task"]["zone_id"] for row in r.json()["results"]]
    assert tags == [centre["id"], city["id"], None, None, city["id"], centre["id"]]
