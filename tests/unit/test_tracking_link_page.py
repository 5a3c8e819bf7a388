"""Tracking-link tokens, ETA windows and the recipient page, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from lastmile.tasks.enums import State
from lastmile.tracking.links import page, service, tokens
from lastmile.tracking.links.schemas import LinkDriver, LinkProof, LinkStatus, TrackingLinkRead

pytestmark = pytest.mark.unit


def test_tokens_are_keyed_per_task_and_secret() -> None:
    """A token is 24 URL-safe characters, stable for a task, different for another task or key."""
    a = tokens.token_for("tsk_a", secret_key="k1" * 20)
    assert a == tokens.token_for("tsk_a", secret_key="k1" * 20)
    assert a != tokens.token_for("tsk_b", secret_key="k1" * 20)
    assert a != tokens.token_for("tsk_a", secret_key="k2" * 20)
    assert tokens.well_formed(a) and len(a) == 24
    assert not tokens.well_formed(a + "x") and not tokens.well_formed("../../etc/passwd")
    assert tokens.digest(a) != a and len(tokens.digest(a)) == 64


def _task(**fields: object) -> SimpleNamespace:
    base = {"planned_arrival_at": None, "complete_after": None, "complete_before": None}
    return SimpleNamespace(**{**base, **fields})


def test_eta_window_rounds_outwards_to_five_minutes() -> None:
    """Planned arrival 14:07:30 with a 15 min margin: 13:50 to 14:25; a live eta_at wins."""
    planned = datetime(2026, 12, 1, 14, 7, 30, tzinfo=UTC)
    margin = timedelta(minutes=15)
    w = service._eta_window(_task(planned_arrival_at=planned), State.assigned, margin)
    assert w is not None
    assert (w.start, w.end) == (
        planned.replace(hour=13, minute=50, second=0),
        planned.replace(minute=25, second=0),
    )
    live = planned + timedelta(minutes=30)
    w = service._eta_window(_task(planned_arrival_at=planned, eta_at=live), State.started, margin)
    assert w is not None and w.start == live.replace(minute=20, second=0)
    assert service._eta_window(_task(planned_arrival_at=planned), State.arrived, margin) is None
    assert service._eta_window(_task(), State.assigned, margin) is None
    window = _task(complete_before=planned)
    w = service._eta_window(window, State.unassigned, margin)
    assert w is not None and (w.start, w.end) == (None, planned)


def test_page_escapes_what_people_typed() -> None:
    """A driver's name and notes are text: no markup reaches the page, none ends the JSON block."""
    view = TrackingLinkRead(
        status=LinkStatus.delivered,
        eta_window=None,
        driver=LinkDriver(first_name="<script>alert(1)</script>", vehicle_type="van"),
        position=None,
        proof=LinkProof(
            completed_at=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
            photo=True,
            signature=False,
            notes="</script><img src=x onerror=alert(2)>",
        ),
    )
    html = page.render(view, source="/v1/tracking-links/abc")
    assert "<script>alert" not in html and "<img" not in html
    assert html.count("</script>") == 3  # the two JSON blocks and the script
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Delivered at 01 Dec 14:00 UTC" in html
