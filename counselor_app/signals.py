"""Events a host app can react to (a task in its own workflow, a billing entry, a message).

Blinker signals, sent after the change is committed, with the Flask app as sender and ids as
keyword arguments: never a name, an answer or any other clinical text, so a host's receiver
cannot leak what it was never given. Subscribe with ``signals.note_signed.connect(fn, app)``.
"""

from __future__ import annotations

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


def send(signal: Signal, **ids: int | str) -> None:
    """Send ``signal`` from the current app; only ids and codes may travel."""
    for name, value in ids.items():
        if not isinstance(value, int | str) or (
            isinstance(value, str) and not value.isidentifier()
        ):
            raise TypeError(f"signal argument {name} must be an id or a code")
    signal.send(current_app._get_current_object(), **ids)  # type: ignore[attr-defined]
