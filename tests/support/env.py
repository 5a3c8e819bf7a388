"""Test-process settings, applied before lastmile is imported."""

import os
import tempfile

PLATFORM_TOKEN = "test-platform-token-0123456789abcdef"

TEST_ENV = {
    "LASTMILE_ENV": "test",
    "LASTMILE_ARGON2_TIME_COST": "1",
    "LASTMILE_ARGON2_MEMORY_COST": "1024",
    "LASTMILE_ARGON2_PARALLELISM": "1",
    "LASTMILE_PLATFORM_TOKEN": PLATFORM_TOKEN,
    "LASTMILE_RATE_LIMIT_PER_SECOND": "100000",
    "LASTMILE_RATE_LIMIT_BURST": "100000",
    "LASTMILE_STORAGE_DIR": tempfile.mkdtemp(prefix="lastmile-test-storage-"),
    "LASTMILE_LOGIN_RATE_PER_SECOND": "100000",
    "LASTMILE_LOGIN_BURST": "100000",
    "LASTMILE_TRACKING_LINK_RATE_PER_SECOND": "100000",
    "LASTMILE_TRACKING_LINK_BURST": "100000",
    "LASTMILE_LOG_LEVEL": "WARNING",
    # Live ETAs are recomputed after every position (production: at most every 15 s).
    "LASTMILE_TRACKING_ETA_REFRESH_SECONDS": "0",
    "LASTMILE_SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
    # Webhook receivers in tests listen on loopback (tests/support/receiver.py).
    "LASTMILE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
}


def apply() -> None:
    os.environ.update(TEST_ENV)
    os.environ.pop("LASTMILE_REDIS_URL", None)
    os.environ.pop("LASTMILE_DATABASE_ADMIN_URL", None)
