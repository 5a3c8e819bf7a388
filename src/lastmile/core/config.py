"""Settings read from the environment (`LASTMILE_*`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-insecure-secret-change-me-0123456789"
DEFAULT_DATABASE_URL = "sqlite:///var/lastmile.db"


class Settings(BaseSettings):
    """Process configuration. Every field maps to `LASTMILE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="LASTMILE_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    database_admin_url: str | None = Field(
        default=None,
        description="Owner connection used for migrations; defaults to database_url.",
    )
    database_pool_size: int = 10
    redis_url: str | None = None
    secret_key: str = DEFAULT_SECRET
    platform_token: str | None = None
    allow_sqlite_in_production: bool = False
    allow_default_secret_in_production: bool = False

    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    argon2_parallelism: int = 4

    max_body_bytes: int = 1_048_576
    rate_limit_per_second: float = 100.0
    rate_limit_burst: int = 200
    login_rate_per_second: float = Field(
        default=1.0, description="Sign-in and refresh attempts per second per client address."
    )
    login_burst: int = 10
    idempotency_ttl_seconds: int = 24 * 3600
    event_retention_days: int = Field(
        default=30, ge=1, le=3650, description="Days events stay in the feed and delivery log."
    )
    stream_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Seconds of silence after which /v1/stream sends a heartbeat.",
    )
    stream_max_events: int = Field(
        default=1000,
        ge=10,
        le=100_000,
        description="Events queued for one slow /v1/stream connection before the oldest are "
        "dropped (it is then told to resync); positions never queue up, the newest replaces.",
    )
    api_key_touch_interval_seconds: int = 60
    api_key_cache_seconds: float = Field(default=5.0, ge=0)
    planner_processes: int = Field(default=1, ge=1, le=64)
    planner_warm: bool = True  # start a planner process and load the solvers at startup

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_json: bool = True
    static_dir: str | None = None
    embedded_worker: bool = Field(
        default=True, description="Run the background job loop inside `lastmile serve`."
    )
    worker_interval_seconds: float = 60.0
    outbox_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between outbox runs when nothing wakes it (a commit that emitted "
        "events wakes it at once in the same process).",
    )
    webhook_allowed_hosts: str = Field(
        default="",
        description="Comma-separated host names, IP addresses or CIDR networks that webhook "
        "endpoints may use although they are private, loopback or link-local (local development "
        "and tests). Empty: only public addresses.",
    )
    webhook_timeout_seconds: float = Field(
        default=15.0, gt=0, le=30, description="Time limit of one webhook request, all included."
    )
    webhook_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a worker owns a webhook message it is sending; longer than the "
        "timeout, so a message is never in flight twice. A worker that died frees its messages "
        "after this.",
    )
    webhook_concurrency: int = Field(
        default=32, ge=1, le=1024, description="Webhook requests in flight per outbox loop."
    )
    template_horizon_days: int = Field(
        default=1,
        ge=0,
        le=60,
        description="Route templates are materialised for today and this many days ahead.",
    )
    tracking_retention_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Days location points are kept for tenants that set no retention of their "
        "own (PUT /v1/tracking-settings).",
    )
    tracking_arrival_radius_m: float = Field(
        default=150.0,
        gt=0,
        le=5000,
        description="A driver this close to the stop they set off for is marked arrived.",
    )
    tracking_stopped_minutes: float = Field(
        default=10.0,
        gt=0,
        description="A driver standing still this long away from any stop raises driver.stopped.",
    )
    tracking_still_radius_m: float = Field(
        default=50.0, gt=0, description="Moving less than this counts as standing still."
    )
    tracking_eta_refresh_seconds: float = Field(
        default=15.0,
        ge=0,
        description="Live ETAs of a driver's stops are recomputed at most this often.",
    )
    tracking_eta_change_seconds: int = Field(
        default=300,
        ge=1,
        description="A live ETA moving by more than this from the last one announced emits "
        "task.eta_changed.",
    )
    tracking_partitions_ahead_days: int = Field(
        default=3,
        ge=1,
        le=60,
        description="PostgreSQL: day partitions of the location table are made this many days "
        "ahead by the tracking maintenance job.",
    )
    tracking_maintenance_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="The job loop runs the tracking maintenance (partitions, retention) at most "
        "this often; `lastmile tracking maintain` runs it at once.",
    )

    storage_backend: Literal["local", "s3"] = Field(
        default="local", description="Where proof photos and uploads are kept."
    )
    storage_dir: str = Field(
        default="var/storage", description="Root directory of the local storage backend."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, R2...); None for AWS S3."
    )
    s3_bucket: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str | None = None
    max_photo_bytes: int = Field(
        default=10 * 1024 * 1024, description="Largest accepted photo or signature image."
    )
    max_upload_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="Body limit of multipart uploads (JSON bodies keep max_body_bytes).",
    )
    signed_url_ttl_seconds: int = Field(
        default=300, description="Lifetime of the signed URLs that serve stored files."
    )
    tracking_link_ttl_seconds: int = Field(
        default=24 * 3600,
        ge=0,
        description="A recipient's tracking link answers 404 this long after its drop-off was "
        "completed, failed or cancelled.",
    )
    tracking_link_rate_per_second: float = Field(
        default=1.0,
        gt=0,
        description="Tracking-link requests (page and JSON) per second per client address.",
    )
    tracking_link_burst: int = Field(default=30, ge=1)
    tracking_link_eta_margin_minutes: int = Field(
        default=15,
        ge=0,
        le=240,
        description="A tracking link shows the ETA as a window this many minutes either side.",
    )

    @model_validator(mode="after")
    def _webhook_lease(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("LASTMILE_WEBHOOK_LEASE_SECONDS must exceed the webhook timeout")
        return self

    @model_validator(mode="after")
    def _production_guard(self) -> Settings:
        if self.env != "production":
            return self
        if self.secret_key == DEFAULT_SECRET and not self.allow_default_secret_in_production:
            raise ValueError("LASTMILE_SECRET_KEY must be set in production")
        if len(self.secret_key) < 32:
            raise ValueError("LASTMILE_SECRET_KEY must be at least 32 characters in production")
        if self.database_url.startswith("sqlite") and not self.allow_sqlite_in_production:
            raise ValueError(
                "SQLite is refused in production; set LASTMILE_DATABASE_URL to PostgreSQL "
                "or LASTMILE_ALLOW_SQLITE_IN_PRODUCTION=true"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
