"""Events a host app can react to (a task in its own workflow, a billing entry, a message).

Blinker signals, sent after the change is committed, with the Flask app as sender and ids as
keyword arguments: never a name, an answer or any other clinical text, so a host's receiver
cannot leak what it was never given. Subscribe with ``signals.note_signed.connect(fn, app)``.
"""

from __future__ import annotations

import enum

from blinker import Namespace, Signal
from flask import current_app

_signals = Namespace()

# couple_id, therapist_id
couple_created = _signals.signal("counselor.couple-created")
# couple_id, therapist_id
couple_closed = _signals.signal("counselor.couple-closed")
# couple_id, partner_id
intake_completed = _signals.signal("counselor.intake-completed")
# couple_id, flag_id
flag_confirmed = _signals.signal("counselor.flag-confirmed")
# couple_id, document_id, kind (the document kind's code: "session_plan", "handout"...)
document_issued = _signals.signal("counselor.document-issued")
# couple_id, appointment_id
appointment_recorded = _signals.signal("counselor.appointment-recorded")
# couple_id, appointment_id
note_signed = _signals.signal("counselor.note-signed")


def send(signal: Signal, **ids: int | enum.Enum) -> None:
    """Send ``signal`` from the current app. Only ids (ints) and codes (members of one of our
    enums, sent as their value) may travel: a free string could be a name."""
    values: dict[str, int | str] = {}
    for name, value in ids.items():
        if isinstance(value, enum.Enum):
            values[name] = value.value
        elif isinstance(value, int) and not isinstance(value, bool):
            values[name] = value
        else:
            raise TypeError(f"signal argument {name} must be an id or one of our codes")
    signal.send(current_app._get_current_object(), **values)  # type: ignore[attr-defined]
