"""CSV rows to task create bodies (the import format, documented in docs/guides/dispatcher.md)."""

from __future__ import annotations

import csv
import io
from typing import Any

from lastmile.core.errors import FieldError, ValidationFailed

MAX_ROWS = 100_000
_BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}
_PLAIN = {
    "kind",
    "address",
    "lat",
    "lng",
    "complete_after",
    "complete_before",
    "service_seconds",
    "priority",
    "external_ref",
    "team_id",
    "notes",
    "depends_on",
    "depends_on_ref",
}
_RECIPIENT = {"recipient_name": "name", "recipient_phone": "phone", "recipient_notes": "notes"}
_REQUIREMENTS = {
    "require_photo": "photo",
    "require_signature": "signature",
    "require_notes": "notes",
    "require_barcode": "barcode",
}


def parse(data: bytes) -> list[dict[str, Any]]:
    """Rows of a UTF-8 CSV with a header line as task bodies; a 422 when the file is unusable."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("the file is not UTF-8", [FieldError("file", "not UTF-8")]) from exc
    if "\x00" in text:
        raise ValidationFailed("the file contains NUL bytes", [FieldError("file", "not a CSV")])
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        header = reader.fieldnames or []
        if "kind" not in header:
            raise ValidationFailed(
                "the header must name at least `kind`", [FieldError("file", "missing column kind")]
            )
        for i, raw in enumerate(reader):
            if i >= MAX_ROWS:
                raise ValidationFailed(
                    f"at most {MAX_ROWS} rows per import", [FieldError("file", "too many rows")]
                )
            rows.append(to_body(raw))
    except csv.Error as exc:
        raise ValidationFailed(
            f"not a readable CSV (line {reader.line_num}): {exc}", [FieldError("file", "not a CSV")]
        ) from exc
    if not rows:
        raise ValidationFailed("the file has no rows", [FieldError("file", "no rows")])
    return rows


def to_body(raw: dict[str | None, Any]) -> dict[str, Any]:
    """One CSV row as a task body; empty cells are left out, unknown columns kept (and refused)."""
    body: dict[str, Any] = {}
    recipient: dict[str, str] = {}
    requirements: dict[str, Any] = {}
    quantities: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for key, value in raw.items():
        if key is None:  # more cells than header columns
            body["_extra_cells"] = value
            continue
        value = (value or "").strip() if isinstance(value, str) else value
        if value == "":
            continue
        if key in _PLAIN:
            body[key] = value
        elif key in _RECIPIENT:
            recipient[_RECIPIENT[key]] = value
        elif key in _REQUIREMENTS:
            requirements[_REQUIREMENTS[key]] = _BOOLS.get(value.lower(), value)
        elif key == "min_age":
            requirements["min_age"] = value
        elif key == "required_skills":
            body["required_skills"] = [s.strip() for s in value.split(";") if s.strip()]
        elif key.startswith("quantity."):
            quantities[key.removeprefix("quantity.")] = value
        elif key.startswith("metadata."):
            metadata[key.removeprefix("metadata.")] = value
        else:
            body[key] = value
    for name, part in (
        ("recipient", recipient),
        ("requirements", requirements),
        ("quantities", quantities),
        ("metadata", metadata),
    ):
        if part:
            body[name] = part
    return body
