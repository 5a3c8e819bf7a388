"""Schemathesis, in process, over every operation with all default checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from lastmile.api.app import create_app
from tests.conftest import settings_for
from tests.support.databases import TestDatabase
from tests.support.env import PLATFORM_TOKEN
from tests.support.factories import TenantHandle

EXAMPLES = 25


def semantic_fixes(case: Any) -> None:
    """Undo generated values that are schema-valid but break a business rule JSON Schema cannot
    state; each rule has its own test elsewhere."""
    if case.query:
        # Cursors are opaque tokens the API issued (test_conventions.py).
        case.query.pop("cursor", None)
    if isinstance(case.body, dict) and case.body.get("expires_at"):
        # API keys cannot be created already expired (test_auth.py).
        case.body["expires_at"] = (datetime.now(UTC) + timedelta(days=30)).isoformat()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(
    database: TestDatabase, tenant: TenantHandle, mode: GenerationMode
) -> None:
    """No operation answers 5xx, breaks its documented schema or ignores auth, whatever the input."""
    app = create_app(settings_for(database))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 10
    unsatisfiable: list[str] = []
    for op in ops:
        token = PLATFORM_TOKEN if op.path.startswith("/v1/tenants") else tenant.api_key
        headers = {"Authorization": f"Bearer {token}"}

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Any) -> None:
            if (
                mode == GenerationMode.POSITIVE
                and case.headers
                and "Idempotency-Key" in case.headers
            ):
                # Generated keys repeat across different bodies; reuse is a 422 by design
                # (tests/functional/test_idempotency.py), so give each case its own key.
                case.headers["Idempotency-Key"] = uuid.uuid4().hex
            if mode == GenerationMode.POSITIVE:
                semantic_fixes(case)
            case.call_and_validate(headers=headers)  # noqa: B023 - called within this iteration

        try:
            check()
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (e.g. GET /v1/me).
            assert mode == GenerationMode.NEGATIVE, op.path
            unsatisfiable.append(op.path)
    assert len(unsatisfiable) < len(ops) / 2, unsatisfiable
