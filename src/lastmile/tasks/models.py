"""Tables of the tasks domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core import clock
from lastmile.core.db import Base, TenantOwned
from lastmile.core.models import Timestamps
from lastmile.core.types import JSONDoc, UTCDateTime


class Task(TenantOwned, Timestamps, Base):
    """A pickup or drop-off at one destination, within a time window, carried out by a driver."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_ref"),
        UniqueConstraint("tenant_id", "short_id"),
        Index("ix_tasks_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_tasks_tenant_state_created", "tenant_id", "state", "created_at", "id"),
        Index("ix_tasks_tenant_driver_state", "tenant_id", "driver_id", "state", "route_position"),
        Index("ix_tasks_tenant_team_created", "tenant_id", "team_id", "created_at", "id"),
        Index("ix_tasks_tenant_zone_created", "tenant_id", "zone_id", "created_at", "id"),
        Index("ix_tasks_tenant_window", "tenant_id", "complete_before"),
        Index("ix_tasks_depends_on", "depends_on"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    short_id: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(12), default="unassigned")
    external_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), nullable=True)
    zone_id: Mapped[str | None] = mapped_column(ForeignKey("zones.id"), nullable=True)
    driver_id: Mapped[str | None] = mapped_column(ForeignKey("drivers.id"), nullable=True)
    route_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The plan's schedule for this stop once a route plan placed it (the planned ETA).
    planned_arrival_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    planned_departure_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    route_plan_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    depends_on: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"), nullable=True)

    address: Mapped[str] = mapped_column(String(500), default="")
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    recipient_phone: Mapped[str] = mapped_column(String(32), default="")
    recipient_notes: Mapped[str] = mapped_column(Text, default="")

    complete_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    complete_before: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    service_seconds: Mapped[int] = mapped_column(Integer, default=0)
    quantities: Mapped[dict[str, float]] = mapped_column(JSONDoc, default=dict)
    required_skills: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # {"photo": bool, "signature": bool, "notes": bool, "barcode": bool, "min_age": int|null}
    requirements: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDoc, default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")

    # What the driver reported on completion: success, failure_reason, notes, barcode,
    # recipient_age, device location and time.
    completion: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # Live ETA from the driver's position (tracking), the ETA last announced in
    # task.eta_changed, the ETA known at dispatch and when the driver set off, when task.delayed
    # was sent, and on arrival |actual - predicted at start| / predicted travel time.
    eta_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    eta_announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    eta_at_dispatch: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    eta_at_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    eta_error_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)


class TaskEvent(TenantOwned, Base):
    """One entry of a task's history: a transition or assignment, by whom, when, where."""

    __tablename__ = "task_events"
    __table_args__ = (Index("ix_task_events_task_at", "tenant_id", "task_id", "at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    action: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str | None] = mapped_column(String(12), nullable=True)
    to_state: Mapped[str] = mapped_column(String(12))
    actor_id: Mapped[str] = mapped_column(String(40))
    actor_kind: Mapped[str] = mapped_column(String(10))
    driver_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    details: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class ProofFile(TenantOwned, Base):
    """A stored proof-of-delivery image (photo or signature) of a task."""

    __tablename__ = "proof_files"
    __table_args__ = (Index("ix_proof_files_task", "tenant_id", "task_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    kind: Mapped[str] = mapped_column(String(12))
    storage_key: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class Incident(TenantOwned, Timestamps, Base):
    """A problem reported by a driver or dispatcher, linked to a task and/or a driver."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_incidents_tenant_status", "tenant_id", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), default="open")
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"), nullable=True)
    driver_id: Mapped[str | None] = mapped_column(ForeignKey("drivers.id"), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    photo_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    reported_by: Mapped[str] = mapped_column(String(40))
    resolution_notes: Mapped[str] = mapped_column(Text, default="")
    resolved_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ImportJob(TenantOwned, Timestamps, Base):
    """A CSV import of tasks running in the background, with progress and per-row errors."""

    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(12), default="queued")
    filename: Mapped[str] = mapped_column(String(200), default="")
    storage_key: Mapped[str] = mapped_column(String(300))
    all_or_nothing: Mapped[bool] = mapped_column(Boolean, default=False)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    created_by: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
