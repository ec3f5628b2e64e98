"""Partners answering by their own link: the journey, standalone and mounted."""

from __future__ import annotations

from conftest import login
from counselor_app.extensions import db
from counselor_app.models import Invitation, InvitationState
from partner_support import PartnerBrowser, invite, path_of


def test_smoke_journey(app, client, therapist, make_couple):
    couple_id = make_couple(therapist, ("Avery", "Blake"))
    login(client, therapist)
    _, link = invite(client, couple_id, "A")
    browser = PartnerBrowser(app)
    first = browser.client.get(path_of(link))
    assert first.status_code == 303
    welcome = browser.open(link)
    assert welcome.status_code == 200, welcome.get_data(as_text=True)[:1000]
    assert "Hello, Avery" in browser.page
    done = browser.answer_intake()
    assert done.status_code == 303, done.get_data(as_text=True)[:3000]
    browser.get(done.location)
    assert "Thank you" in browser.page
    with app.app_context():
        invitation = db.session.get(Invitation, 1)
        assert invitation.state == InvitationState.COMPLETE
    detail = client.get(f"/couples/{couple_id}").get_data(as_text=True)
    assert "complete" in detail
