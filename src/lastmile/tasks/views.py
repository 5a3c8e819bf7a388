"""Tasks as the API shows them."""

from __future__ import annotations

from typing import Any

from lastmile.tasks.enums import Kind
from lastmile.tasks.schemas import RecipientRead, TaskRead
from lastmile.tracking.links.tokens import url_for


def view(task: Any) -> TaskRead:
    """The task (a stored Task or a validated new one) as the API shows it."""
    return TaskRead(
        **{
            k: getattr(task, k)
            for k in TaskRead.model_fields
            if hasattr(task, k) and k not in ("recipient", "metadata", "tracking_url")
        },
        recipient=RecipientRead(
            name=task.recipient_name, phone=task.recipient_phone, notes=task.recipient_notes
        ),
        metadata=task.meta or {},
        tracking_url=url_for(task.id) if task.kind == Kind.dropoff else None,
    )
