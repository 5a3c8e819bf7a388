"""Errors of the tracking domain."""

from __future__ import annotations

from lastmile.core.errors import Forbidden


class NotADriver(Forbidden):
    code, title = "not-a-driver", "Not a driver"
