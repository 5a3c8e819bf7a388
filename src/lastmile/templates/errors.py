"""Errors of the templates domain."""

from __future__ import annotations

from lastmile.core.errors import InvalidState, NotFound


class TemplateNotFound(NotFound):
    title = "Route template not found"


class TemplateInactive(InvalidState):
    code, title = "template-inactive", "Route template is not active"


class NotMaterializable(InvalidState):
    code, title = "template-not-materializable", "Route template cannot be materialised"
