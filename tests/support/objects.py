"""What the isolation suite needs to reach every endpoint, gathered from each domain.

Each `tests/support/objects_<domain>.py` module may define:
- FACTORIES: path parameter name -> function(TenantHandle) -> id of a new object of that tenant;
- BODIES: (method, path template) -> a valid body, so refusals come from ownership, not validation;
- DRIVER_ALLOWED / VIEWER_WRITES_ALLOWED: (method, path template) pairs those roles may call;
- BODY_REFS: body field name -> function(TenantHandle) -> a valid value naming real objects of
  that tenant (an id, a list of ids, known skill names), which schemathesis puts in place of
  the made-up ids it generates.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import tests.support as support_pkg
from tests.support.factories import TenantHandle

FACTORIES: dict[str, Callable[[TenantHandle], str]] = {}
BODIES: dict[tuple[str, str], Any] = {}
DRIVER_ALLOWED: set[tuple[str, str]] = set()
VIEWER_WRITES_ALLOWED: set[tuple[str, str]] = set()
BODY_REFS: dict[str, Callable[[TenantHandle], Any]] = {}

for info in pkgutil.iter_modules(support_pkg.__path__):
    if info.name.startswith("objects_"):
        mod = importlib.import_module(f"tests.support.{info.name}")
        FACTORIES.update(getattr(mod, "FACTORIES", {}))
        BODIES.update(getattr(mod, "BODIES", {}))
        DRIVER_ALLOWED |= set(getattr(mod, "DRIVER_ALLOWED", ()))
        VIEWER_WRITES_ALLOWED |= set(getattr(mod, "VIEWER_WRITES_ALLOWED", ()))
        BODY_REFS.update(getattr(mod, "BODY_REFS", {}))
