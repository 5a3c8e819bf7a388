"""Query parameters shared by list endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Query
from fastapi.dependencies.models import Dependant
from starlette.datastructures import QueryParams

from lastmile.core.errors import FieldError
from lastmile.core.pagination import MAX_LIMIT

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` of the previous page.",
    ),
]


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, UnionType):
        return any(_is_list(a) for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is Annotated:
        return _is_list(get_args(annotation)[0])
    return get_origin(annotation) in (list, tuple, set)


@dataclass(frozen=True)
class QueryRules:
    """The query parameters an operation takes, and which of them may repeat."""

    known: frozenset[str]
    repeatable: frozenset[str]
    authenticated: bool

    @classmethod
    def of(cls, dependant: Dependant, principal: Any) -> QueryRules:
        fields = [f for d in _walk(dependant) for f in d.query_params]
        return cls(
            known=frozenset(f.alias for f in fields),
            repeatable=frozenset(f.alias for f in fields if _is_list(f.field_info.annotation)),
            authenticated=any(d.call is principal for d in _walk(dependant)),
        )

    def problems(self, params: QueryParams) -> list[FieldError]:
        """Unknown parameters, and parameters given twice that take one value."""
        names = set(params)
        return [
            FieldError(f"query.{k}", "not a parameter of this operation", "unknown")
            for k in sorted(names - self.known)
        ] + [
            FieldError(f"query.{k}", "give this parameter once", "repeated")
            for k in sorted((names & self.known) - self.repeatable)
            if len(params.getlist(k)) > 1
        ]
