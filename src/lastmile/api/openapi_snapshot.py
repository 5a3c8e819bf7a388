"""Print the OpenAPI schema as committed in `docs/api/openapi.json` (`make openapi`).

Run as `python -m lastmile.api.openapi_snapshot > docs/api/openapi.json`. The schema is built
from fixed settings, so the output depends on the code only, never on the environment.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from lastmile.core.config import Settings

PUBLIC_URL = "http://127.0.0.1:8000"


def snapshot_settings(folder: Path) -> Settings:
    """Deterministic settings; the database file in `folder` is never opened."""
    return Settings(
        env="development",
        database_url=f"sqlite:///{folder / 'openapi.db'}",
        database_admin_url=None,
        redis_url=None,
        public_url=PUBLIC_URL,
        log_json=True,
        log_level="WARNING",
    )


def schema() -> dict[str, Any]:
    """The OpenAPI document of the application.

    It builds a throwaway app, which reconfigures logging and registers its pool for metrics:
    call it from its own process (as `make openapi` does), not inside a running server.
    """
    from lastmile.api.app import create_app

    with tempfile.TemporaryDirectory(prefix="lastmile-openapi-") as tmp:
        app = create_app(snapshot_settings(Path(tmp)))
        return app.openapi()


def render(document: dict[str, Any] | None = None) -> str:
    """The document as committed: 2-space indent, sorted keys, trailing newline."""
    doc = schema() if document is None else document
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
