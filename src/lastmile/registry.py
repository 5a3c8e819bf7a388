"""Imports every domain's models so the metadata is complete (migrations, drift checks)."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "lastmile.core.idempotency",
    "lastmile.tenancy.models",
    "lastmile.fleet.models",
    "lastmile.places.models",
    "lastmile.tasks.models",
    "lastmile.templates.models",
    "lastmile.routing.matrix.models",
    "lastmile.routing.models",
    "lastmile.integrations.models",
    "lastmile.events.models",
    "lastmile.tracking.models",
    "lastmile.tracking.links.models",
)


def import_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
