"""The OpenAPI schema is complete, documented, and matches the committed snapshot."""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

SNAPSHOT = Path("docs/api/openapi.json")
STALE = "docs/api/openapi.json is out of date: run `make openapi` and commit the result"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture
def live_schema(client: httpx.Client) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.fixture(scope="session")
def committed(repo_root: Path) -> str:
    path = repo_root / SNAPSHOT
    assert path.exists(), f"{SNAPSHOT} is missing: run `make openapi`"
    return path.read_text(encoding="utf-8")


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def _diff(expected: str, actual: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), "committed", "app", lineterm="", n=2
    )
    return "\n".join(list(lines)[:60])


def test_snapshot_module_reproduces_the_committed_file(repo_root: Path, committed: str) -> None:
    """`python -m lastmile.api.openapi_snapshot` (what `make openapi` runs) prints the file."""
    out = subprocess.run(
        [sys.executable, "-m", "lastmile.api.openapi_snapshot"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == committed, f"{STALE}\n{_diff(committed, out.stdout)}"


def test_live_schema_matches_the_snapshot(live_schema: dict[str, Any], committed: str) -> None:
    """The served /openapi.json equals the snapshot (apart from this server's own URL)."""
    snapshot = json.loads(committed)
    actual = {**live_schema, "servers": snapshot.get("servers")}
    expected_text = json.dumps(snapshot, indent=2, sort_keys=True)
    actual_text = json.dumps(actual, indent=2, sort_keys=True)
    assert actual_text == expected_text, f"{STALE}\n{_diff(expected_text, actual_text)}"


def test_schema_names_its_servers(live_schema: dict[str, Any], committed: str) -> None:
    """`servers` is set (clients and Postman need a base URL) in the app and the snapshot."""
    for doc in (live_schema, json.loads(committed)):
        servers = doc.get("servers")
        assert servers, "the OpenAPI schema has no servers"
        assert all(s.get("url", "").startswith("http") for s in servers), servers


def test_every_operation_has_a_summary_and_description(live_schema: dict[str, Any]) -> None:
    """Each operation says what it does: a summary and a description (its docstring)."""
    missing = [
        name
        for name, op in _operations(live_schema)
        if not op.get("summary", "").strip() or not op.get("description", "").strip()
    ]
    assert not missing, f"operations without summary or description (add a docstring): {missing}"


def _request_schemas(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], list[Any]]]:
    """(operation, body schema, its examples) for every media type of every request body."""
    for name, op in _operations(schema):
        body = op.get("requestBody")
        if not body:
            continue
        assert body.get("content"), f"{name}: request body without content"
        for media, content in body["content"].items():
            sch = content.get("schema", {})
            target = sch
            if "$ref" in sch:
                target = schema["components"]["schemas"][sch["$ref"].rsplit("/", 1)[-1]]
            examples = list(target.get("examples") or [])
            if "example" in content:
                examples.append(content["example"])
            examples += [e.get("value") for e in (content.get("examples") or {}).values()]
            yield f"{name} ({media})", sch, examples


def test_every_request_body_has_a_valid_example(live_schema: dict[str, Any]) -> None:
    """Each request body schema carries at least one example, and the example is valid."""
    bodies = list(_request_schemas(live_schema))
    assert bodies, "no operation takes a request body"
    for name, sch, examples in bodies:
        assert examples, (
            f"{name}: no example; add model_config = _example(...) or "
            "json_schema_extra={'examples': [...]} to its request model"
        )
        validator = jsonschema_rs.validator_for({**sch, "components": live_schema["components"]})
        for example in examples:
            errors = [e.message for e in validator.iter_errors(example)]
            assert not errors, f"{name}: example {example!r} is invalid: {errors}"


def test_security_scheme_is_bearer(live_schema: dict[str, Any]) -> None:
    """Credentials are documented as HTTP bearer, and every secured operation refers to it."""
    schemes = live_schema["components"].get("securitySchemes") or {}
    assert schemes, "no security scheme"
    for name, scheme in schemes.items():
        assert scheme.get("type") == "http", (name, scheme)
        assert scheme.get("scheme", "").lower() == "bearer", (name, scheme)
    secured = []
    for op_name, op in _operations(live_schema):
        for requirement in op.get("security", []):
            assert set(requirement) <= set(schemes), (op_name, requirement)
            secured.append(op_name)
    assert "GET /v1/me" in secured
    assert "POST /v1/tenants" in secured
