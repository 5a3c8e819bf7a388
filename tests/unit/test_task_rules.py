"""The task transition table, proof requirements and the CSV import format."""

from __future__ import annotations

import pytest

from lastmile.core.errors import ValidationFailed
from lastmile.tasks import csvrows
from lastmile.tasks.enums import FINAL, TRANSITIONS, Action, State, next_state
from lastmile.tasks.lifecycle import Completion, missing_proof
from lastmile.tasks.models import Task

pytestmark = pytest.mark.unit

ALLOWED = {
    (Action.assign, State.unassigned): State.assigned,
    (Action.assign, State.assigned): State.assigned,
    (Action.unassign, State.assigned): State.unassigned,
    (Action.start, State.assigned): State.started,
    (Action.arrive, State.started): State.arrived,
    (Action.complete, State.arrived): State.completed,
    (Action.fail, State.started): State.failed,
    (Action.fail, State.arrived): State.failed,
}


def test_only_the_documented_transitions_exist() -> None:
    """Every (action, state) pair outside the lifecycle is refused; cancel works from any non-final state."""
    for action in Action:
        for state in State:
            expected = ALLOWED.get((action, state))
            if action == Action.cancel and state not in FINAL:
                expected = State.cancelled
            assert next_state(action, state) == expected, (action, state)
    assert len(TRANSITIONS) == len(ALLOWED) + len(State) - len(FINAL)


def test_final_states_have_no_way_out() -> None:
    """Completed, failed and cancelled tasks accept no action at all."""
    for state in FINAL:
        assert all(next_state(a, state) is None for a in Action)


def _task(**req: object) -> Task:
    return Task(requirements=req)


def test_missing_proof_names_each_requirement() -> None:
    """Each requirement left unmet is named as its own field."""
    task = _task(photo=True, signature=True, notes=True, barcode=True, min_age=21)
    missing = {e.field for e in missing_proof(task, Completion(recipient_age=18))}
    assert missing == {"photos", "signature", "notes", "barcode", "recipient_age"}
    ok = Completion(
        photo_count=1, has_signature=True, notes="left at door", barcode="X1", recipient_age=30
    )
    assert missing_proof(task, ok) == []
    assert missing_proof(_task(), Completion()) == []


def test_csv_rows_become_task_bodies() -> None:
    """Columns map to nested fields; empty cells are omitted; skills split on semicolons."""
    data = (
        b"kind,lat,lng,recipient_name,quantity.parcels,required_skills,require_photo,"
        b"metadata.order,external_ref,depends_on_ref\n"
        b"pickup,52.5,13.4,Shop,,,no,A1,P-1,\n"
        b"dropoff,52.51,13.41,Ada,2,cold_chain; heavy,yes,A1,D-1,P-1\n"
    )
    rows = csvrows.parse(data)
    assert rows[0] == {
        "kind": "pickup",
        "lat": "52.5",
        "lng": "13.4",
        "recipient": {"name": "Shop"},
        "requirements": {"photo": False},
        "metadata": {"order": "A1"},
        "external_ref": "P-1",
    }
    assert rows[1]["required_skills"] == ["cold_chain", "heavy"]
    assert rows[1]["quantities"] == {"parcels": "2"}
    assert rows[1]["requirements"] == {"photo": True}
    assert rows[1]["depends_on_ref"] == "P-1"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"lat,lng\n1,2\n",
        b"\xff\xfe\x00bad",
        b"kind\n",
        b"kind,address\npickup,a\x00b\n",
        b'kind,address\npickup,"unterminated\n',
    ],
)
def test_unusable_csv_is_refused(data: bytes) -> None:
    """A file without a kind column, rows, valid UTF-8 or with NUL bytes is a 422 on `file`."""
    with pytest.raises(ValidationFailed) as exc:
        csvrows.parse(data)
    assert exc.value.errors[0].field == "file"
