"""How the host tells counselor_app who is signed in.

counselor_app calls ``clinician_identity()`` on every request to its pages. It has no sign-in
of its own when mounted: the answer here is the whole of what it knows about the user.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_login import current_user


@dataclass(frozen=True)
class ClinicianIdentity:
    """The four things the plugin needs to know about a host clinician."""

    # The plugin keys its therapist record on this, so it must never change for a person:
    # built from the primary key, not the e-mail address, which staff do change.
    external_id: str
    name: str
    email: str
    # The plugin's own admin pages (its therapists, its audit trail) follow the practice admin.
    is_admin: bool


def clinician_identity() -> ClinicianIdentity | None:
    """The signed-in clinician, or None for an anonymous visitor or a non-clinician.

    None is what keeps the receptionist out: the plugin serves none of its pages to a request
    whose identity is None, so no couple, note or score ever reaches front-desk staff.
    """
    if not current_user.is_authenticated or not current_user.is_clinician:
        return None
    return ClinicianIdentity(
        external_id=f"host-user-{current_user.id}",
        name=current_user.name,
        email=current_user.email,
        is_admin=current_user.is_admin,
    )
